// CLIP vision tower: tensor list, loading (two layouts), forward with hooks.
#include "models/clip_vision.h"

#include <cmath>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/json_file.h"
#include "kernels/ops.h"

namespace ct::models {
namespace fs = std::filesystem;
using kernels::WeightView;

void for_each_tensor(const io::ClipVisionConfig& c, ClipLayout layout, const std::string& prefix,
                     ClipVisionWeights& w, const TensorVisitor& visit) {
  const int64_t W = c.hidden_size, H = c.intermediate_size, P = c.patch_size, C = c.num_channels;
  const int64_t N = 1 + (c.image_size / c.patch_size) * (c.image_size / c.patch_size);
  w.layers.resize(static_cast<std::size_t>(c.num_hidden_layers));
  const std::string& p = prefix;
  if (layout == ClipLayout::kHf) {
    visit(p + "embeddings.class_embedding", {W}, {&w.class_embedding});
    visit(p + "embeddings.patch_embedding.weight", {W, C, P, P}, {&w.patch_embedding});
    visit(p + "embeddings.position_embedding.weight", {N, W}, {&w.position_embedding});
    visit(p + "pre_layrnorm.weight", {W}, {&w.pre_ln_w});
    visit(p + "pre_layrnorm.bias", {W}, {&w.pre_ln_b});
    for (int i = 0; i < c.num_hidden_layers; ++i) {
      ClipLayerWeights& l = w.layers[static_cast<std::size_t>(i)];
      const std::string q = p + "encoder.layers." + std::to_string(i) + ".";
      visit(q + "layer_norm1.weight", {W}, {&l.ln1_w});
      visit(q + "layer_norm1.bias", {W}, {&l.ln1_b});
      visit(q + "self_attn.q_proj.weight", {W, W}, {&l.q_w});
      visit(q + "self_attn.q_proj.bias", {W}, {&l.q_b});
      visit(q + "self_attn.k_proj.weight", {W, W}, {&l.k_w});
      visit(q + "self_attn.k_proj.bias", {W}, {&l.k_b});
      visit(q + "self_attn.v_proj.weight", {W, W}, {&l.v_w});
      visit(q + "self_attn.v_proj.bias", {W}, {&l.v_b});
      visit(q + "self_attn.out_proj.weight", {W, W}, {&l.o_w});
      visit(q + "self_attn.out_proj.bias", {W}, {&l.o_b});
      visit(q + "layer_norm2.weight", {W}, {&l.ln2_w});
      visit(q + "layer_norm2.bias", {W}, {&l.ln2_b});
      visit(q + "mlp.fc1.weight", {H, W}, {&l.fc1_w});
      visit(q + "mlp.fc1.bias", {H}, {&l.fc1_b});
      visit(q + "mlp.fc2.weight", {W, H}, {&l.fc2_w});
      visit(q + "mlp.fc2.bias", {W}, {&l.fc2_b});
    }
    visit(p + "post_layernorm.weight", {W}, {&w.post_ln_w});
    visit(p + "post_layernorm.bias", {W}, {&w.post_ln_b});
    return;
  }
  visit(p + "class_embedding", {W}, {&w.class_embedding});
  visit(p + "conv1.weight", {W, C, P, P}, {&w.patch_embedding});
  visit(p + "positional_embedding", {N, W}, {&w.position_embedding});
  visit(p + "ln_pre.weight", {W}, {&w.pre_ln_w});
  visit(p + "ln_pre.bias", {W}, {&w.pre_ln_b});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    ClipLayerWeights& l = w.layers[static_cast<std::size_t>(i)];
    const std::string q = p + "transformer.resblocks." + std::to_string(i) + ".";
    visit(q + "ln_1.weight", {W}, {&l.ln1_w});
    visit(q + "ln_1.bias", {W}, {&l.ln1_b});
    visit(q + "attn.in_proj_weight", {3 * W, W}, {&l.q_w, &l.k_w, &l.v_w});  // rows q, k, v
    visit(q + "attn.in_proj_bias", {3 * W}, {&l.q_b, &l.k_b, &l.v_b});
    visit(q + "attn.out_proj.weight", {W, W}, {&l.o_w});
    visit(q + "attn.out_proj.bias", {W}, {&l.o_b});
    visit(q + "ln_2.weight", {W}, {&l.ln2_w});
    visit(q + "ln_2.bias", {W}, {&l.ln2_b});
    visit(q + "mlp.c_fc.weight", {H, W}, {&l.fc1_w});
    visit(q + "mlp.c_fc.bias", {H}, {&l.fc1_b});
    visit(q + "mlp.c_proj.weight", {W, H}, {&l.fc2_w});
    visit(q + "mlp.c_proj.bias", {W}, {&l.fc2_b});
  }
  visit(p + "ln_post.weight", {W}, {&w.post_ln_w});
  visit(p + "ln_post.bias", {W}, {&w.post_ln_b});
}

