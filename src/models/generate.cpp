// Greedy and top-p sampling decode loop with the KV cache.
#include "models/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace ct::models {

int32_t pick_token(std::span<const float> logits, const GenerationOptions& opt, Rng& rng) {
  CT_CHECK(!logits.empty(), "pick_token: empty logits");
  if (opt.temperature <= 0.0f) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  if (!(opt.top_p > 0.0f && opt.top_p <= 1.0f)) {
    throw InputError("generation options", "top_p must be in (0, 1], found " + std::to_string(opt.top_p));
  }
  // Probabilities of logits / temperature, sorted descending (ties by index, for determinism).
  const std::size_t V = logits.size();
  const float mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(V);
  double sum = 0.0;
  for (std::size_t i = 0; i < V; ++i) sum += p[i] = std::exp((static_cast<double>(logits[i]) - mx) / opt.temperature);
  std::vector<int32_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  // Keep the smallest prefix whose mass reaches top_p (at least one token).
  std::size_t keep = 0;
  double mass = 0.0;
  while (keep < V && (keep == 0 || mass < opt.top_p * sum)) mass += p[static_cast<std::size_t>(order[keep++])];
  double r = rng.uniform01() * mass;
  for (std::size_t i = 0; i < keep; ++i) {
    r -= p[static_cast<std::size_t>(order[i])];
    if (r < 0.0) return order[i];
  }
  return order[keep - 1];
}

std::vector<int32_t> generate(const io::LlamaConfig& c, const LlamaWeights& w, std::span<const float> prompt,
                              const GenerationOptions& opt, const ExecContext& ctx, const Hooks& hooks) {
  std::vector<int32_t> out;
  if (opt.max_new_tokens <= 0) return out;
  Rng rng(opt.seed);
  const Hooks no_hooks;
  KvCache cache(c);
  // Room for the whole answer, but no more than the model's context (a huge --max-new-tokens must not
  // reserve gigabytes it will never reach).
  cache.reserve(std::min<int64_t>(static_cast<int64_t>(prompt.size()) / c.hidden_size + opt.max_new_tokens,
                                  std::max(c.max_position_embeddings, 1)));
  LlamaLogits logits = llama_forward(c, w, prompt, cache, ctx, hooks);
  const auto V = static_cast<std::size_t>(c.vocab_size);
  for (int step = 0; step < opt.max_new_tokens; ++step) {
    const std::span<const float> last(logits.data.data() + (logits.rows - 1) * V, V);
    const int32_t tok = pick_token(last, opt, rng);
    out.push_back(tok);
    if (std::find(opt.eos_ids.begin(), opt.eos_ids.end(), tok) != opt.eos_ids.end()) break;
    if (step + 1 == opt.max_new_tokens) break;
    const int32_t ids[1] = {tok};
    const std::vector<float> x = llama_embed(c, w, ids);
    logits = llama_forward(c, w, x, cache, ctx, opt.hooks_on_decode ? hooks : no_hooks);
  }
  return out;
}

}  // namespace ct::models
