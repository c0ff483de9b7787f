// LLaVA-1.5: tensor list over both layouts, loading, image features, splice, forward, generation.
#include "models/llava.h"

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/json_file.h"
#include "kernels/ops.h"
#include "models/checkpoint_keys.h"

namespace ct::models {
namespace fs = std::filesystem;
using kernels::WeightView;

void for_each_tensor(const io::LlavaConfig& c, LlavaModel& m, const TensorVisitor& visit) {
  const int64_t d = c.text.hidden_size, Wv = c.vision.hidden_size;
  if (c.original_layout) {
    // The vision tower lives in its own checkpoint (bound by load_llava from that store).
    visit("model.mm_projector.0.weight", {d, Wv}, {&m.projector.w1});
    visit("model.mm_projector.0.bias", {d}, {&m.projector.b1});
    visit("model.mm_projector.2.weight", {d, d}, {&m.projector.w2});
    visit("model.mm_projector.2.bias", {d}, {&m.projector.b2});
    for_each_tensor(c.text, "model.", "lm_head.weight", m.lm, visit);
    return;
  }
  for_each_tensor(c.vision, ClipLayout::kHf, "vision_tower.vision_model.", m.vision, visit);
  visit("multi_modal_projector.linear_1.weight", {d, Wv}, {&m.projector.w1});
  if (c.multimodal_projector_bias) visit("multi_modal_projector.linear_1.bias", {d}, {&m.projector.b1});
  visit("multi_modal_projector.linear_2.weight", {d, d}, {&m.projector.w2});
  if (c.multimodal_projector_bias) visit("multi_modal_projector.linear_2.bias", {d}, {&m.projector.b2});
  for_each_tensor(c.text, "language_model.model.", "language_model.lm_head.weight", m.lm, visit);
}

LlavaModel load_llava(const fs::path& model, const LlavaLoadOptions& opt) {
  LlavaModel m;
  const fs::path dir = io::model_directory(model);
  const fs::path cfg_path = dir / "config.json";
  const nlohmann::json j = io::read_json_file(cfg_path);
  m.config = io::parse_llava_config(j, cfg_path.string());
  io::LlavaConfig& c = m.config;
  if (c.original_layout) {
    if (c.mm_projector_type != "mlp2x_gelu") {
      throw InputError(cfg_path.string(), "mm_projector_type \"" + c.mm_projector_type +
                                              "\" is not supported (expected \"mlp2x_gelu\")");
    }
    fs::path tower = opt.vision_tower;
    if (tower.empty()) {
      tower = c.mm_vision_tower;
      if (tower.is_relative()) tower = dir / tower;
    }
    if (!fs::exists(tower)) {
      throw InputError(cfg_path.string(), "the original LLaVA layout keeps the vision tower apart: mm_vision_tower \"" +
                                              c.mm_vision_tower + "\" is not a local path (" + tower.string() +
                                              " not found); pass the CLIP checkpoint directory");
    }
    ClipVisionModel clip = load_clip_vision(tower);
    c.vision = clip.config;
    m.vision_layout = clip.layout;
    m.vision = std::move(clip.weights);
    m.stores.push_back(clip.store);
    if (c.mm_hidden_size != 0 && c.mm_hidden_size != c.vision.hidden_size) {
      throw InputError(cfg_path.string(), "mm_hidden_size " + std::to_string(c.mm_hidden_size) +
                                              " differs from the vision tower width " +
                                              std::to_string(c.vision.hidden_size) + " of " + tower.string());
    }
  } else if (c.projector_hidden_act != "gelu") {
    throw InputError(cfg_path.string(), "projector_hidden_act \"" + c.projector_hidden_act +
                                            "\" is not supported (expected \"gelu\")");
  }
  if (c.vision_feature_select_strategy != "default" && c.vision_feature_select_strategy != "full") {
    throw InputError(cfg_path.string(), "unknown vision_feature_select_strategy " + c.vision_feature_select_strategy);
  }
  auto store = std::make_shared<io::TensorStore>(io::open_checkpoint(model));
  m.stores.push_back(store);
  const WeightBinder binder(*store, c.original_layout ? std::function<std::string(std::string_view)>{}
                                                      : normalise_llava_hf_key);
  if (c.text.attention_bias || c.text.mlp_bias) {
    throw InputError(cfg_path.string(), "LLaMA variants with attention_bias or mlp_bias are not supported");
  }
  for_each_tensor(c, m, binder.visitor());
  if (c.text.tie_word_embeddings) m.lm.lm_head = m.lm.embed_tokens;
  const int run = llava_vision_layers(m);
  if (run < 0 || run > c.vision.num_hidden_layers) {
    throw InputError(cfg_path.string(), "vision_feature_layer " + std::to_string(c.vision_feature_layer) +
                                            " is outside a " + std::to_string(c.vision.num_hidden_layers) +
                                            "-layer vision tower");
  }
  return m;
}

int llava_vision_layers(const io::LlavaConfig& c) {
  // hidden_states[k] is the residual after k layers (k = 0: pre-LN output); negative k counts
  // from the end of the L + 1 entries.
  const int L = c.vision.num_hidden_layers, f = c.vision_feature_layer;
  return f < 0 ? L + 1 + f : f;
}

int llava_vision_layers(const LlavaModel& m) { return llava_vision_layers(m.config); }

int64_t llava_image_tokens(const LlavaModel& m) {
  const int64_t n = clip_num_tokens(m.config.vision);
  return m.config.vision_feature_select_strategy == "default" ? n - 1 : n;
}

int32_t llava_image_token_id(const LlavaModel& m) { return m.config.image_token_index; }

std::vector<int32_t> expand_image_tokens(const LlavaModel& m, std::span<const int32_t> ids) {
  const int32_t img = llava_image_token_id(m);
  const int64_t n = llava_image_tokens(m);
  int64_t count = 0;
  for (int32_t id : ids) count += id == img;
  if (count != 1) return {ids.begin(), ids.end()};
  std::vector<int32_t> out;
  out.reserve(ids.size() + static_cast<std::size_t>(n));
  for (int32_t id : ids) {
    if (id == img) out.insert(out.end(), static_cast<std::size_t>(n), img);
    else out.push_back(id);
  }
  return out;
}

std::vector<float> llava_image_features(const LlavaModel& m, std::span<const float> pixels, const ExecContext& ctx,
                                        const Hooks& hooks) {
  const io::LlavaConfig& c = m.config;
  const ClipRunOptions run{llava_vision_layers(m), false};
  const std::vector<float> hidden = clip_vision_forward(c.vision, m.vision, pixels, run, ctx, hooks);  // [N, W]
  const int64_t Wv = c.vision.hidden_size, d = c.text.hidden_size;
  const int64_t n = llava_image_tokens(m);
  const float* feats = hidden.data() + (clip_num_tokens(c.vision) - n) * Wv;  // [n, W]: CLS dropped for "default"
  std::vector<float> mid(static_cast<std::size_t>(n * d)), out(mid.size());
  kernels::linear(ctx, feats, n, Wv, m.projector.w1, m.projector.b1, mid.data());
  kernels::activate(kernels::Activation::kGeluErf, mid.data(), n * d);
  kernels::linear(ctx, mid.data(), n, d, m.projector.w2, m.projector.b2, out.data());
  hooks.emit("projector.output", {out.data(), n, d});
  return out;
}

std::vector<float> llava_embed(const LlavaModel& m, std::span<const int32_t> ids, std::span<const float> pixels,
                               const ExecContext& ctx, const Hooks& hooks) {
  const int32_t img = llava_image_token_id(m);
  const int64_t n = llava_image_tokens(m), d = m.config.text.hidden_size;
  int64_t count = 0;
  for (int32_t id : ids) count += id == img;
  if (count != n) {
    throw InputError("token_ids", "expected " + std::to_string(n) + " image tokens (id " + std::to_string(img) +
                                      ") for one image, found " + std::to_string(count));
  }
  const std::vector<float> image = llava_image_features(m, pixels, ctx, hooks);  // [n, d]
  std::vector<float> x(ids.size() * static_cast<std::size_t>(d));               // [T, d]
  int64_t next = 0;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    float* row = x.data() + t * static_cast<std::size_t>(d);
    if (ids[t] == img) {
      std::copy_n(image.data() + next++ * d, d, row);
    } else {
      const int32_t one[1] = {ids[t]};
      const std::vector<float> e = llama_embed(m.config.text, m.lm, one);
      std::copy(e.begin(), e.end(), row);
    }
  }
  return x;
}

