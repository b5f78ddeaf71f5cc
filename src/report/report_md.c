// report_md.c: report.md: summary table, conclusions and the rules that produced them,
// then one section per measurement (size, speed, memory, quality, generations), each
// stating its protocol next to its table and embedding its plot. Text only, no I/O.
#include "report.h"
#include "fmt.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

// The perplexity protocol, as `shrink eval` states it.
#define PPL_PROTOCOL                                                                                   \
    "ids = encode(whole file), nothing prepended; windows of ctx tokens start at 0 and advance by "    \
    "stride (the last may be shorter); window [b,e) scores each position p, b < p < e, not scored "    \
    "by an earlier window, with the logits at p-1 (the file's first token is never scored); "          \
    "ppl = exp(mean NLL over scored tokens); bits/byte = total NLL / ln 2 / UTF-8 bytes of the scored tokens"

// --- helpers

static void cell(sbuf *md, const char *s) {
    sbuf_puts(md, " ");
    fmt_md_cell(md, s);
    sbuf_puts(md, " |");
}

static const char *verdict_name(const report *r, int i) {
    if (i == 0) return "original";
    const rules_result *x = &r->rres[i - 1];
    if (r->rsum.best == i - 1) return "**best trade-off** (R1, R3)";
    return x->verdict == RULES_CLOSE ? "close (R1)" : x->verdict == RULES_BROKE ? "broke (R2)" : "costly";
}

// "19,376 (19,047–19,392)"
static const char *speed_cell(const speed_stat *s, char *buf) {
    char a[FMT_LEN], b[FMT_LEN], c[FMT_LEN];
    snprintf(buf, 3 * FMT_LEN, "%s (%s–%s)", fmt_sig(s->median, 3, a), fmt_sig(s->min, 3, b), fmt_sig(s->max, 3, c));
    return buf;
}

// A fence longer than any backtick run in s (at least 3).
static int fence_len(const char *s) {
    int run = 0, best = 0;
    for (; *s; s++) {
        run = *s == '`' ? run + 1 : 0;
        if (run > best) best = run;
    }
    return best >= 3 ? best + 1 : 3;
}

// --- sections

static void header(const report *r, sbuf *md) {
    char a[FMT_LEN];
    sbuf_printf(md, "# Compression report: %s\n\n", r->models[0].label);
    sbuf_printf(md, "The original `%s` and %d compressed model%s, measured in one run on one machine: %s, %d logical CPUs, "
                    "%d thread%s, %s kernels, %s (UTC); the measuring took %s s. Every number in this file is in "
                    "`report.json`, with more digits.\n\n",
                r->models[0].path, r->n_models - 1, r->n_models == 2 ? "" : "s", r->cpu, r->logical_cpus, r->set.threads,
                r->set.threads == 1 ? "" : "s", r->kernels ? r->kernels : "?", r->created, fmt_sig(r->seconds, 3, a));
    if (isfinite(r->other_cpus))
        sbuf_printf(md, "Other processes used %.2f logical CPUs on average while this report measured (1-minute load "
                        "average %.2f at the start, %.2f at the end, this report included)%s.\n\n",
                    r->other_cpus, r->load_start, r->load_end, r->rsum.busy ? ": **the machine was busy, see R9**" : "");
    if (r->command) sbuf_printf(md, "```sh\n%s\n```\n\n", r->command);
}

