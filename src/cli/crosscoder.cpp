// crosstrace crosscoder train | analyze | export | planted (CONTRACTS.md section 6).
//
// train: pairs the --source inputs (sources.h), checks them for NaN/Inf (--nonfinite reject: the
// first bad row is an input error; skip: such rows are counted and left out), shuffles rows with
// locality, and trains with progress on stderr. It writes an atomic checkpoint every
// --checkpoint-every steps and at the end. SIGINT/SIGTERM are blocked in every thread and polled
// between steps (no handler, no global flag): the step in flight finishes, a checkpoint is
// written, and the command exits 130 with a message; `--resume` continues bit-identically (same
// options and --threads). An --out that already holds a run is refused without --resume, and with
// --resume when its configuration differs (naming the field).
// analyze: per-latent and global statistics (analysis.h); with --source, on those rows, plus
// Latent Scaling of exclusive candidates and the top-activating rows of each latent.
// export: SAELens or dictionary_learning layouts (export.h).
// planted: a planted paired dataset (planted.h) as .npy files or activation stores.
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/interrupt_poll.h"
#include "core/error.h"
#include "core/exec_context.h"
#include "crosscoder/activation_store.h"
#include "crosscoder/analysis.h"
#include "crosscoder/export.h"
#include "crosscoder/planted.h"
#include "crosscoder/sources.h"
#include "crosscoder/trainer.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "io/npy.h"

namespace ct::cli {
namespace {
namespace fs = std::filesystem;
using namespace ct::crosscoder;

constexpr const char* kUsage =
    "crosstrace crosscoder train --source NAME=PATH ... --out DIR [--dict-size F] [--sparsity batchtopk|topk|l1] "
    "[--k K] [--l1-coeff X] [--steps N | --rows N] [--batch-size B] [--lr X] [--seed S] [--resume] "
    "[--nonfinite skip|reject] [--checkpoint-every N] [--k-init K] [--warmup N] [--dead-tokens N] "
    "[--shuffle-window W] [--no-shuffle] [--no-normalize] [--json]\n"
    "  crosstrace crosscoder analyze DIR [--source NAME=PATH ...] [--rows N] [--top N] [--json]\n"
    "  crosstrace crosscoder export DIR --format saelens|dictionary_learning --out DIR2\n"
    "  crosstrace crosscoder planted --out DIR [--rows N] [--seed S] [--concepts N] [--dim D] [--k-true K] "
    "[--exclusive-frac X] [--format npy|store] [--dtype f32|f16|bf16]";

int64_t parse_int(const std::string& option, const std::string& v, int64_t lo, int64_t hi) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi)
    throw InputError(option, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                                 ", found '" + v + "'");
  return n;
}

double parse_real(const std::string& option, const std::string& v, double lo, double hi) {
  double x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || !(x >= lo && x <= hi))
    throw InputError(option, "must be a number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                                 ", found '" + v + "'");
  return x;
}

// Pulls every "--source VALUE" out of argv (repeatable), leaving the rest for parse_args.
std::vector<SourceArg> take_sources(int argc, char** argv, std::vector<char*>& rest) {
  std::vector<SourceArg> out;
  for (int i = 0; i < argc; ++i) {
    if (i >= 3 && !std::strcmp(argv[i], "--source")) {
      if (i + 1 >= argc) throw InputError("--source", "needs a value NAME=PATH");
      out.push_back(parse_source_arg(argv[++i]));
    } else {
      rest.push_back(argv[i]);
    }
  }
  return out;
}

int64_t opt_int(const Args& a, const std::string& name, int64_t def, int64_t lo, int64_t hi) {
  return a.options.count(name) ? parse_int(name, a.get(name), lo, hi) : def;
}
double opt_real(const Args& a, const std::string& name, double def, double lo, double hi) {
  return a.options.count(name) ? parse_real(name, a.get(name), lo, hi) : def;
}