LlamaLogits llava_forward(const LlavaModel& m, std::span<const int32_t> ids, std::span<const float> pixels,
                          KvCache& cache, const ExecContext& ctx, const Hooks& hooks, bool all_logits) {
  const std::vector<int32_t> expanded = expand_image_tokens(m, ids);
  const std::vector<float> x = llava_embed(m, expanded, pixels, ctx, hooks);
  return llama_forward(m.config.text, m.lm, x, cache, ctx, hooks, all_logits);
}

std::vector<int32_t> llava_generate(const LlavaModel& m, std::span<const int32_t> ids, std::span<const float> pixels,
                                    const GenerationOptions& opt, const ExecContext& ctx, const Hooks& hooks) {
  const std::vector<int32_t> expanded = expand_image_tokens(m, ids);
  const std::vector<float> x = llava_embed(m, expanded, pixels, ctx, hooks);
  return generate(m.config.text, m.lm, x, opt, ctx, hooks);
}

std::vector<std::string> llava_hook_names(const LlavaModel& m) { return llava_hook_names(m.config); }

std::vector<std::string> llava_hook_names(const io::LlavaConfig& c) {
  std::vector<std::string> names = clip_vision_hook_names(c.vision, {llava_vision_layers(c), false});
  names.push_back("projector.output");
  const std::vector<std::string> lm = llama_hook_names(c.text);
  names.insert(names.end(), lm.begin(), lm.end());
  return names;
}

}  // namespace ct::models
