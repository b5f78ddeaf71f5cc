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
LR=${LR:-1e-3}
KDW=${KDW:-1}
MULT=${MULT:-32}
work=build/recovery
out=${RECOVERY_OUT:-bench/recovery.md}
mkdir -p "$work/tok"
[ -f "$SHARED/data/corpus/brown.txt" ] || { echo "recovery.sh: needs $SHARED/data/corpus" >&2; exit 1; }

. bench/recovery_data.sh  # $work/val.txt, val.bin, train_files
FILES=$(cat "$work/train_files")

stamp() {  # NAME: the commit whose code made this step's output (the report lists them)
    git rev-parse --short HEAD > "$work/$1.commit" 2>/dev/null || echo '?' > "$work/$1.commit"
}
evaluate() {  # MODEL NAME
    [ -s "$work/$2.eval.json" ] && return 0
    $SHRINK eval -m "$1" --base $TEACHER -f "$work/val.txt" --json -t "$THREADS" > "$work/$2.eval.json.tmp"
    mv "$work/$2.eval.json.tmp" "$work/$2.eval.json"
}
prune() {  # NAME ARGS...
    name=$1
    shift
    [ -d "$work/$name" ] || { $SHRINK prune -m $TEACHER -o "$work/$name" --ffn-multiple "$MULT" -t "$THREADS" "$@" \
        > "$work/$name.prune.log" 2>&1 && stamp "$name"; }
    evaluate "$work/$name" "$name"
}
finished() {  # CHECKPOINT: its training_log.json says every planned step was trained
    [ -f "$1/training_log.json" ] &&
        [ "$(tr -d ' \n' < "$1/training_log.json" | sed -n 's/.*"planned_steps":\([0-9]*\).*"trained_steps":\([0-9]*\).*/\1=\2/p' |
            awk -F= '{print ($1 == $2)}')" = 1 ]
}
distil() {  # NAME: $work/NAME -> $work/NAME-kd
    finished "$work/$1-kd" || {
        $SHRINK train -m "$work/$1" --teacher $TEACHER --kd-weight "$KDW" -d "$FILES" --val "$work/val.bin" \
            --tokens "$TOKENS" --lr "$LR" --eval-every 50 --log-every 50 -o "$work/$1-kd" -t "$THREADS" > "$work/$1-kd.log" 2>&1 &&
        stamp "$1-kd"; }
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
if [ "$SCRATCH" = 1 ] && ! finished "$work/s34"; then
    resume=""
    [ -f "$work/s34/train_state.bin" ] && resume=--resume  # a stopped run continues where it stopped
    $SHRINK train $resume --config "$work/p34/config.json" --tokenizer $TEACHER -d "$FILES" --val "$work/val.bin" \
        --tokens 11800000 --eval-every 250 --log-every 250 -o "$work/s34" -t "$THREADS" >> "$work/s34.log" 2>&1
    stamp s34
fi
[ "$SCRATCH" = 1 ] && evaluate "$work/s34" s34

# Quantized on top: GPTQ Q4_K_M (compress's defaults, data/calib.txt) of the teacher and of the
# distilled models. MLP widths that are not multiples of 256 fall back to Q5_0 as llama.cpp does.
quant() {  # MODEL NAME
    [ -f "$work/$2.gguf" ] || { $SHRINK compress -m "$1" --method gptq --type Q4_K_M -o "$work/$2.gguf" -t "$THREADS" \
        > "$work/$2.log" 2>&1 && stamp "$2"; }
    evaluate "$work/$2.gguf" "$2"
}
quant $TEACHER teacher-q4
quant "$work/p25-kd" p25-kd-q4
quant "$work/p34-kd" p34-kd-q4

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
    if [ -s "$work/s34.eval.json" ]; then
        echo
        printf 'Reading it: at the -34%% architecture, training from scratch on the teacher'"'"'s %s tokens (%.1f× the\n' \
            11,800,000 "$(awk -v t="$TOKENS" 'BEGIN{print 11800000 / t}')"
        printf 'distillation budget) reaches Δppl %+.2f%% against %+.2f%% for the pruned and distilled model, but it is\n' \
            "$(field dppl_pct "$work/s34.eval.json")" "$(field dppl_pct "$work/p34-kd.eval.json")"
        printf 'another model, not a copy of the teacher: KL %.3f and top-1 %.1f%% against %.3f and %.1f%%. Distillation\n' \
            "$(field kl_mean "$work/s34.eval.json")" "$(awk -v t="$(field top1 "$work/s34.eval.json")" 'BEGIN{print 100*t}')" \
            "$(field kl_mean "$work/p34-kd.eval.json")" "$(awk -v t="$(field top1 "$work/p34-kd.eval.json")" 'BEGIN{print 100*t}')"
        echo "keeps what the original says; training anew only matches how well it predicts this text."
    fi
    echo
    echo "## Validation loss during training"
    echo
    echo "Mean cross-entropy (nats) over non-overlapping 256-token windows of the held-out tokens, as \`shrink train\`"
    echo "logs it, by training tokens seen."
    echo
    echo "![validation loss against training tokens](recovery.svg)"
    echo
    for r in p25-kd p34-kd d34-kd s34; do
        [ -f "$work/$r/training_log.json" ] && echo "- **$r**: $(curve "$work/$r" 4096)"
    done
    echo
    echo "## Quantized on top"
    echo
    echo "\`shrink compress --method gptq --type Q4_K_M\` (data/calib.txt, 32,768 tokens) of the teacher and of the"
    echo "distilled models; MLP widths that are not multiples of 256 store ffn_down as Q5_0 (llama.cpp's fallback)."
    echo "Same held-out text and protocol; Δppl and KL against the fp32 teacher."
    echo
    echo "| model | parameters | file bytes | Δppl | KL mean | top-1 |"
    echo "|---|---:|---:|---:|---:|---:|"
    for q in teacher-q4:"teacher, GPTQ Q4_K_M" p25-kd-q4:"-25% + distillation, GPTQ Q4_K_M" p34-kd-q4:"-34% + distillation, GPTQ Q4_K_M"; do
        n=${q%%:*}
        [ -s "$work/$n.eval.json" ] || continue
        printf '| %s | %s | %s | %+.2f%% | %.4f | %.1f%% |\n' "${q#*:}" "$(params "$work/$n.gguf")" \
            "$(stat -c %s "$work/$n.gguf" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')" "$(field dppl_pct "$work/$n.eval.json")" \
            "$(field kl_mean "$work/$n.eval.json")" "$(awk -v t="$(field top1 "$work/$n.eval.json")" 'BEGIN{print 100*t}')"
    done
    printf '| teacher, fp32 safetensors | %s | %s | 0 | 0 | 100%% |\n' "$(params $TEACHER)" \
        "$(stat -c %s $TEACHER/model.safetensors | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')"
    echo
    printf 'Steps are skipped when their output exists (delete build/recovery to redo all); each was made by the\n'
    printf 'code of commit:'
    for n in p25 p34 d34 p25-kd p34-kd d34-kd s34 teacher-q4 p25-kd-q4 p34-kd-q4; do
        [ -f "$work/$n.commit" ] && printf ' %s %s,' "$n" "$(cat "$work/$n.commit")"
    done | sed 's/,$/./'
    echo
} > "$tmp"
mv "$tmp" "$out"
# The curves as a plot: validation loss against training tokens (log scale).
svg="${out%.md}.svg"
for r in p25-kd p34-kd d34-kd s34; do
    [ -f "$work/$r/training_log.json" ] && echo "$r $(curve "$work/$r" 4096)"
