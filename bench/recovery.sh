#!/bin/sh
# bench/recovery.sh (make recovery): structured pruning, then recovery by distillation from
# the original, against the two honest baselines, written to bench/recovery.md. Nothing is
# asserted (test_prune checks the one-shot pipeline; test_train the distillation).
#
# Teacher: the bundled models/mini, trained on ../shared/data/corpus + corpus-extra.
# Held-out text: the end of brown.txt from line 33,101 (84,131 tokens; it holds
# data/heldout.txt), never trained or calibrated on; every quality figure is
# `shrink eval -m MODEL --base models/mini` on it (ctx 256, stride 128).
# Training side: brown.txt up to line 33,100, the corpus's and corpus-extra's books.
#
# Runs (each step is skipped when its output exists: delete build/recovery to redo):
#   p25, p34  shrink prune --target-params (75%; the DistilGPT2-style model's count), one-shot
#   d34       DistilGPT2-style: blocks 0, 2, 4 of the teacher kept (--layers), no other cut
#   *-kd      each distilled from the teacher on TOKENS tokens (default 2 M)
#   s34       p34's architecture trained from scratch on the teacher's 11.8 M tokens, its recipe
set -eu
SHARED=${SHRINK_SHARED:-../shared}
THREADS=${THREADS:-2}
SHRINK=${SHRINK:-./shrink}
TEACHER=models/mini
TOKENS=${TOKENS:-2000000}
LR=${LR:-5e-4}
KDW=${KDW:-1}
MULT=${MULT:-32}
work=build/recovery
out=${RECOVERY_OUT:-bench/recovery.md}
mkdir -p "$work/tok"
[ -f "$SHARED/data/corpus/brown.txt" ] || { echo "recovery.sh: needs $SHARED/data/corpus" >&2; exit 1; }

# Data: token files of the training side, the held-out text as text (eval) and tokens (curves).
if [ ! -s "$work/train_files" ]; then
    head -n 33100 "$SHARED/data/corpus/brown.txt" > "$work/brown_train.txt"
    tail -n +33101 "$SHARED/data/corpus/brown.txt" > "$work/val.txt"
    $SHRINK tokenize -m $TEACHER -f "$work/val.txt" -o "$work/val.bin"
    $SHRINK tokenize -m $TEACHER -f "$work/brown_train.txt" --eot -o "$work/tok/brown_train.bin"
    for f in "$SHARED"/data/corpus/gutenberg/*.txt "$SHARED"/data/corpus-extra/gutenberg/*.txt; do
        $SHRINK tokenize -m $TEACHER -f "$f" --eot -o "$work/tok/$(basename "$f" .txt).bin"
    done
    ls "$PWD/$work"/tok/*.bin | LC_ALL=C sort | tr '\n' , | sed 's/,$//' > "$work/train_files.tmp"
    mv "$work/train_files.tmp" "$work/train_files"
fi
FILES=$(cat "$work/train_files")

evaluate() {  # MODEL NAME
    [ -s "$work/$2.eval.json" ] && return 0
    $SHRINK eval -m "$1" --base $TEACHER -f "$work/val.txt" --json -t "$THREADS" > "$work/$2.eval.json.tmp"
    mv "$work/$2.eval.json.tmp" "$work/$2.eval.json"
}
prune() {  # NAME ARGS...
    name=$1
    shift
    [ -d "$work/$name" ] || $SHRINK prune -m $TEACHER -o "$work/$name" --ffn-multiple "$MULT" -t "$THREADS" "$@" \
        > "$work/$name.prune.log" 2>&1
    evaluate "$work/$name" "$name"
}
distil() {  # NAME: $work/NAME -> $work/NAME-kd
    [ -f "$work/$1-kd/training_log.json" ] ||
        $SHRINK train -m "$work/$1" --teacher $TEACHER --kd-weight "$KDW" -d "$FILES" --val "$work/val.bin" \
            --tokens "$TOKENS" --lr "$LR" --eval-every 50 --log-every 50 -o "$work/$1-kd" -t "$THREADS" > "$work/$1-kd.log" 2>&1
    evaluate "$work/$1-kd" "$1-kd"
}

prune p25 --target-params 75%
prune d34 --layers 0,2,4
P34=$(sed -n 's/.*-> \([0-9]*\) parameters.*/\1/p' "$work/d34.prune.log")
prune p34 --target-params "$P34"
distil p25
distil p34
distil d34
# From scratch: the teacher's recipe (docs/repro/mini_long_run.sh) on p34's architecture
# (about 35 minutes on 2 cores; SCRATCH=0 leaves it out).
SCRATCH=${SCRATCH:-1}
if [ "$SCRATCH" = 1 ] && [ ! -f "$work/s34/training_log.json" ]; then
    $SHRINK train --config "$work/p34/config.json" --tokenizer $TEACHER -d "$FILES" --val "$work/val.bin" \
        --tokens 11800000 --eval-every 250 --log-every 250 -o "$work/s34" -t "$THREADS" > "$work/s34.log" 2>&1
