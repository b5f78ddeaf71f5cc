#!/bin/sh
# run_all.sh BUILD_DIR: runs every test binary, then the model tests again with the
# reference kernels (SHRINK_KERNELS=ref) and the AVX2 ones, then the CLI error and file tests;
# prints one tally.
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
for t in "$build"/test_gpt2 "$build"/test_kernels "$build"/test_faults; do
    [ -x "$t" ] && tally "$(basename "$t") [SHRINK_KERNELS=ref]" env SHRINK_KERNELS=ref "$t"
done
# On AVX-512 machines the default run uses the AVX-512 matmul; run the model once on AVX2 too.
[ -x "$build/test_gpt2" ] && tally "test_gpt2 [SHRINK_KERNELS=avx2]" env SHRINK_KERNELS=avx2 "$build/test_gpt2"
if [ -f tests/cli_errors.sh ]; then
    tally "cli_errors.sh" sh tests/cli_errors.sh "$build/shrink"
fi
if [ -f tests/cli_files.sh ]; then
    tally "cli_files.sh" sh tests/cli_files.sh "$build/shrink"
fi
echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
