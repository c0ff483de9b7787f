// Crosscoder exports (see export.h).
#include "crosscoder/export.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "crosscoder/init.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"

namespace ct::crosscoder {
namespace fs = std::filesystem;
namespace {

io::TensorToWrite tensor(std::string name, const void* data, std::vector<int64_t> shape,
                         io::DType dtype = io::DType::kF32) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return {std::move(name), dtype, std::move(shape),
          std::span<const std::byte>(static_cast<const std::byte*>(data), n * io::dtype_size(dtype))};
}

void write_json(const fs::path& p, const nlohmann::json& j) {
  const std::string text = j.dump(2) + "\n";
  io::write_file_atomically(p, [&](std::FILE* f) { io::write_bytes(f, text.data(), text.size(), p); });
}

void prepare_out(const fs::path& out, const char* marker) {
  if (fs::exists(out) && !fs::is_directory(out)) throw InputError(out.string(), "exists and is not a directory");
  if (fs::exists(out / "crosscoder.safetensors"))
    throw InputError(out.string(), "holds a crosscoder checkpoint; export into another directory");
  if (fs::exists(out) && !fs::is_empty(out) && !fs::exists(out / marker))
    throw InputError(out.string(), "is not empty and holds no earlier export; choose an empty directory");
  fs::create_directories(out);
}

// Per-source blocks of the folded (raw-space) parameters in the contract orientation.
struct Blocks {
  std::vector<std::vector<float>> enc;  // [M][d_m * F]  W_enc^m [d_m, F]
  std::vector<std::vector<float>> dec;  // [M][F * d_m]  W_dec^m [F, d_m]
  std::vector<std::vector<float>> bdec; // [M][d_m]
};

Blocks blocks_of(const CrosscoderSpec& spec, const Params<float>& p) {
  const auto off = spec.offsets();
  const int64_t dict = spec.dict_size, dim = spec.total_dim();
  Blocks b;
  for (int64_t m = 0; m < spec.sources(); ++m) {
    const int64_t dm = spec.dims[m];
    std::vector<float> e(dm * dict), d(dict * dm);
    for (int64_t j = 0; j < dict; ++j)
      for (int64_t i = 0; i < dm; ++i) {
        e[i * dict + j] = p.enc[j * dim + off[m] + i];
        d[j * dm + i] = p.dec[j * dim + off[m] + i];
      }
    b.enc.push_back(std::move(e));
    b.dec.push_back(std::move(d));
    b.bdec.emplace_back(p.b_dec.begin() + off[m], p.b_dec.begin() + off[m + 1]);
  }
  return b;
}

}  // namespace

void export_saelens(const Crosscoder& model, const fs::path& out, const std::string& source_dir) {
  const auto& spec = model.spec;
  if (spec.sources() != 1)
    throw InputError(source_dir, "SAELens holds single-model SAEs; this crosscoder has " +
                                     std::to_string(spec.sources()) + " sources (a per-source slice is not a faithful SAE)");
  prepare_out(out, "sae_weights.safetensors");
  const int64_t dict = spec.dict_size, d = spec.dims[0];
  const Params<float> raw = fold_norm_scales(spec, model.params, model.norm_scales);
  const Blocks b = blocks_of(spec, raw);
  std::vector<float> w;
  latent_weights(model.params, spec.offsets(), w);  // normalised-space scoring weights
  std::string arch = "standard";
  std::vector<float> threshold;
  if (spec.sparsity != Sparsity::kL1) {
    if (spec.sparsity == Sparsity::kBatchTopK && model.theta >= 0) {
      arch = "jumprelu";
      threshold.resize(dict);
      for (int64_t j = 0; j < dict; ++j)
        threshold[j] = w[j] > 0 ? static_cast<float>(model.theta / w[j]) : INFINITY;
    } else {
      arch = "topk";
    }
  }
  std::vector<io::TensorToWrite> t{tensor("W_enc", b.enc[0].data(), {d, dict}),
                                   tensor("b_enc", raw.b_enc.data(), {dict}),
                                   tensor("W_dec", b.dec[0].data(), {dict, d}),
                                   tensor("b_dec", b.bdec[0].data(), {d})};
  if (!threshold.empty()) t.push_back(tensor("threshold", threshold.data(), {dict}));
  io::write_safetensors(out / "sae_weights.safetensors", t);
  nlohmann::json cfg{{"architecture", arch}, {"d_in", d}, {"d_sae", dict}, {"dtype", "float32"}, {"device", "cpu"},
                     {"apply_b_dec_to_input", false}, {"normalize_activations", "none"},
                     {"reshape_activations", "none"}};
  if (arch == "topk") {
    cfg["k"] = spec.k;
    cfg["rescale_acts_by_decoder_norm"] = true;  // our TopK ranks r * ||d_j||
  }
  cfg["metadata"] = {{"hook_name", spec.names[0]}, {"exported_by", "crosstrace"}, {"source_checkpoint", source_dir},
                     {"sparsity", sparsity_name(spec.sparsity)}, {"norm_scale_folded", model.norm_scales[0]}};
  write_json(out / "cfg.json", cfg);
}

