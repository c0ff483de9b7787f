// Sparse selection, decoding and backward products (see sparse.h).
//
// BatchTopK selects exactly over the bit patterns of the non-negative scores. For large f32 batches
// a sample of the scores gives a cutoff slightly below the k-th largest, one vectorised pass
// collects the scores at or above it, and the exact cut is chosen among those candidates (one pass
// over B*F). Otherwise (and whenever the sample misleads) a histogram of the top 16 bits finds the
// bucket of the k-th largest key, one emit pass keeps what is above it and collects the bucket's
// entries as candidates, and an exact select among those candidates finishes (two passes; the older
// one-pass-per-digit radix select remains as the fallback for buckets with very many candidates).
#include "kernels/sparse/sparse.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>

#include "core/aligned_vector.h"
#include "core/error.h"
#include "kernels/cpu/score_scan.h"
#include "kernels/cpu/sparse_rows.h"
#include "kernels/cpu/vec.h"

namespace ct::kernels::sparse {
namespace {

template <typename T> struct KeyBits;
template <> struct KeyBits<float> { using type = uint32_t; };
template <> struct KeyBits<double> { using type = uint64_t; };

// r = max(0, a + b); the compare form keeps -0 and NaN out (both become +0).
template <typename T>
inline T relu(T a) { return a > T(0) ? a : T(0); }

template <typename T>
inline typename KeyBits<T>::type key_of(T s) {
  return s > T(0) ? std::bit_cast<typename KeyBits<T>::type>(s) : 0;
}

// Runs fn(c, row_begin, row_end) for c in [0, chunks), chunk c on thread c.
template <typename Fn>
void for_row_chunks(const ExecContext& ctx, int64_t chunks, int64_t rows, Fn&& fn) {
  ctx.parallel_for(chunks, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) fn(c, rows * c / chunks, rows * (c + 1) / chunks);
  });
}

template <typename T>
struct ChunkOut {
  std::vector<int64_t> counts;  // per row of the chunk
  std::vector<int32_t> idx;
  std::vector<T> val;
};

template <typename T>
void assemble(std::vector<ChunkOut<T>>& chunks, int64_t rows, int64_t cols, SparseCode<T>& out) {
  out.rows = rows;
  out.cols = cols;
  out.row_ptr.assign(rows + 1, 0);
  int64_t total = 0, r = 0;
  for (auto& c : chunks) {
    for (int64_t n : c.counts) {
      out.row_ptr[r + 1] = out.row_ptr[r] + n;
      ++r;
    }
    total += static_cast<int64_t>(c.idx.size());
  }
  CT_CHECK(r == rows && out.row_ptr[rows] == total);
  out.idx.resize(total);
  out.val.resize(total);
  int64_t at = 0;
  for (auto& c : chunks) {
    std::copy(c.idx.begin(), c.idx.end(), out.idx.begin() + at);
    std::copy(c.val.begin(), c.val.end(), out.val.begin() + at);
    at += static_cast<int64_t>(c.idx.size());
  }
}

int64_t chunk_count(const ExecContext& ctx, int64_t rows) {
  return std::max<int64_t>(1, std::min<int64_t>(ctx.threads(), rows));
}

}  // namespace

