// progress.c: progress lines (progress.h).
#include "progress.h"
#include "timer.h"
#include <stdio.h>
#include <unistd.h>

static _Thread_local progress_sink_fn sink_fn;
static _Thread_local void *sink_user;

void progress_set_sink(progress_sink_fn fn, void *user) { sink_fn = fn, sink_user = user; }
void progress_get_sink(progress_sink_fn *fn, void **user) { *fn = sink_fn, *user = sink_user; }

// The terminal line waits a second (a step that ends sooner prints nothing, not even its
// newline) and is redrawn at most ten times a second.
#define QUIET_S 1.0
#define REDRAW_S 0.1
static _Thread_local int shown;          // a line of the current step is on the terminal
static _Thread_local double last_drawn;  // its elapsed time when last redrawn

void progress_to_stderr(const char *label, int done, int total, double el, double eta, void *user) {
    (void)user;
    int end = done >= total;
    if (!shown && (el < QUIET_S || end)) return;
    if (shown && !end && el - last_drawn < REDRAW_S && el >= last_drawn) return;
    if (!isatty(2)) return;
    fprintf(stderr, "\r[%s] %d/%d  %.1fs elapsed, ETA %.1fs   ", label, done, total, el, eta);
    shown = !end, last_drawn = el;
    if (end) fprintf(stderr, "\n");
}

void progress_note(const char *label, int done, int total, double t0) {
    double el = timer_now() - t0, eta = done ? el / done * (total - done) : 0;
    if (sink_fn) sink_fn(label, done, total, el, eta, sink_user);
}

void progress_block_label(char *buf, size_t cap, const char *what, int l, int L, double t0) {
    if (l == 0) {
        snprintf(buf, cap, "%s: block 1/%d", what, L);
        return;
    }
    double eta = (timer_now() - t0) / l * (L - l);
    snprintf(buf, cap, "%s: block %d/%d (run ETA %.0f %s)", what, l + 1, L, eta >= 120 ? eta / 60 : eta,
             eta >= 120 ? "min" : "s");
}
