// Reference element-wise activations and the row softmax, on f32 activations in place.
//
// - gelu_erf(t)   = 0.5·t·(1 + erf(t/√2))                       (PyTorch nn.GELU(), HF "gelu")
// - gelu_tanh(t)  = 0.5·t·(1 + tanh(√(2/π)·(t + 0.044715·t³)))  (HF "gelu_pytorch_tanh", ggml_gelu)
// - quick_gelu(t) = t·sigmoid(1.702·t)                           (CLIP)
// - silu(t)       = t·sigmoid(t)                                 (LLaMA)
// - softmax_rows: each row of [n, d] becomes exp(x - max) / Σ exp(x - max), the sum in double.
// Each function is computed in double and rounded once to f32.
//
// Thread-safety: re-entrant; pure over the caller's buffer. Failure: none (NaN in, NaN out).
#pragma once

#include <cstdint>
#include <string_view>

namespace ct::kernels::ref {

enum class Activation { kGeluErf, kGeluTanh, kQuickGelu, kSilu };

float gelu_erf(float t);
float gelu_tanh(float t);
float quick_gelu(float t);
float silu(float t);

// Applies `a` to x[0, n).
void activate(Activation a, float* x, int64_t n);

// Maps an HF `hidden_act` spelling ("gelu", "quick_gelu", "silu", "gelu_pytorch_tanh",
// "gelu_new"); false when unknown.
bool parse_activation(std::string_view name, Activation& out);

// x [n, d], in place.
void softmax_rows(float* x, int64_t n, int64_t d);

}  // namespace ct::kernels::ref