int run_train(int argc, char** argv) {
  std::vector<char*> rest;
  const std::vector<SourceArg> sources = take_sources(argc, argv, rest);
  const ArgSpec spec{{"--out", "--dict-size", "--sparsity", "--k", "--l1-coeff", "--steps", "--rows", "--batch-size",
                      "--lr", "--seed", "--nonfinite", "--checkpoint-every", "--k-init", "--warmup", "--dead-tokens",
                      "--shuffle-window"},
                     {"--resume", "--no-shuffle", "--no-normalize"}, 0, 0, kUsage};
  const Args args = parse_args(static_cast<int>(rest.size()), rest.data(), 3, spec);
  if (sources.empty()) throw InputError("--source", "at least one NAME=PATH is required (usage: " + std::string(kUsage) + ")");
  if (!args.options.count("--out")) throw InputError("--out", "is required");
  if (args.options.count("--steps") && args.options.count("--rows"))
    throw InputError("--rows", "give --steps or --rows, not both");
  const fs::path out = args.get("--out");
  const std::string nonfinite = args.get("--nonfinite", "reject");
  if (nonfinite != "reject" && nonfinite != "skip")
    throw InputError("--nonfinite", "expected skip or reject, found '" + nonfinite + "'");

  InterruptPoll interrupts;  // before the ExecContext starts worker threads
  StderrProgress progress;
  const uint64_t seed = static_cast<uint64_t>(opt_int(args, "--seed", 0, 0, INT64_MAX));
  ExecContext ctx(args.threads, seed, &progress);

  const PairedSource paired(sources);
  // Non-finite rows: found once up front, so training never meets them.
  std::vector<int64_t> bad = find_nonfinite_rows(paired, nonfinite == "reject" ? 1 : INT64_MAX);
  if (nonfinite == "reject" && !bad.empty()) {
    int64_t dim = 0;
    for (int64_t d : paired.dims()) dim += d;
    std::vector<float> row(dim);
    paired.read(bad[0], 1, row.data());
    size_t m = 0;
    for (int64_t off = 0, i = 0; i < dim; ++i) {
      if (i >= off + paired.dims()[m]) off += paired.dims()[m++];
      if (!std::isfinite(row[i])) break;
    }
    throw InputError(sources[m].text, "row " + std::to_string(bad[0]) +
                                          " holds a NaN or Inf (pass --nonfinite skip to leave such rows out)");
  }
  std::unique_ptr<SkipRowsSource> kept;
  const RowSource* data = &paired;
  if (!bad.empty()) {
    kept = std::make_unique<SkipRowsSource>(paired, bad);
    data = kept.get();
  }
  const int64_t window = opt_int(args, "--shuffle-window", 65536, 1, INT64_MAX);
  std::unique_ptr<ShuffledSource> shuffled;
  if (!args.has("--no-shuffle")) {
    shuffled = std::make_unique<ShuffledSource>(*data, window, seed);
    data = shuffled.get();
  }

  CrosscoderSpec cs;
  cs.names = paired.names();
  cs.dims = paired.dims();
  const int64_t max_d = *std::max_element(cs.dims.begin(), cs.dims.end());
  cs.dict_size = opt_int(args, "--dict-size", 16 * max_d, 1, int64_t{1} << 28);
  cs.sparsity = parse_sparsity(args.get("--sparsity", "batchtopk"));
  cs.k = opt_int(args, "--k", std::min<int64_t>(32, cs.dict_size), 1, cs.dict_size);
  cs.l1_coeff = opt_real(args, "--l1-coeff", 1.0, 0.0, 1e9);

  TrainConfig tc;
  tc.batch_size = opt_int(args, "--batch-size", 4096, 1, int64_t{1} << 24);
  const int64_t default_steps = std::max<int64_t>(1, data->rows() / tc.batch_size);  // one epoch
  tc.steps = args.options.count("--rows")
                 ? (parse_int("--rows", args.get("--rows"), 1, INT64_MAX / 2) + tc.batch_size - 1) / tc.batch_size
                 : opt_int(args, "--steps", default_steps, 1, INT64_MAX / 2);
  tc.adam.lr = opt_real(args, "--lr", 2e-4 / std::sqrt(static_cast<double>(cs.dict_size) / 16384.0), 0.0, 10.0);
  // Short runs scale the schedules of the full recipe down (specs 16: 1000 warm-up and threshold
  // steps, T_dead 10M tokens).
  tc.warmup_steps = opt_int(args, "--warmup", std::min<int64_t>(1000, tc.steps / 20), 0, INT64_MAX);
  tc.threshold_start_step = std::min<int64_t>(1000, tc.steps / 4);
  tc.dead_tokens = opt_int(args, "--dead-tokens", std::min<int64_t>(10'000'000, std::max<int64_t>(tc.batch_size, tc.steps * tc.batch_size / 100)),
                           1, INT64_MAX);
  tc.k_init = opt_int(args, "--k-init", 0, 0, cs.dict_size);
  tc.normalize = !args.has("--no-normalize");
  tc.seed = seed;
  const int64_t every = opt_int(args, "--checkpoint-every", std::max<int64_t>(1, std::min<int64_t>(1000, tc.steps / 10)), 1, INT64_MAX);

  Trainer trainer(cs, tc, *data, ctx);
  std::map<std::string, std::string> run;
  for (size_t m = 0; m < sources.size(); ++m) run["source." + std::to_string(m)] = sources[m].text;
  run["nonfinite"] = nonfinite;
  run["shuffle"] = args.has("--no-shuffle") ? "none" : "windows of " + std::to_string(window) + " rows";
  run["threads"] = std::to_string(ctx.threads());
  trainer.set_run_info(run);

  if (fs::exists(out / "cfg.json")) {
    if (!args.has("--resume")) {
      const nlohmann::json j = io::read_json_file(out / "cfg.json");
      throw InputError(out.string(), "already holds a crosscoder run (step " + j.value("steps_done", nlohmann::json(0)).dump() +
                                         "); pass --resume to continue it or choose another --out");
    }
    const std::string diff = trainer.config_difference(out);
    if (!diff.empty()) throw InputError((out / "cfg.json").string(), "cannot resume a different run: " + diff);
    trainer.resume(out);
    std::fprintf(stderr, "crosscoder train: resuming %s at step %lld of %lld\n", out.string().c_str(),
                 static_cast<long long>(trainer.steps_done()), static_cast<long long>(tc.steps));
  } else if (fs::exists(out) && !fs::is_directory(out)) {
    throw InputError(out.string(), "exists and is not a directory");
  }

  if (!bad.empty())
    std::fprintf(stderr, "crosscoder train: skipping %lld rows holding NaN or Inf (first: row %lld)\n",
                 static_cast<long long>(bad.size()), static_cast<long long>(bad[0]));
  progress.begin("crosscoder train", tc.steps * tc.batch_size, "rows");
  StepStats last;
  bool interrupted = false;
  while (trainer.steps_done() < tc.steps) {
    last = trainer.step();
    progress.update(trainer.steps_done() * tc.batch_size);
    if (interrupts.pending()) {
      interrupted = true;
      break;
    }
    if (trainer.steps_done() % every == 0 && trainer.steps_done() < tc.steps) trainer.save(out);
  }
  progress.end();
  trainer.save(out);
  if (interrupted) {
    std::fprintf(stderr, "crosscoder train: interrupted after step %lld of %lld; checkpoint written to %s; rerun with --resume to continue\n",
                 static_cast<long long>(trainer.steps_done()), static_cast<long long>(tc.steps), out.string().c_str());
    return 130;
  }
  nlohmann::json j{{"out", out.string()}, {"steps", trainer.steps_done()}, {"rows_seen", trainer.rows_seen()},
                   {"rows_available", data->rows()}, {"rows_skipped_nonfinite", static_cast<int64_t>(bad.size())},
                   {"final", {{"loss", last.loss}, {"recon_loss", last.recon_loss}, {"aux_loss", last.aux_loss},
                              {"l0", last.l0}, {"dead_fraction", last.dead_fraction}, {"theta", last.theta}}}};
  if (args.json) std::cout << j.dump(2) << "\n";
  else
    std::printf("trained %lld steps (%lld rows) into %s: loss %.5g, L0 %.2f, dead %.3f\n",
                static_cast<long long>(trainer.steps_done()), static_cast<long long>(trainer.rows_seen()),
                out.string().c_str(), last.loss, last.l0, last.dead_fraction);
  return 0;
}

