#!/bin/sh
# cli_files.sh SHRINK: the command line never loses a user's file and never reports garbage
# as success (issue 12; docs/reliability.md states the guarantees). Run from the repo root as
#   sh tests/cli_files.sh ./shrink
# Each case names its fault. Writes only under one mktemp -d directory, removed at exit;
# reads ../shared (or $SHRINK_SHARED) and the bundled models/mini read-only.
#   fault 1: the real cause of an error is printed after loading a GGUF without shrink keys
#   fault 2: two compress runs to one output: both succeed, the output is one whole file
#            (the first writer is held between writing and renaming by the test hook
#            SHRINK_DEBUG_COMMIT_WAIT)
#   fault 3: a file or symlink named like the old temp file (OUT.tmp) is never touched
#   fault 4: an output that is one of the inputs is refused, the input kept
#   fault 5: an unwritable output is refused before any work
#   fault 6: weights that give NaN logits: eval/--json/--base/generate fail naming the file
#   fault 9: SIGTERM mid-write removes the temp file
#   fault 10: compress/export of a directory without a tokenizer need --no-tokenizer
#   minor: negative bos_token_id, tokenize -f DIR, eval --json threads, bench --save
shrink=${1:-./shrink}
case $shrink in /*) ;; *) shrink=$(pwd)/$shrink ;; esac
shared=${SHRINK_SHARED:-../shared}
case $shared in /*) ;; *) shared=$(pwd)/$shared ;; esac
mini=$(pwd)/models/mini
tiny=$shared/testdata/oracle/tiny
q8=$shared/testdata/gguf/mini-Q8_0.gguf
pass=0
fail=0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shrink_cli_files.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

ok() {
    pass=$((pass + 1))
    echo "$1 ... ok"
}
bad() {
    fail=$((fail + 1))
    echo "$1 ... FAIL: $2"
    if [ -s "$tmp/err" ]; then sed -n '1,4s/^/    stderr: /p' "$tmp/err"; fi
}
crash_report() {
    grep -q -e 'runtime error:' -e 'AddressSanitizer' -e 'LeakSanitizer' -e 'shrink: internal error' "$tmp/err"
}
# expect_fail NAME FRAGMENT CMD...: exit 1 (not a signal), first line "shrink: error:", FRAGMENT in stderr.
expect_fail() {
    name=$1 frag=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    if [ "$rc" -eq 0 ]; then bad "$name" "exit status 0, expected an error"
    elif [ "$rc" -ge 128 ]; then bad "$name" "killed by signal $((rc - 128))"
    elif crash_report; then bad "$name" "sanitizer/CHECK report"
    elif ! head -n 1 "$tmp/err" | grep -q '^shrink: error:'; then bad "$name" "stderr does not start with 'shrink: error:'"
    elif [ -n "$frag" ] && ! grep -q -F -e "$frag" "$tmp/err"; then bad "$name" "stderr does not mention '$frag'"
    else ok "$name"; fi
}
expect_ok() {
    name=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    if [ "$rc" -ne 0 ]; then bad "$name" "exit status $rc"; return 1; fi
    if crash_report; then bad "$name" "sanitizer/CHECK report"; return 1; fi
    return 0
}
# Temp files an atomic write may leave in a directory (none, after any command).
temps() { find "$1" -maxdepth 1 -name '*.tmp' | wc -l | tr -d ' '; }
# Waits up to 60 s for file $1 to contain $2.
wait_for() {
    i=0
    while [ $i -lt 600 ]; do
        grep -q -F -e "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

if [ ! -x "$shrink" ] || [ ! -f "$mini/model.safetensors" ] || [ ! -f "$q8" ]; then
    echo "cli_files: needs $shrink, $mini and $q8"
    echo "cli_files: 0 passed, 1 failed"
    exit 1
fi
head -c 3000 "$mini/../../data/heldout.txt" >"$tmp/text.txt"
: >"$tmp/empty.txt"

# --- fault 1: the real cause, not "missing key 'shrink.quantize.method'"
long_prompt=$(i=0; while [ $i -lt 400 ]; do printf 'word '; i=$((i + 1)); done)
expect_fail "fault 1: eval of an empty file after a llama.cpp GGUF" "$tmp/empty.txt" "$shrink" eval -m "$q8" -f "$tmp/empty.txt"
expect_fail "fault 1: eval --ctx 100000" "--ctx 100000" "$shrink" eval -m "$q8" -f "$tmp/text.txt" --ctx 100000
expect_fail "fault 1: eval of a missing file" "$tmp/missing.txt" "$shrink" eval -m "$q8" -f "$tmp/missing.txt"
expect_fail "fault 1: generate with a 400-word prompt" "context" "$shrink" generate -m "$q8" -p "$long_prompt" -n 2
if grep -q 'shrink.quantize' "$tmp/err"; then bad "fault 1: no stale 'shrink.quantize' message" "$(head -c 200 "$tmp/err")"
else ok "fault 1: no stale 'shrink.quantize' message"; fi

# --- reference outputs for the write tests (deterministic)
expect_ok "compress Q8_0 (reference)" "$shrink" compress -m "$mini" --type Q8_0 -o "$tmp/ref-q8.gguf" -t 1
expect_ok "compress Q4_0 (reference)" "$shrink" compress -m "$mini" --type Q4_0 -o "$tmp/ref-q4.gguf" -t 1

# --- fault 2: two writers to one output
mkdir "$tmp/race"
out=$tmp/race/out.gguf
SHRINK_DEBUG_COMMIT_WAIT=$tmp/race-go "$shrink" compress -m "$mini" --type Q8_0 -o "$out" -t 1 >/dev/null 2>"$tmp/race-a.err" &
pid_a=$!
if wait_for "$tmp/race-a.err" "shrink: debug:"; then
    "$shrink" compress -m "$mini" --type Q4_0 -o "$out" -t 1 >/dev/null 2>"$tmp/race-b.err"
    rc_b=$?
    touch "$tmp/race-go"
    wait $pid_a
    rc_a=$?
    if [ $rc_a -eq 0 ] && [ $rc_b -eq 0 ] && cmp -s "$out" "$tmp/ref-q8.gguf"; then
        ok "fault 2: both writers succeed and the output is the last one's whole file"
    else
        bad "fault 2: both writers succeed and the output is the last one's whole file" \
            "exit $rc_a and $rc_b; output $(cmp "$out" "$tmp/ref-q8.gguf" 2>&1 | head -c 120)"
    fi
    [ "$(temps "$tmp/race")" = 0 ] && ok "fault 2: no temp files left" || bad "fault 2: no temp files left" "$(ls "$tmp/race")"
    expect_ok "fault 2: the output evaluates" "$shrink" eval -m "$out" -f "$tmp/text.txt" --json &&
        { grep -q '"ppl": [0-9]' "$tmp/out" && ok "fault 2: finite perplexity" || bad "fault 2: finite perplexity" "$(cat "$tmp/out")"; }
else
    kill $pid_a 2>/dev/null
    bad "fault 2: the first writer pauses (SHRINK_DEBUG_COMMIT_WAIT)" "no debug line: $(head -c 200 "$tmp/race-a.err")"
fi

# --- fault 3: OUT.tmp belongs to the user
mkdir "$tmp/own"
printf 'my notes\n' >"$tmp/own/out.gguf.tmp"
printf 'victim\n' >"$tmp/own/victim.txt"
ln -s victim.txt "$tmp/own/link.gguf.tmp"
expect_ok "fault 3: compress next to out.gguf.tmp and a symlink link.gguf.tmp" "$shrink" compress -m "$mini" --type Q8_0 -o "$tmp/own/out.gguf" -t 1 &&
    expect_ok "fault 3: compress to link.gguf" "$shrink" compress -m "$mini" --type Q8_0 -o "$tmp/own/link.gguf" -t 1
if [ "$(cat "$tmp/own/out.gguf.tmp")" = "my notes" ] && [ "$(cat "$tmp/own/victim.txt")" = "victim" ] &&
    [ -L "$tmp/own/link.gguf.tmp" ] && [ -f "$tmp/own/link.gguf" ] && [ ! -L "$tmp/own/link.gguf" ] &&
    cmp -s "$tmp/own/out.gguf" "$tmp/ref-q8.gguf"; then
    ok "fault 3: the user's file and the symlink's target are untouched, the output is a regular file"
else
    bad "fault 3: the user's file and the symlink's target are untouched, the output is a regular file" "$(ls -l "$tmp/own" | tr '\n' ' ')"
fi

# --- fault 4: an output that is an input
mkdir "$tmp/src"
cp "$mini"/config.json "$mini"/model.safetensors "$mini"/vocab.json "$mini"/merges.txt "$tmp/src/"
cp "$tmp/src/model.safetensors" "$tmp/model.orig"
expect_fail "fault 4: compress -o the source's model.safetensors" "inputs" "$shrink" compress -m "$tmp/src" --type Q8_0 -o "$tmp/src/model.safetensors"
cmp -s "$tmp/src/model.safetensors" "$tmp/model.orig" && ok "fault 4: the source model is unchanged" || bad "fault 4: the source model is unchanged" "changed"
expect_ok "fault 4: the source still loads" "$shrink" info -m "$tmp/src"
ln "$tmp/src/vocab.json" "$tmp/hardlink.json"
expect_fail "fault 4: export -o a hard link to the source's vocab.json" "same file" "$shrink" export -m "$tmp/src" -o "$tmp/hardlink.json"
ln -s src/config.json "$tmp/symlink.gguf"
expect_fail "fault 4: export -o a symlink to the source's config.json" "same file" "$shrink" export -m "$tmp/src" -o "$tmp/symlink.gguf"
cp "$tmp/text.txt" "$tmp/calib.txt"
expect_fail "fault 4: compress -o its calibration text" "inputs" "$shrink" compress -m "$tmp/src" --type Q8_0 --method imatrix --calib "$tmp/calib.txt" --calib-tokens 256 -o "$tmp/calib.txt"
cmp -s "$tmp/calib.txt" "$tmp/text.txt" && ok "fault 4: the calibration text is unchanged" || bad "fault 4: the calibration text is unchanged" "changed"
expect_fail "fault 4: tokenize -f X --out X" "inputs" "$shrink" tokenize -m "$mini" -f "$tmp/calib.txt" --out "$tmp/calib.txt"
cmp -s "$tmp/calib.txt" "$tmp/text.txt" && ok "fault 4: the text is unchanged" || bad "fault 4: the text is unchanged" "changed"
expect_fail "fault 4: compress -o a directory" "is a directory" "$shrink" compress -m "$mini" --type Q8_0 -o "$tmp/src"

# --- fault 5: unwritable outputs, found before any work (-v would print GPTQ's progress)
expect_fail "fault 5: compress (gptq) into a missing directory" "$tmp/no/such/dir" "$shrink" compress -m "$mini" --type Q4_K_M --method gptq -v -o "$tmp/no/such/dir/x.gguf"
grep -q -i 'gptq\|calib' "$tmp/err" && bad "fault 5: nothing computed first" "$(grep -i 'gptq\|calib' "$tmp/err" | head -n 2)" || ok "fault 5: nothing computed first"
if [ -d /sys/kernel ] && ! touch /sys/kernel/shrink-probe 2>/dev/null; then
    expect_fail "fault 5: compress into a directory that takes no files (/sys/kernel)" "/sys/kernel" "$shrink" compress -m "$mini" --type Q4_K_M --method gptq -v -o /sys/kernel/x.gguf
    expect_fail "fault 5: report -o under /sys/kernel" "/sys/kernel" "$shrink" report -m "$mini" -c "$tmp/ref-q8.gguf" -o /sys/kernel/rep
    expect_fail "fault 5: sweep -o under /sys/kernel" "/sys/kernel" "$shrink" sweep -m "$mini" --grid type=Q8_0 -o /sys/kernel/sw
    expect_fail "fault 5: train -o under /sys/kernel" "/sys/kernel" "$shrink" train --config "$mini/config.json" -d "$tmp/text.txt" -o /sys/kernel/run --steps 1
fi
# A read-only file system, where the system lets us mount one (unshare -rm); otherwise skipped.
mkdir "$tmp/ro"
if unshare -rm sh -c "mount -t tmpfs -o ro tmpfs '$tmp/ro'" 2>/dev/null; then
    unshare -rm sh -c "mount -t tmpfs -o ro tmpfs '$tmp/ro' && exec '$shrink' compress -m '$mini' --type Q4_K_M --method gptq -v -o '$tmp/ro/x.gguf'" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q 'Read-only file system' "$tmp/err" && ! grep -q -i 'gptq\|calib' "$tmp/err" &&
        ok "fault 5: compress (gptq) on a read-only file system fails first" || bad "fault 5: compress (gptq) on a read-only file system fails first" "exit $rc"
    unshare -rm sh -c "mount -t tmpfs -o ro tmpfs '$tmp/ro' && exec '$shrink' report -m '$mini' -c '$tmp/ref-q8.gguf' -o '$tmp/ro/rep'" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q 'Read-only file system' "$tmp/err" && ok "fault 5: report on a read-only file system fails first" || bad "fault 5: report on a read-only file system fails first" "exit $rc"
else
    echo "fault 5: read-only file system ... skipped (unshare -rm not permitted here)"
fi

# --- fault 6: NaN logits (llama.cpp's Q8_0 file with output.weight's type id set to Q4_0)
cp "$q8" "$tmp/broken.gguf"
off=$(grep -obUa 'output\.weight' "$tmp/broken.gguf" | head -n 1 | cut -d: -f1)
printf '\002' | dd of="$tmp/broken.gguf" bs=1 seek=$((off + 13 + 4 + 16)) conv=notrunc 2>/dev/null
expect_fail "fault 6: eval of NaN logits" "$tmp/broken.gguf" "$shrink" eval -m "$tmp/broken.gguf" -f "$tmp/text.txt"
expect_fail "fault 6: eval --json of NaN logits" "NaN" "$shrink" eval -m "$tmp/broken.gguf" -f "$tmp/text.txt" --json
[ -s "$tmp/out" ] && bad "fault 6: --json prints nothing on failure" "$(head -c 100 "$tmp/out")" || ok "fault 6: --json prints nothing on failure"
expect_fail "fault 6: eval --base with NaN logits" "$tmp/broken.gguf" "$shrink" eval -m "$tmp/broken.gguf" --base "$mini" -f "$tmp/text.txt"
expect_fail "fault 6: generate with NaN logits" "$tmp/broken.gguf" "$shrink" generate -m "$tmp/broken.gguf" -p "The old house" -n 4
expect_fail "fault 6: report with a NaN model" "$tmp/broken.gguf" "$shrink" report -m "$mini" -c "$tmp/broken.gguf" -o "$tmp/rep" -f "$tmp/text.txt" -n 2 --pp 8 --tg 4 -r 1 -p hi -t 1
[ ! -e "$tmp/rep" ] && ok "fault 6: no report written" || bad "fault 6: no report written" "$(ls "$tmp/rep")"

# --- fault 9: SIGTERM while the output is being written
mkdir "$tmp/sig"
SHRINK_DEBUG_COMMIT_WAIT=$tmp/never "$shrink" compress -m "$mini" --type Q8_0 -o "$tmp/sig/out.gguf" -t 1 >/dev/null 2>"$tmp/sig.err" &
pid=$!
if wait_for "$tmp/sig.err" "shrink: debug:"; then
    [ "$(temps "$tmp/sig")" = 1 ] && ok "fault 9: the temp file exists mid-write" || bad "fault 9: the temp file exists mid-write" "$(ls "$tmp/sig")"
    kill -TERM $pid
    { wait $pid; } 2>/dev/null  # (some shells report the signal on stderr)
    rc=$?
    [ $rc -eq 143 ] && [ "$(temps "$tmp/sig")" = 0 ] && [ ! -e "$tmp/sig/out.gguf" ] &&
        ok "fault 9: SIGTERM removes the temp file, no output" || bad "fault 9: SIGTERM removes the temp file, no output" "exit $rc; $(ls "$tmp/sig")"
else
    kill $pid 2>/dev/null
    bad "fault 9: the writer pauses" "$(head -c 200 "$tmp/sig.err")"
fi

# --- SIGTERM during training: no checkpoint half-written, and the last whole one named
sigtrain() {  # sigtrain NAME EXPECTED [options]: SIGTERM while train's checkpoint waits to be renamed
    name=$1 want=$2
    shift 2
    # A stale line from the previous call would send the signal before shrink installs its
    # handler (this shell's TERM trap, inherited by the forked child, would swallow it).
    rm -f "$tmp/sigtr.err"
    SHRINK_DEBUG_COMMIT_WAIT=$tmp/never "$shrink" train -d "$tmp/text.txt" --tokenizer "$mini" --batch 2 --ctx 32 \
        --eval-every 0 -t 1 -o "$tmp/sig/tr" "$@" >/dev/null 2>"$tmp/sigtr.err" &
    pid=$!
    if wait_for "$tmp/sigtr.err" "shrink: debug:"; then
        kill -TERM $pid
        { wait $pid; } 2>/dev/null
        rc=$?
        [ $rc -eq 143 ] && grep -q "shrink: error: train: stopped by a signal; $want" "$tmp/sigtr.err" &&
            ok "$name" || bad "$name" "exit $rc; $(cat "$tmp/sigtr.err")"
    else
        kill $pid 2>/dev/null
        bad "$name: the checkpoint pauses" "$(head -c 200 "$tmp/sigtr.err")"
    fi
}
sigtrain "SIGTERM in train's first checkpoint: said, nothing saved" "no checkpoint saved yet in $tmp/sig/tr" \
    --config "$mini/config.json" --steps 2
[ ! -e "$tmp/sig/tr" ] && ok "SIGTERM in train's first checkpoint: no output directory" || bad "SIGTERM in train's first checkpoint: no output directory" "$(ls "$tmp/sig")"
rm -rf "$tmp/sig/tr.tmp"
expect_ok "train 2 steps" "$shrink" train --config "$mini/config.json" -d "$tmp/text.txt" --tokenizer "$mini" --batch 2 --ctx 32 \
    --eval-every 0 -t 1 -o "$tmp/sig/tr" --steps 4 --stop-at 2 && cp "$tmp/sig/tr/model.safetensors" "$tmp/sig/two.safetensors"
sigtrain "SIGTERM in a resumed train's checkpoint: the whole one named" \
    "$tmp/sig/tr holds the whole checkpoint after 2 steps: continue with the same command and --resume" --steps 4 --resume
cmp -s "$tmp/sig/tr/model.safetensors" "$tmp/sig/two.safetensors" && ok "SIGTERM in a checkpoint: the one before is intact" ||
    bad "SIGTERM in a checkpoint: the one before is intact" "model.safetensors changed"

# --- fault 10: no tokenizer in the directory
expect_fail "fault 10: compress without vocab.json" "--no-tokenizer" "$shrink" compress -m "$tiny" --type Q8_0 -o "$tmp/notok.gguf"
[ ! -e "$tmp/notok.gguf" ] && ok "fault 10: nothing written" || bad "fault 10: nothing written" "file exists"
expect_ok "fault 10: compress --no-tokenizer" "$shrink" compress -m "$tiny" --type F16 --no-tokenizer -o "$tmp/notok.gguf" && ok "fault 10: compress --no-tokenizer writes it"
expect_fail "fault 10: export without vocab.json" "--no-tokenizer" "$shrink" export -m "$tiny" -o "$tmp/notok2.gguf"
mkdir "$tmp/halftok"
cp "$mini"/config.json "$mini"/model.safetensors "$mini"/vocab.json "$tmp/halftok/"
expect_fail "fault 10: compress with vocab.json but no merges.txt fails first" "merges.txt" "$shrink" compress -m "$tmp/halftok" --type Q8_0 -o "$tmp/half.gguf"

# --- minor ones
mkdir "$tmp/negbos"
sed 's/"bos_token_id": [0-9]*/"bos_token_id": -5/' "$tiny/config.json" >"$tmp/negbos/config.json"
cp "$tiny/model.safetensors" "$tmp/negbos/"
expect_fail "minor: a negative bos_token_id" "bos_token_id" "$shrink" info -m "$tmp/negbos"
expect_fail "minor: tokenize -f a directory" "is a directory" "$shrink" tokenize -m "$mini" -f "$tmp"
if expect_ok "minor: eval --json -t 1" "$shrink" eval -m "$mini" -f "$tmp/text.txt" --json -t 1; then
    grep -q '"threads": 1,' "$tmp/out" && ok "minor: --json reports the threads used (-t 1)" || bad "minor: --json reports the threads used (-t 1)" "$(cat "$tmp/out")"
