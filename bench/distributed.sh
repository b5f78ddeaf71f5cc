#!/bin/sh
# bench/distributed.sh (make bench-mpi, which writes bench/distributed.md; make bench includes it when
# build-mpi/shrink and mpirun are there): data-parallel
# training on this machine: 1 process x 2 threads against 2 processes x 1 thread on the
# bundled model's config, STEPS steps of batch 16 x ctx 64 from scratch, and how the loss
# curves of 1 and 2 processes compare with one micro-batch per process and with the same
# micro-batches. Processes are not bound to cores (--bind-to none: Open MPI binds each to one
# core by default, which confines a process's threads to it). Prints markdown. Nothing is
# asserted (tests/mpi.sh asserts).
set -eu
SHRINK=${SHRINK_MPI:-build-mpi/shrink}
STEPS=${STEPS:-200}
work=${WORK:-build/distributed}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$work" && mkdir -p "$work"
run() {  # run NAME PROCESSES THREADS [options]
    name=$1 np=$2 t=$3
    shift 3
    mpirun --bind-to none --oversubscribe -np "$np" "$SHRINK" train --config models/mini/config.json -d data/calib.txt --tokenizer models/mini \
        --steps "$STEPS" --batch 16 --ctx 64 --eval-every 0 -t "$t" -o "$work/$name" "$@" > "$work/$name.log" 2>&1
}
run p1t2 1 2
run p2t1 2 1
run p1t2m2 1 2 --micro-batches 2
tps() { sed -n 's/^train: .* steps in \([0-9.]*\) s, \([0-9]*\) tokens\/s.*/\2/p' "$work/$1.log"; }
comm() { c=$(sed -n 's/^  sums across processes (MPI) *\([0-9.]*\) s *\([0-9.]*\)%/\1 s (\2%)/p' "$work/$1.log"); echo "${c:-none (one process)}"; }
# max over steps of |a - b| / |a| of two runs' losses, and the first step where they differ
cmp_losses() {
    paste "$work/$1.steps" "$work/$2.steps" | awk '{d = $2 - $4; if (d < 0) d = -d; r = d / ($2 < 0 ? -$2 : $2);
        if (r > m) m = r; if (d > 0 && !f) f = $1 + 1} END {if (f) printf "%.3g (the first difference at step %d)", m, f - 1; else printf "0 (no step differs)"}'
}
for r in p1t2 p2t1 p1t2m2; do
    sed -n '/"steps"/,$p' "$work/$r/training_log.json" | grep '^  \[' | tr -d '[],' | awk '{print $1, $2}' > "$work/$r.steps"
done
echo "## Data-parallel training (MPI)"
echo
echo "$(nproc) cores; the bundled model's config (models/mini/config.json, 6.9 M parameters) from scratch, $STEPS steps"
echo "of batch 16 x ctx 64 on data/calib.txt, Open MPI on one host (shared memory). One run each."
echo
echo "| run | tokens/s | sums across processes |"
echo "|---|---:|---:|"
echo "| 1 process x 2 threads | $(tps p1t2) | |"
echo "| 2 processes x 1 thread | $(tps p2t1) | $(comm p2t1) |"
echo "| 1 process x 2 threads, --micro-batches 2 | $(tps p1t2m2) | $(comm p1t2m2) |"
echo
echo "Loss curves, max relative difference per step:"
echo "- 2 processes against 1 process with its default single micro-batch: $(cmp_losses p1t2 p2t1)"
echo "- 2 processes against 1 process with --micro-batches 2: $(cmp_losses p1t2m2 p2t1)"
cmp -s "$work/p1t2m2/model.safetensors" "$work/p2t1/model.safetensors" && w="byte-identical" || w="different"
echo "- final weights of those two: $w"
