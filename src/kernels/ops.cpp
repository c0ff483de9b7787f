// Op dispatch (see ops.h): every model op runs the optimised kernels/cpu/ version on the widest
// instruction set this CPU supports (chosen once per process by cpu::best_isa()). The reference
// twins stay in kernels/ref/ as the executable spec the cpu/ kernels are tested against.
#include "kernels/ops.h"

#include <vector>

#include "core/error.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/gelu_erf.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/linear_rows.h"
#include "kernels/cpu/memory_attention.h"
#include "kernels/cpu/vector_ops.h"

namespace ct::kernels {

void linear(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
            const WeightView& bias, float* y) {
  cpu::linear(ctx, x, n, in, w, bias, y);
}
void linear_multi(const ExecContext& ctx, const float* x, int64_t n, int64_t in, std::span<const WeightView> ws,
                  std::span<const WeightView> biases, std::span<float* const> ys) {
  if (n > 1 && n <= cpu::kLinearRowsMax) {
    cpu::linear_rows_multi(ctx, x, n, in, ws, biases, ys);
    return;
  }
  CT_CHECK(ws.size() == biases.size() && ws.size() == ys.size(), "linear_multi: parts of different counts");
  if (n == 1) {
    std::vector<cpu::GroupedLinear> parts;
    for (std::size_t i = 0; i < ws.size(); ++i) parts.push_back({&ws[i], &biases[i], ys[i]});
    cpu::linear_group(ctx, x, n, in, parts);
    return;
  }
  for (std::size_t i = 0; i < ws.size(); ++i) linear(ctx, x, n, in, ws[i], biases[i], ys[i]);
}
void layer_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w,
                const WeightView& b, double eps, float* y) {
  cpu::layer_norm(ctx, x, n, d, w, b, eps, y);
}
void rms_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w, double eps,
              float* y) {
  cpu::rms_norm(ctx, x, n, d, w, eps, y);
}
void activate(Activation a, float* x, int64_t n) { cpu::activate(a, x, n); }
void gelu_erf(float* x, int64_t n) { cpu::gelu_erf(x, n); }
void rope_rotate_half(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, double theta) {
  cpu::rope_rotate_half(x, n, n_heads, head_dim, pos0, theta);
}
int64_t memory_keys_stride(int64_t n_kv) { return cpu::memory_keys_stride(n_kv); }
void memory_keys_transposed(const ExecContext& ctx, const float* k, int64_t n_kv, int heads, int head_dim, float* kt) {
  cpu::memory_keys_transposed(ctx, k, n_kv, heads, head_dim, kt);
}
void memory_attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* kt, const float* v,
                      int64_t n_kv, int heads, int head_dim, float* out) {
  cpu::memory_attention(ctx, q, n_q, kt, v, n_kv, heads, head_dim, out);
}
void attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* k, const float* v, int64_t n_kv,
               const AttentionShape& shape, float* out) {
  cpu::attention(ctx, q, n_q, k, v, n_kv, shape, out);
}

}  // namespace ct::kernels
