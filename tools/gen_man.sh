#!/bin/sh
# gen_man.sh SHRINK: shrink(1) in roff, on stdout, from the binary's own --help (the options
# tables that drive it): one source for --help, the man page and the bash completion.
set -eu
shrink=$1
# roff: backslashes escaped, hyphens as \-, a text line starting with ' protected
esc() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^'/\\\\\&'/"; }
version=$("$shrink" --version | head -n 1 | sed 's/^shrink //')
cat <<HEAD
.TH SHRINK 1 "" "shrink $version" "User Commands"
.SH NAME
shrink \\- make GPT-2 models smaller and faster, and measure what it costs
.SH SYNOPSIS
.B shrink
.I COMMAND
[\\fIoptions\\fR]
.br
.B shrink \\-\\-version
.SH DESCRIPTION
HEAD
cat <<'DESC'
shrink quantizes (round to nearest, GPTQ, AWQ, mixed precision by measured sensitivity), prunes
(heads, neurons, blocks) and factorizes (low\-rank compression layers) GPT\-2\-family models in
Hugging Face or GGUF form, recovers their quality by distillation, and measures the original
against the result: size, speed, memory, perplexity, KL divergence, top\-1 agreement and text.
Every option below is also in \fBshrink\fR \fICOMMAND\fR \fB\-\-help\fR, from which this page is made.
DESC
echo ".SH COMMANDS"
"$shrink" --help | sed -n '/^commands:/,$p' | sed 1d | while read -r cmd summary; do
    [ -n "$cmd" ] || continue
    echo ".SS $cmd"
    echo "$summary" | esc
    "$shrink" "$cmd" --help | awk '
        /^options:/ { opts = 1; next }
        !opts && /^usage: / { sub(/^usage: /, ""); print ".PP\n.nf\n" $0; inusage = 1; next }
        !opts && inusage && /^       shrink / { sub(/^ +/, ""); print; next }
        !opts && inusage { print ".fi"; inusage = 0 }
        !opts && NF { print ".PP\n" $0; next }
        opts && /^  / {
            line = $0; sub(/^ +/, "", line)
            # the option part ends where two spaces start the description
            i = index(line, "  ")
            name = i ? substr(line, 1, i - 1) : line
            desc = i ? substr(line, i) : ""
            sub(/^ +/, "", desc)
            print ".TP\n.B " name "\n" desc
        }
        END { if (inusage) print ".fi" }' | esc
done
cat <<'TAIL'
.SH ENVIRONMENT
.TP
.B SHRINK_KERNELS
ref, generic, avx2 or avx512: the kernel set instead of the one the CPU selects
.TP
.B OMP_NUM_THREADS
the default thread count where a command's \-t is 0
.SH SEE ALSO
The README and docs/ in shrink's source tree; include/shrink.h for the C library.
TAIL
