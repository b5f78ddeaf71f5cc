// api.h: what the public API's files share (not installed): the model handle and the way each
// entry point ends, and the scope inside which a call's text and progress go to its caller.
#pragma once
#include "shrink.h"
#include "../core/progress.h"
#include "../model/gpt2.h"
#include "../tokenizer/bpe.h"

struct shrink_model {
    gpt2_model m;
    bpe *tok;        // NULL when the model came without one
    int *tok_bytes;  // (n_vocab) UTF-8 bytes of each token, for bits per byte
    shrink_progress_fn progress;  // evaluation's (shrink_model_set_progress)
    void *progress_user;
};

// The end of every entry point: rc and the recorded message into err, the thread's error cleared.
int api_finish(int rc, shrink_error *err);

// Between begin and end, the calling thread's reports (msg, progress) go to log and
// progress, or nowhere when those are NULL: the library does not print. End restores the
// thread's earlier progress sink.
typedef struct api_sink {
    shrink_log_fn log;
    shrink_progress_fn progress;
    void *user;
    progress_sink_fn prev_progress;  // set by begin
    void *prev_user;
} api_sink;
void api_sink_begin(api_sink *s);
void api_sink_end(void);
