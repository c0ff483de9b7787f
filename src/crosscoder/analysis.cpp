// Crosscoder analysis (see analysis.h).
#include "crosscoder/analysis.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"
#include "crosscoder/init.h"

namespace ct::crosscoder {
namespace {

double block_norm(const float* row, int64_t b, int64_t e) {
  double s = 0;
  for (int64_t i = b; i < e; ++i) s += static_cast<double>(row[i]) * row[i];
  return std::sqrt(s);
}

void check_source(const Crosscoder& model, const RowSource& raw) {
  if (raw.dims() != model.spec.dims)
    throw InputError("analysis sources", "source widths differ from the crosscoder's");
}

}  // namespace

double relative_norm(double a, double b) { return a + b > 0 ? b / (a + b) : 0.5; }

double delta_norm(double a, double b) {
  const double mx = std::max(a, b);
  return mx > 0 ? 0.5 * ((b - a) / mx + 1.0) : 0.5;
}

std::string bin_of(double r, bool dead, const std::string& name_a, const std::string& name_b) {
  if (dead) return "dead";
  if (r > kSharedLow && r < kSharedHigh) return "shared";
  if (r < kExclusiveLow) return name_a + "-only";
  if (r > kExclusiveHigh) return name_b + "-only";
  return "other";
}

AnalysisResult analyze(const Crosscoder& model, const RowSource& raw, int64_t rows, int64_t batch,
                       const ExecContext& ctx) {
  check_source(model, raw);
  const auto& spec = model.spec;
  const int64_t msrc = spec.sources(), dim = spec.total_dim(), dict = spec.dict_size;
  const auto off = spec.offsets();
  std::vector<double> sum_x(dim, 0.0), sum_x2(msrc, 0.0), sum_err(msrc, 0.0);
  std::vector<int64_t> fired(dict, 0);
  int64_t nnz_train = 0, nnz_thr = 0;
  std::vector<float> x;
  BatchResult<float> res;
  const CodeMode thr_mode = model.inference_mode();
  for (int64_t start = 0; start < rows; start += batch) {
    const int64_t n = std::min(batch, rows - start);
    x.resize(n * dim);
    raw.read(start, n, x.data());
    apply_norm_scales(spec, model.norm_scales, x.data(), n);
    if (spec.sparsity != Sparsity::kL1) {
      encode_decode(spec, model.params, x.data(), n, CodeMode{}, res, ctx);
      nnz_train += res.code.nnz();
    }
    encode_decode(spec, model.params, x.data(), n, thr_mode, res, ctx);
    nnz_thr += res.code.nnz();
    if (spec.sparsity == Sparsity::kL1) nnz_train += res.code.nnz();
    for (int64_t e = 0; e < res.code.nnz(); ++e)
      if (res.code.val[e] > 0) ++fired[res.code.idx[e]];
    for (int64_t b = 0; b < n; ++b)
      for (int64_t m = 0; m < msrc; ++m)
        for (int64_t i = off[m]; i < off[m + 1]; ++i) {
          const double v = x[b * dim + i], e = v - res.recon[b * dim + i];
          sum_x[i] += v;
          sum_x2[m] += v * v;
          sum_err[m] += e * e;
        }
  }
  AnalysisResult out;
  out.eval_rows = rows;
  out.fve.resize(msrc);
  for (int64_t m = 0; m < msrc; ++m) {
    double mean2 = 0;
    for (int64_t i = off[m]; i < off[m + 1]; ++i) mean2 += sum_x[i] * sum_x[i];
    const double total = sum_x2[m] - mean2 / static_cast<double>(rows);  // sum ||x - mean||^2
    out.fve[m] = total > 0 ? 1.0 - sum_err[m] / total : 0.0;
  }
  out.l0_train = static_cast<double>(nnz_train) / rows;
  out.l0_threshold = static_cast<double>(nnz_thr) / rows;
  out.latents.resize(dict);
  out.r_histogram.assign(20, 0);
  std::map<std::string, int64_t> counts;
  int64_t dead = 0;
  const std::string name_a = spec.names[0], name_b = msrc > 1 ? spec.names[1] : spec.names[0];
  for (int64_t j = 0; j < dict; ++j) {
    LatentStats& s = out.latents[j];
    const float* row = model.params.dec.data() + j * dim;
    s.frequency = static_cast<double>(fired[j]) / rows;
    const bool is_dead = fired[j] == 0;
    dead += is_dead;
    if (msrc == 2) {
      s.norm_a = block_norm(row, off[0], off[1]);
      s.norm_b = block_norm(row, off[1], off[2]);
      s.r = relative_norm(s.norm_a, s.norm_b);
      s.delta_norm = delta_norm(s.norm_a, s.norm_b);
      if (spec.dims[0] == spec.dims[1] && s.norm_a > 0 && s.norm_b > 0) {
        double d = 0;
        for (int64_t i = 0; i < spec.dims[0]; ++i) d += static_cast<double>(row[off[0] + i]) * row[off[1] + i];
        s.cosine = d / (s.norm_a * s.norm_b);
      } else {
        s.cosine = std::numeric_limits<double>::quiet_NaN();
      }
      s.bin = bin_of(s.r, is_dead, name_a, name_b);
      if (!is_dead) ++out.r_histogram[std::min<int64_t>(19, static_cast<int64_t>(s.r * 20))];
    } else {
      s.norm_a = block_norm(row, 0, dim);
      s.bin = is_dead ? "dead" : "alive";
    }
    ++counts[s.bin];
  }
  out.dead_fraction = static_cast<double>(dead) / dict;
  out.bin_counts.assign(counts.begin(), counts.end());
  return out;
}

std::vector<LatentScaling> latent_scaling(const Crosscoder& model, const RowSource& raw, int64_t rows,
                                          int64_t batch, const std::vector<int64_t>& latents,
                                          const ExecContext& ctx) {
  check_source(model, raw);
  const auto& spec = model.spec;
  if (spec.sources() != 2 || spec.dims[0] != spec.dims[1])
    throw InputError("latent scaling", "needs two sources of equal width");
  const int64_t dim = spec.total_dim(), d = spec.dims[0], dict = spec.dict_size;
  const auto off = spec.offsets();
  const float* dec = model.params.dec.data();
  std::vector<int64_t> slot(dict, -1);
  std::vector<LatentScaling> out(latents.size());
  std::vector<std::array<BetaAccumulator, 2>> acc_err(latents.size()), acc_rec(latents.size());
  for (size_t c = 0; c < latents.size(); ++c) {
    const int64_t j = latents[c];
    slot[j] = static_cast<int64_t>(c);
    out[c].latent = j;
    const double na = block_norm(dec + j * dim, off[0], off[1]), nb = block_norm(dec + j * dim, off[1], off[2]);
    out[c].owner = nb >= na ? 1 : 0;
  }
  std::vector<float> x;
  BatchResult<float> res;
  const CodeMode mode = model.inference_mode();
  for (int64_t start = 0; start < rows; start += batch) {
    const int64_t n = std::min(batch, rows - start);
    x.resize(n * dim);
    raw.read(start, n, x.data());
    apply_norm_scales(spec, model.norm_scales, x.data(), n);
    encode_decode(spec, model.params, x.data(), n, mode, res, ctx);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t e = res.code.row_ptr[b]; e < res.code.row_ptr[b + 1]; ++e) {
        const int64_t c = slot[res.code.idx[e]];
        if (c < 0 || !(res.code.val[e] > 0)) continue;
        const double f = res.code.val[e];
        const float* dir = dec + res.code.idx[e] * dim + off[out[c].owner];
        for (int m = 0; m < 2; ++m) {
          const float* dm = dec + res.code.idx[e] * dim + off[m];
          double d_err = 0, d_rec = 0;
          for (int64_t i = 0; i < d; ++i) {
            const double xh = res.recon[b * dim + off[m] + i];
            d_err += dir[i] * (x[b * dim + off[m] + i] - xh + f * dm[i]);
            d_rec += dir[i] * xh;
          }
          acc_err[c][m].add(f, d_err);
          acc_rec[c][m].add(f, d_rec);
        }
      }
  }
  for (size_t c = 0; c < latents.size(); ++c) {
    const float* dir = dec + latents[c] * dim + off[out[c].owner];
    const double n2 = block_norm(dir, 0, d) * block_norm(dir, 0, d);
    out[c].beta_error = {acc_err[c][0].beta(n2), acc_err[c][1].beta(n2)};
    out[c].beta_recon = {acc_rec[c][0].beta(n2), acc_rec[c][1].beta(n2)};
    const int o = out[c].owner, p = 1 - o;
    out[c].nu_error = out[c].beta_error[o] != 0 ? out[c].beta_error[p] / out[c].beta_error[o] : 0.0;
    out[c].nu_recon = out[c].beta_recon[o] != 0 ? out[c].beta_recon[p] / out[c].beta_recon[o] : 0.0;
  }
  return out;
}

