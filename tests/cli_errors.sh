#!/bin/sh
# cli_errors.sh SHRINK: the command line on bad input, run from the repo root as
#   sh tests/cli_errors.sh ./shrink
# Each bad case must exit non-zero without a signal (status >= 128 is a crash),
# print "shrink: error: ..." first on stderr with the file or option at fault, and
# show no sanitizer or CHECK report. A few positive checks (parameter count,
# tokenize round trip, reproducible sampling, --help) make sure the errors are not
# bought by refusing everything. Reads ../shared (or $SHRINK_SHARED) read-only and
# writes only under one mktemp -d directory, removed at exit.
shrink=${1:-./shrink}
shared=${SHRINK_SHARED:-../shared}
tiny=$shared/testdata/oracle/tiny
mini=$shared/models/mini
pass=0
fail=0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shrink_cli_errors.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

ok() {
    pass=$((pass + 1))
    echo "$1 ... ok"
}
bad() {
    fail=$((fail + 1))
    echo "$1 ... FAIL: $2"
    if [ -s "$tmp/err" ]; then sed -n '1,5s/^/    stderr: /p' "$tmp/err"; fi
}

# A sanitizer, CHECK or abort report anywhere in stderr.
crash_report() {
    grep -q -e 'runtime error:' -e 'AddressSanitizer' -e 'LeakSanitizer' -e 'shrink: internal error' \
        -e 'shrink: out of memory' "$tmp/err"
}

# expect_fail NAME FRAGMENT1 FRAGMENT2 CMD ARGS...: a clean failure whose first
# stderr line starts "shrink: error:"; stderr holds both fragments ("" = none).
expect_fail() {
    name=$1 frag1=$2 frag2=$3
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    first=$(head -n 1 "$tmp/err")
    if [ "$rc" -eq 0 ]; then
        bad "$name" "exit status 0, expected an error"
    elif [ "$rc" -ge 128 ]; then
        bad "$name" "killed by signal $((rc - 128)) (exit $rc)"
    elif crash_report; then
        bad "$name" "sanitizer/CHECK report (exit $rc)"
    else
        case $first in
        "shrink: error:"*)
            if [ -n "$frag1" ] && ! grep -q -F -e "$frag1" "$tmp/err"; then
                bad "$name" "stderr does not mention '$frag1'"
            elif [ -n "$frag2" ] && ! grep -q -F -e "$frag2" "$tmp/err"; then
                bad "$name" "stderr does not mention '$frag2'"
            else
                ok "$name"
            fi
            ;;
        *) bad "$name" "stderr does not start with 'shrink: error:' (exit $rc)" ;;
        esac
    fi
}

# expect_ok NAME CMD ARGS...: exit 0, no crash report; stdout in $tmp/out.
expect_ok() {
    name=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    if [ "$rc" -ne 0 ]; then
        bad "$name" "exit status $rc, expected success"
        return 1
    elif crash_report; then
        bad "$name" "sanitizer/CHECK report"
        return 1
    fi
    return 0
}

if [ ! -x "$shrink" ]; then
    echo "cli_errors: $shrink is not an executable (build it with make shrink)"
    echo "cli_errors: 0 passed, 1 failed"
    exit 1
fi
if [ ! -f "$tiny/model.safetensors" ] || [ ! -f "$mini/model.safetensors" ]; then
    echo "cli_errors: $tiny or $mini is missing (set SHRINK_SHARED)"
    echo "cli_errors: 0 passed, 1 failed"
    exit 1
fi

# --- fixtures (all under $tmp)
mkdir "$tmp/badcfg" "$tmp/emptyst" "$tmp/hdrpast" "$tmp/truncst" "$tmp/notobj"
printf '{"vocab_size": 97, "n_embd": 32,' >"$tmp/badcfg/config.json"
cp "$tiny/model.safetensors" "$tmp/badcfg/"
printf '[1, 2, 3]\n' >"$tmp/notobj/config.json"
cp "$tiny/model.safetensors" "$tmp/notobj/"
cp "$tiny/config.json" "$tmp/emptyst/"
: >"$tmp/emptyst/model.safetensors"
cp "$tiny/config.json" "$tmp/hdrpast/"
# header length 0xffff, then 2 bytes of header: the length runs past the end.
printf '\377\377\000\000\000\000\000\000{}' >"$tmp/hdrpast/model.safetensors"
cp "$tiny/config.json" "$tmp/truncst/"
head -c 60000 "$tiny/model.safetensors" >"$tmp/truncst/model.safetensors"
printf 'a' >"$tmp/one.txt"
printf 'hello 12 world\n' >"$tmp/words.txt"
printf '1 2 8192\n' >"$tmp/bigid.txt"
# Text of a few hundred tokens for eval; a prompt over the 256-token context.
i=0
: >"$tmp/text.txt"
while [ $i -lt 12 ]; do
    printf 'The quick brown fox jumps over the lazy dog, and the dog sleeps on.\n' >>"$tmp/text.txt"
    i=$((i + 1))
done
long_prompt=$(i=0; while [ $i -lt 300 ]; do printf 'word '; i=$((i + 1)); done)
# UTF-8 sample: ASCII, Latin-1 accents, Greek, CJK, an emoji, tabs, runs of
# spaces and newlines, <|endoftext|> as plain text, no final newline.
printf 'Hello, world!  caf\303\251 na\303\257ve \316\261\316\262\316\263 \346\227\245\346\234\254\350\252\236 \360\237\230\200\n\ttabs\t and   spaces\n\n<|endoftext|> it'"'"'s 1,234.5 ok' >"$tmp/utf8.txt"
ls "$tmp" >"$tmp/.before"

# --- the version: this commit, and the kernel set SHRINK_KERNELS picks
if expect_ok "--version" env SHRINK_KERNELS=ref "$shrink" --version; then
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if ! sed -n 1p "$tmp/out" | grep -qx "shrink [0-9][0-9.]* (commit $commit)"; then
        bad "--version" "first line '$(sed -n 1p "$tmp/out")' is not 'shrink VERSION (commit $commit)'"
    elif ! sed -n 2p "$tmp/out" | grep -q '^kernels: ref on this machine; built: '; then
        bad "--version" "second line does not name the kernels SHRINK_KERNELS=ref picks: $(sed -n 2p "$tmp/out")"
    else
        ok "--version names the commit and the kernels in use"
    fi
fi

