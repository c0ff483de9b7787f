// Crosscoder exactness tests (specs/crosscoders.md 15.1 items 1-3, 6): forward against a naive
// double reference, central finite-difference gradient checks in double for every loss, BatchTopK
// selection rules, AuxK bookkeeping.
#include "crosscoder/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "crosscoder/init.h"
#include "kernels/ref/topk.h"

namespace ct::crosscoder {
namespace {

CrosscoderSpec make_spec(std::vector<int64_t> dims, int64_t dict, Sparsity s, int64_t k) {
  CrosscoderSpec spec;
  spec.dims = dims;
  for (size_t m = 0; m < dims.size(); ++m) spec.names.push_back(std::string(1, static_cast<char>('a' + m)));
  spec.dict_size = dict;
  spec.sparsity = s;
  spec.k = k;
  return spec;
}

Params<double> random_params(const CrosscoderSpec& spec, uint64_t seed) {
  Rng rng(seed);
  Params<double> p;
  p.resize(spec.dict_size, spec.total_dim());
  p.for_each([&](const char*, AlignedVector<double>& v) {
    for (double& x : v) x = 0.5 * rng.normal();
  });
  return p;
}

std::vector<double> random_x(int64_t n, uint64_t seed) {
  Rng rng(seed, 3);
  std::vector<double> x(n);
  for (double& v : x) v = rng.normal();
  return x;
}

// Naive reference: pre, selection mask from the reference kernels, decode by triple loops.
std::vector<double> naive_recon(const CrosscoderSpec& spec, const Params<double>& p, const std::vector<double>& x,
                                int64_t batch, const CodeMode& mode) {
  const int64_t dim = spec.total_dim(), dict = spec.dict_size;
  const auto off = spec.offsets();
  std::vector<double> acts(batch * dict), w(dict, 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < dict; ++j) {
      double s = 0;
      for (int64_t m = 0; m < spec.sources(); ++m)  // sum over sources of x^m W_enc^m
        for (int64_t i = off[m]; i < off[m + 1]; ++i) s += x[b * dim + i] * p.enc[j * dim + i];
      acts[b * dict + j] = s;
    }
  for (int64_t j = 0; j < dict; ++j)
    for (int64_t m = 0; m < spec.sources(); ++m) {
      double s = 0;
      for (int64_t i = off[m]; i < off[m + 1]; ++i) s += p.dec[j * dim + i] * p.dec[j * dim + i];
      w[j] += std::sqrt(s);
    }
  std::vector<uint8_t> mask(batch * dict, 0);
  const int64_t k = mode.k > 0 ? mode.k : spec.k;
  for (int64_t e = 0; e < batch * dict; ++e) {
    const double r = std::max(0.0, acts[e] + p.b_enc[e % dict]);
    if (mode.kind == CodeMode::kThreshold) mask[e] = spec.sparsity == Sparsity::kL1 ? r > 0 : r * w[e % dict] > mode.theta;
    else if (spec.sparsity == Sparsity::kL1) mask[e] = r > 0;
  }
  if (mode.kind == CodeMode::kTrain && spec.sparsity == Sparsity::kBatchTopK)
    mask = kernels::ref::batch_topk_mask(acts.data(), p.b_enc.data(), w.data(), batch, dict, k * batch);
  if (mode.kind == CodeMode::kTrain && spec.sparsity == Sparsity::kTopK)
    mask = kernels::ref::row_topk_mask(acts.data(), p.b_enc.data(), w.data(), batch, dict, k);
  std::vector<double> out(batch * dim);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < dim; ++i) {
      double s = p.b_dec[i];
      for (int64_t j = 0; j < dict; ++j)
        if (mask[b * dict + j]) s += std::max(0.0, acts[b * dict + j] + p.b_enc[j]) * p.dec[j * dim + i];
      out[b * dim + i] = s;
    }
  return out;
}

TEST(CrosscoderModel, ForwardMatchesNaiveDoubleReference) {
  ExecContext ctx(2);
  const std::vector<std::vector<int64_t>> shapes = {{7}, {5, 4}, {3, 6, 2}};
  for (const auto& dims : shapes) {
    for (Sparsity s : {Sparsity::kBatchTopK, Sparsity::kTopK, Sparsity::kL1}) {
      const auto spec = make_spec(dims, 11, s, 3);
      const auto p = random_params(spec, 5);
      const int64_t batch = 9;
      const auto x = random_x(batch * spec.total_dim(), 6);
      std::vector<CodeMode> modes(2);
      modes[1].kind = CodeMode::kThreshold;
      modes[1].theta = 0.3;
      for (const auto& mode : modes) {
        BatchResult<double> res;
        encode_decode(spec, p, x.data(), batch, mode, res, ctx);
        const auto want = naive_recon(spec, p, x, batch, mode);
        double max_rel = 0;
        for (size_t i = 0; i < want.size(); ++i)
          max_rel = std::max(max_rel, std::fabs(res.recon[i] - want[i]) / (1.0 + std::fabs(want[i])));
        EXPECT_LE(max_rel, 1e-12) << sparsity_name(s) << " M=" << dims.size() << " mode=" << mode.kind;
      }
    }
  }
}

// Central differences (step 1e-6) of `loss` against analytic grads; returns max error relative to
// the largest gradient entry.
double fd_error(Params<double>& p, const Params<double>& grads, const std::function<double()>& loss) {
  double max_err = 0, max_g = 1e-12;
  std::vector<AlignedVector<double>*> ps;
  std::vector<const AlignedVector<double>*> gs;
  p.for_each([&](const char*, AlignedVector<double>& v) { ps.push_back(&v); });
  grads.for_each([&](const char*, const AlignedVector<double>& v) { gs.push_back(&v); });
  for (size_t t = 0; t < ps.size(); ++t)
    for (size_t i = 0; i < ps[t]->size(); ++i) {
      double& v = (*ps[t])[i];
      const double keep = v, h = 1e-6;
      v = keep + h;
      const double lp = loss();
      v = keep - h;
      const double lm = loss();
      v = keep;
      const double fd = (lp - lm) / (2 * h), an = (*gs[t])[i];
      max_err = std::max(max_err, std::fabs(fd - an));
      max_g = std::max(max_g, std::fabs(an));
    }
  return max_err / max_g;
}

struct GradCase {
  const char* name;
  Sparsity sparsity;
  ReconLoss recon;
  double l1;
};

TEST(CrosscoderModel, GradientsMatchFiniteDifferences) {
  ExecContext ctx(1);
  const GradCase cases[] = {{"btk-squared", Sparsity::kBatchTopK, ReconLoss::kSquared, 0},
                            {"btk-norm", Sparsity::kBatchTopK, ReconLoss::kNorm, 0},
                            {"topk-squared", Sparsity::kTopK, ReconLoss::kSquared, 0},
                            {"l1-squared", Sparsity::kL1, ReconLoss::kSquared, 0.7},
                            {"l1-norm", Sparsity::kL1, ReconLoss::kNorm, 0.7}};
  for (const auto& c : cases) {
    auto spec = make_spec({5, 4}, 8, c.sparsity, 3);
    spec.recon = c.recon;
    auto p = random_params(spec, 11);
    // A zero-norm decoder block: the L1 penalty gradient must be guarded (no NaN).
    for (int64_t i = 5; i < 9; ++i) p.dec[2 * 9 + i] = 0.0;
    const int64_t batch = 6;
    const auto x = random_x(batch * 9, 12);
    LossOptions opt;
    opt.l1_coeff = c.l1;
    BatchResult<double> res;
    Params<double> grads;
    compute_loss(spec, p, x.data(), batch, opt, res, &grads, ctx);
    grads.for_each([&](const char*, const AlignedVector<double>& v) {
      for (double g : v) ASSERT_TRUE(std::isfinite(g)) << c.name;
    });
    // The BatchTopK / TopK mask is frozen: evaluate the loss with the selection of the unperturbed
    // parameters by re-selecting only if the kept set is unchanged (checked below).
    const auto kept = res.code.idx;
    auto loss = [&]() {
      BatchResult<double> r2;
      LossOptions o2 = opt;
      o2.want_grads = false;
      compute_loss(spec, p, x.data(), batch, o2, r2, static_cast<Params<double>*>(nullptr), ctx);
      EXPECT_EQ(r2.code.idx, kept) << "selection changed under a 1e-6 perturbation";
      return r2.loss;
    };
    EXPECT_LE(fd_error(p, grads, loss), 1e-6) << c.name;
  }
}

TEST(CrosscoderModel, AuxKGradientMatchesFiniteDifferencesWithDetachedResidual) {
  ExecContext ctx(1);
  auto spec = make_spec({5, 4}, 10, Sparsity::kBatchTopK, 2);
  spec.aux_k_max = 3;
  auto p = random_params(spec, 21);
  const int64_t batch = 5, dim = 9, dict = 10;
  const auto x = random_x(batch * dim, 22);
  std::vector<uint8_t> dead(dict, 0);
  dead[1] = dead[4] = dead[6] = dead[7] = dead[9] = 1;  // forced dead set
  LossOptions with_aux, no_aux;
  with_aux.dead = dead.data();
  BatchResult<double> ra, rn;
  Params<double> ga, gn;
  compute_loss(spec, p, x.data(), batch, with_aux, ra, &ga, ctx);
  compute_loss(spec, p, x.data(), batch, no_aux, rn, &gn, ctx);
  ASSERT_EQ(ra.aux_k, 3);  // k_aux = min(k_aux_max, |D|)
  ASSERT_GT(ra.aux_loss, 0);
  // Aux gradient alone = difference of the two gradients.
  Params<double> gaux = ga;
  for (size_t i = 0; i < gaux.enc.size(); ++i) gaux.enc[i] -= gn.enc[i];
  for (size_t i = 0; i < gaux.dec.size(); ++i) gaux.dec[i] -= gn.dec[i];
  for (size_t i = 0; i < gaux.b_enc.size(); ++i) gaux.b_enc[i] -= gn.b_enc[i];
  for (size_t i = 0; i < gaux.b_dec.size(); ++i) gaux.b_dec[i] -= gn.b_dec[i];
  for (double v : gaux.b_dec) EXPECT_EQ(v, 0.0);  // the residual is detached: no path to b_dec
  // Naive aux loss with the residual e0 (and its variance) frozen at the unperturbed parameters.
  std::vector<double> e0(batch * dim), mean(dim, 0.0);
  for (int64_t i = 0; i < batch * dim; ++i) e0[i] = x[i] - ra.recon[i];
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < dim; ++i) mean[i] += e0[b * dim + i] / batch;
  double den = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < dim; ++i) den += std::pow(e0[b * dim + i] - mean[i], 2);
  const auto aux_kept = ra.aux_code.idx;
  auto aux_loss = [&]() {
    BatchResult<double> r;
    encode_decode(spec, p, x.data(), batch, CodeMode{}, r, ctx);
    kernels::sparse::SparseCode<double> code;
    kernels::sparse::masked_row_topk(r.acts.data(), p.b_enc.data(), r.w.data(), dead.data(), batch, dict, 3, code, ctx);
    EXPECT_EQ(code.idx, aux_kept);
    double num = 0;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < dim; ++i) {
        double eh = 0;
        for (int64_t e = code.row_ptr[b]; e < code.row_ptr[b + 1]; ++e) eh += code.val[e] * p.dec[code.idx[e] * dim + i];
        num += std::pow(e0[b * dim + i] - eh, 2);
      }
    return spec.aux_alpha * num / den;
  };
  EXPECT_LE(fd_error(p, gaux, aux_loss), 1e-6);
  EXPECT_NEAR(aux_loss(), ra.aux_loss, 1e-12);
  // No dead latents: no AuxK.
  std::vector<uint8_t> none(dict, 0);
  LossOptions o;
  o.dead = none.data();
  BatchResult<double> r0;
  compute_loss(spec, p, x.data(), batch, o, r0, static_cast<Params<double>*>(nullptr), ctx);
  EXPECT_EQ(r0.aux_loss, 0.0);
  EXPECT_EQ(r0.aux_k, 0);
}

