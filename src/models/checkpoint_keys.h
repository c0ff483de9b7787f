// Checkpoint key spellings: the renames that make the published variants of one architecture
// look alike, so that loaders and inventories match one set of names.
//
// - llava-hf: transformers >= 4.52 re-saves `language_model.model.X` as `model.language_model.X`,
//   `vision_tower.X` as `model.vision_tower.X`, `multi_modal_projector.X` as
//   `model.multi_modal_projector.X` and `language_model.lm_head.X` as `lm_head.X`
//   (vlm-architectures.md 3.1). normalise_llava_hf_key maps the new spelling to the old.
// - mPLUG: the fine-tuning scripts remove the substrings `fusion.` and `bert.` from every key that
//   contains `fusion` or `bert` but not `decode` (vlm-architectures.md 2.6). normalise_mplug_key
//   applies that rename, so pretrained and fine-tuned checkpoints share the fine-tuned names.
// - bert: the hub's bert-base-uncased prefixes keys with `bert.` and names LayerNorm parameters
//   `gamma`/`beta`. normalise_bert_key strips the prefix and maps gamma/beta to weight/bias.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace ct::models {

std::string normalise_llava_hf_key(std::string_view key);
std::string normalise_mplug_key(std::string_view key);
std::string normalise_bert_key(std::string_view key);

// True for buffers that checkpoints carry but that are not parameters of the forward pass:
// `*position_ids` and `*rotary_emb.inv_freq`.
bool is_buffer_key(std::string_view key);

}  // namespace ct::models
