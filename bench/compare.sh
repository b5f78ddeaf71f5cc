#!/bin/sh
# bench/compare.sh OLD_BIN NEW_BIN [OUT]: before/after speed of two shrink binaries, side by
# side in one run on the same GGUF files (the ones bench/run.sh writes under build/bench;
# run `make bench` or bench/run.sh first). For every model, test (pp128, tg64) and thread
# count the two binaries take turns, ROUNDS times each, every turn `shrink bench` with
# REPS repeats; the table gives each one's median over its turns and NEW/OLD. Use it to show
# that a change costs no speed. Nothing is asserted.
set -eu
old=$1
new=$2
out=${3:-build/bench/compare.md}
REPS=${REPS:-5}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-1 2}
work=build/bench
models=${MODELS:-"models/mini $work/mini-Q8_0.gguf $work/mini-Q4_K_M.gguf $work/gpt2-124m-f32.gguf $work/gpt2-124m-f16.gguf $work/gpt2-124m-Q8_0.gguf $work/gpt2-124m-Q6_K.gguf $work/gpt2-124m-Q4_K_M.gguf $work/gpt2-124m-Q4_0.gguf"}
for m in $models; do [ -e "$m" ] || { echo "compare.sh: $m missing (run bench/run.sh first)" >&2; exit 1; }; done

# median of the numbers on stdin
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# tok/s median of one `shrink bench` run: BIN MODEL THREADS TEST(pp|tg)
one() {
    if [ "$4" = pp ]; then set -- "$1" "$2" "$3" -p 128 -n 0; else set -- "$1" "$2" "$3" -p 0 -n 64; fi
    "$1" bench -m "$2" -t "$3" -r "$REPS" "$4" "$5" "$6" "$7" --json | sed -n 's/.*"median": \([0-9.]*\).*/\1/p'
}

mkdir -p "$work"
tmp="$out.tmp"
{
    echo "| model | threads | test | old tok/s | new tok/s | new/old |"
    echo "|---|---:|---|---:|---:|---:|"
    for m in $models; do
        for t in $THREADS; do
            for test in pp tg; do
                : > "$work/cmp_old" && : > "$work/cmp_new"
                r=0
                while [ $r -lt "$ROUNDS" ]; do
                    one "$old" "$m" "$t" "$test" >> "$work/cmp_old"
                    one "$new" "$m" "$t" "$test" >> "$work/cmp_new"
                    r=$((r + 1))
                done
                a=$(median < "$work/cmp_old")
                b=$(median < "$work/cmp_new")
                printf '| %s | %s | %s%s | %.1f | %.1f | %.3f |\n' "$m" "$t" "$test" "$([ $test = pp ] && echo 128 || echo 64)" \
                    "$a" "$b" "$(echo "$b $a" | awk '{print $1 / $2}')"
            done
        done
    done
} > "$tmp"
mv "$tmp" "$out"
cat "$out"
