// LLaMA decoder: tensor list, loading, KV cache, forward with hooks.
#include "models/llama.h"

#include <algorithm>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/json_file.h"
#include "kernels/ops.h"

namespace ct::models {
namespace fs = std::filesystem;
using kernels::WeightView;

void for_each_tensor(const io::LlamaConfig& c, const std::string& prefix, const std::string& head_key,
                     LlamaWeights& w, const TensorVisitor& visit) {
  const int64_t d = c.hidden_size, ff = c.intermediate_size, V = c.vocab_size;
  const int64_t qd = static_cast<int64_t>(c.num_attention_heads) * c.head_dim;
  const int64_t kvd = static_cast<int64_t>(c.num_key_value_heads) * c.head_dim;
  w.layers.resize(static_cast<std::size_t>(c.num_hidden_layers));
  visit(prefix + "embed_tokens.weight", {V, d}, {&w.embed_tokens});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LlamaLayerWeights& l = w.layers[static_cast<std::size_t>(i)];
    const std::string p = prefix + "layers." + std::to_string(i) + ".";
    visit(p + "input_layernorm.weight", {d}, {&l.attn_norm});
    visit(p + "self_attn.q_proj.weight", {qd, d}, {&l.q});
    visit(p + "self_attn.k_proj.weight", {kvd, d}, {&l.k});
    visit(p + "self_attn.v_proj.weight", {kvd, d}, {&l.v});
    visit(p + "self_attn.o_proj.weight", {d, qd}, {&l.o});
    visit(p + "post_attention_layernorm.weight", {d}, {&l.mlp_norm});
    visit(p + "mlp.gate_proj.weight", {ff, d}, {&l.gate});
    visit(p + "mlp.up_proj.weight", {ff, d}, {&l.up});
    visit(p + "mlp.down_proj.weight", {d, ff}, {&l.down});
  }
  visit(prefix + "norm.weight", {d}, {&w.norm});
  if (!c.tie_word_embeddings) visit(head_key, {V, d}, {&w.lm_head});
}

LlamaWeights bind_llama(const io::LlamaConfig& c, const std::string& prefix, const std::string& head_key,
                        const WeightBinder& binder) {
  if (c.attention_bias || c.mlp_bias) {
    throw InputError("config.json", "LLaMA variants with attention_bias or mlp_bias are not supported");
  }
  LlamaWeights w;
  for_each_tensor(c, prefix, head_key, w, binder.visitor());
  if (c.tie_word_embeddings) w.lm_head = w.embed_tokens;
  return w;
}

LlamaModel load_llama(const fs::path& model) {
  LlamaModel m;
  const fs::path cfg_path = io::model_directory(model) / "config.json";
  const nlohmann::json j = io::read_json_file(cfg_path);
  const std::string type = io::config_model_type(j, cfg_path.string());
  if (type != "llama") {
    throw InputError(cfg_path.string(), "expected model_type \"llama\", found \"" + type + "\"");
  }
  m.config = io::parse_llama_config(j, cfg_path.string());
  auto store = std::make_shared<io::TensorStore>(io::open_checkpoint(model));
  m.store = store;
  m.weights = bind_llama(m.config, "model.", "lm_head.weight", WeightBinder(*store));
  return m;
}

KvCache::KvCache(const io::LlamaConfig& c)
    : width_(static_cast<int64_t>(c.num_key_value_heads) * c.head_dim),
      k_(static_cast<std::size_t>(c.num_hidden_layers)),
      v_(static_cast<std::size_t>(c.num_hidden_layers)) {}

void KvCache::append(int layer, const float* k, const float* v, int64_t n) {
  auto& kl = k_[static_cast<std::size_t>(layer)];
  auto& vl = v_[static_cast<std::size_t>(layer)];
  CT_CHECK(static_cast<int64_t>(kl.size()) == length_ * width_, "KV cache layer appended twice in one step");
  kl.insert(kl.end(), k, k + n * width_);
  vl.insert(vl.end(), v, v + n * width_);
}

void KvCache::reserve(int64_t positions) {
  const auto n = static_cast<std::size_t>(std::max<int64_t>(0, positions) * width_);
  for (auto& x : k_) x.reserve(n);
  for (auto& x : v_) x.reserve(n);
}

void KvCache::clear() {
  length_ = 0;
  for (auto& x : k_) x.clear();
  for (auto& x : v_) x.clear();
}

std::vector<float> llama_embed(const io::LlamaConfig& c, const LlamaWeights& w, std::span<const int32_t> ids) {
  const int64_t d = c.hidden_size;
  std::vector<float> x(ids.size() * static_cast<std::size_t>(d));  // [T, d]
  for (std::size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] < 0 || ids[t] >= c.vocab_size) {
      throw InputError("token_ids", "token id " + std::to_string(ids[t]) + " at position " + std::to_string(t) +
                                        " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    }
    w.embed_tokens.widen_row(ids[t], x.data() + t * static_cast<std::size_t>(d));
  }
  return x;
}

