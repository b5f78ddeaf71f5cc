// plan.h: which storage type each weight matrix gets: a type or a llama.cpp-style
// preset, per-tensor overrides, and fallbacks for rows a block type cannot hold.
#pragma once
#include "../model/gpt2.h"

// Fills p for the model shape c from spec: a type name (f16, q8_0, q4_k, ...) or a
// preset (Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K; see plan.c for what each
// assigns), then applies overrides: "PATTERN=TYPE[,PATTERN=TYPE...]" where PATTERN is
// a shell glob over the GGUF tensor names (token_embd, output, blk.N.attn_qkv,
// blk.N.attn_output, blk.N.ffn_up, blk.N.ffn_down; ".weight" optional). A type whose
// block does not divide a matrix's rows falls back (as llama.cpp does) and a line
// saying so is appended to notes (may be NULL). Returns 0 or ERR_ARG with a message.
int plan_build(gpt2_plan *p, const gpt2_config *c, const char *spec, const char *overrides, char *notes,
               size_t notes_cap);

// The override and fallback steps of plan_build alone, on a plan already filled
// (e.g. by bpw_allocate). On error p is freed.
int plan_apply_overrides(gpt2_plan *p, const gpt2_config *c, const char *overrides, char *notes, size_t notes_cap);

// Bits per weight of the plan's stored matrices: the layers', token_embd and output (both
// counted, as both are stored), over their element count.
double plan_matrix_bpw(const gpt2_plan *p, const gpt2_config *c);

// A bits-per-weight target (compress --target-bpw): a number in 1.5-16, or a preset whose
// matrices' bits per weight (plan_matrix_bpw on shape c) become the budget. what names the
// option in messages ("compress: --target-bpw"). Returns 0 for a number, 1 for a preset, or
// ERR_ARG with a message naming s.
int plan_parse_target_bpw(const char *s, const gpt2_config *c, const char *what, double *out);
