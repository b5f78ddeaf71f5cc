// test_report.c: the report's parts that need no model: number formatting (rounding,
// negative zero, huge and tiny values, NaN), the conclusion rules at each boundary, the
// SVG writer on degenerate inputs (well-formed, no NaN in coordinates), and report.md /
// report.json rendered from a synthetic report (the JSON parses; no "nan" anywhere).
#include "harness.h"
#include "core/err.h"
#include "formats/json.h"
#include "report/fmt.h"
#include "report/report.h"
#include "report/rules.h"
#include "report/svg.h"
#include <math.h>
#include <string.h>

// --- formatting

#define EXPECT_FMT(got, want) EXPECT(strcmp((got), (want)) == 0, "%s gave \"%s\", want \"%s\"", #got, (got), (want))

static void test_fmt_numbers(void) {
    char b[FMT_LEN];
    EXPECT_FMT(fmt_sig(156.75, 4, b), "156.8");
    EXPECT_FMT(fmt_sig(0.000534, 3, b), "0.000534");
    EXPECT_FMT(fmt_sig(19375.7, 3, b), "19,376");      // integer digits are never cut
    EXPECT_FMT(fmt_sig(-1234567.8, 3, b), "-1,234,568");
    EXPECT_FMT(fmt_sig(999.6, 3, b), "1,000");
    EXPECT_FMT(fmt_sig(999.4, 3, b), "999");
    EXPECT_FMT(fmt_sig(9.996, 3, b), "10.0");          // the carry does not add a digit
    EXPECT_FMT(fmt_sig(0.96, 1, b), "1");
    EXPECT_FMT(fmt_sig(2.0, 3, b), "2.00");
    EXPECT_FMT(fmt_sig(1.234e-12, 3, b), "1.23e-12");  // tiny: exponent
    EXPECT_FMT(fmt_sig(-6.09e-05, 3, b), "-6.09e-05");
    EXPECT_FMT(fmt_sig(1e300, 3, b), "1.00e+300");     // huge: exponent, fits the buffer
    EXPECT_FMT(fmt_sig(0.0, 3, b), "0");
    EXPECT_FMT(fmt_sig(-0.0, 3, b), "0");              // never "-0"
    EXPECT_FMT(fmt_sig(NAN, 3, b), "n/a");
    EXPECT_FMT(fmt_sig(INFINITY, 3, b), "inf");
    EXPECT_FMT(fmt_sig(-INFINITY, 3, b), "-inf");
    EXPECT_FMT(fmt_fixed(-0.004, 2, b), "0.00");
    EXPECT_FMT(fmt_fixed(-0.006, 2, b), "-0.01");
    EXPECT_FMT(fmt_fixed(2.675, 0, b), "3");
    EXPECT_FMT(fmt_fixed(NAN, 2, b), "n/a");
    EXPECT_FMT(fmt_signed(1.25, 2, b), "+1.25");
    EXPECT_FMT(fmt_signed(-0.001, 2, b), "0.00");
    EXPECT_FMT(fmt_signed(0.001, 2, b), "0.00");
    EXPECT_FMT(fmt_int(6901760, b), "6,901,760");
    EXPECT_FMT(fmt_int(-1000, b), "-1,000");
    EXPECT_FMT(fmt_int(999, b), "999");
    EXPECT_FMT(fmt_int(0, b), "0");
    EXPECT_FMT(fmt_bytes(512, b), "512 B");
    EXPECT_FMT(fmt_bytes(12345, b), "12.3 kB");
    EXPECT_FMT(fmt_bytes(6451104, b), "6.45 MB");
    EXPECT_FMT(fmt_bytes(999999, b), "1.00 MB");       // the unit follows the rounding
    EXPECT_FMT(fmt_bytes(1.5e9, b), "1.50 GB");
    EXPECT_FMT(fmt_bytes(NAN, b), "n/a");
    EXPECT_FMT(fmt_mb(27614584, b), "27.6 MB");
    EXPECT_FMT(fmt_mb(50000, b), "0.0500 MB");
    EXPECT_FMT(fmt_mb(6.45e12, b), "6,450,000 MB");
    EXPECT_FMT(fmt_pct_signed(6.6851, b), "+6.69%");
    EXPECT_FMT(fmt_pct_signed(-75.04, b), "-75.0%");
    EXPECT_FMT(fmt_pct_signed(123.4, b), "+123%");
    EXPECT_FMT(fmt_pct_signed(9.996, b), "+10.0%");
    EXPECT_FMT(fmt_pct_signed(0.0, b), "0.00%");
    EXPECT_FMT(fmt_pct_signed(-0.0, b), "0.00%");
    EXPECT_FMT(fmt_pct_signed(-0.001, b), "0.00%");  // rounds to zero: no sign
    EXPECT_FMT(fmt_pct_signed(0.004, b), "0.00%");
    EXPECT_FMT(fmt_pct_signed(0.005001, b), "+0.01%");
    EXPECT_FMT(fmt_pct_signed(NAN, b), "n/a");
    EXPECT_FMT(fmt_pct(93.75, 1, b), "93.8%");
    EXPECT_FMT(fmt_pct(-0.01, 1, b), "0.0%");
    EXPECT_FMT(fmt_speedup(2.314, b), "2.31x");
    EXPECT_FMT(fmt_speedup(0.98, b), "0.98x");
    EXPECT_FMT(fmt_speedup(12.44, b), "12.4x");
    EXPECT_FMT(fmt_speedup(150.2, b), "150x");
    EXPECT_FMT(fmt_speedup(NAN, b), "n/a");
    EXPECT_FMT(fmt_speedup(INFINITY, b), "inf");
}

