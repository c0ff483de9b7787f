// BERT blocks: tensor lists, standalone loading, embeddings, post-LN layers, LM head.
#include "models/bert.h"

#include <algorithm>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/json_file.h"
#include "kernels/ops.h"
#include "models/checkpoint_keys.h"

namespace ct::models {
namespace fs = std::filesystem;
using kernels::WeightView;

namespace {

void visit_ln(const std::string& p, int64_t d, WeightView& w, WeightView& b, const TensorVisitor& visit) {
  visit(p + "weight", {d}, {&w});
  visit(p + "bias", {d}, {&b});
}

void visit_linear(const std::string& p, int64_t out, int64_t in, WeightView& w, WeightView& b,
                  const TensorVisitor& visit) {
  visit(p + "weight", {out, in}, {&w});
  visit(p + "bias", {out}, {&b});
}

void visit_attention(const std::string& p, int64_t d, int64_t kv_width, BertAttentionWeights& a,
                     const TensorVisitor& visit) {
  visit_linear(p + "self.query.", d, d, a.q_w, a.q_b, visit);
  visit_linear(p + "self.key.", d, kv_width, a.k_w, a.k_b, visit);
  visit_linear(p + "self.value.", d, kv_width, a.v_w, a.v_b, visit);
  visit_linear(p + "output.dense.", d, d, a.o_w, a.o_b, visit);
  visit_ln(p + "output.LayerNorm.", d, a.ln_w, a.ln_b, visit);
}

// Keeps the rows of src [n, d] whose mask entry is non-zero (all rows when the mask is empty).
int64_t compact_rows(const float* src, int64_t n, int64_t d, std::span<const int32_t> mask, std::vector<float>& dst) {
  dst.resize(static_cast<std::size_t>(n * d));
  int64_t kept = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (!mask.empty() && mask[static_cast<std::size_t>(r)] == 0) continue;
    std::copy_n(src + r * d, d, dst.data() + kept * d);
    ++kept;
  }
  dst.resize(static_cast<std::size_t>(kept * d));
  return kept;
}

kernels::AttentionShape bert_shape(const io::BertConfig& c, bool causal, int64_t pos0) {
  const int h = c.num_attention_heads;
  return {h, h, c.hidden_size / h, causal, pos0};
}

// Up to this many rows (decoding: one row per beam), the row-wise ops whose work is tiny (LayerNorm,
// attention over a short self-attention cache) run on the calling thread: a parallel loop costs a
// worker wake-up and a wait, more than the work itself, and on a loaded machine much more.
constexpr int64_t kSerialRows = 8;

// x ← LN(x + o(attn)), attn [T, d]; the LayerNorm on `ln_ctx`.
void attention_output(const io::BertConfig& c, const BertAttentionWeights& a, float* x, int64_t T,
                      const std::vector<float>& attn, const ExecContext& ctx, const ExecContext& ln_ctx) {
  const int64_t d = c.hidden_size;
  std::vector<float> o(static_cast<std::size_t>(T * d));
  kernels::linear(ctx, attn.data(), T, d, a.o_w, a.o_b, o.data());
  for (std::size_t i = 0; i < o.size(); ++i) x[i] += o[i];
  kernels::layer_norm(ln_ctx, x, T, d, a.ln_w, a.ln_b, c.layer_norm_eps, x);
}

}  // namespace

void for_each_tensor(const io::BertConfig& c, const std::string& prefix, BertEmbeddingWeights& w,
                     const TensorVisitor& visit) {
  const int64_t d = c.hidden_size;
  visit(prefix + "word_embeddings.weight", {c.vocab_size, d}, {&w.word});
  visit(prefix + "position_embeddings.weight", {c.max_position_embeddings, d}, {&w.position});
  visit(prefix + "token_type_embeddings.weight", {c.type_vocab_size, d}, {&w.token_type});
  visit_ln(prefix + "LayerNorm.", d, w.ln_w, w.ln_b, visit);
}