fi
[ "$SCRATCH" = 1 ] && evaluate "$work/s34" s34

# --- the report
field() { sed -n "s/.*\"$1\": \\([-0-9.e]*\\).*/\\1/p" "$2"; }
arch() {  # MODEL -> "N blocks; heads h0/h1/..; MLP w0/w1/.."
    $SHRINK info -m "$1" | awk '
        /^shape/ {for (i = 1; i < NF; i++) {v = $(i + 1) + 0; if ($i == "n_layer") NL = v; if ($i == "n_head") NH = v
                                            if ($i == "n_inner") FF = v}}
        /^ *[0-9]+: / {gsub(",", "", $5); h = h (n ? "/" : "") $2; w = w (n ? "/" : "") $5; n++}
        END {if (n) printf "%d blocks; heads %s; MLP %s", n, h, w
             else printf "%d blocks; heads %d each; MLP %d each", NL, NH, FF}'
}
params() { $SHRINK info -m "$1" | sed -n 's/^parameters *\([0-9,]*\).*/\1/p'; }
row() {  # LABEL MODEL EVALNAME TOKENS
    printf '| %s | %s | %s | %+.2f%% | %.4f | %.1f%% | %s |\n' "$1" "$(arch "$2")" "$(params "$2")" \
        "$(field dppl_pct "$work/$3.eval.json")" "$(field kl_mean "$work/$3.eval.json")" \
        "$(awk -v t="$(field top1 "$work/$3.eval.json")" 'BEGIN{print 100*t}')" "$4"
}
curve() {  # CHECKPOINT: "tokens:val_loss" pairs from training_log.json
    tr -d '\n ' < "$1/training_log.json" | sed 's/.*"evals":\[\(.*\)\],"steps".*/\1/' | tr -d '[' | tr ']' '\n' |
        sed 's/^,//' | awk -F, -v bt="$2" 'NF == 2 {printf "%s%.2fM:%s", (n++ ? " " : ""), ($1 + 1) * bt / 1e6, $2}'
}
tmp="$out.tmp"
trap 'rm -f "$tmp"' EXIT
base_ppl=$(field base_ppl "$work/p25.eval.json")
{
    echo "# Pruning with recovery by distillation"
    echo
    echo "Written by \`bench/recovery.sh\` on $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $THREADS threads."
    echo "Teacher: the bundled models/mini ($(params $TEACHER) parameters, perplexity $base_ppl on the held-out text)."
    echo "Held-out text: the end of ../shared/data/corpus/brown.txt from line 33,101 (84,131 tokens, never trained or"
    echo "calibrated on); every row is \`shrink eval -m MODEL --base models/mini\` on it (ctx 256, stride 128)."
    echo "Pruning: \`shrink prune\` (fluct scores, least-squares refit, 32,768 calibration tokens of data/calib.txt,"
    echo "MLP widths multiples of $MULT). Distillation: \`shrink train --teacher models/mini --kd-weight $KDW --lr $LR\`,"
    echo "$TOKENS tokens (batch 16 × 256) sampled from the training side of the teacher's corpus."
    echo
    echo "| model | architecture | parameters | Δppl | KL mean | top-1 | training tokens |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    row "-25% one-shot (--target-params 75%)" "$work/p25" p25 0
    row "-25% + distillation" "$work/p25-kd" p25-kd "$TOKENS"
    row "-34% one-shot (--target-params $P34)" "$work/p34" p34 0
    row "-34% + distillation" "$work/p34-kd" p34-kd "$TOKENS"
    row "baseline: DistilGPT2-style blocks 0,2,4, one-shot" "$work/d34" d34 0
    row "baseline: DistilGPT2-style + distillation" "$work/d34-kd" d34-kd "$TOKENS"
    if [ -s "$work/s34.eval.json" ]; then row "baseline: -34% architecture from scratch" "$work/s34" s34 11800000
    else echo "| baseline: -34% architecture from scratch | not run (SCRATCH=0) | | | | | |"; fi
    echo
    echo "## Validation loss during training"
    echo
    echo "Mean cross-entropy (nats) over non-overlapping 256-token windows of the held-out tokens, as \`shrink train\`"
    echo "logs it, by training tokens seen."
    echo
    for r in p25-kd p34-kd d34-kd s34; do
        [ -f "$work/$r/training_log.json" ] && echo "- **$r**: $(curve "$work/$r" 4096)"
    done
} > "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "wrote $out"