static void test_fmt_text(void) {
    sbuf s;
    sbuf_init(&s);
    fmt_md_cell(&s, "a|b\\c\nd\r");
    EXPECT_FMT(sbuf_str(&s), "a\\|b\\\\c<br>d");
    sbuf_reset(&s);
    fmt_json_string(&s, "q\"\n\t\x01\xc3\xa9");
    EXPECT_FMT(sbuf_str(&s), "\"q\\\"\\n\\t\\u0001\xc3\xa9\"");
    sbuf_reset(&s);
    fmt_json_num(&s, NAN);
    sbuf_puts(&s, " ");
    fmt_json_num(&s, -INFINITY);
    sbuf_puts(&s, " ");
    fmt_json_num(&s, -0.0);
    sbuf_puts(&s, " ");
    fmt_json_num(&s, 1.5);
    EXPECT_FMT(sbuf_str(&s), "null null 0 1.5");
    sbuf_reset(&s);
    fmt_xml(&s, "<a&'\">\x01");
    EXPECT_FMT(sbuf_str(&s), "&lt;a&amp;&apos;&quot;&gt;");
    sbuf_free(&s);
    sbuf_free(&s);  // idempotent
    char *c = fmt_utf8_clean("ab\xff\xc3\xa9\xe2\x82", 7);
    EXPECT_FMT(c, "ab\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");  // bad byte, é kept, cut sequence
    free(c);
    c = fmt_utf8_clean("x\0y", 3);
    EXPECT_FMT(c, "x\xef\xbf\xbdy");
    free(c);
    c = fmt_utf8_clean("", 0);
    EXPECT_FMT(c, "");
    free(c);
}

// --- SVG

// Tags balance (every <x> has its </x>, self-closing ones excepted) and no coordinate is NaN.
static int svg_ok(const char *s, const char *what) {
    const char *stack[64];
    char names[64][16];
    int depth = 0, ok = 1;
    (void)stack;
    if (strncmp(s, "<?xml", 5) != 0) ok = 0;
    for (const char *p = s; *p && ok; p++) {
        if (*p != '<' || p[1] == '?') continue;
        int close = p[1] == '/';
        const char *n = p + 1 + close;
        size_t len = strcspn(n, " />\n");
        const char *end = strchr(p, '>');
        if (!end || len == 0 || len >= 16) {
            ok = 0;
            break;
        }
        int self = end[-1] == '/';
        if (close) {
            if (depth == 0 || strncmp(names[depth - 1], n, len) != 0 || names[depth - 1][len]) ok = 0;
            else depth--;
        } else if (!self) {
            if (depth == 64) ok = 0;
            else {
                memcpy(names[depth], n, len);
                names[depth++][len] = 0;
            }
        }
        p = end;
    }
    if (depth != 0) ok = 0;
    int nan = strstr(s, "nan") || strstr(s, "NaN") || strstr(s, "inf\"") || strstr(s, "-inf");
    EXPECT(ok && !nan, "%s: well-formed %d, NaN/inf in output %d", what, ok, nan);
    return ok && !nan;
}