void for_each_tensor(const io::BertConfig& c, const std::string& prefix, bool cross, int64_t encoder_width,
                     BertLayerWeights& l, const TensorVisitor& visit) {
  const int64_t d = c.hidden_size, H = c.intermediate_size;
  visit_attention(prefix + "attention.", d, d, l.self, visit);
  l.has_cross = cross;
  if (cross) visit_attention(prefix + "crossattention.", d, encoder_width, l.cross, visit);
  visit_linear(prefix + "intermediate.dense.", H, d, l.inter_w, l.inter_b, visit);
  visit_linear(prefix + "output.dense.", d, H, l.out_w, l.out_b, visit);
  visit_ln(prefix + "output.LayerNorm.", d, l.out_ln_w, l.out_ln_b, visit);
}

void for_each_tensor(const io::BertConfig& c, const std::string& prefix, BertLmHeadWeights& w,
                     const TensorVisitor& visit) {
  const int64_t d = c.hidden_size;
  visit(prefix + "bias", {c.vocab_size}, {&w.bias});
  visit_linear(prefix + "transform.dense.", d, d, w.dense_w, w.dense_b, visit);
  visit_ln(prefix + "transform.LayerNorm.", d, w.ln_w, w.ln_b, visit);
}

void for_each_tensor(const io::BertConfig& c, const std::string& prefix, int layers, bool cross,
                     int64_t encoder_width, BertWeights& w, const TensorVisitor& visit) {
  for_each_tensor(c, prefix + "embeddings.", w.embeddings, visit);
  w.layers.resize(static_cast<std::size_t>(layers));
  for (int i = 0; i < layers; ++i)
    for_each_tensor(c, prefix + "encoder.layer." + std::to_string(i) + ".", cross, encoder_width,
                    w.layers[static_cast<std::size_t>(i)], visit);
}

BertModel load_bert(const fs::path& model) {
  BertModel m;
  const fs::path cfg_path = io::model_directory(model) / "config.json";
  if (!fs::exists(cfg_path)) throw InputError(cfg_path.string(), "missing: a BERT checkpoint needs its config.json");
  m.config = io::parse_bert_config(io::read_json_file(cfg_path), cfg_path.string());
  auto store = std::make_shared<io::TensorStore>(io::open_checkpoint(model));
  m.store = store;
  const WeightBinder binder(*store, normalise_bert_key);
  m.cross = binder.has("encoder.layer.0.crossattention.self.query.weight");
  const int64_t width = m.config.encoder_width.value_or(m.config.hidden_size);
  for_each_tensor(m.config, "", m.config.num_hidden_layers, m.cross, width, m.weights, binder.visitor());
  return m;
}

BertMemoryKv bert_cross_kv(const io::BertConfig& c, const BertLayerWeights& l, const float* memory, int64_t rows,
                           int64_t width, std::span<const int32_t> mask, const ExecContext& ctx) {
  CT_CHECK(l.has_cross, "bert_cross_kv on a layer without cross-attention");
  CT_CHECK(mask.empty() || static_cast<int64_t>(mask.size()) == rows, "memory mask length");
  std::vector<float> kept;
  const int64_t n = compact_rows(memory, rows, width, mask, kept);
  if (n == 0) throw InputError("token_ids", "every memory position is masked");
  const int64_t d = c.hidden_size;
  BertMemoryKv kv;
  kv.rows = n;
  kv.k.resize(static_cast<std::size_t>(n * d));
  kv.v.resize(kv.k.size());
  kernels::linear(ctx, kept.data(), n, width, l.cross.k_w, l.cross.k_b, kv.k.data());
  kernels::linear(ctx, kept.data(), n, width, l.cross.v_w, l.cross.v_b, kv.v.data());
  return kv;
}

void bert_memory_keys(const io::BertConfig& c, BertMemoryKv& kv, const ExecContext& ctx) {
  const int h = c.num_attention_heads;
  const int64_t d = c.hidden_size;
  kv.kt.resize(static_cast<std::size_t>(d * kernels::memory_keys_stride(kv.rows)));
  kernels::memory_keys_transposed(ctx, kv.k.data(), kv.rows, h, static_cast<int>(d / h), kv.kt.data());
}