// Exact radix select with one histogram pass per 16-bit digit, then an emit pass (the fallback
// when the threshold's top digit holds too many candidates for the two-pass path below).
template <typename T>
T batch_topk_radix(const T* acts, const T* b_enc, const T* w, int64_t batch, int64_t dict, int64_t k_total,
                   SparseCode<T>& out, const ExecContext& ctx) {
  using Key = typename KeyBits<T>::type;
  constexpr int kKeyBits = sizeof(Key) * 8, kDigit = 16, kBuckets = 1 << kDigit;
  const int64_t total = batch * dict;
  const int64_t keep = std::clamp<int64_t>(k_total, 0, total);
  const int64_t chunks = chunk_count(ctx, batch);
  auto score = [&](int64_t b, int64_t j) { return relu(acts[b * dict + j] + b_enc[j]) * w[j]; };

  // Radix select of the keep-th largest key. `prefix` holds the digits fixed so far.
  Key prefix = 0;
  int64_t need = keep;  // how many entries with the prefix are still to be kept
  std::vector<std::vector<uint32_t>> hists(chunks, std::vector<uint32_t>(kBuckets));
  uint32_t t_bucket = 0;
  if (keep > 0 && keep < total) {
    for (int shift = kKeyBits - kDigit; shift >= 0; shift -= kDigit) {
      const int high = shift + kDigit;
      for_row_chunks(ctx, chunks, batch, [&](int64_t c, int64_t r0, int64_t r1) {
        auto& h = hists[c];
        std::fill(h.begin(), h.end(), 0u);
        for (int64_t b = r0; b < r1; ++b)
          for (int64_t j = 0; j < dict; ++j) {
            const Key key = key_of(score(b, j));
            if (high < kKeyBits && (key >> high) != prefix) continue;
            ++h[(key >> shift) & (kBuckets - 1)];
          }
      });
      int64_t above = 0;
      int64_t bucket = kBuckets - 1;
      for (; bucket >= 0; --bucket) {
        int64_t count = 0;
        for (auto& h : hists) count += h[bucket];
        if (above + count >= need) break;
        above += count;
      }
      CT_CHECK(bucket >= 0, "radix select lost its count");
      need -= above;
      prefix = static_cast<Key>((prefix << kDigit) | static_cast<Key>(bucket));
      t_bucket = static_cast<uint32_t>(bucket);
    }
  }
  // The last histograms count, per chunk, the entries equal to the threshold key: hand the `need`
  // equal entries to the chunks in order so that the lowest flat indices win.
  std::vector<int64_t> quota(chunks, 0);
  if (keep > 0 && keep < total) {
    int64_t left = need;
    for (int64_t c = 0; c < chunks; ++c) {
      quota[c] = std::min<int64_t>(left, hists[c][t_bucket]);
      left -= quota[c];
    }
  }
  const Key threshold = prefix;
  const bool keep_all = keep == total, keep_none = keep == 0;
  std::vector<ChunkOut<T>> parts(chunks);
  std::vector<T> min_pos(chunks, std::numeric_limits<T>::infinity());
  for_row_chunks(ctx, chunks, batch, [&](int64_t c, int64_t r0, int64_t r1) {
    auto& p = parts[c];
    p.counts.assign(r1 - r0, 0);
    if (keep_none) return;
    int64_t eq_left = quota[c];
    T mn = std::numeric_limits<T>::infinity();
    for (int64_t b = r0; b < r1; ++b) {
      int64_t n = 0;
      for (int64_t j = 0; j < dict; ++j) {
        const T r = relu(acts[b * dict + j] + b_enc[j]);
        const T s = r * w[j];
        const Key key = key_of(s);
        bool take = keep_all || key > threshold;
        if (!take && key == threshold && eq_left > 0) {
          take = true;
          --eq_left;
        }
        if (!take) continue;
        p.idx.push_back(static_cast<int32_t>(j));
        p.val.push_back(r);
        if (s > T(0)) mn = std::min(mn, s);
        ++n;
      }
      p.counts[b - r0] = n;
    }
    min_pos[c] = mn;
  });
  assemble(parts, batch, dict, out);
  CT_CHECK(out.nnz() == keep, "batch_topk kept the wrong number of entries");
  T mn = std::numeric_limits<T>::infinity();
  for (T m : min_pos) mn = std::min(mn, m);
  return std::isinf(mn) ? T(0) : mn;
}

