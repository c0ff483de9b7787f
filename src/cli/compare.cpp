// crosstrace compare MODEL_A MODEL_B [--data DIR] --out REPORT_DIR [--force] [--json] [--threads N]
//                   [--seed S] [--dict-size F] [--steps N] [--max-images N]
// The pipeline of compare.h: stages with progress and resume, then the three report files.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "anatomy/anatomy.h"
#include "anatomy/model_card.h"
#include "anatomy/registry.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/compare.h"
#include "cli/data_dir.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/json_file.h"
#include "lineage/blocks.h"
#include "lineage/trace.h"
#include "report/anatomy_report.h"
#include "report/compare_report.h"
#include "report/trace_report.h"

namespace ct::cli {
namespace fs = std::filesystem;
using nlohmann::ordered_json;
namespace {

constexpr const char* kCompareUsage =
    "crosstrace compare MODEL_A MODEL_B [--data DIR] --out REPORT_DIR [--force] [--json] [--threads N] [--seed S] "
    "[--dict-size F] [--steps N] [--max-images N]";
constexpr const char* kReportFiles[] = {"report.json", "report.md", "report.html"};

int64_t parse_int(const std::string& option, const std::string& v, int64_t lo, int64_t hi) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi) {
    throw InputError(option, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + ", found '" + v + "'");
  }
  return n;
}

void write_text_atomically(const fs::path& path, const std::string& text) {
  io::write_file_atomically(path, [&](std::FILE* f) { io::write_bytes(f, text.data(), text.size(), path); });
}

// What a model contributes to a stage's identity: its path and the sizes of its files.
// The language sides (language model, text encoder, fusion, decoder) of two models whose blocks no
// weight test can pair: when every language-side component of A is of another architecture class
// than every one of B (BERT-style vs LLaMA-style), no weights can be shared between them, so the
// sides are independent by structure. Reported as such (basis "structural"), beside the statistical
// verdicts, never mixed with them. Null when either side has no language component or some pair is
// comparable (then the statistical trace speaks).
ordered_json language_sides_verdict(const std::vector<lineage::ComponentBlocks>& a,
                                    const std::vector<lineage::ComponentBlocks>& b) {
  auto language = [](const std::vector<lineage::ComponentBlocks>& cs) {
    std::vector<const lineage::ComponentBlocks*> out;
    for (const auto& c : cs) {
      if (c.component == "language_model" || c.component == "text_encoder" || c.component == "fusion" ||
          c.component == "decoder") {
        out.push_back(&c);
      }
    }
    return out;
  };
  const auto la = language(a), lb = language(b);
  if (la.empty() || lb.empty()) return nullptr;
  std::string names_a, names_b;
  for (const auto* x : la) {
    for (const auto* y : lb) {
      if (lineage::comparable(*x, *y)) return nullptr;
    }
    names_a += (names_a.empty() ? "" : ", ") + x->component + " (" + x->match_class + ")";
  }
  for (const auto* y : lb) names_b += (names_b.empty() ? "" : ", ") + y->component + " (" + y->match_class + ")";
  return {{"verdict", "independent"},
          {"basis", "structural"},
          {"a", names_a},
          {"b", names_b},
          {"reason", "the language sides are built from different architecture classes, so no weights can be shared "
                     "between them; no statistical test is needed or run"}};
}

ordered_json model_fingerprint(const fs::path& model) {
  ordered_json files = ordered_json::array();
  std::error_code ec;
  if (fs::is_directory(model, ec)) {
    std::vector<fs::path> names;
    for (const auto& e : fs::directory_iterator(model, ec)) if (e.is_regular_file()) names.push_back(e.path());
    std::sort(names.begin(), names.end());
    for (const auto& p : names) files.push_back({p.filename().string(), fs::file_size(p, ec)});
  } else {
    files.push_back({model.filename().string(), fs::file_size(model, ec)});
  }
  return {{"path", fs::weakly_canonical(model, ec).string()}, {"files", files}};
}

struct Stages {
  fs::path dir;
  ordered_json run = ordered_json::array();
  int index = 0;

