// mPLUG answer decoder: cross-attention K/V once per answer, cached self-attention, the
// TextGenerator beam search (vlm-architectures.md 2.5), the released code's uncached step (the
// benchmark baseline) and the teacher-forced hook pass.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "core/error.h"
#include "models/mplug.h"

namespace ct::models {

namespace {

int default_max(MplugTask task) { return task == MplugTask::kVqa ? 10 : 25; }
int default_min(MplugTask task) { return task == MplugTask::kVqa ? 1 : 8; }

// torch.log(torch.softmax(x)) in float32: the sum in double, each probability rounded to f32.
// exps [n] is scratch: each exponential is taken once and reused for the probability.
void log_softmax_row(const float* x, int64_t n, float* out, double* exps) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    exps[i] = std::exp(static_cast<double>(x[i]) - mx);
    sum += exps[i];
  }
  for (int64_t i = 0; i < n; ++i) out[i] = std::log(static_cast<float>(exps[i] / sum));
}

struct Candidate {
  float score;
  int64_t flat;  // beam · vocab + token
};

// The top k of `values` (the beam × vocab candidate scores, flattened), descending, ties to the
// lower flat index (as a stable sort would): one scan keeping a sorted list of k. An entry joins
// only when strictly above the list's last one, since an equal score later has a larger index.
void select_top(const std::vector<float>& values, int k, std::vector<Candidate>& top) {
  top.clear();
  top.reserve(static_cast<std::size_t>(k) + 1);
  const auto n = static_cast<int64_t>(values.size());
  const auto ku = static_cast<std::size_t>(k);
  for (int64_t i = 0; i < n; ++i) {
    const float v = values[static_cast<std::size_t>(i)];
    if (top.size() == ku && !(v > top.back().score)) continue;
    auto at = top.end();
    while (at != top.begin() && (at - 1)->score < v) --at;
    top.insert(at, Candidate{v, i});
    if (top.size() > ku) top.pop_back();
  }
}

}  // namespace

std::vector<BertMemoryKv> mplug_decoder_memory(const MplugModel& m, const MplugMemory& memory,
                                               const ExecContext& ctx) {
  const MplugConfig& c = m.config;
  std::vector<BertMemoryKv> kv;
  kv.reserve(m.weights.decoder.layers.size());
  for (const BertLayerWeights& l : m.weights.decoder.layers) {
    kv.push_back(bert_cross_kv(c.bert, l, memory.rows_data.data(), memory.rows, c.bert.hidden_size, {}, ctx));
    bert_memory_keys(c.bert, kv.back(), ctx);  // attended at every step: lay the keys out once
  }
  return kv;
}

MplugDecoderCache::MplugDecoderCache(const MplugModel& m, int beams, int max_len) : beams_(beams) {
  const auto room = static_cast<std::size_t>(max_len) * static_cast<std::size_t>(m.config.bert.hidden_size);
  const std::size_t L = m.weights.decoder.layers.size();
  live_.assign(L, std::vector<BertSelfCache>(static_cast<std::size_t>(beams)));
  spare_ = live_;
  for (auto* set : {&live_, &spare_})
    for (std::vector<BertSelfCache>& layer : *set)
      for (BertSelfCache& c : layer) {
        c.k.reserve(room);
        c.v.reserve(room);
      }
  first_child_.resize(static_cast<std::size_t>(beams));
}

void MplugDecoderCache::reorder(std::span<const int> parents) {
  CT_CHECK(static_cast<int>(parents.size()) == beams_, "one parent per beam");
  // The first child of each parent takes the parent's buffers (swap); the others copy them.
  std::fill(first_child_.begin(), first_child_.end(), -1);
  for (int j = 0; j < beams_; ++j) {
    const int p = parents[static_cast<std::size_t>(j)];
    CT_CHECK(p >= 0 && p < beams_, "parent beam out of range");
    if (first_child_[static_cast<std::size_t>(p)] < 0) first_child_[static_cast<std::size_t>(p)] = j;
  }
  for (std::size_t i = 0; i < live_.size(); ++i) {
    std::vector<BertSelfCache>& live = live_[i];
    std::vector<BertSelfCache>& next = spare_[i];
    for (int j = 0; j < beams_; ++j) {  // copies first, while every parent is still in place
      const auto p = static_cast<std::size_t>(parents[static_cast<std::size_t>(j)]);
      if (first_child_[p] == j) continue;
      BertSelfCache& dst = next[static_cast<std::size_t>(j)];
      dst.k.assign(live[p].k.begin(), live[p].k.end());  // within the reserved room: no allocation
      dst.v.assign(live[p].v.begin(), live[p].v.end());
      dst.length = live[p].length;
    }
    for (int j = 0; j < beams_; ++j) {
      const auto p = static_cast<std::size_t>(parents[static_cast<std::size_t>(j)]);
      if (first_child_[p] == j) std::swap(next[static_cast<std::size_t>(j)], live[p]);
    }
    std::swap(live, next);
  }
}

