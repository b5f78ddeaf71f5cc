// svg.c: the report's plots as hand-written SVG: an x/y plot with labelled markers (the
// labels placed greedily where they overlap nothing), whiskers, joining lines and dashed
// threshold lines; and horizontal stacked bars. Axes get "nice" ticks (1, 2, 2.5, 5 x 10^k)
// and a light grid; the legend sits under the x-axis label. Every coordinate goes through
// one function that maps non-finite values to the plot's edge, so the output never holds NaN.
#include "svg.h"
#include "fmt.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define FONT "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
#define CHAR_W 7.0   // estimated advance of one character at 12 px (DejaVu Sans averages ~6.9)
#define MAX_LABELS 256

const char *svg_color(int i) {
    // Okabe & Ito's colour-blind safe palette, then two greys
    static const char *pal[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7",
                                "#56B4E9", "#F0E442", "#000000", "#999999", "#666666"};
    return pal[(i % 10 + 10) % 10];
}

// --- ticks

int svg_nice_ticks(double *lo, double *hi, int max_ticks, double *ticks) {
    double a = *lo, b = *hi;
    if (!isfinite(a) && !isfinite(b)) a = 0, b = 1;
    else if (!isfinite(a)) a = b;
    else if (!isfinite(b)) b = a;
    if (a > b) {
        double t = a;
        a = b;
        b = t;
    }
    if (b - a <= 1e-12 * fmax(fabs(a), fabs(b))) {  // one value (or equal values)
        double v = 0.5 * (a + b), d = v == 0 ? 1 : 0.1 * fabs(v);
        a = v - d;
        b = v + d;
    }
    if (max_ticks < 1) max_ticks = 5;
    if (max_ticks > SVG_MAX_TICKS - 1) max_ticks = SVG_MAX_TICKS - 1;
    double raw = (b - a) / max_ticks, mag = pow(10, floor(log10(raw))), step = 10 * mag;
    static const double mult[] = {1, 2, 2.5, 5, 10};
    long k0 = 0, k1 = 1;
    for (int i = 0; i < 5; i++) {
        double s = mult[i] * mag;
        long f = (long)floor(a / s + 1e-9), c = (long)ceil(b / s - 1e-9);
        if (c - f <= max_ticks) {
            step = s;
            k0 = f;
            k1 = c;
            break;
        }
    }
    if (k1 <= k0) k1 = k0 + 1;
    int n = 0;
    for (long k = k0; k <= k1 && n < SVG_MAX_TICKS; k++) ticks[n++] = (double)k * step;
    *lo = (double)k0 * step;
    *hi = (double)k1 * step;
    return n;
}

// Decimals needed to print multiples of step exactly (0.25 -> 2, 20 -> 0).
static int step_decimals(double step) {
    int d = 0;
    double s = fabs(step);
    while (d < 10 && fabs(s - round(s)) > 1e-6 * fmax(s, 1e-12)) s *= 10, d++;
    return d;
}

static const char *tick_label(double v, int dec, char *buf) {
    if (dec == 0 && fabs(v) < 1e15) return fmt_int((long long)llround(v), buf);
    return fmt_fixed(v, dec, buf);
}

// --- geometry

typedef struct {
    double x0, y0, x1, y1;  // pixel box of the plotting area
    double xlo, xhi, ylo, yhi;
} frame;

static double clampf(double v, double lo, double hi) { return !isfinite(v) ? lo : v < lo ? lo : v > hi ? hi : v; }
static double px(const frame *f, double x) {
    return clampf(f->x0 + (x - f->xlo) / (f->xhi - f->xlo) * (f->x1 - f->x0), f->x0 - 1, f->x1 + 1);
}
static double py(const frame *f, double y) {
    return clampf(f->y1 - (y - f->ylo) / (f->yhi - f->ylo) * (f->y1 - f->y0), f->y0 - 1, f->y1 + 1);
}

// Estimated width in pixels of UTF-8 text at 12 px (counts code points).
static double text_w(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n * CHAR_W;
}

static void text(sbuf *o, double x, double y, const char *anchor, const char *extra, const char *s) {
    sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor, extra ? " " : "", extra ? extra : "");
    fmt_xml(o, s);
    sbuf_puts(o, "</text>\n");
}

