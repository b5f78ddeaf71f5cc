#!/bin/sh
# run.sh MODE BUILD TIME [NAME,NAME...]: the libFuzzer harnesses (make fuzz, make fuzz-cov).
#   run  each harness for TIME seconds, one process at a time, from its committed seeds
#        (fuzz/corpus/NAME) and the corpus earlier runs kept (BUILD/corpus/NAME); appends one
#        line per harness to BUILD/fuzz-totals.tsv (UTC time, harness, seconds, executions,
#        findings) and exits non-zero if any harness found something (the input is left in
#        BUILD/crash-NAME-*).
#   cov  replays each harness's corpora in the coverage build (BUILD-cov) and prints the
#        line coverage of the parsers and loaders (llvm-cov report).
# Run from the repository root (fuzz_bpe_encode reads models/mini's tokenizer).
mode=$1
build=$2
secs=${3:-60}
only=$4
names=""
for f in fuzz/fuzz_*.c; do
    n=$(basename "$f" .c)
    if [ -n "$only" ]; then
        case ",$only," in *",$n,"* | *",${n#fuzz_},"*) ;; *) continue ;; esac
    fi
    names="$names $n"
done

max_len() {
    case $1 in
    fuzz_gguf | fuzz_gguf_model | fuzz_hf_dir) echo 65536 ;;
    fuzz_bpe_encode | fuzz_gguf_write | fuzz_safetensors_write) echo 4096 ;;
    *) echo 16384 ;;
    esac
}

dict_of() {
    case $1 in
    fuzz_json | fuzz_safetensors | fuzz_hf_dir) echo "-dict=fuzz/json.dict" ;;
    fuzz_gguf | fuzz_gguf_model) echo "-dict=fuzz/gguf.dict" ;;
    esac
}

case $mode in
run)
    status=0
    for n in $names; do
        mkdir -p "$build/corpus/$n"
        log="$build/$n.log"
        # shellcheck disable=SC2046
        "$build/$n" -max_total_time="$secs" -max_len="$(max_len "$n")" -timeout=20 -rss_limit_mb=2560 $(dict_of "$n") \
            -print_final_stats=1 -artifact_prefix="$build/crash-$n-" "$build/corpus/$n" "fuzz/corpus/$n" >"$log" 2>&1
        rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        found=0
        if [ "$rc" -ne 0 ]; then
            found=1
            status=1
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$n" "$secs" "${execs:-0}" "$found" >>"$build/fuzz-totals.tsv"
        printf '%-24s %4ss %10s executions  %s\n' "$n" "$secs" "${execs:-0}" "$([ $found = 0 ] && echo ok || echo "FINDING (exit $rc): see $log")"
    done
    exit $status
    ;;
cov)
    cov="$build-cov"
    rm -f "$cov"/*.profraw
    for n in $names; do
        dirs="fuzz/corpus/$n"
        [ -d "$build/corpus/$n" ] && dirs="$dirs $build/corpus/$n"
        # shellcheck disable=SC2086
        LLVM_PROFILE_FILE="$cov/$n.%p.profraw" "$cov/$n" -runs=0 -max_len="$(max_len "$n")" $dirs >"$cov/$n.log" 2>&1 ||
            echo "$n: replay failed (see $cov/$n.log)"
    done
    llvm-profdata merge -sparse "$cov"/*.profraw -o "$cov/all.profdata" || exit 1
    objs=""
    for n in $names; do objs="$objs${objs:+ -object }$cov/$n"; done
    # shellcheck disable=SC2086
    llvm-cov report $objs -instr-profile="$cov/all.profdata" \
        src/formats/json.c src/formats/safetensors_read.c src/formats/safetensors_write.c src/formats/gguf_read.c \
        src/formats/gguf_write.c src/tokenizer/bpe.c src/tokenizer/pretokenize.c src/model/gpt2_config.c \
        src/modelfile/gpt2_hf_load.c src/modelfile/gpt2_gguf_load.c src/core/strmap.c
    ;;
*)
    echo "usage: sh fuzz/run.sh run|cov BUILD SECONDS [NAMES]" >&2
    exit 2
    ;;
esac
