// test_compress.c: quantization plans (presets, overrides, fallbacks), quantize → GGUF →
// load end to end, agreement metrics, and byte identity with llama.cpp's own quantized
// files of the bundled model (../shared/testdata/gguf), tensor by tensor.
#include "harness.h"
#include "compress/plan.h"
#include "core/err.h"
#include "core/xalloc.h"
#include "eval/eval.h"
#include "formats/gguf.h"
#include "modelfile/modelfile.h"
#include <string.h>
#include <unistd.h>

static const gpt2_config *plan_cfg;  // the shape mat_type indexes
static qtype mat_type(const gpt2_plan *p, int l, int k) { return p->types[gpt2_mat_index(plan_cfg, l, k, 0)]; }
static qtype embd_type(const gpt2_plan *p) { return p->types[p->n - 2]; }
static qtype head_type(const gpt2_plan *p) { return p->types[p->n - 1]; }

static void test_presets(void) {
    // GPT-2 124M shape: Q4_K_M gives attn_qkv Q5_K and ffn_down Q6_K in llama.cpp's
    // use_more_bits layers {0, 3, 6, 9, 10, 11}, Q4_K elsewhere, the head Q6_K.
    gpt2_config c;
    gpt2_config_init(&c, 50257, 1024, 768, 12, 12, 3072);
    plan_cfg = &c;
    gpt2_plan p;
    EXPECT(plan_build(&p, &c, "Q4_K_M", NULL, NULL, 0) == 0, "Q4_K_M: %s", err_msg());
    int ok = embd_type(&p) == QTYPE_Q4_K && head_type(&p) == QTYPE_Q6_K;
    for (int l = 0; l < 12; l++) {
        int more = l == 0 || l == 3 || l == 6 || l == 9 || l == 10 || l == 11;
        ok &= mat_type(&p, l, GPT2_LIN_QKV) == QTYPE_Q5_K && mat_type(&p, l, GPT2_LIN_OUT) == QTYPE_Q4_K &&
              mat_type(&p, l, GPT2_LIN_UP) == QTYPE_Q4_K && mat_type(&p, l, GPT2_LIN_DOWN) == (more ? QTYPE_Q6_K : QTYPE_Q4_K);
    }
    EXPECT(ok, "Q4_K_M plan for 12 layers");
    gpt2_plan_free(&p);
    // Overrides: later items win; globs over GGUF names, ".weight" optional.
    EXPECT(plan_build(&p, &c, "q4_0", "blk.*.ffn_down=f16,output.weight=q8_0,blk.1?.attn_qkv=q5_1", NULL, 0) == 0,
           "overrides: %s", err_msg());
    EXPECT(head_type(&p) == QTYPE_Q8_0 && embd_type(&p) == QTYPE_Q4_0 && mat_type(&p, 5, GPT2_LIN_DOWN) == QTYPE_F16 &&
               mat_type(&p, 11, GPT2_LIN_QKV) == QTYPE_Q5_1 && mat_type(&p, 9, GPT2_LIN_QKV) == QTYPE_Q4_0,
           "override results");
    gpt2_plan_free(&p);
    err_clear();
    EXPECT(plan_build(&p, &c, "q9_9", NULL, NULL, 0) == ERR_ARG && strstr(err_msg(), "q9_9"), "unknown type refused");
    err_clear();
    EXPECT(plan_build(&p, &c, "q8_0", "blk.99.ffn_up=q4_0", NULL, 0) == ERR_ARG && strstr(err_msg(), "matches no tensor"),
           "pattern matching nothing refused");
    err_clear();
    EXPECT(plan_build(&p, &c, "q8_0", "output", NULL, 0) == ERR_ARG, "item without =TYPE refused");
    err_clear();
    // Fallback: K-quants need rows that are multiples of 256; gpt2-xl is 1600 wide.
    gpt2_config xl;
    gpt2_config_init(&xl, 50257, 1024, 1600, 2, 25, 6400);
    plan_cfg = &xl;
    char notes[1024];
    EXPECT(plan_build(&p, &xl, "Q4_K_M", NULL, notes, sizeof notes) == 0, "xl plan");
    EXPECT(mat_type(&p, 0, GPT2_LIN_UP) == QTYPE_Q5_0 && mat_type(&p, 0, GPT2_LIN_QKV) == QTYPE_Q5_1 &&
               head_type(&p) == QTYPE_Q8_0 && mat_type(&p, 1, GPT2_LIN_DOWN) == QTYPE_Q6_K && strstr(notes, "blk.0.ffn_up"),
           "fallbacks Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0 (ffn_down: 6400 rows keep Q6_K); notes: %s", notes);
    gpt2_plan_free(&p);
    printf("plans: presets, overrides, fallbacks ... ok\n");
}