void mplug_decoder_step(const MplugModel& m, const std::vector<BertMemoryKv>& memory_kv, MplugDecoderCache& cache,
                        std::span<const int32_t> tokens, int64_t pos, std::vector<float>& logits,
                        const ExecContext& ctx) {
  const MplugConfig& c = m.config;
  const int64_t n = static_cast<int64_t>(tokens.size()), V = c.bert.vocab_size;
  const std::size_t L = m.weights.decoder.layers.size();
  CT_CHECK(cache.layers() == L && memory_kv.size() == L, "decoder caches / memory per layer");
  CT_CHECK(n == cache.beams(), "one token per beam");
  // Every beam is at the same position: one embedding call over the n rows would use positions
  // pos..pos+n-1, so embed row by row.
  std::vector<float> x;  // [n, d]
  x.reserve(static_cast<std::size_t>(n * c.bert.hidden_size));
  for (int64_t b = 0; b < n; ++b) {
    const std::vector<float> e = bert_embed(c.bert, m.weights.decoder.embeddings, tokens.subspan(b, 1), pos, ctx);
    x.insert(x.end(), e.begin(), e.end());
  }
  for (std::size_t i = 0; i < L; ++i) {
    BertLayerInputs in;
    in.caches = cache.layer(i);
    in.cross = &memory_kv[i];
    bert_layer_forward(c.bert, m.weights.decoder.layers[i], x.data(), n, in, ctx);
  }
  logits.resize(static_cast<std::size_t>(n * V));
  bert_lm_head(c.bert, m.weights.lm_head, x.data(), n, logits.data(), ctx);
}

void mplug_decoder_step_released(const MplugModel& m, const MplugMemory& memory,
                                 const std::vector<std::vector<int32_t>>& prefixes, std::vector<float>& logits,
                                 const ExecContext& ctx) {
  const MplugConfig& c = m.config;
  const int64_t n = static_cast<int64_t>(prefixes.size()), d = c.bert.hidden_size, V = c.bert.vocab_size;
  CT_CHECK(n > 0 && !prefixes[0].empty(), "released step: no prefixes");
  const int64_t len = static_cast<int64_t>(prefixes[0].size());
  // x [n·len, d]: each beam's whole prefix, positions 0..len−1.
  std::vector<float> x;
  x.reserve(static_cast<std::size_t>(n * len * d));
  for (const std::vector<int32_t>& p : prefixes) {
    CT_CHECK(static_cast<int64_t>(p.size()) == len, "released step: prefixes of different lengths");
    const std::vector<float> e = bert_embed(c.bert, m.weights.decoder.embeddings, p, 0, ctx);
    x.insert(x.end(), e.begin(), e.end());
  }
  // The memory tiled per beam [n·rows, d], as the released generator expands it before decoding.
  std::vector<float> tiled;
  tiled.reserve(static_cast<std::size_t>(n) * memory.rows_data.size());
  for (int64_t b = 0; b < n; ++b) tiled.insert(tiled.end(), memory.rows_data.begin(), memory.rows_data.end());
  for (const BertLayerWeights& l : m.weights.decoder.layers) {
    // Cross K/V over the n tiles, recomputed in every layer at every step; fresh (empty) caches
    // make the self-attention causal within each beam's prefix, with nothing carried over.
    const BertMemoryKv kv = bert_cross_kv(c.bert, l, tiled.data(), n * memory.rows, d, {}, ctx);
    std::vector<BertSelfCache> fresh(static_cast<std::size_t>(n));
    BertLayerInputs in;
    in.caches = fresh;
    in.cross = &kv;
    in.cross_blocks = n;
    bert_layer_forward(c.bert, l, x.data(), n * len, in, ctx);
  }
  // The LM head over every position (the released model returns all of them), then the last one.
  std::vector<float> all(static_cast<std::size_t>(n * len * V));  // [n·len, vocab]
  bert_lm_head(c.bert, m.weights.lm_head, x.data(), n * len, all.data(), ctx);
  logits.resize(static_cast<std::size_t>(n * V));
  for (int64_t b = 0; b < n; ++b)
    std::copy_n(all.data() + ((b + 1) * len - 1) * V, V, logits.data() + b * V);
}