# --- bad commands and options
expect_fail "unknown command" "frobnicate" "" "$shrink" frobnicate
expect_fail "unknown option" "--bogus" "" "$shrink" info -m "$mini" --bogus
expect_fail "missing -m" "--model" "" "$shrink" info
expect_fail "-m without a value" "-m" "needs a value" "$shrink" info -m
expect_fail "stray argument" "stray" "" "$shrink" info -m "$mini" stray
expect_fail "flag given a value" "--json" "" "$shrink" info -m "$mini" --json=yes
expect_fail "generate without -p" "--prompt" "" "$shrink" generate -m "$mini"
expect_fail "-m nonexistent dir" "$tmp/nonexistent/config.json" "" "$shrink" info -m "$tmp/nonexistent"
expect_fail "-m a non-GGUF file" "$tiny/model.safetensors" "" "$shrink" info -m "$tiny/model.safetensors"
expect_fail "info: malformed config.json" "$tmp/badcfg/config.json" "invalid JSON" "$shrink" info -m "$tmp/badcfg"
expect_fail "info: config.json not an object" "$tmp/notobj/config.json" "object" "$shrink" info -m "$tmp/notobj"
expect_fail "generate on tiny (no tokenizer)" "$tiny" "tokenizer" "$shrink" generate -m "$tiny" -p hi
expect_fail "eval on tiny (no tokenizer)" "$tiny" "tokenizer" "$shrink" eval -m "$tiny" -f "$tmp/text.txt"
expect_fail "tokenize on tiny (no tokenizer)" "$tiny" "tokenizer" "$shrink" tokenize -m "$tiny" -f "$tmp/text.txt"
expect_fail "generate -n -5" "--n" "-5" "$shrink" generate -m "$mini" -p hi -n -5
expect_fail "generate --temp -1" "--temp" "" "$shrink" generate -m "$mini" -p hi --temp -1
expect_fail "generate --temp nan" "--temp" "" "$shrink" generate -m "$mini" -p hi --temp nan
expect_fail "generate --top-p 0" "--top-p" "" "$shrink" generate -m "$mini" -p hi --top-p 0
expect_fail "generate --top-p 1.5" "--top-p" "" "$shrink" generate -m "$mini" -p hi --top-p 1.5
expect_fail "generate --top-k abc" "--top-k" "abc" "$shrink" generate -m "$mini" -p hi --top-k abc
expect_fail "generate --top-k -1" "--top-k" "" "$shrink" generate -m "$mini" -p hi --top-k -1
expect_fail "generate --seed -1" "--seed" "" "$shrink" generate -m "$mini" -p hi --seed -1
expect_fail "info -t 99999" "--threads" "99999" "$shrink" info -m "$mini" -t 99999
expect_fail "generate -t -1" "--threads" "" "$shrink" generate -m "$mini" -p hi -t -1

# --- eval
expect_fail "eval --ctx 1" "--ctx" "" "$shrink" eval -m "$mini" -f "$tmp/text.txt" --ctx 1
expect_fail "eval --ctx 100000" "--ctx" "" "$shrink" eval -m "$mini" -f "$tmp/text.txt" --ctx 100000
expect_fail "eval --ctx 257 (n_ctx 256)" "--ctx" "256" "$shrink" eval -m "$mini" -f "$tmp/text.txt" --ctx 257
expect_fail "eval --stride > ctx" "--stride" "" "$shrink" eval -m "$mini" -f "$tmp/text.txt" --ctx 32 --stride 33
expect_fail "eval --stride -1" "--stride" "" "$shrink" eval -m "$mini" -f "$tmp/text.txt" --stride -1
expect_fail "eval -f missing.txt" "$tmp/missing.txt" "" "$shrink" eval -m "$mini" -f "$tmp/missing.txt"
expect_fail "eval -f a directory" "$tmp" "" "$shrink" eval -m "$mini" -f "$tmp"
expect_fail "eval on a 1-token file" "$tmp/one.txt" "at least 2" "$shrink" eval -m "$mini" -f "$tmp/one.txt"
: >"$tmp/empty.txt"
expect_fail "eval on an empty file" "$tmp/empty.txt" "at least 2" "$shrink" eval -m "$mini" -f "$tmp/empty.txt"
rm -f "$tmp/empty.txt"

# --- eval --lambada (LAMBADA jsonl: one {"text": ...} per line)
lambada=$shared/data/lambada/lambada_test.jsonl
expect_fail "eval without -f or --lambada" "-f FILE" "--lambada" "$shrink" eval -m "$mini"
expect_fail "eval --lambada missing.jsonl" "$tmp/missing.jsonl" "" "$shrink" eval -m "$mini" --lambada "$tmp/missing.jsonl"
printf '{"text": "the cat sat on the mat"}\n{"txt": "no text key"}\n' >"$tmp/bad.jsonl"
expect_fail "eval --lambada, line without \"text\"" "$tmp/bad.jsonl" "line 2" "$shrink" eval -m "$mini" --lambada "$tmp/bad.jsonl"
rm -f "$tmp/bad.jsonl"
expect_fail "eval --lambada-limit without --lambada" "--lambada-limit" "" "$shrink" eval -m "$mini" -f "$tmp/text.txt" --lambada-limit 5
expect_fail "eval --lambada-limit -1" "--lambada-limit" "" "$shrink" eval -m "$mini" --lambada "$lambada" --lambada-limit -1
expect_fail "eval --ctx without -f" "--ctx" "-f" "$shrink" eval -m "$mini" --lambada "$lambada" --ctx 64
if expect_ok "eval --lambada --json" "$shrink" eval -m "$mini" --lambada "$lambada" --lambada-limit 3 --json; then
    if grep -q -F '"lambada_n": 3' "$tmp/out" && grep -q -F '"lambada_acc"' "$tmp/out" && grep -q -F '"lambada_ppl"' "$tmp/out" &&
        grep -q -F '"model"' "$tmp/out" && ! grep -q -F '"ppl"' "$tmp/out"; then ok "eval --lambada --json keys"
    else bad "eval --lambada --json keys" "output: $(head -c 300 "$tmp/out")"; fi
fi
if expect_ok "eval -f with --lambada --json" "$shrink" eval -m "$mini" -f "$tmp/text.txt" --lambada "$lambada" --lambada-limit 2 --json; then
    if grep -q -F '"ppl"' "$tmp/out" && grep -q -F '"lambada_n": 2' "$tmp/out"; then ok "eval -f with --lambada --json keys"
    else bad "eval -f with --lambada --json keys" "output: $(head -c 300 "$tmp/out")"; fi
fi

# --- generate: prompt longer than the context
expect_fail "prompt > n_ctx without --truncate" "--truncate" "" "$shrink" generate -m "$mini" -p "$long_prompt" -n 2
if expect_ok "prompt > n_ctx with --truncate" "$shrink" generate -m "$mini" -p "$long_prompt" -n 2 --truncate --temp 0; then
    ok "prompt > n_ctx with --truncate"
fi

# --- tokenize --decode
expect_fail "tokenize --decode a non-number" "$tmp/words.txt" "hello" "$shrink" tokenize -m "$mini" --decode -f "$tmp/words.txt"
expect_fail "tokenize --decode id 8192 (V=8192)" "$tmp/bigid.txt" "8192" "$shrink" tokenize -m "$mini" --decode -f "$tmp/bigid.txt"
expect_fail "tokenize -f missing" "$tmp/missing.txt" "" "$shrink" tokenize -m "$mini" -f "$tmp/missing.txt"

