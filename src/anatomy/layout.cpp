#include "anatomy/layout.h"

#include <algorithm>
#include <functional>

#include "core/error.h"
#include "io/hf_config.h"
#include "models/checkpoint_keys.h"

namespace ct::anatomy {
namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool any_key(const io::TensorStore& store, const std::function<bool(std::string_view)>& pred) {
  return std::any_of(store.entries().begin(), store.entries().end(),
                     [&](const io::TensorEntry& e) { return pred(e.name); });
}

bool any_prefix(const io::TensorStore& store, std::string_view prefix) {
  return any_key(store, [&](std::string_view n) { return starts_with(n, prefix); });
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// What the tensor names alone say.
Detection detect_from_tensors(const io::TensorStore& store) {
  if (any_prefix(store, "visual_encoder.visual.") &&
      (any_prefix(store, "text_decoder.") || any_prefix(store, "fusion_encoder."))) {
    const bool pretrained = any_key(store, [](std::string_view n) {
      return starts_with(n, "text_encoder.bert.") || starts_with(n, "fusion_encoder.fusion.") ||
             starts_with(n, "fusion_encoder.bert.");
    });
    return {Family::kMplug, pretrained ? "mplug-pretrained" : "mplug-finetuned", "tensor names (visual_encoder + text_decoder)"};
  }
  if (any_prefix(store, "model.mm_projector.")) {
    return {Family::kLlava, "llava-original", "tensor names (model.mm_projector)"};
  }
  if (any_prefix(store, "model.language_model.") || any_prefix(store, "model.vision_tower.")) {
    return {Family::kLlava, "llava-hf-new-keys", "tensor names (model.language_model / model.vision_tower)"};
  }
  if (any_prefix(store, "language_model.model.") || any_prefix(store, "multi_modal_projector.")) {
    return {Family::kLlava, "llava-hf", "tensor names (language_model.model / multi_modal_projector)"};
  }
  if (any_prefix(store, "vision_model.")) {
    if (any_prefix(store, "text_model.")) return {Family::kClip, "clip-hf", "tensor names (vision_model + text_model)"};
    return {Family::kClipVision, "clip-vision-hf", "tensor names (vision_model)"};
  }
  if (any_prefix(store, "visual.transformer.resblocks.") || any_prefix(store, "visual.conv1.")) {
    if (any_prefix(store, "transformer.resblocks.")) return {Family::kClip, "clip-openai", "tensor names (visual + transformer)"};
    return {Family::kClipVision, "clip-vision-openai", "tensor names (visual.*)"};
  }
  if (any_key(store, [](std::string_view n) { return starts_with(n, "model.layers.") && contains(n, ".self_attn.q_proj."); }) ||
      any_prefix(store, "model.embed_tokens.")) {
    return {Family::kLlama, "llama-hf", "tensor names (model.layers.*.self_attn)"};
  }
  if (any_key(store, [](std::string_view n) {
        return starts_with(n, "embeddings.word_embeddings.") || starts_with(n, "bert.embeddings.") ||
               (starts_with(n, "encoder.layer.") && contains(n, ".attention.self."));
      })) {
    const bool legacy = any_key(store, [](std::string_view n) { return n.ends_with(".gamma") || n.ends_with(".beta"); });
    return {Family::kBert, legacy ? "bert-hf-gamma-beta" : "bert-hf", "tensor names (embeddings.word_embeddings)"};
  }
  return {Family::kGeneric, "generic", "no known tensor-name pattern"};
}

// The family a config.json's model_type or architectures names, if any.
std::optional<Family> family_from_config(const nlohmann::json& config, const std::string& file) {
  if (!config.is_object()) return std::nullopt;
  const std::string type = io::config_model_type(config, file);
  const std::string arch = io::config_architectures(config, file);
  if (type == "llava" || type == "llava_llama" || contains(arch, "Llava")) return Family::kLlava;
  if (type == "clip_vision_model" || contains(arch, "CLIPVision")) return Family::kClipVision;
  if (type == "clip" || contains(arch, "CLIPModel")) return Family::kClip;
  if (type == "llama" || contains(arch, "LlamaFor")) return Family::kLlama;
  if (type == "bert" || contains(arch, "Bert")) return Family::kBert;
  return std::nullopt;
}

}  // namespace

Detection detect_layout(const io::TensorStore& store, const nlohmann::json& config, const std::string& config_file) {
  Detection from_tensors = detect_from_tensors(store);
  const auto declared = family_from_config(config, config_file);
  if (!declared) return from_tensors;
  // A CLIP checkpoint whose text tower is absent is still what its config says.
  const bool clip_pair = (*declared == Family::kClip || *declared == Family::kClipVision) &&
                         (from_tensors.family == Family::kClip || from_tensors.family == Family::kClipVision);
  // mPLUG directories may carry their BERT config as config.json.
  const bool mplug_bert = *declared == Family::kBert && from_tensors.family == Family::kMplug;
  if (*declared != from_tensors.family && !clip_pair && !mplug_bert) {
    throw InputError(config_file, std::string("config declares a ") + family_name(*declared) +
                                      " model but the tensors of " + store.path() + " look like " +
                                      family_name(from_tensors.family) + " (" + from_tensors.reason + ")");
  }
  from_tensors.reason = "config.json (model_type/architectures) and tensor names agree";
  return from_tensors;
}

std::string canonical_key(const Detection& d, std::string_view name) {
  switch (d.family) {
    case Family::kLlava:
      return d.layout == "llava-original" ? std::string(name) : models::normalise_llava_hf_key(name);
    case Family::kMplug: return models::normalise_mplug_key(name);
    case Family::kBert: return models::normalise_bert_key(name);
    default: return std::string(name);
  }
}

// The rules (tests/python/test_inspect_counts.py checks them independently):
std::optional<std::string> classify_tensor(const Detection& d, std::string_view stored, int fusion_start) {
  if (models::is_buffer_key(stored)) return std::nullopt;
  const std::string key = canonical_key(d, stored);
  const std::string_view k = key;
  struct Rule {
    std::string_view prefix, component;
  };
  auto first_match = [&](std::initializer_list<Rule> rules) -> std::optional<std::string> {
    for (const auto& r : rules) {
      if (starts_with(k, r.prefix)) return std::string(r.component);
    }
    return std::nullopt;
  };
  switch (d.family) {
    case Family::kLlava:
      if (d.layout == "llava-original") {
        return first_match({{"model.mm_projector.", "projector"},
                            {"model.vision_tower.", "vision_encoder"},
                            {"model.", "language_model"},
                            {"lm_head.", "lm_head"}});
      }
      return first_match({{"vision_tower.", "vision_encoder"},
                          {"multi_modal_projector.", "projector"},
                          {"language_model.model.", "language_model"},
                          {"language_model.lm_head.", "lm_head"}});
    case Family::kClip:
    case Family::kClipVision:
      if (starts_with(d.layout, "clip-openai") || d.layout == "clip-vision-openai") {
        if (k == "input_resolution" || k == "context_length" || k == "vocab_size") return std::nullopt;
        if (k == "visual.proj" || k == "text_projection" || k == "logit_scale") return std::string("heads");
        return first_match({{"visual.", "vision_encoder"},
                            {"token_embedding.", "text_encoder"},
                            {"positional_embedding", "text_encoder"},
                            {"transformer.", "text_encoder"},
                            {"ln_final.", "text_encoder"}});
      }
      return first_match({{"vision_model.", "vision_encoder"},
                          {"text_model.", "text_encoder"},
                          {"visual_projection.", "heads"},
                          {"text_projection.", "heads"},
                          {"logit_scale", "heads"}});
    case Family::kLlama:
      return first_match({{"model.", "language_model"}, {"lm_head.", "lm_head"}});
    case Family::kBert:
      return first_match({{"embeddings.", "text_encoder"},
                          {"encoder.", "text_encoder"},
                          {"pooler.", "heads"},
                          {"cls.", "heads"}});
    case Family::kMplug: {
      const std::string_view head = k.substr(0, k.find('.'));
      if (head.ends_with("_m")) return std::nullopt;  // momentum copies (training only)
      if (k == "visual_encoder.visual.proj") return std::nullopt;
      if (starts_with(k, "fusion_encoder.encoder.layer.")) {
        const std::string_view rest = k.substr(std::string_view("fusion_encoder.encoder.layer.").size());
        int index = 0;
        std::size_t i = 0;
        for (; i < rest.size() && rest[i] >= '0' && rest[i] <= '9' && i < 6; ++i) index = index * 10 + (rest[i] - '0');
        if (i == 0) return std::nullopt;
        return index >= fusion_start ? std::optional<std::string>("fusion") : std::nullopt;
      }
      return first_match({{"visual_encoder.visual.", "vision_encoder"},
                          {"visn_fc.", "projector"},
                          {"visn_layer_norm.", "projector"},
                          {"text_encoder.", "text_encoder"},
                          {"text_decoder.bert.", "decoder"},
                          {"text_decoder.cls.", "lm_head"}});
    }
    case Family::kGeneric: {
      const std::size_t dot = k.find('.');
      return std::string(dot == std::string_view::npos ? k : k.substr(0, dot));
    }
  }
  return std::nullopt;
}

const char* family_name(Family f) {
  switch (f) {
    case Family::kLlava: return "llava";
    case Family::kClip: return "clip";
    case Family::kClipVision: return "clip_vision";
    case Family::kLlama: return "llama";
    case Family::kBert: return "bert";
    case Family::kMplug: return "mplug";
    case Family::kGeneric: return "generic";
  }
  return "generic";
}

}  // namespace ct::anatomy
