#!/bin/sh
# bench/seed.sh (make seed): the experiment this project started from, run again on the
# bundled model, then shrink's answers at that size and far below it, in one report.
# docs/seed.md says what the experiment was and what each step here stands for.
#
# The experiment placed compression layers (low-rank bottlenecks) in GPT-2 at a 4.7% cut of
# the parameters and fine-tuned them on text; its text collapsed. Here, at the same cut:
#   experiment-lowrank   every MLP matrix at one rank (plain SVD), fine-tuned on text (CE)
#   shrink-lowrank       ranks, places and method chosen per matrix by measured KL, then
#                        distilled from the original (KD), as docs/training.md recovers models
#   shrink-pruned        structured pruning to the same parameter count (one-shot)
# and far below it: the original quantized (Q8_0; GPTQ Q4_K_M), and shrink-lowrank and
# shrink-pruned quantized on top (GPTQ Q4_K_M). `shrink report` measures them all side by side
# (disk, parameters, speed, memory, quality against the original, text collapse, generated
# text from the same prompts and seed) and writes REPORT_DIR (default seed-report/).
#
# Only bundled files are read: models/mini, data/calib.txt (calibration and the training
# text, 81k tokens) and data/heldout.txt (every quality figure; never trained or calibrated
# on). Each step is skipped when its output exists: delete build/seed to redo.
set -eu
SHRINK=${SHRINK:-./shrink}
THREADS=${THREADS:-2}
TOKENS=${TOKENS:-150000}  # training tokens per model (about 70 s each on 2 cores)
ORIG=models/mini
TRAIN=data/calib.txt
HELDOUT=data/heldout.txt
work=${SEED_WORK:-build/seed}
out=${SEED_REPORT:-seed-report}
mkdir -p "$work"

step() { echo "seed: $*" >&2; }
P=$($SHRINK info -m $ORIG | sed -n 's/^parameters *\([0-9,]*\).*/\1/p' | tr -d ,)
CUT=$((P * 953 / 1000))  # the experiment's cut: 144.99 M -> 138.18 M is -4.7%

# The experiment: one rank in every block (ffn_up and ffn_down at rank 184 of 256 is -4.6%),
# the plain SVD, then fine-tuned on text with the ordinary next-token loss.
if [ ! -d "$work/experiment-lowrank-oneshot" ]; then
    step "experiment: every MLP matrix at rank 184, plain SVD"
    $SHRINK lowrank -m $ORIG -o "$work/experiment-lowrank-oneshot" --linears mlp --rank 184 --method svd \
        -t "$THREADS" > "$work/experiment-lowrank-oneshot.log" 2>&1
fi
if [ ! -d "$work/experiment-lowrank" ]; then
    step "experiment: fine-tuned on $TOKENS tokens (cross-entropy)"
    $SHRINK train -m "$work/experiment-lowrank-oneshot" -d $TRAIN --val $HELDOUT --tokens "$TOKENS" --lr 5e-4 \
        --eval-every 0 --log-every 20 -o "$work/experiment-lowrank" -t "$THREADS" > "$work/experiment-lowrank.log" 2>&1
fi

# shrink's compression layers at the same count: where they cost least, by measured KL.
if [ ! -d "$work/shrink-lowrank-oneshot" ]; then
    step "shrink: compression layers placed by measured KL (--target-params $CUT)"
    $SHRINK lowrank -m $ORIG -o "$work/shrink-lowrank-oneshot" --target-params "$CUT" --method whiten \
        -t "$THREADS" > "$work/shrink-lowrank-oneshot.log" 2>&1
fi
if [ ! -d "$work/shrink-lowrank" ]; then
    step "shrink: distilled from the original on $TOKENS tokens"
    $SHRINK train -m "$work/shrink-lowrank-oneshot" --teacher $ORIG --kd-weight 1 -d $TRAIN --val $HELDOUT \
        --tokens "$TOKENS" --lr 1e-4 --eval-every 0 --log-every 20 -o "$work/shrink-lowrank" -t "$THREADS" \
        > "$work/shrink-lowrank.log" 2>&1
fi
if [ ! -d "$work/shrink-pruned" ]; then
    step "shrink: structured pruning to the same count"
    $SHRINK prune -m $ORIG -o "$work/shrink-pruned" --target-params "$CUT" -t "$THREADS" > "$work/shrink-pruned.log" 2>&1
fi

# Far below that size: quantized, alone and on top.
quant() {  # MODEL NAME ARGS
    m=$1 name=$2
    shift 2
    [ -f "$work/$name.gguf" ] && return 0
    step "quantize $name"
    $SHRINK compress -m "$m" -o "$work/$name.gguf" -t "$THREADS" "$@" > "$work/$name.log" 2>&1
}
quant $ORIG mini-Q8_0 --type Q8_0
quant $ORIG mini-Q4_K_M-gptq --type Q4_K_M --method gptq
quant "$work/shrink-lowrank" shrink-lowrank-Q4_K_M-gptq --type Q4_K_M --method gptq
quant "$work/shrink-pruned" shrink-pruned-Q4_K_M-gptq --type Q4_K_M --method gptq

step "report (every model measured side by side)"
$SHRINK report -m $ORIG -f $HELDOUT -t "$THREADS" -o "$out" \
    -c "$work/experiment-lowrank-oneshot" -c "$work/experiment-lowrank" \
    -c "$work/shrink-lowrank-oneshot" -c "$work/shrink-lowrank" -c "$work/shrink-pruned" \
    -c "$work/mini-Q8_0.gguf" -c "$work/mini-Q4_K_M-gptq.gguf" \
    -c "$work/shrink-lowrank-Q4_K_M-gptq.gguf" -c "$work/shrink-pruned-Q4_K_M-gptq.gguf"

