// The features stage of compare (compare.h): vision-tower activations of both models at the same
// layer on the same images, aligned row by row (row i*N + t = image i, token t, token 0 = CLS),
// a BatchTopK crosscoder trained on the pairs, its analysis (bins, relative norms, cosines), and
// the top latents of each bin with their top-activating image patches.
//
// Towers: LLaVA through models::llava_image_features (its own preprocessing, HF CLIP processor),
// a CLIP checkpoint through models::clip_vision_forward, and mPLUG's visual encoder (OpenAI layout
// inside the mPLUG checkpoint) bound with models::bind_clip_vision and run by clip_vision_forward
// with mPLUG's squash-resize preprocessing. Only the CLIP part of mPLUG is used here.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <optional>

#include "anatomy/anatomy.h"
#include "cli/compare.h"
#include "core/error.h"
#include "crosscoder/analysis.h"
#include "crosscoder/init.h"
#include "crosscoder/trainer.h"
#include "io/checkpoint.h"
#include "io/json_file.h"
#include "io/png_writer.h"
#include "models/clip_vision.h"
#include "models/llava.h"
#include "models/weights.h"

namespace ct::cli {
namespace fs = std::filesystem;
using nlohmann::ordered_json;
namespace {

constexpr int kThumb = 64;          // thumbnail side, px
constexpr int kTopLatents = 4;      // per bin
constexpr int kTopInputs = 3;       // per latent

struct VisionTower {
  std::string how;                              // how it is run, for the report
  std::optional<models::LlavaModel> llava;
  std::shared_ptr<const io::TensorStore> store; // CLIP / mPLUG: keeps the weights mapped
  io::ClipVisionConfig config;
  models::ClipVisionWeights weights;
  int layers = 0;                               // encoder layers this tower runs
  bool mplug_preprocess = false;
  models::ClipProcessorConfig processor;
};

models::ClipProcessorConfig processor_for(const fs::path& dir, int image_size) {
  if (fs::exists(dir / "preprocessor_config.json")) return models::read_clip_processor_config(dir / "preprocessor_config.json");
  models::ClipProcessorConfig p;
  p.shortest_edge = image_size;
  p.crop_size = image_size;
  return p;
}

// The mPLUG visual encoder: OpenAI-layout CLIP under "...visual." in the mPLUG checkpoint. Sizes
// come from the shapes; heads from a `vision_config` in the BERT config when present, else the
// OpenAI convention of 64-wide heads.
std::optional<VisionTower> open_mplug_tower(const fs::path& model, const anatomy::Anatomy& a, std::string& why_not) {
  VisionTower t;
  auto store = std::make_shared<io::TensorStore>(io::open_checkpoint(model));
  std::string prefix;
  for (const auto& e : store->entries()) {
    if (e.name.ends_with("visual.class_embedding")) prefix = e.name.substr(0, e.name.size() - std::string("class_embedding").size());
  }
  const anatomy::Component* vc = nullptr;
  for (const auto& c : a.components) if (c.name == "vision_encoder") vc = &c;
  if (prefix.empty() || !vc) {
    why_not = "no OpenAI-layout visual encoder (visual.class_embedding) in the mPLUG checkpoint";
    return std::nullopt;
  }
  io::ClipVisionConfig c;
  c.hidden_size = static_cast<int>(vc->config.value("width", int64_t{0}));
  c.num_hidden_layers = static_cast<int>(vc->config.value("layers", int64_t{0}));
  c.intermediate_size = static_cast<int>(vc->config.value("mlp_width", int64_t{0}));
  c.patch_size = static_cast<int>(vc->config.value("patch_size", int64_t{0}));
  c.image_size = static_cast<int>(vc->config.value("image_size", int64_t{0}));
  c.hidden_act = "quick_gelu";
  int heads = c.hidden_size % 64 == 0 ? c.hidden_size / 64 : 0;
  const fs::path dir = io::model_directory(model);
  for (const char* name : {"config_bert.json", "config_bert_stride3.json"}) {
    if (!fs::exists(dir / name)) continue;
    const auto j = io::read_json_file(dir / name);
    if (j.contains("vision_config") && j["vision_config"].contains("num_attention_heads")) {
      heads = j["vision_config"]["num_attention_heads"].get<int>();
    }
    break;
  }
  if (heads <= 0 || c.hidden_size % heads != 0) {
    why_not = "cannot tell the mPLUG visual encoder's head count (width " + std::to_string(c.hidden_size) +
              " is not a multiple of 64 and the BERT config has no vision_config.num_attention_heads)";
    return std::nullopt;
  }
  c.num_attention_heads = heads;
  const models::WeightBinder binder(*store);
  t.weights = models::bind_clip_vision(c, models::ClipLayout::kOpenAi, prefix, binder);
  t.store = store;
  t.config = c;
  t.layers = c.num_hidden_layers;
  t.mplug_preprocess = true;
  t.how = "mPLUG visual encoder (OpenAI-layout CLIP " + prefix + "*) via clip_vision_forward, mPLUG preprocessing";
  return t;
}

std::optional<VisionTower> open_tower(const fs::path& model, std::string& why_not) {
  const io::TensorStore store = io::open_checkpoint(model);
  const anatomy::Anatomy a = anatomy::describe_model(store, io::model_directory(model));
  VisionTower t;
  switch (a.family) {
    case anatomy::Family::kLlava: {
      t.llava = models::load_llava(model);
      t.config = t.llava->config.vision;
      t.layers = models::llava_vision_layers(*t.llava);
      t.processor = processor_for(io::model_directory(model), t.config.image_size);
      t.how = "LLaVA vision tower via llava_image_features (CLIP processor)";
      return t;
    }
    case anatomy::Family::kClip:
    case anatomy::Family::kClipVision: {
      models::ClipVisionModel m = models::load_clip_vision(model);
      t.config = m.config;
      t.weights = m.weights;
      t.store = m.store;
      t.layers = m.config.num_hidden_layers;
      t.processor = processor_for(io::model_directory(model), t.config.image_size);
      t.how = "CLIP vision tower via clip_vision_forward (CLIP processor)";
      return t;
    }
    case anatomy::Family::kMplug: return open_mplug_tower(model, a, why_not);
    default:
      why_not = std::string("family ") + anatomy::family_name(a.family) + " has no vision tower";
      return std::nullopt;
  }
}

// Residual stream after block `layer` for one image: [N, W].
models::HookRecorder::Captured run_tower(const VisionTower& t, const models::RgbImage& image, int layer, const ExecContext& ctx) {
  const models::ImageTensor pixels = t.mplug_preprocess ? models::preprocess_mplug(image, t.config.image_size)
                                                        : models::preprocess_clip(image, t.processor);
  const std::string name = models::Hooks::layer_hook_name("vision", layer, "output");
  models::Hooks hooks;
  models::HookRecorder rec;
  rec.subscribe_to(hooks, {name});
  if (t.llava) {
    models::llava_image_features(*t.llava, pixels.data, ctx, hooks);
  } else {
    models::clip_vision_forward(t.config, t.weights, pixels.data, {layer + 1, false}, ctx, hooks);
  }
  CT_CHECK(rec.tensors.count(name), "tower did not emit " + name);
  return rec.tensors[name];
}

ordered_json skipped(const std::string& reason) { return {{"status", "skipped"}, {"reason", reason}}; }

std::string thumbnail_png(const models::RgbImage& square) {
  const models::RgbImage small = models::resize_bicubic(square, kThumb, kThumb);
  return io::base64_encode(io::encode_png_rgb(small.pixels, kThumb, kThumb));
}

}  // namespace

ordered_json features_stage(const fs::path& model_a, const fs::path& model_b, const DataSet& data,
                            const CompareOptions& opt, ExecContext& ctx) {
  std::string why_a, why_b;
  const auto ta = open_tower(model_a, why_a);
  const auto tb = open_tower(model_b, why_b);
  if (!ta || !tb) return skipped("model " + std::string(!ta ? "A: " + why_a : "B: " + why_b));
  const int64_t na = models::clip_num_tokens(ta->config), nb = models::clip_num_tokens(tb->config);
  if (na != nb) {
    return skipped("the towers see different token grids (" + std::to_string(na) + " vs " + std::to_string(nb) +
                   " tokens per image), so rows cannot be paired patch by patch");
  }
  const int layer = std::min(ta->layers, tb->layers) - 1;
  const int64_t wa = ta->config.hidden_size, wb = tb->config.hidden_size, n_tok = na;
  const int64_t n_img = static_cast<int64_t>(data.images.size()), rows = n_img * n_tok;

  // Harvest, image by image (row i*N + t on both sides).
  std::vector<float> xa(rows * wa), xb(rows * wb);
  ctx.progress().begin("features: harvest", n_img, "images");
  for (int64_t i = 0; i < n_img; ++i) {
    const auto a = run_tower(*ta, data.images[i].square, layer, ctx);
    const auto b = run_tower(*tb, data.images[i].square, layer, ctx);
    CT_CHECK(a.rows == n_tok && b.rows == n_tok && a.cols == wa && b.cols == wb);
    std::copy(a.data.begin(), a.data.end(), xa.begin() + i * n_tok * wa);
    std::copy(b.data.begin(), b.data.end(), xb.begin() + i * n_tok * wb);
    ctx.progress().update(i + 1);
  }
  ctx.progress().end();

  // How alike the paired rows are before any dictionary (equal widths only): an independent check.
  ordered_json row_cosine = nullptr;
  if (wa == wb) {
    double sum = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double d = 0, na2 = 0, nb2 = 0;
      for (int64_t c = 0; c < wa; ++c) {
        const double u = xa[r * wa + c], v = xb[r * wb + c];
        d += u * v, na2 += u * u, nb2 += v * v;
      }
      sum += na2 > 0 && nb2 > 0 ? d / std::sqrt(na2 * nb2) : 0.0;
    }
    row_cosine = sum / static_cast<double>(rows);
  }