static void test_svg_ticks(void) {
    double t[SVG_MAX_TICKS], lo = 0, hi = 27.6;
    int n = svg_nice_ticks(&lo, &hi, 8, t);
    EXPECT(n == 7 && lo == 0 && hi == 30 && t[1] == 5, "0..27.6: %d ticks, [%g, %g], step %g", n, lo, hi, t[1] - t[0]);
    lo = -2.3, hi = 6.7;
    n = svg_nice_ticks(&lo, &hi, 6, t);
    EXPECT(lo <= -2.3 && hi >= 6.7 && n <= 7 && fabs((t[1] - t[0]) - 2.0) < 1e-12, "-2.3..6.7: [%g, %g], %d ticks", lo, hi, n);
    lo = hi = 5;  // one value
    n = svg_nice_ticks(&lo, &hi, 6, t);
    EXPECT(lo < 5 && hi > 5 && n >= 2 && isfinite(lo) && isfinite(hi), "equal values: [%g, %g]", lo, hi);
    lo = hi = 0;
    n = svg_nice_ticks(&lo, &hi, 6, t);
    EXPECT(lo < 0 && hi > 0 && n >= 2, "zero range: [%g, %g]", lo, hi);
    lo = NAN, hi = NAN;
    n = svg_nice_ticks(&lo, &hi, 6, t);
    EXPECT(lo == 0 && hi == 1 && n >= 2, "NaN range: [%g, %g]", lo, hi);
    lo = 1e-9, hi = 3e-9;
    n = svg_nice_ticks(&lo, &hi, 6, t);
    EXPECT(n >= 2 && n <= 7 && lo <= 1e-9 && hi >= 3e-9, "tiny range: %d ticks", n);
    lo = 0, hi = 1e300;
    n = svg_nice_ticks(&lo, &hi, 6, t);
    EXPECT(n >= 2 && isfinite(hi), "huge range: %d ticks, hi %g", n, hi);
    lo = 7, hi = 3;  // reversed
    n = svg_nice_ticks(&lo, &hi, 0, t);
    EXPECT(lo <= 3 && hi >= 7 && n >= 2 && n <= SVG_MAX_TICKS, "reversed range: [%g, %g]", lo, hi);
}

static void test_svg_plots(void) {
    sbuf s;
    sbuf_init(&s);
    svg_point one[1] = {{10, 2, NAN, NAN, "only <one> & \"quoted\""}};
    svg_series s1[1] = {{"a series", "#000", SVG_MARK_CIRCLE, 1, 0, one, 1}};
    svg_xy_plot p = {"single point", "x", "y", 0, 0, s1, 1, NULL, 0, 0, 0};
    svg_xy_plot_write(&p, &s);
    svg_ok(sbuf_str(&s), "single point");
    EXPECT(strstr(sbuf_str(&s), "only &lt;one&gt; &amp; &quot;quoted&quot;") != NULL, "label escaped");

    svg_point same[3] = {{4, 7, 7, 7, "a"}, {4, 7, 7, 7, "b"}, {4, 7, NAN, NAN, "c"}};
    svg_series s2[2] = {{"same", "#000", SVG_MARK_SQUARE, 1, 1, same, 3}, {NULL, "#f00", SVG_MARK_DIAMOND, 0, 0, same, 0}};
    svg_rule rules[2] = {{7, "at the points", "#0a0", 1}, {NAN, "not a number", "#a00", 1}};
    svg_xy_plot p2 = {"equal values", "x", "y", 300, 200, s2, 2, rules, 2, 1, 1};
    sbuf_reset(&s);
    svg_xy_plot_write(&p2, &s);
    svg_ok(sbuf_str(&s), "equal values, zero-length whiskers, NaN rule, empty series");

    svg_point bad[3] = {{NAN, 1, NAN, NAN, "x"}, {1, INFINITY, NAN, NAN, "y"}, {-INFINITY, NAN, NAN, NAN, NULL}};
    svg_series s3[1] = {{"bad", "#000", SVG_MARK_TRIANGLE, 1, 0, bad, 3}};
    svg_xy_plot p3 = {NULL, NULL, NULL, 0, 0, s3, 1, NULL, 0, 0, 0};
    sbuf_reset(&s);
    svg_xy_plot_write(&p3, &s);
    svg_ok(sbuf_str(&s), "only non-finite points");

    svg_point big[2] = {{1e-12, -1e12, NAN, NAN, "lo"}, {2e-12, 3e12, -5e12, 5e12, "hi"}};
    svg_series s4[1] = {{"big", "#000", SVG_MARK_CIRCLE, 1, 0, big, 2}};
    svg_xy_plot p4 = {"huge and tiny", "x", "y", 0, 0, s4, 1, NULL, 0, 0, 0};
    sbuf_reset(&s);
    svg_xy_plot_write(&p4, &s);
    svg_ok(sbuf_str(&s), "huge and tiny values");

    // many labels on one spot: every label is still written, inside the picture
    svg_point crowd[20];
    char names[20][8];
    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof names[i], "m%d", i);
        crowd[i] = (svg_point){1 + 0.001 * i, 1, NAN, NAN, names[i]};
    }
    svg_series s5[1] = {{"crowd", "#000", SVG_MARK_CIRCLE, 0, 0, crowd, 20}};
    svg_xy_plot p5 = {"crowd", "x", "y", 0, 0, s5, 1, NULL, 0, 0, 0};
    sbuf_reset(&s);
    svg_xy_plot_write(&p5, &s);
    svg_ok(sbuf_str(&s), "twenty labels on one spot");
    EXPECT(strstr(sbuf_str(&s), ">m19</text>") != NULL, "the last crowded label is written");

    const char *keys[3] = {"F32", "Q4_K", "other"}, *colors[3] = {"#111", "#222", "#333"}, *bars[2] = {"one", "two"};
    double v[6] = {1, NAN, -2, 0, 0, 0};
    svg_stacked_bars b = {"bars", "MB", 0, keys, colors, 3, bars, 2, v, NULL};
    sbuf_reset(&s);
    svg_stacked_bars_write(&b, &s);
    svg_ok(sbuf_str(&s), "stacked bars with NaN, negative and all-zero rows");
    double z[3] = {0, 0, 0};
    svg_stacked_bars b0 = {NULL, NULL, 0, keys, colors, 3, bars, 1, z, NULL};
    sbuf_reset(&s);
    svg_stacked_bars_write(&b0, &s);
    svg_ok(sbuf_str(&s), "stacked bars, all zero");
    sbuf_free(&s);
}