std::vector<std::string> llama_hook_names(const io::LlamaConfig& c) {
  std::vector<std::string> names = {"lm.embeddings"};
  for (int i = 0; i < c.num_hidden_layers; ++i)
    for (const char* site : {"attn_out", "mlp_gate", "mlp_up", "mlp_out", "output"})
      names.push_back(Hooks::layer_hook_name("lm", i, site));
  names.push_back("lm.norm");
  names.push_back("lm.logits");
  return names;
}

LlamaLogits llama_forward(const io::LlamaConfig& c, const LlamaWeights& w, std::span<const float> x,
                          KvCache& cache, const ExecContext& ctx, const Hooks& hooks, bool all_logits) {
  const int64_t d = c.hidden_size, ff = c.intermediate_size, V = c.vocab_size;
  CT_CHECK(d > 0 && x.size() % static_cast<std::size_t>(d) == 0, "llama_forward: input is not [T, d]");
  const int64_t T = static_cast<int64_t>(x.size()) / d;
  if (T == 0) throw InputError("token_ids", "empty input sequence");
  const int64_t pos0 = cache.length();
  const int H = c.num_attention_heads, KV = c.num_key_value_heads, hd = c.head_dim;
  const int64_t qd = static_cast<int64_t>(H) * hd, kvd = static_cast<int64_t>(KV) * hd;
  kernels::Activation act;
  if (!kernels::ref::parse_activation(c.hidden_act, act)) throw InputError("config", "unknown hidden_act " + c.hidden_act);

  std::vector<float> h(x.begin(), x.end());  // [T, d] residual stream
  hooks.emit("lm.embeddings", {h.data(), T, d});
  std::vector<float> xn(h.size()), o(h.size());
  std::vector<float> q(static_cast<std::size_t>(T * qd)), a(q.size());              // [T, H·hd]
  std::vector<float> k(static_cast<std::size_t>(T * kvd)), v(k.size());             // [T, KV·hd]
  std::vector<float> gate(static_cast<std::size_t>(T * ff)), up(gate.size());       // [T, ff]
  const kernels::AttentionShape shape{H, KV, hd, true, pos0};
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const LlamaLayerWeights& l = w.layers[static_cast<std::size_t>(i)];
    kernels::rms_norm(ctx, h.data(), T, d, l.attn_norm, c.rms_norm_eps, xn.data());
    const WeightView qkv_w[] = {l.q, l.k, l.v}, no_bias[3] = {};
    float* const qkv_y[] = {q.data(), k.data(), v.data()};
    kernels::linear_multi(ctx, xn.data(), T, d, qkv_w, no_bias, qkv_y);
    kernels::rope_rotate_half(q.data(), T, H, hd, pos0, c.rope_theta);
    kernels::rope_rotate_half(k.data(), T, KV, hd, pos0, c.rope_theta);
    cache.append(i, k.data(), v.data(), T);
    kernels::attention(ctx, q.data(), T, cache.k(i), cache.v(i), pos0 + T, shape, a.data());
    kernels::linear(ctx, a.data(), T, qd, l.o, WeightView{}, o.data());
    hooks.emit_layer("lm", i, "attn_out", {o.data(), T, d});
    for (std::size_t j = 0; j < h.size(); ++j) h[j] += o[j];
    kernels::rms_norm(ctx, h.data(), T, d, l.mlp_norm, c.rms_norm_eps, xn.data());
    const WeightView gate_up_w[] = {l.gate, l.up};
    float* const gate_up_y[] = {gate.data(), up.data()};
    kernels::linear_multi(ctx, xn.data(), T, d, gate_up_w, std::span<const WeightView>(no_bias, 2), gate_up_y);
    hooks.emit_layer("lm", i, "mlp_gate", {gate.data(), T, ff});
    hooks.emit_layer("lm", i, "mlp_up", {up.data(), T, ff});
    kernels::activate(act, gate.data(), T * ff);
    for (std::size_t j = 0; j < gate.size(); ++j) gate[j] *= up[j];
    kernels::linear(ctx, gate.data(), T, ff, l.down, WeightView{}, o.data());
    hooks.emit_layer("lm", i, "mlp_out", {o.data(), T, d});
    for (std::size_t j = 0; j < h.size(); ++j) h[j] += o[j];
    hooks.emit_layer("lm", i, "output", {h.data(), T, d});
  }
  cache.commit(T);
  kernels::rms_norm(ctx, h.data(), T, d, w.norm, c.rms_norm_eps, h.data());
  hooks.emit("lm.norm", {h.data(), T, d});

  LlamaLogits out;
  out.rows = (all_logits || hooks.wants("lm.logits")) ? T : 1;
  out.data.resize(static_cast<std::size_t>(out.rows * V));
  const float* rows = h.data() + (T - out.rows) * d;
  kernels::linear(ctx, rows, out.rows, d, w.lm_head, WeightView{}, out.data.data());
  if (out.rows == T) hooks.emit("lm.logits", {out.data.data(), T, V});
  return out;
}

}  // namespace ct::models