static void header(sbuf *o, int w, int h, const char *title) {
    sbuf_printf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                   "font-family=\"%s\" font-size=\"12\">\n"
                   "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
                w, h, w, h, FONT, w, h);
    if (title && *title) text(o, w / 2.0, 24, "middle", "font-size=\"15\" font-weight=\"bold\"", title);
}

static void marker(sbuf *o, svg_marker m, double x, double y, const char *color) {
    const char *st = "stroke=\"#ffffff\" stroke-width=\"1.2\"";
    switch (m) {
    case SVG_MARK_NONE: break;
    case SVG_MARK_SQUARE:
        sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\" %s/>\n", x - 5, y - 5, color, st);
        break;
    case SVG_MARK_DIAMOND:
        sbuf_printf(o, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\" %s/>\n", x, y - 6.5, x + 6.5, y,
                    x, y + 6.5, x - 6.5, y, color, st);
        break;
    case SVG_MARK_TRIANGLE:
        sbuf_printf(o, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\" %s/>\n", x, y - 6.5, x + 6, y + 4.5,
                    x - 6, y + 4.5, color, st);
        break;
    default:
        sbuf_printf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\" %s/>\n", x, y, color, st);
    }
}

typedef struct {
    double x0, y0, x1, y1;
} box;

static int overlap(box a, box b) { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1; }

// Whether the segment (x0,y0)-(x1,y1) passes through box b (Liang-Barsky clipping).
static int seg_hits(box b, double x0, double y0, double x1, double y1) {
    double t0 = 0, t1 = 1, dx = x1 - x0, dy = y1 - y0;
    double p[4] = {-dx, dx, -dy, dy}, q[4] = {x0 - b.x0, b.x1 - x0, y0 - b.y0, b.y1 - y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0) return 0;
            continue;
        }
        double t = q[i] / p[i];
        if (p[i] < 0) t0 = t > t0 ? t : t0;
        else t1 = t < t1 ? t : t1;
        if (t0 > t1) return 0;
    }
    return 1;
}

typedef struct {
    double x0, y0, x1, y1;
} seg;

// Legend rows under the plot: entries flow left to right and wrap at width - 2*margin.
static int legend_rows(const char *const *names, int n, double avail) {
    int rows = 0;
    double x = avail + 1;
    for (int i = 0; i < n; i++) {
        if (!names[i]) continue;
        double w = 34 + text_w(names[i]) + 18;
        if (x + w > avail) rows++, x = 0;
        x += w;
    }
    return rows;
}

typedef struct {
    const char *name, *color;
    svg_marker marker;
    int line, dashed, swatch;  // swatch: a filled square (bars) instead of marker + line
} legend_item;

static void legend(sbuf *o, const legend_item *it, int n, double left, double avail, double y) {
    double x = avail + 1;
    y -= 22;
    for (int i = 0; i < n; i++) {
        if (!it[i].name) continue;
        double w = 34 + text_w(it[i].name) + 18;
        if (x + w > avail) x = 0, y += 22;
        double lx = left + x;
        if (it[i].swatch) {
            sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"24\" height=\"12\" fill=\"%s\"/>\n", lx, y - 6, it[i].color);
        } else {
            if (it[i].line)
                sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", lx,
                            y, lx + 24, y, it[i].color, it[i].dashed ? " stroke-dasharray=\"5,3\"" : "");
            marker(o, it[i].marker, lx + 12, y, it[i].color);
        }
        text(o, lx + 30, y + 4, "start", NULL, it[i].name);
        x += w;
    }
}

// --- x/y plot

