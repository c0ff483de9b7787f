#include "lineage/blocks.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>

#include "anatomy/layout.h"
#include "core/error.h"
#include "tensor/convert.h"

namespace ct::lineage {
namespace {

using EntryMap = std::map<std::string, const io::TensorEntry*, std::less<>>;

// How one architecture names a block's MLP, relative to "<prefix><i>".
struct Pattern {
  std::string_view match_class;
  bool glu;
  std::string_view marker;       // "layers." before the block index
  std::string_view up, gate, down, up_bias;
  std::string_view norm_gains[2], norm_biases[2];  // first present wins (cross-attention LN first)
  std::string_view anchor;       // relative to the prefix with the marker removed
};

constexpr Pattern kLlama{"llama", true, "layers.", ".mlp.up_proj.weight", ".mlp.gate_proj.weight",
                         ".mlp.down_proj.weight", "", {".post_attention_layernorm.weight", ""}, {"", ""},
                         "embed_tokens.weight"};
constexpr Pattern kClipHf{"clip_vit", false, "encoder.layers.", ".mlp.fc1.weight", "", ".mlp.fc2.weight",
                          ".mlp.fc1.bias", {".layer_norm2.weight", ""}, {".layer_norm2.bias", ""},
                          "embeddings.position_embedding.weight"};
constexpr Pattern kClipOpenai{"clip_vit", false, "transformer.resblocks.", ".mlp.c_fc.weight", "",
                              ".mlp.c_proj.weight", ".mlp.c_fc.bias", {".ln_2.weight", ""}, {".ln_2.bias", ""},
                              "positional_embedding"};
constexpr Pattern kBert{"bert", false, "encoder.layer.", ".intermediate.dense.weight", "", ".output.dense.weight",
                        ".intermediate.dense.bias",
                        {".crossattention.output.LayerNorm.weight", ".attention.output.LayerNorm.weight"},
                        {".crossattention.output.LayerNorm.bias", ".attention.output.LayerNorm.bias"},
                        "embeddings.word_embeddings.weight"};

// "<prefix><i><suffix>" -> (prefix, i) when key has that form.
std::optional<std::pair<std::string, int64_t>> split_layer(std::string_view key, std::string_view marker,
                                                           std::string_view suffix) {
  if (!key.ends_with(suffix)) return std::nullopt;
  const std::string_view head = key.substr(0, key.size() - suffix.size());
  const std::size_t p = head.rfind(marker);
  if (p == std::string_view::npos) return std::nullopt;
  const std::string_view digits = head.substr(p + marker.size());
  if (digits.empty() || digits.size() > 6 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::make_pair(std::string(head.substr(0, p + marker.size())), std::stoll(std::string(digits)));
}

const io::TensorEntry* find(const EntryMap& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? nullptr : it->second;
}

void expect_shape(const io::TensorEntry* e, std::vector<int64_t> shape, const std::string& source) {
  if (!e) return;
  if (e->shape != shape) {
    std::string want, got;
    for (int64_t s : shape) want += (want.empty() ? "" : ", ") + std::to_string(s);
    for (int64_t s : e->shape) got += (got.empty() ? "" : ", ") + std::to_string(s);
    throw InputError(source, "tensor " + e->name + ": expected shape [" + want + "], found [" + got + "]");
  }
  if (!io::dtype_is_float(e->dtype)) {
    throw InputError(source, "tensor " + e->name + ": expected a float dtype, found " + std::string(io::dtype_name(e->dtype)));
  }
}

// The blocks of one component under `p`, or an empty result when the pattern does not occur.
ComponentBlocks collect(const EntryMap& component, const EntryMap& all, const Pattern& p, const std::string& source) {
  ComponentBlocks c;
  std::map<int64_t, std::string> prefix_of;  // block index -> prefix (first prefix seen wins)
  std::string prefix;
  for (const auto& [key, e] : component) {
    auto split = split_layer(key, p.marker, p.up);
    if (!split) continue;
    if (prefix.empty()) prefix = split->first;
    if (split->first == prefix) prefix_of[split->second] = split->first;
  }
  if (prefix_of.empty()) return c;
  c.match_class = std::string(p.match_class);
  c.is_glu = p.glu;
  c.source = source;
  for (const auto& [index, pre] : prefix_of) {
    const std::string base = pre + std::to_string(index);
    BlockTensors b;
    b.layer = index;
    b.up = find(component, base + std::string(p.up));
    b.down = find(component, base + std::string(p.down));
    if (p.glu) b.gate = find(component, base + std::string(p.gate));
    if (!p.up_bias.empty()) b.up_bias = find(component, base + std::string(p.up_bias));
    for (int k = 0; k < 2 && !b.norm_gain; ++k) {
      if (p.norm_gains[k].empty()) continue;
      b.norm_gain = find(component, base + std::string(p.norm_gains[k]));
      if (b.norm_gain && !p.norm_biases[k].empty()) b.norm_bias = find(component, base + std::string(p.norm_biases[k]));
    }
    if (!b.down || (p.glu && !b.gate)) {
      throw InputError(source, "block " + base + ": expected the MLP's " + std::string(p.glu ? "gate, up and down" : "up and down") +
                                   " projections, found only some of them");
    }
    if (b.up->shape.size() != 2) throw InputError(source, "tensor " + b.up->name + ": expected a matrix");
    const int64_t h = b.up->shape[0], d = b.up->shape[1];
    if (c.width == 0) c.width = d;
    if (d != c.width) {
      throw InputError(source, "tensor " + b.up->name + ": residual width " + std::to_string(d) +
                                   " differs from the component's " + std::to_string(c.width));
    }
    expect_shape(b.up, {h, d}, source);
    expect_shape(b.gate, {h, d}, source);
    expect_shape(b.down, {d, h}, source);
    expect_shape(b.up_bias, {h}, source);
    expect_shape(b.norm_gain, {d}, source);
    expect_shape(b.norm_bias, {d}, source);
    c.blocks.push_back(b);
  }
  const std::string base = prefix.substr(0, prefix.size() - p.marker.size());
  c.anchor_name = base + std::string(p.anchor);
  c.anchor = find(all, c.anchor_name);
  if (c.anchor && (c.anchor->shape.size() != 2 || c.anchor->shape[1] != c.width || !io::dtype_is_float(c.anchor->dtype))) {
    c.anchor = nullptr;  // not an embedding over this residual stream: trace without an anchor
  }
  if (!c.anchor) c.anchor_name.clear();
  return c;
}

}  // namespace

std::vector<ComponentBlocks> extract_components(const io::TensorStore& store, const anatomy::Anatomy& a) {
  const anatomy::Detection d{a.family, a.layout, ""};
  int fusion_start = 0;
  for (const auto& c : a.components) {
    if (c.name == "fusion") fusion_start = static_cast<int>(c.config.value("first_module_run", int64_t{0}));
  }
  EntryMap all;
  std::map<std::string, EntryMap> by_component;
  for (const auto& e : store.entries()) {
    const std::string key = anatomy::canonical_key(d, e.name);
    all.emplace(key, &e);
    if (auto comp = anatomy::classify_tensor(d, e.name, fusion_start)) by_component[*comp].emplace(key, &e);
  }
  std::vector<ComponentBlocks> out;
  for (const auto& c : a.components) {
    std::vector<const Pattern*> patterns;
    if (c.kind == "llama") patterns = {&kLlama};
    if (c.kind == "clip_vit") patterns = {&kClipHf, &kClipOpenai};
    if (c.kind == "bert" || c.kind == "skip_connected_co_attention" || c.kind == "bert_decoder") patterns = {&kBert};
    for (const Pattern* p : patterns) {
      ComponentBlocks cb = collect(by_component[c.name], all, *p, store.path());
      if (cb.blocks.empty()) continue;
      cb.component = c.name;
      cb.kind = c.kind;
      out.push_back(std::move(cb));
      break;
    }
  }
  return out;
}

bool comparable(const ComponentBlocks& a, const ComponentBlocks& b) {
  return !a.match_class.empty() && a.match_class == b.match_class;
}

LoadedBlock load_block(const ComponentBlocks& c, int64_t i) {
  CT_CHECK(i >= 0 && i < static_cast<int64_t>(c.blocks.size()), "block index");
  const BlockTensors& b = c.blocks[i];
  const int64_t h = b.hidden(), d = c.width;
  auto load = [](const io::TensorEntry* e, int64_t rows, int64_t cols) {
    Matrix m(rows, cols);
    tensor::to_f32(*e, 0, m.data);
    return m;
  };
  LoadedBlock r;
  r.mlp.up = load(b.up, h, d);       // [h, d]
  r.mlp.down = load(b.down, d, h);   // [d, h]
  r.mlp.gate = b.gate ? load(b.gate, h, d) : Matrix();
  r.up_bias.assign(h, 0.0f);
  if (b.up_bias) tensor::to_f32(*b.up_bias, 0, r.up_bias);
  std::vector<float> gain(d, 1.0f), beta(d, 0.0f);
  if (b.norm_gain) tensor::to_f32(*b.norm_gain, 0, gain);
  if (b.norm_bias) tensor::to_f32(*b.norm_bias, 0, beta);
  // Fold the norm: U x_norm with x_norm = g * z + beta  ==  (U diag g) z + U beta.
  for (int64_t j = 0; j < h; ++j) {
    double shift = 0.0;
    float* u = r.mlp.up.row(j);
    for (int64_t k = 0; k < d; ++k) {
      shift += static_cast<double>(u[k]) * beta[k];
      u[k] *= gain[k];
    }
    r.up_bias[j] += static_cast<float>(shift);
    if (b.gate) {
      float* g = r.mlp.gate.row(j);
      for (int64_t k = 0; k < d; ++k) g[k] *= gain[k];
    }
  }
  if (!b.gate) r.mlp.gate = r.mlp.up;
  return r;
}

Matrix load_anchor(const ComponentBlocks& c, int64_t rows) {
  if (!c.anchor) return Matrix();
  const int64_t n = std::min(rows, c.anchor->shape[0]);
  Matrix m(n, c.width);  // [n, d]
  tensor::to_f32(*c.anchor, 0, m.data);
  return m;
}

}  // namespace ct::lineage
