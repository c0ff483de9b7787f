// Crosscoder trainer and checkpoints (see trainer.h).
#include "crosscoder/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "crosscoder/init.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "io/tensor_store.h"

namespace ct::crosscoder {
namespace fs = std::filesystem;

InMemorySource::InMemorySource(std::vector<std::vector<float>> sources, std::vector<int64_t> dims)
    : data_(std::move(sources)), dims_(std::move(dims)) {
  if (data_.size() != dims_.size() || data_.empty())
    throw InputError("training sources", "expected one matrix per source width");
  for (size_t m = 0; m < data_.size(); ++m) {
    if (dims_[m] <= 0 || data_[m].size() % dims_[m] != 0)
      throw InputError("source " + std::to_string(m), "matrix size is not a multiple of its width");
    const int64_t r = static_cast<int64_t>(data_[m].size()) / dims_[m];
    if (m == 0) rows_ = r;
    else if (r != rows_)
      throw InputError("source " + std::to_string(m),
                       "expected " + std::to_string(rows_) + " rows like source 0, found " + std::to_string(r));
  }
  if (rows_ <= 0) throw InputError("training sources", "no rows");
}

void InMemorySource::read(int64_t first, int64_t count, float* out) const {
  int64_t dim = 0;
  for (int64_t d : dims_) dim += d;
  for (int64_t r = 0; r < count; ++r) {
    const int64_t row = (first + r) % rows_;
    float* o = out + r * dim;
    for (size_t m = 0; m < data_.size(); ++m) {
      std::memcpy(o, data_[m].data() + row * dims_[m], sizeof(float) * dims_[m]);
      o += dims_[m];
    }
  }
}

CodeMode Crosscoder::inference_mode() const {
  CodeMode mode;
  if (spec.sparsity == Sparsity::kL1 || theta >= 0) {
    mode.kind = CodeMode::kThreshold;
    mode.theta = std::max(0.0, theta);
  }
  return mode;
}

Trainer::Trainer(CrosscoderSpec spec, TrainConfig cfg, const RowSource& source, ExecContext& ctx)
    : spec_(std::move(spec)), cfg_(cfg), source_(source), ctx_(ctx) {
  spec_.validate();
  if (source_.dims() != spec_.dims)
    throw InputError("training sources", "source widths differ from the crosscoder's source widths");
  if (cfg_.batch_size <= 0) throw InputError("--batch-size", "must be positive");
  if (cfg_.steps <= 0) throw InputError("--steps", "must be positive");
  model_.spec = spec_;
}

void Trainer::read_batch(int64_t first, int64_t count, std::vector<float>& out) const {
  out.resize(count * spec_.total_dim());
  source_.read(first, count, out.data());
  apply_norm_scales(spec_, model_.norm_scales, out.data(), count);
}

void Trainer::initialize() {
  const int64_t msrc = spec_.sources();
  model_.norm_scales.assign(msrc, 1.0);
  if (cfg_.normalize) {
    std::vector<float> rows;
    const int64_t n = std::min<int64_t>(cfg_.norm_rows, source_.rows());
    rows.resize(n * spec_.total_dim());
    source_.read(0, n, rows.data());
    model_.norm_scales = estimate_norm_scales(spec_, rows.data(), n);
  }
  const double init_norm = cfg_.init_norm > 0 ? cfg_.init_norm : (spec_.sparsity == Sparsity::kL1 ? 0.05 : 1.0);
  std::vector<float> first;
  const int64_t n = std::min<int64_t>(cfg_.batch_size, 4096);
  if (cfg_.geometric_median_init) read_batch(0, n, first);
  model_.params = init_params(spec_, init_norm, cfg_.seed, first.empty() ? nullptr : first.data(), n,
                              cfg_.same_init_blocks);
  model_.theta = -1;
  estimate_aux_scale();
  adam_ = {};
  dead_.assign(spec_.dict_size, 0);
  rows_seen_ = 0;
  initialized_ = true;
}

void Trainer::estimate_aux_scale() {
  aux_scale_ = 1;
  if (!cfg_.aux_relative || spec_.sparsity == Sparsity::kL1) return;
  const int64_t n = std::min<int64_t>(std::max<int64_t>(cfg_.norm_rows, 1), source_.rows());
  const int64_t dim = spec_.total_dim(), msrc = spec_.sources();
  const auto off = spec_.offsets();
  std::vector<float> rows;
  read_batch(0, n, rows);  // [n, D], normalised like the training batches
  std::vector<double> mean(dim, 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < dim; ++i) mean[i] += rows[b * dim + i];
  for (double& v : mean) v /= static_cast<double>(n);
  double total = 0;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t m = 0; m < msrc; ++m) {
      double s = 0;
      for (int64_t i = off[m]; i < off[m + 1]; ++i) {
        const double e = rows[b * dim + i] - mean[i];
        s += e * e;
      }
      total += spec_.recon == ReconLoss::kSquared ? s : std::sqrt(s) / static_cast<double>(msrc);
    }
  const double scale = total / static_cast<double>(n);
  // Constant rows: nothing to reconstruct, keep alpha as given.
  aux_scale_ = scale > 0 && std::isfinite(scale) ? scale : 1.0;
}

