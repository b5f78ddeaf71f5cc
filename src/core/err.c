// err.c: the one recorded error message (first failure wins).
#include "err.h"
#include <stdarg.h>

static _Thread_local char err_buf[1024];
static _Thread_local int err_last;

int err_set(int code, const char *fmt, ...) {
    if (err_last == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err_buf, sizeof err_buf, fmt, ap);
        va_end(ap);
        err_last = code;
    }
    return code;
}

const char *err_msg(void) { return err_last ? err_buf : ""; }
int err_code(void) { return err_last; }
void err_clear(void) { err_last = 0; err_buf[0] = 0; }
