// crosstrace trace MODEL_A MODEL_B [MODEL_C ...] [--json] [--threads N] [--seed S] [--samples N]
//
// Opens every model (InputError -> exit 2 for an unreadable one), extracts the comparable
// components of each, and traces every pair i < j (lineage/trace.h). Pairs without a comparable
// component are results (verdict inconclusive with a note), not errors. With --json the document of
// CONTRACTS.md section 5 goes to stdout and progress to stderr.
#include <algorithm>
#include <charconv>
#include <memory>
#include <cstdio>
#include <iostream>

#include "anatomy/anatomy.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/exec_context.h"
#include "io/checkpoint.h"
#include "lineage/blocks.h"
#include "lineage/trace.h"
#include "report/trace_report.h"

namespace ct::cli {
namespace {

constexpr const char* kTraceUsage = "crosstrace trace MODEL_A MODEL_B [MODEL_C ...] [--json] [--threads N] [--seed S] [--samples N]";

uint64_t parse_u64(const std::string& option, const std::string& v, uint64_t lo, uint64_t hi) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi) {
    throw InputError(option, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + ", found '" + v + "'");
  }
  return n;
}

struct LoadedModel {
  io::TensorStore store;
  anatomy::Anatomy anatomy;
  std::vector<lineage::ComponentBlocks> components;
};

}  // namespace

int run_trace(int argc, char** argv) {
  const ArgSpec spec{{"--seed", "--samples"}, {}, 2, -1, kTraceUsage};
  const Args args = parse_args(argc, argv, 2, spec);
  lineage::TraceOptions options;
  const uint64_t seed = args.options.count("--seed") ? parse_u64("--seed", args.get("--seed"), 0, UINT64_MAX) : 0;
  if (args.options.count("--samples")) options.samples = static_cast<int64_t>(parse_u64("--samples", args.get("--samples"), 8, 65536));
  options.localize_samples = std::min(options.localize_samples, options.samples);

  StderrProgress progress;
  NullProgress quiet;
  ExecContext ctx(args.threads, seed, args.json ? static_cast<ProgressSink*>(&quiet) : &progress);

  // Stores are kept at stable addresses: components point into them.
  std::vector<std::unique_ptr<LoadedModel>> models;
  std::vector<report::TracedModel> traced;
  for (const auto& path : args.positional) {
    auto m = std::make_unique<LoadedModel>();
    m->store = io::open_checkpoint(path);
    m->anatomy = anatomy::describe_model(m->store, io::model_directory(path));
    m->components = lineage::extract_components(m->store, m->anatomy);
    traced.push_back({path, anatomy::family_name(m->anatomy.family)});
    models.push_back(std::move(m));
  }
  std::vector<lineage::PairTrace> pairs;
  const int64_t n = static_cast<int64_t>(models.size());
  ctx.progress().begin("trace", n * (n - 1) / 2, "pairs");
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      lineage::PairTrace p = lineage::trace_pair(models[i]->components, models[j]->components, options, ctx);
      p.a = i;
      p.b = j;
      pairs.push_back(std::move(p));
      ctx.progress().update(static_cast<int64_t>(pairs.size()));
    }
  }
  ctx.progress().end();
  if (args.json) {
    std::cout << report::trace_to_json(traced, pairs, options, seed).dump(2) << '\n';
  } else {
    std::cout << report::trace_text(traced, pairs);
  }
  return 0;
}

}  // namespace ct::cli