MplugBeamResult mplug_beam_search(const MplugModel& m, const MplugMemory& memory, MplugTask task,
                                  const MplugGenerateOptions& opt, const ExecContext& ctx) {
  const int beam = opt.beam_size;
  const int max_len = opt.max_length < 0 ? default_max(task) : opt.max_length;
  const int min_len = opt.min_length < 0 ? default_min(task) : opt.min_length;
  const int64_t V = m.config.bert.vocab_size;
  if (beam < 1 || max_len < 1 || beam > V) {
    throw InputError("generation options", "beam_size must be in 1..vocab and max_length at least 1");
  }
  const std::vector<BertMemoryKv> memory_kv =
      opt.released_step ? std::vector<BertMemoryKv>{} : mplug_decoder_memory(m, memory, ctx);
  std::optional<MplugDecoderCache> cache;
  if (!opt.released_step) cache.emplace(m, beam, max_len);
  std::vector<std::vector<int32_t>> seqs(static_cast<std::size_t>(beam), std::vector<int32_t>{kMplugBos});
  // Running (un-penalised) scores: only beam 0 is live at the start.
  std::vector<float> running(static_cast<std::size_t>(beam), -std::numeric_limits<float>::infinity());
  running[0] = 0.0f;
  std::vector<int32_t> last(static_cast<std::size_t>(beam), kMplugBos);
  struct Hyp {
    float score;
    std::vector<int32_t> ids;
  };
  std::vector<Hyp> hyps;
  std::vector<float> logits, logp(static_cast<std::size_t>(beam * V));  // [beam, V] each
  std::vector<double> exps(static_cast<std::size_t>(V));                // log-softmax scratch
  std::vector<Candidate> top;
  std::vector<int> parents(static_cast<std::size_t>(beam));
  std::vector<float> scores(static_cast<std::size_t>(beam));
  std::vector<bool> finished(static_cast<std::size_t>(beam));
  for (int t = 0; t < max_len; ++t) {
    if (opt.released_step) mplug_decoder_step_released(m, memory, seqs, logits, ctx);
    else mplug_decoder_step(m, memory_kv, *cache, last, t, logits, ctx);
    const auto penalty = static_cast<float>(std::pow((5.0 + (t + 1)) / 6.0, static_cast<double>(opt.length_penalty)));
    // Penalised candidate scores (logp + running) / penalty [beam, V].
    for (int64_t b = 0; b < beam; ++b) {
      float* row = logp.data() + b * V;
      log_softmax_row(logits.data() + b * V, V, row, exps.data());
      if (t < min_len) row[kMplugEos] = -1e20f;
      const float run = running[static_cast<std::size_t>(b)];
      for (int64_t i = 0; i < V; ++i) row[i] = (row[i] + run) / penalty;
    }
    select_top(logp, beam, top);
    std::vector<std::vector<int32_t>> next_seqs(static_cast<std::size_t>(beam));
    for (int j = 0; j < beam; ++j) {
      const auto ju = static_cast<std::size_t>(j);
      const int64_t flat = top[ju].flat;
      const auto parent = static_cast<int>(flat / V);
      const auto tok = static_cast<int32_t>(flat % V);
      parents[ju] = parent;
      scores[ju] = top[ju].score;
      running[ju] = scores[ju] * penalty;
      next_seqs[ju] = seqs[static_cast<std::size_t>(parent)];
      next_seqs[ju].push_back(tok);
      last[ju] = tok;
      finished[ju] = tok == kMplugEos || t + 1 == max_len;
    }
    seqs = std::move(next_seqs);
    if (cache) cache->reorder(parents);
    // The element ends when its top beam finishes; then every candidate is recorded. Otherwise
    // candidates that emitted [SEP] are recorded and stay alive (TextGenerator's quirk).
    const bool end = finished[0];
    for (int j = 0; j < beam; ++j) {
      if (end || finished[static_cast<std::size_t>(j)])
        hyps.push_back({scores[static_cast<std::size_t>(j)],
                        std::vector<int32_t>(seqs[static_cast<std::size_t>(j)].begin() + 1,
                                             seqs[static_cast<std::size_t>(j)].end())});
    }
    if (end) break;
  }
  CT_CHECK(!hyps.empty(), "beam search ended without a hypothesis");
  std::stable_sort(hyps.begin(), hyps.end(), [](const Hyp& a, const Hyp& b) { return a.score > b.score; });
  return {hyps.front().ids, hyps.front().score};
}

std::vector<float> mplug_decoder_teacher_forced(const MplugModel& m, const MplugMemory& memory,
                                                std::span<const int32_t> answer, const ExecContext& ctx,
                                                const Hooks& hooks) {
  const MplugConfig& c = m.config;
  const int64_t n = static_cast<int64_t>(answer.size()), d = c.bert.hidden_size, V = c.bert.vocab_size;
  if (n == 0) return {};
  std::vector<int32_t> input = {kMplugBos};
  input.insert(input.end(), answer.begin(), answer.end() - 1);
  std::vector<float> x = bert_embed(c.bert, m.weights.decoder.embeddings, input, 0, ctx);  // [n, d]
  const std::vector<BertMemoryKv> kv = mplug_decoder_memory(m, memory, ctx);
  for (std::size_t i = 0; i < m.weights.decoder.layers.size(); ++i) {
    BertSelfCache cache;
    BertLayerInputs in;
    in.caches = std::span<BertSelfCache>(&cache, 1);
    in.cross = &kv[i];
    bert_layer_forward(c.bert, m.weights.decoder.layers[i], x.data(), n, in, ctx);
    hooks.emit_layer("decoder", static_cast<int>(i), "output", {x.data(), n, d});
  }
  std::vector<float> logits(static_cast<std::size_t>(n * V));
  bert_lm_head(c.bert, m.weights.lm_head, x.data(), n, logits.data(), ctx);
  hooks.emit("decoder.logits", {logits.data(), n, V});
  return logits;
}

}  // namespace ct::models