done | awk '
    {name[NR] = $1; for (i = 2; i <= NF; i++) {split($i, p, ":"); x = p[1] + 0; y = p[2] + 0
        X[NR, i] = log(x) / log(10); Y[NR, i] = y; n[NR] = NF
        if (y > ymax || !seen) ymax = y; if (y < ymin || !seen) ymin = y; seen = 1}}
    END {
        W = 640; H = 400; L = 60; R = 150; T = 20; B = 50; x0 = -1; x1 = log(12) / log(10)
        ymin = int(ymin * 10) / 10; ymax = int(ymax * 10 + 1) / 10
        printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H
        printf "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H
        split("0.1 0.2 0.5 1 2 5 10", xt, " ")
        for (k = 1; k <= 7; k++) {px = L + (log(xt[k]) / log(10) - x0) / (x1 - x0) * (W - L - R)
            printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>", px, T, px, H - B
            printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%sM</text>\n", px, H - B + 16, xt[k]}
        for (v = ymin; v <= ymax + 1e-9; v += 0.1) {py = T + (ymax - v) / (ymax - ymin) * (H - T - B)
            printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>", L, py, W - R, py
            printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", L - 6, py + 4, v}
        printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">training tokens (log scale)</text>\n", L + (W - L - R) / 2, H - 12
        printf "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">validation loss (nats)</text>\n", T + (H - T - B) / 2, T + (H - T - B) / 2
        split("#1f77b4 #d62728 #2ca02c #7f7f7f", col, " ")
        for (r = 1; r <= NR; r++) {
            printf "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col[r]
            for (i = 2; i <= n[r]; i++) printf "%.1f,%.1f ", L + (X[r, i] - x0) / (x1 - x0) * (W - L - R), T + (ymax - Y[r, i]) / (ymax - ymin) * (H - T - B)
            printf "\"/>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n", W - R + 10, T + 20 * r, col[r], name[r]
        }
        print "</svg>"
    }' > "$svg.tmp"
mv "$svg.tmp" "$svg"
trap - EXIT
echo "wrote $out and $svg"
