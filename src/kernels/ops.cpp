// Op dispatch: reference kernels for now (see ops.h).
#include "kernels/ops.h"

#include "kernels/ref/linear.h"
#include "kernels/ref/norm.h"
#include "kernels/ref/rope.h"

namespace ct::kernels {

void linear(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
            const WeightView& bias, float* y) {
  ref::linear(ctx, x, n, in, w, bias, y);
}
void layer_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w,
                const WeightView& b, double eps, float* y) {
  ref::layer_norm(ctx, x, n, d, w, b, eps, y);
}
void rms_norm(const ExecContext& ctx, const float* x, int64_t n, int64_t d, const WeightView& w, double eps,
              float* y) {
  ref::rms_norm(ctx, x, n, d, w, eps, y);
}
void activate(Activation a, float* x, int64_t n) { ref::activate(a, x, n); }
void rope_rotate_half(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, double theta) {
  ref::rope_rotate_half(x, n, n_heads, head_dim, pos0, theta);
}
void attention(const ExecContext& ctx, const float* q, int64_t n_q, const float* k, const float* v, int64_t n_kv,
               const AttentionShape& shape, float* out) {
  ref::attention(ctx, q, n_q, k, v, n_kv, shape, out);
}

}  // namespace ct::kernels