  // The stage's result: reused from dir/<name>.json when its inputs match, else computed by fn and
  // written atomically.
  template <typename Fn>
  ordered_json run_stage(const std::string& name, const ordered_json& inputs, Fn&& fn) {
    ++index;
    const fs::path file = dir / (name + ".json");
    std::error_code ec;
    if (fs::exists(file, ec)) {
      try {
        const nlohmann::json saved = io::read_json_file(file);
        if (saved.value("stage", "") == name && saved.contains("result") && saved["inputs"] == nlohmann::json(inputs)) {
          std::fprintf(stderr, "[%d/3] %s: finished earlier, resumed from %s\n", index, name.c_str(), file.string().c_str());
          run.push_back({{"stage", name}, {"resumed", true}, {"seconds", saved.value("seconds", 0.0)}});
          return ordered_json(saved["result"]);
        }
        std::fprintf(stderr, "[%d/3] %s: inputs changed since %s was written; recomputing\n", index, name.c_str(), file.string().c_str());
      } catch (const InputError&) {
        std::fprintf(stderr, "[%d/3] %s: %s is unreadable; recomputing\n", index, name.c_str(), file.string().c_str());
      }
    }
    std::fprintf(stderr, "[%d/3] %s ...\n", index, name.c_str());
    const auto t0 = std::chrono::steady_clock::now();
    ordered_json result = fn();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    write_text_atomically(file, ordered_json{{"stage", name}, {"inputs", inputs}, {"seconds", seconds}, {"result", result}}.dump() + "\n");
    std::fprintf(stderr, "[%d/3] %s: done in %.1f s\n", index, name.c_str(), seconds);
    run.push_back({{"stage", name}, {"resumed", false}, {"seconds", seconds}});
    return result;
  }
};

struct Loaded {
  io::TensorStore store;
  anatomy::Anatomy anatomy;
};

ordered_json card_json(const anatomy::ModelCard& c) {
  ordered_json f = ordered_json::object();
  for (const auto& [k, v] : c.fields) f[k] = v;
  return {{"present", c.present}, {"path", c.path}, {"fields", f}, {"notes", c.notes}};
}

ordered_json anatomy_stage(const std::vector<std::unique_ptr<Loaded>>& models, const std::vector<fs::path>& paths) {
  ordered_json out = ordered_json::array();
  for (std::size_t i = 0; i < models.size(); ++i) {
    const anatomy::Anatomy& a = models[i]->anatomy;
    const anatomy::ModelCard card = anatomy::read_model_card(io::model_directory(paths[i]));
    const auto matches = anatomy::match_shapes(a);
    ordered_json mj;
    mj["label"] = i == 0 ? "A" : "B";
    mj["path"] = paths[i].string();
    mj["anatomy"] = report::anatomy_to_json(a);
    mj["card"] = card_json(card);
    mj["shape_matches"] = ordered_json::array();
    for (const auto& m : matches) {
      mj["shape_matches"].push_back({{"id", m.id}, {"name", m.name}, {"paper", m.paper},
                                     {"component", m.component.empty() ? ordered_json(nullptr) : ordered_json(m.component)},
                                     {"statement", (m.component.empty() ? "the checkpoint" : m.component) + " matches the shape of " + m.name},
                                     {"notes", m.notes}});
    }
    const anatomy::KnownModel* ref = anatomy::family_reference(a);
    mj["family_reference"] = ref ? ordered_json{{"id", ref->id}, {"name", ref->name}, {"paper", ref->paper}} : ordered_json(nullptr);
    mj["declared_lineage"] = ordered_json::array();
    for (const auto& b : card.get("base_model")) mj["declared_lineage"].push_back({{"text", b}, {"source", "model card base_model"}});
    for (const auto& m : matches) {
      if (!m.component.empty()) continue;
      for (const auto& k : anatomy::known_models()) {
        if (k.id != m.id) continue;
        for (const auto& f : k.built_from) mj["declared_lineage"].push_back({{"text", "published " + k.name + ": built from " + f.text}, {"source", f.source}});
      }
    }
    mj["axes"] = anatomy::five_axes(a, card, matches);
    out.push_back(std::move(mj));
  }
  return {{"models", out}};
}