// --- rules

static rules_input model(const char *label, double mb, double dppl, double kl, double top1, double speedup) {
    return (rules_input){label, mb * 1e6, mb * 8 / 6.9, dppl, kl, top1, speedup, speedup, mb * 2e6, NAN};
}

static rules_original orig(void) { return (rules_original){27.6e6, 60e6, 0.1, 2, 2}; }

static rules_result apply1(const rules_input *m, rules_summary *s) {
    rules_result r;
    rules_original o = orig();
    rules_apply(&rules_default, &o, m, 1, &r, s);
    return r;
}

static void test_rules_boundaries(void) {
    const rules_thresholds *t = &rules_default;
    rules_summary s;
    rules_input m = model("m", 10, t->close_dppl_pct, 0.01, t->close_top1, 1.5);
    rules_result r = apply1(&m, &s);
    EXPECT(r.verdict == RULES_CLOSE && s.best == 0, "R1 holds at Δppl = %g and top-1 = %g exactly", t->close_dppl_pct, t->close_top1);
    m.dppl_pct = nextafter(t->close_dppl_pct, INFINITY);
    r = apply1(&m, &s);
    EXPECT(r.verdict == RULES_COSTLY && !r.close_dppl && r.close_top1 && s.best == -1, "R1 fails just above the Δppl bound");
    m.dppl_pct = t->close_dppl_pct;
    m.top1 = nextafter(t->close_top1, 0);
    r = apply1(&m, &s);
    EXPECT(r.verdict == RULES_COSTLY && r.close_dppl && !r.close_top1 && r.ppl_hides, "R1 fails just below the top-1 bound; R7 notes it");
    m = model("m", 10, t->broke_dppl_pct, t->broke_kl, 0.5, 1.0);
    r = apply1(&m, &s);
    EXPECT(r.verdict == RULES_COSTLY && !r.broke_dppl && !r.broke_kl, "R2 does not fire at Δppl = %g, KL = %g exactly",
           t->broke_dppl_pct, t->broke_kl);
    m.dppl_pct = nextafter(t->broke_dppl_pct, INFINITY);
    r = apply1(&m, &s);
    EXPECT(r.verdict == RULES_BROKE && r.broke_dppl && !r.broke_kl, "R2 fires just above the Δppl bound");
    m.dppl_pct = 1;
    m.kl_mean = nextafter(t->broke_kl, INFINITY);
    r = apply1(&m, &s);
    EXPECT(r.verdict == RULES_BROKE && !r.broke_dppl && r.broke_kl, "R2 fires on KL alone, even with Δppl within R1");
    // R4 at its bounds
    m = model("m", 10, 0, 0, 1, t->min_speedup);
    r = apply1(&m, &s);
    EXPECT(r.speed_tg == 1 && s.n_faster == 1, "R4: %gx exactly is faster", t->min_speedup);
    m.speedup_tg = nextafter(t->min_speedup, 0);
    r = apply1(&m, &s);
    EXPECT(r.speed_tg == 0 && s.n_faster == 0, "R4: just below %gx is no gain", t->min_speedup);
    m.speedup_tg = 1.0 / t->min_speedup;
    r = apply1(&m, &s);
    EXPECT(r.speed_tg == 0, "R4: exactly 1/%g is not yet slower", t->min_speedup);
    m.speedup_tg = nextafter(1.0 / t->min_speedup, 0);
    r = apply1(&m, &s);
    EXPECT(r.speed_tg == -1 && s.n_slower == 1, "R4: below 1/%g is slower", t->min_speedup);
    m.speedup_tg = NAN;
    r = apply1(&m, &s);
    EXPECT(r.speed_tg == 0 && s.fastest == -1, "R4: not measured is neither");
    // R4's prompt half, at the same bounds, apart from the generation half (held at 1x)
    m = model("m", 10, 0, 0, 1, 1.0);
    m.speedup_pp = t->min_speedup;
    r = apply1(&m, &s);
    EXPECT(r.speed_pp == 1 && r.speed_tg == 0 && s.n_faster == 0, "R4 prompts: %gx exactly is faster (generation alone counts toward n_faster)",
           t->min_speedup);
    m.speedup_pp = nextafter(t->min_speedup, 0);
    r = apply1(&m, &s);
    EXPECT(r.speed_pp == 0, "R4 prompts: just below %gx is no gain", t->min_speedup);
    m.speedup_pp = 1.0 / t->min_speedup;
    r = apply1(&m, &s);
    EXPECT(r.speed_pp == 0, "R4 prompts: exactly 1/%g is not yet slower", t->min_speedup);
    m.speedup_pp = nextafter(1.0 / t->min_speedup, 0);
    r = apply1(&m, &s);
    EXPECT(r.speed_pp == -1 && r.speed_tg == 0 && s.n_slower == 0, "R4 prompts: below 1/%g is slower", t->min_speedup);
    m.speedup_pp = NAN;
    r = apply1(&m, &s);
    EXPECT(r.speed_pp == 0, "R4 prompts: not measured is neither");
    // ... and the sentence says which, with the prompt speedup quoted
    {
        const double pp[3] = {2.0, 1.0, 0.5};
        const char *word[3] = {"(faster)", "(no gain)", "(slower)"};
        for (int k = 0; k < 3; k++) {
            m = model("m", 10, 0, 0, 1, 1.5);
            m.speedup_pp = pp[k];
            r = apply1(&m, &s);
            rules_original o1 = orig();
            sbuf sb;
            sbuf_init(&sb);
            rules_explain(t, &o1, &m, &r, 1, &s, 0, &sb);
            char want[64], num[FMT_LEN];
            snprintf(want, sizeof want, "processes prompts at %s %s", fmt_speedup(pp[k], num), word[k]);
            EXPECT(strstr(sbuf_str(&sb), want) != NULL, "R4 prompts: the conclusions say '%s':\n%s", want, sbuf_str(&sb));
            sbuf_free(&sb);
        }
    }
    // R5 at its bound: the original is 27.6 MB and 60 MB peak
    m = model("m", 27.6 * 0.95, 0, 0, 1, 1);
    m.peak_rss_bytes = 60e6 * 0.96;
    r = apply1(&m, &s);
    EXPECT(r.size_cut && !r.mem_cut, "R5: a 5%% cut counts, 4%% does not (size %d, memory %d)", r.size_cut, r.mem_cut);
    // R7 notes at their bounds
    m = model("m", 10, -t->ppl_gain_pct, 0.01, 0.95, 1);
    r = apply1(&m, &s);
    EXPECT(!r.ppl_gain, "R7: Δppl = -%g%% exactly is not noted", t->ppl_gain_pct);
    m.dppl_pct = nextafter(-t->ppl_gain_pct, -INFINITY);
    r = apply1(&m, &s);
    EXPECT(r.ppl_gain && r.verdict == RULES_CLOSE, "R7: Δppl just below -%g%% is noted", t->ppl_gain_pct);
    m.lambada_drop_pts = t->lambada_drop_pts;
    r = apply1(&m, &s);
    EXPECT(!r.lambada_drop, "R7: a LAMBADA drop of exactly %g points is not noted", t->lambada_drop_pts);
    m.lambada_drop_pts = nextafter(t->lambada_drop_pts, INFINITY);
    r = apply1(&m, &s);
    EXPECT(r.lambada_drop, "R7: a LAMBADA drop just above %g points is noted", t->lambada_drop_pts);
    // NaN quality: no rule that needs the number fires, and R1 fails
    m = model("m", 10, NAN, NAN, NAN, NAN);
    r = apply1(&m, &s);
    EXPECT(r.verdict == RULES_COSTLY && !r.broke_dppl && !r.broke_kl && !r.ppl_gain && !r.ppl_hides && s.best == -1,
           "NaN measurements fire nothing");
    // R9: busy when other processes used more than 0.25 x 2 CPUs = 0.5 on average
    rules_original o = orig();
    rules_result rr;
    m = model("m", 10, 0, 0, 1, 1);
    o.other_cpus = 0.5;
    rules_apply(t, &o, &m, 1, &rr, &s);
    EXPECT(!s.busy, "R9: others using %g CPUs of 2 is not busy", o.other_cpus);
    o.other_cpus = nextafter(0.5, 1.0);
    rules_apply(t, &o, &m, 1, &rr, &s);
    EXPECT(s.busy, "R9: others using just above 0.5 CPUs of 2 is busy");
    o.other_cpus = NAN;
    rules_apply(t, &o, &m, 1, &rr, &s);
    EXPECT(!s.busy, "R9: unknown use is not busy");
}