# --- broken weight files
expect_fail "empty model.safetensors" "$tmp/emptyst/model.safetensors" "0 bytes" "$shrink" info -m "$tmp/emptyst"
expect_fail "header length past the end" "$tmp/hdrpast/model.safetensors" "past the end" "$shrink" info -m "$tmp/hdrpast"
expect_fail "truncated model.safetensors" "$tmp/truncst/model.safetensors" "" "$shrink" info -m "$tmp/truncst"

# --- positive checks
if expect_ok "info -t 0 (all cores)" "$shrink" info -m "$mini" -t 0; then ok "info -t 0 (all cores)"; fi
if expect_ok "info --json" "$shrink" info -m "$mini" --json; then
    if grep -q -F '"params": 6901760' "$tmp/out"; then ok "info --json: params 6901760"
    else bad "info --json: params 6901760" "output: $(head -c 300 "$tmp/out")"; fi
fi
# A head-pruned checkpoint: its per-layer heads, parameters counted by hand (wte 3104, wpe 2048,
# layers of 3/4/2 heads of 8 with MLP width 48: 6456 + 7504 + 5408, ln_f 64) and pruned shapes.
pruned=$shared/testdata/oracle/tiny-pruned-hf
if expect_ok "info --json --tensors (pruned heads)" "$shrink" info -m "$pruned" --json --tensors; then
    if grep -q -F '"params": 24584' "$tmp/out" && grep -q -F '"n_head_per_layer": [3, 4, 2]' "$tmp/out" &&
        grep -q -F '{"name": "h.0.attn.c_attn.weight", "shape": [32, 72], "params": 2304}' "$tmp/out"; then
        ok "info: pruned heads per layer, parameters and shapes"
    else bad "info: pruned heads per layer, parameters and shapes" "output: $(head -c 400 "$tmp/out")"; fi
fi
if expect_ok "tokenize" "$shrink" tokenize -m "$mini" -f "$tmp/utf8.txt"; then
    cp "$tmp/out" "$tmp/ids.txt"
    if expect_ok "tokenize --decode" "$shrink" tokenize -m "$mini" --decode -f "$tmp/ids.txt"; then
        if cmp -s "$tmp/out" "$tmp/utf8.txt"; then ok "tokenize | tokenize --decode round-trips UTF-8 byte-exactly"
        else bad "tokenize | tokenize --decode round-trips UTF-8 byte-exactly" "decoded text differs"; fi
    fi
fi
if expect_ok "eval --stride 0 (default)" "$shrink" eval -m "$mini" -f "$tmp/text.txt" --ctx 64 --stride 0 --json; then
    if grep -q -F '"stride": 32' "$tmp/out"; then ok "eval --stride 0 means ctx/2"
    else bad "eval --stride 0 means ctx/2" "output: $(head -c 300 "$tmp/out")"; fi
fi
gen() {  # gen NAME OUTFILE ARGS...: generate 24 tokens from a fixed prompt
    gname=$1 gout=$2
    shift 2
    if expect_ok "$gname" "$shrink" generate -m "$mini" -p "Once upon a time" -n 24 --no-echo "$@"; then
        cp "$tmp/out" "$gout"
        return 0
    fi
    return 1
}
if gen "generate --temp 0 (1)" "$tmp/g0a" --temp 0 && gen "generate --temp 0 (2)" "$tmp/g0b" --temp 0; then
    if cmp -s "$tmp/g0a" "$tmp/g0b" && [ -s "$tmp/g0a" ]; then ok "generate --temp 0 twice: identical"
    else bad "generate --temp 0 twice: identical" "outputs differ or are empty"; fi
fi
if gen "generate --seed 7 (1)" "$tmp/g7a" --seed 7 --temp 1 && gen "generate --seed 7 (2)" "$tmp/g7b" --seed 7 --temp 1 &&
    gen "generate --seed 8" "$tmp/g8" --seed 8 --temp 1; then
    if cmp -s "$tmp/g7a" "$tmp/g7b" && [ -s "$tmp/g7a" ]; then ok "generate --seed 7 --temp 1 twice: identical"
    else bad "generate --seed 7 --temp 1 twice: identical" "outputs differ or are empty"; fi
    if cmp -s "$tmp/g7a" "$tmp/g8"; then bad "generate --seed 7 vs --seed 8: differ" "same text for both seeds"
    else ok "generate --seed 7 vs --seed 8: differ"; fi
fi
# --help: exit 0 and list the command's options.
check_help() {  # check_help CMD OPTION...
    hcmd=$1
    shift
    if expect_ok "$hcmd --help" "$shrink" "$hcmd" --help; then
        missing=""
        for o in "$@" --help; do
            grep -q -F -e "$o" "$tmp/out" || missing="$missing $o"
        done
        if [ -z "$missing" ]; then ok "$hcmd --help lists its options"
        else bad "$hcmd --help lists its options" "missing:$missing"; fi
    fi
}
check_help info --model --json --threads
check_help tokenize --model --file --decode --threads
check_help generate --model --prompt --n --temp --top-k --top-p --seed --truncate --no-echo --threads
check_help eval --model --file --ctx --stride --base --lambada --lambada-limit --json --threads
check_help compress --model --output --type --method --tensor-type --bpw-probes --threads
check_help export --model --type --output --threads

# train
expect_fail "train without data" "--data" "" "$shrink" train --config "$mini/config.json"
expect_fail "train with missing data file" "$tmp/nodata.txt" "" "$shrink" train --config "$mini/config.json" -d "$tmp/nodata.txt" --steps 1
expect_fail "train --batch 0" "--batch" "" "$shrink" train --config "$mini/config.json" -d data/heldout.txt --batch 0
check_help train --model --config --data --out --steps --tokens --batch --ctx --lr --warmup --weight-decay --clip --seed --eval-every --val --teacher --kd-weight --kd-temp --resume
# A teacher whose ids mean other strings (one token renamed), or of another vocabulary size, is refused by name.
mkdir -p "$tmp/tt"
cp "$mini/config.json" "$mini/model.safetensors" "$mini/merges.txt" "$tmp/tt/"
sed 's/^{"!": 0, "\\"": 1,/{"!": 1, "\\"": 0,/' "$mini/vocab.json" > "$tmp/tt/vocab.json"  # ids 0 and 1 swapped
expect_fail "train --teacher with another tokenizer" "--teacher" "token 0" "$shrink" train -m "$mini" --teacher "$tmp/tt" -d data/heldout.txt --steps 1
expect_fail "train --teacher with another vocabulary" "--teacher" "vocabulary" "$shrink" train -m "$mini" --teacher "$shared/testdata/oracle/small-vocab50257" -d data/heldout.txt --steps 1
rm -rf "$tmp/tt"

