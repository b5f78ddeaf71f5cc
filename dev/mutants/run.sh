#!/bin/sh
# run.sh [MUTANT.mut ...]: `make mutants`. Applies each mutant (default: every dev/mutants/*.mut;
# mutate.c describes the format) to a scratch copy of the tree, rebuilds the test binaries it
# names and runs them in order until one fails: the mutant is killed by that test, or it
# survived all of them. A mutant whose snippet is not found exactly once, or that does not
# build, is reported as broken. Exits non-zero unless every mutant was killed.
# A test is NAME[@KERNELS][:ARG]: the binary build/NAME, run with SHRINK_KERNELS=KERNELS and
# the argument ARG when given.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=$(cd "${SHRINK_SHARED:-$root/../shared}" && pwd) || exit 1
scratch=$(mktemp -d "${TMPDIR:-/tmp}/shrink-mutants.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
trap 'exit 1' INT TERM
cp -a "$root/src" "$root/include" "$root/examples" "$root/tests" "$root/Makefile" "$scratch/"
ln -s "$root/data" "$scratch/data"
ln -s "$root/models" "$scratch/models"
# Up-to-date objects make each mutant a one-file rebuild.
[ -d "$root/build" ] && cp -a "$root/build" "$scratch/build"
cc -O2 -std=c11 -Wall -Wextra -o "$scratch/mutate" "$root/dev/mutants/mutate.c" || exit 1
make -C "$scratch" -s -j2 build/libshrink.a >/dev/null || { echo "mutants: the unmutated tree does not build"; exit 1; }
[ $# -gt 0 ] || set -- "$root"/dev/mutants/*.mut
killed=0 survived=0 broken=0 survivors=""
for m in "$@"; do
    name=$(basename "$m" .mut)
    file=$("$scratch/mutate" --field file "$m") || { broken=$((broken + 1)); continue; }
    tests=$("$scratch/mutate" --field tests "$m")
    cp -p "$scratch/$file" "$scratch/.orig"
    if ! "$scratch/mutate" "$scratch" "$m"; then
        echo "BROKEN    $name: not applied"
        broken=$((broken + 1))
        continue
    fi
    targets=""
    for t in $tests; do targets="$targets build/${t%%[@:]*}"; done
    t0=$(date +%s)
    verdict=""
    if ! make -C "$scratch" -s -j2 build/shrink $targets >"$scratch/.log" 2>&1; then
        verdict="BROKEN    $name: does not build ($(grep -m1 error "$scratch/.log"))"
        broken=$((broken + 1))
    else
        for t in $tests; do
            bin=${t%%[@:]*}
            kernels="" arg=""
            case $t in *@*) kernels=${t#*@} && kernels=${kernels%%:*} ;; esac
            case $t in *:*) arg=${t#*:} ;; esac
            if (cd "$scratch" && if [ -n "$kernels" ]; then export SHRINK_KERNELS="$kernels"; fi &&
                SHRINK_SHARED="$shared" timeout 900 "build/$bin" $arg >.log 2>&1); then
                continue
            fi
            first=$( (grep -o -m1 'FAIL .*' "$scratch/.log" || tail -n 1 "$scratch/.log") | cut -c1-160)
            verdict="killed    $name by $t ($(($(date +%s) - t0)) s): ${first:-exit status}"
            killed=$((killed + 1))
            break
        done
        if [ -z "$verdict" ]; then
            verdict="SURVIVED  $name ($tests)"
            survived=$((survived + 1))
            survivors="$survivors $name"
        fi
    fi
    echo "$verdict"
    cp -p "$scratch/.orig" "$scratch/$file"
    touch "$scratch/$file"  # newer than the mutated object: rebuilt for the next mutant
done
echo "mutants: $killed killed, $survived survived, $broken broken${survivors:+ (survived:$survivors)}"
[ "$survived" -eq 0 ] && [ "$broken" -eq 0 ]