  crosscoder::CrosscoderSpec spec;
  spec.names = {"A", "B"};
  spec.dims = {wa, wb};
  spec.dict_size = opt.dict_size > 0 ? opt.dict_size : std::clamp<int64_t>(4 * std::max(wa, wb), 64, 16384);
  spec.k = std::clamp<int64_t>(std::max(wa, wb) / 12, 2, 32);
  crosscoder::TrainConfig cfg;
  cfg.batch_size = std::min<int64_t>(rows, 256);
  cfg.steps = opt.steps > 0 ? opt.steps : 600;
  cfg.warmup_steps = std::max<int64_t>(1, cfg.steps / 10);
  cfg.threshold_start_step = cfg.steps / 2;
  cfg.dead_tokens = cfg.batch_size * 100;
  cfg.norm_rows = rows;
  cfg.adam.lr = 2e-3;
  cfg.seed = ctx.seed();
  const crosscoder::InMemorySource source({xa, xb}, {wa, wb});
  crosscoder::Trainer trainer(spec, cfg, source, ctx);
  trainer.train();
  const crosscoder::Crosscoder& model = trainer.model();
  const crosscoder::AnalysisResult an = crosscoder::analyze(model, source, rows, cfg.batch_size, ctx);

  // Top inputs of every latent: inference-mode codes over all rows.
  const int64_t dict = spec.dict_size, dim = spec.total_dim();
  std::vector<std::vector<std::pair<float, int64_t>>> top(dict);
  {
    std::vector<float> x;
    crosscoder::BatchResult<float> res;
    const crosscoder::CodeMode mode = model.inference_mode();
    for (int64_t start = 0; start < rows; start += cfg.batch_size) {
      const int64_t n = std::min(cfg.batch_size, rows - start);
      x.resize(n * dim);
      source.read(start, n, x.data());
      crosscoder::apply_norm_scales(spec, model.norm_scales, x.data(), n);
      crosscoder::encode_decode(spec, model.params, x.data(), n, mode, res, ctx);
      for (int64_t b = 0; b < n; ++b) {
        for (int64_t e = res.code.row_ptr[b]; e < res.code.row_ptr[b + 1]; ++e) {
          if (res.code.val[e] <= 0) continue;
          auto& t = top[res.code.idx[e]];
          t.emplace_back(res.code.val[e], start + b);
          std::sort(t.begin(), t.end(), [](const auto& p, const auto& q) { return p.first > q.first || (p.first == q.first && p.second < q.second); });
          if (static_cast<int>(t.size()) > kTopInputs) t.pop_back();
        }
      }
    }
  }

