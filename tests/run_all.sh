#!/bin/sh
# run_all.sh BUILD_DIR: runs every test binary, then the model, kernel and quantized-file
# tests again with the reference kernels (SHRINK_KERNELS=ref) and the AVX2 ones, then the CLI
# error and file tests; prints one tally.
build=${1:-build}
pass=0
fail=0
failed_names=""
tally() {  # $1 = name, rest = command
    name=$1
    shift
    out=$("$@" 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -v ' \.\.\. ok' | grep -v ' passed, [0-9]* failed' | grep -v '^$' | sed 's/^/  /'
    p=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' | tail -n 1)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # crashed before its tally
    pass=$((pass + p))
    fail=$((fail + f))
    if [ "$f" -ne 0 ]; then
        echo "FAILED: $name (exit $rc)"
        failed_names="$failed_names $name"
    else
        echo "ok: $name ($p checks)"
    fi
}
for t in "$build"/test_*; do
    [ -x "$t" ] || continue
    tally "$(basename "$t")" "$t"
done
# The model, the kernel table and llama.cpp's quantized files again on the reference kernels
# and on AVX2 (on AVX-512 machines the default run uses the AVX-512 kernels); the quantized
# files' perplexity (slow, the same batch path) only in the default run.
for k in ref avx2; do
    for t in test_gpt2 test_shapes test_kernels test_faults test_gguf_reference; do
        args=""
        [ "$t" = test_gguf_reference ] && args=--logits-only
        [ -x "$build/$t" ] && tally "$t [SHRINK_KERNELS=$k]" env SHRINK_KERNELS=$k "$build/$t" $args
    done
done
if [ -f tests/cli_errors.sh ]; then
    tally "cli_errors.sh" sh tests/cli_errors.sh "$build/shrink"
fi
if [ -f tests/cli_files.sh ]; then
    tally "cli_files.sh" sh tests/cli_files.sh "$build/shrink"
fi
if [ -f tests/api_install.sh ]; then
    tally "api_install.sh" sh tests/api_install.sh "$build"
fi
echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
