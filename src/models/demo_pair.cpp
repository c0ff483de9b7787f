#include "models/demo_pair.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "io/safetensors.h"

namespace ct::models {
namespace fs = std::filesystem;
namespace {

// Gaussian weights from core/random.h: reproducible on every platform and compiler.
float normal(Rng& rng, float std) { return static_cast<float>(rng.normal()) * std; }

// f32 tensors in insertion order, written as one safetensors file.
class TensorList {
 public:
  std::vector<float>& add(const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    names_.push_back(name);
    shapes_.push_back(std::move(shape));
    values_.emplace_back(static_cast<std::size_t>(n));
    return values_.back();
  }
  void random(const std::string& name, std::vector<int64_t> shape, Rng& rng, float std = 0.02f) {
    for (float& v : add(name, std::move(shape))) v = normal(rng, std);
  }
  void constant(const std::string& name, std::vector<int64_t> shape, float value) {
    for (float& v : add(name, std::move(shape))) v = value;
  }
  void copy(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& values) {
    add(name, std::move(shape)) = values;
  }
  void linear(const std::string& prefix, int64_t out, int64_t in, Rng& rng, bool bias = true) {
    random(prefix + ".weight", {out, in}, rng);
    if (bias) random(prefix + ".bias", {out}, rng, 0.01f);
  }
  void layer_norm(const std::string& prefix, int64_t width, const char* w = "weight", const char* b = "bias") {
    constant(prefix + "." + w, {width}, 1.0f);
    constant(prefix + "." + b, {width}, 0.0f);
  }
  void write(const fs::path& path) const {
    std::vector<io::TensorToWrite> out;
    for (std::size_t i = 0; i < names_.size(); ++i) {
      const auto* bytes = reinterpret_cast<const std::byte*>(values_[i].data());
      out.push_back({names_[i], io::DType::kF32, shapes_[i], {bytes, values_[i].size() * sizeof(float)}});
    }
    io::write_safetensors(path, out, {{"format", "pt"}, {"generator", "crosstrace demo"}});
  }

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<int64_t>> shapes_;
  std::vector<std::vector<float>> values_;
};

constexpr int64_t kVisionWidth = 48, kVisionLayers = 2, kVisionHeads = 4, kVisionMlp = 100;
constexpr int64_t kPatch = 4, kImage = 16, kVisionTokens = (kImage / kPatch) * (kImage / kPatch) + 1;

// One CLIP vision tower, as plain arrays shared by both layouts.
struct ClipWeights {
  std::vector<float> class_embedding, patch, positions, pre_w, pre_b, post_w, post_b;
  struct Layer {
    std::vector<float> ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };
  std::vector<Layer> layers;
};

std::vector<float> gaussian(Rng& rng, int64_t n, float std) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = normal(rng, std);
  return v;
}

ClipWeights make_clip(Rng& rng) {
  const int64_t w = kVisionWidth;
  ClipWeights c;
  c.class_embedding = gaussian(rng, w, 0.02f);
  c.patch = gaussian(rng, w * 3 * kPatch * kPatch, 0.02f);
  c.positions = gaussian(rng, kVisionTokens * w, 0.01f);
  c.pre_w.assign(w, 1.0f), c.pre_b.assign(w, 0.0f), c.post_w.assign(w, 1.0f), c.post_b.assign(w, 0.0f);
  for (int64_t i = 0; i < kVisionLayers; ++i) {
    ClipWeights::Layer l;
    l.ln1_w.assign(w, 1.0f), l.ln1_b.assign(w, 0.0f), l.ln2_w.assign(w, 1.0f), l.ln2_b.assign(w, 0.0f);
    l.qkv_w = gaussian(rng, 3 * w * w, 0.02f);
    l.qkv_b = gaussian(rng, 3 * w, 0.01f);
    l.out_w = gaussian(rng, w * w, 0.02f);
    l.out_b = gaussian(rng, w, 0.01f);
    l.fc1_w = gaussian(rng, kVisionMlp * w, 0.02f);
    l.fc1_b = gaussian(rng, kVisionMlp, 0.01f);
    l.fc2_w = gaussian(rng, w * kVisionMlp, 0.02f);
    l.fc2_b = gaussian(rng, w, 0.01f);
    c.layers.push_back(std::move(l));
  }
  return c;
}

std::vector<float> slice(const std::vector<float>& v, int64_t begin, int64_t count) {
  return {v.begin() + begin, v.begin() + begin + count};
}

// HF CLIPVisionModel names under `prefix` (q/k/v split out of the packed OpenAI projection).
void add_clip_hf(TensorList& t, const ClipWeights& c, const std::string& prefix) {
  const int64_t w = kVisionWidth;
  t.copy(prefix + "embeddings.class_embedding", {w}, c.class_embedding);
  t.copy(prefix + "embeddings.patch_embedding.weight", {w, 3, kPatch, kPatch}, c.patch);
  t.copy(prefix + "embeddings.position_embedding.weight", {kVisionTokens, w}, c.positions);
  t.copy(prefix + "pre_layrnorm.weight", {w}, c.pre_w);
  t.copy(prefix + "pre_layrnorm.bias", {w}, c.pre_b);
  for (std::size_t i = 0; i < c.layers.size(); ++i) {
    const auto& l = c.layers[i];
    const std::string p = prefix + "encoder.layers." + std::to_string(i) + ".";
    const char* names[3] = {"q_proj", "k_proj", "v_proj"};
    t.copy(p + "layer_norm1.weight", {w}, l.ln1_w);
    t.copy(p + "layer_norm1.bias", {w}, l.ln1_b);
    for (int k = 0; k < 3; ++k) {
      t.copy(p + "self_attn." + names[k] + ".weight", {w, w}, slice(l.qkv_w, k * w * w, w * w));
      t.copy(p + "self_attn." + names[k] + ".bias", {w}, slice(l.qkv_b, k * w, w));
    }
    t.copy(p + "self_attn.out_proj.weight", {w, w}, l.out_w);
    t.copy(p + "self_attn.out_proj.bias", {w}, l.out_b);
    t.copy(p + "layer_norm2.weight", {w}, l.ln2_w);
    t.copy(p + "layer_norm2.bias", {w}, l.ln2_b);
    t.copy(p + "mlp.fc1.weight", {kVisionMlp, w}, l.fc1_w);
    t.copy(p + "mlp.fc1.bias", {kVisionMlp}, l.fc1_b);
    t.copy(p + "mlp.fc2.weight", {w, kVisionMlp}, l.fc2_w);
    t.copy(p + "mlp.fc2.bias", {w}, l.fc2_b);
  }
  t.copy(prefix + "post_layernorm.weight", {w}, c.post_w);
  t.copy(prefix + "post_layernorm.bias", {w}, c.post_b);
}

// OpenAI CLIP visual names under `prefix` (mPLUG: visual_encoder.visual.).
void add_clip_openai(TensorList& t, const ClipWeights& c, const std::string& prefix) {
  const int64_t w = kVisionWidth;
  t.copy(prefix + "class_embedding", {w}, c.class_embedding);
  t.copy(prefix + "conv1.weight", {w, 3, kPatch, kPatch}, c.patch);
  t.copy(prefix + "positional_embedding", {kVisionTokens, w}, c.positions);
  t.copy(prefix + "ln_pre.weight", {w}, c.pre_w);
  t.copy(prefix + "ln_pre.bias", {w}, c.pre_b);
  for (std::size_t i = 0; i < c.layers.size(); ++i) {
    const auto& l = c.layers[i];
    const std::string p = prefix + "transformer.resblocks." + std::to_string(i) + ".";
    t.copy(p + "ln_1.weight", {w}, l.ln1_w);
    t.copy(p + "ln_1.bias", {w}, l.ln1_b);
    t.copy(p + "attn.in_proj_weight", {3 * w, w}, l.qkv_w);
    t.copy(p + "attn.in_proj_bias", {3 * w}, l.qkv_b);
    t.copy(p + "attn.out_proj.weight", {w, w}, l.out_w);
    t.copy(p + "attn.out_proj.bias", {w}, l.out_b);
    t.copy(p + "ln_2.weight", {w}, l.ln2_w);
    t.copy(p + "ln_2.bias", {w}, l.ln2_b);
    t.copy(p + "mlp.c_fc.weight", {kVisionMlp, w}, l.fc1_w);
    t.copy(p + "mlp.c_fc.bias", {kVisionMlp}, l.fc1_b);
    t.copy(p + "mlp.c_proj.weight", {w, kVisionMlp}, l.fc2_w);
    t.copy(p + "mlp.c_proj.bias", {w}, l.fc2_b);
  }
  t.copy(prefix + "ln_post.weight", {w}, c.post_w);
  t.copy(prefix + "ln_post.bias", {w}, c.post_b);
}

// BERT layer names under `p` (".../layer.i."); cross-attention when `cross_width` > 0.
void add_bert_layer(TensorList& t, const std::string& p, int64_t d, int64_t ff, int64_t cross_width, Rng& rng) {
  for (const char* m : {"query", "key", "value"}) t.linear(p + "attention.self." + m, d, d, rng);
  t.linear(p + "attention.output.dense", d, d, rng);
  t.layer_norm(p + "attention.output.LayerNorm", d);
  if (cross_width > 0) {
    t.linear(p + "crossattention.self.query", d, d, rng);
    t.linear(p + "crossattention.self.key", d, cross_width, rng);
    t.linear(p + "crossattention.self.value", d, cross_width, rng);
    t.linear(p + "crossattention.output.dense", d, d, rng);
    t.layer_norm(p + "crossattention.output.LayerNorm", d);
  }
  t.linear(p + "intermediate.dense", ff, d, rng);
  t.linear(p + "output.dense", d, ff, rng);
  t.layer_norm(p + "output.LayerNorm", d);
}

void add_bert_embeddings(TensorList& t, const std::string& p, int64_t vocab, int64_t d, Rng& rng) {
  t.random(p + "word_embeddings.weight", {vocab, d}, rng);
  t.random(p + "position_embeddings.weight", {64, d}, rng);
  t.random(p + "token_type_embeddings.weight", {2, d}, rng);
  t.layer_norm(p + "LayerNorm", d);
}

void write_text(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw RuntimeFailure("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

void write_llava(const fs::path& dir, const ClipWeights& clip, Rng& rng) {
  constexpr int64_t d = 40, layers = 2, heads = 4, ff = 84, vocab = 336;
  TensorList t;
  add_clip_hf(t, clip, "vision_tower.vision_model.");
  t.linear("multi_modal_projector.linear_1", d, kVisionWidth, rng);
  t.linear("multi_modal_projector.linear_2", d, d, rng);
  t.random("language_model.model.embed_tokens.weight", {vocab, d}, rng);
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = "language_model.model.layers." + std::to_string(i) + ".";
    t.constant(p + "input_layernorm.weight", {d}, 1.0f);
    for (const char* m : {"q_proj", "k_proj", "v_proj", "o_proj"}) t.linear(p + "self_attn." + m, d, d, rng, false);
    t.constant(p + "post_attention_layernorm.weight", {d}, 1.0f);
    t.linear(p + "mlp.gate_proj", ff, d, rng, false);
    t.linear(p + "mlp.up_proj", ff, d, rng, false);
    t.linear(p + "mlp.down_proj", d, ff, rng, false);
  }
  t.constant("language_model.model.norm.weight", {d}, 1.0f);
  t.random("language_model.lm_head.weight", {vocab, d}, rng);
  t.write(dir / "model.safetensors");
  const nlohmann::ordered_json config = {
      {"architectures", {"LlavaForConditionalGeneration"}},
      {"model_type", "llava"},
      {"image_token_index", 320},
      {"pad_token_id", 321},
      {"projector_hidden_act", "gelu"},
      {"vision_feature_layer", -2},
      {"vision_feature_select_strategy", "default"},
      {"tie_word_embeddings", false},
      {"text_config", {{"model_type", "llama"}, {"hidden_size", d}, {"intermediate_size", ff},
                       {"num_hidden_layers", layers}, {"num_attention_heads", heads}, {"num_key_value_heads", heads},
                       {"max_position_embeddings", 512}, {"rms_norm_eps", 1e-5}, {"vocab_size", vocab}}},
      {"vision_config", {{"model_type", "clip_vision_model"}, {"hidden_size", kVisionWidth}, {"image_size", kImage},
                         {"intermediate_size", kVisionMlp}, {"num_attention_heads", kVisionHeads},
                         {"num_hidden_layers", kVisionLayers}, {"patch_size", kPatch}, {"projection_dim", 32}}},
  };
  write_text(dir / "config.json", config.dump(2) + "\n");
}

void write_mplug(const fs::path& dir, const ClipWeights& clip, Rng& rng) {
  constexpr int64_t d = 32, ff = 37, vocab = 130, text_layers = 2, modules = 6, fusion_layers = 3, decoder_layers = 2;
  TensorList t;
  add_clip_openai(t, clip, "visual_encoder.visual.");
  t.linear("visn_fc", d, kVisionWidth, rng);
  t.layer_norm("visn_layer_norm", d);
  add_bert_embeddings(t, "text_encoder.embeddings.", vocab, d, rng);
  for (int64_t i = 0; i < text_layers; ++i) add_bert_layer(t, "text_encoder.encoder.layer." + std::to_string(i) + ".", d, ff, 0, rng);
  for (int64_t i = 0; i < modules; ++i) add_bert_layer(t, "fusion_encoder.encoder.layer." + std::to_string(i) + ".", d, ff, d, rng);
  add_bert_embeddings(t, "text_decoder.bert.embeddings.", vocab, d, rng);
  for (int64_t i = 0; i < decoder_layers; ++i) add_bert_layer(t, "text_decoder.bert.encoder.layer." + std::to_string(i) + ".", d, ff, d, rng);
  t.linear("text_decoder.cls.predictions.transform.dense", d, d, rng);
  t.layer_norm("text_decoder.cls.predictions.transform.LayerNorm", d);
  t.random("text_decoder.cls.predictions.decoder.weight", {vocab, d}, rng);
  t.constant("text_decoder.cls.predictions.bias", {vocab}, 0.0f);
  t.write(dir / "mplug_tiny.safetensors");
  const nlohmann::ordered_json config = {
      {"architectures", {"BertForMaskedLM"}}, {"model_type", "bert"}, {"hidden_size", d},
      {"num_attention_heads", 4}, {"intermediate_size", ff}, {"vocab_size", vocab},
      {"max_position_embeddings", 64}, {"type_vocab_size", 2}, {"layer_norm_eps", 1e-12},
      {"hidden_act", "gelu"}, {"num_hidden_layers", modules}, {"encoder_width", d},
      {"text_encoder_layers", text_layers}, {"fusion_layers", fusion_layers},
      {"text_decode_layers", decoder_layers}, {"stride_layer", 2},
      // The visual encoder's sizes: its 12-wide heads break the OpenAI 64-wide-head convention.
      {"vision_config", {{"hidden_size", kVisionWidth}, {"num_attention_heads", kVisionHeads},
                         {"patch_size", kPatch}, {"image_size", kImage}}},
  };
  write_text(dir / "config_bert.json", config.dump(2) + "\n");
}

}  // namespace

DemoPairPaths write_demo_pair(const fs::path& dir, uint64_t seed) {
  DemoPairPaths paths{dir / "llava_tiny", dir / "mplug_tiny"};
  std::error_code ec;
  fs::create_directories(paths.llava, ec);
  fs::create_directories(paths.mplug, ec);
  if (!fs::is_directory(paths.llava) || !fs::is_directory(paths.mplug)) {
    throw RuntimeFailure("cannot create the demo model directories under " + dir.string());
  }
  Rng clip_rng(seed), llava_rng(seed + 1), mplug_rng(seed + 2);
  const ClipWeights clip = make_clip(clip_rng);
  write_llava(paths.llava, clip, llava_rng);
  write_mplug(paths.mplug, clip, mplug_rng);
  return paths;
}

}  // namespace ct::models
