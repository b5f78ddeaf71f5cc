#!/bin/sh
# bench/pruning.sh (make pruning): one-shot structured pruning (no training) at several cuts
# and with each way of choosing and compensating, written to bench/pruning.md. Nothing is
# asserted (test_prune checks the one-shot target at one cut).
#
# Models: the bundled models/mini (the teacher) and, when ../shared is there, the reference
# ../shared/models/mini. Calibration: data/calib.txt (training-side text), 32,768 tokens.
# Held-out text: data/heldout.txt, never used for calibration; every row is
# `shrink eval -m PRUNED --base ORIGINAL` on it (ctx 256, stride 128). Dropped blocks are
# chosen by the KL of dropping each alone on the calibration text, whatever the score.
set -eu
SHARED=${SHRINK_SHARED:-../shared}
THREADS=${THREADS:-2}
TEXT=data/heldout.txt
work=build/pruning
out=${PRUNING_OUT:-bench/pruning.md}
MODELS=${MODELS:-"models/mini $SHARED/models/mini"}
CUTS=${CUTS:-"--ffn=0.25 --ffn=0.5 --heads=0.25 --heads=0.5 --heads=0.25,--ffn=0.25 --heads=0.25,--ffn=0.5 --drop-layers=1 --drop-layers=2 --drop-layers=1,--drop-by=bi --drop-layers=2,--drop-by=bi"}
METHODS=${METHODS:-"magnitude:none act:none fluct:bias taylor:none act:refit fluct:refit taylor:refit"}
mkdir -p "$work"
tmp="$out.tmp"
trap 'rm -f "$tmp"' EXIT

field() { sed -n "s/.*\"$1\": \\([-0-9.e]*\\).*/\\1/p" "$2"; }

{
    echo "# One-shot structured pruning"
    echo
    echo "Written by \`bench/pruning.sh\` on $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
    echo "No training: each model is \`shrink prune\`d from the original, calibrated on 32,768 tokens of"
    echo "data/calib.txt, and measured against the original on data/heldout.txt (\`shrink eval --base\`,"
    echo "ctx 256, stride 128). Scores: magnitude (weights only), act (sqrt(E[x²])·‖column‖), fluct (FLAP:"
    echo "Var[x]·‖column‖²), taylor (LLM-Pruner: Σ|gradient·weight| over the unit's weights, from a backward"
    echo "pass over the calibration text). Compensation: none, bias (FLAP's fold of the removed units' mean),"
    echo "refit (least squares on the kept units, bias included). Blocks are dropped by the KL of dropping"
    echo "each alone (the default), or with \`--drop-by bi\` by ShortGPT's block influence, 1 − cos(input, output)."
    for M in $MODELS; do
        [ -f "$M/config.json" ] || continue
        echo
        echo "## $M"
        echo
        echo "| cut | score | compensation | parameters | cut | Δppl | KL mean | top-1 |"
        echo "|---|---|---|---:|---:|---:|---:|---:|"
        tag=$(echo "$M" | tr '/.' '__')
        for cut in $CUTS; do
            args=$(echo "$cut" | tr ',=' '  ')
            for meth in $METHODS; do
                score=${meth%%:*} comp=${meth##*:}
                name=$tag$(echo "$cut-$meth" | tr -c 'a-z0-9.\n-' '_')
                if [ ! -s "$work/$name.json" ]; then
                    # shellcheck disable=SC2086
                    ./shrink prune -m "$M" -o "$work/$name.gguf" $args --score "$score" --compensate "$comp" -t "$THREADS" \
                        2> "$work/$name.log" >/dev/null
                    ./shrink eval -m "$work/$name.gguf" -f "$TEXT" --base "$M" --json -t "$THREADS" > "$work/$name.json.tmp"
                    mv "$work/$name.json.tmp" "$work/$name.json"
                    rm -f "$work/$name.gguf"
                fi
                shown_score=$score shown_comp=$comp
                case $cut in --drop-layers=*) shown_score="—" shown_comp="—" ;; esac
                params=$(sed -n 's/.*-> \([0-9]*\) parameters (-\([0-9.]*\)%).*/\1 \2/p' "$work/$name.log")
                printf '| %s | %s | %s | %s | -%s%% | %+.2f%% | %.4f | %.1f%% |\n' "$(echo "$cut" | tr ',' ' ')" "$shown_score" "$shown_comp" \
                    "${params% *}" "${params#* }" "$(field dppl_pct "$work/$name.json")" "$(field kl_mean "$work/$name.json")" \
                    "$(echo "$(field top1 "$work/$name.json")" | awk '{print $1 * 100}')"
                # The dropped blocks do not depend on the score: one row.
                case $cut in --drop-layers=*) break ;; esac
            done
        done
    done
} > "$tmp"
mv "$tmp" "$out"
trap - EXIT
cat "$out"