ordered_json lineage_stage(const std::vector<std::unique_ptr<Loaded>>& models, const std::vector<fs::path>& paths, ExecContext& ctx) {
  std::vector<std::vector<lineage::ComponentBlocks>> comps;
  std::vector<report::TracedModel> traced;
  for (std::size_t i = 0; i < models.size(); ++i) {
    comps.push_back(lineage::extract_components(models[i]->store, models[i]->anatomy));
    traced.push_back({paths[i].string(), anatomy::family_name(models[i]->anatomy.family)});
  }
  lineage::TraceOptions options;
  ctx.progress().begin("lineage: trace", 1, "pairs");
  lineage::PairTrace p = lineage::trace_pair(comps[0], comps[1], options, ctx);
  p.a = 0, p.b = 1;
  ctx.progress().update(1);
  ctx.progress().end();
  ordered_json j;
  j["trace"] = report::trace_to_json(traced, {p}, options, ctx.seed());
  // Components without a comparable partner on the other side, and why.
  j["unmatched"] = ordered_json::array();
  for (int side = 0; side < 2; ++side) {
    const auto& mine = comps[side];
    const auto& other = comps[1 - side];
    for (const auto& c : mine) {
      const bool found = std::any_of(other.begin(), other.end(), [&](const auto& o) { return lineage::comparable(c, o); });
      if (found) continue;
      std::string kinds;
      for (const auto& o : other) kinds += (kinds.empty() ? "" : ", ") + o.component + " (" + o.match_class + ")";
      j["unmatched"].push_back({{"model", side == 0 ? "A" : "B"}, {"component", c.component}, {"match_class", c.match_class},
                                {"reason", "model " + std::string(side == 0 ? "B" : "A") + " has no " + c.match_class +
                                               " component to trace it against (its traceable components: " +
                                               (kinds.empty() ? "none" : kinds) + ")"}});
    }
    for (const auto& c : models[side]->anatomy.components) {
      const bool traceable = std::any_of(mine.begin(), mine.end(), [&](const auto& b) { return b.component == c.name; });
      if (!traceable) {
        j["unmatched"].push_back({{"model", side == 0 ? "A" : "B"}, {"component", c.name}, {"match_class", nullptr},
                                  {"reason", "no block structure the tracer compares (" + c.kind + ")"}});
      }
    }
  }
  j["language_sides"] = language_sides_verdict(comps[0], comps[1]);
  return j;
}

}  // namespace

DataSet read_data_dir(const fs::path& dir, int64_t max_images) {
  const DataDirListing listing = list_data_dir(dir, max_images);
  DataSet d;
  d.dir = dir;
  for (const auto& f : listing.images) {
    models::RgbImage im = models::decode_image_file(f);
    const int side = std::min(im.width, im.height);
    d.images.push_back({f.filename().string(), models::center_crop(im, side, side)});
  }
  d.prompts = listing.prompts;
  return d;
}

