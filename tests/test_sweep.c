// test_sweep.c: shrink sweep's parts: --grid SPEC parsing (good specs and each kind of bad
// item), the Pareto frontier and the bound choice on synthetic points, and one run on the
// oracle's tiny checkpoint (no tokenizer: synthetic token ids for the held-out text and
// the calibration windows) that is run again to show done points are skipped.
#include "harness.h"
#include "../src/compress/plan.h"
#include "../src/core/err.h"
#include "../src/core/fileio.h"
#include "../src/core/xalloc.h"
#include "../src/sweep/grid.h"
#include "../src/sweep/pareto.h"
#include "../src/sweep/sweep.h"
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tiny_dir[512];

static int load_config(const char *dir, gpt2_config *c) {
    char *path = path_join(dir, "config.json"), *text = NULL;
    size_t len = 0;
    int rc = file_read_all(path, &text, &len);
    if (!rc) rc = gpt2_config_parse(c, text, len, path, NULL);
    free(text);
    free(path);
    return rc;
}

// --- grid

static void test_grid_good(const gpt2_config *c) {
    grid g;
    int rc = grid_parse(&g, "method=rtn,gptq;type=Q4_K_M,Q3_K_M,Q2_K;bpw=2.5,3.0", c);
    EXPECT(rc == 0 && g.n == 10, "issue's example: rc %d, %d points (%s)", rc, g.n, err_msg());
    if (rc == 0 && g.n == 10) {
        const char *names[10] = {"rtn-Q4_K_M", "rtn-Q3_K_M", "rtn-Q2_K", "rtn-bpw2.5", "rtn-bpw3.0",
                                 "gptq-Q4_K_M", "gptq-Q3_K_M", "gptq-Q2_K", "gptq-bpw2.5", "gptq-bpw3.0"};
        for (int i = 0; i < 10; i++) EXPECT(strcmp(g.pts[i].name, names[i]) == 0, "point %d is %s, expected %s", i, g.pts[i].name, names[i]);
        EXPECT(g.pts[0].method == METHOD_RTN && g.pts[5].method == METHOD_GPTQ, "methods in spec order");
        EXPECT(g.pts[3].type[0] == 0 && g.pts[3].target_bpw == 2.5 && g.pts[0].target_bpw == 0, "a point has a type or a bpw");
        EXPECT(!grid_point_needs_calib(&g.pts[0]) && grid_point_needs_calib(&g.pts[3]) && grid_point_needs_calib(&g.pts[5]),
               "calibration: rtn with a type needs none; bpw and gptq do");
    }
    grid_free(&g);
    grid_free(&g);  // idempotent

    rc = grid_parse(&g, "type=q8_0", c);
    EXPECT(rc == 0 && g.n == 1 && strcmp(g.pts[0].name, "rtn-Q8_0") == 0 && g.pts[0].method == METHOD_RTN,
           "type alone: method defaults to rtn, names in upper case (%s)", g.n ? g.pts[0].name : err_msg());
    grid_free(&g);

    rc = grid_parse(&g, "  method = awq+gptq , imatrix ; type = f16 ; bpw = 3 , 2.75 , q2_k ; ", c);
    EXPECT(rc == 0 && g.n == 8, "spaces and a trailing ';': rc %d, %d points (%s)", rc, g.n, err_msg());
    if (rc == 0 && g.n == 8) {
        EXPECT(strcmp(g.pts[0].name, "awq+gptq-F16") == 0, "got %s", g.pts[0].name);
        EXPECT(strcmp(g.pts[1].name, "awq+gptq-bpw3.0") == 0, "got %s", g.pts[1].name);
        EXPECT(strcmp(g.pts[2].name, "awq+gptq-bpw2.75") == 0, "got %s", g.pts[2].name);
        EXPECT(strcmp(g.pts[3].name, "awq+gptq-bpw-Q2_K") == 0 && strcmp(g.pts[3].bpw, "Q2_K") == 0, "got %s", g.pts[3].name);
        EXPECT(strcmp(g.pts[4].name, "imatrix-F16") == 0, "got %s", g.pts[4].name);
        gpt2_plan p;
        double want = 0;
        if (plan_build(&p, c, "Q2_K", NULL, NULL, 0) == 0) want = plan_matrix_bpw(&p, c), gpt2_plan_free(&p);
        EXPECT(want > 0 && g.pts[3].target_bpw == want, "bpw=Q2_K is the preset's matrix bits: %g vs %g", g.pts[3].target_bpw, want);
    }
    grid_free(&g);

    // prune=: the outermost axis; "none" keeps the unpruned names, a share prefixes them.
    rc = grid_parse(&g, "prune=none,75%, 66.5% ;method=rtn,gptq;type=Q8_0", c);
    EXPECT(rc == 0 && g.n == 6, "prune axis: rc %d, %d points (%s)", rc, g.n, err_msg());
    if (rc == 0 && g.n == 6) {
        EXPECT(strcmp(g.pts[0].name, "rtn-Q8_0") == 0 && g.pts[0].keep_pct == 0, "got %s", g.pts[0].name);
        EXPECT(strcmp(g.pts[2].name, "p75-rtn-Q8_0") == 0 && g.pts[2].keep_pct == 75, "got %s", g.pts[2].name);
        EXPECT(strcmp(g.pts[5].name, "p66.5-gptq-Q8_0") == 0 && g.pts[5].keep_pct == 66.5, "got %s", g.pts[5].name);
        EXPECT(!grid_point_needs_calib(&g.pts[0]) && grid_point_needs_calib(&g.pts[2]), "pruning needs calibration");
    }
    grid_free(&g);

    // recover=: inside prune=; an unpruned point is made once, without recovery.
    rc = grid_parse(&g, "prune=none,75%;recover=none,500k,2M;type=Q8_0", c);
    EXPECT(rc == 0 && g.n == 4, "recover axis: rc %d, %d points (%s)", rc, g.n, err_msg());
    if (rc == 0 && g.n == 4) {
        EXPECT(strcmp(g.pts[0].name, "rtn-Q8_0") == 0 && g.pts[0].recover_tokens == 0, "got %s", g.pts[0].name);
        EXPECT(strcmp(g.pts[1].name, "p75-rtn-Q8_0") == 0 && g.pts[1].recover_tokens == 0, "got %s", g.pts[1].name);
        EXPECT(strcmp(g.pts[2].name, "p75-r500k-rtn-Q8_0") == 0 && g.pts[2].recover_tokens == 5e5, "got %s", g.pts[2].name);
        EXPECT(strcmp(g.pts[3].name, "p75-r2M-rtn-Q8_0") == 0 && g.pts[3].recover_tokens == 2e6, "got %s", g.pts[3].name);
    }
    grid_free(&g);
    // lowrank=: shapes after prune='s; "none" once; recovery applies to factorized models too.
    rc = grid_parse(&g, "prune=none,75%;lowrank=none,83%;recover=none,1M;type=Q8_0", c);
    EXPECT(rc == 0 && g.n == 5, "lowrank axis: rc %d, %d points (%s)", rc, g.n, err_msg());
    if (rc == 0 && g.n == 5) {
        EXPECT(strcmp(g.pts[0].name, "rtn-Q8_0") == 0 && !g.pts[0].lowrank, "got %s", g.pts[0].name);
        EXPECT(strcmp(g.pts[2].name, "p75-r1M-rtn-Q8_0") == 0 && !g.pts[2].lowrank, "got %s", g.pts[2].name);
        EXPECT(strcmp(g.pts[3].name, "l83-rtn-Q8_0") == 0 && g.pts[3].lowrank && g.pts[3].keep_pct == 83 &&
                   g.pts[3].recover_tokens == 0 && grid_point_needs_calib(&g.pts[3]),
               "got %s", g.pts[3].name);
        EXPECT(strcmp(g.pts[4].name, "l83-r1M-rtn-Q8_0") == 0 && g.pts[4].lowrank && g.pts[4].recover_tokens == 1e6,
               "got %s", g.pts[4].name);
    }
    grid_free(&g);
    rc = grid_parse(&g, "lowrank=90%,80%;type=Q8_0", c);  // given alone, like prune=: no unreduced point
    EXPECT(rc == 0 && g.n == 2 && strcmp(g.pts[0].name, "l90-rtn-Q8_0") == 0 && strcmp(g.pts[1].name, "l80-rtn-Q8_0") == 0,
           "lowrank alone: rc %d, %d points (%s)", rc, g.n, rc ? err_msg() : g.pts[0].name);
    grid_free(&g);
    rc = grid_parse(&g, "prune=80%;recover=1500;type=Q8_0", c);
    EXPECT(rc == 0 && g.n == 1 && strcmp(g.pts[0].name, "p80-r1500-rtn-Q8_0") == 0 && g.pts[0].recover_tokens == 1500,
           "recover=1500: rc %d (%s)", rc, rc ? err_msg() : g.pts[0].name);
    grid_free(&g);
    printf("grid: good specs ... done\n");
}