StepStats Trainer::step() {
  if (!initialized_) initialize();
  const int64_t batch = cfg_.batch_size, dict = spec_.dict_size;
  const int64_t t = adam_.t + 1;
  read_batch(rows_seen_, batch, batch_);

  LossOptions opt;
  const int64_t anneal = static_cast<int64_t>(std::llround(cfg_.k_anneal_frac * cfg_.steps));
  opt.mode.k = k_at(t, cfg_.k_init, spec_.k, anneal);
  opt.l1_coeff = spec_.l1_coeff *
                 l1_multiplier(t, static_cast<int64_t>(std::llround(cfg_.l1_warmup_frac * cfg_.steps)));
  dead_mask_.assign(dict, 0);
  int64_t n_dead = 0;
  for (int64_t j = 0; j < dict; ++j) {
    dead_mask_[j] = dead_[j] >= cfg_.dead_tokens;
    n_dead += dead_mask_[j];
  }
  if (cfg_.aux_k && n_dead > 0) opt.dead = dead_mask_.data();

  CrosscoderSpec loss_spec = spec_;
  loss_spec.aux_alpha *= aux_scale_;
  BatchResult<float> res;
  compute_loss(loss_spec, model_.params, batch_.data(), batch, opt, res, &grads_, ctx_);

  // Dead-latent counters: + B for everyone, 0 for those that fired.
  for (int64_t j = 0; j < dict; ++j) dead_[j] += batch;
  for (int64_t e = 0; e < res.code.nnz(); ++e)
    if (res.code.val[e] > 0) dead_[res.code.idx[e]] = 0;

  if (spec_.sparsity != Sparsity::kL1 && t > cfg_.threshold_start_step) {
    const double m = res.min_kept_score;
    model_.theta = model_.theta < 0 ? m : cfg_.threshold_decay * model_.theta + (1 - cfg_.threshold_decay) * m;
  }
  const double lr = cfg_.adam.lr * lr_multiplier(t, cfg_.steps, cfg_.warmup_steps, cfg_.decay_frac);
  StepStats st;
  st.grad_norm = adam_update(cfg_.adam, lr, grads_, model_.params, adam_, ctx_);
  rows_seen_ += batch;
  st.step = t;
  st.loss = res.loss;
  st.recon_loss = res.recon_loss;
  st.aux_loss = res.aux_loss;
  st.sparsity_loss = res.sparsity_loss;
  st.l0 = res.l0;
  st.lr = lr;
  st.k = opt.mode.k;
  st.aux_k = res.aux_k;
  st.min_kept_score = res.min_kept_score;
  st.theta = model_.theta;
  st.dead_fraction = static_cast<double>(n_dead) / dict;
  return st;
}

void Trainer::train() {
  ProgressSink& progress = ctx_.progress();
  progress.begin("crosscoder train", cfg_.steps * cfg_.batch_size, "rows");
  while (adam_.t < cfg_.steps) {
    step();
    progress.update(adam_.t * cfg_.batch_size);
  }
  progress.end();
}

namespace {

io::TensorToWrite tensor(std::string name, const void* data, std::vector<int64_t> shape,
                         io::DType dtype = io::DType::kF32) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return {std::move(name), dtype, std::move(shape),
          std::span<const std::byte>(static_cast<const std::byte*>(data), n * io::dtype_size(dtype))};
}

// Copies a tensor of exactly `shape` and `dtype` out of the store.
void fetch(const io::TensorStore& store, const std::string& name, const std::vector<int64_t>& shape,
           io::DType dtype, void* out) {
  const io::TensorEntry& e = store.at(name);
  if (e.dtype != dtype || e.shape != shape)
    throw InputError(e.file, "tensor '" + name + "' has the wrong dtype or shape");
  std::memcpy(out, e.data.data(), e.data.size());
}