  const int grid = ta->config.image_size / ta->config.patch_size;
  ordered_json j;
  j["status"] = "done";
  j["hook_a"] = j["hook_b"] = models::Hooks::layer_hook_name("vision", layer, "output");
  j["layer"] = layer;
  j["tower_a"] = ta->how;
  j["tower_b"] = tb->how;
  j["widths"] = {wa, wb};
  j["images"] = n_img;
  j["tokens_per_image"] = n_tok;
  j["grid"] = grid;
  j["rows"] = rows;
  j["alignment"] = "row i*N + t is image i, token t on both sides (token 0 = CLS, token t >= 1 = patch t-1 in row-major "
                   "order); every image is centre-cropped to a square first, then each model applies its own preprocessing";
  j["row_cosine_mean"] = row_cosine;
  j["prompts"] = data.prompts;
  j["prompts_note"] = data.prompts.empty() ? "no prompts.txt"
                                           : "prompts are recorded but unused: vision-tower activations do not depend on the prompt";
  j["crosscoder"] = {{"dict_size", spec.dict_size}, {"k", spec.k}, {"sparsity", crosscoder::sparsity_name(spec.sparsity)},
                     {"steps", cfg.steps}, {"batch_size", cfg.batch_size}, {"lr", cfg.adam.lr}, {"seed", cfg.seed}};
  ordered_json bins = ordered_json::object();
  for (const auto& [name, count] : an.bin_counts) bins[name] = count;
  std::vector<int64_t> cos_hist(20, 0);
  for (const auto& l : an.latents) {
    if (l.bin == "dead" || !std::isfinite(l.cosine)) continue;
    const int b = std::clamp(static_cast<int>((l.cosine + 1.0) / 2.0 * 20), 0, 19);
    ++cos_hist[b];
  }
  j["analysis"] = {{"fve", an.fve}, {"l0_train", an.l0_train}, {"l0_threshold", an.l0_threshold},
                   {"dead_fraction", an.dead_fraction}, {"eval_rows", an.eval_rows}, {"bin_counts", bins},
                   {"r_histogram", an.r_histogram}, {"cosine_histogram", cos_hist},
                   {"cosine_note", wa == wb ? "decoder cosines of live latents" : "widths differ: no decoder cosines"}};