# compress and eval --base
head -c 3000 data/heldout.txt > "$tmp/sample.txt"
expect_fail "compress unknown type" "q9_9" "" "$shrink" compress -m "$mini" --type q9_9 -o "$tmp/x.gguf"
expect_fail "compress pattern matching nothing" "matches no tensor" "" "$shrink" compress -m "$mini" --type q8_0 --tensor-type "blk.77.ffn_up=q4_0" -o "$tmp/x.gguf"
expect_fail "compress unknown method" "--method" "" "$shrink" compress -m "$mini" --type q8_0 --method magic -o "$tmp/x.gguf"
expect_fail "compress --bpw-probes 7" "--bpw-probes" "" "$shrink" compress -m "$mini" --target-bpw 4 --bpw-probes 7 -o "$tmp/x.gguf"
expect_fail "compress into a missing directory" "$tmp/no/such/dir" "" "$shrink" compress -m "$mini" --type q8_0 -o "$tmp/no/such/dir/x.gguf"
[ ! -e "$tmp/x.gguf" ] && ok "failed compress leaves no file" || bad "failed compress leaves no file" "$tmp/x.gguf exists"
expect_fail "eval --base missing" "$tmp/nothing" "" "$shrink" eval -m "$mini" -f "$tmp/sample.txt" --base "$tmp/nothing"
expect_fail "eval --base with another vocabulary" "vocabularies differ" "" "$shrink" eval -m "$mini" -f "$tmp/sample.txt" --base "$shared/testdata/oracle/small-vocab50257"
if expect_ok "compress Q4_0" "$shrink" compress -m "$mini" --type Q4_0 -o "$tmp/q4.gguf"; then
    if expect_ok "eval --base --json" "$shrink" eval -m "$tmp/q4.gguf" --base "$mini" -f "$tmp/sample.txt" --json; then
        for k in '"ppl"' '"dppl_pct"' '"kl_mean"' '"kl_p99"' '"top1"'; do
            grep -q -F "$k" "$tmp/out" || bad "eval --base --json has $k" "$(cat "$tmp/out")"
        done
        ok "eval --base --json keys"
    fi
fi
rm -f "$tmp/sample.txt" "$tmp/q4.gguf"
if expect_ok "shrink --help" "$shrink" --help; then
    missing=""
    for c in info tokenize generate eval; do grep -q -e "^  $c " "$tmp/out" || missing="$missing $c"; done
    if [ -z "$missing" ]; then ok "shrink --help lists the commands"; else bad "shrink --help lists the commands" "missing:$missing"; fi
fi

# --- report: bad inputs fail before anything is measured or written
rep=$tmp/rep
printf 'not a model\n' >"$tmp/notmodel.gguf"
: >"$tmp/afile"
head -c 3000 data/heldout.txt >"$tmp/sample.txt"
expect_fail "report without -c" "--compressed" "" "$shrink" report -m "$mini" -o "$rep"
expect_fail "report -c missing.gguf" "$tmp/missing.gguf" "" "$shrink" report -m "$mini" -c "$tmp/missing.gguf" -o "$rep"
expect_fail "report -c without a value" "-c" "needs a value" "$shrink" report -m "$mini" -o "$rep" -c
many_p=""
for i in $(seq 17); do many_p="$many_p -p x$i"; done
# shellcheck disable=SC2086
expect_fail "report with 17 prompts" "--prompt" "at most 16" "$shrink" report -m "$mini" -c "$mini" -o "$rep" $many_p
expect_fail "report -m missing" "$tmp/nomodel" "" "$shrink" report -m "$tmp/nomodel" -c "$mini" -o "$rep"
expect_fail "report -o inside a file" "$tmp/afile" "not a directory" "$shrink" report -m "$mini" -c "$mini" -o "$tmp/afile/report"
expect_fail "report -o an existing file" "$tmp/afile" "not a directory" "$shrink" report -m "$mini" -c "$mini" -o "$tmp/afile"
expect_fail "report -f missing.txt" "$tmp/missing.txt" "" "$shrink" report -m "$mini" -c "$mini" -o "$rep" -f "$tmp/missing.txt"
expect_fail "report -c a file that is not GGUF" "$tmp/notmodel.gguf" "" "$shrink" report -m "$mini" -c "$tmp/notmodel.gguf" -o "$rep" -f "$tmp/sample.txt"
expect_fail "report --reps 0" "--reps" "" "$shrink" report -m "$mini" -c "$mini" -o "$rep" --reps 0
expect_fail "report --pp beyond the context" "--pp" "256" "$shrink" report -m "$mini" -c "$mini" -o "$rep" -f "$tmp/sample.txt" --pp 300 -n 2
[ ! -e "$rep" ] && ok "failed reports leave no directory" || bad "failed reports leave no directory" "$rep exists"
check_help report --model --compressed --output --file --lambada --prompt --n --seed --collapse-samples --collapse-tokens --threads
# A pruned model's GGUF is shrink-gpt2, not gpt2: the report must take it too.
if expect_ok "compress Q4_K_M for report" "$shrink" compress -m "$mini" --type Q4_K_M -o "$tmp/r4.gguf" &&
    expect_ok "prune for report" "$shrink" prune -m "$mini" --drop-layers 1 --calib-tokens 512 -o "$tmp/rp" -t 1 &&
    expect_ok "compress the pruned model for report" "$shrink" compress -m "$tmp/rp" --type Q8_0 -o "$tmp/rp.gguf" &&
    expect_ok "report (small settings)" "$shrink" report -m "$mini" -c "$tmp/r4.gguf" -c "$tmp/r4.gguf" -c "$tmp/rp.gguf" -o "$rep/sub" \
        -f "$tmp/sample.txt" -p "Once upon" -p "It was" -n 4 --pp 16 --tg 8 -r 1 --seed 3 --collapse-samples 4 --collapse-tokens 16 -t 1; then
    missing=""
    for f in report.md report.json quality_vs_size.svg speed_vs_size.svg size_breakdown.svg; do
        [ -s "$rep/sub/$f" ] || missing="$missing $f"
    done
    if [ -z "$missing" ] && [ -z "$(find "$rep" -name '*.tmp')" ]; then ok "report writes its five files, no temp files"
    else bad "report writes its five files, no temp files" "missing:$missing"; fi
    for k in '"file_bytes"' '"peak_rss_bytes"' '"dppl_pct"' '"kl_mean"' '"top1"' '"speedup_tg"' '"generations"' '"text_collapse"' '"conclusions"'; do
        grep -q -F "$k" "$rep/sub/report.json" || bad "report.json has $k" "$(head -c 300 "$rep/sub/report.json")"
    done
    grep -q -F 'r4 #2' "$rep/sub/report.md" && grep -q -F '| rp ' "$rep/sub/report.md" && grep -q -F '## Conclusions' "$rep/sub/report.md" &&
        grep -q -F 'Once upon' "$rep/sub/report.md" &&
        ok "report.md: every model (a pruned GGUF too), conclusions, prompts" ||
        bad "report.md: every model (a pruned GGUF too), conclusions, prompts" "$(head -c 300 "$rep/sub/report.md")"