nlohmann::json config_json(const CrosscoderSpec& spec, const TrainConfig& cfg, const Crosscoder& m,
                           int64_t steps, int64_t rows, double aux_scale,
                           const std::map<std::string, std::string>& run) {
  nlohmann::json j;
  j["format"] = "crosstrace-crosscoder";
  j["version"] = 1;
  for (int64_t s = 0; s < spec.sources(); ++s)
    j["sources"].push_back({{"name", spec.names[s]}, {"dim", spec.dims[s]}, {"norm_scale", m.norm_scales[s]}});
  j["dict_size"] = spec.dict_size;
  j["sparsity"] = sparsity_name(spec.sparsity);
  j["k"] = spec.k;
  j["l1_coeff"] = spec.l1_coeff;
  j["recon_loss"] = recon_name(spec.recon);
  j["aux_alpha"] = spec.aux_alpha;
  j["aux_k_max"] = spec.aux_k_max;
  j["aux_scale"] = aux_scale;  // AuxK weight = aux_alpha * aux_scale (TrainConfig::aux_relative)
  j["code_normalization"] = "sum_of_decoder_norms";
  j["encoder_input_bias"] = false;
  j["normalization"] = {{"kind", cfg.normalize ? "mean_norm_to_sqrt_d" : "none"}, {"folded", false}};
  j["weights_space"] = "normalized";
  j["theta"] = m.theta;
  j["train"] = {{"steps", cfg.steps}, {"batch_size", cfg.batch_size}, {"lr", cfg.adam.lr},
                {"beta1", cfg.adam.beta1}, {"beta2", cfg.adam.beta2}, {"eps", cfg.adam.eps},
                {"clip_norm", cfg.adam.clip_norm}, {"warmup_steps", cfg.warmup_steps},
                {"decay_frac", cfg.decay_frac}, {"l1_warmup_frac", cfg.l1_warmup_frac},
                {"k_init", cfg.k_init}, {"k_anneal_frac", cfg.k_anneal_frac},
                {"dead_tokens", cfg.dead_tokens}, {"aux_k", cfg.aux_k}, {"aux_relative", cfg.aux_relative},
                {"threshold_start_step", cfg.threshold_start_step},
                {"threshold_decay", cfg.threshold_decay}, {"init_norm", cfg.init_norm},
                {"same_init_blocks", cfg.same_init_blocks},
                {"seed", cfg.seed}};
  j["run"] = nlohmann::json::object();
  for (const auto& [k, v] : run) j["run"][k] = v;
  j["steps_done"] = steps;
  j["rows_seen"] = rows;
  return j;
}

// Drops the fields that change while training (progress), so two configs compare equal.
nlohmann::json without_progress(nlohmann::json j) {
  for (const char* k : {"steps_done", "rows_seen", "theta", "aux_scale"}) j.erase(k);
  if (j.contains("sources") && j["sources"].is_array())
    for (auto& s : j["sources"]) s.erase("norm_scale");
  return j;
}

// First differing field of two JSON values as "a.b[2] is X in the checkpoint, Y now".
std::string first_difference(const nlohmann::json& was, const nlohmann::json& now, const std::string& path) {
  if (was.is_object() && now.is_object()) {
    for (const auto& [k, v] : now.items()) {
      const std::string p = path.empty() ? k : path + "." + k;
      if (!was.contains(k)) return p + " is absent in the checkpoint, " + v.dump() + " now";
      const std::string d = first_difference(was.at(k), v, p);
      if (!d.empty()) return d;
    }
    for (const auto& [k, v] : was.items())
      if (!now.contains(k)) return (path.empty() ? k : path + "." + k) + " is " + v.dump() + " in the checkpoint, absent now";
    return "";
  }
  if (was.is_array() && now.is_array() && was.size() == now.size()) {
    for (size_t i = 0; i < was.size(); ++i) {
      const std::string d = first_difference(was[i], now[i], path + "[" + std::to_string(i) + "]");
      if (!d.empty()) return d;
    }
    return "";
  }
  if (was.is_number() && now.is_number() && was.get<double>() == now.get<double>()) return "";
  return was == now ? "" : path + " is " + was.dump() + " in the checkpoint, " + now.dump() + " now";
}

}  // namespace

