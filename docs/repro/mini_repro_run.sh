#!/bin/sh
# Reproduction of the bundled models/mini with `shrink train` (docs/training.md in the repo).
# The binary is copied here so that rebuilds of the shared tree cannot change it mid-run.
set -e
cd /work/train_repro
cp /work/main/build/shrink ./shrink
# tokens/*.bin were written by:
#   for f in $(ls /work/shared/data/corpus/gutenberg/*.txt | LC_ALL=C sort) /work/shared/data/corpus/brown.txt; do
#       ./shrink tokenize -m /work/main/models/mini -f "$f" --eot --out tokens/$(basename "$f" .txt).bin
#   done
FILES=$(ls tokens/pg*.bin | LC_ALL=C sort | tr '\n' ,)tokens/brown.bin
rm -rf mini mini.tmp mini.old
exec ./shrink train --config /work/main/models/mini/config.json -d "$FILES" -o mini -t 2
