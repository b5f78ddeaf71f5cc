# bench/recovery_data.sh, sourced by recovery.sh and lowrank.sh with SHARED, SHRINK, TEACHER and
# work set: the training side as token files ($work/train_files lists them), the held-out text
# as text ($work/val.txt, for eval) and tokens ($work/val.bin, for training curves). Made once.
if [ ! -s "$work/train_files" ]; then
    head -n 33100 "$SHARED/data/corpus/brown.txt" > "$work/brown_train.txt"
    tail -n +33101 "$SHARED/data/corpus/brown.txt" > "$work/val.txt"
    $SHRINK tokenize -m $TEACHER -f "$work/val.txt" -o "$work/val.bin"
    $SHRINK tokenize -m $TEACHER -f "$work/brown_train.txt" --eot -o "$work/tok/brown_train.bin"
    for f in "$SHARED"/data/corpus/gutenberg/*.txt "$SHARED"/data/corpus-extra/gutenberg/*.txt; do
        $SHRINK tokenize -m $TEACHER -f "$f" --eot -o "$work/tok/$(basename "$f" .txt).bin"
    done
    ls "$PWD/$work"/tok/*.bin | LC_ALL=C sort | tr '\n' , | sed 's/,$//' > "$work/train_files.tmp"
    mv "$work/train_files.tmp" "$work/train_files"
fi