void Trainer::save(const fs::path& dir) const {
  fs::create_directories(dir);
  const auto off = spec_.offsets();
  const int64_t dict = spec_.dict_size, dim = spec_.total_dim(), msrc = spec_.sources();
  const Params<float>& p = model_.params;
  // Contract layout: per-source blocks, encoder transposed back to [d_m, F].
  std::vector<std::vector<float>> enc(msrc), dec(msrc), bdec(msrc);
  std::vector<float> scales(msrc);
  for (int64_t m = 0; m < msrc; ++m) {
    const int64_t dm = spec_.dims[m];
    enc[m].resize(dm * dict);
    dec[m].resize(dict * dm);
    for (int64_t j = 0; j < dict; ++j)
      for (int64_t i = 0; i < dm; ++i) {
        enc[m][i * dict + j] = p.enc[j * dim + off[m] + i];
        dec[m][j * dm + i] = p.dec[j * dim + off[m] + i];
      }
    bdec[m].assign(p.b_dec.begin() + off[m], p.b_dec.begin() + off[m + 1]);
    scales[m] = static_cast<float>(model_.norm_scales[m]);
  }
  std::vector<float> threshold;
  std::vector<io::TensorToWrite> out;
  for (int64_t m = 0; m < msrc; ++m) {
    const std::string s = std::to_string(m);
    out.push_back(tensor("encoder." + s + ".weight", enc[m].data(), {spec_.dims[m], dict}));
    out.push_back(tensor("decoder." + s + ".weight", dec[m].data(), {dict, spec_.dims[m]}));
    out.push_back(tensor("decoder." + s + ".bias", bdec[m].data(), {spec_.dims[m]}));
    out.push_back(tensor("norm_scale." + s, &scales[m], {}));
  }
  out.push_back(tensor("encoder.bias", p.b_enc.data(), {dict}));
  if (spec_.sparsity != Sparsity::kL1) {
    std::vector<float> w;
    latent_weights(p, off, w);
    threshold.resize(dict);
    for (int64_t j = 0; j < dict; ++j)
      threshold[j] = model_.theta < 0 ? 0.0f
                     : w[j] > 0      ? static_cast<float>(model_.theta / w[j])
                                     : INFINITY;
    out.push_back(tensor("threshold", threshold.data(), {dict}));
  }
  const nlohmann::json cfg = config_json(spec_, cfg_, model_, adam_.t, rows_seen_, aux_scale_, run_info_);
  io::write_safetensors(dir / "crosscoder.safetensors", out, {{"format", "crosstrace-crosscoder"}});

  // Exact trainer state in the internal layout.
  std::vector<io::TensorToWrite> st;
  const Params<float>* states[] = {&p, &adam_.m, &adam_.v};
  const char* prefixes[] = {"param.", "adam.m.", "adam.v.", };
  for (int s = 0; s < 3; ++s)
    states[s]->for_each([&](const char* name, const AlignedVector<float>& v) {
      st.push_back(tensor(std::string(prefixes[s]) + name, v.data(), {static_cast<int64_t>(v.size())}));
    });
  const int64_t counters[2] = {adam_.t, rows_seen_};
  st.push_back(tensor("counters", counters, {2}, io::DType::kI64));
  st.push_back(tensor("theta", &model_.theta, {}, io::DType::kF64));
  st.push_back(tensor("norm_scales", model_.norm_scales.data(), {msrc}, io::DType::kF64));
  st.push_back(tensor("dead_counters", dead_.data(), {dict}, io::DType::kI64));
  io::write_safetensors(dir / "trainer_state.safetensors", st, {{"format", "crosstrace-trainer-state"}});

  // cfg.json last: a directory with a cfg.json holds a complete checkpoint.
  const std::string text = cfg.dump(2) + "\n";
  const fs::path cfg_path = dir / "cfg.json";
  io::write_file_atomically(cfg_path, [&](std::FILE* f) { io::write_bytes(f, text.data(), text.size(), cfg_path); });
}

std::string Trainer::config_difference(const fs::path& dir) const {
  const nlohmann::json was = io::read_json_file(dir / "cfg.json");
  Crosscoder probe = model_;
  probe.norm_scales.assign(spec_.sources(), 1.0);
  const nlohmann::json now = config_json(spec_, cfg_, probe, 0, 0, 1.0, run_info_);
  return first_difference(without_progress(was), without_progress(now), "");
}