// Two passes over B x F instead of one per digit: (1) a histogram of the top 16 bits of every key
// finds the bucket t that holds the keep-th largest key; (2) one emit pass keeps every entry above
// t and records the entries inside t as candidates; the `need` best candidates (key descending,
// flat index ascending) are then chosen exactly among those few, and a pass over the sparse output
// drops the others. Same result as the radix select, entry for entry.
template <typename T>
T batch_topk_two_pass(const T* acts, const T* b_enc, const T* w, int64_t batch, int64_t dict, int64_t k_total,
                      SparseCode<T>& out, const ExecContext& ctx) {
  using Key = typename KeyBits<T>::type;
  constexpr int kKeyBits = sizeof(Key) * 8, kDigit = 16, kBuckets = 1 << kDigit, kShift = kKeyBits - kDigit;
  const int64_t total = batch * dict;
  const int64_t keep = std::clamp<int64_t>(k_total, 0, total);
  if (keep == 0 || keep == total) return batch_topk_radix(acts, b_enc, w, batch, dict, k_total, out, ctx);
  const int64_t chunks = chunk_count(ctx, batch);
  std::vector<std::vector<uint32_t>> hists(chunks, std::vector<uint32_t>(kBuckets));
  for_row_chunks(ctx, chunks, batch, [&](int64_t c, int64_t r0, int64_t r1) {
    uint32_t* h = hists[c].data();
    for (int64_t b = r0; b < r1; ++b) {
      const T* a = acts + b * dict;
      for (int64_t j = 0; j < dict; ++j) ++h[key_of(relu(a[j] + b_enc[j]) * w[j]) >> kShift];
    }
  });
  int64_t above = 0, bucket = kBuckets - 1;
  for (; bucket >= 0; --bucket) {
    int64_t count = 0;
    for (auto& h : hists) count += h[bucket];
    if (above + count >= keep) break;
    above += count;
  }
  CT_CHECK(bucket >= 0, "batch_topk lost its count");
  int64_t n_cand = 0;
  for (auto& h : hists) n_cand += h[bucket];
  // A bucket with very many candidates (e.g. the zero keys when fewer than keep are positive) is
  // cheaper for the digit-by-digit select.
  if (n_cand > std::max<int64_t>(1 << 20, keep)) return batch_topk_radix(acts, b_enc, w, batch, dict, k_total, out, ctx);
  const int64_t need = keep - above;
  const Key top = static_cast<Key>(bucket);
  struct Cand {
    Key key;
    int64_t flat;
  };
  std::vector<ChunkOut<T>> parts(chunks);
  std::vector<std::vector<Cand>> cands(chunks);
  std::vector<std::vector<int64_t>> cand_pos(chunks);  // position of each candidate in parts[c].idx
  for_row_chunks(ctx, chunks, batch, [&](int64_t c, int64_t r0, int64_t r1) {
    auto& p = parts[c];
    p.counts.assign(r1 - r0, 0);
    p.idx.reserve(keep / chunks + hists[c][bucket] + 16);
    p.val.reserve(keep / chunks + hists[c][bucket] + 16);
    for (int64_t b = r0; b < r1; ++b) {
      const T* a = acts + b * dict;
      int64_t n = 0;
      for (int64_t j = 0; j < dict; ++j) {
        const T r = relu(a[j] + b_enc[j]);
        const Key key = key_of(r * w[j]);
        const Key d = key >> kShift;
        if (d < top) continue;
        if (d == top) {
          cands[c].push_back({key, b * dict + j});
          cand_pos[c].push_back(static_cast<int64_t>(p.idx.size()));
        }
        p.idx.push_back(static_cast<int32_t>(j));
        p.val.push_back(r);
        ++n;
      }
      p.counts[b - r0] = n;
    }
  });
  // The need-th best candidate (key descending, flat index ascending) is the cut.
  std::vector<Cand> all;
  all.reserve(n_cand);
  for (auto& c : cands) all.insert(all.end(), c.begin(), c.end());
  CT_CHECK(static_cast<int64_t>(all.size()) == n_cand && need >= 1 && need <= n_cand);
  auto better = [](const Cand& a, const Cand& b) { return a.key > b.key || (a.key == b.key && a.flat < b.flat); };
  std::nth_element(all.begin(), all.begin() + (need - 1), all.end(), better);
  const Cand cut = all[need - 1];
  // Drop the candidates below the cut, fixing the per-row counts; track the smallest kept score.
  std::vector<T> min_pos(chunks, std::numeric_limits<T>::infinity());
  for_row_chunks(ctx, chunks, batch, [&](int64_t c, int64_t r0, int64_t r1) {
    auto& p = parts[c];
    std::vector<uint8_t> drop(p.idx.size(), 0);
    for (size_t i = 0; i < cands[c].size(); ++i)
      if (better(cut, cands[c][i])) drop[cand_pos[c][i]] = 1;
    int64_t at = 0, e = 0;
    T mn = std::numeric_limits<T>::infinity();
    for (int64_t b = r0; b < r1; ++b) {
      int64_t n = 0;
      for (int64_t end = e + p.counts[b - r0]; e < end; ++e) {
        if (drop[e]) continue;
        p.idx[at] = p.idx[e];
        p.val[at] = p.val[e];
        const T s = p.val[at] * w[p.idx[at]];
        if (s > T(0)) mn = std::min(mn, s);
        ++at;
        ++n;
      }
      p.counts[b - r0] = n;
    }
    p.idx.resize(at);
    p.val.resize(at);
    min_pos[c] = mn;
  });
  assemble(parts, batch, dict, out);
  CT_CHECK(out.nnz() == keep, "batch_topk kept the wrong number of entries");
  T mn = std::numeric_limits<T>::infinity();
  for (T m : min_pos) mn = std::min(mn, m);
  return std::isinf(mn) ? T(0) : mn;
}

