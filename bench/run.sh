#!/bin/sh
# bench/run.sh (make bench): every speed figure shrink reports, measured in one run
# on this machine, written to bench/results.md. Nothing here is asserted; tests never time.
#
# llama.cpp runs side by side when its llama-bench is found (LLAMA_CPP_BIN, default
# ../llama.cpp/build/bin): build it from its public source outside this repository
# (see bench/README.md). Both programs read the same GGUF files, which this script
# writes from a GPT-2-124M-shaped model with random weights (no download).
set -eu
REPS=${REPS:-5}
THREADS=${THREADS:-1,2}
LLAMA_BIN=${LLAMA_CPP_BIN:-../llama.cpp/build/bin}
SHRINK=./shrink
work=build/bench
out=${BENCH_OUT:-bench/results.md}
mkdir -p "$work"
tmp="$out.tmp"
trap 'rm -f "$tmp"' EXIT

llama=""
if [ -x "$LLAMA_BIN/llama-bench" ]; then llama="$LLAMA_BIN/llama-bench"; fi

echo "[bench] writing the GPT-2-124M-shaped random model and its GGUF files under $work" >&2
$SHRINK bench --random gpt2 --seed 1 --save "$work/gpt2-124m" -p 0 -n 0 -t 1 >/dev/null
$SHRINK export -m "$work/gpt2-124m" --type f32 -o "$work/gpt2-124m-f32.gguf"
$SHRINK export -m "$work/gpt2-124m" --type f16 -o "$work/gpt2-124m-f16.gguf"
for q in Q8_0 Q6_K Q4_K_M Q4_0; do
    $SHRINK compress -m "$work/gpt2-124m" --type $q -o "$work/gpt2-124m-$q.gguf" 2>/dev/null
done
for q in F16 Q8_0 Q6_K Q4_K_M Q4_0 Q3_K_M Q2_K; do
    $SHRINK compress -m models/mini --type $q -o "$work/mini-$q.gguf" 2>/dev/null
done

{
    echo "# shrink benchmark results"
    echo
    echo "Written by \`make bench\` (bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'), shrink commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
    echo
    echo "- Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/^Mem/{print $2}') GiB RAM; $(cc --version | head -n 1)."
    echo "- Method: tokens/s are the median of $REPS timed repeats after one warm-up, min and max shown;"
    echo "  pp = one batch of N tokens into an empty cache, tg = N tokens generated one at a time from"
    echo "  an empty cache (llama-bench's two tests). Threads as listed. GB/s for tg = weight bytes read"
    echo "  per token × tokens/s, against the DRAM read bandwidth measured in this run."
    echo "- Shared-host caveat: this runs in a VM; run-to-run swings of 10-20% happen, so compare rows"
    echo "  of one run, not across runs."
    echo
    echo "## Machine limits and matmul on the GPT-2-124M shapes"
    echo
    $SHRINK bench --random gpt2 --machine -p 128 -n 0 -t "$THREADS" -r "$REPS" | sed -n '/^| machine/,/^$/p'
    echo "## The bundled default model (models/mini: fp32, and quantized by \`shrink compress --type T\`)"
    echo
    $SHRINK bench -m models/mini -t "$THREADS" -r "$REPS"
    for q in F16 Q8_0 Q6_K Q4_K_M Q4_0 Q3_K_M Q2_K; do
        $SHRINK bench -m "$work/mini-$q.gguf" -t "$THREADS" -r "$REPS" | sed -n '3,$p'
    done
    echo
    echo "## Training throughput (models/mini config from scratch, batch 16 x 256, 2 threads)"
    echo
    echo "PyTorch 1.13 with OpenBLAS reached about 1,050 tokens/s on this machine kind (issue #4)."
    echo "shrink, \`shrink train --config models/mini/config.json -d data/heldout.txt --steps 12 -t 2\`:"
    echo
    echo '```'
    $SHRINK train --config models/mini/config.json -d data/heldout.txt --steps 12 --log-every 4 -t 2 2>&1 | grep -E '^step|^train' | tail -n 2
    echo '```'
    echo
    for type in f32 f16 Q8_0 Q6_K Q4_K_M Q4_0; do
        gguf="$work/gpt2-124m-$type.gguf"
        echo "## GPT-2-124M shape, random weights, $type (same GGUF file for both programs; quantized by \`shrink compress\`)"
        echo
        echo "shrink:"
        echo
        $SHRINK bench -m "$gguf" --machine -t "$THREADS" -r "$REPS" | sed -n '/^| model/,$p'
        echo
        if [ -n "$llama" ]; then
            echo "llama.cpp (\`llama-bench -p 128 -n 64 -r $REPS -t $THREADS\`):"
            echo
            "$llama" -m "$gguf" -p 128 -n 64 -r "$REPS" -t "$THREADS" -o md 2>/dev/null
            echo
        else
            echo "(llama.cpp not found at $LLAMA_BIN: set LLAMA_CPP_BIN to compare side by side)"
            echo
        fi
    done
    SHRINK=$SHRINK REPS=$REPS sh bench/busy.sh "$work"
    echo
    # Data-parallel training, 1 process x 2 threads beside 2 x 1, when an MPI build is here.
    if [ -x build-mpi/shrink ] && command -v mpirun >/dev/null; then
        WORK="$work/distributed" sh bench/distributed.sh
    else
        echo "(data-parallel training not measured: no build-mpi/shrink or mpirun; \`make MPI=1\` with Open MPI, see docs/distributed.md)"
    fi
} > "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "[bench] wrote $out" >&2