fi
if expect_ok "minor: eval --json (all cores)" "$shrink" eval -m "$mini" -f "$tmp/text.txt" --json; then
    grep -q '"threads": 0,' "$tmp/out" && bad "minor: --json does not report threads 0" "$(cat "$tmp/out")" || ok "minor: --json does not report threads 0"
fi
mkdir "$tmp/elsewhere"
(cd "$tmp/elsewhere" && "$shrink" bench --random mini --save "$tmp/saved/a/b" -p 4 -n 2 -r 1 -t 1 >/dev/null 2>"$tmp/err")
rc=$?
[ $rc -eq 0 ] && [ -s "$tmp/saved/a/b/vocab.json" ] && [ -s "$tmp/saved/a/b/model.safetensors" ] &&
    ok "minor: bench --save from another directory, parents created, tokenizer copied" || bad "minor: bench --save from another directory, parents created, tokenizer copied" "exit $rc"
(trap '' XFSZ; ulimit -f 2000; exec "$shrink" bench --random mini --save "$tmp/saved2/x" -p 4 -n 2 -r 1 -t 1) >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && [ ! -e "$tmp/saved2/x" ] && [ -z "$(ls -A "$tmp/saved2")" ] &&
    ok "minor: a failed bench --save leaves no directory" || bad "minor: a failed bench --save leaves no directory" "exit $rc; $(ls -A "$tmp/saved2" 2>&1)"

echo "cli_files: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