CompareOutcome run_compare_pipeline(const CompareOptions& opt, ExecContext& ctx) {
  std::error_code ec;
  bool has_report = false;
  for (const char* f : kReportFiles) has_report = has_report || fs::exists(opt.out / f, ec);
  if (has_report && !opt.force) {
    throw InputError(opt.out.string(), "already holds a report; pass --force to overwrite it");
  }
  if (opt.force) {
    for (const char* f : kReportFiles) fs::remove(opt.out / f, ec);
    fs::remove_all(opt.out / "stages", ec);
  }
  // Inputs are checked before anything is written: an unreadable model or empty --data is exit 2.
  const std::vector<fs::path> paths = {opt.model_a, opt.model_b};
  std::vector<std::unique_ptr<Loaded>> models;
  for (const auto& p : paths) {
    auto m = std::make_unique<Loaded>();
    m->store = io::open_checkpoint(p);
    m->anatomy = anatomy::describe_model(m->store, io::model_directory(p));
    models.push_back(std::move(m));
  }
  std::optional<DataSet> data;
  if (!opt.data.empty()) data = read_data_dir(opt.data, opt.max_images);

  fs::create_directories(opt.out / "stages", ec);
  if (!fs::is_directory(opt.out / "stages")) throw RuntimeFailure("cannot create " + (opt.out / "stages").string());
  Stages stages{opt.out / "stages"};
  const ordered_json model_inputs = {model_fingerprint(opt.model_a), model_fingerprint(opt.model_b)};
  ordered_json data_inputs = nullptr;
  if (data) {
    data_inputs = {{"dir", fs::weakly_canonical(opt.data, ec).string()}, {"images", ordered_json::array()}, {"prompts", data->prompts}};
    for (const auto& im : data->images) data_inputs["images"].push_back({im.name, im.square.width});
  }
  const ordered_json anatomy = stages.run_stage("anatomy", {{"models", model_inputs}}, [&] { return anatomy_stage(models, paths); });
  const ordered_json lineage = stages.run_stage("lineage", {{"models", model_inputs}, {"seed", ctx.seed()}},
                                                [&] { return lineage_stage(models, paths, ctx); });
  const ordered_json feature_inputs = {{"models", model_inputs}, {"data", data_inputs}, {"seed", ctx.seed()},
                                       {"threads", ctx.threads()}, {"dict_size", opt.dict_size}, {"steps", opt.steps}};
  const ordered_json features = stages.run_stage("features", feature_inputs, [&]() -> ordered_json {
    if (!data) return {{"status", "skipped"}, {"reason", "no --data directory given"}};
    return features_stage(opt.model_a, opt.model_b, *data, opt, ctx);
  });

  ordered_json doc;
  doc["schema"] = "crosstrace-report/1";
  doc["command"] = opt.invoked_as;
  doc["models"] = ordered_json::array();
  for (std::size_t i = 0; i < paths.size(); ++i) {
    doc["models"].push_back({{"label", i == 0 ? "A" : "B"}, {"path", paths[i].string()},
                             {"family", anatomy::family_name(models[i]->anatomy.family)}});
  }
  doc["data"] = data ? ordered_json{{"dir", opt.data.string()}, {"images", data->images.size()}, {"prompts", data->prompts.size()}}
                     : ordered_json(nullptr);
  doc["anatomy"] = anatomy;
  doc["lineage"] = lineage;
  doc["features"] = features;
  doc["summary"] = report::compare_summary(doc);
  doc["run"] = {{"threads", ctx.threads()}, {"seed", ctx.seed()}, {"stages", stages.run}};

  CompareOutcome out{opt.out / "report.html", opt.out / "report.md", opt.out / "report.json", doc["summary"]};
  write_text_atomically(out.json, doc.dump(2) + "\n");
  write_text_atomically(out.markdown, report::compare_markdown(doc));
  write_text_atomically(out.html, report::compare_html(doc));
  return out;
}

int run_compare(int argc, char** argv) {
  const ArgSpec spec{{"--data", "--out", "--seed", "--dict-size", "--steps", "--max-images"}, {"--force"}, 2, 2, kCompareUsage};
  const Args args = parse_args(argc, argv, 2, spec);
  if (!args.options.count("--out")) throw InputError("--out", "is required (usage: " + std::string(kCompareUsage) + ")");
  CompareOptions opt;
  opt.model_a = args.positional[0];
  opt.model_b = args.positional[1];
  opt.out = args.get("--out");
  opt.data = args.get("--data");
  opt.force = args.has("--force");
  if (args.options.count("--dict-size")) opt.dict_size = parse_int("--dict-size", args.get("--dict-size"), 8, 1 << 20);
  if (args.options.count("--steps")) opt.steps = parse_int("--steps", args.get("--steps"), 1, 10'000'000);
  if (args.options.count("--max-images")) opt.max_images = parse_int("--max-images", args.get("--max-images"), 1, 1'000'000);
  const uint64_t seed = args.options.count("--seed") ? static_cast<uint64_t>(parse_int("--seed", args.get("--seed"), 0, INT64_MAX)) : 0;
  StderrProgress progress;
  ExecContext ctx(args.threads, seed, &progress);
  const CompareOutcome out = run_compare_pipeline(opt, ctx);
  if (args.json) {
    std::cout << ordered_json{{"report", {{"html", out.html.string()}, {"markdown", out.markdown.string()}, {"json", out.json.string()}}},
                              {"summary", out.summary}}.dump(2) << '\n';
  } else {
    std::cout << report::compare_summary_text(out.summary) << "Report: " << fs::absolute(out.html).string() << "\n        "
              << fs::absolute(out.markdown).string() << "\n        " << fs::absolute(out.json).string() << '\n';
  }
  return 0;
}

}  // namespace ct::cli