fi
rm -rf "$rep" "$tmp/r4.gguf" "$tmp/rp" "$tmp/rp.gguf" "$tmp/notmodel.gguf" "$tmp/afile" "$tmp/sample.txt"

# --- sweep: bad inputs fail before anything is compressed or written
sw=$tmp/sw
: >"$tmp/swfile"
head -c 3000 data/heldout.txt >"$tmp/sample.txt"
expect_fail "sweep without -m" "--model" "" "$shrink" sweep --grid type=Q8_0 -o "$sw"
expect_fail "sweep without --grid" "--grid" "" "$shrink" sweep -m "$mini" -o "$sw"
expect_fail "sweep --grid unknown method" "'magic'" "method" "$shrink" sweep -m "$mini" --grid 'method=rtn,magic;type=Q8_0' -o "$sw"
expect_fail "sweep --grid unknown type" "'q9_9'" "type" "$shrink" sweep -m "$mini" --grid 'type=Q4_K_M,q9_9' -o "$sw"
expect_fail "sweep --grid bpw out of range" "bpw 99" "1.5-16" "$shrink" sweep -m "$mini" --grid 'bpw=3.0,99' -o "$sw"
expect_fail "sweep --grid bpw neither number nor preset" "'abc'" "preset" "$shrink" sweep -m "$mini" --grid 'bpw=abc' -o "$sw"
expect_fail "sweep --grid unknown key" "'size'" "keys: method, type, bpw" "$shrink" sweep -m "$mini" --grid 'size=3' -o "$sw"
expect_fail "sweep --grid empty value" "empty value" "" "$shrink" sweep -m "$mini" --grid 'type=Q8_0,,Q4_0' -o "$sw"
expect_fail "sweep --grid value twice" "given twice" "" "$shrink" sweep -m "$mini" --grid 'type=q8_0,Q8_0' -o "$sw"
expect_fail "sweep --grid without type or bpw" "no type= and no bpw=" "" "$shrink" sweep -m "$mini" --grid 'method=gptq' -o "$sw"
expect_fail "sweep --grid not KEY=VALUES" "'Q8_0'" "KEY=VALUE" "$shrink" sweep -m "$mini" --grid 'Q8_0' -o "$sw"
expect_fail "sweep -o inside a file" "$tmp/swfile" "not a directory" "$shrink" sweep -m "$mini" --grid type=Q8_0 -o "$tmp/swfile/sweep"
expect_fail "sweep -o an existing file" "$tmp/swfile" "not a directory" "$shrink" sweep -m "$mini" --grid type=Q8_0 -o "$tmp/swfile"
expect_fail "sweep -m missing" "$tmp/nomodel" "" "$shrink" sweep -m "$tmp/nomodel" --grid type=Q8_0 -o "$sw"
expect_fail "sweep -m a file" "$tmp/swfile" "directory" "$shrink" sweep -m "$tmp/swfile" --grid type=Q8_0 -o "$sw"
expect_fail "sweep on tiny (no tokenizer)" "$tiny" "tokenizer" "$shrink" sweep -m "$tiny" --grid type=Q8_0 -o "$sw"
expect_fail "sweep -f missing.txt" "$tmp/missing.txt" "" "$shrink" sweep -m "$mini" --grid type=Q8_0 -o "$sw" -f "$tmp/missing.txt"
expect_fail "sweep --calib missing" "$tmp/missing.txt" "calibration" "$shrink" sweep -m "$mini" --grid 'method=gptq;type=Q8_0' -o "$sw" --calib "$tmp/missing.txt"
expect_fail "sweep recover= without --recover-data" "--recover-data" "" "$shrink" sweep -m "$mini" --grid 'prune=80%;recover=2M;type=Q8_0' -o "$sw"
expect_fail "sweep --recover-data missing" "$tmp/missing.bin" "" "$shrink" sweep -m "$mini" --grid 'prune=80%;recover=2M;type=Q8_0' -o "$sw" --recover-data "$tmp/missing.bin"
expect_fail "sweep --max-dppl 2x" "--max-dppl" "'2x'" "$shrink" sweep -m "$mini" --grid type=Q8_0 -o "$sw" --max-dppl 2x
expect_fail "sweep --max-dppl 0" "--max-dppl" "above 0" "$shrink" sweep -m "$mini" --grid type=Q8_0 -o "$sw" --max-dppl 0
expect_fail "sweep --max-kl -1" "--max-kl" "'-1'" "$shrink" sweep -m "$mini" --grid type=Q8_0 -o "$sw" --max-kl -1
expect_fail "sweep --calib-tokens 10" "--calib-tokens" "" "$shrink" sweep -m "$mini" --grid type=Q8_0 -o "$sw" --calib-tokens 10
[ ! -e "$sw" ] && ok "failed sweeps leave no directory" || bad "failed sweeps leave no directory" "$sw exists"
check_help sweep --model --grid --output --file --max-dppl --max-kl --calib --calib-tokens --threads
if expect_ok "sweep (one rtn point)" "$shrink" sweep -m "$mini" --grid type=Q8_0 -o "$sw/run" -f "$tmp/sample.txt" --max-dppl 2% -t 1; then
    missing=""
    for f in sweep.md sweep.json pareto.svg points/rtn-Q8_0.gguf points/rtn-Q8_0.json; do [ -s "$sw/run/$f" ] || missing="$missing $f"; done
    if [ -z "$missing" ] && [ -z "$(find "$sw" -name '*.tmp')" ]; then ok "sweep writes its files, no temp files"
    else bad "sweep writes its files, no temp files" "missing:$missing"; fi
    grep -q -F 'Smallest meeting Δppl ≤ 2%: rtn-Q8_0' "$tmp/out" && ok "sweep names the smallest model meeting the bound" ||
        bad "sweep names the smallest model meeting the bound" "$(head -c 300 "$tmp/out")"
    if expect_ok "sweep again (resume)" "$shrink" sweep -m "$mini" --grid type=Q8_0 -o "$sw/run" -f "$tmp/sample.txt" -t 1; then
        grep -q -F 'rtn-Q8_0: skipped (done)' "$tmp/err" && grep -q -F '0 compressed, 1 skipped' "$tmp/out" &&
            ok "sweep again skips the done point" || bad "sweep again skips the done point" "$(head -c 300 "$tmp/err")"
    fi
    expect_fail "sweep resumed with other held-out text" "rtn-Q8_0.json" "held-out tokens" "$shrink" sweep -m "$mini" --grid type=Q8_0 -o "$sw/run" -f "$tmp/text.txt" -t 1