namespace {

// The sampled select for f32 (see sparse.h); returns false (out untouched) when it cannot decide
// from its sample, and the caller falls back to the two-pass select.
bool sampled_select(const float* acts, const float* b_enc, const float* w, int64_t batch, int64_t dict,
                    int64_t keep, SparseCode<float>& out, float& min_kept, const ExecContext& ctx) {
  constexpr int64_t kSegment = 64;
  const int64_t total = batch * dict, seg = std::min<int64_t>(kSegment, dict);
  const int64_t n_sample = batch * seg;
  // Expected sampled scores at or above the true cut, and the sample rank taken as the cutoff: 4
  // standard deviations (binomial) above it, so the pass collects at least `keep` scores except
  // with a probability of about 3e-5 (then the fallback runs).
  const double mu = static_cast<double>(keep) * static_cast<double>(n_sample) / static_cast<double>(total);
  if (2 * n_sample > total || mu < 32) return false;
  const int64_t rank = static_cast<int64_t>(std::ceil(mu + 4 * std::sqrt(mu) + 4));
  if (rank > n_sample) return false;
  std::vector<uint32_t> sample(n_sample);
  const int64_t span = dict - seg + 1;
  ctx.parallel_for(batch, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      // Odd multiplier: consecutive rows sample different columns.
      const int64_t off = (b * 4099 + 17) % span;
      const float* a = acts + b * dict + off;
      for (int64_t i = 0; i < seg; ++i) sample[b * seg + i] = key_of(relu(a[i] + b_enc[off + i]) * w[off + i]);
    }
  });
  std::nth_element(sample.begin(), sample.begin() + (rank - 1), sample.end(), std::greater<uint32_t>());
  const uint32_t cut_key = sample[rank - 1];
  if (cut_key == 0) return false;  // the cutoff would collect every zero score
  const float cutoff = std::bit_cast<float>(cut_key);

  // One pass: every entry with score >= cutoff, in flat order per chunk of rows.
  const cpu::ScoreChunksFn scan = cpu::score_chunks_fn();
  const int64_t chunks = chunk_count(ctx, batch);
  std::vector<ChunkOut<float>> parts(chunks);
  std::vector<std::vector<uint32_t>> keys(chunks);
  for_row_chunks(ctx, chunks, batch, [&](int64_t c, int64_t r0, int64_t r1) {
    auto& p = parts[c];
    auto& kc = keys[c];
    p.counts.assign(r1 - r0, 0);
    const size_t expect = static_cast<size_t>(static_cast<double>(keep) * 1.3 * (r1 - r0) / batch) + 64;
    p.idx.reserve(expect);
    p.val.reserve(expect);
    kc.reserve(expect);
    std::vector<int32_t> hits((dict + 15) / 16);
    std::vector<uint16_t> lanes((dict + 15) / 16);
    for (int64_t b = r0; b < r1; ++b) {
      const float* a = acts + b * dict;
      const int64_t n_hits = scan(a, b_enc, w, dict, cutoff, hits.data(), lanes.data());
      int64_t n = 0;
      for (int64_t h = 0; h < n_hits; ++h) {
        for (uint32_t m = lanes[h]; m != 0; m &= m - 1) {
          const int64_t j = static_cast<int64_t>(hits[h]) * 16 + std::countr_zero(m);
          const float r = relu(a[j] + b_enc[j]);
          const float s = r * w[j];
          CT_CHECK(s >= cutoff, "score scan and scalar score disagree");
          p.idx.push_back(static_cast<int32_t>(j));
          p.val.push_back(r);
          kc.push_back(key_of(s));
          ++n;
        }
      }
      p.counts[b - r0] = n;
    }
  });
  int64_t n_cand = 0;
  for (auto& kc : keys) n_cand += static_cast<int64_t>(kc.size());
  if (n_cand < keep) return false;

  // The keep-th largest key among the candidates; entries equal to it are taken in flat order
  // (lower flat index wins), handed out to the row chunks in order.
  std::vector<uint32_t> all;
  all.reserve(n_cand);
  for (auto& kc : keys) all.insert(all.end(), kc.begin(), kc.end());
  std::nth_element(all.begin(), all.begin() + (keep - 1), all.end(), std::greater<uint32_t>());
  const uint32_t kth = all[keep - 1];
  int64_t above = 0;
  for (uint32_t k : all) above += k > kth;
  std::vector<int64_t> quota(chunks, 0);
  int64_t left = keep - above;
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t equal = 0;
    for (uint32_t k : keys[c]) equal += k == kth;
    quota[c] = std::min(left, equal);
    left -= quota[c];
  }
  CT_CHECK(left == 0, "sampled batch_topk lost its count");
  for_row_chunks(ctx, chunks, batch, [&](int64_t c, int64_t r0, int64_t r1) {
    auto& p = parts[c];
    const auto& kc = keys[c];
    int64_t eq_left = quota[c], at = 0, e = 0;
    for (int64_t b = r0; b < r1; ++b) {
      int64_t n = 0;
      for (int64_t end = e + p.counts[b - r0]; e < end; ++e) {
        bool take = kc[e] > kth;
        if (!take && kc[e] == kth && eq_left > 0) {
          take = true;
          --eq_left;
        }
        if (!take) continue;
        p.idx[at] = p.idx[e];
        p.val[at] = p.val[e];
        ++at;
        ++n;
      }
      p.counts[b - r0] = n;
    }
    p.idx.resize(at);
    p.val.resize(at);
  });
  assemble(parts, batch, dict, out);
  CT_CHECK(out.nnz() == keep, "sampled batch_topk kept the wrong number of entries");
  min_kept = std::bit_cast<float>(kth);  // > 0: every candidate is at or above a positive cutoff
  return true;
}

}  // namespace

