// One image + one prompt → a vision-language model's answer or its hook tensors: the models-level
// pipeline behind `crosstrace run` and `crosstrace harvest` (single input). It owns everything
// between the user's files and the forward pass: tokenizer, chat template, image preprocessing per
// checkpoint layout, image-token expansion, generation and answer decoding.
//
// Family dispatch lives in ONE place, open_vlm_pipeline() (vlm_pipeline.cpp). Extension point: a
// family implements VlmPipeline in its own file (llava_pipeline.cpp; mPLUG's goes beside it) and
// adds one branch there. detect_vlm_family() reads config files only:
//   - config.json with model_type "llava" / "llava_llama" or an mm_vision_tower field → "llava";
//   - no config.json, but an mPLUG config (config.yaml or config_bert*.json) → "mplug";
//   - anything else → InputError naming the model and what was found.
//
// Ownership: a VlmPipeline owns its loaded model (memory-mapped weights) and tokenizer; VlmInput
// and VlmAnswer are plain values. Thread-safety: a pipeline is immutable after open; prepare() is
// re-entrant; generate()/forward() may run concurrently with separate contexts and hooks.
// Failure: InputError(where, problem) for every bad input, `where` being the file (model config,
// tokenizer directory, image) or the argument ("--prompt", "--max-new-tokens", "--task") with a
// problem that says what to do; RuntimeFailure only for failures that are not the input's fault.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "models/generate.h"
#include "models/hooks.h"

namespace ct::models {

// What the user asked for.
struct VlmRequest {
  std::filesystem::path image;
  // The question (the family's chat template is applied), or with raw_prompt the whole prompt
  // text as the model sees it (LLaVA: it must contain exactly one "<image>").
  std::string prompt;
  bool raw_prompt = false;
  std::string task;  // "" (the family's default), "vqa" or "caption"
};

// The tokenised and preprocessed input.
struct VlmInput {
  std::string prompt_text;      // the exact text tokenised
  std::vector<int32_t> ids;     // LM (or text-encoder) input ids, image positions included: one id
                                // per row of the lm.* hook tensors (LLaVA: the image id repeated
                                // once per image token)
  std::vector<float> pixels;    // [3, S, S] normalised, as the vision tower takes it
  int image_size = 0;           // S
  std::string task;             // "vqa" or "caption" (the request's, or the family's default)
};

struct VlmAnswer {
  std::string answer;           // decoded, special tokens skipped, whitespace stripped
  std::vector<int32_t> token_ids;  // generated ids (a final EOS included)
};

struct VlmOpenOptions {
  // A separately stored vision tower (original LLaVA layout); empty: the family's own rule.
  std::filesystem::path vision_tower;
};

class VlmPipeline {
 public:
  virtual ~VlmPipeline() = default;
  virtual std::string family() const = 0;
  // Every hook name a forward emits, in emission order (CONTRACTS.md 2).
  virtual std::vector<std::string> hook_names() const = 0;
  // Tokenises the prompt and preprocesses the image.
  virtual VlmInput prepare(const VlmRequest& request) const = 0;
  // Generates an answer; `opt.eos_ids` is replaced by the model's own stop ids. Hooks see the
  // prefill (and the decode steps when opt.hooks_on_decode is set).
  virtual VlmAnswer generate(const VlmInput& input, const GenerationOptions& opt, const ExecContext& ctx,
                             const Hooks& hooks) const = 0;
  // One forward pass over the prepared input (no generation), emitting every subscribed hook.
  virtual void forward(const VlmInput& input, const ExecContext& ctx, const Hooks& hooks) const = 0;
};

// "llava" or "mplug" (see the header comment); InputError otherwise.
std::string detect_vlm_family(const std::filesystem::path& model);

// Loads the model behind `model` (a directory or checkpoint file) for generation.
std::unique_ptr<VlmPipeline> open_vlm_pipeline(const std::filesystem::path& model, const VlmOpenOptions& opt = {});

// Shared argument checks: max_new_tokens >= 0 (0: the family's default length: LLaVA 128,
// mPLUG 10 for VQA and 25 for captions), temperature >= 0 and finite, top_p in (0, 1].
void validate_generation_options(const GenerationOptions& opt);

}  // namespace ct::models
