// LLaVA-1.5 behind VlmPipeline (vlm-architectures.md 3.4-3.6): tokenizer, chat template, image
// preprocessing per layout, image-token expansion, generation, answer decoding.
//
// Prompt rule (llava_prompt_text):
// - by default --prompt is the question and becomes "USER: <image>\n{question} ASSISTANT:"; the
//   question must not contain "<image>", "USER:" or "ASSISTANT:" (the template adds them);
// - with raw_prompt the text is used verbatim and must contain exactly one "<image>";
// - task "caption" with an empty question asks kLlavaCaptionQuestion; "vqa" (the default) needs
//   a question.
// Tokenisation: llava-hf through its added token `<image>` (which must be config.json's
// image_token_index), the original layout chunk by chunk around the -200 placeholder; either way
// each image id is then repeated once per image token (llava_image_tokens).
// Images: llava-hf with its preprocessor_config.json (CLIPImageProcessor: shortest edge, centre
// crop); the original layout pads to a square with the mean colour first (image_aspect_ratio
// "pad") and takes the processor settings from the vision tower's preprocessor_config.json.
// Without that file the resolution comes from the vision config. A crop size that differs from
// the vision tower's image_size is an InputError naming the file.
// Vision tower (original layout): --vision-tower DIR, else mm_vision_tower as a local directory
// (as given, then relative to the model directory); not found → InputError saying to pass it.
// Stop ids: the tokenizer's EOS plus generation_config.json's eos_token_id (int or list).
//
// Ownership, thread-safety and failure: as VlmPipeline (vlm_pipeline.h).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "io/hf_config.h"
#include "models/vlm_pipeline.h"

namespace ct::models {

// LLaVA's evaluation loader default when --max-new-tokens is not given.
inline constexpr int kLlavaDefaultMaxNewTokens = 128;

inline constexpr std::string_view kLlavaCaptionQuestion = "Provide a one-sentence caption for the provided image.";

std::unique_ptr<VlmPipeline> open_llava_pipeline(const std::filesystem::path& model, const VlmOpenOptions& opt);

// The text tokenised for `request` (the rule above); InputError("--prompt" or "--task", ...).
std::string llava_prompt_text(const VlmRequest& request);

// The vision tower directory of an original-layout model whose config.json is `config_file`.
std::filesystem::path resolve_llava_vision_tower(const io::LlavaConfig& c, const std::filesystem::path& config_file,
                                                 const std::filesystem::path& given);

}  // namespace ct::models