template <typename T>
T batch_topk_sampled(const T* acts, const T* b_enc, const T* w, int64_t batch, int64_t dict, int64_t k_total,
                     SparseCode<T>& out, const ExecContext& ctx) {
  const int64_t total = batch * dict;
  const int64_t keep = std::clamp<int64_t>(k_total, 0, total);
  if constexpr (std::is_same_v<T, float>) {
    float min_kept = 0;
    if (keep > 0 && keep < total && sampled_select(acts, b_enc, w, batch, dict, keep, out, min_kept, ctx))
      return min_kept;
  }
  return batch_topk_two_pass(acts, b_enc, w, batch, dict, k_total, out, ctx);
}

template <typename T>
T batch_topk(const T* acts, const T* b_enc, const T* w, int64_t batch, int64_t dict, int64_t k_total,
             SparseCode<T>& out, const ExecContext& ctx) {
  if (std::is_same_v<T, float> && batch * dict >= (int64_t{1} << 20))
    return batch_topk_sampled(acts, b_enc, w, batch, dict, k_total, out, ctx);
  return batch_topk_two_pass(acts, b_enc, w, batch, dict, k_total, out, ctx);
}

namespace {

// Top `k` of (score, index) candidates by score descending, index ascending; written to `p` in
// index order.
template <typename T>
void emit_top(std::vector<std::pair<T, int32_t>>& cand, std::vector<T>& vals, int64_t k,
              ChunkOut<T>& p, int64_t row_in_chunk) {
  const int64_t take = std::min<int64_t>(k, static_cast<int64_t>(cand.size()));
  auto better = [](const std::pair<T, int32_t>& a, const std::pair<T, int32_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  if (take < static_cast<int64_t>(cand.size()))
    std::nth_element(cand.begin(), cand.begin() + take, cand.end(), better);
  std::sort(cand.begin(), cand.begin() + take,
            [](const auto& a, const auto& b) { return a.second < b.second; });
  for (int64_t i = 0; i < take; ++i) {
    p.idx.push_back(cand[i].second);
    p.val.push_back(vals[cand[i].second]);
  }
  p.counts[row_in_chunk] = take;
}

}  // namespace

template <typename T>
void row_topk(const T* acts, const T* b_enc, const T* w, int64_t batch, int64_t dict, int64_t k,
              SparseCode<T>& out, const ExecContext& ctx) {
  const int64_t chunks = chunk_count(ctx, batch);
  std::vector<ChunkOut<T>> parts(chunks);
  for_row_chunks(ctx, chunks, batch, [&](int64_t c, int64_t r0, int64_t r1) {
    auto& p = parts[c];
    p.counts.assign(r1 - r0, 0);
    std::vector<std::pair<T, int32_t>> cand(dict);
    std::vector<T> vals(dict);
    for (int64_t b = r0; b < r1; ++b) {
      for (int64_t j = 0; j < dict; ++j) {
        vals[j] = relu(acts[b * dict + j] + b_enc[j]);
        const T s = vals[j] * w[j];
        cand[j] = {s > T(0) ? s : T(0), static_cast<int32_t>(j)};
      }
      emit_top(cand, vals, k, p, b - r0);
      cand.resize(dict);
    }
  });
  assemble(parts, batch, dict, out);
}

template <typename T>
void masked_row_topk(const T* acts, const T* b_enc, const T* w, const uint8_t* mask, int64_t batch,
                     int64_t dict, int64_t k, SparseCode<T>& out, const ExecContext& ctx) {
  std::vector<int32_t> allowed;
  for (int64_t j = 0; j < dict; ++j)
    if (mask[j]) allowed.push_back(static_cast<int32_t>(j));
  const int64_t chunks = chunk_count(ctx, batch);
  std::vector<ChunkOut<T>> parts(chunks);
  for_row_chunks(ctx, chunks, batch, [&](int64_t c, int64_t r0, int64_t r1) {
    auto& p = parts[c];
    p.counts.assign(r1 - r0, 0);
    std::vector<std::pair<T, int32_t>> cand;
    std::vector<T> vals(dict);
    for (int64_t b = r0; b < r1; ++b) {
      cand.clear();
      for (int32_t j : allowed) {
        vals[j] = relu(acts[b * dict + j] + b_enc[j]);
        if (vals[j] > T(0)) cand.push_back({vals[j] * w[j], j});
      }
      emit_top(cand, vals, k, p, b - r0);
    }
  });
  assemble(parts, batch, dict, out);
}

template <typename T>
void filter_code(const T* acts, const T* b_enc, const T* w, T cutoff, int64_t batch, int64_t dict,
                 SparseCode<T>& out, const ExecContext& ctx) {
  const int64_t chunks = chunk_count(ctx, batch);
  std::vector<ChunkOut<T>> parts(chunks);
  for_row_chunks(ctx, chunks, batch, [&](int64_t c, int64_t r0, int64_t r1) {
    auto& p = parts[c];
    p.counts.assign(r1 - r0, 0);
    for (int64_t b = r0; b < r1; ++b) {
      int64_t n = 0;
      for (int64_t j = 0; j < dict; ++j) {
        const T r = relu(acts[b * dict + j] + b_enc[j]);
        const T s = w ? r * w[j] : r;
        if (!(s > cutoff)) continue;
        p.idx.push_back(static_cast<int32_t>(j));
        p.val.push_back(r);
        ++n;
      }
      p.counts[b - r0] = n;
    }
  });
  assemble(parts, batch, dict, out);
}

// The sparse products would gather whole decoder rows (or input rows) at random: at F = 16384 and
// D = 2048 that is 8 KiB per entry from a 128 MiB matrix, at memory latency. Instead every product
// walks the columns in blocks of kColBlock and, inside a block, the latents in ascending order:
// each latent's piece of the decoder (256 bytes) is read once per block, sequentially over the
// latents, and the per-entry gathers and scatters hit a [rows, kColBlock] slice of the row-side
// matrix (the thread's rows of x_hat or g: 512 KiB at 2048 rows; all rows of g or x for the
// weight gradients: 1 MiB) that stays in L2. The slice is copied into a dense buffer first: with
// the matrix's own row stride (8 KiB at D = 2048, a power of two) every row's piece falls into the
// same few cache sets and the slice would not stay cached at all. Rows are split over threads for decode and
// entry_dots (each thread indexes its own entries by latent), latents for scatter_rows. Per output
// element the order of the summands is unchanged: a row's entries are in ascending latent order in
// the CSR code and in the latent sweep alike, and entry_dots adds its per-block partial dots in
// block order.
constexpr int64_t kColBlock = cpu::kSparsePiece;

namespace {

// A [rows, kColBlock] scratch slice on 64-byte boundaries (every row of it is a whole number of
// cache lines, so the per-entry loads and stores never split a line).
template <typename T>
class SliceBuffer {
 public:
  explicit SliceBuffer(int64_t rows) : data_(aligned_array<T>(std::max<int64_t>(rows, 1) * kColBlock)) {}
  T* data() { return data_.get(); }

