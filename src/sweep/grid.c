// grid.c: `shrink sweep --grid SPEC` parsed into named points (see grid.h). Every item
// is checked before a point is run, so a typo in the last value costs nothing.
#include "grid.h"
#include "../compress/plan.h"
#include "../core/err.h"
#include "../core/xalloc.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_VALUES 64
#define KEYS "keys: method, type, bpw, prune, lowrank, recover"

enum { KEY_METHOD, KEY_TYPE, KEY_BPW, KEY_PRUNE, KEY_LOWRANK, KEY_RECOVER, N_KEYS };
static const char *KEY_NAMES[N_KEYS] = {"method", "type", "bpw", "prune", "lowrank", "recover"};

typedef struct {
    const char *v[MAX_VALUES];
    int n, given;
} value_list;

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static void upper(char *dst, const char *src, size_t cap) {
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) dst[i] = (char)toupper((unsigned char)src[i]);
    dst[i] = 0;
}

// One clause "key=v1,v2": values split, trimmed, none empty.
static int parse_clause(char *clause, value_list *keys) {
    char *eq = strchr(clause, '=');
    if (!eq) return err_set(ERR_ARG, "sweep: --grid part '%s' is not KEY=VALUE[,VALUE...] (" KEYS ")", clause);
    *eq = 0;
    char *key = trim(clause), *vals = eq + 1;
    int k = 0;
    while (k < N_KEYS && strcasecmp(key, KEY_NAMES[k]) != 0) k++;
    if (k == N_KEYS) return err_set(ERR_ARG, "sweep: --grid key '%s' is unknown (" KEYS ")", key);
    value_list *l = &keys[k];
    if (l->given) return err_set(ERR_ARG, "sweep: --grid key '%s' is given twice", KEY_NAMES[k]);
    l->given = 1;
    for (char *v = vals;;) {
        char *comma = strchr(v, ',');
        if (comma) *comma = 0;
        char *t = trim(v);
        if (!*t) return err_set(ERR_ARG, "sweep: --grid %s= has an empty value", KEY_NAMES[k]);
        if (strlen(t) > 12) return err_set(ERR_ARG, "sweep: --grid %s '%s' is too long to be a value", KEY_NAMES[k], t);
        if (l->n == MAX_VALUES) return err_set(ERR_ARG, "sweep: --grid %s= has more than %d values", KEY_NAMES[k], MAX_VALUES);
        l->v[l->n++] = t;
        if (!comma) break;
        v = comma + 1;
    }
    return 0;
}

