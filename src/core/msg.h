// msg.h: text the library's long jobs report as they go (notes, per-layer details with -v).
// It goes to stderr unless the calling thread has set a sink: the public API hands it to its
// caller's log callback (or drops it), so a library call never prints.
#pragma once

typedef void (*msg_fn)(const char *text, void *user);
void msg_set_sink(msg_fn fn, void *user);  // this thread's; NULL: stderr again
// printf-style; pieces of a line arrive as they are written, so a sink may see a line in parts.
void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