 private:
  AlignedArray<T> data_;
};

// The per-latent inner loops: kernels/cpu/sparse_rows.h for f32 (chosen once per op), plain loops
// with the same contracts for f64 (exact tests).
template <typename T>
struct RowOps;
template <>
struct RowOps<float> {
  const cpu::SparseRowOps& ops = cpu::sparse_row_ops();
  void axpy_rows(const float* piece, int64_t len, const float* coef, const int64_t* pos, const int32_t* row, int64_t n,
                 float* rows, int64_t ld) const {
    ops.axpy_rows(piece, len, coef, pos, row, n, rows, ld);
  }
  void dot_rows(const float* piece, int64_t len, const int64_t* pos, const int32_t* row, int64_t n, const float* rows,
                int64_t ld, float* out, bool first) const {
    ops.dot_rows(piece, len, pos, row, n, rows, ld, out, first);
  }
  void gather_sum(const float* coef, const int64_t* pos, const int32_t* row, int64_t n, const float* rows, int64_t ld,
                  int64_t len, float* piece, bool overwrite) const {
    ops.gather_sum(coef, pos, row, n, rows, ld, len, piece, overwrite);
  }
};
template <>
struct RowOps<double> {
  void axpy_rows(const double* piece, int64_t len, const double* coef, const int64_t* pos, const int32_t* row,
                 int64_t n, double* rows, int64_t ld) const {
    for (int64_t a = 0; a < n; ++a) cpu::axpy(coef[pos[a]], piece, rows + static_cast<int64_t>(row[a]) * ld, len);
  }
  void dot_rows(const double* piece, int64_t len, const int64_t* pos, const int32_t* row, int64_t n,
                const double* rows, int64_t ld, double* out, bool first) const {
    for (int64_t a = 0; a < n; ++a) {
      const double s = cpu::dot(piece, rows + static_cast<int64_t>(row[a]) * ld, len);
      out[pos[a]] = first ? s : out[pos[a]] + s;
    }
  }
  void gather_sum(const double* coef, const int64_t* pos, const int32_t* row, int64_t n, const double* rows,
                  int64_t ld, int64_t len, double* piece, bool overwrite) const {
    if (overwrite) std::fill(piece, piece + len, 0.0);
    for (int64_t a = 0; a < n; ++a) cpu::axpy(coef[pos[a]], rows + static_cast<int64_t>(row[a]) * ld, piece, len);
  }
};

// The entries of rows [r0, r1) of `code` by latent: for latent j, positions pos[col_ptr[j] ..
// col_ptr[j + 1]) into the code's arrays, rows ascending; row[a] is the row of pos[a] minus r0.
template <typename T>
void rows_latent_index(const SparseCode<T>& code, int64_t r0, int64_t r1, LatentIndex& out) {
  const int64_t dict = code.cols;
  const int64_t e0 = code.row_ptr[r0], e1 = code.row_ptr[r1];
  out.col_ptr.assign(dict + 1, 0);
  for (int64_t e = e0; e < e1; ++e) ++out.col_ptr[code.idx[e] + 1];
  for (int64_t j = 0; j < dict; ++j) out.col_ptr[j + 1] += out.col_ptr[j];
  out.pos.resize(e1 - e0);
  out.row.resize(e1 - e0);
  std::vector<int64_t> next(out.col_ptr.begin(), out.col_ptr.end() - 1);
  for (int64_t b = r0; b < r1; ++b)
    for (int64_t e = code.row_ptr[b]; e < code.row_ptr[b + 1]; ++e) {
      const int64_t at = next[code.idx[e]]++;
      out.pos[at] = e;
      out.row[at] = static_cast<int32_t>(b - r0);
    }
}

// How many latents ahead the products prefetch their decoder piece: the pieces are 8 KiB apart
// (beyond the hardware prefetchers' reach) and come from memory, so one latent's entries (~16 at
// k = 64, F = 16384) are too short to hide the latency.
constexpr int64_t kPrefetchLatents = 32;

// Prefetches the len-float piece at p into L2.
template <typename T>
inline void prefetch_piece(const T* p, int64_t len) {
  // A piece need not start on a cache line (vectors are 16-byte aligned): walk from its first line
  // to the line of its last byte.
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63};
  const uintptr_t last = reinterpret_cast<uintptr_t>(p + len) - 1;
  for (uintptr_t line = first; line <= last; line += 64) __builtin_prefetch(reinterpret_cast<const void*>(line), 0, 2);
}

}  // namespace

