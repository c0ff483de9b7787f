// mPLUG: configs, tensor list, loading, visual encoder, fusion network, encoders' memory.
#include "models/mplug.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/json_file.h"
#include "io/yaml_file.h"
#include "kernels/ops.h"
#include "models/checkpoint_keys.h"

namespace ct::models {
namespace fs = std::filesystem;
using kernels::WeightView;

namespace {

constexpr double kVisnLnEps = 1e-12;  // visn_layer_norm = nn.LayerNorm(768, eps=1e-12)
const std::string kVisual = "visual_encoder.visual.";

int required(const std::optional<int>& v, const char* field, const std::string& file) {
  if (!v || *v < 0) throw InputError(file, std::string("mPLUG's BERT config needs a non-negative ") + field);
  return *v;
}

const io::TensorEntry& require_entry(const WeightBinder& b, const std::string& key, std::size_t rank,
                                     const std::string& where) {
  const io::TensorEntry* e = b.find(key);
  if (e == nullptr) throw InputError(where, "missing tensor " + key);
  if (e->shape.size() != rank) {
    throw InputError(e->file, "tensor " + e->name + " has shape " + shape_string(e->shape) + ", expected rank " +
                                  std::to_string(rank));
  }
  return *e;
}

// The BERT JSON: the file config.yaml names (its basename, next to the model), else the released
// names.
fs::path find_bert_config(const fs::path& dir, const io::YamlScalars& yaml) {
  std::vector<fs::path> candidates;
  if (auto named = yaml.get_string("bert_config")) candidates.push_back(dir / fs::path(*named).filename());
  candidates.push_back(dir / "config_bert.json");
  candidates.push_back(dir / "config_bert_stride3.json");
  for (const auto& p : candidates)
    if (fs::exists(p)) return p;
  throw InputError(candidates.front().string(), "missing: mPLUG needs its BERT config (the bert_config of " +
                                                    yaml.file + ", config_bert.json or config_bert_stride3.json)");
}

}  // namespace

MplugConfig read_mplug_config(const fs::path& model, const io::TensorStore& store) {
  MplugConfig c;
  const fs::path dir = io::model_directory(model);
  const fs::path yaml_path = dir / "config.yaml";
  if (!fs::exists(yaml_path)) throw InputError(yaml_path.string(), "missing: mPLUG needs the config.yaml it ships with");
  const io::YamlScalars yaml = io::read_yaml_scalars(yaml_path);
  c.yaml_file = yaml.file;
  const fs::path bert_path = find_bert_config(dir, yaml);
  c.bert_file = bert_path.string();
  c.bert = io::parse_bert_config(io::read_json_file(bert_path), c.bert_file);
  c.text_layers = required(c.bert.text_encoder_layers, "text_encoder_layers", c.bert_file);
  c.fusion_layers = required(c.bert.fusion_layers, "fusion_layers", c.bert_file);
  c.decoder_layers = required(c.bert.text_decode_layers, "text_decode_layers", c.bert_file);
  c.stride = required(c.bert.stride_layer, "stride_layer", c.bert_file);
  c.fusion_modules = c.bert.num_hidden_layers;
  if (c.stride < 1) throw InputError(c.bert_file, "stride_layer must be at least 1");
  if (c.fusion_layers > c.fusion_modules) {
    throw InputError(c.bert_file, "fusion_layers " + std::to_string(c.fusion_layers) + " exceeds num_hidden_layers " +
                                      std::to_string(c.fusion_modules));
  }

  // The vision tower's sizes come from the checkpoint (OpenAI layout), cross-checked with the YAML.
  const WeightBinder b(store, normalise_mplug_key);
  const io::TensorEntry& conv = require_entry(b, kVisual + "conv1.weight", 4, store.path());
  const io::TensorEntry& pos = require_entry(b, kVisual + "positional_embedding", 2, store.path());
  const io::TensorEntry& fc = require_entry(b, kVisual + "transformer.resblocks.0.mlp.c_fc.weight", 2, store.path());
  io::ClipVisionConfig& v = c.vision;
  v.hidden_size = static_cast<int>(conv.shape[0]);
  v.num_channels = static_cast<int>(conv.shape[1]);
  v.patch_size = static_cast<int>(conv.shape[2]);
  v.intermediate_size = static_cast<int>(fc.shape[0]);
  v.hidden_act = "quick_gelu";
  v.layer_norm_eps = 1e-5;
  int layers = 0;
  while (b.has(kVisual + "transformer.resblocks." + std::to_string(layers) + ".ln_1.weight")) ++layers;
  v.num_hidden_layers = layers;
  const int64_t n_pos = pos.shape[0];
  const auto grid = static_cast<int>(std::lround(std::sqrt(static_cast<double>(n_pos - 1))));
  if (n_pos < 2 || static_cast<int64_t>(grid) * grid + 1 != n_pos) {
    throw InputError(pos.file, "positional_embedding has " + std::to_string(n_pos) +
                                   " rows, not 1 + a square number of patches");
  }
  c.stored_grid = grid;
  c.vision_width = static_cast<int>(yaml.get_int("vision_width").value_or(v.hidden_size));
  if (c.vision_width != v.hidden_size) {
    throw InputError(c.yaml_file, "vision_width " + std::to_string(c.vision_width) + " differs from the checkpoint's " +
                                      std::to_string(v.hidden_size) + " (" + kVisual + "conv1.weight)");
  }
  const auto res = yaml.get_int("image_res");
  if (!res) throw InputError(c.yaml_file, "missing image_res");
  if (*res < v.patch_size || *res % v.patch_size != 0 || *res > 16384) {
    throw InputError(c.yaml_file, "image_res " + std::to_string(*res) + " is not a positive multiple of the patch size " +
                                      std::to_string(v.patch_size));
  }
  c.image_res = static_cast<int>(*res);
  v.image_size = c.image_res;
  const long long heads = yaml.get_int("vision_heads").value_or(std::max(1, v.hidden_size / 64));
  if (heads < 1 || v.hidden_size % heads != 0) {
    throw InputError(c.yaml_file, "vision_heads " + std::to_string(heads) + " does not divide the vision width " +
                                      std::to_string(v.hidden_size));
  }
  v.num_attention_heads = static_cast<int>(heads);
  c.visn_fc = c.vision_width != c.bert.hidden_size;
  const int enc = c.bert.encoder_width.value_or(c.bert.hidden_size);
  if (enc != c.bert.hidden_size) {
    throw InputError(c.bert_file, "encoder_width " + std::to_string(enc) + " differs from hidden_size " +
                                      std::to_string(c.bert.hidden_size) + " (mPLUG projects V to the text width)");
  }
  return c;
}

void for_each_tensor(const MplugConfig& c, MplugWeights& w, const TensorVisitor& visit) {
  io::ClipVisionConfig stored = c.vision;  // bind the table the checkpoint holds; resized after
  stored.image_size = c.stored_grid * c.vision.patch_size;
  for_each_tensor(stored, ClipLayout::kOpenAi, kVisual, w.vision, visit);
  const int64_t d = c.bert.hidden_size, W = c.vision_width;
  if (c.visn_fc) {
    visit("visn_fc.weight", {d, W}, {&w.visn_fc_w});
    visit("visn_fc.bias", {d}, {&w.visn_fc_b});
    visit("visn_layer_norm.weight", {d}, {&w.visn_ln_w});
    visit("visn_layer_norm.bias", {d}, {&w.visn_ln_b});
  }
  for_each_tensor(c.bert, "text_encoder.", c.text_layers, false, d, w.text, visit);
  w.fusion.resize(static_cast<std::size_t>(c.fusion_layers));
  for (int j = 0; j < c.fusion_layers; ++j) {
    const std::string p = "fusion_encoder.encoder.layer." + std::to_string(c.fusion_start() + j) + ".";
    for_each_tensor(c.bert, p, !c.fusion_connected(j), d, w.fusion[static_cast<std::size_t>(j)], visit);
  }
  for_each_tensor(c.bert, "text_decoder.bert.", c.decoder_layers, true, d, w.decoder, visit);
  for_each_tensor(c.bert, "text_decoder.cls.predictions.", w.lm_head, visit);
}

std::vector<float> resize_position_embedding(std::span<const float> table, int64_t width, int g_in, int g_out) {
  CT_CHECK(static_cast<int64_t>(table.size()) == (1 + int64_t{g_in} * g_in) * width, "position table size");
  std::vector<float> out(static_cast<std::size_t>((1 + int64_t{g_out} * g_out) * width));
  std::copy_n(table.begin(), width, out.begin());  // CLS row unchanged
  // torch upsample_bilinear2d, align_corners False: src = (dst + 0.5)·in/out − 0.5, clamped at 0.
  const float scale = static_cast<float>(g_in) / static_cast<float>(g_out);
  struct Tap {
    int i0, i1;
    float l0, l1;
  };
  std::vector<Tap> taps(static_cast<std::size_t>(g_out));
  for (int o = 0; o < g_out; ++o) {
    const float src = std::max(0.0f, scale * (static_cast<float>(o) + 0.5f) - 0.5f);
    const int i0 = std::min(static_cast<int>(src), g_in - 1);
    const int i1 = std::min(i0 + 1, g_in - 1);
    const float l1 = src - static_cast<float>(i0);
    taps[static_cast<std::size_t>(o)] = {i0, i1, 1.0f - l1, l1};
  }
  const float* grid = table.data() + width;  // [g_in, g_in, W]
  for (int y = 0; y < g_out; ++y)
    for (int x = 0; x < g_out; ++x) {
      const Tap& ty = taps[static_cast<std::size_t>(y)];
      const Tap& tx = taps[static_cast<std::size_t>(x)];
      float* dst = out.data() + (1 + int64_t{y} * g_out + x) * width;
      const float* a = grid + (int64_t{ty.i0} * g_in + tx.i0) * width;
      const float* b = grid + (int64_t{ty.i0} * g_in + tx.i1) * width;
      const float* c = grid + (int64_t{ty.i1} * g_in + tx.i0) * width;
      const float* e = grid + (int64_t{ty.i1} * g_in + tx.i1) * width;
      for (int64_t k = 0; k < width; ++k)
        dst[k] = ty.l0 * (tx.l0 * a[k] + tx.l1 * b[k]) + ty.l1 * (tx.l0 * c[k] + tx.l1 * e[k]);
    }
  return out;
}

MplugModel load_mplug(const fs::path& model) {
  MplugModel m;
  auto store = std::make_shared<io::TensorStore>(io::open_checkpoint(model));
  m.store = store;
  m.directory = io::model_directory(model);
  m.config = read_mplug_config(model, *store);
  MplugConfig& c = m.config;
  const WeightBinder binder(*store, normalise_mplug_key);
  for_each_tensor(c, m.weights, binder.visitor());
  const std::string head = "text_decoder.cls.predictions.decoder.weight";
  if (binder.has(head)) binder.bind(head, {c.bert.vocab_size, c.bert.hidden_size}, {&m.weights.lm_head.decoder_w});
  else m.weights.lm_head.decoder_w = m.weights.decoder.embeddings.word;  // tied (tie_word_embeddings)
  if (c.stored_grid * c.vision.patch_size != c.image_res) {
    const WeightView& pos = m.weights.vision.position_embedding;
    std::vector<float> table(static_cast<std::size_t>(pos.numel()));
    pos.widen(0, pos.numel(), table.data());
    const int g = c.image_res / c.vision.patch_size;
    auto resized = std::make_shared<std::vector<float>>(
        resize_position_embedding(table, c.vision_width, c.stored_grid, g));
    m.weights.vision.position_embedding = WeightView::of_f32(resized->data(), 1 + int64_t{g} * g, c.vision_width);
    m.resized_positions = std::move(resized);
  }
  return m;
}

std::vector<float> mplug_visual(const MplugModel& m, std::span<const float> pixels, const ExecContext& ctx,
                                const Hooks& hooks) {
  const MplugConfig& c = m.config;
  std::vector<float> v = clip_vision_forward(c.vision, m.weights.vision, pixels, {}, ctx, hooks);  // [N, W]
  const int64_t N = clip_num_tokens(c.vision), d = c.bert.hidden_size;
  if (c.visn_fc) {
    std::vector<float> p(static_cast<std::size_t>(N * d));  // [N, d]
    kernels::linear(ctx, v.data(), N, c.vision_width, m.weights.visn_fc_w, m.weights.visn_fc_b, p.data());
    kernels::layer_norm(ctx, p.data(), N, d, m.weights.visn_ln_w, m.weights.visn_ln_b, kVisnLnEps, p.data());
    v = std::move(p);
  }
  hooks.emit("vision.proj", {v.data(), N, d});
  return v;
}

void mplug_fusion(const MplugModel& m, std::vector<float>& v, int64_t n_image, std::vector<float>& t, int64_t n_text,
                  const ExecContext& ctx, const Hooks& hooks) {
  const MplugConfig& c = m.config;
  const int64_t d = c.bert.hidden_size;
  for (int j = 0; j < c.fusion_layers; ++j) {
    const BertLayerWeights& l = m.weights.fusion[static_cast<std::size_t>(j)];
    if (c.fusion_connected(j)) {
      // Connected attention: the self-attention block and FFN over [V; T], then T ← Y_t and the
      // encoder loop's extra skip V ← V + Y_v (not normalised).
      std::vector<float> x(v.begin(), v.end());  // [N + Lq, d]
      x.insert(x.end(), t.begin(), t.end());
      bert_layer_forward(c.bert, l, x.data(), n_image + n_text, {}, ctx);
      for (int64_t i = 0; i < n_image * d; ++i) v[static_cast<std::size_t>(i)] += x[static_cast<std::size_t>(i)];
      std::copy(x.begin() + n_image * d, x.end(), t.begin());
    } else {
      const BertMemoryKv kv = bert_cross_kv(c.bert, l, v.data(), n_image, d, {}, ctx);
      BertLayerInputs in;
      in.cross = &kv;
      bert_layer_forward(c.bert, l, t.data(), n_text, in, ctx);
    }
    hooks.emit_layer("fusion", j, "text", {t.data(), n_text, d});
    hooks.emit_layer("fusion", j, "image", {v.data(), n_image, d});
  }
}

MplugMemory mplug_encode(const MplugModel& m, std::span<const float> pixels, std::span<const int32_t> ids,
                         MplugTask task, const ExecContext& ctx, const Hooks& hooks) {
  const MplugConfig& c = m.config;
  const int64_t N = clip_num_tokens(c.vision), d = c.bert.hidden_size;
  MplugMemory mem;
  mem.rows_data = mplug_visual(m, pixels, ctx, hooks);  // V [N, d]
  mem.rows = N;
  if (task == MplugTask::kCaption) return mem;          // the caption decoder reads V directly
  if (ids.empty()) throw InputError("token_ids", "mPLUG VQA needs a question ([CLS] q [SEP])");
  const int64_t L = static_cast<int64_t>(ids.size());
  std::vector<float> t = bert_encoder_forward(c.bert, m.weights.text, ids, {}, ctx, hooks, "text");  // [Lq, d]
  mplug_fusion(m, mem.rows_data, N, t, L, ctx, hooks);
  mem.rows_data.insert(mem.rows_data.end(), t.begin(), t.end());  // M = [V'; T']
  mem.rows = N + L;
  CT_CHECK(static_cast<int64_t>(mem.rows_data.size()) == mem.rows * d, "memory size");
  return mem;
}

std::vector<std::string> mplug_hook_names(const MplugConfig& c, MplugTask task) {
  std::vector<std::string> names = clip_vision_hook_names(c.vision, {});
  names.push_back("vision.proj");
  if (task == MplugTask::kVqa) {
    const auto text = bert_hook_names(c.text_layers, "text");
    names.insert(names.end(), text.begin(), text.end());
    for (int j = 0; j < c.fusion_layers; ++j)
      for (const char* site : {"text", "image"}) names.push_back(Hooks::layer_hook_name("fusion", j, site));
  }
  for (int i = 0; i < c.decoder_layers; ++i) names.push_back(Hooks::layer_hook_name("decoder", i, "output"));
  names.push_back("decoder.logits");
  return names;
}

}  // namespace ct::models
