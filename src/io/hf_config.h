// Typed views of the Hugging Face config files (`config.json`) of the families crosstrace knows,
// with the class defaults that the published files omit filled in exactly as transformers fills
// them (vlm-architectures.md trap 4: llava-hf's config lists only a few fields).
//
// Each parser takes the parsed JSON and the file path (for messages) and throws InputError naming
// the file and the field when a present field has the wrong type or an impossible value
// (e.g. "num_attention_heads must be a positive integer, found \"x\""). Absent fields take the
// defaults below. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace ct::io {

// transformers CLIPVisionConfig defaults.
struct ClipVisionConfig {
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int num_channels = 3;
  int image_size = 224;
  int patch_size = 32;
  int projection_dim = 512;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;
};

// transformers LlamaConfig defaults (num_key_value_heads defaults to num_attention_heads and
// head_dim to hidden_size / num_attention_heads).
struct LlamaConfig {
  int vocab_size = 32000;
  int hidden_size = 4096;
  int intermediate_size = 11008;
  int num_hidden_layers = 32;
  int num_attention_heads = 32;
  int num_key_value_heads = 32;
  int head_dim = 128;
  int max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::string hidden_act = "silu";
  int bos_token_id = 1;
  int eos_token_id = 2;
  std::optional<int> pad_token_id;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool mlp_bias = false;
};

// llava-hf LlavaConfig (an absent vision_config is CLIP ViT-L/14-336, an absent text_config is
// LlamaConfig()), and the original liuhaotian fields (mm_*) when the file is that layout.
struct LlavaConfig {
  ClipVisionConfig vision;
  LlamaConfig text;
  int image_token_index = 32000;
  std::string projector_hidden_act = "gelu";
  int vision_feature_layer = -2;
  std::string vision_feature_select_strategy = "default";
  bool multimodal_projector_bias = true;
  // Original layout only.
  bool original_layout = false;
  std::string mm_vision_tower;        // e.g. "openai/clip-vit-large-patch14-336"
  int mm_hidden_size = 0;
  std::string mm_projector_type;      // "mlp2x_gelu" or "linear"
  std::string image_aspect_ratio;     // "pad" or "square"
};

// transformers BertConfig defaults plus mPLUG's extra fields (present in its config_bert*.json).
struct BertConfig {
  int vocab_size = 30522;
  int hidden_size = 768;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int intermediate_size = 3072;
  std::string hidden_act = "gelu";
  int max_position_embeddings = 512;
  int type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  int pad_token_id = 0;
  // mPLUG (config_bert.json / config_bert_stride3.json); nullopt when absent.
  std::optional<int> encoder_width, text_encoder_layers, fusion_layers, text_decode_layers, stride_layer;
};

ClipVisionConfig parse_clip_vision_config(const nlohmann::json& j, const std::string& file);
LlamaConfig parse_llama_config(const nlohmann::json& j, const std::string& file);
LlavaConfig parse_llava_config(const nlohmann::json& j, const std::string& file);
BertConfig parse_bert_config(const nlohmann::json& j, const std::string& file);

// The `model_type` field, or "" when absent; InputError when present but not a string.
std::string config_model_type(const nlohmann::json& j, const std::string& file);
// The `architectures` list joined by ",", or "" when absent.
std::string config_architectures(const nlohmann::json& j, const std::string& file);

}  // namespace ct::io