void bert_layer_forward(const io::BertConfig& c, const BertLayerWeights& l, float* x, int64_t T,
                        const BertLayerInputs& in, const ExecContext& ctx) {
  const int64_t d = c.hidden_size, H = c.intermediate_size;
  const std::size_t td = static_cast<std::size_t>(T * d);
  std::vector<float> q(td), k(td), v(td), attn(td);
  const ExecContext serial(1);
  const ExecContext& small = T <= kSerialRows ? serial : ctx;  // tiny row-wise work (see kSerialRows)
  {  // q, k, v of the same x: one pass when the kernels can fuse them
    const kernels::WeightView ws[3] = {l.self.q_w, l.self.k_w, l.self.v_w}, bs[3] = {l.self.q_b, l.self.k_b, l.self.v_b};
    float* const ys[3] = {q.data(), k.data(), v.data()};
    kernels::linear_multi(ctx, x, T, d, ws, bs, ys);
  }
  if (!in.caches.empty()) {
    const int64_t n_seq = static_cast<int64_t>(in.caches.size());
    CT_CHECK(T % n_seq == 0, "rows do not split evenly over the caches");
    const int64_t rows = T / n_seq;
    for (int64_t s = 0; s < n_seq; ++s) {
      BertSelfCache& cache = in.caches[static_cast<std::size_t>(s)];
      const int64_t pos0 = cache.length;
      const auto first = static_cast<std::ptrdiff_t>(s * rows * d), last = static_cast<std::ptrdiff_t>((s + 1) * rows * d);
      cache.k.insert(cache.k.end(), k.begin() + first, k.begin() + last);
      cache.v.insert(cache.v.end(), v.begin() + first, v.begin() + last);
      cache.length += rows;
      kernels::attention(small, q.data() + first, rows, cache.k.data(), cache.v.data(), cache.length,
                         bert_shape(c, true, pos0), attn.data() + first);
    }
  } else if (in.key_mask.empty()) {
    kernels::attention(ctx, q.data(), T, k.data(), v.data(), T, bert_shape(c, false, 0), attn.data());
  } else {
    CT_CHECK(static_cast<int64_t>(in.key_mask.size()) == T, "key mask length");
    std::vector<float> kk, vv;
    const int64_t n = compact_rows(k.data(), T, d, in.key_mask, kk);
    compact_rows(v.data(), T, d, in.key_mask, vv);
    if (n == 0) throw InputError("token_ids", "every position is masked");
    kernels::attention(ctx, q.data(), T, kk.data(), vv.data(), n, bert_shape(c, false, 0), attn.data());
  }
  attention_output(c, l.self, x, T, attn, ctx, small);

  if (in.cross != nullptr) {
    CT_CHECK(l.has_cross, "cross-attention memory given to a layer without cross-attention");
    kernels::linear(ctx, x, T, d, l.cross.q_w, l.cross.q_b, q.data());
    const int64_t blocks = in.cross_blocks;
    if (!in.cross->kt.empty()) {  // keys laid out once per memory (decoder steps)
      CT_CHECK(blocks == 1, "pre-transposed memory keys with a tiled memory");
      const int h = c.num_attention_heads;
      kernels::memory_attention(ctx, q.data(), T, in.cross->kt.data(), in.cross->v.data(), in.cross->rows, h,
                                static_cast<int>(d / h), attn.data());
    } else {
      CT_CHECK(blocks >= 1 && T % blocks == 0 && in.cross->rows % blocks == 0,
               "cross-attention blocks do not split evenly");
      const int64_t q_rows = T / blocks, kv_rows = in.cross->rows / blocks;
      for (int64_t s = 0; s < blocks; ++s) {
        const int64_t qo = s * q_rows * d, kvo = s * kv_rows * d;
        kernels::attention(ctx, q.data() + qo, q_rows, in.cross->k.data() + kvo, in.cross->v.data() + kvo, kv_rows,
                           bert_shape(c, false, 0), attn.data() + qo);
      }
    }
    attention_output(c, l.cross, x, T, attn, ctx, small);
  }

  std::vector<float> mid(static_cast<std::size_t>(T * H));  // [T, H]
  kernels::linear(ctx, x, T, d, l.inter_w, l.inter_b, mid.data());
  kernels::gelu_erf(mid.data(), T * H);
  if (in.hooks != nullptr && !in.component.empty())
    in.hooks->emit_layer(in.component, in.index, "mlp_act", {mid.data(), T, H});
  std::vector<float> out(td);
  kernels::linear(ctx, mid.data(), T, H, l.out_w, l.out_b, out.data());
  for (std::size_t i = 0; i < td; ++i) x[i] += out[i];
  kernels::layer_norm(small, x, T, d, l.out_ln_w, l.out_ln_b, c.layer_norm_eps, x);
}