void Trainer::resume(const fs::path& dir) {
  io::TensorStore store((dir / "trainer_state.safetensors").string());
  io::read_safetensors(dir / "trainer_state.safetensors", store);
  const int64_t dict = spec_.dict_size, dim = spec_.total_dim(), msrc = spec_.sources();
  Params<float>* states[] = {&model_.params, &adam_.m, &adam_.v};
  const char* prefixes[] = {"param.", "adam.m.", "adam.v."};
  for (int s = 0; s < 3; ++s) {
    states[s]->resize(dict, dim);
    states[s]->for_each([&](const char* name, AlignedVector<float>& v) {
      fetch(store, std::string(prefixes[s]) + name, {static_cast<int64_t>(v.size())}, io::DType::kF32, v.data());
    });
  }
  int64_t counters[2];
  fetch(store, "counters", {2}, io::DType::kI64, counters);
  adam_.t = counters[0];
  rows_seen_ = counters[1];
  fetch(store, "theta", {}, io::DType::kF64, &model_.theta);
  model_.norm_scales.resize(msrc);
  fetch(store, "norm_scales", {msrc}, io::DType::kF64, model_.norm_scales.data());
  dead_.resize(dict);
  fetch(store, "dead_counters", {dict}, io::DType::kI64, dead_.data());
  estimate_aux_scale();  // a pure function of the data and the restored norm scales
  initialized_ = true;
}

Crosscoder load_crosscoder(const fs::path& dir) {
  const fs::path cfg_path = dir / "cfg.json";
  std::ifstream f(cfg_path);
  if (!f) throw InputError(cfg_path.string(), "cannot open crosscoder config");
  nlohmann::json j;
  try {
    f >> j;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(cfg_path.string(), std::string("malformed JSON: ") + e.what());
  }
  Crosscoder m;
  try {
    for (const auto& s : j.at("sources")) {
      m.spec.names.push_back(s.at("name").get<std::string>());
      m.spec.dims.push_back(s.at("dim").get<int64_t>());
    }
    m.spec.dict_size = j.at("dict_size").get<int64_t>();
    m.spec.sparsity = parse_sparsity(j.at("sparsity").get<std::string>());
    m.spec.k = j.at("k").get<int64_t>();
    m.spec.l1_coeff = j.at("l1_coeff").get<double>();
    m.spec.recon = parse_recon(j.at("recon_loss").get<std::string>());
    m.spec.aux_alpha = j.at("aux_alpha").get<double>();
    m.spec.aux_k_max = j.at("aux_k_max").get<int64_t>();
    m.theta = j.at("theta").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(cfg_path.string(), std::string("missing or mistyped field: ") + e.what());
  }
  m.spec.validate();
  const fs::path wpath = dir / "crosscoder.safetensors";
  io::TensorStore store(wpath.string());
  io::read_safetensors(wpath, store);
  const auto off = m.spec.offsets();
  const int64_t dict = m.spec.dict_size, dim = m.spec.total_dim();
  m.params.resize(dict, dim);
  m.norm_scales.resize(m.spec.sources());
  fetch(store, "encoder.bias", {dict}, io::DType::kF32, m.params.b_enc.data());
  for (int64_t s = 0; s < m.spec.sources(); ++s) {
    const int64_t dm = m.spec.dims[s];
    const std::string n = std::to_string(s);
    std::vector<float> enc(dm * dict), dec(dict * dm);
    fetch(store, "encoder." + n + ".weight", {dm, dict}, io::DType::kF32, enc.data());
    fetch(store, "decoder." + n + ".weight", {dict, dm}, io::DType::kF32, dec.data());
    fetch(store, "decoder." + n + ".bias", {dm}, io::DType::kF32, m.params.b_dec.data() + off[s]);
    float scale = 1;
    fetch(store, "norm_scale." + n, {}, io::DType::kF32, &scale);
    m.norm_scales[s] = j["sources"][s].value("norm_scale", static_cast<double>(scale));  // f64 copy
    for (int64_t j2 = 0; j2 < dict; ++j2)
      for (int64_t i = 0; i < dm; ++i) {
        m.params.enc[j2 * dim + off[s] + i] = enc[i * dict + j2];
        m.params.dec[j2 * dim + off[s] + i] = dec[j2 * dm + i];
      }
  }
  return m;
}

}  // namespace ct::crosscoder
