#!/bin/sh
# bench/lowrank.sh (make lowrank): low-rank compression layers on the bundled model — one-shot
# (uniform MLP ranks against ranks and methods chosen per matrix by measured KL), then
# recovered by distillation from the original, beside structured pruning at the same cuts —
# written to bench/lowrank.md. Nothing is asserted (test_lowrank checks the factorizations and
# the allocation).
#
# Teacher, held-out text, training side and distillation recipe: bench/recovery.sh's (the
# held-out text is the end of brown.txt, never trained or calibrated on; every quality figure
# is `shrink eval -m MODEL --base models/mini` on it). Calibration: data/calib.txt.
#
# Runs (each step is skipped when its output exists: delete build/lowrank to redo):
#   u<R>-<M>   every ffn_up and ffn_down at rank R (of 256) by method M (svd, whiten)
#   t<N>       --target-params: N% of the parameters removed, every matrix kind and layer placed,
#              every method a candidate
#   t*-kd      t05, t25, t34 distilled from the teacher on TOKENS tokens (default 2 M)
#   ref-*      the same one-shot comparison on the reference model, ../shared/models/mini
set -eu
SHARED=${SHRINK_SHARED:-../shared}
THREADS=${THREADS:-2}
SHRINK=${SHRINK:-./shrink}
TEACHER=models/mini
TOKENS=${TOKENS:-2000000}
LR=${LR:-1e-3}
work=build/recovery  # the data is recovery.sh's
mkdir -p "$work/tok"
[ -f "$SHARED/data/corpus/brown.txt" ] || { echo "lowrank.sh: needs $SHARED/data/corpus" >&2; exit 1; }
. bench/recovery_data.sh
FILES=$(cat "$work/train_files")
VAL=$work/val.txt
VALBIN=$work/val.bin
rec=$work
work=build/lowrank
out=${LOWRANK_OUT:-bench/lowrank.md}
mkdir -p "$work"

stamp() { git rev-parse --short HEAD > "$work/$1.commit" 2>/dev/null || echo '?' > "$work/$1.commit"; }
evaluate() {  # MODEL NAME
    [ -s "$work/$2.eval.json" ] && return 0
    $SHRINK eval -m "$1" --base $TEACHER -f "$VAL" --json -t "$THREADS" > "$work/$2.eval.json.tmp"
    mv "$work/$2.eval.json.tmp" "$work/$2.eval.json"
}
factor() {  # NAME ARGS...
    name=$1
    shift
    [ -d "$work/$name" ] || { $SHRINK lowrank -m $TEACHER -o "$work/$name" -t "$THREADS" "$@" > "$work/$name.log" 2>&1 &&
        stamp "$name"; }
    evaluate "$work/$name" "$name"
}
finished() {
    [ -f "$1/training_log.json" ] &&
        [ "$(tr -d ' \n' < "$1/training_log.json" | sed -n 's/.*"planned_steps":\([0-9]*\).*"trained_steps":\([0-9]*\).*/\1=\2/p' |
            awk -F= '{print ($1 == $2)}')" = 1 ]
}
distil() {  # NAME
    finished "$work/$1-kd" || {
        $SHRINK train -m "$work/$1" --teacher $TEACHER --kd-weight 1 -d "$FILES" --val "$VALBIN" \
            --tokens "$TOKENS" --lr "$LR" --eval-every 50 --log-every 50 -o "$work/$1-kd" -t "$THREADS" > "$work/$1-kd.log" 2>&1 &&
        stamp "$1-kd"; }
    evaluate "$work/$1-kd" "$1-kd"
}

# The cuts of the pruning runs: -25%, and the DistilGPT2-style model's count (-34%).
P=$($SHRINK info -m $TEACHER | sed -n 's/^parameters *\([0-9,]*\).*/\1/p' | tr -d ,)
P34=$(sed -n 's/.*-> \([0-9]*\) parameters.*/\1/p' "$rec/d34.prune.log" 2>/dev/null || true)
[ -n "$P34" ] || P34=$((P * 66 / 100))
factor t05 --target-params $((P * 954 / 1000)) --method all
factor t25 --target-params 75% --method all
factor t34 --target-params "$P34" --method all
distil t05
distil t25
distil t34
for r in 184 164 128 96 64; do
    for m in svd whiten; do factor "u$r-$m" --linears mlp --rank $r --method $m; done
done
factor t09 --target-params $((P * 909 / 1000)) --method all
factor t17 --target-params $((P * 829 / 1000)) --method all
factor t24 --target-params $((P * 758 / 1000)) --method all
factor t31 --target-params $((P * 687 / 1000)) --method all
# The reference model (../shared/models/mini, trained by the PyTorch reference script): the same
# one-shot comparison at -17% and -24%, against the uniform MLP ranks 128 and 96.
REF=$SHARED/models/mini
refactor() {  # NAME ARGS...
    name=$1
    shift
    [ -d "$work/$name" ] || { $SHRINK lowrank -m "$REF" -o "$work/$name" -t "$THREADS" "$@" > "$work/$name.log" 2>&1 &&
        stamp "$name"; }
    [ -s "$work/$name.eval.json" ] && return 0
    $SHRINK eval -m "$work/$name" --base "$REF" -f "$VAL" --json -t "$THREADS" > "$work/$name.eval.json.tmp"
    mv "$work/$name.eval.json.tmp" "$work/$name.eval.json"
}
for r in 128 96; do
    for m in svd whiten; do refactor "ref-u$r-$m" --linears mlp --rank $r --method $m; done