  // Top latents per bin (most frequent first), with their top inputs.
  std::vector<int64_t> used_images;
  ordered_json top_bins = ordered_json::array();
  for (const std::string bin : {"shared", "A-only", "B-only", "other"}) {
    std::vector<int64_t> ids;
    for (int64_t f = 0; f < dict; ++f) if (an.latents[f].bin == bin && !top[f].empty()) ids.push_back(f);
    std::stable_sort(ids.begin(), ids.end(), [&](int64_t p, int64_t q) { return an.latents[p].frequency > an.latents[q].frequency; });
    if (ids.size() > kTopLatents) ids.resize(kTopLatents);
    ordered_json latents = ordered_json::array();
    for (int64_t f : ids) {
      const auto& s = an.latents[f];
      ordered_json inputs = ordered_json::array();
      for (const auto& [value, row] : top[f]) {
        const int64_t image = row / n_tok, token = row % n_tok;
        ordered_json in = {{"image", image}, {"token", token}, {"activation", value}};
        in["patch"] = token == 0 ? ordered_json(nullptr) : ordered_json{(token - 1) / grid, (token - 1) % grid};
        inputs.push_back(in);
        used_images.push_back(image);
      }
      latents.push_back({{"latent", f}, {"r", s.r}, {"cosine", std::isfinite(s.cosine) ? ordered_json(s.cosine) : ordered_json(nullptr)},
                         {"frequency", s.frequency}, {"top_inputs", inputs}});
    }
    top_bins.push_back({{"bin", bin}, {"count", bins.value(bin, int64_t{0})}, {"latents", latents}});
  }
  j["top_latents"] = top_bins;
  std::sort(used_images.begin(), used_images.end());
  used_images.erase(std::unique(used_images.begin(), used_images.end()), used_images.end());
  ordered_json thumbs = ordered_json::array();
  for (int64_t i : used_images) {
    thumbs.push_back({{"index", i}, {"name", data.images[i].name}, {"thumbnail_png", thumbnail_png(data.images[i].square)}});
  }
  j["thumbnails"] = thumbs;
  j["image_names"] = ordered_json::array();
  for (const auto& im : data.images) j["image_names"].push_back(im.name);
  return j;
}

}  // namespace ct::cli
