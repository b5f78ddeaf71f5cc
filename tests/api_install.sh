#!/bin/sh
# api_install.sh BUILD_DIR: libshrink as another program sees it.
#   - libshrink.so's soname, and its dynamic symbols: shrink_* only;
#   - include/shrink.h compiles alone as C11 (pedantic) and as C++17 (when g++ is present);
#   - make install into a DESTDIR, then examples/compress.c built with
#     `pkg-config --cflags --libs shrink` against the installed tree and run on the bundled
#     model; make uninstall leaves nothing of it behind;
#   - with python3: tests/test_python.py, and examples/compress.py, on build's libshrink.so.
# Prints "api_install.sh: N passed, M failed".
set -u
build=${1:-build}
pass=0
fail=0
check() {  # $1 = what, rest = command that must succeed
    what=$1
    shift
    if "$@" > "$tmp/out" 2>&1; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what"; sed 's/^/    /' "$tmp/out" | tail -5; fi
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shrink-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
so=$(ls "$build"/libshrink.so.* 2>/dev/null | head -n 1)
check "libshrink.so.N built" test -f "$so"
check "soname libshrink.so.N" sh -c "objdump -p '$so' | grep -q 'SONAME *libshrink\.so\.[0-9]'"
others=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^shrink_' | tr '\n' ' ')
check "only shrink_* exported (others: $others)" test -z "$others"
check "exports the API" sh -c "nm -D --defined-only '$so' | grep -q ' shrink_model_load$'"
check "shrink.h as C11" ${CC:-cc} -std=c11 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c include/shrink.h
if command -v g++ >/dev/null; then
    check "shrink.h as C++17" g++ -std=c++17 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c++ include/shrink.h
else
    echo "skipped: shrink.h as C++17 (no g++ here)"
fi
dest=$tmp/root
check "make install" make -s BUILD="$build" DESTDIR="$dest" PREFIX=/usr/local install
if command -v pkg-config >/dev/null; then
    flags=$(PKG_CONFIG_PATH="$dest/usr/local/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config --cflags --libs shrink)
    check "pkg-config --cflags --libs shrink ($flags)" sh -c "echo '$flags' | grep -q -- '-lshrink'"
    check "examples/compress.c built against the installed tree" ${CC:-cc} examples/compress.c $flags -o "$tmp/compress"
    check "examples/compress.c compresses the bundled model and compares it" sh -c \
        "LD_LIBRARY_PATH='$dest/usr/local/lib' '$tmp/compress' models/mini data/calib.txt data/heldout.txt '$tmp/q.gguf' 2>/dev/null |
         grep -q '^Q4_K_M     perplexity [0-9.]* ([+-][0-9.]*%), KL 0\.0'"
    check "the example used the installed libshrink.so" sh -c \
        "LD_LIBRARY_PATH='$dest/usr/local/lib' ldd '$tmp/compress' | grep -q '$dest/usr/local/lib/libshrink.so.[0-9]'"
else
    echo "skipped: the pkg-config build of the example (no pkg-config here)"
fi
if command -v python3 >/dev/null; then
    check "tests/test_python.py" env SHRINK_LIB="$so" PYTHONPATH=python python3 tests/test_python.py
    check "examples/compress.py" sh -c "SHRINK_LIB='$so' PYTHONPATH=python python3 examples/compress.py models/mini data/calib.txt \
        data/heldout.txt '$tmp/p.gguf' 2>/dev/null | grep -q '^Q4_K_M     perplexity [0-9.]* ([+-][0-9.]*%), KL 0\.0'"
else
    echo "skipped: the Python module's tests (no python3 here)"
fi
check "make uninstall" make -s BUILD="$build" DESTDIR="$dest" PREFIX=/usr/local uninstall
left=$(find "$dest" -type f -o -type l | tr '\n' ' ')
check "nothing left after uninstall ($left)" test -z "$left"
echo "api_install.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
