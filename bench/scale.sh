#!/bin/sh
# bench/scale.sh (make bench-scale, which writes bench/scale.md): wall time and peak memory
# (GNU time's maximum resident set) of shrink's steps at the GPT-2 shapes users bring, on
# random weights of each shape (`shrink bench --random SHAPE --save`; speed does not depend
# on the values). Prints markdown. Nothing is asserted.
#   SHAPES  default "gpt2-medium gpt2-large gpt2-xl"
#   STEPS   default "save load export rtn gptq awq bpw eval report": which rows to measure
#   WORK    where the models go (default build/scale; gpt2-xl takes 6.2 GB, its GGUFs ~1 GB each)
#   EVAL_TEXT  text for the 64 k-token eval (default: the first 300,000 bytes of WikiText-2's
#           test split from ../shared, ~65 k GPT-2 tokens)
#   LLAMA_CPP_BIN  where llama.cpp's llama-perplexity is (default ../llama.cpp/build/bin): run
#           on the same Q4_K_M file and text beside eval when found
set -eu
SHRINK=${SHRINK:-./shrink}
SHAPES=${SHAPES:-gpt2-medium gpt2-large gpt2-xl}
STEPS=${STEPS:-save load export rtn gptq awq bpw eval report}
work=${WORK:-build/scale}
shared=${SHRINK_SHARED:-../shared}
[ -x /usr/bin/time ] || { echo "bench/scale.sh: needs GNU time (/usr/bin/time; Debian package time)" >&2; exit 1; }
mkdir -p "$work"
text=${EVAL_TEXT:-$work/eval.txt}
LLAMA_BIN=${LLAMA_CPP_BIN:-../llama.cpp/build/bin}  # llama-perplexity beside eval, when found
perplexity=""
[ ! -x "$LLAMA_BIN/llama-perplexity" ] || perplexity="$LLAMA_BIN/llama-perplexity"
[ -n "${EVAL_TEXT:-}" ] || head -c 300000 "$shared/data/wikitext-2-raw/wiki.test.raw" > "$text"

# run LABEL CMD...: one table row: wall seconds, peak RSS in GB
run() {
    label=$1
    shift
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > "$work/out.txt" 2> "$work/err.txt" ||
        { echo "| $shape | $label | failed: $(tail -1 "$work/err.txt") | | |"; return 0; }
    read -r secs kb < "$work/time.txt"
    awk -v s="$shape" -v l="$label" -v t="$secs" -v k="$kb" -v n="$note" \
        'BEGIN {printf "| %s | %s | %.1f | %.2f | %s |\n", s, l, t, k / 1048576, n}'
    note=""
}

has() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }

echo "## Scale: GPT-2-medium, -large and -XL shapes"
echo
echo "$(nproc) threads (the default), one command at a time; wall time and peak resident memory"
echo "(GNU time). Random weights of each shape; calibration: data/calib.txt, the default 32768 tokens."
echo "eval: $(wc -c < "$text") bytes of WikiText-2 test, --ctx 1024 --stride 1024 (every token scored once)."
echo
echo "| shape | step | seconds | peak GB | note |"
echo "|---|---|---:|---:|---|"
for shape in $SHAPES; do
    dir=$work/$shape
    note=""
    if has save || [ ! -f "$dir/model.safetensors" ]; then
        run "bench --random --save (write the fp32 HF directory)" $SHRINK bench --random "$shape" --save "$dir" -p 0 -n 0 -t 1
    fi
    if has load; then
        cat "$dir/model.safetensors" > /dev/null  # into the page cache
        /usr/bin/time -f "%e" -o "$work/time.txt" cat "$dir/model.safetensors" > /dev/null
        note="cat of the same file from the page cache: $(cat "$work/time.txt") s"
        run "load (bench -p 0 -n 0: load, then nothing)" $SHRINK bench -m "$dir" -p 0 -n 0 -r 1 -t "$(nproc)"
    fi
    has export && run "export --type f16" $SHRINK export -m "$dir" --type f16 -o "$work/$shape-f16.gguf"
    has rtn && run "compress Q4_K_M rtn" $SHRINK compress -m "$dir" --type Q4_K_M -o "$work/$shape-rtn.gguf"
    has gptq && run "compress Q4_K_M gptq" $SHRINK compress -m "$dir" --type Q4_K_M --method gptq -o "$work/$shape-gptq.gguf"
    has awq && run "compress Q4_K_M awq" $SHRINK compress -m "$dir" --type Q4_K_M --method awq -o "$work/$shape-awq.gguf"
    has bpw && run "compress --target-bpw 4.5" $SHRINK compress -m "$dir" --target-bpw 4.5 -o "$work/$shape-bpw.gguf"
    if has eval; then
        q=$work/$shape-rtn.gguf
        [ -f "$q" ] || $SHRINK compress -m "$dir" --type Q4_K_M -o "$q" > /dev/null 2>&1
        run "eval Q4_K_M (rtn file)" $SHRINK eval -m "$q" -f "$text" --ctx 1024 --stride 1024 --json
        tok=$(sed -n 's/.*"tokens": \([0-9]*\).*/\1/p' "$work/out.txt")
        [ -z "$tok" ] || echo "|  | (eval: $tok tokens scored, $(awk -v t="$tok" -v s="$secs" 'BEGIN {printf "%.0f", t / s}') tokens/s of the whole run) | | | |"
        if [ -n "$perplexity" ]; then
            # llama-perplexity: chunks of 1024 tokens, each evaluated once and its second half
            # scored; tokens/s here = the tokens it evaluated over the whole run's wall time.
            note="llama.cpp; its own prompt-eval figure: see below"
            run "llama-perplexity Q4_K_M (the same file), -c 1024 -b 1024" "$perplexity" -m "$q" -f "$text" -c 1024 -b 1024 -t "$(nproc)"
            ltok=$(sed -n 's/.*prompt eval time = *[0-9.]* ms \/ *\([0-9]*\) tokens.*/\1/p' "$work/err.txt" | tail -1)
            lps=$(sed -n 's/.*prompt eval time.*, *\([0-9.]*\) tokens per second.*/\1/p' "$work/err.txt" | tail -1)
            [ -z "$ltok" ] || echo "|  | (llama-perplexity: $ltok tokens evaluated, $(awk -v t="$ltok" -v s="$secs" 'BEGIN {printf "%.0f", t / s}') tokens/s of the whole run, $lps in its prompt-eval timer) | | | |"
        fi
    fi
    if has report; then  # its defaults: perplexity, KL, generations, text collapse, speed, memory
        q=$work/$shape-rtn.gguf
        [ -f "$q" ] || $SHRINK compress -m "$dir" --type Q4_K_M -o "$q" > /dev/null 2>&1
        run "report (the original beside its Q4_K_M rtn file, defaults)" $SHRINK report -m "$dir" -c "$q" -o "$work/$shape-report"
    fi
done
echo