static void test_rules_summary(void) {
    rules_original o = orig();
    rules_result r[4];
    rules_summary s;
    // Q8 close, Q4 close (smaller), Q3 costly, Q2 broke
    rules_input m[4] = {model("q8", 10.1, 0.01, 0.0001, 0.99, 3), model("q4", 6.45, 0.36, 0.005, 0.94, 2.5),
                        model("q3", 5.5, 3.0, 0.03, 0.85, 2.6), model("q2", 4.77, 12.0, 0.2, 0.7, 2.7)};
    rules_apply(&rules_default, &o, m, 4, r, &s);
    EXPECT(s.best == 1 && s.below_best == 2 && s.next == RULES_NEXT_BETWEEN, "best q4, next step between q4 and q3 (best %d below %d next %d)",
           s.best, s.below_best, (int)s.next);
    EXPECT(s.n_close == 2 && s.n_costly == 1 && s.n_broke == 1 && s.largest == 0 && s.smallest == 3 && s.fastest == 0,
           "counts and extremes");
    EXPECT(r[0].dominated_by == -1 && r[1].dominated_by == -1, "the front is not dominated");
    // the smallest passes: go lower
    rules_apply(&rules_default, &o, m, 2, r, &s);
    EXPECT(s.best == 1 && s.below_best == -1 && s.next == RULES_NEXT_GO_LOWER, "smallest passes: go lower");
    // none passes, not all broke: more bits; the mildest has the lowest KL
    rules_apply(&rules_default, &o, m + 2, 2, r, &s);
    EXPECT(s.best == -1 && s.next == RULES_NEXT_MORE_BITS && s.mildest == 0, "none passes: more bits, mildest q3");
    // all broke
    rules_apply(&rules_default, &o, m + 3, 1, r, &s);
    EXPECT(s.next == RULES_NEXT_ALL_BROKE && s.largest == 0, "all broke");
    // R6: a larger model with a higher Δppl is dominated; equal on both is not
    rules_input d[3] = {model("small", 5, 1.0, 0.01, 0.95, 1), model("big-worse", 6, 1.5, 0.01, 0.95, 1),
                        model("twin", 5, 1.0, 0.01, 0.95, 1)};
    rules_apply(&rules_default, &o, d, 3, r, &s);
    EXPECT(r[1].dominated_by == 0 && r[0].dominated_by == -1 && r[2].dominated_by == -1, "R6 dominated (%d %d %d)", r[0].dominated_by,
           r[1].dominated_by, r[2].dominated_by);
    d[1].dppl_pct = 1.0;  // larger, equal Δppl: still dominated
    rules_apply(&rules_default, &o, d, 3, r, &s);
    EXPECT(r[1].dominated_by >= 0, "R6: larger with equal Δppl is dominated");
    rules_apply(&rules_default, &o, d, 0, r, &s);
    EXPECT(s.next == RULES_NEXT_NONE && s.best == -1, "no models");

    // the sentences quote their numbers and never print nan
    sbuf out;
    sbuf_init(&out);
    rules_apply(&rules_default, &o, m, 4, r, &s);
    rules_explain(&rules_default, &o, m, r, 4, &s, 1, &out);
    const char *t = sbuf_str(&out);
    EXPECT(strstr(t, "**q4**, 6.45 MB") && strstr(t, "+0.36%") && strstr(t, "R3") && strstr(t, "Next (R8)") &&
               strstr(t, "between 6.38 and 7.48 bits/weight") && !strstr(t, "nan"),
           "markdown conclusions:\n%s", t);
    sbuf_reset(&out);
    rules_explain(&rules_default, &o, m, r, 4, &s, 0, &out);
    EXPECT(!strstr(sbuf_str(&out), "**") && !strstr(sbuf_str(&out), "- "), "plain conclusions have no markdown");
    // R8 for models stored unquantized (pruned or factorized, 32 bits/weight): the advice is
    // about the cut or quantizing, never "more bits per weight than 32"
    rules_input fp[2] = {model("p90", 24.8, 0.5, 0.004, 0.95, 32), model("p50", 13.8, 15.0, 0.2, 0.6, 32)};
    const char *want[3] = {"quantize it (shrink compress)", "try sizes between the two", "cut fewer parameters"};
    for (int k = 0; k < 3; k++) {
        int first = k == 2, n = k == 1 ? 2 : 1;
        rules_apply(&rules_default, &o, fp + first, n, r, &s);
        sbuf_reset(&out);
        rules_explain(&rules_default, &o, fp + first, r, n, &s, 1, &out);
        t = sbuf_str(&out);
        EXPECT(strstr(t, want[k]) && !strstr(t, "bits per weight") && !strstr(t, "bits/weight, or"),
               "R8 for unquantized models (%d): wants '%s' in\n%s", k, want[k], t);
    }
    rules_input nn = model("unmeasured", 10, NAN, NAN, NAN, NAN);
    nn.peak_rss_bytes = NAN;
    rules_apply(&rules_default, &o, &nn, 1, r, &s);
    sbuf_reset(&out);
    rules_explain(&rules_default, &o, &nn, r, 1, &s, 1, &out);
    EXPECT(!strstr(sbuf_str(&out), "nan") && strstr(sbuf_str(&out), "not measured"), "NaN inputs read as not measured:\n%s", sbuf_str(&out));
    o.other_cpus = 1.5;
    rules_apply(&rules_default, &o, m, 4, r, &s);
    sbuf_reset(&out);
    rules_explain(&rules_default, &o, m, r, 4, &s, 1, &out);
    EXPECT(strstr(sbuf_str(&out), "busy (R9)") && strstr(sbuf_str(&out), "unreliable"), "R9 sentence and flags");
    sbuf_reset(&out);
    rules_describe(&rules_default, &out);
    EXPECT(strstr(sbuf_str(&out), "Δppl ≤ 2%") && strstr(sbuf_str(&out), "R9"), "rules_describe prints the thresholds");
    sbuf_free(&out);
}