template <typename T>
void decode(const SparseCode<T>& code, const T* dec, const T* bias, int64_t dim, T* out,
            const ExecContext& ctx) {
  const RowOps<T> ops;
  const int64_t dict = code.cols;
  ctx.parallel_for(code.rows, [&](int64_t r0, int64_t r1) {
    LatentIndex index;
    rows_latent_index(code, r0, r1, index);
    SliceBuffer<T> block(r1 - r0);  // [r1 - r0, kColBlock] slice of out
    for (int64_t c0 = 0; c0 < dim; c0 += kColBlock) {
      const int64_t len = std::min(kColBlock, dim - c0);
      for (int64_t b = 0; b < r1 - r0; ++b) {
        T* o = block.data() + b * kColBlock;
        if (bias) std::copy(bias + c0, bias + c0 + len, o);
        else std::fill(o, o + len, T(0));
      }
      for (int64_t j = 0; j < dict; ++j) {
        const int64_t a0 = index.col_ptr[j], n = index.col_ptr[j + 1] - a0;
        if (n == 0) continue;
        const T* piece = dec + j * dim + c0;
        if (j + kPrefetchLatents < dict) prefetch_piece(piece + kPrefetchLatents * dim, len);
        ops.axpy_rows(piece, len, code.val.data(), index.pos.data() + a0, index.row.data() + a0, n, block.data(),
                      kColBlock);
      }
      for (int64_t b = 0; b < r1 - r0; ++b)
        std::copy(block.data() + b * kColBlock, block.data() + b * kColBlock + len, out + (r0 + b) * dim + c0);
    }
  });
}

template <typename T>
void entry_dots(const SparseCode<T>& code, const T* dec, const T* g, int64_t dim, T* out,
                const ExecContext& ctx) {
  const RowOps<T> ops;
  const int64_t dict = code.cols;
  ctx.parallel_for(code.rows, [&](int64_t r0, int64_t r1) {
    LatentIndex index;
    rows_latent_index(code, r0, r1, index);
    SliceBuffer<T> block(r1 - r0);  // [r1 - r0, kColBlock] slice of g
    for (int64_t c0 = 0; c0 < dim; c0 += kColBlock) {
      const int64_t len = std::min(kColBlock, dim - c0);
      for (int64_t b = 0; b < r1 - r0; ++b)
        std::copy(g + (r0 + b) * dim + c0, g + (r0 + b) * dim + c0 + len, block.data() + b * kColBlock);
      for (int64_t j = 0; j < dict; ++j) {
        const int64_t a0 = index.col_ptr[j], n = index.col_ptr[j + 1] - a0;
        if (n == 0) continue;
        const T* piece = dec + j * dim + c0;
        if (j + kPrefetchLatents < dict) prefetch_piece(piece + kPrefetchLatents * dim, len);
        ops.dot_rows(piece, len, index.pos.data() + a0, index.row.data() + a0, n, block.data(), kColBlock, out,
                     c0 == 0);
      }
    }
  });
}