std::vector<std::vector<TopActivation>> top_activations(const Crosscoder& model, const RowSource& raw, int64_t rows,
                                                        int64_t batch, int64_t n_top, const ExecContext& ctx) {
  check_source(model, raw);
  const auto& spec = model.spec;
  const int64_t dim = spec.total_dim(), dict = spec.dict_size;
  // Per latent a min-heap of the best n_top (value, row); "better" = larger value, then lower row.
  auto better = [](const TopActivation& a, const TopActivation& b) {
    return a.value > b.value || (a.value == b.value && a.row < b.row);
  };
  std::vector<std::vector<TopActivation>> heaps(dict);
  std::vector<float> x;
  BatchResult<float> res;
  const CodeMode mode = model.inference_mode();
  for (int64_t start = 0; start < rows && n_top > 0; start += batch) {
    const int64_t n = std::min(batch, rows - start);
    x.resize(n * dim);
    raw.read(start, n, x.data());
    apply_norm_scales(spec, model.norm_scales, x.data(), n);
    encode_decode(spec, model.params, x.data(), n, mode, res, ctx);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t e = res.code.row_ptr[b]; e < res.code.row_ptr[b + 1]; ++e) {
        if (!(res.code.val[e] > 0)) continue;
        auto& h = heaps[res.code.idx[e]];
        const TopActivation t{start + b, res.code.val[e]};
        if (static_cast<int64_t>(h.size()) < n_top) {
          h.push_back(t);
          std::push_heap(h.begin(), h.end(), better);
        } else if (better(t, h.front())) {
          std::pop_heap(h.begin(), h.end(), better);
          h.back() = t;
          std::push_heap(h.begin(), h.end(), better);
        }
      }
  }
  for (auto& h : heaps) std::sort(h.begin(), h.end(), better);
  return heaps;
}

}  // namespace ct::crosscoder