ClipVisionWeights bind_clip_vision(const io::ClipVisionConfig& c, ClipLayout layout, const std::string& prefix,
                                   const WeightBinder& binder) {
  ClipVisionWeights w;
  for_each_tensor(c, layout, prefix, w, binder.visitor());
  return w;
}

namespace {

// OpenAI checkpoints carry no config: read the sizes off the tensors (heads: 64-dim heads, as in
// every published CLIP ViT).
io::ClipVisionConfig infer_openai_config(const WeightBinder& b, const std::string& p, const std::string& where) {
  const io::TensorEntry* conv = b.find(p + "conv1.weight");
  const io::TensorEntry* pos = b.find(p + "positional_embedding");
  const io::TensorEntry* fc = b.find(p + "transformer.resblocks.0.mlp.c_fc.weight");
  if (!conv || !pos || !fc || conv->shape.size() != 4 || pos->shape.size() != 2 || fc->shape.size() != 2) {
    throw InputError(where, "OpenAI CLIP layout without config.json: conv1, positional_embedding or the first "
                            "resblock is missing or malformed");
  }
  io::ClipVisionConfig c;
  c.hidden_size = static_cast<int>(conv->shape[0]);
  c.num_channels = static_cast<int>(conv->shape[1]);
  c.patch_size = static_cast<int>(conv->shape[2]);
  const auto grid = static_cast<int>(std::lround(std::sqrt(static_cast<double>(pos->shape[0] - 1))));
  c.image_size = grid * c.patch_size;
  c.intermediate_size = static_cast<int>(fc->shape[0]);
  c.num_attention_heads = std::max(1, c.hidden_size / 64);
  int layers = 0;
  while (b.has(p + "transformer.resblocks." + std::to_string(layers) + ".ln_1.weight")) ++layers;
  c.num_hidden_layers = layers;
  c.hidden_act = "quick_gelu";
  return c;
}

}  // namespace

ClipVisionModel load_clip_vision(const fs::path& model) {
  ClipVisionModel m;
  auto store = std::make_shared<io::TensorStore>(io::open_checkpoint(model));
  m.store = store;
  const WeightBinder binder(*store);
  std::string prefix;
  if (binder.has("vision_model.embeddings.class_embedding")) {
    m.layout = ClipLayout::kHf;
    prefix = "vision_model.";
  } else if (binder.has("visual.class_embedding")) {
    m.layout = ClipLayout::kOpenAi;
    prefix = "visual.";
  } else if (binder.has("class_embedding") && binder.has("conv1.weight")) {
    m.layout = ClipLayout::kOpenAi;
  } else {
    throw InputError(store->path(), "not a CLIP vision checkpoint: found neither vision_model.* (Hugging Face) "
                                    "nor visual.* / conv1.weight (OpenAI) tensors");
  }
  const fs::path cfg_path = io::model_directory(model) / "config.json";
  if (fs::exists(cfg_path)) {
    const nlohmann::json j = io::read_json_file(cfg_path);
    const std::string type = io::config_model_type(j, cfg_path.string());
    if (type == "clip" && j.contains("vision_config")) {
      m.config = io::parse_clip_vision_config(j["vision_config"], cfg_path.string());
    } else if (type == "clip_vision_model" || type.empty()) {
      m.config = io::parse_clip_vision_config(j, cfg_path.string());
    } else {
      throw InputError(cfg_path.string(), "model_type \"" + type + "\" is not a CLIP vision model");
    }
  } else if (m.layout == ClipLayout::kOpenAi) {
    m.config = infer_openai_config(binder, prefix, store->path());
  } else {
    throw InputError(store->path(), "Hugging Face CLIP layout without a config.json next to it");
  }
  m.weights = bind_clip_vision(m.config, m.layout, prefix, binder);
  return m;
}

int64_t clip_num_tokens(const io::ClipVisionConfig& c) {
  const int64_t g = c.image_size / c.patch_size;
  return 1 + g * g;
}

std::vector<std::string> clip_vision_hook_names(const io::ClipVisionConfig& c, const ClipRunOptions& opt) {
  const int run = opt.layers < 0 ? c.num_hidden_layers : opt.layers;
  std::vector<std::string> names = {"vision.embeddings", "vision.pre_ln"};
  for (int i = 0; i < run; ++i)
    for (const char* site : {"attn_out", "mlp_act", "mlp_out", "output"})
      names.push_back(Hooks::layer_hook_name("vision", i, site));
  if (opt.post_ln) names.push_back("vision.post_ln");
  return names;
}