static void summary(const report *r, sbuf *md) {
    char a[FMT_LEN], b[FMT_LEN];
    const report_model *o = &r->models[0];
    sbuf_puts(md, "## Summary\n\n");
    int lam = o->has_lambada;
    sbuf_printf(md, "| model | weights file | vs original | bits/weight | Δppl | mean KL | top-1 |%s generation tok/s | speedup | "
                    "peak memory | verdict |\n|---|---:|---:|---:|---:|---:|---:|%s---:|---:|---:|---|\n",
                lam ? " LAMBADA |" : "", lam ? "---:|" : "");
    for (int i = 0; i < r->n_models; i++) {
        const report_model *m = &r->models[i];
        sbuf_puts(md, "|");
        cell(md, m->label);
        cell(md, fmt_mb(m->file_bytes, a));
        cell(md, i ? fmt_pct_signed(100 * (m->file_bytes / o->file_bytes - 1), a) : "");
        cell(md, fmt_sig(m->bits_per_weight, 3, a));
        cell(md, i ? fmt_pct_signed(m->dppl_pct, a) : "");
        cell(md, i ? fmt_sig(m->kl_mean, 3, a) : "");
        cell(md, i ? fmt_pct(100 * m->top1, 1, a) : "");
        if (lam) cell(md, fmt_pct(100 * m->lambada_acc, 1, a));
        cell(md, fmt_sig(m->tg.median, 3, a));
        cell(md, i ? fmt_speedup(m->tg.median / o->tg.median, a) : "");
        cell(md, fmt_mb(m->peak_rss_bytes, b));
        sbuf_printf(md, " %s |\n", verdict_name(r, i));
    }
    sbuf_printf(md, "\nΔppl, KL and top-1 are against the original on `%s`; generation is tg%d (tokens/s, median of %d); peak "
                    "memory is the resident set of a process that loads the model and generates. Each is defined in its "
                    "section below.\n\n",
                r->set.heldout, r->set.tg, r->set.reps);
}

static void conclusions(const report *r, sbuf *md) {
    sbuf_puts(md, "## Conclusions\n\n");
    report_conclusions(r, 1, md);
    sbuf_puts(md, "\n### The rules behind them\n\nThe conclusions above are produced by these rules and nothing else "
                  "(thresholds from one table in `src/report/rules.c`):\n\n");
    rules_describe(&r->rules, md);
    sbuf_puts(md, "\n");
}

// "v (every block)" when all n are equal, else "v0/v1/...".
static void per_block(sbuf *md, const int *v, int n) {
    int same = 1;
    for (int i = 1; i < n; i++) same &= v[i] == v[0];
    if (same) {
        sbuf_printf(md, " %d (every block) |", n ? v[0] : 0);
        return;
    }
    for (int i = 0; i < n; i++) sbuf_printf(md, "%s%d", i ? "/" : " ", v[i]);
    sbuf_puts(md, " |");
}

// Blocks, heads and MLP widths of every model: what pruning removed.
static void arch_table(const report *r, sbuf *md) {
    int differ = 0;
    for (int i = 1; i < r->n_models; i++) {
        const report_model *m = &r->models[i], *o = &r->models[0];
        differ |= m->n_layer != o->n_layer || m->lowrank;
        for (int l = 0; !differ && l < m->n_layer; l++) differ |= m->heads[l] != o->heads[l] || m->ffn[l] != o->ffn[l];
    }
    if (!differ) return;  // quantization alone keeps the architecture: nothing to show
    sbuf_puts(md, "\nArchitecture (pruned models keep fewer blocks, heads or MLP neurons; per block in order):\n\n"
                  "| model | blocks | heads per block | MLP width per block | low-rank linears |\n|---|---:|---|---|---:|\n");
    for (int i = 0; i < r->n_models; i++) {
        const report_model *m = &r->models[i];
        sbuf_puts(md, "|");
        cell(md, m->label);
        sbuf_printf(md, " %d |", m->n_layer);
        per_block(md, m->heads, m->n_layer);
        per_block(md, m->ffn, m->n_layer);
        sbuf_printf(md, " %d |\n", m->lowrank);
    }
}

