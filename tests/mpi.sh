#!/bin/sh
# mpi.sh SHRINK_MPI: a `make MPI=1` build under mpirun: data-parallel `shrink train`, and
# `shrink sweep` with its points shared among processes.
#   1. 2 processes give the bits 1 process gives with the same micro-batches (--micro-batches 2):
#      every step's loss in training_log.json and the final model.safetensors, byte for byte;
#      4 processes the same with 4 micro-batches;
#   2. a run stopped with 2 processes and resumed with 1 ends where the 2-process run ends;
#   3. a process killed mid-run: rank 0 says which checkpoint is whole, and resuming from it ends
#      where the uninterrupted run ends; rank 0 alone prints; a batch that does not split, or micro-batches that are not a
#      multiple of the processes, or training data that differs between ranks, fail before
#      training and write nothing;
#   4. a sweep over 2 processes writes the points 1 process writes, byte for byte, and the same
#      sweep.json (but for timings and paths), each point compressed by one process (claims);
#      claims left by a killed job do not block its points; run again, it skips every point.
# Skipped (and said so) without the binary or mpirun.
shrink=${1:-build-mpi/shrink}
if [ ! -x "$shrink" ] || ! command -v mpirun >/dev/null; then
    echo "mpi: skipped (needs a make MPI=1 build at $shrink and mpirun; .ci/run installs Open MPI)"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # CI runs as root
# In containers the shared-memory transport's single-copy mode (CMA, ptrace) is often refused.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi="mpirun --oversubscribe -np"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shrink_mpi.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "$1 ... ok"; }
bad() { failed=$((failed + 1)); echo "$1 ... FAIL: $2"; }
train() {  # train OUT PROCESSES [options]: 30 steps of the bundled model's config from scratch
    out=$1 np=$2
    shift 2
    $mpi "$np" "$shrink" train --config models/mini/config.json -d data/calib.txt --tokenizer models/mini --steps 30 \
        --batch 8 --ctx 64 --eval-every 0 -t 1 -o "$out" "$@" >"$out.log" 2>&1
}
steps() { sed -n '/"steps"/,$p' "$1/training_log.json" | grep '^  \[' | cut -d, -f1,2; }  # [step, loss

if train "$tmp/one2" 1 --micro-batches 2 && train "$tmp/two" 2; then
    [ "$(steps "$tmp/one2")" = "$(steps "$tmp/two")" ] && [ "$(steps "$tmp/two" | wc -l)" = 30 ] &&
        ok "2 processes: every step's loss is the 1-process run's (2 micro-batches)" ||
        bad "2 processes: every step's loss is the 1-process run's" "$(steps "$tmp/one2" | head -3) / $(steps "$tmp/two" | head -3)"
    cmp -s "$tmp/one2/model.safetensors" "$tmp/two/model.safetensors" && ok "2 processes: the same weights, byte for byte" ||
        bad "2 processes: the same weights, byte for byte" "model.safetensors differ"
    [ "$(grep -c '^train: .*parameters' "$tmp/two.log")" = 1 ] && grep -q 'train: 2 process(es) (MPI), 2 micro-batches of 4' "$tmp/two.log" &&
        ok "rank 0 alone prints" || bad "rank 0 alone prints" "$(head -5 "$tmp/two.log")"
else
    bad "2-process training" "$(tail -3 "$tmp/two.log" "$tmp/one2.log")"
fi
if train "$tmp/one4" 1 --micro-batches 4 && train "$tmp/four" 4; then
    cmp -s "$tmp/one4/model.safetensors" "$tmp/four/model.safetensors" && [ "$(steps "$tmp/one4")" = "$(steps "$tmp/four")" ] &&
        ok "4 processes: the 1-process run's losses and weights (4 micro-batches)" ||
        bad "4 processes: the 1-process run's losses and weights" "differ"
else
    bad "4-process training" "$(tail -3 "$tmp/four.log")"
fi
# stop after 15 steps with 2 processes, resume with 1 (the same micro-batches)
if train "$tmp/res" 2 --stop-at 15 && train "$tmp/res" 1 --micro-batches 2 --resume; then
    cmp -s "$tmp/res/model.safetensors" "$tmp/two/model.safetensors" && [ "$(steps "$tmp/res")" = "$(steps "$tmp/two")" ] &&
        ok "stopped with 2 processes, resumed with 1: the 2-process run's result" ||
        bad "stopped with 2 processes, resumed with 1" "differs from the uninterrupted run"
else
    bad "stop and resume across process counts" "$(tail -3 "$tmp/res.log")"