// Sources given to analyze, in the crosscoder's source order (matched by name).
std::vector<SourceArg> order_sources(const std::vector<SourceArg>& given, const Crosscoder& m, const std::string& dir) {
  if (given.size() != m.spec.names.size())
    throw InputError("--source", "the crosscoder in " + dir + " has " + std::to_string(m.spec.names.size()) +
                                     " sources, " + std::to_string(given.size()) + " given");
  std::vector<SourceArg> out;
  for (const auto& name : m.spec.names) {
    auto it = std::find_if(given.begin(), given.end(), [&](const SourceArg& s) { return s.name == name; });
    if (it == given.end()) throw InputError("--source", "no source named '" + name + "' (the crosscoder's sources are named in its cfg.json)");
    out.push_back(*it);
  }
  return out;
}

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

int run_analyze(int argc, char** argv) {
  std::vector<char*> rest;
  const std::vector<SourceArg> given = take_sources(argc, argv, rest);
  const ArgSpec spec{{"--rows", "--top", "--batch-size", "--max-scaling"}, {}, 1, 1, kUsage};
  const Args args = parse_args(static_cast<int>(rest.size()), rest.data(), 3, spec);
  const std::string dir = args.positional[0];
  StderrProgress progress;
  NullProgress quiet;
  ExecContext ctx(args.threads, 0, args.json ? static_cast<ProgressSink*>(&quiet) : &progress);
  const Crosscoder model = load_crosscoder(dir);
  const auto& cs = model.spec;
  const int64_t msrc = cs.sources(), dict = cs.dict_size, dim = cs.total_dim();
  const auto off = cs.offsets();
  nlohmann::json j;
  j["crosscoder"] = dir;
  for (int64_t m = 0; m < msrc; ++m) j["sources"].push_back({{"name", cs.names[m]}, {"dim", cs.dims[m]}});
  j["dict_size"] = dict;
  j["sparsity"] = sparsity_name(cs.sparsity);
  j["relative_norm"] = "r = |d_B| / (|d_A| + |d_B|), normalised space; shared 0.3 < r < 0.7, exclusive r < 0.2 or r > 0.8";

  std::unique_ptr<PairedSource> src;
  AnalysisResult res;
  std::vector<std::vector<TopActivation>> top;
  if (!given.empty()) {
    src = std::make_unique<PairedSource>(order_sources(given, model, dir));
    const int64_t rows = std::min(src->rows(), opt_int(args, "--rows", 65536, 1, INT64_MAX));
    const int64_t batch = opt_int(args, "--batch-size", 4096, 1, 1 << 20);
    res = analyze(model, *src, rows, batch, ctx);
    top = top_activations(model, *src, rows, batch, opt_int(args, "--top", 5, 0, 1000), ctx);
    j["eval_rows"] = rows;
    for (int64_t m = 0; m < msrc; ++m) j["fve"][cs.names[m]] = res.fve[m];
    j["fve_definition"] = "dataset level: 1 - sum ||x - x_hat||^2 / sum ||x - mean||^2 over the evaluation rows";
    j["l0"] = {{"train", res.l0_train}, {"threshold", res.l0_threshold}};
    j["mean_l0"] = res.l0_threshold;
    j["dead_fraction"] = res.dead_fraction;
    j["dead_definition"] = "latents that never fire (inference mode) on the evaluation rows";
  } else {
    // Weights only: bins from r, no frequencies (nothing is known to be dead).
    res.latents.resize(dict);
    res.r_histogram.assign(20, 0);
    std::map<std::string, int64_t> counts;
    for (int64_t l = 0; l < dict; ++l) {
      LatentStats& s = res.latents[l];
      const float* row = model.params.dec.data() + l * dim;
      auto norm = [&](int64_t b, int64_t e) {
        double a = 0;
        for (int64_t i = b; i < e; ++i) a += static_cast<double>(row[i]) * row[i];
        return std::sqrt(a);
      };
      s.frequency = std::nan("");
      if (msrc == 2) {
        s.norm_a = norm(off[0], off[1]);
        s.norm_b = norm(off[1], off[2]);
        s.r = relative_norm(s.norm_a, s.norm_b);
        s.delta_norm = delta_norm(s.norm_a, s.norm_b);
        double d = 0;
        for (int64_t i = 0; cs.dims[0] == cs.dims[1] && i < cs.dims[0]; ++i) d += static_cast<double>(row[off[0] + i]) * row[off[1] + i];
        s.cosine = cs.dims[0] == cs.dims[1] && s.norm_a > 0 && s.norm_b > 0 ? d / (s.norm_a * s.norm_b) : std::nan("");
        s.bin = bin_of(s.r, false, cs.names[0], cs.names[1]);
        ++res.r_histogram[std::min<int64_t>(19, static_cast<int64_t>(s.r * 20))];
      } else {
        s.norm_a = norm(0, dim);
        s.bin = "alive";
      }
      ++counts[s.bin];
    }
    res.bin_counts.assign(counts.begin(), counts.end());
    j["eval_rows"] = 0;
    j["note"] = "no --source given: frequencies, FVE, L0 and dead latents need evaluation rows";
  }
  for (const auto& [bin, n] : res.bin_counts) j["bin_counts"][bin] = n;
  j["r_histogram"] = {{"bins", 20}, {"range", {0.0, 1.0}}, {"counts", res.r_histogram}, {"dead_excluded", !given.empty()}};
  j["latents"] = nlohmann::json::array();
  for (int64_t l = 0; l < dict; ++l) {
    const LatentStats& s = res.latents[l];
    nlohmann::json lj{{"index", l}, {"bin", s.bin}, {"frequency", finite_or_null(s.frequency)}};
    if (msrc == 2) {
      lj["r"] = s.r;
      lj["delta_norm"] = s.delta_norm;
      lj["cosine"] = finite_or_null(s.cosine);
      lj["decoder_norms"] = {s.norm_a, s.norm_b};
    } else {
      lj["decoder_norm"] = s.norm_a;
    }
    if (!top.empty()) {
      lj["top"] = nlohmann::json::array();
      for (const auto& t : top[l]) {
        nlohmann::json tj{{"row", t.row}, {"value", t.value}};
        if (src->has_input_ids()) tj["input_id"] = src->input_id(t.row);
        lj["top"].push_back(tj);
      }
    }
    j["latents"].push_back(std::move(lj));
  }
  // Latent Scaling of the exclusive candidates (most extreme r first), with --source.
  if (src && msrc == 2 && cs.dims[0] == cs.dims[1]) {
    std::vector<int64_t> cand;
    for (int64_t l = 0; l < dict; ++l)
      if (res.latents[l].bin.size() > 5 && res.latents[l].bin.compare(res.latents[l].bin.size() - 5, 5, "-only") == 0)
        cand.push_back(l);
    std::sort(cand.begin(), cand.end(), [&](int64_t a, int64_t b) {
      return std::abs(res.latents[a].r - 0.5) > std::abs(res.latents[b].r - 0.5) ||
             (std::abs(res.latents[a].r - 0.5) == std::abs(res.latents[b].r - 0.5) && a < b);
    });
    cand.resize(std::min<size_t>(cand.size(), static_cast<size_t>(opt_int(args, "--max-scaling", 256, 0, 1 << 20))));
    const int64_t rows = j["eval_rows"].get<int64_t>();
    j["latent_scaling"] = nlohmann::json::array();
    for (const auto& ls : latent_scaling(model, *src, rows, 4096, cand, ctx))
      j["latent_scaling"].push_back({{"latent", ls.latent}, {"owner", cs.names[ls.owner]},
                                     {"beta_error", ls.beta_error}, {"beta_recon", ls.beta_recon},
                                     {"nu_error", ls.nu_error}, {"nu_recon", ls.nu_recon}});
  }
  if (args.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("crosscoder %s: %lld sources, F = %lld, %s\n", dir.c_str(), static_cast<long long>(msrc),
                static_cast<long long>(dict), sparsity_name(cs.sparsity));
    if (src) {
      for (int64_t m = 0; m < msrc; ++m) std::printf("  FVE %s: %.4f\n", cs.names[m].c_str(), res.fve[m]);
      std::printf("  L0 train %.2f, threshold %.2f; dead %.3f over %lld rows\n", res.l0_train, res.l0_threshold,
                  res.dead_fraction, static_cast<long long>(j["eval_rows"].get<int64_t>()));
    }
    for (const auto& [bin, n] : res.bin_counts) std::printf("  %-16s %lld\n", bin.c_str(), static_cast<long long>(n));
  }
  return 0;
}