static void size_section(const report *r, sbuf *md) {
    char a[FMT_LEN], b[FMT_LEN], c[FMT_LEN];
    const report_model *o = &r->models[0];
    sbuf_puts(md, "## Size\n\n");
    sbuf_puts(md, "Bytes of the weights file only: `model.safetensors` (all shards) of a Hugging Face directory, or the "
                  "`.gguf` file; a directory's tokenizer and config files are not counted. A GGUF file carries its tokenizer "
                  "and metadata inside (counted: they are in the file, shown as *other* below) and stores `output.weight` "
                  "even when the LM head is tied to the token embedding, as llama.cpp requires. Parameters are unique "
                  "parameters as `shrink info` counts them (a tied LM head once, mask buffers not at all); bits/weight = "
                  "file bytes × 8 / parameters. 1 MB = 10⁶ bytes.\n\n");
    sbuf_puts(md, "| model | file bytes | size | reduction | reduction % | parameters | Δ parameters | bits/weight | tensor data | "
                  "other |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < r->n_models; i++) {
        const report_model *m = &r->models[i];
        sbuf_puts(md, "|");
        cell(md, m->label);
        cell(md, fmt_int((long long)m->file_bytes, a));
        cell(md, fmt_mb(m->file_bytes, a));
        if (i) {
            snprintf(c, sizeof c, "%s MB", fmt_sig((o->file_bytes - m->file_bytes) / 1e6, 3, b));
            cell(md, c);
            cell(md, fmt_pct_signed(100 * (m->file_bytes / o->file_bytes - 1), a));
        } else {
            cell(md, "");
            cell(md, "");
        }
        cell(md, fmt_int((long long)m->params, a));
        cell(md, i ? fmt_pct_signed(100 * (m->params / o->params - 1), a) : "");
        cell(md, fmt_sig(m->bits_per_weight, 3, a));
        cell(md, fmt_mb(m->tensor_bytes, a));
        cell(md, fmt_mb(m->file_bytes - m->tensor_bytes, a));
        sbuf_puts(md, "\n");
    }
    arch_table(r, md);
    sbuf_printf(md, "\n![Weights file by storage type](%s)\n\n", REPORT_SVG_BREAKDOWN);
    // per type, per model
    sbuf_puts(md, "Stored parameters per type (bits/weight of a type = its bytes × 8 / its parameters, block scales "
                  "included):\n\n| model | type | parameters | bytes | share of tensor data | bits/weight |\n"
                  "|---|---|---:|---:|---:|---:|\n");
    for (int i = 0; i < r->n_models; i++) {
        const report_model *m = &r->models[i];
        for (int k = 0; k < m->n_types; k++) {
            const report_type_bytes *t = &m->types[k];
            sbuf_puts(md, "|");
            cell(md, k == 0 ? m->label : "");
            cell(md, t->type);
            cell(md, fmt_int((long long)t->params, a));
            cell(md, fmt_mb(t->bytes, a));
            cell(md, fmt_pct(m->tensor_bytes > 0 ? 100 * t->bytes / m->tensor_bytes : NAN, 1, a));
            cell(md, fmt_sig(t->params > 0 ? 8 * t->bytes / t->params : NAN, 3, a));
            sbuf_puts(md, "\n");
        }
    }
    sbuf_puts(md, "\n");
    // GGUF files store output.weight even for a tied head: say so once, naming the files
    int n_out = 0;
    double out_params = 0;
    for (int i = 0; i < r->n_models; i++) {
        const report_model *m = &r->models[i];
        double stored = 0, out = 0;
        for (int k = 0; k < m->n_types; k++) stored += m->types[k].params;
        for (int g = 0; g < m->n_groups; g++)
            if (strcmp(m->groups[g].name, "output.weight") == 0) out += m->groups[g].params;
        if (out > 0 && fabs(stored - m->params - out) < 0.5) {
            sbuf_puts(md, n_out ? ", " : "Stored elements exceed unique parameters in ");
            sbuf_printf(md, "**%s**", m->label);
            n_out++;
            out_params = out;
        }
    }
    if (n_out)
        sbuf_printf(md, " by exactly `output.weight` (%s elements): a GGUF file stores it although the LM head is tied to the "
                        "token embedding (llama.cpp requires it), so its bytes count in the file and in bits/weight.\n\n",
                    fmt_int((long long)out_params, a));
    // per tensor, for mixed-precision files
    for (int i = 0; i < r->n_models; i++) {
        const report_model *m = &r->models[i];
        if (!m->mixed) continue;
        sbuf_printf(md, "Tensors of **%s** (mixed precision; `blk.*` sums the layers):\n\n"
                        "| tensor | type | tensors | parameters | bytes | bits/weight |\n|---|---|---:|---:|---:|---:|\n", m->label);
        double vp = 0, vb = 0;
        int vn = 0;
        const char *vtype = NULL;
        for (int g = 0; g < m->n_groups; g++) {
            const report_group *x = &m->groups[g];
            if (!x->matrix) {
                vp += x->params, vb += x->bytes, vn += x->count;
                vtype = !vtype || strcmp(vtype, x->type) == 0 ? x->type : "mixed";
                continue;
            }
            sbuf_puts(md, "|");
            cell(md, x->name);
            cell(md, x->type);
            snprintf(c, sizeof c, "%d", x->count);
            cell(md, c);
            cell(md, fmt_int((long long)x->params, a));
            cell(md, fmt_bytes(x->bytes, a));
            cell(md, fmt_sig(8 * x->bytes / x->params, 3, b));
            sbuf_puts(md, "\n");
        }
        if (vn) {
            char d[FMT_LEN];
            sbuf_printf(md, "| norms and biases (1-D) | %s | %d | %s | %s | %s |\n", vtype, vn, fmt_int((long long)vp, a), fmt_bytes(vb, b),
                        fmt_sig(vp > 0 ? 8 * vb / vp : NAN, 3, d));
        }
        char name[128];
        report_tensor_plot_name(m, name, sizeof name);
        sbuf_printf(md, "\n![%s: bytes per tensor by storage type](%s)\n\n", m->label, name);
    }
}

