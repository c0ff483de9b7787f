// Crosscoder training: a row source interface (the activation store plugs in here later), the
// trained model with its normalisation and inference threshold, and the trainer (schedules, AuxK
// dead-latent tracking, threshold EMA, Adam, progress, checkpoints that resume bit-exactly).
//
// Data: a RowSource yields rows of the M sources concatenated, [count, D] f32, addressed by a row
// number that wraps modulo rows(); the trainer reads rows [rows_seen, rows_seen + B) each step, so
// a resumed run reads the same rows as an uninterrupted one.
//
// Checkpoint directory (CONTRACTS.md section 6): cfg.json, crosscoder.safetensors with
// encoder.m.weight [d_m, F], encoder.bias [F], decoder.m.weight [F, d_m], decoder.m.bias [d_m],
// threshold [F] (theta / w_j; BatchTopK and TopK only), norm_scale.m []; weights are those of the
// normalised space the model was trained in (cfg.json "weights_space": "normalized"; fold with
// fold_norm_scales for raw activations). trainer_state.safetensors holds the Adam moments, step,
// rows seen, theta (f64) and dead counters, so that resume continues bit-identically.
//
// Determinism: with a fixed seed and thread count, training is bit-identical run to run.
// Ownership: the trainer keeps a reference to the source and the context, which must outlive it.
// Thread-safety: one caller at a time. Failure: InputError for bad configs, mismatched sources and
// malformed checkpoints (naming the file); RuntimeFailure when writing fails.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "crosscoder/model.h"
#include "crosscoder/optim.h"

namespace ct::crosscoder {

class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual std::vector<int64_t> dims() const = 0;
  virtual int64_t rows() const = 0;  // > 0
  // Rows first .. first+count-1 (mod rows()) into out [count, D].
  virtual void read(int64_t first, int64_t count, float* out) const = 0;
};

// Rows held in memory, one matrix per source ([rows, d_m] row-major).
class InMemorySource : public RowSource {
 public:
  // Throws InputError when the sources' row counts differ or a matrix is not rows x d_m.
  InMemorySource(std::vector<std::vector<float>> sources, std::vector<int64_t> dims);
  std::vector<int64_t> dims() const override { return dims_; }
  int64_t rows() const override { return rows_; }
  void read(int64_t first, int64_t count, float* out) const override;

 private:
  std::vector<std::vector<float>> data_;
  std::vector<int64_t> dims_;
  int64_t rows_ = 0;
};

// A trained (or training) crosscoder with what inference needs.
struct Crosscoder {
  CrosscoderSpec spec;
  Params<float> params;              // normalised space
  std::vector<double> norm_scales;   // [M]; 1 when not normalised
  double theta = -1;                 // BatchTopK inference threshold on r * w_j; < 0: not set

  // Threshold mode when theta is set (or for L1), else training mode with spec.k.
  CodeMode inference_mode() const;
};

struct TrainConfig {
  int64_t steps = 1000;
  int64_t batch_size = 4096;
  AdamConfig adam;
  int64_t warmup_steps = 1000;
  double decay_frac = 0.8;            // linear decay to 0 over the last 20%
  double l1_warmup_frac = 0.05;
  int64_t k_init = 0;                 // > k: anneal from k_init to k
  double k_anneal_frac = 0.05;
  int64_t dead_tokens = 10'000'000;   // T_dead
  bool aux_k = true;
  // AuxK is weighted relative to the reconstruction loss's scale: the loss uses
  // spec.aux_alpha * recon_scale, recon_scale = the reconstruction loss of predicting the mean
  // (squared: mean_b sum_m ||x_b^m - mean^m||^2; norm: mean over b and m of ||x_b^m - mean^m||),
  // estimated once on the first norm_rows rows in the space the model trains in. With it alpha
  // means what it means in Gao et al., whose main loss is the MSE divided by that same constant
  // (specs/crosscoders.md 3.4); without it alpha = 1/32 is ~D times weaker than intended.
  bool aux_relative = true;
  int64_t threshold_start_step = 1000;
  double threshold_decay = 0.999;
  double init_norm = 0;               // 0: 1.0 for BatchTopK/TopK, 0.05 for L1
  bool normalize = true;
  int64_t norm_rows = 16384;          // rows for the scale estimate
  bool geometric_median_init = true;
  bool same_init_blocks = true;       // false: independent decoder blocks per source (null test)
  uint64_t seed = 0;
};

struct StepStats {
  int64_t step = 0;
  double loss = 0, recon_loss = 0, aux_loss = 0, sparsity_loss = 0;
  double l0 = 0, grad_norm = 0, lr = 0, dead_fraction = 0;
  double min_kept_score = 0;  // threshold EMA input of this step
  double theta = -1;          // threshold after this step
  int64_t k = 0, aux_k = 0;
};

class Trainer {
 public:
  // Throws InputError when spec and source disagree on the sources.
  Trainer(CrosscoderSpec spec, TrainConfig cfg, const RowSource& source, ExecContext& ctx);

  // Norm scales and initial parameters (from the first batch). Called by step() when needed.
  void initialize();
  StepStats step();
  // Runs until cfg.steps steps are done, reporting progress (rows) to ctx.progress().
  void train();

  const Crosscoder& model() const { return model_; }
  Crosscoder& model() { return model_; }
  const AdamState<float>& adam() const { return adam_; }
  // The factor AuxK's alpha is multiplied by (TrainConfig::aux_relative; 1 when off).
  double aux_scale() const { return aux_scale_; }
  const std::vector<int64_t>& dead_counters() const { return dead_; }
  int64_t steps_done() const { return adam_.t; }
  int64_t rows_seen() const { return rows_seen_; }
  const TrainConfig& config() const { return cfg_; }

  // Writes cfg.json, crosscoder.safetensors and trainer_state.safetensors into `dir`.
  void save(const std::filesystem::path& dir) const;
  // Restores the state written by save() (same spec and config expected).
  void resume(const std::filesystem::path& dir);
  // Free-form strings recorded in cfg.json under "run" (source paths, data options); part of the
  // configuration that config_difference compares.
  void set_run_info(std::map<std::string, std::string> info) { run_info_ = std::move(info); }
  // Empty when the cfg.json in `dir` describes this trainer's configuration, else one phrase naming
  // the first field that differs with both values ("dict_size is 64 in the checkpoint, 128 now").
  // Progress fields (steps done, rows seen, theta, norm scales) are not compared.
  // Throws InputError when dir/cfg.json is unreadable.
  std::string config_difference(const std::filesystem::path& dir) const;

 private:
  CrosscoderSpec spec_;
  TrainConfig cfg_;
  const RowSource& source_;
  ExecContext& ctx_;
  Crosscoder model_;
  AdamState<float> adam_;
  Params<float> grads_;
  std::vector<int64_t> dead_;  // tokens since each latent last fired
  std::vector<uint8_t> dead_mask_;
  std::vector<float> batch_;
  int64_t rows_seen_ = 0;
  double aux_scale_ = 1;
  bool initialized_ = false;
  std::map<std::string, std::string> run_info_;

  void read_batch(int64_t first, int64_t count, std::vector<float>& out) const;
  // aux_scale_ from the first norm_rows rows, with the current norm scales.
  void estimate_aux_scale();
};

// Loads a crosscoder written by Trainer::save. Throws InputError naming the file on a missing or
// mis-shaped tensor.
Crosscoder load_crosscoder(const std::filesystem::path& dir);

}  // namespace ct::crosscoder
