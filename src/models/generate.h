// Token generation over a LLaMA decoder: prefill the prompt once (filling the KV cache), then one
// token per step, stopping at an EOS id or after max_new_tokens.
//
// Decoding: greedy (temperature <= 0: the first index of the largest logit) or sampling with
// temperature and nucleus (top-p) filtering, drawn from core/random.h's xoshiro256** generator seeded
// through splitmix64, so a seed gives the same tokens on every platform and compiler (no std
// distributions). The EOS token that stops generation is included in the result.
//
// Hooks: the prefill emits the lm.* sites over the whole prompt; decode steps emit only when
// hooks_on_decode is set (one row per step).
// Thread-safety: re-entrant; Rng is a value type used by one caller. Failure: InputError from the
// forward (bad ids); bad options (top_p outside (0, 1]) are InputError("generation options").
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/exec_context.h"
#include "core/random.h"
#include "models/hooks.h"
#include "models/llama.h"

namespace ct::models {

struct GenerationOptions {
  int max_new_tokens = 20;
  float temperature = 0.0f;    // <= 0: greedy
  float top_p = 1.0f;          // nucleus mass kept when sampling
  uint64_t seed = 0;
  std::vector<int32_t> eos_ids = {2};
  bool hooks_on_decode = false;
};

// Picks the next token from logits [V].
int32_t pick_token(std::span<const float> logits, const GenerationOptions& opt, Rng& rng);

// Generates after the prompt given as input embeddings [T, d] (a text prompt: llama_embed; LLaVA:
// the spliced embeddings). Returns the new token ids only.
std::vector<int32_t> generate(const io::LlamaConfig& c, const LlamaWeights& w, std::span<const float> prompt,
                              const GenerationOptions& opt, const ExecContext& ctx, const Hooks& hooks);

}  // namespace ct::models