static void speed_section(const report *r, sbuf *md) {
    char a[FMT_LEN], b[FMT_LEN], c[FMT_LEN], big[3 * FMT_LEN];
    const report_model *o = &r->models[0];
    const report_settings *s = &r->set;
    sbuf_puts(md, "## Speed\n\n");
    sbuf_printf(md, "Two tests, as llama-bench runs them: **pp%d**, one batched forward pass over a %d-token prompt into an empty "
                    "cache (its time is the \"average inference time\" of one forward pass over a fixed-length prompt), and "
                    "**tg%d**, %d tokens generated one at a time from an empty cache. Each model: one untimed warm-up, then %d "
                    "timed repeats; median with min–max; %d thread%s, %s kernels; token ids are a fixed pseudo-random sequence "
                    "(speed does not depend on them). Speedup = the model's median over the original's. Models are measured "
                    "one after another, so a busy machine moves all of them.\n\n",
                s->pp, s->pp, s->tg, s->tg, s->reps, s->threads, s->threads == 1 ? "" : "s", r->kernels ? r->kernels : "?");
    sbuf_printf(md, "| model | forward pass, pp%d (ms) | prompt tok/s | speedup | generation tok/s | speedup |\n"
                    "|---|---:|---:|---:|---:|---:|\n", s->pp);
    for (int i = 0; i < r->n_models; i++) {
        const report_model *m = &r->models[i];
        sbuf_puts(md, "|");
        cell(md, m->label);
        snprintf(big, sizeof big, "%s (%s–%s)", fmt_sig(m->forward_ms_median, 3, a), fmt_sig(m->forward_ms_min, 3, b),
                 fmt_sig(m->forward_ms_max, 3, c));
        cell(md, big);
        cell(md, speed_cell(&m->pp, big));
        cell(md, i ? fmt_speedup(m->pp.median / o->pp.median, a) : "");
        cell(md, speed_cell(&m->tg, big));
        cell(md, i ? fmt_speedup(m->tg.median / o->tg.median, a) : "");
        sbuf_puts(md, "\n");
    }
    sbuf_printf(md, "\n![Speed vs size](%s)\n\n", REPORT_SVG_SPEED);
}