done
refactor ref-t17 --target-params $((P * 829 / 1000)) --method all
refactor ref-t24 --target-params $((P * 758 / 1000)) --method all
# Quantized on top: GPTQ Q4_K_M of the distilled -25% model (factors whose rank is not a
# multiple of 256 fall back as llama.cpp's rules do).
[ -f "$work/t25-kd-q4.gguf" ] || { $SHRINK compress -m "$work/t25-kd" --method gptq --type Q4_K_M -o "$work/t25-kd-q4.gguf" \
    -t "$THREADS" > "$work/t25-kd-q4.log" 2>&1 && stamp t25-kd-q4; }
evaluate "$work/t25-kd-q4.gguf" t25-kd-q4

# --- the report
field() { sed -n "s/.*\"$1\": \\([-0-9.e]*\\).*/\\1/p" "$2"; }
params() { $SHRINK info -m "$1" | sed -n 's/^parameters *\([0-9,]*\).*/\1/p'; }
cut() { awk -v p="$(params "$1" | tr -d ,)" -v P="$P" 'BEGIN{printf "%.1f%%", 100 * (p / P - 1)}'; }
q() {  # EVALJSON -> "Δppl | KL | top-1"
    printf '%+.2f%% | %.3g | %.1f%%' "$(field dppl_pct "$1")" "$(field kl_mean "$1")" "$(awk -v t="$(field top1 "$1")" 'BEGIN{print 100*t}')"
}
ranks() {  # MODEL -> the factorized matrices, "kind: ranks by layer"
    sed -n 's/.*"shrink_rank": \[\(.*\)\],*/\1/p' "$1/config.json" | tr -d '[] ' | awk -F, '
        {n = NF / 4; split("attn_qkv attn_output ffn_up ffn_down", k, " ")
         for (j = 1; j <= 4; j++) {s = ""; for (l = 0; l < n; l++) s = s (l ? "/" : "") $(l * 4 + j); out = out (j > 1 ? "; " : "") k[j] " " s}
         print out}'
}
tmp="$out.tmp"
trap 'rm -f "$tmp"' EXIT
{
    echo "# Low-rank compression layers"
    echo
    echo "Written by \`bench/lowrank.sh\` on $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $THREADS threads."
    echo "Teacher: the bundled models/mini ($(params $TEACHER) parameters); held-out text, training side and"
    echo "distillation recipe as in [recovery.md](recovery.md) (lr $LR, $TOKENS tokens, pure KD at τ 2). Calibration:"
    echo "data/calib.txt (32,768 tokens). Δppl, KL (teacher ‖ model, mean per token) and top-1 agreement from"
    echo "\`shrink eval --base models/mini\` on the held-out text."
    echo
    echo "## One-shot: uniform MLP ranks against ranks chosen per matrix"
    echo
    echo "| model | parameters | cut | Δppl | KL | top-1 |"
    echo "|---|---:|---:|---:|---:|---:|"
    for r in 184 164 128 96 64; do
        for m in svd whiten; do
            echo "| ffn_up + ffn_down rank $r, $m | $(params "$work/u$r-$m") | $(cut "$work/u$r-$m") | $(q "$work/u$r-$m.eval.json") |"
        done
    done
    for t in t05 t09 t17 t24 t25 t31 t34; do
        echo "| --target-params, method all | $(params "$work/$t") | $(cut "$work/$t") | $(q "$work/$t.eval.json") |"
    done
    echo
    echo "The reference model (\`../shared/models/mini\`, the PyTorch reference script's; every figure against it):"
    echo
    echo "| model | parameters | cut | Δppl | KL | top-1 |"
    echo "|---|---:|---:|---:|---:|---:|"
    for r in 128 96; do
        for m in svd whiten; do
            echo "| ffn_up + ffn_down rank $r, $m | $(params "$work/ref-u$r-$m") | $(cut "$work/ref-u$r-$m") | $(q "$work/ref-u$r-$m.eval.json") |"
        done
    done
    for t in ref-t17 ref-t24; do
        echo "| --target-params, method all | $(params "$work/$t") | $(cut "$work/$t") | $(q "$work/$t.eval.json") |"
    done
    echo
    echo "Ranks chosen (per layer 0..5; 0 = dense):"
    echo
    for t in t05 t17 t25 t34; do echo "- $(cut "$work/$t"): $(ranks "$work/$t")"; done
    echo
    echo "## Recovered by distillation, beside structured pruning at the same cut"
    echo
    echo "| model | parameters | cut | one-shot Δppl / KL | recovered Δppl | KL | top-1 |"
    echo "|---|---:|---:|---|---:|---:|---:|"
    for t in t05 t25 t34; do
        echo "| compression layers ($t) | $(params "$work/$t") | $(cut "$work/$t") | $(q "$work/$t.eval.json" | awk -F' [|] ' '{print $1 " / " $2}') | $(q "$work/$t-kd.eval.json") |"
    done
    for p in p25 p34; do
        [ -s "$rec/$p-kd.eval.json" ] || continue
        echo "| structured pruning ($p, recovery.md) | $(params "$rec/$p") | $(cut "$rec/$p") | $(q "$rec/$p.eval.json" | awk -F' [|] ' '{print $1 " / " $2}') | $(q "$rec/$p-kd.eval.json") |"
    done
    echo
    echo "GPTQ Q4_K_M on top of the distilled −25% model: $(ls -l "$work/t25-kd-q4.gguf" | awk '{printf "%.2f MB", $5 / 1e6}'), $(q "$work/t25-kd-q4.eval.json" | sed 's/ | /, KL /; s/ | /, top-1 /')."
} > "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "wrote $out"
