// svg.h: a tiny hand-made SVG plot writer: x/y plots (labelled markers, lines, whiskers,
// dashed reference lines) and horizontal stacked bars, with nice-number ticks, axis labels
// and a legend. Output is plain SVG 1.1 text appended to an sbuf; no fonts are embedded
// (a sans-serif family is named) and nothing is measured, so label widths are estimated.
//
// Robustness: points with a non-finite coordinate are skipped; a range with one value or
// no values is widened to something drawable, so no coordinate is ever NaN or infinite.
#pragma once
#include "../core/sbuf.h"

#define SVG_MAX_TICKS 24

typedef enum { SVG_MARK_CIRCLE, SVG_MARK_SQUARE, SVG_MARK_DIAMOND, SVG_MARK_TRIANGLE, SVG_MARK_NONE } svg_marker;

typedef struct svg_point {
    double x, y;
    double y_lo, y_hi;   // a whisker from y_lo to y_hi (min..max of repeats); NaN: none
    const char *label;   // text placed next to the marker (NULL: none)
} svg_point;

typedef struct svg_series {
    const char *name;    // legend entry (NULL: not in the legend)
    const char *color;   // any SVG colour, e.g. "#1f77b4"
    svg_marker marker;
    int line;            // 1: join the points in the given order
    int dashed;          // 1: the joining line is dashed
    const svg_point *pts;
    int n;
} svg_series;

// A dashed horizontal reference line (a threshold) with its label at the right end.
typedef struct svg_rule {
    double y;
    const char *label;
    const char *color;
    int include;         // 1: widen the y range to show it; 0: drawn only if inside the data's range
} svg_rule;

typedef struct svg_xy_plot {
    const char *title, *x_label, *y_label;
    int width, height;   // pixels; 0 means 720 x 440
    const svg_series *series;
    int n_series;
    const svg_rule *rules;
    int n_rules;
    int x_zero, y_zero;  // 1: the axis range includes 0
} svg_xy_plot;

void svg_xy_plot_write(const svg_xy_plot *p, sbuf *out);

// Horizontal bars, one per row, each split into n_keys coloured segments laid end to end.
typedef struct svg_stacked_bars {
    const char *title, *x_label;
    int width;                  // pixels; 0 means 720 (the height follows from the rows)
    const char *const *keys;    // segment names (legend), n_keys
    const char *const *colors;  // segment colours, n_keys
    int n_keys;
    const char *const *bars;    // row labels, top to bottom, n_bars
    int n_bars;
    const double *values;       // (n_bars, n_keys) segment lengths; NaN or negative is drawn as 0
    const char *const *totals;  // optional text after each bar (NULL: the row sum)
} svg_stacked_bars;

void svg_stacked_bars_write(const svg_stacked_bars *p, sbuf *out);

// Nice axis ticks (steps 1, 2, 2.5 or 5 x 10^k): widens [*lo, *hi] to whole steps so that
// at most max_ticks intervals cover it, writes the ticks (at most SVG_MAX_TICKS) and returns
// their count. A degenerate or non-finite range is widened first ([v-1, v+1] around 0,
// +-10% around other values, [0, 1] when nothing is finite).
int svg_nice_ticks(double *lo, double *hi, int max_ticks, double *ticks);

// The palette the report uses (10 distinguishable colours, colour-blind friendly order).
const char *svg_color(int i);