static void memory_section(const report *r, sbuf *md) {
    char a[FMT_LEN], b[FMT_LEN];
    const report_model *o = &r->models[0];
    sbuf_puts(md, "## Memory\n\n");
    sbuf_printf(md, "Peak resident set size (`getrusage` `ru_maxrss`) of a child process that loads the model and generates "
                    "%d tokens from the first prompt. Each model gets its own child, started before the report loads any "
                    "model itself, so models do not inflate each other's figure. The figure is the whole process: the "
                    "program, the tokenizer, the weights as loaded (a GGUF file is read and its tensors copied) and the KV "
                    "cache; the child's size when it started is given for scale.\n\n",
                r->set.gen_tokens);
    sbuf_puts(md, "| model | peak memory | vs original | child at start |\n|---|---:|---:|---:|\n");
    for (int i = 0; i < r->n_models; i++) {
        const report_model *m = &r->models[i];
        sbuf_puts(md, "|");
        cell(md, m->label);
        cell(md, fmt_mb(m->peak_rss_bytes, a));
        cell(md, i ? fmt_pct_signed(100 * (m->peak_rss_bytes / o->peak_rss_bytes - 1), a) : "");
        cell(md, fmt_mb(m->start_rss_bytes, b));
        sbuf_puts(md, "\n");
    }
    sbuf_puts(md, "\n");
}

static void quality_section(const report *r, sbuf *md) {
    char a[FMT_LEN], b[FMT_LEN];
    const report_model *o = &r->models[0];
    sbuf_puts(md, "## Quality\n\n");
    sbuf_printf(md, "Perplexity of `%s` (%s tokens scored in %d windows, ctx %d, stride %d). Protocol: %s. Every compressed model "
                    "scores exactly the original's positions; at each, KL(P_original ‖ P_model) of the next-token "
                    "distributions (nats/token: mean, 99th percentile, max) and whether their most likely tokens agree "
                    "(top-1). Δppl = 100 · (ppl_model / ppl_original − 1).\n\n",
                r->set.heldout, fmt_int(o->ppl.tokens, a), o->ppl.windows, o->ppl.ctx, o->ppl.stride, PPL_PROTOCOL);
    sbuf_puts(md, "| model | perplexity | Δppl | nats/token | bits/byte | mean KL | p99 KL | max KL | top-1 |\n"
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < r->n_models; i++) {
        const report_model *m = &r->models[i];
        sbuf_puts(md, "|");
        cell(md, m->label);
        cell(md, fmt_sig(m->ppl.ppl, 4, a));
        cell(md, i ? fmt_pct_signed(m->dppl_pct, a) : "");
        cell(md, fmt_fixed(m->ppl.nll, 4, a));
        cell(md, fmt_fixed(m->ppl.bpb, 4, a));
        cell(md, i ? fmt_sig(m->kl_mean, 3, a) : "");
        cell(md, i ? fmt_sig(m->kl_p99, 3, a) : "");
        cell(md, i ? fmt_sig(m->kl_max, 3, a) : "");
        cell(md, i ? fmt_pct(100 * m->top1, 1, a) : "");
        sbuf_puts(md, "\n");
    }
    sbuf_printf(md, "\n![Quality vs size](%s)\n\n", REPORT_SVG_QUALITY);
    if (o->has_lambada) {
        sbuf_printf(md, "LAMBADA (`%s`, %d passages): the last word predicted greedily, every one of its tokens right "
                        "(lm-evaluation-harness's lambada_openai protocol; `src/eval/lambada.c` states it).\n\n"
                        "| model | accuracy | Δ points | correct | LAMBADA perplexity |\n|---|---:|---:|---:|---:|\n",
                    r->set.lambada, o->lambada_n);
        for (int i = 0; i < r->n_models; i++) {
            const report_model *m = &r->models[i];
            sbuf_puts(md, "|");
            cell(md, m->label);
            cell(md, fmt_pct(100 * m->lambada_acc, 2, a));
            if (i) {
                cell(md, fmt_signed(100 * (m->lambada_acc - o->lambada_acc), 2, a));
            } else {
                cell(md, "");
            }
            snprintf(b, sizeof b, "%d / %d", m->lambada_correct, m->lambada_n);
            cell(md, b);
            cell(md, fmt_sig(m->lambada_ppl, 4, a));
            sbuf_puts(md, "\n");
        }
        sbuf_puts(md, "\n");
    }
}