static void test_grid_bad(const gpt2_config *c) {
    static const struct {
        const char *spec, *frag;
    } bad[] = {
        {"", "empty"},
        {"   ", "empty"},
        {"type=Q4_K_M;;bpw=3", "empty part"},
        {"typeQ4_K_M", "'typeQ4_K_M'"},
        {"size=3", "'size'"},
        {"type=Q4_K_M;type=Q2_K", "'type' is given twice"},
        {"type=Q4_K_M,,Q2_K", "type= has an empty value"},
        {"type=", "empty value"},
        {"method=rtn,magic;type=Q8_0", "'magic'"},
        {"type=Q4_K_M,q9_9", "'q9_9'"},
        {"type=q8_k", "'q8_k'"},
        {"bpw=99", "99"},
        {"bpw=1", "outside 1.5-16"},
        {"bpw=3bits", "'3bits'"},
        {"bpw=nan", "nan"},
        {"type=q4_k_m,Q4_K_M", "given twice"},
        {"bpw=3,3.0", "given twice"},
        {"method=gptq,GPTQ;type=Q8_0", "given twice"},
        {"method=gptq", "no type= and no bpw="},
        {"type=Q4_K_M_EXTRA_LONG_NAME", "too long"},
        {"prune=75;type=Q8_0", "prune '75'"},
        {"prune=100%;type=Q8_0", "prune '100%'"},
        {"prune=0%;type=Q8_0", "prune '0%'"},
        {"prune=75%,75.0%;type=Q8_0", "given twice"},
        {"recover=2M;type=Q8_0", "give prune="},
        {"lowrank=none;recover=2M;type=Q8_0", "lowrank="},
        {"lowrank=120%;type=Q8_0", "lowrank '120%'"},
        {"lowrank=80%,80.0%;type=Q8_0", "given twice"},
        {"lowrank=80%;lowrank=70%;type=Q8_0", "twice"},
        {"prune=none;recover=2M;type=Q8_0", "give prune="},
        {"prune=75%;recover=-5;type=Q8_0", "recover '-5'"},
        {"prune=75%;recover=2G;type=Q8_0", "recover '2G'"},
        {"prune=75%;recover=1.5;type=Q8_0", "recover '1.5'"},
        {"prune=75%;recover=2M,2000k;type=Q8_0", "given twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        grid g;
        err_clear();
        int rc = grid_parse(&g, bad[i].spec, c);
        EXPECT(rc == ERR_ARG && strstr(err_msg(), bad[i].frag) && strstr(err_msg(), "--grid") && g.n == 0 && !g.pts,
               "'%s': rc %d, message '%s' should hold '%s'", bad[i].spec, rc, err_msg(), bad[i].frag);
        grid_free(&g);
    }
    // GRID_MAX_POINTS: 5 methods x 52 bpw values
    char spec[1024] = "method=rtn,imatrix,gptq,awq,awq+gptq;bpw=";
    for (int i = 0; i < 52; i++) snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%s%.2f", i ? "," : "", 2.0 + 0.05 * i);
    grid g;
    err_clear();
    EXPECT(grid_parse(&g, spec, c) == ERR_ARG && strstr(err_msg(), "260 points"), "too many points: %s", err_msg());
    grid_free(&g);
    err_clear();
    printf("grid: %zu bad specs ... done\n", sizeof bad / sizeof bad[0]);
}

// --- pareto

static void test_front(void) {
    int f[8];
    double s1[] = {1, 2, 3, 4}, e1[] = {5, 3, 4, 1};
    pareto_front(s1, e1, 4, f);
    EXPECT(f[0] && f[1] && !f[2] && f[3], "dominated point: front %d%d%d%d, expected 1101", f[0], f[1], f[2], f[3]);
    double s2[] = {2, 2, 2, 3}, e2[] = {1, 1, 2, 1};  // two identical points; one as large and worse; one larger and as good
    pareto_front(s2, e2, 4, f);
    EXPECT(f[0] && f[1] && !f[2] && !f[3], "ties: front %d%d%d%d, expected 1100", f[0], f[1], f[2], f[3]);
    double s3[] = {7}, e3[] = {-0.5};
    pareto_front(s3, e3, 1, f);
    EXPECT(f[0], "a single point is on the front");
    double s4[] = {1, 2, 3}, e4[] = {NAN, 2, 1};  // NaN neither on the front nor dominating
    pareto_front(s4, e4, 3, f);
    EXPECT(!f[0] && f[1] && f[2], "non-finite: front %d%d%d, expected 011", f[0], f[1], f[2]);
    double s5[] = {4, 3, 2, 1}, e5[] = {-1, 0, 0.5, 3};  // all on the front, negative Δppl included
    pareto_front(s5, e5, 4, f);
    EXPECT(f[0] && f[1] && f[2] && f[3], "a strictly trading-off set is all on the front");
    double s6[] = {6451168, 6451328, 4770000}, e6[] = {0.36, 0.09, 4.2};  // metadata bytes apart: the same size
    pareto_front(s6, e6, 3, f);
    EXPECT(!f[0] && f[1] && f[2], "sizes within PARETO_SIZE_TIE: the worse one is dominated: %d%d%d", f[0], f[1], f[2]);
    double s7[] = {1000, 1002}, e7[] = {0.5, 0.4};  // 0.2% apart: a real trade-off
    pareto_front(s7, e7, 2, f);
    EXPECT(f[0] && f[1], "sizes 0.2%% apart both on the front");
    printf("pareto: front ... done\n");
}

static void test_choose(void) {
    pareto_item it[] = {
        {6e6, 0.6, 0.008},  // 0
        {4e6, 2.5, 0.02},   // 1
        {5e6, 2.0, 0.01},   // 2: exactly on both bounds below
        {5e6, 1.9, 0.01},   // 3: same size as 2, lower dppl
        {3e6, NAN, 0.5},    // 4: not measured
    };
    EXPECT(pareto_choose(it, 5, 2.0, NAN) == 3, "met: the smallest within 2%% (tie on size to the lower dppl): %d",
           pareto_choose(it, 5, 2.0, NAN));
    EXPECT(pareto_choose(it, 3, 2.0, 0.01) == 2, "boundary equality meets the bound: %d", pareto_choose(it, 3, 2.0, 0.01));
    EXPECT(pareto_choose(it, 3, 1.9999, NAN) == 0, "just under the boundary: %d", pareto_choose(it, 3, 1.9999, NAN));
    EXPECT(pareto_choose(it, 5, 3, 0.009) == 0, "the KL bound excludes the smaller ones: %d", pareto_choose(it, 5, 3, 0.009));
    EXPECT(pareto_choose(it, 5, NAN, NAN) == 1, "no bound: the smallest with numbers: %d", pareto_choose(it, 5, NAN, NAN));
    EXPECT(pareto_choose(it, 5, 0.5, NAN) == -1, "none met");
    // closest: excess relative to the bound, the worse of the two metrics
    EXPECT(pareto_closest(it, 5, 0.5, NAN) == 0, "closest to Δppl ≤ 0.5%%: %d", pareto_closest(it, 5, 0.5, NAN));
    pareto_item jt[] = {{3e6, 3.0, 0.001}, {4e6, 1.0, 0.05}, {2e6, 3.0, 0.001}};
    // bounds 2% and 0.01: excess 0.5 (Δppl) for 0 and 2, 4 (KL) for 1; 0 and 2 tie: the smaller
    EXPECT(pareto_closest(jt, 2, 2, 0.01) == 0, "closest: the least worst excess: %d", pareto_closest(jt, 2, 2, 0.01));
    EXPECT(pareto_closest(jt, 3, 2, 0.01) == 2, "closest: a tie goes to the smaller: %d", pareto_closest(jt, 3, 2, 0.01));
    EXPECT(pareto_choose(jt, 3, 2, NAN) == 1, "only the Δppl bound: 1 meets it");
    EXPECT(pareto_choose(it, 0, 2, NAN) == -1 && pareto_closest(it, 0, 2, NAN) == -1, "no items");
    pareto_item kt[] = {{6451168, 0.36, 0.0046}, {6451328, 0.09, 0.0033}, {6451100, 1.5, 0.01}, {6460000, 0.01, 0.001}};
    EXPECT(pareto_choose(kt, 4, 2, NAN) == 1, "sizes within the tie: the best of them, not the fewest bytes: %d",
           pareto_choose(kt, 4, 2, NAN));
    EXPECT(pareto_choose(kt, 4, 0.05, NAN) == 3, "0.14%% larger is larger: chosen only when the others fail: %d",
           pareto_choose(kt, 4, 0.05, NAN));
    printf("pareto: choice ... done\n");
}

// --- one sweep on the tiny checkpoint

static int count_suffix(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name), k = strlen(suffix);
        n += l >= k && strcmp(e->d_name + l - k, suffix) == 0;
    }
    closedir(d);
    return n;
}

