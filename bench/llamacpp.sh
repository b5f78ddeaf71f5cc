#!/bin/sh
# bench/llamacpp.sh (make llamacpp, which writes bench/llamacpp.md): does llama.cpp run the
# files shrink writes for pruned models, and does it continue prompts with the tokens shrink
# picks? Greedy decoding (llama-simple: 32 tokens, no BOS, as shrink generate --temp 0) from
# ten prompts, on the bundled model pruned to gpt2's layout (--ffn 0.25 --drop-layers 1: one
# MLP width, one head count, 5 blocks) in F32, F16, Q8_0 and GPTQ Q4_K_M, beside the unpruned
# model's files; and a model whose heads were pruned (shrink-gpt2 layout, docs/format.md), which
# llama.cpp must refuse. Needs llama.cpp built from its public source outside this repository
# (LLAMA_CPP_BIN, default ../llama.cpp/build/bin, as bench/run.sh; LLAMA_CPP_DESC says which
# source, when its --version cannot). Prints markdown; nothing is asserted.
set -eu
SHRINK=${SHRINK:-./shrink}
LLAMA_BIN=${LLAMA_CPP_BIN:-../llama.cpp/build/bin}
work=${WORK:-build/llamacpp}
simple=$LLAMA_BIN/llama-simple
if [ ! -x "$simple" ]; then
    echo "bench/llamacpp.sh: llama.cpp's llama-simple not found at $LLAMA_BIN (set LLAMA_CPP_BIN)" >&2
    exit 1
fi
mkdir -p "$work"
quiet() { "$@" >/dev/null 2>&1; }

# The files: the original's and the pruned model's.
quiet $SHRINK prune -m models/mini --ffn 0.25 --drop-layers 1 -o "$work/pruned"
quiet $SHRINK prune -m models/mini --heads 0.25 -o "$work/heads.gguf"
for m in mini pruned; do
    src=models/mini
    [ $m = mini ] || src=$work/pruned
    quiet $SHRINK export -m "$src" --type f32 -o "$work/$m-F32.gguf"
    quiet $SHRINK export -m "$src" --type f16 -o "$work/$m-F16.gguf"
    quiet $SHRINK compress -m "$src" --type Q8_0 -o "$work/$m-Q8_0.gguf"
    quiet $SHRINK compress -m "$src" --type Q4_K_M --method gptq -o "$work/$m-Q4_K_M-gptq.gguf"
done

prompts="The old house|Once upon a time|In the morning the|She said that|The king of|It was a dark|He walked into the|The river|When the war|My father was"

echo "## llama.cpp on shrink's files"
echo
echo "llama.cpp: ${LLAMA_CPP_DESC:-$("$LLAMA_BIN/llama-cli" --version 2>&1 | grep -m1 -i 'version' || echo '?')}, CPU build. Written by"
echo "\`bench/llamacpp.sh\` on $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
echo "Greedy continuations of 32 tokens from 10 prompts by \`llama-simple -n 32\` and \`shrink generate --temp 0 -n 32\`;"
echo "a prompt counts as the same when the two texts are equal. Pruned: \`shrink prune --ffn 0.25 --drop-layers 1\`"
echo "(the bundled model, $($SHRINK info -m "$work/pruned" | sed -n 's/^parameters *\([0-9,]*\).*/\1/p') parameters, llama.cpp's \`gpt2\` layout)."
echo
echo "| model | file | llama.cpp loads it | same greedy text | first difference (prompt: llama.cpp / shrink) |"
echo "|---|---|---|---:|---|"
for m in mini pruned; do
    for t in F32 F16 Q8_0 Q4_K_M-gptq; do
        f=$work/$m-$t.gguf
        same=0 n=0 first="" loads=yes
        IFS='|'
        for p in $prompts; do
            n=$((n + 1))
            if ! l=$("$simple" -m "$f" -n 32 "$p" 2>"$work/err.txt"); then loads="no: $(grep -m1 -i error "$work/err.txt")"; break; fi
            s=$($SHRINK generate -m "$f" -p "$p" -n 32 --temp 0 2>/dev/null)
            if [ "$l" = "$s" ]; then
                same=$((same + 1))
            elif [ -z "$first" ]; then  # where the two texts part, newlines shown as \n
                lx=$(printf '%s' "$l" | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n/\\n/g')
                sx=$(printf '%s' "$s" | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n/\\n/g')
                first=$(A="$lx" B="$sx" P="$p" awk 'BEGIN { a = ENVIRON["A"]; b = ENVIRON["B"]
                    for (i = 1; i <= length(a) && substr(a, i, 1) == substr(b, i, 1); i++) ;
                    j = i > 12 ? i - 12 : 1
                    printf "%s: …%s / …%s", ENVIRON["P"], substr(a, j, 24), substr(b, j, 24) }')
            fi
        done
        unset IFS
        printf "| %s | %s | %s | %s of %s | %s |\n" "$m" "$t" "$loads" "$same" "$n" "${first:-none}"  # printf: dash's echo would print \n as a newline
    done
done
f=$work/heads.gguf
if "$simple" -m "$f" -n 4 "The old house" >/dev/null 2>"$work/err.txt"; then res="yes (unexpected)"
else res="no, as intended: $(grep -m1 -i -e "unknown model architecture" -e error "$work/err.txt" | sed 's/|/\\|/g')"; fi
echo "| heads pruned (25% per layer) | F32, \`shrink-gpt2\` layout | $res | | |"
echo
echo "Where the texts part, the two programs face a near-tie: on 2026-12-05 the gap between shrink's top two"
echo "logits at the parting token was 0.0002 (pruned F32, \"When the war\"), 0.004 (pruned Q4_K_M), 0.012"
echo "(mini Q8_0) and 0.047 (mini Q4_K_M), read with python/shrink.py's logits() along shrink's greedy path;"
echo "the programs sum in different orders (and quantize activations their own way for Q8_0/Q4_K), so a"
echo "tie can go either way. Pruning does not cause it: the unpruned model's Q8_0 and Q4_K_M files part as often."
echo