TEST(CrosscoderModel, BatchTopKSelectionRules) {
  for (int threads : {1, 2, 3}) {
    ExecContext ctx(threads);
    const int64_t batch = 13, dict = 37, k = 4;
    Rng rng(3);
    std::vector<float> acts(batch * dict), b_enc(dict), w(dict);
    for (auto& v : acts) v = static_cast<float>(rng.normal());
    for (auto& v : b_enc) v = static_cast<float>(0.1 * rng.normal());
    for (auto& v : w) v = static_cast<float>(0.5 + rng.uniform());
    kernels::sparse::SparseCode<float> code;
    const float mn = kernels::sparse::batch_topk(acts.data(), b_enc.data(), w.data(), batch, dict, k * batch, code, ctx);
    ASSERT_EQ(code.nnz(), k * batch);
    const auto mask = kernels::ref::batch_topk_mask(acts.data(), b_enc.data(), w.data(), batch, dict, k * batch);
    float want_min = INFINITY;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t e = code.row_ptr[b]; e < code.row_ptr[b + 1]; ++e) {
        const int64_t j = code.idx[e];
        EXPECT_TRUE(mask[b * dict + j]);
        const float r = std::max(0.0f, acts[b * dict + j] + b_enc[j]);
        EXPECT_EQ(code.val[e], r);  // kept value is r, not r * w
        if (r * w[j] > 0) want_min = std::min(want_min, r * w[j]);
      }
    EXPECT_EQ(mn, want_min);
    // Ties: all scores equal -> the k*B lowest flat indices.
    std::vector<float> flat(batch * dict, 1.0f), zero(dict, 0.0f), one(dict, 1.0f);
    kernels::sparse::batch_topk(flat.data(), zero.data(), one.data(), batch, dict, 50, code, ctx);
    ASSERT_EQ(code.nnz(), 50);
    for (int64_t e = 0; e < 50; ++e) {
      const int64_t b = std::upper_bound(code.row_ptr.begin(), code.row_ptr.end(), e) - code.row_ptr.begin() - 1;
      EXPECT_EQ(b * dict + code.idx[e], e);
    }
    // Scaling one latent's decoders by c > 1 (w_j *= c) keeps it at least as often, here strictly.
    auto count = [&](const std::vector<float>& ww, int64_t j) {
      kernels::sparse::SparseCode<float> c2;
      kernels::sparse::batch_topk(acts.data(), b_enc.data(), ww.data(), batch, dict, k * batch, c2, ctx);
      return std::count(c2.idx.begin(), c2.idx.end(), static_cast<int32_t>(j));
    };
    auto w2 = w;
    w2[5] *= 3.0f;
    EXPECT_GT(count(w2, 5), count(w, 5));
  }
}

TEST(CrosscoderModel, RowTopKMatchesReference) {
  ExecContext ctx(2);
  const int64_t batch = 9, dict = 40, k = 5;
  Rng rng(9);
  std::vector<double> acts(batch * dict), b_enc(dict, 0.0), w(dict);
  for (auto& v : acts) v = std::round(4 * rng.normal()) / 4;  // many ties
  for (auto& v : w) v = 1.0;
  kernels::sparse::SparseCode<double> code;
  kernels::sparse::row_topk(acts.data(), b_enc.data(), w.data(), batch, dict, k, code, ctx);
  const auto mask = kernels::ref::row_topk_mask(acts.data(), b_enc.data(), w.data(), batch, dict, k);
  int64_t n = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t e = code.row_ptr[b]; e < code.row_ptr[b + 1]; ++e, ++n) EXPECT_TRUE(mask[b * dict + code.idx[e]]);
  EXPECT_EQ(n, batch * k);
}

}  // namespace
}  // namespace ct::crosscoder
