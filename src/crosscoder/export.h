// Exports of a trained crosscoder to the layouts other tools load (specs/crosscoders.md 12).
//
// Both exports write weights for RAW activations: the per-source normalisation scales are folded
// into the weights (init.h fold_norm_scales), so "normalize_activations" is "none".
//
// SAELens (M = 1 only): OUT/cfg.json + OUT/sae_weights.safetensors with
//   W_enc [d, F], b_enc [F], W_dec [F, d], b_dec [d], and threshold [F] for JumpReLU.
//   architecture: BatchTopK with a trained threshold -> "jumprelu" with the per-latent threshold
//   theta / w_j (the rule r * w_j > theta on the unscaled activation r, spec section 5; w_j from
//   the normalised-space decoder, which folding does not change for the latent); BatchTopK without
//   a threshold and TopK -> "topk" with "k"; L1 -> "standard". apply_b_dec_to_input is false (our
//   encoder does not subtract b_dec).
// dictionary_learning CrossCoder (all source widths equal): OUT/config.json + OUT/model.safetensors
//   with encoder.weight [M, d, F], encoder.bias [F], decoder.weight [M, F, d], decoder.bias [M, d],
//   k [] (I64, BatchTopK/TopK) and threshold [] (F32 scalar on r * sum_m ||d_j^m||, computed with
//   the exported raw-space decoder norms; written only when every norm scale is equal, because
//   unequal scales change the ranking of r * w_j; -1 otherwise, which dictionary_learning treats
//   as "no threshold"). config.json names the code normalisation ("crosscoder": sum of per-model
//   decoder norms) and the dict class; the numeric code_normalization_id of that library is not
//   written (its value was not verified here).
//
// Ownership: none kept. Thread-safety: re-entrant. Failure: InputError when the layout cannot
// express the model (SAELens with M != 1, dictionary_learning with unequal widths) or OUT holds
// something other than an earlier export; RuntimeFailure when writing fails.
#pragma once

#include <filesystem>
#include <string>

#include "crosscoder/trainer.h"

namespace ct::crosscoder {

void export_saelens(const Crosscoder& model, const std::filesystem::path& out, const std::string& source_dir);
void export_dictionary_learning(const Crosscoder& model, const std::filesystem::path& out,
                                const std::string& source_dir);

}  // namespace ct::crosscoder