template <typename T>
void latent_index(const SparseCode<T>& code, LatentIndex& out) {
  const int64_t dict = code.cols, nnz = code.nnz();
  out.col_ptr.assign(dict + 1, 0);
  for (int32_t j : code.idx) ++out.col_ptr[j + 1];
  for (int64_t j = 0; j < dict; ++j) out.col_ptr[j + 1] += out.col_ptr[j];
  out.pos.resize(nnz);
  out.row.resize(nnz);
  std::vector<int64_t> next(out.col_ptr.begin(), out.col_ptr.end() - 1);
  for (int64_t b = 0; b < code.rows; ++b)
    for (int64_t e = code.row_ptr[b]; e < code.row_ptr[b + 1]; ++e) {
      const int64_t at = next[code.idx[e]]++;
      out.pos[at] = e;
      out.row[at] = static_cast<int32_t>(b);
    }
}

template <typename T>
void scatter_rows(const LatentIndex& index, const T* coef, const T* src, int64_t dim, int64_t dict,
                  T* out, bool overwrite, const ExecContext& ctx) {
  const RowOps<T> ops;
  const int64_t rows = static_cast<int64_t>(index.row.empty() ? 0 : *std::max_element(index.row.begin(), index.row.end())) + 1;
  SliceBuffer<T> block(rows);  // [rows, kColBlock] slice of src, shared by the threads
  for (int64_t c0 = 0; c0 < dim; c0 += kColBlock) {
    const int64_t len = std::min(kColBlock, dim - c0);
    ctx.parallel_for(rows, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) std::copy(src + b * dim + c0, src + b * dim + c0 + len, block.data() + b * kColBlock);
    });
    ctx.parallel_for(dict, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t a0 = index.col_ptr[j], n = index.col_ptr[j + 1] - a0;
        T* o = out + j * dim + c0;
        if (n == 0) {
          if (overwrite) std::fill(o, o + len, T(0));
          continue;
        }
        ops.gather_sum(coef, index.pos.data() + a0, index.row.data() + a0, n, block.data(), kColBlock, len, o,
                       overwrite);
      }
    });
  }
}

template <typename T>
void scatter_sum(const LatentIndex& index, const T* coef, int64_t dict, T* out, bool overwrite) {
  for (int64_t j = 0; j < dict; ++j) {
    T s = overwrite ? T(0) : out[j];
    for (int64_t a = index.col_ptr[j]; a < index.col_ptr[j + 1]; ++a) s += coef[index.pos[a]];
    out[j] = s;
  }
}

#define CT_SPARSE_INSTANTIATE(T)                                                                  \
  template T batch_topk<T>(const T*, const T*, const T*, int64_t, int64_t, int64_t,               \
                           SparseCode<T>&, const ExecContext&);                                   \
  template T batch_topk_two_pass<T>(const T*, const T*, const T*, int64_t, int64_t, int64_t,      \
                                    SparseCode<T>&, const ExecContext&);                          \
  template T batch_topk_sampled<T>(const T*, const T*, const T*, int64_t, int64_t, int64_t,       \
                                   SparseCode<T>&, const ExecContext&);                           \
  template T batch_topk_radix<T>(const T*, const T*, const T*, int64_t, int64_t, int64_t,         \
                                 SparseCode<T>&, const ExecContext&);                             \
  template void row_topk<T>(const T*, const T*, const T*, int64_t, int64_t, int64_t,              \
                            SparseCode<T>&, const ExecContext&);                                  \
  template void masked_row_topk<T>(const T*, const T*, const T*, const uint8_t*, int64_t,         \
                                   int64_t, int64_t, SparseCode<T>&, const ExecContext&);         \
  template void filter_code<T>(const T*, const T*, const T*, T, int64_t, int64_t,                 \
                               SparseCode<T>&, const ExecContext&);                               \
  template void decode<T>(const SparseCode<T>&, const T*, const T*, int64_t, T*,                  \
                          const ExecContext&);                                                    \
  template void entry_dots<T>(const SparseCode<T>&, const T*, const T*, int64_t, T*,              \
                              const ExecContext&);                                                \
  template void latent_index<T>(const SparseCode<T>&, LatentIndex&);                              \
  template void scatter_rows<T>(const LatentIndex&, const T*, const T*, int64_t, int64_t, T*,     \
                                bool, const ExecContext&);                                        \
  template void scatter_sum<T>(const LatentIndex&, const T*, int64_t, T*, bool);

CT_SPARSE_INSTANTIATE(float)
CT_SPARSE_INSTANTIATE(double)
#undef CT_SPARSE_INSTANTIATE

}  // namespace ct::kernels::sparse