// The canonical spelling of each value (checked against the shape c), into canon[i]; the
// bits of each bpw value into bits[i].
static int check_values(int k, const value_list *l, const gpt2_config *c, char canon[][16], double *bits) {
    for (int i = 0; i < l->n; i++) {
        const char *v = l->v[i];
        if (k == KEY_METHOD) {
            int m = compress_method_parse(v);
            if (m < 0)
                return err_set(ERR_ARG, "sweep: --grid method '%s' is unknown (available: rtn, imatrix, gptq, awq, awq+gptq)", v);
            snprintf(canon[i], 16, "%s", compress_method_name((compress_method)m));
        } else if (k == KEY_TYPE) {
            gpt2_plan p;
            if (plan_build(&p, c, v, NULL, NULL, 0)) {
                err_clear();  // plan_build's message names --type
                return err_set(ERR_ARG, "sweep: --grid type '%s' is unknown (a type such as q8_0, q4_k, f16, or a preset: "
                                        "Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K)", v);
            }
            gpt2_plan_free(&p);
            upper(canon[i], v, 16);
        } else if (k == KEY_PRUNE || k == KEY_LOWRANK) {
            char *end;
            double pct = strtod(v, &end);
            if (strcasecmp(v, "none") == 0) {
                bits[i] = 0;
                snprintf(canon[i], 16, "none");
            } else if (end == v || *end != '%' || end[1] || !(pct > 0 && pct < 100)) {
                return err_set(ERR_ARG, "sweep: --grid %s '%s' is neither none nor a percentage of the parameters to "
                                        "keep in (0, 100), such as 75%%", KEY_NAMES[k], v);
            } else {
                bits[i] = pct;
                snprintf(canon[i], 16, "%c%g", k == KEY_PRUNE ? 'p' : 'l', pct);
            }
        } else if (k == KEY_RECOVER) {  // training tokens: none, 0, 500000, 500k, 2M
            char *end;
            double t = strtod(v, &end);
            if (strcasecmp(v, "none") == 0) t = 0, end = (char *)v + strlen(v);
            else if (end != v && (*end == 'k' || *end == 'K')) t *= 1e3, end++;
            else if (end != v && (*end == 'm' || *end == 'M')) t *= 1e6, end++;
            if (end == v || *end || !(t >= 0 && t <= 1e12) || t != floor(t))
                return err_set(ERR_ARG, "sweep: --grid recover '%s' is not a number of training tokens (none, 0, "
                                        "500000, 500k, 2M)", v);
            bits[i] = t;
            if (t == 0) snprintf(canon[i], 16, "none");
            else if (fmod(t, 1e6) == 0) snprintf(canon[i], 16, "r%.0fM", t / 1e6);
            else if (fmod(t, 1e3) == 0) snprintf(canon[i], 16, "r%.0fk", t / 1e3);
            else snprintf(canon[i], 16, "r%.0f", t);
        } else {
            int rc = plan_parse_target_bpw(v, c, "sweep: --grid bpw", &bits[i]);
            if (rc < 0) return rc;
            if (rc == 1) {
                upper(canon[i], v, 16);
            } else {
                snprintf(canon[i], 16, "%g", bits[i]);
                if (!strpbrk(canon[i], ".e")) strcat(canon[i], ".0");
            }
        }
        for (int j = 0; j < i; j++)
            if (strcmp(canon[j], canon[i]) == 0)
                return err_set(ERR_ARG, "sweep: --grid %s '%s' is given twice (as '%s' and '%s')", KEY_NAMES[k], canon[i],
                               l->v[j], v);
    }
    return 0;
}