# --- the experiment's question answered from report.json's numbers: seed.md beside the report
json="$out/report.json"
sum="$out/seed.md"
awk -v cut="$(awk -v c="$CUT" -v p="$P" 'BEGIN{printf "%.1f", 100 * (1 - c / p)}')" '
    function num(key,   r) {  # the value of "key": in this line, or "" when absent
        if (!match($0, "\"" key "\": [-0-9.e+]+")) return ""
        r = substr($0, RSTART, RLENGTH); sub(/.*: /, "", r); return r
    }
    match($0, /"label": "[^"]*"/) { m = substr($0, RSTART + 10, RLENGTH - 11); order[++n] = m }
    m != "" {
        split("file_bytes params dppl_pct kl_mean top1 rep4 speedup_tg speedup_pp", k, " ")
        for (i in k) { v = num(k[i]); if (v != "" && !((m, k[i]) in V)) V[m, k[i]] = v }
        if ($0 ~ /"collapsed": true/) C[m] = "**yes**"; else if ($0 ~ /"collapsed": false/) C[m] = "no"
    }
    function row(m, what) {
        printf "| %s | %s | %d | %.2f | %+.2f%% | %.3g | %.1f%% | %s |\n", m, what, V[m, "params"], V[m, "file_bytes"] / 1e6,
            V[m, "dppl_pct"], V[m, "kl_mean"], 100 * V[m, "top1"], C[m]
    }
    END {
        print "# The seed experiment on the bundled model"
        print ""
        print "Written by `bench/seed.sh` (`make seed`) from this directory'"'"'s report.json; docs/seed.md says what the"
        print "experiment was. Quality is measured against the original on data/heldout.txt (never trained or calibrated on);"
        print "text collapse as report.md'"'"'s rule says (32 continuations of 128 tokens per model)."
        print ""
        print "| model | what | parameters | file MB | Δppl | KL | top-1 | text collapsed |"
        print "|---|---|---:|---:|---:|---:|---:|---|"
        printf "| mini | the original | %d | %.2f | | | | (rep-4 %.3f) |\n", V["mini", "params"], V["mini", "file_bytes"] / 1e6, V["mini", "rep4"]
        row("experiment-lowrank-oneshot", "the experiment: one rank in every block, plain SVD")
        row("experiment-lowrank", "… fine-tuned on text (cross-entropy)")
        row("shrink-lowrank-oneshot", "compression layers placed by measured KL")
        row("shrink-lowrank", "… distilled from the original")
        row("shrink-pruned", "structured pruning, same count")
        row("mini-Q8_0", "the original, Q8_0")
        row("mini-Q4_K_M-gptq", "the original, GPTQ Q4_K_M")
        row("shrink-lowrank-Q4_K_M-gptq", "compression layers + GPTQ Q4_K_M")
        row("shrink-pruned-Q4_K_M-gptq", "pruned + GPTQ Q4_K_M")
        print ""
        e = "experiment-lowrank"; s = "shrink-lowrank"; q8 = "mini-Q8_0"; q4 = "mini-Q4_K_M-gptq"; s4 = "shrink-lowrank-Q4_K_M-gptq"
        printf "- **The experiment, run again** (−%s%% parameters): fine-tuned on text with the ordinary next-token loss, its quality %s (Δppl %+.2f%%, KL %.3g); its text %s.\n",
            cut, (V[e, "dppl_pct"] > 10 || V[e, "kl_mean"] > 0.1) ? "broke" : "held", V[e, "dppl_pct"], V[e, "kl_mean"],
            (C[e] == "no") ? "is not collapsed by the rule" : "collapsed"
        printf "- **Compression layers done right** at the same cut: Δppl %+.2f%%, KL %.3g, top-1 %.1f%%, text %s.\n",
            V[s, "dppl_pct"], V[s, "kl_mean"], 100 * V[s, "top1"], (C[s] == "no") ? "not collapsed" : "collapsed"
        worth = !(V[q8, "file_bytes"] <= V[s, "file_bytes"] && V[q8, "kl_mean"] <= V[s, "kl_mean"])
        printf "- **Worth it against quantization at the same size?** %s: Q8_0 of the original is %.1f× smaller (%.2f MB against %.2f MB) at KL %.3g against %.3g.",
            worth ? "Yes" : "No", V[s, "file_bytes"] / V[q8, "file_bytes"], V[q8, "file_bytes"] / 1e6, V[s, "file_bytes"] / 1e6,
            V[q8, "kl_mean"], V[s, "kl_mean"]
        printf " On top of quantization, compression layers + GPTQ Q4_K_M is %.2f MB against GPTQ Q4_K_M alone %.2f MB (%+.1f%%), at KL %.3g against %.3g (%.2f×).\n",
            V[s4, "file_bytes"] / 1e6, V[q4, "file_bytes"] / 1e6, 100 * (V[s4, "file_bytes"] / V[q4, "file_bytes"] - 1),
            V[s4, "kl_mean"], V[q4, "kl_mean"], V[s4, "kl_mean"] / V[q4, "kl_mean"]
    }' "$json" > "$sum.tmp"
mv "$sum.tmp" "$sum"
echo "seed: wrote $sum (and $out/report.md)" >&2