std::vector<float> bert_embed(const io::BertConfig& c, const BertEmbeddingWeights& w, std::span<const int32_t> ids,
                              int64_t pos0, const ExecContext& ctx) {
  const int64_t d = c.hidden_size, T = static_cast<int64_t>(ids.size());
  if (pos0 + T > c.max_position_embeddings) {
    throw InputError("token_ids", std::to_string(pos0 + T) + " positions exceed max_position_embeddings " +
                                      std::to_string(c.max_position_embeddings));
  }
  std::vector<float> x(static_cast<std::size_t>(T * d)), row(static_cast<std::size_t>(d));
  for (int64_t t = 0; t < T; ++t) {
    const int32_t id = ids[static_cast<std::size_t>(t)];
    if (id < 0 || id >= c.vocab_size) {
      throw InputError("token_ids", "id " + std::to_string(id) + " is outside the vocabulary of " +
                                        std::to_string(c.vocab_size));
    }
    float* out = x.data() + t * d;
    w.word.widen_row(id, out);
    w.position.widen_row(pos0 + t, row.data());
    for (int64_t i = 0; i < d; ++i) out[i] += row[static_cast<std::size_t>(i)];
    w.token_type.widen_row(0, row.data());  // token type 0 throughout (mPLUG)
    for (int64_t i = 0; i < d; ++i) out[i] += row[static_cast<std::size_t>(i)];
  }
  kernels::layer_norm(ctx, x.data(), T, d, w.ln_w, w.ln_b, c.layer_norm_eps, x.data());
  return x;
}

std::vector<float> bert_encoder_forward(const io::BertConfig& c, const BertWeights& w, std::span<const int32_t> ids,
                                        std::span<const int32_t> mask, const ExecContext& ctx, const Hooks& hooks,
                                        std::string_view component, const float* memory, int64_t memory_rows,
                                        int64_t encoder_width) {
  const int64_t T = static_cast<int64_t>(ids.size()), d = c.hidden_size;
  if (!mask.empty() && mask.size() != ids.size()) {
    throw InputError("token_ids", "attention mask has " + std::to_string(mask.size()) + " entries for " +
                                      std::to_string(T) + " tokens");
  }
  std::vector<float> x = bert_embed(c, w.embeddings, ids, 0, ctx);
  hooks.emit(std::string(component) + ".embeddings", {x.data(), T, d});
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    const BertLayerWeights& l = w.layers[i];
    BertMemoryKv kv;
    BertLayerInputs in;
    in.key_mask = mask;
    if (l.has_cross && memory != nullptr) {
      kv = bert_cross_kv(c, l, memory, memory_rows, encoder_width, {}, ctx);
      in.cross = &kv;
    }
    in.hooks = &hooks;
    in.component = component;
    in.index = static_cast<int>(i);
    bert_layer_forward(c, l, x.data(), T, in, ctx);
    hooks.emit_layer(component, static_cast<int>(i), "output", {x.data(), T, d});
  }
  return x;
}

void bert_lm_head(const io::BertConfig& c, const BertLmHeadWeights& w, const float* h, int64_t n, float* logits,
                  const ExecContext& ctx) {
  const int64_t d = c.hidden_size;
  std::vector<float> t(static_cast<std::size_t>(n * d));
  kernels::linear(ctx, h, n, d, w.dense_w, w.dense_b, t.data());
  kernels::gelu_erf(t.data(), n * d);
  kernels::layer_norm(ctx, t.data(), n, d, w.ln_w, w.ln_b, c.layer_norm_eps, t.data());
  kernels::linear(ctx, t.data(), n, d, w.decoder_w, w.bias, logits);
}

std::vector<std::string> bert_hook_names(int layers, std::string_view component) {
  std::vector<std::string> names = {std::string(component) + ".embeddings"};
  for (int i = 0; i < layers; ++i)
    for (const char* site : {"mlp_act", "output"}) names.push_back(Hooks::layer_hook_name(component, i, site));
  return names;
}

}  // namespace ct::models
