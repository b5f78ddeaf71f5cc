// progress.h: how far a long step has come ("load: MB 1200/6230, 3.1s elapsed, ETA 12.9s").
// It goes to the calling thread's sink, or nowhere when it has none (a library does not print):
// the command line sets progress_to_stderr, the public API its caller's callback.
#pragma once
#include <stddef.h>

typedef void (*progress_sink_fn)(const char *label, int done, int total, double elapsed, double eta, void *user);
void progress_set_sink(progress_sink_fn fn, void *user);  // this thread's; NULL: none
void progress_get_sink(progress_sink_fn *fn, void **user);
// The command line's sink: a line on stderr when it is a terminal, redrawn in place, once the
// step has run a second (quick steps stay quiet).
void progress_to_stderr(const char *label, int done, int total, double elapsed, double eta, void *user);

// done of total units of the step that began at t0 (timer_now()); done == total ends it.
void progress_note(const char *label, int done, int total, double t0);

// The label of block l's pass (0-based, of L) for methods that go block by block, with the
// whole run's ETA from the blocks done since t0: "what: block 4/48 (run ETA 21 min)".
void progress_block_label(char *buf, size_t cap, const char *what, int l, int L, double t0);
