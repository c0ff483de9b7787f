// describe_model: counts, then the key hyper-parameters of each component. Widths, depths, vocab
// and patch sizes are read from the tensor shapes (the truth of the checkpoint); what shapes cannot
// tell (head counts, eps, rope theta) comes from the config, and is marked when it is assumed.
#include <algorithm>
#include <cmath>
#include <set>

#include "anatomy/anatomy.h"
#include "anatomy/layout.h"
#include "core/error.h"
#include "io/hf_config.h"
#include "io/json_file.h"

namespace ct::anatomy {
namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

// The tensors of one component, under their canonical keys.
struct ComponentTensors {
  std::vector<std::pair<std::string, const io::TensorEntry*>> items;

  const io::TensorEntry* find_suffix(std::string_view suffix) const {
    for (const auto& [key, e] : items) {
      if (key.ends_with(suffix)) return e;
    }
    return nullptr;
  }
  // Number of distinct i in keys "...<marker>i.<rest>".
  int count_indices(std::string_view marker) const {
    std::set<int> seen;
    for (const auto& [key, e] : items) {
      const std::size_t pos = key.find(marker);
      if (pos == std::string::npos) continue;
      std::size_t i = pos + marker.size();
      int v = 0, digits = 0;
      while (i < key.size() && key[i] >= '0' && key[i] <= '9' && digits < 6) v = v * 10 + (key[i++] - '0'), ++digits;
      if (digits > 0 && i < key.size() && key[i] == '.') seen.insert(v);
    }
    return static_cast<int>(seen.size());
  }
};

int64_t dim(const io::TensorEntry* e, std::size_t i) {
  return e && e->shape.size() > i ? e->shape[i] : 0;
}

json read_optional_json(const fs::path& p) {
  return fs::exists(p) ? io::read_json_file(p) : json();
}

void describe_clip_vision(const ComponentTensors& t, const io::ClipVisionConfig* cfg, ordered_json& c) {
  const auto* cls = t.find_suffix("class_embedding");
  const auto* patch = t.find_suffix("patch_embedding.weight");
  if (!patch) patch = t.find_suffix("conv1.weight");
  const auto* pos = t.find_suffix("position_embedding.weight");
  if (!pos) pos = t.find_suffix("visual.positional_embedding");
  const auto* fc1 = t.find_suffix("layers.0.mlp.fc1.weight");
  if (!fc1) fc1 = t.find_suffix("resblocks.0.mlp.c_fc.weight");
  const int layers = std::max(t.count_indices("encoder.layers."), t.count_indices("resblocks."));
  const int64_t width = cls ? dim(cls, 0) : dim(patch, 0);
  const int64_t patch_size = dim(patch, 2);
  const int64_t tokens = dim(pos, 0);
  const auto grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(std::max<int64_t>(tokens - 1, 0)))));
  c["width"] = width;
  c["layers"] = layers;
  if (cfg) {
    c["heads"] = cfg->num_attention_heads;
  } else if (width > 0 && width % 64 == 0) {
    c["heads"] = width / 64;  // every OpenAI CLIP ViT uses 64-wide heads
    c["heads_assumed"] = "width / 64 (no config)";
  }
  c["mlp_width"] = dim(fc1, 0);
  c["patch_size"] = patch_size;
  c["image_size"] = grid * patch_size;
  c["tokens"] = tokens;
  c["activation"] = cfg ? cfg->hidden_act : "quick_gelu";
}

void describe_llama(const ComponentTensors& t, const io::LlamaConfig* cfg, ordered_json& c) {
  const auto* embed = t.find_suffix("embed_tokens.weight");
  const auto* q = t.find_suffix("layers.0.self_attn.q_proj.weight");
  const auto* k = t.find_suffix("layers.0.self_attn.k_proj.weight");
  const auto* gate = t.find_suffix("layers.0.mlp.gate_proj.weight");
  c["width"] = dim(embed, 1);
  c["layers"] = t.count_indices("layers.");
  c["mlp_width"] = dim(gate, 0);
  c["vocab"] = dim(embed, 0);
  if (cfg) {
    c["heads"] = cfg->num_attention_heads;
    c["kv_heads"] = cfg->num_key_value_heads;
    c["head_dim"] = cfg->head_dim;
    c["rope_theta"] = cfg->rope_theta;
    c["rms_norm_eps"] = cfg->rms_norm_eps;
    c["max_positions"] = cfg->max_position_embeddings;
  } else {
    const int64_t head_dim = 128;  // every LLaMA-2 / Vicuna size
    c["heads"] = dim(q, 0) / head_dim;
    c["kv_heads"] = dim(k, 0) / head_dim;
    c["head_dim"] = head_dim;
    c["heads_assumed"] = "head_dim 128 (no config)";
  }
  c["grouped_query"] = dim(k, 0) != dim(q, 0);
}

