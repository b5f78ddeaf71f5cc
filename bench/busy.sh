#!/bin/sh
# bench/busy.sh [DIR] (part of make bench; alone: make bench-busy, which writes bench/busy.md):
# shrink's speed on a machine that is not idle. Starts one competing busy loop (nice 0, then
# nice 19), measures beside it, and stops it. Prints markdown. DIR holds the GPT-2-124M-shaped
# GGUF files bench/run.sh writes (written here when missing). Nothing is asserted.
# llama.cpp's llama-bench runs beside it with its default threads when found (LLAMA_CPP_BIN,
# default ../llama.cpp/build/bin, as bench/run.sh).
set -eu
SHRINK=${SHRINK:-./shrink}
REPS=${REPS:-5}
TRAIN_REPS=${TRAIN_REPS:-3}
LLAMA_BIN=${LLAMA_CPP_BIN:-../llama.cpp/build/bin}
llama=""
[ ! -x "$LLAMA_BIN/llama-bench" ] || llama="$LLAMA_BIN/llama-bench"
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
echo "GPT-2-124M-shaped GGUF files (random weights): one repeat at each thread count in turn, $REPS rounds,"
echo "medians. Training: 6 steps of \`shrink train --config models/mini/config.json\` on data/heldout.txt,"
echo "$TRAIN_REPS runs at each thread count in turn, medians."
echo "Target (issue 15): default threads at least 0.9x one thread's speed in the same conditions (training: 0.8x)."
if [ -n "$llama" ]; then
    echo "llama.cpp: \`llama-bench -p 128 -n 64 -r $REPS\` (its default threads: $(nproc) here; its figure is the mean"
    echo "of the repeats), right after shrink's two runs, beside the same competitor."
    echo
    echo "| competitor | type | test | 1 thread tok/s | default tok/s | default / 1 thread | llama.cpp default tok/s | shrink / llama.cpp |"
    echo "|---|---|---|---:|---:|---:|---:|---:|"
else
    echo "(llama.cpp not found at $LLAMA_BIN: set LLAMA_CPP_BIN to add its columns)"
    echo
    echo "| competitor | type | test | 1 thread tok/s | default tok/s | default / 1 thread |"
    echo "|---|---|---|---:|---:|---:|"
fi
# median X...: the middle value (the upper middle of an even count)
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int(NR / 2) + 1]}'; }
# llama_ts CSV TEST: llama-bench's mean tokens/s for pp128 or tg64 from its CSV output
llama_ts() {
    echo "$1" | awk -F, -v want="$2" 'NR == 1 { gsub(/"/, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
        { gsub(/"/, ""); if ((want == "pp128" && $col["n_prompt"] == 128) || (want == "tg64" && $col["n_gen"] == 64)) print $col["avg_ts"] }'
}
for nice in 0 19; do
    nice -n "$nice" sh -c 'while :; do :; done' &
    busy=$!
    sleep 1
    for type in f16 Q8_0 Q4_K_M; do
        gguf="$work/gpt2-124m-$type.gguf"
        # 1 thread and all threads in turn, one repeat each, REPS rounds: a drift of the
        # machine's speed moves both alike
        one="" all=""
        for r in $(seq "$REPS"); do
            one="$one
$($SHRINK bench -m "$gguf" -t 1 -r 1 --json)"
            all="$all
$($SHRINK bench -m "$gguf" -t "$(nproc)" -r 1 --json)"
        done
        lcsv=""
        [ -z "$llama" ] || lcsv=$("$llama" -m "$gguf" -p 128 -n 64 -r "$REPS" -o csv 2>/dev/null)
        for test in pp128 tg64; do
            a=$(median $(echo "$one" | sed -n "s/.*\"test\": \"$test\".*\"median\": \([0-9.]*\).*/\1/p"))
            b=$(median $(echo "$all" | sed -n "s/.*\"test\": \"$test\".*\"median\": \([0-9.]*\).*/\1/p"))
            awk -v n="$nice" -v t="$type" -v x="$test" -v a="$a" -v b="$b" \
                'BEGIN {printf "| busy loop, nice %s | %s | %s | %.1f | %.1f | %.2f |", n, t, x, a, b, b / a}'
            if [ -n "$llama" ]; then
                l=$(llama_ts "$lcsv" "$test")
                awk -v b="$b" -v l="$l" 'BEGIN {if (l > 0) printf " %.1f | %.2f |", l, b / l; else printf " failed | |"}'
            fi
            echo
        done
    done
    # training: the bundled model's config, 6 steps; TRAIN_REPS runs at each thread count in
    # turn (1, all, 1, all, ...), the median of each
    train_1="" train_n=""
    for r in $(seq "$TRAIN_REPS"); do
        for t in 1 "$(nproc)"; do
            tps=$($SHRINK train --config models/mini/config.json -d data/heldout.txt --steps 6 -t "$t" 2>&1 |
                  sed -n 's/^train: .* \([0-9.]*\) tokens\/s.*/\1/p')
            if [ "$t" = 1 ]; then train_1="$train_1 $tps"; else train_n="$train_n $tps"; fi
        done
    done
    awk -v n="$nice" -v a="$(median $train_1)" -v b="$(median $train_n)" -v l="$llama" \
        'BEGIN {printf "| busy loop, nice %s | train (models/mini, batch 16 x 256) | tokens/s | %.0f | %.0f | %.2f |%s\n", n, a, b, b / a, l == "" ? "" : " | |"}'
    kill "$busy"
    wait "$busy" 2>/dev/null || true
    busy=""
done
echo