// Quantize tiny-hot in memory, write GGUF as stored, read it back: identical logits;
// agreement with the fp32 original: identical model gives KL 0 and top-1 1.
static void test_end_to_end(void) {
    char dir[512], path[] = "/tmp/shrink_test_compress_XXXXXX";
    snprintf(dir, sizeof dir, "%s/testdata/oracle/tiny-hot", shared_dir());
    int fd = mkstemp(path);
    close(fd);
    gpt2_model orig, q, back;
    if (gpt2_hf_load(&orig, dir) || gpt2_hf_load(&q, dir)) {
        EXPECT(0, "load: %s", err_msg());
        return;
    }
    gpt2_plan p;
    EXPECT(plan_build(&p, &q.cfg, "Q8_0", NULL, NULL, 0) == 0, "plan");
    EXPECT(gpt2_model_quantize(&q, &p, NULL, NULL) == 0, "quantize: %s", err_msg());
    EXPECT(gpt2_gguf_save(&q, NULL, path, GPT2_GGUF_STORED) == 0, "save: %s", err_msg());
    EXPECT(gpt2_gguf_load(&back, path) == 0, "reload: %s", err_msg());
    int T = 48, ids[48];
    for (int i = 0; i < T; i++) ids[i] = (i * 31 + 7) % q.cfg.vocab_size;
    gpt2_state s1, s2;
    gpt2_state_init(&s1, &q, T);
    gpt2_state_init(&s2, &back, T);
    gpt2_forward(&q, &s1, ids, T, 1);
    gpt2_forward(&back, &s2, ids, T, 1);
    EXPECT(memcmp(s1.logits, s2.logits, (size_t)T * q.cfg.vocab_size * sizeof(float)) == 0,
           "quantized model and its GGUF give different logits");
    printf("Q8_0 quantize -> GGUF -> load: identical logits ... ok\n");
    int n = 120, *text = xmalloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) text[i] = (i * 17 + i / 5) % q.cfg.vocab_size;
    agree_result a;
    EXPECT(eval_agreement(&orig, &orig, text, (size_t)n, NULL, 32, 16, &a, NULL, NULL) == 0, "self agreement");
    EXPECT(a.kl_mean < 1e-6 && a.top1 == 1.0 && fabs(a.dppl_pct) < 1e-9, "a model agrees with itself (kl %g, top1 %g)",
           a.kl_mean, a.top1);
    EXPECT(eval_agreement(&back, &orig, text, (size_t)n, NULL, 32, 16, &a, NULL, NULL) == 0, "agreement");
    // Q8_0 on a model with weights ~N(0, 0.3): close but not identical
    EXPECT(a.kl_mean > 0 && a.kl_mean < 1e-2 && a.top1 > 0.9 && a.kl_p99 >= a.kl_mean * 0.5 && a.kl_max >= a.kl_p99,
           "Q8_0 vs original: kl %g p99 %g top1 %g", a.kl_mean, a.kl_p99, a.top1);
    printf("agreement: self KL 0 / top-1 1; Q8_0 KL %.2e, top-1 %.3f ... ok\n", a.kl_mean, a.top1);
    free(text);
    gpt2_state_free(&s1);
    gpt2_state_free(&s2);
    gpt2_plan_free(&p);
    gpt2_model_free(&orig);
    gpt2_model_free(&q);
    gpt2_model_free(&back);
    unlink(path);
}

// Our presets on the bundled model give llama.cpp's own files, tensor for tensor.
static void test_same_bytes_as_llama_cpp(void) {
    static const char *presets[] = {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"};
    char mdir[512];
    snprintf(mdir, sizeof mdir, "%s/models/mini", shared_dir());
    for (int i = 0; i < 7; i++) {
        char ref[512], path[] = "/tmp/shrink_test_preset_XXXXXX";
        snprintf(ref, sizeof ref, "%s/testdata/gguf/mini-%s.gguf", shared_dir(), presets[i]);
        int fd = mkstemp(path);
        close(fd);
        gpt2_model m;
        gpt2_plan p;
        if (gpt2_hf_load(&m, mdir) || plan_build(&p, &m.cfg, presets[i], NULL, NULL, 0)) {
            EXPECT(0, "%s: %s", presets[i], err_msg());
            continue;
        }
        EXPECT(gpt2_model_quantize(&m, &p, NULL, NULL) == 0 && gpt2_gguf_save(&m, NULL, path, GPT2_GGUF_STORED) == 0,
               "%s: %s", presets[i], err_msg());
        gguf_file a, b;
        int diff = 0, compared = 0;
        if (gguf_open(&a, path) == 0 && gguf_open(&b, ref) == 0) {
            for (size_t t = 0; t < b.n_tensors; t++) {
                const gguf_tensor *tb = &b.tensors[t], *ta = gguf_find_tensor(&a, tb->name);
                compared++;
                if (!ta || ta->type != tb->type || ta->nbytes != tb->nbytes || memcmp(ta->data, tb->data, ta->nbytes) != 0) {
                    if (diff++ < 3) fprintf(stderr, "  %s: tensor %s differs\n", presets[i], tb->name);
                }
            }
            EXPECT(diff == 0 && a.n_tensors == b.n_tensors, "%s: %d of %d tensors differ from llama.cpp's file", presets[i],
                   diff, compared);
            if (!diff) printf("%s: all %d tensors byte-identical to llama.cpp's mini-%s.gguf ... ok\n", presets[i], compared, presets[i]);
            gguf_close(&a);
            gguf_close(&b);
        } else {
            EXPECT(0, "open: %s", err_msg());
            err_clear();
        }
        gpt2_plan_free(&p);
        gpt2_model_free(&m);
        unlink(path);
    }
}

int main(void) {
    test_presets();
    test_end_to_end();
    test_same_bytes_as_llama_cpp();
    return TEST_DONE();
}