int grid_parse(grid *g, const char *spec, const gpt2_config *c) {
    memset(g, 0, sizeof *g);
    char *buf = xstrdup(spec ? spec : "");
    value_list keys[N_KEYS];
    memset(keys, 0, sizeof keys);
    int rc = 0;
    if (!*trim(buf)) rc = err_set(ERR_ARG, "sweep: --grid is empty (e.g. 'method=rtn,gptq;type=Q4_K_M,Q2_K;bpw=3.0')");
    for (char *cl = buf; !rc && cl;) {
        char *semi = strchr(cl, ';');
        if (semi) *semi = 0;
        char *t = trim(cl);
        if (*t) rc = parse_clause(t, keys);
        else if (semi) rc = err_set(ERR_ARG, "sweep: --grid has an empty part between ';'");  // a trailing ';' is fine
        cl = semi ? semi + 1 : NULL;
    }
    char canon[N_KEYS][MAX_VALUES][16];
    double bits[MAX_VALUES] = {0}, keep[MAX_VALUES] = {0}, lr_keep[MAX_VALUES] = {0}, rec[MAX_VALUES] = {0},
           unused[MAX_VALUES];
    if (!rc && !keys[KEY_METHOD].given) keys[KEY_METHOD].v[keys[KEY_METHOD].n++] = "rtn";
    if (!rc && !keys[KEY_PRUNE].given && !keys[KEY_LOWRANK].given) keys[KEY_PRUNE].v[keys[KEY_PRUNE].n++] = "none";
    if (!rc && !keys[KEY_RECOVER].given) keys[KEY_RECOVER].v[keys[KEY_RECOVER].n++] = "none";
    for (int k = 0; k < N_KEYS && !rc; k++)
        rc = check_values(k, &keys[k], c, canon[k],
                          k == KEY_BPW       ? bits
                          : k == KEY_PRUNE   ? keep
                          : k == KEY_LOWRANK ? lr_keep
                          : k == KEY_RECOVER ? rec
                                             : unused);
    int n_store = keys[KEY_TYPE].n + keys[KEY_BPW].n;
    if (!rc && n_store == 0)
        rc = err_set(ERR_ARG, "sweep: --grid gives no type= and no bpw= (what to store the weights as), e.g. "
                              "'method=rtn;type=Q4_K_M'");
    // The models' shapes: the prune= values, then the lowrank= ones (a point is pruned or
    // factorized, not both; "none" once).
    double shape_keep[2 * MAX_VALUES];
    int shape_lr[2 * MAX_VALUES], n_shapes = 0, have_none = 0;
    const char *shape_canon[2 * MAX_VALUES];
    for (int k = KEY_PRUNE; k <= KEY_LOWRANK && !rc; k++)
        for (int q = 0; q < keys[k].n; q++) {
            double kp = k == KEY_PRUNE ? keep[q] : lr_keep[q];
            if (kp <= 0 && have_none++) continue;
            shape_keep[n_shapes] = kp, shape_lr[n_shapes] = k == KEY_LOWRANK && kp > 0, shape_canon[n_shapes++] = canon[k][q];
        }
    // Recovery distils a pruned or factorized model: an unreduced point is made once, without it.
    int n_reduced = 0, n_recover = 0;
    for (int q = 0; q < n_shapes; q++) n_reduced += shape_keep[q] > 0;
    for (int q = 0; q < keys[KEY_RECOVER].n; q++) n_recover += rec[q] > 0;
    if (!rc && n_recover && !n_reduced)
        rc = err_set(ERR_ARG, "sweep: --grid recover= distils pruned or factorized models; give prune= or lowrank= with a "
                              "percentage too");
    long models = (long)(n_shapes - n_reduced) + (long)n_reduced * keys[KEY_RECOVER].n;
    long total = models * keys[KEY_METHOD].n * n_store;
    if (!rc && total > GRID_MAX_POINTS)
        rc = err_set(ERR_ARG, "sweep: --grid makes %ld points; at most %d", total, GRID_MAX_POINTS);
    if (!rc) {
        g->pts = xcalloc((size_t)total, sizeof *g->pts);
        for (int q = 0; q < n_shapes; q++)
            for (int v = 0; v < keys[KEY_RECOVER].n; v++)
                for (int m = 0; m < keys[KEY_METHOD].n && (shape_keep[q] > 0 || v == 0); m++)
                for (int s = 0; s < n_store; s++) {
                    grid_point *p = &g->pts[g->n++];
                    char name[48], model[24];
                    p->method = (compress_method)compress_method_parse(canon[KEY_METHOD][m]);
                    p->keep_pct = shape_keep[q];
                    p->lowrank = shape_lr[q];
                    p->recover_tokens = shape_keep[q] > 0 ? rec[v] : 0;
                    if (s < keys[KEY_TYPE].n) {
                        snprintf(p->type, sizeof p->type, "%s", canon[KEY_TYPE][s]);
                        snprintf(name, sizeof name, "%.15s-%.15s", canon[KEY_METHOD][m], p->type);
                    } else {
                        int b = s - keys[KEY_TYPE].n;
                        snprintf(p->bpw, sizeof p->bpw, "%s", canon[KEY_BPW][b]);
                        p->target_bpw = bits[b];
                        snprintf(name, sizeof name, "%.15s-bpw%s%.15s", canon[KEY_METHOD][m],
                                 isdigit((unsigned char)p->bpw[0]) ? "" : "-", p->bpw);
                    }
                    if (p->recover_tokens > 0) snprintf(model, sizeof model, "%.10s-%.10s", shape_canon[q], canon[KEY_RECOVER][v]);
                    else snprintf(model, sizeof model, "%.10s", shape_canon[q]);
                    if (p->keep_pct > 0) snprintf(p->name, sizeof p->name, "%.21s-%.25s", model, name);
                    else snprintf(p->name, sizeof p->name, "%s", name);
                }
    }
    free(buf);
    return rc;
}

void grid_free(grid *g) {
    free(g->pts);
    g->pts = NULL;
    g->n = 0;
}