fi
rm -rf "$sw" "$tmp/swfile" "$tmp/sample.txt"

# --- prune: impossible cuts and unknown methods refused by name before any work; a cut
# written as an HF directory and as a GGUF file, smaller, and runnable
check_help prune --model --output --heads --ffn --drop-layers --drop-by --target-params --layers --ffn-multiple --score --compensate --damp --calib --calib-tokens --threads
expect_fail "prune --heads 1" "--heads" "" "$shrink" prune -m "$mini" --heads 1 -o "$tmp/p"
expect_fail "prune --drop-layers 6 of 6" "--drop-layers" "" "$shrink" prune -m "$mini" --drop-layers 6 -o "$tmp/p"
expect_fail "prune --ffn leaving nothing" "--ffn-multiple" "" "$shrink" prune -m "$mini" --ffn 0.9 -o "$tmp/p"
expect_fail "prune --layers out of range" "--layers" "0..5" "$shrink" prune -m "$mini" --layers 0,6 -o "$tmp/p"
expect_fail "prune --layers twice" "--layers" "twice" "$shrink" prune -m "$mini" --layers 0,2,2 -o "$tmp/p"
expect_fail "prune --layers with --drop-layers" "--layers" "" "$shrink" prune -m "$mini" --layers 0,2 --drop-layers 1 -o "$tmp/p"
expect_fail "prune --target-params 100%" "--target-params" "" "$shrink" prune -m "$mini" --target-params 100% -o "$tmp/p"
expect_fail "prune --target-params above the model" "--target-params" "" "$shrink" prune -m "$mini" --target-params 9000000 -o "$tmp/p"
expect_fail "prune --target-params unreachable" "--target-params" "smallest model" "$shrink" prune -m "$mini" --target-params 2000000 -o "$tmp/p"
expect_fail "prune --target-params with --heads" "--target-params" "" "$shrink" prune -m "$mini" --target-params 80% --heads 0.25 -o "$tmp/p"
expect_fail "prune unknown --drop-by" "--drop-by" "" "$shrink" prune -m "$mini" --drop-layers 1 --drop-by cos -o "$tmp/p"
expect_fail "prune unknown --score" "--score" "" "$shrink" prune -m "$mini" --ffn 0.25 --score best -o "$tmp/p"
expect_fail "prune unknown --compensate" "--compensate" "" "$shrink" prune -m "$mini" --ffn 0.25 --compensate all -o "$tmp/p"
expect_fail "prune into a missing directory" "$tmp/no/such" "" "$shrink" prune -m "$mini" --ffn 0.25 --calib-tokens 512 -o "$tmp/no/such/p.gguf"
[ ! -e "$tmp/p" ] && ok "failed prune leaves nothing" || bad "failed prune leaves nothing" "$tmp/p exists"
cp -r "$mini" "$tmp/pm"
expect_fail "prune into its own model directory" "$tmp/pm/config.json" "inputs" "$shrink" prune -m "$tmp/pm" --ffn 0.25 --calib-tokens 512 -o "$tmp/pm"
expect_fail "bench --save into its own model directory" "$tmp/pm/config.json" "inputs" "$shrink" bench -m "$tmp/pm" -p 0 -n 0 --save "$tmp/pm"
cmp -s "$tmp/pm/model.safetensors" "$mini/model.safetensors" && cmp -s "$tmp/pm/config.json" "$mini/config.json" &&
    ok "the model directory is intact" || bad "the model directory is intact" "its files changed"
rm -rf "$tmp/pm"
if expect_ok "prune --heads 0.25 --ffn 0.25 --drop-layers 1 (HF)" "$shrink" prune -m "$mini" --heads 0.25 --ffn 0.25 --drop-layers 1 \
    --calib-tokens 1024 -o "$tmp/p" -t 1; then
    # By hand: wte 8192x256 + wpe 256x256 + ln_f 512, and 5 blocks of: LayerNorms 1024, qkv 576x256+576 (6 heads
    # of 32), attn_output 256x192+256, ffn_up 768x256+768, ffn_down 256x768+256: 2,163,200 + 5 x 592,704.
    grep -q -F -- '-> 5126720 parameters' "$tmp/err" && ok "prune counts the cut" || bad "prune counts the cut" "$(tail -n 2 "$tmp/err")"
    if expect_ok "info on the pruned directory" "$shrink" info -m "$tmp/p" --json; then
        grep -q -F '"n_layer": 5' "$tmp/out" && grep -q -F '"params": 5126720' "$tmp/out" && ok "pruned directory: 5 layers, 5,126,720 parameters" ||
            bad "pruned directory: 5 layers, 5,126,720 parameters" "$(head -c 300 "$tmp/out")"
    fi
    grep -q -F '"pruned_heads"' "$tmp/p/config.json" && ok "pruned heads in config.json" || bad "pruned heads in config.json" "$(cat "$tmp/p/config.json")"
    head -c 2000 data/heldout.txt >"$tmp/sample.txt"
    expect_ok "eval the pruned directory against the original" "$shrink" eval -m "$tmp/p" --base "$mini" -f "$tmp/sample.txt" -t 1 &&
        ok "pruned directory runs"
fi
if expect_ok "prune --ffn 0.5 (GGUF)" "$shrink" prune -m "$mini" --ffn 0.5 --calib-tokens 1024 -o "$tmp/p.gguf" -t 1; then
    expect_ok "generate from the pruned GGUF" "$shrink" generate -m "$tmp/p.gguf" -p "The" -n 8 -t 1 && ok "pruned GGUF generates"