fi
# rank 1 killed once a checkpoint exists: rank 0 says where to go on, the checkpoint is whole,
# and resuming it with 2 processes ends where the uninterrupted run ends
train "$tmp/kill" 2 --save-every 5 &
job=$!
i=0
while [ ! -f "$tmp/kill/train_state.bin" ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i + 1)); done
for p in $(pgrep -f "train .*-o $tmp/kill"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && kill -9 "$p"
done
if wait $job; then bad "rank 1 killed" "the job went on to the end (killed too late?)"
elif grep -q "shrink: error: train: stopped by a signal (under mpirun: another process of the job has ended.*$tmp/kill holds the whole checkpoint after [0-9]* steps" "$tmp/kill.log" &&
    cp "$tmp/kill.log" "$tmp/killed.log" && train "$tmp/kill" 2 --resume &&
    cmp -s "$tmp/kill/model.safetensors" "$tmp/two/model.safetensors" && [ "$(steps "$tmp/kill")" = "$(steps "$tmp/two")" ]; then
    ok "rank 1 killed: rank 0 names the whole checkpoint; resumed, the uninterrupted run's result"
else bad "rank 1 killed" "$(tail -4 "$tmp/kill.log")"; fi
if train "$tmp/b7" 2 --batch 7; then bad "--batch 7 with 2 processes" "accepted"
elif grep -q "does not split into 2 equal micro-batches" "$tmp/b7.log" && [ ! -e "$tmp/b7" ]; then ok "--batch 7 with 2 processes: refused, nothing written"
else bad "--batch 7 with 2 processes" "$(cat "$tmp/b7.log")"; fi
if train "$tmp/m3" 2 --micro-batches 3; then bad "--micro-batches 3 with 2 processes" "accepted"
elif grep -q "not a multiple of the 2 processes" "$tmp/m3.log" && [ ! -e "$tmp/m3" ]; then ok "--micro-batches 3 with 2 processes: refused"
else bad "--micro-batches 3 with 2 processes" "$(cat "$tmp/m3.log")"; fi

# training data that differs between ranks (each reads its own file here): refused before training
head -c 60000 data/calib.txt >"$tmp/d0.txt"
{ printf 'Once '; cat "$tmp/d0.txt"; } >"$tmp/d1.txt"
if $mpi 2 sh -c "exec $shrink train --config models/mini/config.json -d $tmp/d\$OMPI_COMM_WORLD_RANK.txt --tokenizer models/mini \
    --steps 3 --batch 8 --ctx 64 -t 1 -o $tmp/dd" >"$tmp/dd.log" 2>&1; then bad "data differing between ranks" "accepted"
elif grep -q "the training data differs between the 2 processes" "$tmp/dd.log" && [ ! -e "$tmp/dd" ]; then
    ok "data differing between ranks: refused, nothing written"
else bad "data differing between ranks" "$(cat "$tmp/dd.log")"; fi

# 4. sweeps
head -c 4000 data/heldout.txt >"$tmp/sample.txt"
sweep() {  # sweep DIR PROCESSES
    $mpi "$2" "$shrink" sweep -m models/mini --grid 'type=Q8_0,Q4_0,Q4_K_M;method=rtn,imatrix' --calib-tokens 1024 \
        -o "$1" -f "$tmp/sample.txt" -t 1 >"$1.out" 2>"$1.err"
}
if sweep "$tmp/sw1" 1 && sweep "$tmp/sw2" 2; then
    same=1
    for f in "$tmp"/sw1/points/*.gguf; do cmp -s "$f" "$tmp/sw2/points/${f##*/}" || same=0; done
    [ "$(ls "$tmp"/sw2/points/*.gguf | wc -l)" = 6 ] && [ $same = 1 ] &&
        ok "sweep over 2 processes: the 6 points' files, byte for byte" || bad "sweep over 2 processes: the points' files" "differ"
    strip() { sed -E 's/"(seconds|compress_seconds|eval_seconds)": [0-9.e+-]*//g; s/"command": "[^"]*"//' "$1/sweep.json"; }
    [ "$(strip "$tmp/sw1")" = "$(strip "$tmp/sw2")" ] && [ "$(strip "$tmp/sw2" | grep -c '"name": ')" = 6 ] && grep -q '6 points (6 compressed, 0 skipped)' "$tmp/sw2.out" &&
        ok "sweep over 2 processes: the same sweep.json, rank 0 reports all 6" ||
        bad "sweep over 2 processes: sweep.json" "$(diff -u "$tmp/sw1/sweep.json" "$tmp/sw2/sweep.json" | head -8)"
    # Each point is run by one process: the one that claimed it first.
    runs=$(grep -o '^\[sweep, rank [01]\] \[[0-9]/6\] [^:]*: compressing' "$tmp/sw2.err" | sed 's/rank [01]//' | sort)
    [ "$(echo "$runs" | wc -l)" = 6 ] && [ "$(echo "$runs" | uniq | wc -l)" = 6 ] && ! ls "$tmp"/sw2/points/*.claim >/dev/null 2>&1 &&
        ok "sweep over 2 processes: each point compressed once, no claim left behind" ||
        bad "sweep over 2 processes: each point once" "$(grep compressing "$tmp/sw2.err")"
    # A job killed mid-sweep leaves its claims; the next one runs those points anyway.
    rm "$tmp"/sw2/points/*Q4_0*
    touch "$tmp/sw2/points/rtn-Q4_0.claim" "$tmp/sw2/points/imatrix-Q4_0.claim"
    sweep "$tmp/sw2" 2 && grep -q '6 points (2 compressed, 4 skipped)' "$tmp/sw2.out" && cmp -s "$tmp/sw1/points/rtn-Q4_0.gguf" "$tmp/sw2/points/rtn-Q4_0.gguf" &&
        ! ls "$tmp"/sw2/points/*.claim >/dev/null 2>&1 &&
        ok "sweep over 2 processes: a killed job's claims do not block its points" ||
        bad "sweep over 2 processes: a killed job's claims" "$(cat "$tmp/sw2.out"; ls "$tmp"/sw2/points)"
    sweep "$tmp/sw2" 2 && grep -q '6 points (0 compressed, 6 skipped)' "$tmp/sw2.out" &&
        ok "sweep over 2 processes, run again: every point skipped" || bad "sweep over 2 processes, run again" "$(cat "$tmp/sw2.out")"
else
    bad "sweep over 2 processes" "$(tail -3 "$tmp/sw2.err" "$tmp/sw1.err")"
fi

echo "mpi: $passed passed, $failed failed"
[ "$failed" = 0 ]
