// msg.c: see msg.h.
#include "msg.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local msg_fn sink;
static _Thread_local void *sink_user;

void msg_set_sink(msg_fn fn, void *user) { sink = fn, sink_user = user; }

void msg(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (!sink) {
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        return;
    }
    char small[1024];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, ap2);
            sink(big, sink_user);
            free(big);
        }
    } else if (n > 0) {
        sink(small, sink_user);
    }
    va_end(ap2);
    va_end(ap);
}