void svg_xy_plot_write(const svg_xy_plot *p, sbuf *o) {
    int W = p->width > 0 ? p->width : 720, H = p->height > 0 ? p->height : 440;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            const svg_point *q = &p->series[s].pts[i];
            if (!isfinite(q->x) || !isfinite(q->y)) continue;
            xlo = fmin(xlo, q->x), xhi = fmax(xhi, q->x);
            ylo = fmin(ylo, q->y), yhi = fmax(yhi, q->y);
            if (isfinite(q->y_lo)) ylo = fmin(ylo, q->y_lo), yhi = fmax(yhi, q->y_lo);
            if (isfinite(q->y_hi)) ylo = fmin(ylo, q->y_hi), yhi = fmax(yhi, q->y_hi);
        }
    for (int r = 0; r < p->n_rules; r++)
        if (p->rules[r].include && isfinite(p->rules[r].y)) ylo = fmin(ylo, p->rules[r].y), yhi = fmax(yhi, p->rules[r].y);
    if (p->x_zero) xlo = fmin(xlo, 0), xhi = fmax(xhi, 0);
    if (p->y_zero) ylo = fmin(ylo, 0), yhi = fmax(yhi, 0);
    // air around the data so edge markers and labels stay inside: 6% on x, 8% on y, none
    // below a zero bound (sizes and speeds start at 0)
    if (isfinite(xlo) && xhi > xlo) {
        double d = 0.06 * (xhi - xlo);
        if (!(p->x_zero && xlo == 0)) xlo -= d;
        xhi += d;
    }
    if (isfinite(ylo) && yhi > ylo) {
        double d = 0.08 * (yhi - ylo);
        if (!(p->y_zero && ylo == 0)) ylo -= d;
        yhi += d;
    }
    double xt[SVG_MAX_TICKS], yt[SVG_MAX_TICKS];
    int nx = svg_nice_ticks(&xlo, &xhi, 8, xt), ny = svg_nice_ticks(&ylo, &yhi, 6, yt);
    int xdec = step_decimals(nx > 1 ? xt[1] - xt[0] : 1), ydec = step_decimals(ny > 1 ? yt[1] - yt[0] : 1);
    char buf[FMT_LEN];
    double ytw = 0;
    for (int i = 0; i < ny; i++) ytw = fmax(ytw, text_w(tick_label(yt[i], ydec, buf)));

    legend_item items[64];
    const char *names[64];
    int n_items = 0;
    for (int s = 0; s < p->n_series && n_items < 64; s++) {
        const svg_series *se = &p->series[s];
        items[n_items] = (legend_item){se->name, se->color, se->marker, se->line, se->dashed, 0};
        names[n_items++] = se->name;
    }
    double ml = 34 + ytw + 10, mr = 24, mt = p->title && *p->title ? 42 : 16;
    int rows = legend_rows(names, n_items, W - ml - mr);
    double mb = 48 + 22.0 * rows + (rows ? 8 : 0);
    frame f = {ml, mt, W - mr, H - mb, xlo, xhi, ylo, yhi};
    header(o, W, H, p->title);

    // grid, frame, ticks
    for (int i = 0; i < nx; i++) {
        double x = px(&f, xt[i]);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", x, f.y0, x, f.y1);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n", x, f.y1, x, f.y1 + 5);
        text(o, x, f.y1 + 18, "middle", NULL, tick_label(xt[i], xdec, buf));
    }
    for (int i = 0; i < ny; i++) {
        double y = py(&f, yt[i]);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", f.x0, y, f.x1, y,
                    yt[i] == 0 && ylo < 0 ? "#aaaaaa" : "#e4e4e4");
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n", f.x0 - 5, y, f.x0, y);
        text(o, f.x0 - 8, y + 4, "end", NULL, tick_label(yt[i], ydec, buf));
    }
    sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333333\"/>\n", f.x0, f.y0,
                f.x1 - f.x0, f.y1 - f.y0);
    if (p->x_label) text(o, 0.5 * (f.x0 + f.x1), f.y1 + 38, "middle", NULL, p->x_label);
    if (p->y_label) {
        char rot[96];
        double cy = 0.5 * (f.y0 + f.y1);
        snprintf(rot, sizeof rot, "transform=\"rotate(-90 %.1f %.1f)\"", 16.0, cy);
        text(o, 16, cy, "middle", rot, p->y_label);
    }

    // Label boxes already taken: rule labels, then every marker, then point labels as placed.
    box taken[MAX_LABELS * 2];
    int n_taken = 0;
    seg segs[MAX_LABELS * 2];  // lines a label should not cross: thresholds, joining lines, whiskers
    int n_segs = 0;
    for (int r = 0; r < p->n_rules; r++) {
        const svg_rule *ru = &p->rules[r];
        if (!isfinite(ru->y) || ru->y < ylo || ru->y > yhi) continue;
        double y = py(&f, ru->y);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.2\" "
                       "stroke-dasharray=\"6,4\"/>\n", f.x0, y, f.x1, y, ru->color);
        if (n_segs < MAX_LABELS * 2) segs[n_segs++] = (seg){f.x0, y, f.x1, y};
        if (ru->label) {
            double w = text_w(ru->label);
            text(o, f.x1 - 6, y - 5, "end", NULL, ru->label);  // the colour stays dark for legibility
            if (n_taken < MAX_LABELS) taken[n_taken++] = (box){f.x1 - 6 - w, y - 16, f.x1 - 6, y - 2};
        }
    }
    for (int s = 0; s < p->n_series; s++) {
        const svg_series *se = &p->series[s];
        if (se->line && se->n > 1) {
            sbuf_printf(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s points=\"", se->color,
                        se->dashed ? " stroke-dasharray=\"5,3\"" : "");
            double lx = NAN, ly = NAN;
            for (int i = 0; i < se->n; i++)
                if (isfinite(se->pts[i].x) && isfinite(se->pts[i].y)) {
                    double x = px(&f, se->pts[i].x), y = py(&f, se->pts[i].y);
                    sbuf_printf(o, "%.1f,%.1f ", x, y);
                    if (isfinite(lx) && n_segs < MAX_LABELS * 2) segs[n_segs++] = (seg){lx, ly, x, y};
                    lx = x, ly = y;
                }
            sbuf_puts(o, "\"/>\n");
        }
        for (int i = 0; i < se->n; i++) {
            const svg_point *q = &se->pts[i];
            if (!isfinite(q->x) || !isfinite(q->y)) continue;
            if (isfinite(q->y_lo) && isfinite(q->y_hi)) {
                double x = px(&f, q->x), a = py(&f, q->y_lo), b = py(&f, q->y_hi);
                sbuf_printf(o, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" stroke=\"%s\" stroke-width=\"1.2\"/>\n",
                            x, a, b, x - 4, a, x + 4, x - 4, b, x + 4, se->color);
                if (n_segs < MAX_LABELS * 2) segs[n_segs++] = (seg){x, a, x, b};
            }
        }
    }
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            const svg_point *q = &p->series[s].pts[i];
            if (!isfinite(q->x) || !isfinite(q->y)) continue;
            double x = px(&f, q->x), y = py(&f, q->y);
            marker(o, p->series[s].marker, x, y, p->series[s].color);
            if (p->series[s].marker != SVG_MARK_NONE && n_taken < MAX_LABELS * 2) taken[n_taken++] = (box){x - 6, y - 6, x + 6, y + 6};
        }
    // point labels: the first candidate position inside the frame that overlaps nothing
    static const struct {
        double dx, dy;
        int anchor;  // 0 start, 1 end, 2 middle
    } cand[] = {{9, 4, 0},  {-9, 4, 1},   {0, -11, 2}, {0, 19, 2},  {9, -9, 0},  {9, 17, 0},
                {-9, -9, 1}, {-9, 17, 1}, {9, -22, 0}, {9, 30, 0},  {-9, -22, 1}, {-9, 30, 1}};
    const int n_cand = (int)(sizeof cand / sizeof cand[0]);
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            const svg_point *q = &p->series[s].pts[i];
            if (!q->label || !*q->label || !isfinite(q->x) || !isfinite(q->y)) continue;
            double x = px(&f, q->x), y = py(&f, q->y), w = text_w(q->label);
            int pick = -1;
            box bx = {0, 0, 0, 0};
            for (int pass = 0; pass < 2 && pick < 0; pass++)  // pass 1 gives up on avoiding other labels
                for (int c = 0; c < n_cand && pick < 0; c++) {
                    double tx = x + cand[c].dx, ty = y + cand[c].dy;
                    double l = cand[c].anchor == 0 ? tx : cand[c].anchor == 1 ? tx - w : tx - w / 2;
                    box b = {l - 1, ty - 11, l + w + 1, ty + 3};
                    if (b.x0 < f.x0 + 2 || b.x1 > f.x1 - 2 || b.y0 < f.y0 + 2 || b.y1 > f.y1 - 2) continue;
                    int clash = 0;
                    for (int k = 0; k < n_taken && !clash && pass == 0; k++) clash = overlap(b, taken[k]);
                    for (int k = 0; k < n_segs && !clash && pass == 0; k++)
                        clash = seg_hits(b, segs[k].x0, segs[k].y0, segs[k].x1, segs[k].y1);
                    if (!clash) pick = c, bx = b;
                }
            if (pick < 0) pick = 0, bx = (box){x + 8, y - 8, x + 8 + w, y + 4};
            static const char *anchors[] = {"start", "end", "middle"};
            sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"#222222\" stroke=\"#ffffff\" "
                           "stroke-width=\"3\" paint-order=\"stroke\">", x + cand[pick].dx, y + cand[pick].dy,
                        anchors[cand[pick].anchor]);
            fmt_xml(o, q->label);
            sbuf_puts(o, "</text>\n");
            if (n_taken < MAX_LABELS * 2) taken[n_taken++] = bx;
        }
    legend(o, items, n_items, f.x0, W - ml - mr, H - 10 - 22.0 * (rows - 1) + 0);
    sbuf_puts(o, "</svg>\n");
}