// --- a whole report from synthetic numbers

static void test_report_render(void) {
    const char *comp[2] = {"out/mini-Q4_K_M.gguf", "x/mini-Q4_K_M.gguf"};
    report r;
    report_init(&r, "models/mini/", comp, 2);
    EXPECT(strcmp(r.models[0].label, "mini") == 0 && strcmp(r.models[1].label, "mini-Q4_K_M") == 0 &&
               strcmp(r.models[2].label, "mini-Q4_K_M #2") == 0,
           "labels: %s, %s, %s", r.models[0].label, r.models[1].label, r.models[2].label);
    r.set.threads = 2;
    r.logical_cpus = 2;
    snprintf(r.cpu, sizeof r.cpu, "Test CPU \"quoted\"");
    snprintf(r.created, sizeof r.created, "2025-01-01T00:00:00Z");
    for (int i = 0; i < 3; i++) {
        report_model *m = &r.models[i];
        m->file_bytes = i ? 6.45e6 : 27.6e6;
        m->tensor_bytes = m->file_bytes - (i ? 2.7e5 : 7.5e3);
        m->params = 6901760;
        m->bits_per_weight = 8 * m->file_bytes / m->params;
        m->n_types = 1;
        snprintf(m->types[0].type, sizeof m->types[0].type, i ? "Q4_K" : "F32");
        m->types[0].params = m->params;
        m->types[0].bytes = m->tensor_bytes;
        m->pp = (speed_stat){1000.0 * (i + 1), 900, 1100, 5};
        m->tg = (speed_stat){i == 2 ? NAN : 300.0 * (i + 1), 250, 350, 5};  // one NaN on purpose
        m->forward_ms_median = m->forward_ms_min = m->forward_ms_max = 100;
        m->peak_rss_bytes = i ? 15e6 : 57e6;
        m->start_rss_bytes = 1.4e6;
        m->ppl = (ppl_result){5.05, 156.8, 6785, 23000, 2.1, 256, 128, 53};
        if (i) m->dppl_pct = 0.36, m->kl_mean = 0.0046, m->kl_p99 = 0.02, m->kl_max = 0.2, m->top1 = 0.938;
        m->gen_text[0] = strdup(" text with ``` fences | pipes and <tags>");
        static const int pruned_heads[6] = {4, 4, 6, 7, 8, 8}, pruned_ffn[6] = {896, 256, 512, 512, 640, 640};
        m->n_layer = 6, m->n_head_full = 8;
        for (int l = 0; l < 6; l++) m->heads[l] = i == 2 ? pruned_heads[l] : 8, m->ffn[l] = i == 2 ? pruned_ffn[l] : 1024;
        m->gen_tokens[0] = 9;
    }
    // the second compressed model is mixed precision: two types in one group, a 1-D group
    report_model *mx = &r.models[2];
    mx->mixed = 1;
    mx->n_groups = 3;
    mx->groups[0] = (report_group){"blk.*.ffn_down.weight", "Q4_K", 4, 1, 1e6, 5.6e5};
    mx->groups[1] = (report_group){"blk.*.ffn_down.weight", "Q6_K", 2, 1, 5e5, 4.1e5};
    mx->groups[2] = (report_group){"blk.*.attn_norm.bias", "F32", 6, 0, 1536, 6144};
    r.set.n_prompts = 1;
    report_apply_rules(&r);
    sbuf md, js, svg;
    sbuf_init(&md);
    sbuf_init(&js);
    sbuf_init(&svg);
    report_markdown(&r, &md);
    report_json(&r, &js);
    EXPECT(strstr(sbuf_str(&md), "## Summary") && strstr(sbuf_str(&md), "## Conclusions") && strstr(sbuf_str(&md), "R1 close") &&
               strstr(sbuf_str(&md), "````text") && !strstr(sbuf_str(&md), "nan"),
           "report.md sections, a longer fence around ```, no nan");
    EXPECT(strstr(sbuf_str(&md), "| mini-Q4_K_M #2 | 6 | 4/4/6/7/8/8 | 896/256/512/512/640/640 | 0 |") &&
               strstr(sbuf_str(&md), "| mini | 6 | 8 (every block) | 1024 (every block) | 0 |"),
           "report.md's architecture table: per-block heads and widths");
    EXPECT(strstr(sbuf_str(&js), "\"heads\": [4, 4, 6, 7, 8, 8], \"ffn\": [896, 256, 512, 512, 640, 640]") != NULL,
           "report.json: per-block heads and widths");
    json_value v;
    memset(&v, 0, sizeof v);
    int rc = json_parse(&v, sbuf_str(&js), js.len, "report.json");
    EXPECT(rc == 0, "report.json parses: %s", err_msg());
    if (rc == 0) {
        const json_value *models = json_get(&v, "models");
        EXPECT(models != NULL && json_get(&v, "conclusions") != NULL && json_get(&v, "rules") != NULL, "report.json keys");
    }
    json_free(&v);
    err_clear();
    EXPECT(!strstr(sbuf_str(&js), "nan") && !strstr(sbuf_str(&js), "inf"), "report.json has no nan/inf");
    report_plot_quality(&r, &svg);
    svg_ok(sbuf_str(&svg), "quality plot");
    sbuf_reset(&svg);
    report_plot_speed(&r, &svg);
    svg_ok(sbuf_str(&svg), "speed plot with a NaN median");
    sbuf_reset(&svg);
    report_plot_breakdown(&r, &svg);
    svg_ok(sbuf_str(&svg), "breakdown plot");
    char name[128];
    report_tensor_plot_name(mx, name, sizeof name);
    EXPECT(strcmp(name, "tensors_mini-Q4_K_M__2.svg") == 0, "tensor plot file name: %s", name);
    EXPECT(strstr(sbuf_str(&md), "](tensors_mini-Q4_K_M__2.svg)") != NULL, "report.md embeds the tensor plot");
    sbuf_reset(&svg);
    report_plot_tensors(&r, 2, &svg);
    svg_ok(sbuf_str(&svg), "tensor plot");
    EXPECT(strstr(sbuf_str(&svg), ">blk.*.ffn_down</text>") && strstr(sbuf_str(&svg), ">norms, biases (1-D)</text>") &&
               !strstr(sbuf_str(&svg), ">Q8_0</text>"),
           "tensor plot rows and legend");
    sbuf_free(&md);
    sbuf_free(&js);
    sbuf_free(&svg);
    report_free(&r);
    report_free(&r);  // idempotent
}

int main(void) {
    test_fmt_numbers();
    test_fmt_text();
    test_svg_ticks();
    test_svg_plots();
    test_rules_boundaries();
    test_rules_summary();
    test_report_render();
    return TEST_DONE();
}
