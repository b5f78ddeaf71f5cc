// awq.h: activation-aware weight scaling (Lin et al. 2023) for ggml block formats.
//
// Rounding error matters in proportion to the input it multiplies, so input channels
// that carry large activations are scaled up before quantization (W diag(s)) and the
// input scaled down by the same factor (diag(1/s) x), which leaves the product
// unchanged in exact arithmetic. s = (mean |x|)^α, α searched on a grid to minimise
// the layer's output error on calibration inputs. The 1/s goes where it costs
// nothing at inference: into the LayerNorm before attn_qkv (ln_1) and ffn_up (ln_2),
// and into the value rows of attn_qkv (and their bias) before attn_output. ffn_down's
// input comes through GELU, which no scale passes through, so it is left unscaled;
// so is the LM head, whose fp32 twin is the token embedding.
#pragma once
#include "calib.h"

// The best scale s (cols) for W (rows, cols) stored as t, given st's statistics (H
// needed), by the layer's output error over α = 0, 0.05, ..., 1, with importance-
// weighted rounding (weighted) or plain. Returns the chosen α (0: s is all ones).
// err0/err1 (optional) receive the output error unscaled and with the chosen scale.
double awq_search(qtype t, const float *W, int rows, int cols, const act_stats *st, int weighted, float *s,
                  double *err0, double *err1);

// Multiplies the input channels of linear k (GPT2_LIN_QKV, _OUT or _UP) of layer l by s
// (the columns of its first matrix) and divides what feeds them by s: ln_1's weight and
// bias for attn_qkv, ln_2's for ffn_up, the value rows of attn_qkv's output matrix and
// their bias for attn_output. The fp32 model's function is unchanged up to rounding.
void awq_fold(gpt2_model *m, int l, int k, const float *s);

// Scales every layer of the fp32 model m for the plan's types, layer by layer on the
// calibration set, and chooses each matrix's rounding. For each matrix the candidates
// are plain and importance-weighted rounding, each unscaled and with its best α by
// output error; the one that gives the lowest KL divergence from the fp32 model on
// about 1,024 calibration tokens (kl_probe.h) wins, judged with the matrices chosen
// before it read in their chosen rounding, stored as the plan says (so each choice sees
// the quantized prefix, as GPTQ does; the pass holds the fp32 model once, plus the
// quantized prefix).
// The output error alone misleads: on the reference model importance-weighted attn_qkv
// lowers it by 20-30% yet raises the KL. On return m holds the scaled fp32 matrices;
// weighted (n_mats + 2 flags, plan order) is 1 where importance-weighted rounding won.
// Prints a line per layer when verbose.
void awq_apply(gpt2_model *m, const gpt2_plan *plan, const calib_set *cs, int verbose, unsigned char *weighted);