// Repetition of many sampled continuations per model, and the rule that calls text collapsed.
static void collapse_section(const report *r, sbuf *md) {
    const report_settings *s = &r->set;
    if (s->collapse_prompts <= 0) return;
    sbuf_puts(md, "## Text collapse\n\n");
    sbuf_printf(md, "Every model continues the same %d passages of the held-out text (%d tokens each, evenly spaced) by "
                    "%d tokens, sampled as the generations below (passage k with seed %llu + k). Per continuation: the share "
                    "of its 4-grams that repeat an earlier one (*rep-4*), its longest span that occurs twice, and the share of "
                    "its tokens and bigrams that are distinct (*distinct-1/2*); means over the continuations. **Collapsed** means rep-4 "
                    "more than %.2f above the original's and more than %.0f× it: the looping text a reader sees at once.\n\n",
                s->collapse_prompts, 16, s->collapse_tokens, s->seed, REP_COLLAPSE_MARGIN, REP_COLLAPSE_RATIO);
    sbuf_puts(md, "| model | rep-4 | longest repeat (mean / max tokens) | distinct-1 | distinct-2 | collapsed |\n"
                  "|---|---:|---:|---:|---:|---|\n");
    for (int i = 0; i < r->n_models; i++) {
        const report_model *m = &r->models[i];
        sbuf_printf(md, "| %s | %.3f | %.1f / %d | %.3f | %.3f | %s |\n", m->label, m->rep.rep4, m->rep.longest,
                    m->rep.longest_max, m->rep.distinct1, m->rep.distinct2, i == 0 ? "(original)" : m->collapsed ? "**yes**" : "no");
    }
    sbuf_puts(md, "\n");
}

static void generation_section(const report *r, sbuf *md) {
    const report_settings *s = &r->set;
    sbuf_puts(md, "## Text generation\n\n");
    sbuf_printf(md, "Every model continues the same prompts with the same settings: at most %d new tokens (stopping at "
                    "`<|endoftext|>`), temperature %g, top-k %d, top-p %g, seed %llu. Same seed, same sampler: differences come "
                    "from the models' distributions.\n\n",
                s->gen_tokens, (double)s->temp, s->top_k, (double)s->top_p, s->seed);
    for (int p = 0; p < s->n_prompts; p++) {
        sbuf_printf(md, "### Prompt %d: \"", p + 1);
        fmt_md_cell(md, s->prompts[p]);
        sbuf_puts(md, "\"\n\n");
        for (int i = 0; i < r->n_models; i++) {
            const report_model *m = &r->models[i];
            const char *t = m->gen_text[p] ? m->gen_text[p] : "";
            int f = fence_len(t) > fence_len(s->prompts[p]) ? fence_len(t) : fence_len(s->prompts[p]);
            sbuf_printf(md, "**%s** (%d tokens)\n\n", m->label, m->gen_tokens[p]);
            for (int k = 0; k < f; k++) sbuf_puts(md, "`");
            sbuf_printf(md, "text\n%s%s\n", s->prompts[p], t);
            for (int k = 0; k < f; k++) sbuf_puts(md, "`");
            sbuf_puts(md, "\n\n");
        }
    }
}

void report_markdown(const report *r, sbuf *md) {
    header(r, md);
    summary(r, md);
    conclusions(r, md);
    size_section(r, md);
    speed_section(r, md);
    memory_section(r, md);
    quality_section(r, md);
    collapse_section(r, md);
    generation_section(r, md);
}
