// The crosscoder loss kernels against plain loops written here, and the two-pass BatchTopK against
// the digit-by-digit radix select (entry for entry, with heavy ties, zero scores and 1 or 2
// threads).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "core/exec_context.h"
#include "kernels/cpu/gemm_abt.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/recon.h"
#include "kernels/cpu/score_scan.h"
#include "kernels/cpu/sparse_rows.h"
#include "kernels/ref/gemm.h"
#include "kernels/ref/score_scan.h"
#include "kernels/ref/sparse_rows.h"
#include "kernels/sparse/sparse.h"

namespace ct::kernels {
namespace {

constexpr int64_t kSentinelWidth = 80;  // > the longest piece, to see writes past it

std::vector<float> wave(int64_t n, float a, float b) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = a * std::sin(b * static_cast<float>(i) + 0.3f) + 0.05f * static_cast<float>(i % 3);
  return v;
}

TEST(CrosscoderKernels, ReconLossGradMatchesPlainLoops) {
  const int64_t batch = 37;
  const std::vector<int64_t> off{0, 5, 12};
  const int64_t dim = 12;
  const auto x = wave(batch * dim, 1.0f, 0.37f), r = wave(batch * dim, 0.8f, 0.41f);
  for (int threads : {1, 2, 3})
    for (bool squared : {true, false}) {
      ExecContext ctx(threads);
      std::vector<float> g(batch * dim), col(dim);
      std::vector<double> row_sq(batch * 2), row_loss(batch);
      cpu::recon_loss_grad<float>(x.data(), r.data(), batch, off, squared, g.data(), row_sq.data(), row_loss.data(),
                                  col.data(), ctx);
      std::vector<double> col_ref(dim, 0.0);
      for (int64_t b = 0; b < batch; ++b) {
        double lb = 0;
        for (int m = 0; m < 2; ++m) {
          double s = 0;
          for (int64_t i = off[m]; i < off[m + 1]; ++i) s += std::pow(double(x[b * dim + i]) - r[b * dim + i], 2);
          EXPECT_NEAR(row_sq[b * 2 + m], s, 1e-9 * (1 + s));
          lb += squared ? s / batch : std::sqrt(s) / batch / 2;
          for (int64_t i = off[m]; i < off[m + 1]; ++i) {
            const double e = double(x[b * dim + i]) - r[b * dim + i];
            const double gi = squared ? -2 * e / batch : -e / std::sqrt(s) / batch / 2;
            EXPECT_NEAR(g[b * dim + i], gi, 1e-6 * (1 + std::abs(gi)));
            col_ref[i] += gi;
          }
        }
        EXPECT_NEAR(row_loss[b], lb, 1e-9 * (1 + lb));
      }
      for (int64_t i = 0; i < dim; ++i) EXPECT_NEAR(col[i], col_ref[i], 1e-5 * (1 + std::abs(col_ref[i])));
    }
}

TEST(CrosscoderKernels, AuxStatsAndNormSumsMatchPlainLoops) {
  const int64_t batch = 29, dim = 7;
  const auto x = wave(batch * dim, 1.0f, 0.3f), r = wave(batch * dim, 0.5f, 0.7f), eh = wave(batch * dim, 0.2f, 1.1f);
  ExecContext ctx(2);
  const cpu::AuxStats st = cpu::aux_residual_stats<float>(x.data(), r.data(), eh.data(), batch, dim, ctx);
  double num = 0, den = 0;
  std::vector<double> mean(dim, 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < dim; ++i) mean[i] += (double(x[b * dim + i]) - r[b * dim + i]) / batch;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < dim; ++i) {
      const double e = double(x[b * dim + i]) - r[b * dim + i];
      num += (e - eh[b * dim + i]) * (e - eh[b * dim + i]);
      den += (e - mean[i]) * (e - mean[i]);
    }
  EXPECT_NEAR(st.num, num, 1e-9 * num);
  EXPECT_NEAR(st.den, den, 1e-9 * den);
  std::vector<float> ga(batch * dim);
  cpu::aux_residual_grad<float>(x.data(), r.data(), eh.data(), batch, dim, -0.5, ga.data(), ctx);
  for (int64_t i = 0; i < batch * dim; ++i)
    EXPECT_NEAR(ga[i], -0.5 * ((double(x[i]) - r[i]) - eh[i]), 1e-6);
  const std::vector<int64_t> off{0, 3, 7};
  std::vector<float> w(batch);
  cpu::block_norm_sums<float>(x.data(), batch, off, w.data(), ctx);
  for (int64_t j = 0; j < batch; ++j) {
    double a = 0, b = 0;
    for (int64_t i = 0; i < 3; ++i) a += double(x[j * dim + i]) * x[j * dim + i];
    for (int64_t i = 3; i < 7; ++i) b += double(x[j * dim + i]) * x[j * dim + i];
    EXPECT_NEAR(w[j], std::sqrt(a) + std::sqrt(b), 1e-5);
  }
}

