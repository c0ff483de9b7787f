// mPLUG behind the VlmPipeline interface (models/vlm_pipeline.h): `crosstrace run --task vqa|caption`
// and `crosstrace harvest` on mPLUG checkpoints. The question is tokenised with the BERT WordPiece
// vocabulary next to the checkpoint ([CLS] q [SEP], lower-cased); the image is squashed to the
// checkpoint's image_res (models/image); answers come from the beam search of models/mplug.h
// (sampling options do not apply and are rejected); hooks fire during the encoder forward and, for
// decoder.*, during a teacher-forced pass over the generated answer (CONTRACTS.md 2).
//
// Ownership and thread-safety as VlmPipeline. Failure: InputError from loading (missing tensor,
// config, vocab.txt), bad requests (--raw-prompt, an empty VQA question, a bad --task) and
// sampling options.
#pragma once

#include <filesystem>
#include <memory>

#include "models/vlm_pipeline.h"

namespace ct::models {

std::unique_ptr<VlmPipeline> open_mplug_pipeline(const std::filesystem::path& model);

}  // namespace ct::models