void describe_bert(const ComponentTensors& t, const io::BertConfig* cfg, ordered_json& c, const char* layer_marker) {
  const auto* words = t.find_suffix("word_embeddings.weight");
  const auto* pos = t.find_suffix("position_embeddings.weight");
  const auto* types = t.find_suffix("token_type_embeddings.weight");
  const auto* inter = t.find_suffix("intermediate.dense.weight");
  const auto* dense = t.find_suffix("attention.self.query.weight");
  c["width"] = words ? dim(words, 1) : dim(dense, 0);
  c["layers"] = t.count_indices(layer_marker);
  const int64_t width = c["width"].get<int64_t>();
  if (cfg) {
    c["heads"] = cfg->num_attention_heads;
  } else if (width > 0 && width % 64 == 0) {
    c["heads"] = width / 64;  // BERT's heads are 64 wide
    c["heads_assumed"] = "width / 64 (no config)";
  }
  c["mlp_width"] = dim(inter, 0);
  if (words) c["vocab"] = dim(words, 0);
  if (pos) c["max_positions"] = dim(pos, 0);
  if (types) c["type_vocab"] = dim(types, 0);
  c["cross_attention"] = t.find_suffix("crossattention.self.query.weight") != nullptr;
  c["norm"] = "post-LN";
}

}  // namespace