TEST(CrosscoderKernels, TwoPassBatchTopKEqualsRadixSelect) {
  const int64_t batch = 96, dict = 300;
  // Quantised values make many exact ties; a third of the pre-activations are negative (zero keys).
  std::vector<float> acts(batch * dict), b_enc(dict), w(dict);
  for (int64_t i = 0; i < batch * dict; ++i) acts[i] = std::round(8 * std::sin(0.013f * float(i * i % 9973))) / 8 - 0.3f;
  for (int64_t j = 0; j < dict; ++j) {
    b_enc[j] = 0.01f * float(j % 5);
    w[j] = 1.0f + 0.25f * float(j % 3);
  }
  for (int threads : {1, 2})
    for (int64_t keep : {int64_t{1}, int64_t{64 * 96}, int64_t{5000}, int64_t{14000}, batch * dict - 1}) {
      ExecContext ctx(threads);
      sparse::SparseCode<float> a, b;
      const float ma = sparse::batch_topk<float>(acts.data(), b_enc.data(), w.data(), batch, dict, keep, a, ctx);
      const float mb = sparse::batch_topk_radix<float>(acts.data(), b_enc.data(), w.data(), batch, dict, keep, b, ctx);
      EXPECT_EQ(a.row_ptr, b.row_ptr) << keep;
      EXPECT_EQ(a.idx, b.idx) << keep;
      EXPECT_EQ(a.val, b.val) << keep;
      EXPECT_EQ(ma, mb) << keep;
      EXPECT_EQ(a.nnz(), keep);
    }
}

// The sampled select (one vectorised pass) against the radix select, on data shaped like a training
// batch (sign-mixed pre-activations) and on heavily tied quantised data where the cut key is shared
// by many entries; sizes large enough that the sample is used rather than the fallback.
TEST(CrosscoderKernels, SampledBatchTopKEqualsRadixSelect) {
  const int64_t batch = 512, dict = 1000;
  for (bool tied : {false, true}) {
    std::vector<float> acts(batch * dict), b_enc(dict), w(dict);
    for (int64_t i = 0; i < batch * dict; ++i) {
      const float v = std::sin(0.7f * float(i % 7919) + 0.0013f * float(i)) * std::cos(0.37f * float(i % 1013));
      acts[i] = tied ? std::round(16 * v) / 16 - 0.2f : v - 0.2f;
    }
    for (int64_t j = 0; j < dict; ++j) {
      b_enc[j] = 0.01f * float(j % 5);
      w[j] = 1.0f + 0.25f * float(j % 3);
    }
    for (int threads : {1, 2})
      for (int64_t keep : {int64_t{2000}, int64_t{32 * 512}, int64_t{64 * 512}, int64_t{150000}}) {
        ExecContext ctx(threads);
        sparse::SparseCode<float> a, b;
        const float ma =
            sparse::batch_topk_sampled<float>(acts.data(), b_enc.data(), w.data(), batch, dict, keep, a, ctx);
        const float mb = sparse::batch_topk_radix<float>(acts.data(), b_enc.data(), w.data(), batch, dict, keep, b, ctx);
        EXPECT_EQ(a.row_ptr, b.row_ptr) << keep << " tied " << tied;
        EXPECT_EQ(a.idx, b.idx) << keep << " tied " << tied;
        EXPECT_EQ(a.val, b.val) << keep << " tied " << tied;
        EXPECT_EQ(ma, mb) << keep << " tied " << tied;
        EXPECT_EQ(a.nnz(), keep);
      }
  }
}