fi
# --- lowrank: ranks that cannot factorize or save nothing, placements naming nothing, refused
# by name before any work and nothing written; a factorized model as HF directory and GGUF.
check_help lowrank --model --output --linears --layers --rank --ratio --energy --target-params --method --rank-multiple --force --damp --calib --calib-tokens --threads
expect_fail "lowrank --rank = the dimension" "--rank" "not below" "$shrink" lowrank -m "$mini" --rank 256 -o "$tmp/lr"
expect_fail "lowrank --rank that saves nothing" "--rank" "--force" "$shrink" lowrank -m "$mini" --rank 200 -o "$tmp/lr"
expect_fail "lowrank --ratio that saves nothing" "--ratio" "saves nothing" "$shrink" lowrank -m "$mini" --ratio 0.9 --linears mlp -o "$tmp/lr"
expect_fail "lowrank --linears naming nothing" "--linears" "" "$shrink" lowrank -m "$mini" --rank 32 --linears ffn_gate -o "$tmp/lr"
expect_fail "lowrank --layers out of range" "--layers" "0..5" "$shrink" lowrank -m "$mini" --rank 32 --layers 0,6 -o "$tmp/lr"
expect_fail "lowrank --layers last:0" "--layers" "" "$shrink" lowrank -m "$mini" --rank 32 --layers last:0 -o "$tmp/lr"
expect_fail "lowrank two rank options" "exactly one" "" "$shrink" lowrank -m "$mini" --rank 32 --energy 0.9 -o "$tmp/lr"
expect_fail "lowrank no rank option" "exactly one" "" "$shrink" lowrank -m "$mini" -o "$tmp/lr"
expect_fail "lowrank unknown --method" "--method" "" "$shrink" lowrank -m "$mini" --rank 32 --method qr -o "$tmp/lr"
expect_fail "lowrank --method all without --target-params" "--target-params" "" "$shrink" lowrank -m "$mini" --rank 32 --method all -o "$tmp/lr"
expect_fail "lowrank --target-params 100%" "--target-params" "" "$shrink" lowrank -m "$mini" --target-params 100% -o "$tmp/lr"
expect_fail "lowrank --target-params unreachable" "--target-params" "place more" "$shrink" lowrank -m "$mini" --target-params 50% --linears out -o "$tmp/lr"
[ ! -e "$tmp/lr" ] && ok "failed lowrank leaves nothing" || bad "failed lowrank leaves nothing" "$tmp/lr exists"
if expect_ok "lowrank --rank 64 --linears mlp --layers last:2 (HF)" "$shrink" lowrank -m "$mini" --rank 64 --linears mlp --layers last:2 -o "$tmp/lr" -t 1; then
    # By hand: 6,901,760 - 2 layers x 2 matrices x (1024x256 - 64x(1024+256)) = 6,901,760 - 4 x 180,224.
    grep -q -F -- '-> 6180864 parameters' "$tmp/err" && ok "lowrank counts the factors" || bad "lowrank counts the factors" "$(tail -n 2 "$tmp/err")"
    grep -q -F '"shrink_rank": [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 64, 64], [0, 0, 64, 64]]' "$tmp/lr/config.json" &&
        ok "ranks in config.json" || bad "ranks in config.json" "$(cat "$tmp/lr/config.json")"
    expect_ok "export the factorized directory to GGUF" "$shrink" export -m "$tmp/lr" --type f32 -o "$tmp/lr.gguf" &&
        expect_ok "eval factorized HF vs its GGUF" "$shrink" eval -m "$tmp/lr.gguf" --base "$tmp/lr" -f "$tmp/sample.txt" -t 1 --json &&
        grep -q '"kl_mean": 0,' "$tmp/out" && ok "factorized GGUF = HF directory" || bad "factorized GGUF = HF directory" "$(cat "$tmp/out")"
fi
# The pipeline in one command (compress --prune --recover) trains and writes exactly what the
# steps do: prune --target-params, train --teacher with the recipe's options, compress.
expect_fail "compress --recover without --prune" "--prune" "" "$shrink" compress -m "$mini" --type q8_0 --recover data/calib.txt -o "$tmp/pipe.gguf"
expect_fail "compress --prune 100%" "--prune" "" "$shrink" compress -m "$mini" --type q8_0 --prune 100% -o "$tmp/pipe.gguf"
expect_fail "compress --recover missing file" "$tmp/none.bin" "" "$shrink" compress -m "$mini" --type q8_0 --prune 85% \
    --recover "$tmp/none.bin" -o "$tmp/pipe.gguf"
expect_fail "compress --recover-tokens 0" "--recover-tokens" "" "$shrink" compress -m "$mini" --type q8_0 --prune 85% \
    --recover data/calib.txt --recover-tokens 0 -o "$tmp/pipe.gguf"
[ ! -e "$tmp/pipe.gguf" ] && ok "failed pipeline leaves nothing" || bad "failed pipeline leaves nothing" "$tmp/pipe.gguf exists"
check_help compress --prune --lowrank --ffn-multiple --recover --recover-tokens --recover-lr --recover-val-frac
expect_fail "compress --recover-val-frac 0.9" "--recover-val-frac" "" "$shrink" compress -m "$mini" --type q8_0 --prune 85% \
    --recover data/calib.txt --recover-val-frac 0.9 -o "$tmp/pipe.gguf"
mkdir -p "$tmp/steps"
if expect_ok "compress --prune 85% --recover --recover-val-frac 0 (one command)" "$shrink" compress -m "$mini" --prune 85% \
    --ffn-multiple 32 --recover data/calib.txt --recover-tokens 16384 --recover-val-frac 0 --calib-tokens 1024 --type q8_0 \
    -o "$tmp/pipe.gguf" -t 1 &&
    expect_ok "prune (steps)" "$shrink" prune -m "$mini" --target-params 85% --ffn-multiple 32 --calib-tokens 1024 -o "$tmp/steps/p" -t 1 &&
    expect_ok "train --teacher (steps)" "$shrink" train -m "$tmp/steps/p" --teacher "$mini" --kd-weight 1 --lr 1e-3 --val-frac 0 \
        --tokens 16384 -d data/calib.txt -o "$tmp/steps/mini" -t 1 &&
    expect_ok "compress (steps)" "$shrink" compress -m "$tmp/steps/mini" --type q8_0 -o "$tmp/steps.gguf" -t 1; then
    cmp -s "$tmp/pipe.gguf" "$tmp/steps.gguf" && ok "one command = the three steps, byte for byte" ||
        bad "one command = the three steps, byte for byte" "$(cmp "$tmp/pipe.gguf" "$tmp/steps.gguf")"
    # By default the pipeline holds out the stream's last 2% and keeps the step closest to the
    # original there; sweep's recover= axis makes the same model (its GGUF differs only in
    # metadata): KL 0 between them.
    head -c 3000 data/heldout.txt >"$tmp/sample.txt"
    if expect_ok "compress --prune 85% --recover (held-out choice)" "$shrink" compress -m "$mini" --prune 85% --ffn-multiple 32 \
        --recover data/calib.txt --recover-tokens 16384 --calib-tokens 1024 --type q8_0 -o "$tmp/pipe.gguf" -t 1; then
        grep -q "^recover: kept step [0-9]* of 4: KL to the original" "$tmp/err" && ok "the pipeline says which step it kept" ||
            bad "the pipeline says which step it kept" "$(tail -3 "$tmp/err")"
    fi
    if expect_ok "sweep prune=85%;recover=16384" "$shrink" sweep -m "$mini" --grid 'prune=85%;recover=16384;type=Q8_0' \
        --recover-data data/calib.txt --calib-tokens 1024 -f "$tmp/sample.txt" -o "$tmp/swr" -t 1 &&
        expect_ok "eval the swept point against the pipeline's" "$shrink" eval -m "$tmp/swr/points/p85-r16384-rtn-Q8_0.gguf" \
            --base "$tmp/pipe.gguf" -f "$tmp/sample.txt" --json -t 1; then
        grep -q '"kl_max": 0[,}]' "$tmp/out" && grep -q '"top1": 1.000000' "$tmp/out" && ok "sweep recover= = compress --recover" ||
            bad "sweep recover= = compress --recover" "$(cat "$tmp/out")"
        grep -q '"recover_tokens": 16384' "$tmp/swr/points/p85-r16384-rtn-Q8_0.json" && ok "the point records its recovery" ||
            bad "the point records its recovery" "$(cat "$tmp/swr/points/p85-r16384-rtn-Q8_0.json")"
    fi
    rm -rf "$tmp/swr"
