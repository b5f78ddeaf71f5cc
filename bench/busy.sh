#!/bin/sh
# bench/busy.sh [DIR] (part of make bench; alone: make bench-busy, which writes bench/busy.md):
# shrink's speed on a machine that is not idle. Starts one competing busy loop (nice 0, then
# nice 19), measures beside it, and stops it. Prints markdown. DIR holds the GPT-2-124M-shaped
# GGUF files bench/run.sh writes (written here when missing). Nothing is asserted.
set -eu
SHRINK=${SHRINK:-./shrink}
REPS=${REPS:-5}
work=${1:-build/bench}
mkdir -p "$work"
if [ ! -f "$work/gpt2-124m-Q4_K_M.gguf" ]; then
    $SHRINK bench --random gpt2 --seed 1 --save "$work/gpt2-124m" -p 0 -n 0 -t 1 >/dev/null
    $SHRINK export -m "$work/gpt2-124m" --type f16 -o "$work/gpt2-124m-f16.gguf" >/dev/null
    for q in Q8_0 Q4_K_M; do
        $SHRINK compress -m "$work/gpt2-124m" --type $q -o "$work/gpt2-124m-$q.gguf" >/dev/null 2>&1
    done
fi
busy=""
trap '[ -z "$busy" ] || kill "$busy" 2>/dev/null || true' EXIT
echo "## A busy machine"
echo
echo "One competing process, started and stopped by this script: a shell busy loop at nice 0, then one at"
echo "nice 19. Beside it, \`shrink bench\` with 1 thread and with the default (all $(nproc) cores), on the"
echo "GPT-2-124M-shaped GGUF files (random weights), one thread count after the other, $REPS repeats each,"
echo "medians. Training: 6 steps of \`shrink train --config models/mini/config.json\` on data/heldout.txt."
echo "Target (issue 15): default threads at least 0.9x one thread's speed in the same conditions."
echo
echo "| competitor | type | test | 1 thread tok/s | default tok/s | default / 1 thread |"
echo "|---|---|---|---:|---:|---:|"
for nice in 0 19; do
    nice -n "$nice" sh -c 'while :; do :; done' &
    busy=$!
    sleep 1
    for type in f16 Q8_0 Q4_K_M; do
        gguf="$work/gpt2-124m-$type.gguf"
        one=$($SHRINK bench -m "$gguf" -t 1 -r "$REPS" --json)
        all=$($SHRINK bench -m "$gguf" -t "$(nproc)" -r "$REPS" --json)
        for test in pp128 tg64; do
            a=$(echo "$one" | sed -n "s/.*\"test\": \"$test\".*\"median\": \([0-9.]*\).*/\1/p")
            b=$(echo "$all" | sed -n "s/.*\"test\": \"$test\".*\"median\": \([0-9.]*\).*/\1/p")
            awk -v n="$nice" -v t="$type" -v x="$test" -v a="$a" -v b="$b" \
                'BEGIN {printf "| busy loop, nice %s | %s | %s | %.1f | %.1f | %.2f |\n", n, t, x, a, b, b / a}'
        done
    done
    # training: the bundled model's config, 6 steps
    for t in 1 "$(nproc)"; do
        tps=$($SHRINK train --config models/mini/config.json -d data/heldout.txt --steps 6 -t "$t" 2>&1 |
              sed -n 's/^train: .* \([0-9.]*\) tokens\/s.*/\1/p')
        eval "train_$t=\$tps"
    done
    awk -v n="$nice" -v a="$train_1" -v b="$(eval echo \$train_$(nproc))" \
        'BEGIN {printf "| busy loop, nice %s | train (models/mini, batch 16 x 256) | tokens/s | %.0f | %.0f | %.2f |\n", n, a, b, b / a}'
    kill "$busy"
    wait "$busy" 2>/dev/null || true
    busy=""
done
echo