// Every instruction-set path of the score-chunk scan returns exactly the reference's chunks, on odd
// lengths (partial last chunks), NaN and negative sums, and cutoffs at, below and above zero.
TEST(CrosscoderKernels, ScoreChunksMatchReference) {
  for (cpu::Isa isa : {cpu::Isa::kPortable, cpu::Isa::kAvx2, cpu::Isa::kAvx512}) {
    if (!cpu::isa_supported(isa)) continue;
    const cpu::ScoreChunksFn fn = cpu::score_chunks_fn(isa);
    for (int64_t n : {1, 7, 15, 16, 17, 63, 64, 65, 127, 200, 1000}) {
      std::vector<float> a = wave(n, 1.5f, 0.91f), b = wave(n, 0.2f, 0.37f), w = wave(n, 0.5f, 0.13f);
      for (float& v : w) v = std::fabs(v) + 0.5f;
      if (n > 5) a[5] = std::nanf("");
      for (float cutoff : {-1.0f, 0.0f, 0.5f, 1.2f, 1.6f, 100.0f}) {
        std::vector<int32_t> want((n + 15) / 16, -1), got((n + 15) / 16, -1);
        std::vector<uint16_t> want_m((n + 15) / 16, 7), got_m((n + 15) / 16, 7);
        const int64_t nw =
            ref::score_chunks_at_or_above(a.data(), b.data(), w.data(), n, cutoff, want.data(), want_m.data());
        const int64_t ng = fn(a.data(), b.data(), w.data(), n, cutoff, got.data(), got_m.data());
        ASSERT_EQ(ng, nw) << cpu::isa_name(isa) << " n " << n << " cutoff " << cutoff;
        EXPECT_EQ(got, want) << cpu::isa_name(isa) << " n " << n << " cutoff " << cutoff;
        EXPECT_EQ(got_m, want_m) << cpu::isa_name(isa) << " n " << n << " cutoff " << cutoff;
        // The reference's masks are the scores themselves.
        for (int64_t h = 0; h < nw; ++h)
          for (int l = 0; l < 16 && want[h] * 16 + l < n; ++l) {
            const int64_t j = want[h] * 16 + l;
            const float r = a[j] + b[j] > 0 ? a[j] + b[j] : 0.0f;
            EXPECT_EQ((want_m[h] >> l) & 1, r * w[j] >= cutoff ? 1 : 0) << "n " << n << " j " << j;
          }
      }
    }
  }
}