int run_export(int argc, char** argv) {
  const ArgSpec spec{{"--format", "--out"}, {}, 1, 1, kUsage};
  const Args args = parse_args(argc, argv, 3, spec);
  if (!args.options.count("--out")) throw InputError("--out", "is required");
  const std::string format = args.get("--format");
  const Crosscoder model = load_crosscoder(args.positional[0]);
  if (format == "saelens") export_saelens(model, args.get("--out"), args.positional[0]);
  else if (format == "dictionary_learning") export_dictionary_learning(model, args.get("--out"), args.positional[0]);
  else throw InputError("--format", "expected saelens or dictionary_learning, found '" + format + "'");
  if (args.json) std::cout << nlohmann::json{{"out", args.get("--out")}, {"format", format}}.dump(2) << "\n";
  else std::printf("exported %s as %s into %s\n", args.positional[0].c_str(), format.c_str(), args.get("--out").c_str());
  return 0;
}

int run_planted(int argc, char** argv) {
  const ArgSpec spec{{"--out", "--rows", "--seed", "--concepts", "--dim", "--k-true", "--exclusive-frac", "--format",
                      "--dtype", "--shard-rows"}, {}, 0, 0, kUsage};
  const Args args = parse_args(argc, argv, 3, spec);
  if (!args.options.count("--out")) throw InputError("--out", "is required");
  const fs::path out = args.get("--out");
  PlantedConfig pc;
  pc.rows = opt_int(args, "--rows", 100000, 1, int64_t{1} << 40);
  pc.seed = static_cast<uint64_t>(opt_int(args, "--seed", 1, 0, INT64_MAX));
  pc.n_concepts = opt_int(args, "--concepts", 64, 2, 1 << 20);
  pc.d_a = pc.d_b = opt_int(args, "--dim", 16, 1, 1 << 16);
  pc.k_true = opt_real(args, "--k-true", 3, 0.1, 1e6);
  pc.frac_a_only = pc.frac_b_only = opt_real(args, "--exclusive-frac", 0.0625, 0.0, 0.5);
  pc.zipf_exponent = 0.3;
  const std::string format = args.get("--format", "npy");
  if (format != "npy" && format != "store") throw InputError("--format", "expected npy or store, found '" + format + "'");
  const PlantedSource src(make_planted(pc));
  const auto& pd = src.data();
  fs::create_directories(out);
  const int64_t dim = pc.d_a + pc.d_b, chunk = 8192;
  const std::vector<std::string> names{"A", "B"};
  const std::vector<int64_t> dims{pc.d_a, pc.d_b};
  auto as_bytes = [](const std::vector<float>& v) { return std::as_bytes(std::span<const float>(v)); };
  std::vector<float> buf(chunk * dim);
  if (format == "npy") {
    std::vector<std::vector<float>> cols(2);
    for (int64_t r = 0; r < pc.rows; r += chunk) {
      const int64_t n = std::min(chunk, pc.rows - r);
      src.read(r, n, buf.data());
      for (int64_t i = 0; i < n; ++i) {
        cols[0].insert(cols[0].end(), buf.begin() + i * dim, buf.begin() + i * dim + pc.d_a);
        cols[1].insert(cols[1].end(), buf.begin() + i * dim + pc.d_a, buf.begin() + (i + 1) * dim);
      }
    }
    for (int m = 0; m < 2; ++m) {
      const int64_t shape[2] = {pc.rows, dims[m]};
      io::write_npy(out / (names[m] + ".npy"), io::DType::kF32, shape, as_bytes(cols[m]));
    }
  } else {
    StoreWriterOptions so;
    so.dtype = parse_store_dtype(args.get("--dtype", "f32"));
    so.shard_rows = opt_int(args, "--shard-rows", 65536, 1, INT64_MAX);
    so.input_ids = true;
    so.sources = {{"model", "planted"}, {"seed", std::to_string(pc.seed)}};
    std::vector<std::unique_ptr<ActivationStoreWriter>> w;
    for (int m = 0; m < 2; ++m)
      w.push_back(std::make_unique<ActivationStoreWriter>(out / names[m], std::vector<StoreHook>{{"resid", dims[m]}}, so));
    std::vector<float> col;
    std::vector<int32_t> ids;
    for (int64_t r = 0; r < pc.rows; r += chunk) {
      const int64_t n = std::min(chunk, pc.rows - r);
      src.read(r, n, buf.data());
      ids.resize(n);
      for (int64_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>((r + i) * 2654435761u % 32000u);  // synthetic tokens
      for (int m = 0; m < 2; ++m) {
        col.resize(n * dims[m]);
        for (int64_t i = 0; i < n; ++i)
          std::copy(buf.begin() + i * dim + (m ? pc.d_a : 0), buf.begin() + i * dim + (m ? dim : pc.d_a),
                    col.begin() + i * dims[m]);
        w[m]->append({col.data()}, n, ids.data());
      }
    }
    for (auto& x : w) x->finish();
  }
  // Ground truth: concept directions per model and each concept's kind.
  for (int m = 0; m < 2; ++m) {
    const int64_t shape[2] = {pc.n_concepts, dims[m]};
    io::write_npy(out / ("concepts_" + names[m] + ".npy"), io::DType::kF32, shape, as_bytes(m ? pd.dirs_b : pd.dirs_a));
  }
  nlohmann::json truth{{"sources", names}, {"rows", pc.rows}, {"seed", pc.seed}, {"dims", dims},
                       {"k_true", pc.k_true}, {"noise", pc.noise}, {"format", format}};
  for (int64_t i = 0; i < pc.n_concepts; ++i) {
    truth["kind"].push_back(pd.kind[i] == ConceptKind::kShared ? "shared" : pd.kind[i] == ConceptKind::kAOnly ? "A-only" : "B-only");
    truth["frequency"].push_back(pd.freq[i]);
  }
  const std::string text = truth.dump(1) + "\n";
  io::write_file_atomically(out / "truth.json", [&](std::FILE* f) { io::write_bytes(f, text.data(), text.size(), out / "truth.json"); });
  if (args.json) std::cout << truth.dump(2) << "\n";
  else std::printf("planted dataset: %lld rows, %lld concepts, d = %lld, into %s (%s)\n", static_cast<long long>(pc.rows),
                   static_cast<long long>(pc.n_concepts), static_cast<long long>(pc.d_a), out.string().c_str(), format.c_str());
  return 0;
}

}  // namespace

int run_crosscoder(int argc, char** argv) {
  const std::string sub = argc > 2 ? argv[2] : "";
  if (sub == "train") return run_train(argc, argv);
  if (sub == "analyze") return run_analyze(argc, argv);
  if (sub == "export") return run_export(argc, argv);
  if (sub == "planted") return run_planted(argc, argv);
  throw InputError(sub.empty() ? "crosscoder" : sub, std::string("expected a subcommand: train, analyze, export or planted (usage: ") + kUsage + ")");
}

}  // namespace ct::cli