Anatomy describe_model(const io::TensorStore& store, const fs::path& model_dir) {
  Anatomy a;
  a.path = store.path();
  a.format = store.format;
  const fs::path config_path = model_dir / "config.json";
  const json config = read_optional_json(config_path);
  const std::string config_file = config_path.string();
  const Detection d = detect_layout(store, config, config_file);
  a.family = d.family;
  a.layout = d.layout;
  a.config["detected_by"] = d.reason;

  // Typed configs where the family has one.
  std::optional<io::LlavaConfig> llava;
  std::optional<io::ClipVisionConfig> clip;
  std::optional<io::LlamaConfig> llama;
  std::optional<io::BertConfig> bert;
  if (config.is_object()) {
    switch (d.family) {
      case Family::kLlava: llava = io::parse_llava_config(config, config_file); break;
      case Family::kClip:
      case Family::kClipVision: clip = io::parse_clip_vision_config(config, config_file); break;
      case Family::kLlama: llama = io::parse_llama_config(config, config_file); break;
      case Family::kBert: bert = io::parse_bert_config(config, config_file); break;
      default: break;
    }
  }
  // mPLUG ships its BERT config as config_bert.json (large) or config_bert_stride3.json (base).
  std::string mplug_config_source;
  if (d.family == Family::kMplug) {
    for (const char* name : {"config_bert.json", "config_bert_stride3.json", "config.json"}) {
      const json j = read_optional_json(model_dir / name);
      if (j.is_object()) {
        bert = io::parse_bert_config(j, (model_dir / name).string());
        mplug_config_source = name;
        break;
      }
    }
  }

  // mPLUG runs only the last fusion_layers of its fusion-encoder modules (spec 2.2).
  int fusion_modules = 0, fusion_start = 0, fusion_layers = 0;
  if (d.family == Family::kMplug) {
    std::set<int> modules;
    const std::string marker = "fusion_encoder.encoder.layer.";
    for (const auto& e : store.entries()) {
      const std::string key = canonical_key(d, e.name);
      if (!key.starts_with(marker)) continue;
      const std::size_t end = key.find('.', marker.size());
      const std::string digits = key.substr(marker.size(), end - marker.size());
      if (!digits.empty() && digits.size() < 6 && std::all_of(digits.begin(), digits.end(), ::isdigit)) {
        modules.insert(std::stoi(digits));
      }
    }
    fusion_modules = modules.empty() ? 0 : *modules.rbegin() + 1;
    fusion_layers = bert && bert->fusion_layers ? *bert->fusion_layers : fusion_modules / 2;
    fusion_start = std::max(0, fusion_modules - fusion_layers);
  }

  std::map<std::string, ComponentTensors> parts;
  for (const auto& e : store.entries()) {
    const int64_t n = e.numel();
    const std::string dtype(io::dtype_name(e.dtype));
    a.total_parameters += n;
    a.tensor_count += 1;
    a.dtypes[dtype] += n;
    const auto component = classify_tensor(d, e.name, fusion_start);
    if (!component) {
      a.ignored.parameters += n;
      a.ignored.tensors += 1;
      a.ignored.names.push_back(e.name);
      continue;
    }
    parts[*component].items.emplace_back(canonical_key(d, e.name), &e);
  }

  static const char* const kOrder[] = {"vision_encoder", "projector", "text_encoder", "fusion",
                                       "language_model", "decoder", "lm_head", "heads"};
  std::vector<std::string> order(std::begin(kOrder), std::end(kOrder));
  for (const auto& [name, t] : parts) {
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  }
  for (const auto& name : order) {
    auto it = parts.find(name);
    if (it == parts.end()) continue;
    const ComponentTensors& t = it->second;
    Component c;
    c.name = name;
    for (const auto& [key, e] : t.items) {
      c.parameters += e->numel();
      c.tensors += 1;
      c.dtypes[std::string(io::dtype_name(e->dtype))] += e->numel();
    }
    if (name == "vision_encoder") {
      c.kind = "clip_vit";
      const io::ClipVisionConfig* vc = llava && !llava->original_layout ? &llava->vision : clip ? &*clip : nullptr;
      describe_clip_vision(t, vc, c.config);
    } else if (name == "language_model") {
      c.kind = "llama";
      describe_llama(t, llava ? &llava->text : llama ? &*llama : nullptr, c.config);
    } else if (name == "projector" && d.family == Family::kLlava) {
      const auto* l1 = t.find_suffix(d.layout == "llava-original" ? "mm_projector.0.weight" : "linear_1.weight");
      const auto* l2 = t.find_suffix(d.layout == "llava-original" ? "mm_projector.2.weight" : "linear_2.weight");
      c.kind = l2 ? "mlp2x_gelu" : "linear";
      c.config["in_width"] = dim(l1, 1);
      if (l2) c.config["hidden_width"] = dim(l1, 0);
      c.config["out_width"] = l2 ? dim(l2, 0) : dim(l1, 0);
      c.config["activation"] = llava ? llava->projector_hidden_act : "gelu";
    } else if (name == "projector" && d.family == Family::kMplug) {
      const auto* fc = t.find_suffix("visn_fc.weight");
      c.kind = "linear_layernorm";
      c.config["in_width"] = dim(fc, 1);
      c.config["out_width"] = dim(fc, 0);
    } else if (name == "text_encoder" && (d.family == Family::kBert || d.family == Family::kMplug)) {
      c.kind = "bert";
      describe_bert(t, bert ? &*bert : nullptr, c.config, "encoder.layer.");
    } else if (name == "text_encoder") {
      c.kind = "clip_text";
      c.config["layers"] = std::max(t.count_indices("encoder.layers."), t.count_indices("resblocks."));
    } else if (name == "fusion") {
      c.kind = "skip_connected_co_attention";
      describe_bert(t, bert ? &*bert : nullptr, c.config, "encoder.layer.");
      const int stride = bert && bert->stride_layer ? *bert->stride_layer : fusion_layers;
      std::string schedule;
      for (int j = 0; j < fusion_layers; ++j) {
        schedule += std::string(j ? "," : "") + (j != 0 && stride > 0 && j % stride == 0 ? "connected" : "co");
      }
      c.config["modules"] = fusion_modules;
      c.config["first_module_run"] = fusion_start;
      c.config["stride"] = stride;
      c.config["schedule"] = schedule;
      if (!bert || !bert->fusion_layers) c.config["fusion_layers_assumed"] = "half the modules (no config_bert.json)";
    } else if (name == "decoder") {
      c.kind = "bert_decoder";
      describe_bert(t, bert ? &*bert : nullptr, c.config, "encoder.layer.");
    } else if (name == "lm_head") {
      const auto* w = t.find_suffix("decoder.weight");
      if (!w) w = t.find_suffix("lm_head.weight");
      c.kind = d.family == Family::kMplug ? "bert_lm_head" : "linear";
      c.config["vocab"] = dim(w, 0);
      c.config["width"] = dim(w, 1);
    } else {
      c.kind = name == "heads" ? "heads" : "unknown";
    }
    a.components.push_back(std::move(c));
  }

  // Model-level facts: how the modalities meet.
  if (d.family == Family::kLlava) {
    a.fusion = "early";
    a.config["fusion_detail"] = "image features projected and spliced into the LM input sequence";
    if (llava) {
      a.config["image_token_index"] = llava->image_token_index;
      a.config["vision_feature_layer"] = llava->vision_feature_layer;
      a.config["vision_feature_select_strategy"] = llava->vision_feature_select_strategy;
      if (llava->original_layout) {
        a.config["mm_projector_type"] = llava->mm_projector_type;
        a.config["image_aspect_ratio"] = llava->image_aspect_ratio;
        if (!llava->mm_vision_tower.empty()) {
          a.config["vision_tower"] = llava->mm_vision_tower;
          if (parts.find("vision_encoder") == parts.end()) {
            a.notes.push_back("the vision tower is not in this checkpoint: it is loaded from " + llava->mm_vision_tower);
          }
        }
      }
    }
    for (const auto& c : a.components) {
      if (c.name == "vision_encoder") {
        const int64_t tokens = c.config.value("tokens", int64_t{0});
        const bool drop_cls = !llava || llava->vision_feature_select_strategy == "default";
        a.config["image_tokens"] = drop_cls ? tokens - 1 : tokens;
      }
    }
  } else if (d.family == Family::kMplug) {
    a.fusion = "deep";
    for (const auto& c : a.components) {
      // mPLUG keeps every token after ln_post, CLS included (vlm-architectures.md trap 2).
      if (c.name == "vision_encoder") a.config["image_tokens"] = c.config.value("tokens", int64_t{0});
    }
    a.config["fusion_detail"] = "text attends to image features through co-attention (and connected-attention) layers; the answer decoder cross-attends to the fused sequence";
    if (!mplug_config_source.empty()) a.config["bert_config"] = mplug_config_source;
  }
  if (!a.ignored.names.empty()) {
    a.notes.push_back(std::to_string(a.ignored.tensors) + " tensors not used by the forward pass (buffers, momentum copies, unused modules)");
  }
  return a;
}

}  // namespace ct::anatomy
