#include "io/hf_config.h"

#include "core/error.h"

namespace ct::io {
namespace {

using nlohmann::json;

std::string found(const json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// Reads j[key] into `out` when present; checks the type and, for integers, a lower bound.
void read_int(const json& j, const char* key, int& out, const std::string& file, int min_value = 1) {
  if (!j.contains(key) || j[key].is_null()) return;
  const json& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() < min_value || v.get<int64_t>() > (1LL << 30)) {
    throw InputError(file, std::string("field \"") + key + "\" must be an integer >= " + std::to_string(min_value) +
                               ", found " + found(v));
  }
  out = v.get<int>();
}

void read_opt_int(const json& j, const char* key, std::optional<int>& out, const std::string& file, int min_value = 0) {
  if (!j.contains(key) || j[key].is_null()) return;
  int v = 0;
  read_int(j, key, v, file, min_value);
  out = v;
}

void read_double(const json& j, const char* key, double& out, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return;
  const json& v = j[key];
  if (!v.is_number() || v.get<double>() < 0) {
    throw InputError(file, std::string("field \"") + key + "\" must be a non-negative number, found " + found(v));
  }
  out = v.get<double>();
}

void read_string(const json& j, const char* key, std::string& out, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return;
  if (!j[key].is_string()) {
    throw InputError(file, std::string("field \"") + key + "\" must be a string, found " + found(j[key]));
  }
  out = j[key].get<std::string>();
}

void read_bool(const json& j, const char* key, bool& out, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return;
  if (!j[key].is_boolean()) {
    throw InputError(file, std::string("field \"") + key + "\" must be true or false, found " + found(j[key]));
  }
  out = j[key].get<bool>();
}

void require_object(const json& j, const std::string& file, const char* what) {
  if (!j.is_object()) throw InputError(file, std::string(what) + " must be a JSON object, found " + found(j));
}

void check_divisible(int a, int b, const char* a_name, const char* b_name, const std::string& file) {
  if (a % b != 0) {
    throw InputError(file, std::string(a_name) + " (" + std::to_string(a) + ") is not divisible by " + b_name + " (" +
                               std::to_string(b) + ")");
  }
}

}  // namespace

std::string config_model_type(const json& j, const std::string& file) {
  std::string t;
  if (j.is_object()) read_string(j, "model_type", t, file);
  return t;
}

std::string config_architectures(const json& j, const std::string& file) {
  if (!j.is_object() || !j.contains("architectures") || j["architectures"].is_null()) return "";
  const json& a = j["architectures"];
  if (!a.is_array()) throw InputError(file, "field \"architectures\" must be a list of strings, found " + found(a));
  std::string out;
  for (const auto& v : a) {
    if (!v.is_string()) throw InputError(file, "field \"architectures\" must be a list of strings, found " + found(a));
    out += (out.empty() ? "" : ",") + v.get<std::string>();
  }
  return out;
}

ClipVisionConfig parse_clip_vision_config(const json& j, const std::string& file) {
  require_object(j, file, "the CLIP vision config");
  // A full CLIPModel config nests the vision side under vision_config.
  const json& v = j.contains("vision_config") && j["vision_config"].is_object() ? j["vision_config"] : j;
  ClipVisionConfig c;
  read_int(v, "hidden_size", c.hidden_size, file);
  read_int(v, "intermediate_size", c.intermediate_size, file);
  read_int(v, "num_hidden_layers", c.num_hidden_layers, file);
  read_int(v, "num_attention_heads", c.num_attention_heads, file);
  read_int(v, "num_channels", c.num_channels, file);
  read_int(v, "image_size", c.image_size, file);
  read_int(v, "patch_size", c.patch_size, file);
  read_int(v, "projection_dim", c.projection_dim, file);
  read_string(v, "hidden_act", c.hidden_act, file);
  read_double(v, "layer_norm_eps", c.layer_norm_eps, file);
  check_divisible(c.hidden_size, c.num_attention_heads, "hidden_size", "num_attention_heads", file);
  check_divisible(c.image_size, c.patch_size, "image_size", "patch_size", file);
  return c;
}

LlamaConfig parse_llama_config(const json& j, const std::string& file) {
  require_object(j, file, "the LLaMA config");
  LlamaConfig c;
  read_int(j, "vocab_size", c.vocab_size, file);
  read_int(j, "hidden_size", c.hidden_size, file);
  read_int(j, "intermediate_size", c.intermediate_size, file);
  read_int(j, "num_hidden_layers", c.num_hidden_layers, file);
  read_int(j, "num_attention_heads", c.num_attention_heads, file);
  c.num_key_value_heads = c.num_attention_heads;
  read_int(j, "num_key_value_heads", c.num_key_value_heads, file);
  check_divisible(c.num_attention_heads, c.num_key_value_heads, "num_attention_heads", "num_key_value_heads", file);
  c.head_dim = c.hidden_size / c.num_attention_heads;
  if (!j.contains("head_dim")) check_divisible(c.hidden_size, c.num_attention_heads, "hidden_size", "num_attention_heads", file);
  read_int(j, "head_dim", c.head_dim, file);
  read_int(j, "max_position_embeddings", c.max_position_embeddings, file);
  read_double(j, "rms_norm_eps", c.rms_norm_eps, file);
  read_double(j, "rope_theta", c.rope_theta, file);
  read_string(j, "hidden_act", c.hidden_act, file);
  read_int(j, "bos_token_id", c.bos_token_id, file, 0);
  read_int(j, "eos_token_id", c.eos_token_id, file, 0);
  read_opt_int(j, "pad_token_id", c.pad_token_id, file, 0);
  read_bool(j, "tie_word_embeddings", c.tie_word_embeddings, file);
  read_bool(j, "attention_bias", c.attention_bias, file);
  read_bool(j, "mlp_bias", c.mlp_bias, file);
  return c;
}

LlavaConfig parse_llava_config(const json& j, const std::string& file) {
  require_object(j, file, "the LLaVA config");
  LlavaConfig c;
  const std::string type = config_model_type(j, file);
  if (type == "llava_llama" || j.contains("mm_vision_tower") || j.contains("mm_projector_type")) {
    // liuhaotian layout: the LLaMA fields at top level, the vision tower named, not configured.
    c.original_layout = true;
    c.text = parse_llama_config(j, file);
    read_string(j, "mm_vision_tower", c.mm_vision_tower, file);
    read_int(j, "mm_hidden_size", c.mm_hidden_size, file);
    c.mm_projector_type = "linear";  // LLaVA's builder default when the field is absent
    read_string(j, "mm_projector_type", c.mm_projector_type, file);
    read_int(j, "mm_vision_select_layer", c.vision_feature_layer, file, -1000);
    std::string feature = "patch";
    read_string(j, "mm_vision_select_feature", feature, file);
    c.vision_feature_select_strategy = feature == "patch" ? "default" : "full";
    read_string(j, "image_aspect_ratio", c.image_aspect_ratio, file);
    c.image_token_index = -200;
    return c;
  }
  // llava-hf: LlavaConfig() builds CLIP ViT-L/14-336 and LlamaConfig() when the parts are absent.
  c.vision.hidden_size = 1024;
  c.vision.intermediate_size = 4096;
  c.vision.num_hidden_layers = 24;
  c.vision.num_attention_heads = 16;
  c.vision.image_size = 336;
  c.vision.patch_size = 14;
  c.vision.projection_dim = 768;
  if (j.contains("vision_config") && !j["vision_config"].is_null()) {
    require_object(j["vision_config"], file, "field \"vision_config\"");
    // A given vision_config goes through CLIPVisionConfig with that class's own defaults.
    c.vision = parse_clip_vision_config(j["vision_config"], file);
  }
  if (j.contains("text_config") && !j["text_config"].is_null()) {
    require_object(j["text_config"], file, "field \"text_config\"");
    c.text = parse_llama_config(j["text_config"], file);
  }
  read_int(j, "image_token_index", c.image_token_index, file, 0);
  read_string(j, "projector_hidden_act", c.projector_hidden_act, file);
  read_int(j, "vision_feature_layer", c.vision_feature_layer, file, -1000);
  read_string(j, "vision_feature_select_strategy", c.vision_feature_select_strategy, file);
  read_bool(j, "multimodal_projector_bias", c.multimodal_projector_bias, file);
  if (c.vision_feature_select_strategy != "default" && c.vision_feature_select_strategy != "full") {
    throw InputError(file, "field \"vision_feature_select_strategy\" must be \"default\" or \"full\", found \"" +
                               c.vision_feature_select_strategy + "\"");
  }
  return c;
}

BertConfig parse_bert_config(const json& j, const std::string& file) {
  require_object(j, file, "the BERT config");
  BertConfig c;
  read_int(j, "vocab_size", c.vocab_size, file);
  read_int(j, "hidden_size", c.hidden_size, file);
  read_int(j, "num_hidden_layers", c.num_hidden_layers, file);
  read_int(j, "num_attention_heads", c.num_attention_heads, file);
  read_int(j, "intermediate_size", c.intermediate_size, file);
  read_string(j, "hidden_act", c.hidden_act, file);
  read_int(j, "max_position_embeddings", c.max_position_embeddings, file);
  read_int(j, "type_vocab_size", c.type_vocab_size, file);
  read_double(j, "layer_norm_eps", c.layer_norm_eps, file);
  read_int(j, "pad_token_id", c.pad_token_id, file, 0);
  read_opt_int(j, "encoder_width", c.encoder_width, file, 1);
  read_opt_int(j, "text_encoder_layers", c.text_encoder_layers, file);
  read_opt_int(j, "fusion_layers", c.fusion_layers, file);
  read_opt_int(j, "text_decode_layers", c.text_decode_layers, file);
  read_opt_int(j, "stride_layer", c.stride_layer, file, 1);
  check_divisible(c.hidden_size, c.num_attention_heads, "hidden_size", "num_attention_heads", file);
  return c;
}

}  // namespace ct::io
