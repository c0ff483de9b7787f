// Crosscoder (M >= 1 sources; M = 1 is an SAE): parameters, forward pass, losses and gradients.
//
// Math (specs/crosscoders.md sections 2-3): pre_j = sum_m (x^m . W_enc^m)_j + b_enc_j (no input-side
// bias subtraction); sparse code z by BatchTopK, TopK or ReLU (L1), or by the inference threshold;
// x^m_hat = sum_j z_j d_j^m + b_dec^m. Latent weight w_j = sum_m ||d_j^m|| scores BatchTopK/TopK and
// weights the L1 penalty.
//
// Layout: the M sources are concatenated, D = sum_m d_m, source m at columns [offset_m,
// offset_{m+1}). The encoder is stored latent-major and transposed, enc [F, D] with enc[j, off_m + i]
// = W_enc^m[i, j], so that every latent's encoder and decoder rows are contiguous for the sparse
// backward. Checkpoints use the CONTRACTS names and shapes (checkpoint.h converts).
//
// T is float (training) or double (exact tests); both are instantiated.
// Ownership: plain value types. Thread-safety: a const model may be used by several callers;
// compute_loss writes only its outputs. Failure: shape mismatches are CT_CHECK (caller invariants).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/aligned_vector.h"
#include "core/exec_context.h"
#include "kernels/sparse/sparse.h"

namespace ct::crosscoder {

enum class Sparsity { kBatchTopK, kTopK, kL1 };
enum class ReconLoss {
  kSquared,  // (1/B) sum_b sum_m ||e_b^m||^2
  kNorm,     // (1/(B M)) sum_b sum_m ||e_b^m||   (the dictionary_learning default)
};

const char* sparsity_name(Sparsity s);
Sparsity parse_sparsity(const std::string& s);  // throws InputError
const char* recon_name(ReconLoss r);
ReconLoss parse_recon(const std::string& s);    // throws InputError

// The shape and loss of a crosscoder (what cfg.json stores besides training hyper-parameters).
struct CrosscoderSpec {
  std::vector<std::string> names;  // one per source
  std::vector<int64_t> dims;       // d_m
  int64_t dict_size = 0;           // F
  Sparsity sparsity = Sparsity::kBatchTopK;
  int64_t k = 32;                  // BatchTopK: mean active per sample; TopK: per sample
  double l1_coeff = 0.0;           // L1 only
  ReconLoss recon = ReconLoss::kSquared;
  double aux_alpha = 1.0 / 32;     // AuxK weight (BatchTopK / TopK)
  int64_t aux_k_max = 0;           // 0: D / 2

  int64_t sources() const { return static_cast<int64_t>(dims.size()); }
  int64_t total_dim() const;
  std::vector<int64_t> offsets() const;  // [M + 1]
  // Throws InputError (where = "crosscoder config") on empty or non-positive sizes.
  void validate() const;
};

template <typename T>
struct Params {
  int64_t dict = 0, dim = 0;
  AlignedVector<T> enc;    // [F, D]  enc[j, off_m + i] = W_enc^m[i, j]
  AlignedVector<T> b_enc;  // [F]
  AlignedVector<T> dec;    // [F, D]  dec[j, off_m + i] = W_dec^m[j, i]
  AlignedVector<T> b_dec;  // [D]

  void resize(int64_t f, int64_t d) {
    dict = f;
    dim = d;
    enc.assign(f * d, T(0));
    b_enc.assign(f, T(0));
    dec.assign(f * d, T(0));
    b_dec.assign(d, T(0));
  }
  // The one tensor list: fn(name, std::vector<T>&) in a fixed order.
  template <typename Fn>
  void for_each(Fn&& fn) {
    fn("enc", enc);
    fn("b_enc", b_enc);
    fn("dec", dec);
    fn("b_dec", b_dec);
  }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    fn("enc", enc);
    fn("b_enc", b_enc);
    fn("dec", dec);
    fn("b_dec", b_dec);
  }
};

