// mPLUG answer decoder: cross-attention K/V once per answer, cached self-attention, the
// TextGenerator beam search (vlm-architectures.md 2.5) and the teacher-forced hook pass.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "models/mplug.h"

namespace ct::models {

namespace {

int default_max(MplugTask task) { return task == MplugTask::kVqa ? 10 : 25; }
int default_min(MplugTask task) { return task == MplugTask::kVqa ? 1 : 8; }

// torch.log(torch.softmax(x)) in float32: the sum in double, each probability rounded to f32.
void log_softmax_row(const float* x, int64_t n, float* out) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  for (int64_t i = 0; i < n; ++i) {
    const auto p = static_cast<float>(std::exp(static_cast<double>(x[i]) - mx) / sum);
    out[i] = std::log(p);
  }
}

}  // namespace

std::vector<BertMemoryKv> mplug_decoder_memory(const MplugModel& m, const MplugMemory& memory,
                                               const ExecContext& ctx) {
  const MplugConfig& c = m.config;
  std::vector<BertMemoryKv> kv;
  kv.reserve(m.weights.decoder.layers.size());
  for (const BertLayerWeights& l : m.weights.decoder.layers)
    kv.push_back(bert_cross_kv(c.bert, l, memory.rows_data.data(), memory.rows, c.bert.hidden_size, {}, ctx));
  return kv;
}

void mplug_decoder_step(const MplugModel& m, const std::vector<BertMemoryKv>& memory_kv,
                        std::vector<std::vector<BertSelfCache>>& caches, std::span<const int32_t> tokens, int64_t pos,
                        std::vector<float>& logits, const ExecContext& ctx) {
  const MplugConfig& c = m.config;
  const int64_t n = static_cast<int64_t>(tokens.size()), V = c.bert.vocab_size;
  const std::size_t L = m.weights.decoder.layers.size();
  CT_CHECK(caches.size() == L && memory_kv.size() == L, "decoder caches / memory per layer");
  // Every beam is at the same position: one embedding call over the n rows would use positions
  // pos..pos+n-1, so embed row by row.
  std::vector<float> x;
  x.reserve(static_cast<std::size_t>(n * c.bert.hidden_size));
  for (int64_t b = 0; b < n; ++b) {
    const std::vector<float> e = bert_embed(c.bert, m.weights.decoder.embeddings, tokens.subspan(b, 1), pos, ctx);
    x.insert(x.end(), e.begin(), e.end());
  }
  for (std::size_t i = 0; i < L; ++i) {
    CT_CHECK(static_cast<int64_t>(caches[i].size()) == n, "one cache per beam");
    BertLayerInputs in;
    in.caches = caches[i];
    in.cross = &memory_kv[i];
    bert_layer_forward(c.bert, m.weights.decoder.layers[i], x.data(), n, in, ctx);
  }
  logits.resize(static_cast<std::size_t>(n * V));
  bert_lm_head(c.bert, m.weights.lm_head, x.data(), n, logits.data(), ctx);
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
  const std::size_t L = m.weights.decoder.layers.size();
  std::vector<BertMemoryKv> memory_kv = mplug_decoder_memory(m, memory, ctx);
  std::vector<std::vector<BertSelfCache>> caches(L, std::vector<BertSelfCache>(static_cast<std::size_t>(beam)));
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
  std::vector<float> logits, logp(static_cast<std::size_t>(beam * V));
  std::vector<int64_t> order(static_cast<std::size_t>(beam * V));
  for (int t = 0; t < max_len; ++t) {
    if (opt.recompute_cross_kv && t > 0) memory_kv = mplug_decoder_memory(m, memory, ctx);
    mplug_decoder_step(m, memory_kv, caches, last, t, logits, ctx);
    const auto penalty = static_cast<float>(std::pow((5.0 + (t + 1)) / 6.0, static_cast<double>(opt.length_penalty)));
    for (int b = 0; b < beam; ++b) {
      float* row = logp.data() + static_cast<std::ptrdiff_t>(b) * V;
      log_softmax_row(logits.data() + static_cast<std::ptrdiff_t>(b) * V, V, row);
      if (t < min_len) row[kMplugEos] = -1e20f;
      for (int64_t i = 0; i < V; ++i) row[i] = (row[i] + running[static_cast<std::size_t>(b)]) / penalty;
    }
    // Top `beam` over beam × vocab, descending; ties keep the lower flat index.
    std::iota(order.begin(), order.end(), int64_t{0});
    std::partial_sort(order.begin(), order.begin() + beam, order.end(), [&](int64_t a, int64_t b) {
      const float x = logp[static_cast<std::size_t>(a)], y = logp[static_cast<std::size_t>(b)];
      return x > y || (x == y && a < b);
    });
    std::vector<std::vector<int32_t>> next_seqs(static_cast<std::size_t>(beam));
    std::vector<std::vector<BertSelfCache>> next_caches(L, std::vector<BertSelfCache>(static_cast<std::size_t>(beam)));
    std::vector<float> scores(static_cast<std::size_t>(beam));
    std::vector<bool> finished(static_cast<std::size_t>(beam));
    for (int j = 0; j < beam; ++j) {
      const int64_t flat = order[static_cast<std::size_t>(j)];
      const auto parent = static_cast<std::size_t>(flat / V);
      const auto tok = static_cast<int32_t>(flat % V);
      scores[static_cast<std::size_t>(j)] = logp[static_cast<std::size_t>(flat)];
      running[static_cast<std::size_t>(j)] = scores[static_cast<std::size_t>(j)] * penalty;
      next_seqs[static_cast<std::size_t>(j)] = seqs[parent];
      next_seqs[static_cast<std::size_t>(j)].push_back(tok);
      for (std::size_t i = 0; i < L; ++i) next_caches[i][static_cast<std::size_t>(j)] = caches[i][parent];
      last[static_cast<std::size_t>(j)] = tok;
      finished[static_cast<std::size_t>(j)] = tok == kMplugEos || t + 1 == max_len;
    }
    seqs = std::move(next_seqs);
    caches = std::move(next_caches);
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