// --- stacked bars

void svg_stacked_bars_write(const svg_stacked_bars *p, sbuf *o) {
    int W = p->width > 0 ? p->width : 720;
    double lw = 0, tw = 0, xmax = 0;
    char buf[FMT_LEN];
    for (int b = 0; b < p->n_bars; b++) {
        lw = fmax(lw, text_w(p->bars[b]));
        double sum = 0;
        for (int k = 0; k < p->n_keys; k++) {
            double v = p->values[(size_t)b * p->n_keys + k];
            if (isfinite(v) && v > 0) sum += v;
        }
        xmax = fmax(xmax, sum);
        tw = fmax(tw, text_w(p->totals ? p->totals[b] : fmt_sig(sum, 3, buf)));
    }
    double xlo = 0, xhi = xmax, xt[SVG_MAX_TICKS];
    int nx = svg_nice_ticks(&xlo, &xhi, 7, xt), xdec = step_decimals(nx > 1 ? xt[1] - xt[0] : 1);
    double ml = lw + 20, mr = tw + 24, mt = p->title && *p->title ? 42 : 14, bar_h = 24, gap = 14;
    int rows = legend_rows(p->keys, p->n_keys, W - ml - mr);
    double ph = p->n_bars * (bar_h + gap) + gap, mb = 48 + 22.0 * rows + (rows ? 8 : 0);
    int H = (int)ceil(mt + ph + mb);
    frame f = {ml, mt, W - mr, mt + ph, xlo, xhi, 0, 1};
    header(o, W, H, p->title);
    for (int i = 0; i < nx; i++) {
        double x = px(&f, xt[i]);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", x, f.y0, x, f.y1);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n", x, f.y1, x, f.y1 + 5);
        text(o, x, f.y1 + 18, "middle", NULL, tick_label(xt[i], xdec, buf));
    }
    sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n", f.x0, f.y0, f.x0, f.y1);
    sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n", f.x0, f.y1, f.x1, f.y1);
    if (p->x_label) text(o, 0.5 * (f.x0 + f.x1), f.y1 + 38, "middle", NULL, p->x_label);
    for (int b = 0; b < p->n_bars; b++) {
        double y = f.y0 + gap + b * (bar_h + gap), x = f.x0, sum = 0;
        text(o, f.x0 - 8, y + bar_h / 2 + 4, "end", NULL, p->bars[b]);
        for (int k = 0; k < p->n_keys; k++) {
            double v = p->values[(size_t)b * p->n_keys + k];
            if (!isfinite(v) || v <= 0) continue;
            sum += v;
            double x1 = px(&f, sum);
            sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"#ffffff\" "
                           "stroke-width=\"0.8\"><title>",
                        x, y, fmax(x1 - x, 0), bar_h, p->colors[k]);
            fmt_xml(o, p->keys[k]);
            sbuf_printf(o, ": %s</title></rect>\n", fmt_sig(v, 3, buf));
            x = x1;
        }
        text(o, x + 6, y + bar_h / 2 + 4, "start", NULL, p->totals ? p->totals[b] : fmt_sig(sum, 3, buf));
    }
    legend_item items[64];
    int n = 0;
    for (int k = 0; k < p->n_keys && n < 64; k++) items[n++] = (legend_item){p->keys[k], p->colors[k], SVG_MARK_SQUARE, 0, 0, 1};
    legend(o, items, n, f.x0, W - ml - mr, H - 10 - 22.0 * (rows - 1));
    sbuf_puts(o, "</svg>\n");
}
