// The compare pipeline shared by `crosstrace compare` and `crosstrace demo` (internal to cli/).
//
// Stages, each written atomically to REPORT_DIR/stages/<name>.json with the inputs it was computed
// from; a rerun with the same inputs reuses finished stages (resume after interruption):
//   anatomy  - describe_model, model card, registry shape matches, the five axes (per model)
//   lineage  - lineage::trace_pair on the comparable components, declared vs traced lineage
//   features - paired vision-tower activations on --data, a crosscoder trained and analysed
// Then report.json (schemas/report.schema.json), report.md and report.html are written
// atomically from the stage results (report/compare_report.h formats them).
//
// Ownership: plain values. Thread-safety: one pipeline per ExecContext.
// Failure: InputError (exit 2) for an unreadable model, an empty or missing --data directory, or
// a REPORT_DIR that already holds a report without --force; RuntimeFailure (exit 1) for failed writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "models/image.h"

namespace ct::cli {

struct CompareOptions {
  std::filesystem::path model_a, model_b;
  std::filesystem::path data;   // empty: no features stage
  std::filesystem::path out;
  bool force = false;
  int64_t dict_size = 0;        // 0: automatic
  int64_t steps = 0;            // 0: automatic
  int64_t max_images = 256;
  std::string invoked_as = "crosstrace compare";
};

struct CompareOutcome {
  std::filesystem::path html, markdown, json;
  nlohmann::ordered_json summary;  // short machine-readable summary (for --json)
};

CompareOutcome run_compare_pipeline(const CompareOptions& opt, ExecContext& ctx);

// One image of the data directory, centre-cropped to a square (so every model's preprocessing
// sees the same region and patches align).
struct DataImage {
  std::string name;
  models::RgbImage square;
};

struct DataSet {
  std::filesystem::path dir;
  std::vector<DataImage> images;
  std::vector<std::string> prompts;
};

// The images of list_data_dir (cli/data_dir.h: *.png / *.jpg / *.jpeg in name order, at most
// max_images), decoded and centre-cropped, and the prompts.txt lines. InputError for a missing
// directory, one without images, or an image that does not decode.
DataSet read_data_dir(const std::filesystem::path& dir, int64_t max_images);

// The features stage (compare_features.cpp): the document described in compare_report.h.
nlohmann::ordered_json features_stage(const std::filesystem::path& model_a, const std::filesystem::path& model_b,
                                      const DataSet& data, const CompareOptions& opt, ExecContext& ctx);

}  // namespace ct::cli