// w_j = sum_m ||dec[j, source m]||.  out [F].
template <typename T>
void latent_weights(const Params<T>& p, const std::vector<int64_t>& offsets, std::vector<T>& out);

// How the code is chosen for one call.
struct CodeMode {
  enum Kind { kTrain, kThreshold } kind = kTrain;
  int64_t k = 0;          // training k (may differ from spec.k while annealing); 0: spec.k
  double theta = 0.0;     // threshold mode: keep iff r * w_j > theta (L1 models: r > 0)
  // [F] w_j to score with instead of the current decoder norms. A model whose normalisation was
  // folded into its weights must score with the normalised-space norms, or selection changes.
  const std::vector<double>* score_weights = nullptr;
};

// Wall-clock seconds spent in each phase of training steps, accumulated over the calls that are
// given it (benchmark profiling; a null pointer times nothing). The forward/backward phases are
// filled by compute_loss, grad_norm and adam by adam_update.
struct StepTimes {
  double weights = 0;      // w_j = sum_m ||d_j^m|| (decoder block norms)
  double encoder = 0;      // encoder GEMM x [B, D] * enc^T -> acts [B, F]
  double select = 0;       // BatchTopK / TopK / filter selection -> code
  double decode = 0;       // sparse decoder forward -> recon [B, D]
  double loss = 0;         // reconstruction loss, g = dL/dx_hat [B, D], b_dec gradient
  double aux = 0;          // AuxK forward: masked top-k, aux decode, residual statistics and gradient
  double grad_latent = 0;  // g_pre [nnz] = dec rows . g rows at kept entries (+ L1 term)
  double grad_dec = 0;     // latent index + decoder-weight gradient (scatter of code * g)
  double grad_enc = 0;     // encoder-weight and b_enc gradient (scatter of g_pre * x)
  double grad_aux = 0;     // AuxK backward products
  double grad_norm = 0;    // global gradient norm (clipping)
  double adam = 0;         // fused Adam update of every parameter
  double total() const {
    return weights + encoder + select + decode + loss + aux + grad_latent + grad_dec + grad_enc + grad_aux +
           grad_norm + adam;
  }
};

struct LossOptions {
  CodeMode mode;
  double l1_coeff = 0.0;              // current lambda (after warm-up)
  const uint8_t* dead = nullptr;      // [F] dead-latent mask for AuxK, or null (no AuxK)
  bool want_grads = true;
  StepTimes* times = nullptr;         // phase timers (benchmarks), or null
};

// Results of one forward (+ backward) on a batch.
template <typename T>
struct BatchResult {
  kernels::sparse::SparseCode<T> code;
  kernels::sparse::SparseCode<T> aux_code;
  AlignedVector<T> acts;              // [B, F] pre-activations without b_enc
  AlignedVector<T> recon;             // [B, D] x_hat
  AlignedVector<T> grad_recon;        // [B, D] dL/dx_hat (compute_loss scratch, kept to reuse its memory)
  std::vector<T> w;                   // [F]
  double loss = 0, recon_loss = 0, sparsity_loss = 0, aux_loss = 0;
  std::vector<double> sq_error;       // [M] sum over the batch of ||e^m||^2
  double l0 = 0;                      // mean non-zeros per sample
  T min_kept_score = 0;               // smallest positive kept r * w_j (threshold EMA input)
  int64_t aux_k = 0;                  // k_aux used (0 when AuxK off)
};

// Forward pass, loss, and (with want_grads) the gradients of every parameter into `grads`
// (overwritten). x [B, D] concatenated sources.
template <typename T>
void compute_loss(const CrosscoderSpec& spec, const Params<T>& p, const T* x, int64_t batch,
                  const LossOptions& opt, BatchResult<T>& out, Params<T>* grads,
                  const ExecContext& ctx);

// Only the code and reconstruction (no loss): for analysis and inference.
template <typename T>
void encode_decode(const CrosscoderSpec& spec, const Params<T>& p, const T* x, int64_t batch,
                   const CodeMode& mode, BatchResult<T>& out, const ExecContext& ctx);

}  // namespace ct::crosscoder
