#!/bin/sh
# bench/prune_speed.sh (make prune-speed): do pruned and factorized models run as much faster
# as they compute less? For each such model beside its original: pp128 and tg64 tokens/s
# (`shrink bench`, the two models taking turns ROUNDS times, REPS repeats each, medians), the
# measured speedup, and the FLOP ratio (original / compressed multiply-adds of the same test,
# from each layer's heads, MLP width and ranks: the linears, attention over the cache, one
# LM-head row per forward).
# Also what pruning a GPT-2-124M-shaped model costs: seconds and peak memory (RSS).
# Writes bench/prune_speed.md (or PRUNE_SPEED_OUT; ONLY keeps some pairs, below). Nothing is
# asserted. Run it on a quiet machine.
# The GPT-2-shaped model has random weights: its --target-params shape says nothing about
# which units matter, only how fast such a shape runs.
set -eu
SHRINK=${SHRINK:-./shrink}
REPS=${REPS:-5}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-1 2}
work=build/prune_speed
out=${PRUNE_SPEED_OUT:-bench/prune_speed.md}
mkdir -p "$work"

# Models: the bundled one pruned by bench/recovery.sh (when it has run), and GPT-2-124M's shape
# with random weights, pruned here (speed depends on the shape only).
[ -f "$work/gpt2/config.json" ] || $SHRINK bench --random gpt2 --save "$work/gpt2" -p 0 -n 0 -t 1 >/dev/null
cost() {  # NAME ARGS: prune the GPT-2 shape, recording seconds and peak RSS
    name=$1
    shift
    [ -f "$work/$name/config.json" ] && return 0
    /usr/bin/time -f '%e %M' -o "$work/$name.time" $SHRINK prune -m "$work/gpt2" -o "$work/$name" --calib-tokens 2048 "$@" \
        > "$work/$name.log" 2>&1
}
cost gpt2-h25f25 --heads 0.25 --ffn 0.25
cost gpt2-f50 --ffn 0.5
cost gpt2-t75 --target-params 75%
cost gpt2-drop4 --drop-layers 4
# Factorized (issue 14): GPT-2's shape with every MLP matrix at rank 256 (-26.5%) and every
# linear at rank 192; the bundled model's MLP at rank 128 (-17%).
factor() {  # MODEL NAME ARGS
    m=$1 name=$2
    shift 2
    [ -f "$work/$name/config.json" ] || $SHRINK lowrank -m "$m" -o "$work/$name" --calib-tokens 2048 "$@" > "$work/$name.log" 2>&1
}
factor "$work/gpt2" gpt2-lr-mlp256 --linears mlp --rank 256
factor "$work/gpt2" gpt2-lr-all192 --linears all --rank 192
factor models/mini mini-lr-mlp128 --linears mlp --rank 128
PAIRS="$work/gpt2:$work/gpt2-h25f25 $work/gpt2:$work/gpt2-f50 $work/gpt2:$work/gpt2-t75 $work/gpt2:$work/gpt2-drop4"
for p in p25 p34 d34; do
    [ -f "build/recovery/$p/config.json" ] && PAIRS="$PAIRS models/mini:build/recovery/$p"
done
PAIRS="$PAIRS $work/gpt2:$work/gpt2-lr-mlp256 $work/gpt2:$work/gpt2-lr-all192 models/mini:$work/mini-lr-mlp128"
for t in t25 t34; do  # bench/lowrank.sh's budget-placed factorizations, when it has run
    [ -f "build/lowrank/$t/config.json" ] && PAIRS="$PAIRS models/mini:build/lowrank/$t"
done
# ONLY="PATTERN ..." keeps the pairs whose text contains one of them (ONLY="lr- lowrank": the
# factorized ones).
if [ -n "${ONLY:-}" ]; then
    PAIRS=$(for p in $PAIRS; do for o in $ONLY; do case $p in *"$o"*) echo "$p"; break ;; esac; done; done)
fi