std::vector<float> clip_vision_forward(const io::ClipVisionConfig& c, const ClipVisionWeights& w,
                                       std::span<const float> pixels, const ClipRunOptions& opt,
                                       const ExecContext& ctx, const Hooks& hooks) {
  const int64_t W = c.hidden_size, Hd = c.intermediate_size, P = c.patch_size, C = c.num_channels;
  const int64_t S = c.image_size, g = S / P, N = clip_num_tokens(c), K = C * P * P;
  if (static_cast<int64_t>(pixels.size()) != C * S * S) {
    throw InputError("pixels", "expected a [" + std::to_string(C) + ", " + std::to_string(S) + ", " +
                                   std::to_string(S) + "] tensor (" + std::to_string(C * S * S) +
                                   " values), found " + std::to_string(pixels.size()) + " values");
  }
  const int run = opt.layers < 0 ? c.num_hidden_layers : opt.layers;
  CT_CHECK(run <= c.num_hidden_layers, "more CLIP layers requested than the model has");
  kernels::Activation act;
  if (!kernels::ref::parse_activation(c.hidden_act, act)) throw InputError("config", "unknown CLIP hidden_act " + c.hidden_act);

  // im2col: row y·g + x holds patch (y, x), column ch·P² + ky·P + kx, matching the conv weight
  // [W, C, P, P] flattened to [W, C·P·P]; the convolution (no bias) becomes one linear.
  std::vector<float> cols(static_cast<std::size_t>(g * g * K));  // [g², C·P·P]
  for (int64_t y = 0; y < g; ++y)
    for (int64_t x = 0; x < g; ++x)
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t ky = 0; ky < P; ++ky)
          for (int64_t kx = 0; kx < P; ++kx)
            cols[static_cast<std::size_t>((y * g + x) * K + ch * P * P + ky * P + kx)] =
                pixels[static_cast<std::size_t>(ch * S * S + (y * P + ky) * S + x * P + kx)];
  std::vector<float> h(static_cast<std::size_t>(N * W));  // [N, W]
  kernels::linear(ctx, cols.data(), g * g, K, w.patch_embedding, WeightView{}, h.data() + W);
  w.class_embedding.widen(0, W, h.data());
  std::vector<float> pos(static_cast<std::size_t>(W));
  for (int64_t t = 0; t < N; ++t) {
    w.position_embedding.widen_row(t, pos.data());
    for (int64_t i = 0; i < W; ++i) h[static_cast<std::size_t>(t * W + i)] += pos[static_cast<std::size_t>(i)];
  }
  hooks.emit("vision.embeddings", {h.data(), N, W});
  kernels::layer_norm(ctx, h.data(), N, W, w.pre_ln_w, w.pre_ln_b, c.layer_norm_eps, h.data());
  hooks.emit("vision.pre_ln", {h.data(), N, W});

  const kernels::AttentionShape shape{c.num_attention_heads, c.num_attention_heads,
                                      static_cast<int>(W / c.num_attention_heads), false, 0};
  std::vector<float> xn(h.size()), q(h.size()), k(h.size()), v(h.size()), a(h.size()), o(h.size());
  std::vector<float> mid(static_cast<std::size_t>(N * Hd));  // [N, H]
  for (int i = 0; i < run; ++i) {
    const ClipLayerWeights& l = w.layers[static_cast<std::size_t>(i)];
    kernels::layer_norm(ctx, h.data(), N, W, l.ln1_w, l.ln1_b, c.layer_norm_eps, xn.data());
    kernels::linear(ctx, xn.data(), N, W, l.q_w, l.q_b, q.data());
    kernels::linear(ctx, xn.data(), N, W, l.k_w, l.k_b, k.data());
    kernels::linear(ctx, xn.data(), N, W, l.v_w, l.v_b, v.data());
    kernels::attention(ctx, q.data(), N, k.data(), v.data(), N, shape, a.data());
    kernels::linear(ctx, a.data(), N, W, l.o_w, l.o_b, o.data());
    hooks.emit_layer("vision", i, "attn_out", {o.data(), N, W});
    for (std::size_t j = 0; j < h.size(); ++j) h[j] += o[j];
    kernels::layer_norm(ctx, h.data(), N, W, l.ln2_w, l.ln2_b, c.layer_norm_eps, xn.data());
    kernels::linear(ctx, xn.data(), N, W, l.fc1_w, l.fc1_b, mid.data());
    kernels::activate(act, mid.data(), N * Hd);
    hooks.emit_layer("vision", i, "mlp_act", {mid.data(), N, Hd});
    kernels::linear(ctx, mid.data(), N, Hd, l.fc2_w, l.fc2_b, o.data());
    hooks.emit_layer("vision", i, "mlp_out", {o.data(), N, W});
    for (std::size_t j = 0; j < h.size(); ++j) h[j] += o[j];
    hooks.emit_layer("vision", i, "output", {h.data(), N, W});
  }
  if (opt.post_ln) {
    kernels::layer_norm(ctx, h.data(), N, W, w.post_ln_w, w.post_ln_b, c.layer_norm_eps, h.data());
    hooks.emit("vision.post_ln", {h.data(), N, W});
  }
  return h;
}

}  // namespace ct::models