fi
rm -rf "$tmp/steps" "$tmp/steps.gguf" "$tmp/pipe.gguf"
# compress --lowrank: the same pipeline with compression layers (lowrank --target-params
# --method all) instead of pruning; sweep's lowrank= axis makes the same model.
expect_fail "compress --prune with --lowrank" "--lowrank" "one of" "$shrink" compress -m "$mini" --type q8_0 --prune 90% --lowrank 90% \
    -o "$tmp/pipe.gguf"
expect_fail "compress --lowrank 100%" "--lowrank" "" "$shrink" compress -m "$mini" --type q8_0 --lowrank 100% -o "$tmp/pipe.gguf"
[ ! -e "$tmp/pipe.gguf" ] && ok "failed lowrank pipeline leaves nothing" || bad "failed lowrank pipeline leaves nothing" "$tmp/pipe.gguf exists"
mkdir -p "$tmp/steps"
if expect_ok "compress --lowrank 97% (one command)" "$shrink" compress -m "$mini" --lowrank 97% --calib-tokens 512 --type q8_0 \
    -o "$tmp/pipe.gguf" -t 1 &&
    expect_ok "lowrank --target-params 97% --method all (steps)" "$shrink" lowrank -m "$mini" --target-params 97% --method all \
        --calib-tokens 512 -o "$tmp/steps/mini" -t 1 &&
    expect_ok "compress (steps)" "$shrink" compress -m "$tmp/steps/mini" --type q8_0 -o "$tmp/steps.gguf" -t 1; then
    cmp -s "$tmp/pipe.gguf" "$tmp/steps.gguf" && ok "compress --lowrank = lowrank + compress, byte for byte" ||
        bad "compress --lowrank = lowrank + compress, byte for byte" "$(cmp "$tmp/pipe.gguf" "$tmp/steps.gguf")"
    head -c 3000 data/heldout.txt >"$tmp/sample.txt"
    if expect_ok "sweep lowrank=97%" "$shrink" sweep -m "$mini" --grid 'lowrank=97%;type=Q8_0' --calib-tokens 512 \
        -f "$tmp/sample.txt" -o "$tmp/swl" -t 1 &&
        expect_ok "eval the swept point against the pipeline's" "$shrink" eval -m "$tmp/swl/points/l97-rtn-Q8_0.gguf" \
            --base "$tmp/pipe.gguf" -f "$tmp/sample.txt" --json -t 1; then
        grep -q '"kl_max": 0[,}]' "$tmp/out" && grep -q '"top1": 1.000000' "$tmp/out" && ok "sweep lowrank= = compress --lowrank" ||
            bad "sweep lowrank= = compress --lowrank" "$(cat "$tmp/out")"
        grep -q '"lowrank_keep_pct": 97' "$tmp/swl/points/l97-rtn-Q8_0.json" && grep -q '"prune_keep_pct": null' "$tmp/swl/points/l97-rtn-Q8_0.json" &&
            ok "the point records its compression layers" || bad "the point records its compression layers" "$(cat "$tmp/swl/points/l97-rtn-Q8_0.json")"
        # resuming reads the point back; a point made with pruning is not taken for it
        expect_ok "sweep lowrank=97% again (resumed)" "$shrink" sweep -m "$mini" --grid 'lowrank=97%;type=Q8_0' --calib-tokens 512 \
            -f "$tmp/sample.txt" -o "$tmp/swl" -t 1
        sed 's/"lowrank_keep_pct": 97/"lowrank_keep_pct": null/; s/"prune_keep_pct": null/"prune_keep_pct": 97/' \
            "$tmp/swl/points/l97-rtn-Q8_0.json" >"$tmp/swl/p.json" && mv "$tmp/swl/p.json" "$tmp/swl/points/l97-rtn-Q8_0.json"
        expect_fail "sweep: a point file made with pruning" "l97-rtn-Q8_0.json" "pruning" "$shrink" sweep -m "$mini" \
            --grid 'lowrank=97%;type=Q8_0' --calib-tokens 512 -f "$tmp/sample.txt" -o "$tmp/swl" -t 1
    fi
    rm -rf "$tmp/swl"
fi
rm -rf "$tmp/steps" "$tmp/steps.gguf" "$tmp/pipe.gguf"
# A budget: per-layer widths, written with config.json's shrink_n_inner, reloaded as they were.
if expect_ok "prune --target-params 85% (HF)" "$shrink" prune -m "$mini" --target-params 85% --ffn-multiple 32 --calib-tokens 1024 \
    -o "$tmp/pt" -t 1; then
    grep -q -F '"shrink_n_inner"' "$tmp/pt/config.json" && ok "per-layer widths in config.json" ||
        bad "per-layer widths in config.json" "$(cat "$tmp/pt/config.json")"
    kept=$(sed -n 's/.*-> \([0-9]*\) parameters.*/\1/p' "$tmp/err")
    [ -n "$kept" ] && [ "$kept" -le 5866496 ] && ok "85% of 6,901,760 parameters at most ($kept)" || bad "budget met" "$(tail -n 2 "$tmp/err")"
    expect_ok "info on the budget-pruned directory" "$shrink" info -m "$tmp/pt" --json &&
        grep -q -F "\"params\": $kept" "$tmp/out" && ok "reloaded with the same parameter count" ||
        bad "reloaded with the same parameter count" "$(head -c 300 "$tmp/out")"
fi
rm -rf "$tmp/p" "$tmp/p.gguf" "$tmp/pt" "$tmp/lr" "$tmp/lr.gguf" "$tmp/sample.txt"

# --- nothing written next to the inputs
ls "$tmp" >"$tmp/.after"
for f in g0a g0b g7a g7b g8 ids.txt out err; do grep -v -x -F "$f" "$tmp/.after" >"$tmp/.a2"; mv "$tmp/.a2" "$tmp/.after"; done
if cmp -s "$tmp/.before" "$tmp/.after" && [ -z "$(find "$tmp" -name '*.tmp')" ]; then ok "no stray files written"
else bad "no stray files written" "$(diff "$tmp/.before" "$tmp/.after" | tr '\n' ' ')"; fi

echo "cli_errors: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