static char *read_text(const char *dir, const char *name) {
    char *path = path_join(dir, name), *text = NULL;
    size_t len;
    if (file_read_all(path, &text, &len)) text = NULL;
    free(path);
    return text;
}

static void test_end_to_end(const gpt2_config *c) {
    char dir[] = "/tmp/shrink_test_sweep.XXXXXX";
    if (!mkdtemp(dir)) {
        EXPECT(0, "mkdtemp failed");
        return;
    }
    char out[600], points[700];
    snprintf(out, sizeof out, "%s/sweep", dir);
    snprintf(points, sizeof points, "%s/points", out);
    grid g;
    EXPECT(grid_parse(&g, "method=rtn,imatrix;type=Q8_0,Q4_0", c) == 0 && g.n == 4, "grid: %s", err_msg());
    // held-out text and calibration windows: fixed pseudo-random ids (no tokenizer in tiny)
    size_t n_ids = 300;
    int *ids = xmalloc(n_ids * sizeof *ids);
    unsigned s = 12345;
    for (size_t i = 0; i < n_ids; i++) s = s * 1103515245u + 12345u, ids[i] = (int)((s >> 16) % (unsigned)c->vocab_size);
    calib_set cs = {xmalloc(2 * 64 * sizeof(int)), 2, 64};
    for (int i = 0; i < 128; i++) cs.ids[i] = ids[(size_t)i * 2 % n_ids];
    sweep_opts o = {0};
    o.original = tiny_dir;
    o.dir = out;
    o.grid_spec = "method=rtn,imatrix;type=Q8_0,Q4_0";
    o.g = &g;
    o.calib = &cs;
    o.calib_path = "(synthetic)";
    o.heldout_path = "(synthetic)";
    o.ids = ids;
    o.n_ids = n_ids;
    o.ctx = 64;
    o.stride = 32;
    o.max_dppl = 2;
    o.max_kl = NAN;
    o.threads = 1;

    sweep_result r;
    int rc = sweep_run(&o, &r);
    EXPECT(rc == 0, "first run: %s", err_msg());
    EXPECT(r.n == 4 && r.n_run == 4 && r.n_skipped == 0, "first run: %d points, %d run, %d skipped", r.n, r.n_run, r.n_skipped);
    EXPECT(count_suffix(points, ".gguf") == 4 && count_suffix(points, ".json") == 4, "points/: 4 gguf and 4 json");
    EXPECT(count_suffix(points, ".tmp") == 0 && count_suffix(out, ".tmp") == 0, "no temp files left");
    double dppl[4] = {0}, bytes[4] = {0};
    for (int i = 0; i < r.n && i < 4; i++) {
        dppl[i] = r.rows[i].dppl_pct, bytes[i] = r.rows[i].file_bytes;
        EXPECT(isfinite(r.rows[i].dppl_pct) && r.rows[i].kl_mean >= 0 && r.rows[i].top1 > 0 && r.rows[i].top1 <= 1 &&
                   r.rows[i].file_bytes > 0 && r.rows[i].bits_per_param > 0,
               "%s: numbers (dppl %g, kl %g, top1 %g, bytes %g)", r.rows[i].pt.name, r.rows[i].dppl_pct, r.rows[i].kl_mean,
               r.rows[i].top1, r.rows[i].file_bytes);
    }
    if (r.n == 4) {
        EXPECT(r.rows[1].file_bytes < r.rows[0].file_bytes, "Q4_0 is smaller than Q8_0");
        EXPECT(r.rows[0].kl_mean < r.rows[1].kl_mean, "Q8_0 is closer to the original than Q4_0 (KL %g vs %g)",
               r.rows[0].kl_mean, r.rows[1].kl_mean);
        EXPECT(r.original.file_bytes > r.rows[0].file_bytes && r.original.front_kl, "the original: largest, on the KL front");
        printf("tiny sweep: %s %.0f B dppl %+.3f%% kl %.3g | %s %.0f B dppl %+.3f%% kl %.3g (%.2f s)\n", r.rows[0].pt.name,
               r.rows[0].file_bytes, r.rows[0].dppl_pct, r.rows[0].kl_mean, r.rows[1].pt.name, r.rows[1].file_bytes,
               r.rows[1].dppl_pct, r.rows[1].kl_mean, r.seconds);
    }
    char *md = read_text(out, "sweep.md"), *js = read_text(out, "sweep.json"), *svg = read_text(out, "pareto.svg");
    EXPECT(md && strstr(md, "| *original* |") && strstr(md, "rtn-Q4_0") && strstr(md, "4 compressed, 0 skipped"),
           "sweep.md: the original's row, the points, the run's counts");
    EXPECT(md && (strstr(md, "**Smallest meeting Δppl ≤ 2%: ") || strstr(md, "**None meets Δppl ≤ 2%")), "sweep.md: the choice");
    EXPECT(js && strstr(js, "\"frontier_kl\"") && strstr(js, "\"imatrix-Q4_0\""), "sweep.json: frontier and points");
    EXPECT(svg && strstr(svg, "<svg") && strstr(svg, "bound: Δppl ≤ 2%") && !strstr(svg, "nan"), "pareto.svg: the bound line");
    char *md1 = md;
    free(js), free(svg);
    sweep_result_free(&r);

    // Again: every point done, nothing recomputed, the same numbers.
    rc = sweep_run(&o, &r);
    EXPECT(rc == 0 && r.n_run == 0 && r.n_skipped == 4, "second run: rc %d, %d run, %d skipped (%s)", rc, r.n_run, r.n_skipped, err_msg());
    for (int i = 0; i < r.n && i < 4; i++)
        EXPECT(r.rows[i].skipped && r.rows[i].dppl_pct == dppl[i] && r.rows[i].file_bytes == bytes[i],
               "%s: read back as written", r.rows[i].pt.name);
    md = read_text(out, "sweep.md");
    EXPECT(md && strstr(md, "0 compressed, 4 skipped"), "second sweep.md says the points were skipped");
    // Apart from the run's line, the report is the same as the first run's.
    const char *t1 = md1 ? strstr(md1, "**") : NULL, *t2 = md ? strstr(md, "**") : NULL;
    const char *e1 = t1 ? strstr(t1, "\n\nCommand") : NULL;
    EXPECT(t1 && t2 && (e1 ? strncmp(t1, t2, (size_t)(e1 - t1)) == 0 : strcmp(t1, t2) == 0),
           "resumed sweep.md table equals the first run's");
    free(md), free(md1);
    sweep_result_free(&r);

    // A point whose json is gone is redone; the others are kept.
    char path[800];
    snprintf(path, sizeof path, "%s/rtn-Q4_0.json", points);
    unlink(path);
    rc = sweep_run(&o, &r);
    EXPECT(rc == 0 && r.n_run == 1 && r.n_skipped == 3 && !r.rows[1].skipped, "json removed: redone (%d run)", r.n_run);
    sweep_result_free(&r);

    // Different windows: the done points do not match this run, which stops before any work.
    o.stride = 16;
    err_clear();
    rc = sweep_run(&o, &r);
    EXPECT(rc == ERR_ARG && strstr(err_msg(), "stride") && strstr(err_msg(), "rtn-Q8_0.json"), "stale point: %s", err_msg());
    sweep_result_free(&r);
    o.stride = 32;

    // The same number of held-out tokens, but other ones: stopped too.
    ids[7] = (ids[7] + 1) % c->vocab_size;
    err_clear();
    rc = sweep_run(&o, &r);
    EXPECT(rc == ERR_ARG && strstr(err_msg(), "other held-out text"), "other held-out ids: %s", err_msg());
    sweep_result_free(&r);
    ids[7] = (ids[7] + c->vocab_size - 1) % c->vocab_size;
    // Other calibration text: the calibrated points are stale.
    o.calib_fnv = 42;
    err_clear();
    rc = sweep_run(&o, &r);
    EXPECT(rc == ERR_ARG && strstr(err_msg(), "other calibration text") && strstr(err_msg(), "imatrix-"), "other calibration: %s",
           err_msg());
    sweep_result_free(&r);
    o.calib_fnv = 0;

    // The output directory must be a directory.
    char afile[700];
    snprintf(afile, sizeof afile, "%s/afile", dir);
    FILE *f = fopen(afile, "w");
    if (f) fclose(f);
    err_clear();
    EXPECT(sweep_check_dir(afile) == ERR_IO && strstr(err_msg(), "not a directory"), "-o a file: %s", err_msg());
    snprintf(path, sizeof path, "%s/sub", afile);
    err_clear();
    o.dir = path;
    EXPECT(sweep_run(&o, &r) == ERR_IO && strstr(err_msg(), afile), "-o under a file: %s", err_msg());
    sweep_result_free(&r);
    err_clear();

    grid_free(&g);
    calib_free(&cs);
    free(ids);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    EXPECT(system(cmd) == 0, "cleanup of %s", dir);
}

int main(void) {
    snprintf(tiny_dir, sizeof tiny_dir, "%s/testdata/oracle/tiny", shared_dir());
    gpt2_config c;
    if (load_config(tiny_dir, &c)) {
        fprintf(stderr, "test_sweep: %s\n", err_msg());
        return 1;
    }
    test_grid_good(&c);
    test_grid_bad(&c);
    test_front();
    test_choose();
    test_end_to_end(&c);
    return TEST_DONE();
}
