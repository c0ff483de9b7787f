// Crosscoder forward, losses and backward (see model.h). The backward is written out by hand from
// specs/crosscoders.md section 3.1 and checked by central finite differences in the tests.
#include "crosscoder/model.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "kernels/cpu/gemm_abt.h"
#include "kernels/cpu/recon.h"
#include "kernels/ref/gemm.h"

namespace ct::crosscoder {
namespace sp = kernels::sparse;

const char* sparsity_name(Sparsity s) {
  switch (s) {
    case Sparsity::kBatchTopK: return "batchtopk";
    case Sparsity::kTopK: return "topk";
    case Sparsity::kL1: return "l1";
  }
  return "?";
}

Sparsity parse_sparsity(const std::string& s) {
  if (s == "batchtopk") return Sparsity::kBatchTopK;
  if (s == "topk") return Sparsity::kTopK;
  if (s == "l1") return Sparsity::kL1;
  throw InputError("--sparsity", "expected batchtopk, topk or l1, found '" + s + "'");
}

const char* recon_name(ReconLoss r) { return r == ReconLoss::kSquared ? "squared" : "norm"; }

ReconLoss parse_recon(const std::string& s) {
  if (s == "squared") return ReconLoss::kSquared;
  if (s == "norm") return ReconLoss::kNorm;
  throw InputError("reconstruction loss", "expected squared or norm, found '" + s + "'");
}

int64_t CrosscoderSpec::total_dim() const {
  int64_t d = 0;
  for (int64_t v : dims) d += v;
  return d;
}

std::vector<int64_t> CrosscoderSpec::offsets() const {
  std::vector<int64_t> off(dims.size() + 1, 0);
  for (size_t m = 0; m < dims.size(); ++m) off[m + 1] = off[m] + dims[m];
  return off;
}

void CrosscoderSpec::validate() const {
  const std::string where = "crosscoder config";
  if (dims.empty()) throw InputError(where, "expected at least one source, found none");
  if (names.size() != dims.size())
    throw InputError(where, "expected one name per source, found " + std::to_string(names.size()) +
                                " names for " + std::to_string(dims.size()) + " sources");
  for (int64_t d : dims)
    if (d <= 0) throw InputError(where, "source width must be positive, found " + std::to_string(d));
  if (dict_size <= 0) throw InputError(where, "dict_size must be positive, found " + std::to_string(dict_size));
  if (sparsity != Sparsity::kL1 && (k <= 0 || k > dict_size))
    throw InputError(where, "k must be in [1, dict_size], found " + std::to_string(k));
  if (sparsity == Sparsity::kL1 && l1_coeff < 0)
    throw InputError(where, "l1_coeff must be >= 0");
}

template <typename T>
void latent_weights(const Params<T>& p, const std::vector<int64_t>& offsets, std::vector<T>& out) {
  out.assign(p.dict, T(0));
  for (int64_t j = 0; j < p.dict; ++j) {
    double w = 0;
    const T* row = p.dec.data() + j * p.dim;
    for (size_t m = 0; m + 1 < offsets.size(); ++m) {
      double s = 0;
      for (int64_t i = offsets[m]; i < offsets[m + 1]; ++i) s += static_cast<double>(row[i]) * row[i];
      w += std::sqrt(s);
    }
    out[j] = static_cast<T>(w);
  }
}

namespace {

// Adds the wall-clock time since the previous lap to one StepTimes field; free when times is null.
class Stopwatch {
 public:
  explicit Stopwatch(StepTimes* times) : times_(times) {
    if (times_) last_ = std::chrono::steady_clock::now();
  }
  void lap(double StepTimes::*field) {
    if (!times_) return;
    const auto now = std::chrono::steady_clock::now();
    times_->*field += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  StepTimes* times_;
  std::chrono::steady_clock::time_point last_;
};

// acts [B, F] = x [B, D] * enc^T, enc [F, D]: kernels/cpu/gemm_abt, the engine's AVX-512 14x32
// micro-kernel with x packed once per call (linear_gemm's AVX2 or portable path on other CPUs). The
// encoder is packed into panels on every call; that is one read and one write of F*D floats, a
// few percent of the 2*B*D*F FLOPs at B = 4096 (bench/crosscoder_bench prints the phase).
void encoder_gemm(const float* x, const float* enc, int64_t batch, int64_t dim, int64_t dict,
                  float* acts, const ExecContext& ctx) {
  kernels::cpu::gemm_abt(ctx, x, batch, dim, enc, dict, acts);
}
void encoder_gemm(const double* x, const double* enc, int64_t batch, int64_t dim, int64_t dict,
                  double* acts, const ExecContext&) {
  kernels::ref::gemm<double>(kernels::Trans::kNo, kernels::Trans::kYes, batch, dict, dim, 1.0, x,
                             dim, enc, dim, 0.0, acts, dict);
}

template <typename T>
void select_code(const CrosscoderSpec& spec, const Params<T>& p, int64_t batch, const CodeMode& mode,
                 BatchResult<T>& out, const ExecContext& ctx) {
  const T* acts = out.acts.data();
  const T* b_enc = p.b_enc.data();
  out.min_kept_score = 0;
  if (mode.kind == CodeMode::kThreshold) {
    if (spec.sparsity == Sparsity::kL1) sp::filter_code<T>(acts, b_enc, nullptr, T(0), batch, p.dict, out.code, ctx);
    else sp::filter_code<T>(acts, b_enc, out.w.data(), static_cast<T>(mode.theta), batch, p.dict, out.code, ctx);
    return;
  }
  const int64_t k = mode.k > 0 ? mode.k : spec.k;
  switch (spec.sparsity) {
    case Sparsity::kBatchTopK:
      out.min_kept_score = sp::batch_topk<T>(acts, b_enc, out.w.data(), batch, p.dict, k * batch, out.code, ctx);
      break;
    case Sparsity::kTopK:
      sp::row_topk<T>(acts, b_enc, out.w.data(), batch, p.dict, k, out.code, ctx);
      break;
    case Sparsity::kL1:
      sp::filter_code<T>(acts, b_enc, nullptr, T(0), batch, p.dict, out.code, ctx);
      break;
  }
}

}  // namespace

namespace {

template <typename T>
void encode_decode_timed(const CrosscoderSpec& spec, const Params<T>& p, const T* x, int64_t batch,
                         const CodeMode& mode, BatchResult<T>& out, const ExecContext& ctx, StepTimes* times) {
  Stopwatch watch(times);
  const int64_t dim = p.dim, dict = p.dict;
  CT_CHECK(dim == spec.total_dim() && dict == spec.dict_size);
  if (mode.score_weights) {
    CT_CHECK(static_cast<int64_t>(mode.score_weights->size()) == dict);
    out.w.assign(mode.score_weights->begin(), mode.score_weights->end());
  } else {
    out.w.resize(dict);
    kernels::cpu::block_norm_sums<T>(p.dec.data(), dict, spec.offsets(), out.w.data(), ctx);
  }
  watch.lap(&StepTimes::weights);
  out.acts.resize(batch * dict);
  encoder_gemm(x, p.enc.data(), batch, dim, dict, out.acts.data(), ctx);
  watch.lap(&StepTimes::encoder);
  select_code(spec, p, batch, mode, out, ctx);
  watch.lap(&StepTimes::select);
  out.recon.resize(batch * dim);
  sp::decode<T>(out.code, p.dec.data(), p.b_dec.data(), dim, out.recon.data(), ctx);
  out.l0 = batch > 0 ? static_cast<double>(out.code.nnz()) / batch : 0.0;
  watch.lap(&StepTimes::decode);
}

}  // namespace

template <typename T>
void encode_decode(const CrosscoderSpec& spec, const Params<T>& p, const T* x, int64_t batch,
                   const CodeMode& mode, BatchResult<T>& out, const ExecContext& ctx) {
  encode_decode_timed(spec, p, x, batch, mode, out, ctx, nullptr);
}

template <typename T>
void compute_loss(const CrosscoderSpec& spec, const Params<T>& p, const T* x, int64_t batch,
                  const LossOptions& opt, BatchResult<T>& out, Params<T>* grads,
                  const ExecContext& ctx) {
  encode_decode_timed(spec, p, x, batch, opt.mode, out, ctx, opt.times);
  Stopwatch watch(opt.times);
  const int64_t dim = p.dim, dict = p.dict, msrc = spec.sources();
  const auto off = spec.offsets();
  const double inv_b = 1.0 / static_cast<double>(batch);

  // Reconstruction loss, its gradient g = dL/dx_hat [B, D] and the b_dec gradient (column sums of
  // g), in one parallel pass; per-row figures are reduced here in row order.
  AlignedVector<T>& g = out.grad_recon;  // every element is written by recon_loss_grad
  g.resize(batch * dim);
  std::vector<T> g_bdec(dim);
  std::vector<double> row_sq(batch * msrc), row_loss(batch);
  kernels::cpu::recon_loss_grad<T>(x, out.recon.data(), batch, off, spec.recon == ReconLoss::kSquared, g.data(),
                                   row_sq.data(), row_loss.data(), g_bdec.data(), ctx);
  out.sq_error.assign(msrc, 0.0);
  out.recon_loss = 0;
  for (int64_t b = 0; b < batch; ++b) {
    out.recon_loss += row_loss[b];
    for (int64_t m = 0; m < msrc; ++m) out.sq_error[m] += row_sq[b * msrc + m];
  }

  // L1 penalty: lambda/B * sum_b sum_j f_bj w_j.
  const bool l1 = spec.sparsity == Sparsity::kL1 && opt.l1_coeff > 0;
  out.sparsity_loss = 0;
  if (l1) {
    for (int64_t e = 0; e < out.code.nnz(); ++e)
      out.sparsity_loss += static_cast<double>(out.code.val[e]) * out.w[out.code.idx[e]];
    out.sparsity_loss *= opt.l1_coeff * inv_b;
  }

  watch.lap(&StepTimes::loss);

  // AuxK on the detached residual e = x - x_hat (all sources concatenated).
  out.aux_loss = 0;
  out.aux_k = 0;
  out.aux_code = {};
  std::vector<T> g_aux;  // dL/d e_hat [B, D]
  if (opt.dead && spec.sparsity != Sparsity::kL1 && spec.aux_alpha > 0) {
    int64_t n_dead = 0;
    for (int64_t j = 0; j < dict; ++j) n_dead += opt.dead[j] != 0;
    const int64_t k_max = spec.aux_k_max > 0 ? spec.aux_k_max : std::max<int64_t>(1, dim / 2);
    out.aux_k = std::min(k_max, n_dead);
    if (out.aux_k > 0) {
      sp::masked_row_topk<T>(out.acts.data(), p.b_enc.data(), out.w.data(), opt.dead, batch, dict,
                             out.aux_k, out.aux_code, ctx);
      std::vector<T> ehat(batch * dim);
      sp::decode<T>(out.aux_code, p.dec.data(), nullptr, dim, ehat.data(), ctx);
      const kernels::cpu::AuxStats st =
          kernels::cpu::aux_residual_stats<T>(x, out.recon.data(), ehat.data(), batch, dim, ctx);
      // mean_b ||e - e_hat||^2 / mean_b ||e - e_bar||^2: the 1/B factors cancel.
      if (st.den > 0 && std::isfinite(st.num / st.den)) {
        out.aux_loss = spec.aux_alpha * st.num / st.den;
        g_aux.resize(batch * dim);
        kernels::cpu::aux_residual_grad<T>(x, out.recon.data(), ehat.data(), batch, dim,
                                           -2.0 * spec.aux_alpha / st.den, g_aux.data(), ctx);
      }
    }
  }
  out.loss = out.recon_loss + out.sparsity_loss + out.aux_loss;
  watch.lap(&StepTimes::aux);
  if (!opt.want_grads || !grads) return;

  // Backward. d b_dec = sum_b g (computed with the loss above).
  Params<T>& gr = *grads;
  if (gr.dict != dict || gr.dim != dim) gr.resize(dict, dim);
  gr.b_dec.assign(g_bdec.begin(), g_bdec.end());
  // Latent gradient at kept entries, zero where r = 0 (ReLU; the BatchTopK mask is a constant).
  const auto& code = out.code;
  std::vector<T> g_pre(code.nnz());
  sp::entry_dots<T>(code, p.dec.data(), g.data(), dim, g_pre.data(), ctx);
  for (int64_t e = 0; e < code.nnz(); ++e) {
    if (l1) g_pre[e] += static_cast<T>(opt.l1_coeff * inv_b * out.w[code.idx[e]]);
    if (!(code.val[e] > T(0))) g_pre[e] = T(0);
  }
  watch.lap(&StepTimes::grad_latent);
  sp::LatentIndex index;
  sp::latent_index(code, index);
  sp::scatter_rows<T>(index, code.val.data(), g.data(), dim, dict, gr.dec.data(), true, ctx);
  watch.lap(&StepTimes::grad_dec);
  sp::scatter_rows<T>(index, g_pre.data(), x, dim, dict, gr.enc.data(), true, ctx);
  sp::scatter_sum<T>(index, g_pre.data(), dict, gr.b_enc.data(), true);
  watch.lap(&StepTimes::grad_enc);
  if (l1) {
    // d/d d_j^m of lambda/B sum_b f_bj sum_m ||d_j^m|| = lambda/B (sum_b f_bj) d_j^m / ||d_j^m||.
    std::vector<T> fsum(dict);
    sp::scatter_sum<T>(index, code.val.data(), dict, fsum.data(), true);
    for (int64_t j = 0; j < dict; ++j) {
      if (fsum[j] == T(0)) continue;
      const T* row = p.dec.data() + j * dim;
      for (int64_t m = 0; m < msrc; ++m) {
        double s = 0;
        for (int64_t i = off[m]; i < off[m + 1]; ++i) s += static_cast<double>(row[i]) * row[i];
        if (s <= 0) continue;  // zero-norm block: the penalty is not differentiable; use 0
        const double c = opt.l1_coeff * inv_b * fsum[j] / std::sqrt(s);
        for (int64_t i = off[m]; i < off[m + 1]; ++i) gr.dec[j * dim + i] += static_cast<T>(c * row[i]);
      }
    }
    watch.lap(&StepTimes::grad_dec);
  }
  if (!g_aux.empty()) {
    const auto& ac = out.aux_code;
    std::vector<T> ga(ac.nnz());
    sp::entry_dots<T>(ac, p.dec.data(), g_aux.data(), dim, ga.data(), ctx);
    sp::LatentIndex aindex;
    sp::latent_index(ac, aindex);
    sp::scatter_rows<T>(aindex, ac.val.data(), g_aux.data(), dim, dict, gr.dec.data(), false, ctx);
    sp::scatter_rows<T>(aindex, ga.data(), x, dim, dict, gr.enc.data(), false, ctx);
    sp::scatter_sum<T>(aindex, ga.data(), dict, gr.b_enc.data(), false);
    watch.lap(&StepTimes::grad_aux);
  }
}

#define CT_MODEL_INSTANTIATE(T)                                                                   \
  template void latent_weights<T>(const Params<T>&, const std::vector<int64_t>&, std::vector<T>&); \
  template void encode_decode<T>(const CrosscoderSpec&, const Params<T>&, const T*, int64_t,       \
                                 const CodeMode&, BatchResult<T>&, const ExecContext&);            \
  template void compute_loss<T>(const CrosscoderSpec&, const Params<T>&, const T*, int64_t,        \
                                const LossOptions&, BatchResult<T>&, Params<T>*, const ExecContext&);

CT_MODEL_INSTANTIATE(float)
CT_MODEL_INSTANTIATE(double)
#undef CT_MODEL_INSTANTIATE

}  // namespace ct::crosscoder