// The column-blocked sparse products (decode, entry_dots, scatter_rows) against plain loops in
// double, for widths below, at and across the 64-column block (one, two and several blocks with a
// partial last one), latents used by several rows and by none, and 1 or 2 threads.
template <typename T>
void check_sparse_products(int64_t dim, int threads) {
  const int64_t batch = 33, dict = 70;
  ExecContext ctx(threads);
  std::vector<float> wf = wave(dict * dim, 0.9f, 0.173f), gf = wave(batch * dim, 1.1f, 0.311f),
                     xf = wave(batch * dim, 0.7f, 0.057f), bf = wave(dim, 0.3f, 0.77f);
  std::vector<T> dec(wf.begin(), wf.end()), g(gf.begin(), gf.end()), x(xf.begin(), xf.end()), bias(bf.begin(), bf.end());
  sparse::SparseCode<T> code;
  code.rows = batch;
  code.cols = dict;
  code.row_ptr.assign(1, 0);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t j = b % 3; j < dict - 10; j += 5 + b % 4) {  // latents >= 60 are never used
      code.idx.push_back(static_cast<int32_t>(j));
      code.val.push_back(static_cast<T>(0.25 + 0.01 * static_cast<double>((b * 7 + j) % 13)));
    }
    code.row_ptr.push_back(code.nnz());
  }
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  // decode: out[b] = bias + sum_e val * dec[j].
  std::vector<T> out(batch * dim);
  sparse::decode<T>(code, dec.data(), bias.data(), dim, out.data(), ctx);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < dim; ++i) {
      double want = bias[i];
      for (int64_t e = code.row_ptr[b]; e < code.row_ptr[b + 1]; ++e)
        want += static_cast<double>(code.val[e]) * dec[code.idx[e] * dim + i];
      ASSERT_NEAR(out[b * dim + i], want, tol * (1 + std::fabs(want))) << "decode dim " << dim;
    }
  // entry_dots: dot(dec[j], g[b]) per entry.
  std::vector<T> dots(code.nnz());
  sparse::entry_dots<T>(code, dec.data(), g.data(), dim, dots.data(), ctx);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t e = code.row_ptr[b]; e < code.row_ptr[b + 1]; ++e) {
      double want = 0;
      for (int64_t i = 0; i < dim; ++i) want += static_cast<double>(dec[code.idx[e] * dim + i]) * g[b * dim + i];
      ASSERT_NEAR(dots[e], want, tol * (1 + std::fabs(want)) * std::sqrt(static_cast<double>(dim))) << "dots dim " << dim;
    }
  // scatter_rows: out[j] (+)= sum over entries of j of val * x[row]; rows of unused latents zero
  // (overwrite) or unchanged (accumulate).
  sparse::LatentIndex index;
  sparse::latent_index(code, index);
  for (bool overwrite : {true, false}) {
    std::vector<T> grad(dict * dim, T(0.5));
    sparse::scatter_rows<T>(index, code.val.data(), x.data(), dim, dict, grad.data(), overwrite, ctx);
    for (int64_t j = 0; j < dict; ++j)
      for (int64_t i = 0; i < dim; ++i) {
        double want = overwrite ? 0.0 : 0.5;
        for (int64_t b = 0; b < batch; ++b)
          for (int64_t e = code.row_ptr[b]; e < code.row_ptr[b + 1]; ++e)
            if (code.idx[e] == j) want += static_cast<double>(code.val[e]) * x[b * dim + i];
        ASSERT_NEAR(grad[j * dim + i], want, tol * (1 + std::fabs(want))) << "scatter dim " << dim;
      }
  }
}

TEST(CrosscoderKernels, BlockedSparseProductsMatchPlainLoops) {
  for (int threads : {1, 2})
    for (int64_t dim : {5, 45, 64, 65, 130, 200}) {
      check_sparse_products<float>(dim, threads);
      check_sparse_products<double>(dim, threads);
    }
}