# Multiply-adds of a test (pp: T tokens in one forward; tg: T tokens one by one), from `shrink info`.
flops() {  # MODEL pp|tg T
    $SHRINK info -m "$1" | awk -v test="$2" -v T="$3" '
        /^shape/ {for (i = 1; i < NF; i++) {v = $(i + 1) + 0; if ($i == "n_embd") C = v; if ($i == "vocab") V = v
                                            if ($i == "n_layer") NL = v; if ($i == "n_head") NH = v; if ($i == "n_inner") FF = v}}
        /^ *[0-9]+: / {gsub(",", "", $5); n++; W[n] = $2 * hs; F[n] = $5 + 0
                       R[n] = $6 == "ranks" ? $7 : "0/0/0/0"}
        /^layers/ {hs = 0}
        /heads of/ {match($0, /heads of [0-9]+/); hs = substr($0, RSTART + 9, RLENGTH - 9) + 0}
        END {
            if (!n) {for (l = 1; l <= NL; l++) {W[l] = C; F[l] = FF; R[l] = "0/0/0/0"}; n = NL}  # a uniform model lists no layers
            f = 0
            for (l = 1; l <= n; l++) {
                split(R[l], r, "/")  # a factorized linear (rank r > 0) costs r·(in + out), a dense one in·out
                lin = mm(C, 3 * W[l], r[1]) + mm(W[l], C, r[2]) + mm(C, F[l], r[3]) + mm(F[l], C, r[4])
                if (test == "pp") f += T * lin + 2 * W[l] * T * (T + 1) / 2
                else for (p = 1; p <= T; p++) f += lin + 2 * W[l] * p
            }
            f += (test == "pp" ? 1 : T) * V * C
            printf "%.0f", f
        }
        function mm(i, o, k) {return k > 0 ? k * (i + o) : i * o}'
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
one() {  # MODEL THREADS pp|tg
    if [ "$3" = pp ]; then test_args="-p 128 -n 0"; else test_args="-p 0 -n 64"; fi
    # shellcheck disable=SC2086
    $SHRINK bench -m "$1" -t "$2" -r "$REPS" $test_args --json | sed -n 's/.*"median": \([0-9.]*\).*/\1/p'
}
params() { $SHRINK info -m "$1" | sed -n 's/^parameters *\([0-9,]*\).*/\1/p'; }

tmp="$out.tmp"
trap 'rm -f "$tmp"' EXIT
{
    echo "# Speed of pruned and factorized models"
    echo
    echo "Written by \`bench/prune_speed.sh\` on $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'),"
    echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))."
    echo "Each pruned or factorized model beside its original, fp32: \`shrink bench\` pp128 (one batched forward of 128 tokens)"
    echo "and tg64 (64 tokens one by one), the two taking turns $ROUNDS times with $REPS repeats each; medians."
    echo "FLOP ratio: the original's multiply-adds for the test over the compressed model's (linears, attention over"
    echo "the cache, the LM head once per forward; a factorized linear of rank r costs r·(in + out)). Target (issues 13, 14):"
    echo "a speedup of at least 0.9 × the FLOP ratio."
    echo
    echo "| original | compressed | parameters | threads | test | original tok/s | compressed tok/s | speedup | FLOP ratio | speedup / FLOP ratio |"
    echo "|---|---|---:|---:|---|---:|---:|---:|---:|---:|"
    for pair in $PAIRS; do
        a=${pair%%:*} b=${pair#*:}
        for t in $THREADS; do
            for test in pp tg; do
                : > "$work/a" && : > "$work/b"
                r=0
                while [ $r -lt "$ROUNDS" ]; do
                    one "$a" "$t" $test >> "$work/a"
                    one "$b" "$t" $test >> "$work/b"
                    r=$((r + 1))
                done
                ma=$(median < "$work/a") mb=$(median < "$work/b")
                n=128
                [ $test = tg ] && n=64
                fa=$(flops "$a" $test $n) fb=$(flops "$b" $test $n)
                awk -v a="$a" -v b="$b" -v p="$(params "$b")" -v t="$t" -v test="$test$n" -v ma="$ma" -v mb="$mb" -v fa="$fa" -v fb="$fb" \
                    'BEGIN {s = mb / ma; r = fa / fb; printf "| %s | %s | %s | %d | %s | %.0f | %.0f | %.2f× | %.2f× | %.2f |\n", a, b, p, t, test, ma, mb, s, r, s / r}'
            done
        done
    done
    if [ -z "${ONLY:-}" ]; then  # a subset of pairs (ONLY) leaves the pruning costs out
        echo
        echo "## Cost of pruning GPT-2-124M's shape"
        echo
        echo "\`shrink prune\` on random weights of GPT-2-124M's shape (\`shrink bench --random gpt2 --save\`), 2,048"
        echo "calibration tokens of data/calib.txt, all cores; wall seconds and peak resident memory from /usr/bin/time."
        echo
        echo "| cut | parameters | seconds | peak RSS |"
        echo "|---|---:|---:|---:|"
        for c in h25f25:"--heads 0.25 --ffn 0.25" f50:"--ffn 0.5" t75:"--target-params 75%" drop4:"--drop-layers 4"; do
            n=${c%%:*}
            read -r secs kb < "$work/gpt2-$n.time"
            printf '| %s | %s | %s | %.2f GB |\n' "${c#*:}" "$(params "$work/gpt2-$n")" "$secs" "$(awk -v k="$kb" 'BEGIN{print k / 1048576}')"
        done
    fi
} > "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "wrote $out"
