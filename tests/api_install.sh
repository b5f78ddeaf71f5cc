#!/bin/sh
# api_install.sh BUILD_DIR: libshrink as another program sees it.
#   - libshrink.so's soname (libshrink.so.N, N = SHRINK_API_VERSION), and its dynamic symbols: shrink_* only;
#   - include/shrink.h compiles alone as C11 (pedantic) and as C++17 (when g++ is present);
#   - make install into a DESTDIR, then examples/compress.c built with
#     `pkg-config --cflags --libs shrink` against the installed tree and run on the bundled
#     model; make uninstall leaves nothing of it behind;
#   - with python3: tests/test_python.py, and examples/compress.py, on build's libshrink.so;
#   - the installed man page holds every command and every compress option (made from --help),
#     renders without groff warnings, and the bash completion completes a command and an option.
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
api=$(sed -n 's/^#define SHRINK_API_VERSION \([0-9]*\).*/\1/p' include/shrink.h)
so=$build/libshrink.so.$api
check "libshrink.so.$api built (N = SHRINK_API_VERSION)" test -f "$so"
check "soname libshrink.so.$api" sh -c "objdump -p '$so' | grep -q 'SONAME *libshrink\.so\.$api\$'"
others=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^shrink_' | tr '\n' ' ')
check "only shrink_* exported (others: $others)" test -z "$others"
check "exports the API" sh -c "nm -D --defined-only '$so' | grep -q ' shrink_model_load$'"
check "shrink.h as C11" ${CC:-cc} -std=c11 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c include/shrink.h
if command -v g++ >/dev/null; then
    check "shrink.h as C++17" g++ -std=c++17 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c++ include/shrink.h
else
    echo "skipped: shrink.h as C++17 (no g++ here)"
fi
# A sanitizer build (make asan): ASan's runtime must come first in a program's library list, so
# the C example is built with the same -fsanitize and Python gets the runtime preloaded (the
# interpreter keeps memory at exit by design, so leaks are checked by the C example alone).
san=
pre=
if ldd "$so" 2>/dev/null | grep -q libasan; then
    san="-fsanitize=address,undefined"
    pre="LD_PRELOAD=$(${CC:-cc} -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0"
fi
dest=$tmp/root
check "make install" make -s BUILD="$build" DESTDIR="$dest" PREFIX=/usr/local install
if command -v pkg-config >/dev/null; then
    flags=$(PKG_CONFIG_PATH="$dest/usr/local/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config --cflags --libs shrink)
    check "pkg-config --cflags --libs shrink ($flags)" sh -c "echo '$flags' | grep -q -- '-lshrink'"
    check "examples/compress.c built against the installed tree" ${CC:-cc} $san examples/compress.c $flags -o "$tmp/compress"
    check "examples/compress.c compresses the bundled model and compares it" sh -c \
        "LD_LIBRARY_PATH='$dest/usr/local/lib' '$tmp/compress' models/mini data/calib.txt data/heldout.txt '$tmp/q.gguf' 2>/dev/null |
         grep -q '^Q4_K_M     perplexity [0-9.]* ([+-][0-9.]*%), KL 0\.0'"
    check "the example used the installed libshrink.so" sh -c \
        "LD_LIBRARY_PATH='$dest/usr/local/lib' ldd '$tmp/compress' | grep -q '$dest/usr/local/lib/libshrink.so.[0-9]'"
else
    echo "skipped: the pkg-config build of the example (no pkg-config here)"
fi
if command -v python3 >/dev/null; then
    check "tests/test_python.py" env $pre SHRINK_LIB="$so" PYTHONPATH=python python3 tests/test_python.py
    check "examples/compress.py" sh -c "$pre SHRINK_LIB='$so' PYTHONPATH=python python3 examples/compress.py models/mini data/calib.txt \
        data/heldout.txt '$tmp/p.gguf' 2>/dev/null | grep -q '^Q4_K_M     perplexity [0-9.]* ([+-][0-9.]*%), KL 0\.0'"
else
    echo "skipped: the Python module's tests (no python3 here)"
fi
# the installed binary, run from elsewhere, finds its bundled data (the default calibration text)
check "installed shrink compress --method imatrix with the default calibration text" sh -c \
    "cd '$tmp' && '$dest/usr/local/bin/shrink' compress -m '$dest/usr/local/share/shrink/models/mini' -o '$tmp/i.gguf' \
     --type Q8_0 --method imatrix --calib-tokens 2048 2>&1 | grep -q 'calibration .*share/shrink/data/calib.txt'"
# the man page and the completion, made from --help: every command and every option of compress
man=$dest/usr/local/share/man/man1/shrink.1
for c in $("$build/shrink" --help | sed -n '/^commands:/,$p' | sed 1d | awk 'NF { print $1 }'); do
    check "man page: command $c" grep -q "^\.SS $c\$" "$man"
done
for o in $("$build/shrink" compress --help | grep -o -- '^ *-[a-z], --[a-z-]*\|^      --[a-z-]*' | grep -o -- '--[a-z-]*'); do
    check "man page: compress $o" grep -q -- "$(echo "$o" | sed 's/-/\\\\-/g')" "$man"
done
if command -v groff >/dev/null; then
    check "man page renders without warnings" sh -c "groff -k -man -Tutf8 -ww -z '$man' 2>&1 | (! grep .)"
else
    echo "skipped: rendering the man page (no groff here)"
fi
if command -v bash >/dev/null; then
    comp=$dest/usr/local/share/bash-completion/completions/shrink
    cat > "$tmp/complete.bash" <<'BASH'
source "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
_shrink
echo "${COMPREPLY[*]}"
BASH
    check "completion: shrink comp<TAB>" sh -c "bash '$tmp/complete.bash' '$comp' shrink comp | grep -qx compress"
    check "completion: shrink compress --calib-t<TAB>" sh -c \
        "bash '$tmp/complete.bash' '$comp' shrink compress --calib-t | grep -qx -- --calib-tokens"
fi
check "make uninstall" make -s BUILD="$build" DESTDIR="$dest" PREFIX=/usr/local uninstall
left=$(find "$dest" -type f -o -type l | tr '\n' ' ')
check "nothing left after uninstall ($left)" test -z "$left"
echo "api_install.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