// The encoder GEMM (input packed once) against the reference GEMM on odd shapes: partial 14-row and
// 32-column tiles, depths around the 256-deep slice, more than one 512-column block and more than
// one group of row panels, 1 or 2 threads,
// every supported instruction set (AVX2 and portable go through linear_gemm).
TEST(CrosscoderKernels, GemmAbtMatchesReference) {
  for (cpu::Isa isa : {cpu::Isa::kPortable, cpu::Isa::kAvx2, cpu::Isa::kAvx512}) {
    if (!cpu::isa_supported(isa)) continue;
    for (int threads : {1, 2})
      for (int64_t n : {1, 13, 29, 200})  // 200 rows: two groups of 8 row panels, the second partial
        for (int64_t k : {1, 129, 255, 257, 300})
          for (int64_t m : {1, 33, 70, 600}) {
            ExecContext ctx(threads);
            const std::vector<float> a = wave(n * k, 0.8f, 0.37f), b = wave(m * k, 0.6f, 0.113f);
            std::vector<float> want(n * m), got(n * m, 123.0f);
            ref::gemm<float>(Trans::kNo, Trans::kYes, n, m, k, 1.0f, a.data(), k, b.data(), k, 0.0f, want.data(), m);
            cpu::gemm_abt(ctx, a.data(), n, k, b.data(), m, got.data(), isa);
            for (int64_t i = 0; i < n * m; ++i)
              ASSERT_NEAR(got[i], want[i], 1e-5f * std::sqrt(static_cast<float>(k)) * (1 + std::fabs(want[i])))
                  << cpu::isa_name(isa) << " n " << n << " k " << k << " m " << m << " at " << i;
          }
  }
}

// Every instruction-set path of the sparse-row products against the reference loops, for piece
// lengths from 1 to 64 (masked tails), entries with scattered rows and coefficient positions.
TEST(CrosscoderKernels, SparseRowOpsMatchReference) {
  const int64_t n_rows = 37, ld = 71, n = 9;
  const std::vector<int64_t> pos = {5, 0, 8, 3, 3, 7, 1, 2, 6};  // a repeated position is legal for reads
  const std::vector<int32_t> row = {0, 36, 4, 17, 9, 22, 31, 2, 12};
  const std::vector<float> coef = wave(n, 0.8f, 1.7f);
  for (cpu::Isa isa : {cpu::Isa::kPortable, cpu::Isa::kAvx2, cpu::Isa::kAvx512}) {
    if (!cpu::isa_supported(isa)) continue;
    const cpu::SparseRowOps& ops = cpu::sparse_row_ops(isa);
    for (int64_t len : {1, 5, 8, 15, 16, 17, 33, 48, 63, 64}) {
      const std::vector<float> piece = wave(len, 1.1f, 0.77f), rows = wave(n_rows * ld, 0.9f, 0.29f);
      const std::string what = std::string(cpu::isa_name(isa)) + " len " + std::to_string(len);
      // axpy_rows (distinct rows, as in a latent's entries).
      std::vector<float> want = rows, got = rows;
      ref::axpy_rows(piece.data(), len, coef.data(), pos.data(), row.data(), n, want.data() + 3, ld);
      ops.axpy_rows(piece.data(), len, coef.data(), pos.data(), row.data(), n, got.data() + 3, ld);
      for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6f) << what << " at " << i;
      // dot_rows, first and accumulating.
      for (bool first : {true, false}) {
        std::vector<float> dw(n, 0.5f), dg(n, 0.5f);
        ref::dot_rows(piece.data(), len, pos.data(), row.data(), n, rows.data() + 3, ld, dw.data(), first);
        ops.dot_rows(piece.data(), len, pos.data(), row.data(), n, rows.data() + 3, ld, dg.data(), first);
        for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(dg[i], dw[i], 1e-5f) << what << " first " << first;
      }
      // gather_sum, overwriting and accumulating; lanes past len untouched.
      for (bool overwrite : {true, false}) {
        std::vector<float> pw(kSentinelWidth, 2.0f), pg(kSentinelWidth, 2.0f);
        ref::gather_sum(coef.data(), pos.data(), row.data(), n, rows.data() + 3, ld, len, pw.data(), overwrite);
        ops.gather_sum(coef.data(), pos.data(), row.data(), n, rows.data() + 3, ld, len, pg.data(), overwrite);
        for (int64_t i = 0; i < kSentinelWidth; ++i) ASSERT_NEAR(pg[i], pw[i], 1e-5f) << what << " at " << i;
        EXPECT_EQ(pg[len], 2.0f) << what;
      }
    }
  }
}

}  // namespace
}  // namespace ct::kernels