void export_dictionary_learning(const Crosscoder& model, const fs::path& out, const std::string& source_dir) {
  const auto& spec = model.spec;
  for (int64_t d : spec.dims)
    if (d != spec.dims[0])
      throw InputError(source_dir, "the dictionary_learning CrossCoder needs equal source widths, found " +
                                       std::to_string(spec.dims[0]) + " and " + std::to_string(d));
  prepare_out(out, "model.safetensors");
  const int64_t msrc = spec.sources(), dict = spec.dict_size, d = spec.dims[0];
  const Params<float> raw = fold_norm_scales(spec, model.params, model.norm_scales);
  const Blocks b = blocks_of(spec, raw);
  std::vector<float> enc, dec, bdec;  // [M, d, F], [M, F, d], [M, d]
  for (int64_t m = 0; m < msrc; ++m) {
    enc.insert(enc.end(), b.enc[m].begin(), b.enc[m].end());
    dec.insert(dec.end(), b.dec[m].begin(), b.dec[m].end());
    bdec.insert(bdec.end(), b.bdec[m].begin(), b.bdec[m].end());
  }
  std::vector<io::TensorToWrite> t{tensor("encoder.weight", enc.data(), {msrc, d, dict}),
                                   tensor("encoder.bias", raw.b_enc.data(), {dict}),
                                   tensor("decoder.weight", dec.data(), {msrc, dict, d}),
                                   tensor("decoder.bias", bdec.data(), {msrc, d})};
  const int64_t k = spec.k;
  bool equal_scales = true;
  for (double s : model.norm_scales) equal_scales = equal_scales && s == model.norm_scales[0];
  // Raw-space w_j = w_j(normalised) / s when every scale is s, so theta_raw = theta / s.
  const float threshold =
      model.theta >= 0 && equal_scales ? static_cast<float>(model.theta / model.norm_scales[0]) : -1.0f;
  if (spec.sparsity != Sparsity::kL1) {
    t.push_back(tensor("k", &k, {}, io::DType::kI64));
    t.push_back(tensor("threshold", &threshold, {}));
  }
  io::write_safetensors(out / "model.safetensors", t);
  nlohmann::json cfg{{"dict_class", spec.sparsity == Sparsity::kL1 ? "CrossCoder" : "BatchTopKCrossCoder"},
                     {"activation_dim", d}, {"dict_size", dict}, {"num_layers", msrc},
                     {"code_normalization", "crosscoder"}, {"exported_by", "crosstrace"},
                     {"source_checkpoint", source_dir}, {"sources", spec.names},
                     {"norm_scales_folded", model.norm_scales},
                     {"threshold_note", equal_scales ? "theta / norm_scale" : "unset (-1): sources had unequal norm scales"}};
  if (spec.sparsity != Sparsity::kL1) cfg["k"] = k;
  write_json(out / "config.json", cfg);
}

}  // namespace ct::crosscoder
