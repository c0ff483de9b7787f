// Summary and Markdown of the compare report (see compare_report.h).
#include "report/compare_report.h"

#include <cstdio>
#include <sstream>

#include "report/anatomy_report.h"

namespace ct::report {
using nlohmann::ordered_json;
namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string str(const ordered_json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// A component config value for tables ("" when absent).
std::string cfg(const ordered_json& c, const char* key) {
  return c.contains("config") && c["config"].contains(key) ? str(c["config"][key]) : "";
}

const char* kAxes[][2] = {{"architecture", "Architecture"}, {"tasks", "Tasks solved"}, {"training_data", "Training data"},
                          {"application_area", "Application area"}, {"universality", "Universality"}};

}  // namespace

std::string format_log10_p(const ordered_json& v) {
  if (!v.is_number()) return "n/a";
  return fixed(v.get<double>(), 1);
}

ordered_json compare_summary(const ordered_json& doc) {
  ordered_json s;
  const auto& pair = doc["lineage"]["trace"]["pairs"][0];
  s["lineage"] = {{"verdict", pair["verdict"]}, {"log10_p", pair["log10_p"]}, {"components", ordered_json::array()}};
  for (const auto& c : pair["components"]) {
    s["lineage"]["components"].push_back({{"a", c["a"]}, {"b", c["b"]}, {"verdict", c["verdict"]}, {"log10_p", c["log10_p"]}});
  }
  s["language_sides"] = doc["lineage"].value("language_sides", ordered_json());
  s["unmatched"] = ordered_json::array();
  for (const auto& u : doc["lineage"]["unmatched"]) s["unmatched"].push_back(str(u["model"]) + "." + str(u["component"]) + ": " + str(u["reason"]));
  const auto& f = doc["features"];
  s["features"] = {{"status", f["status"]}};
  if (f["status"] == "done") {
    s["features"]["bin_counts"] = f["analysis"]["bin_counts"];
    s["features"]["fve"] = f["analysis"]["fve"];
    s["features"]["hook"] = f["hook_a"];
  } else {
    s["features"]["reason"] = f["reason"];
  }
  s["anatomy"] = ordered_json::array();
  for (const auto& m : doc["anatomy"]["models"]) {
    ordered_json matches = ordered_json::array();
    for (const auto& x : m["shape_matches"]) matches.push_back(x["statement"]);
    s["anatomy"].push_back({{"label", m["label"]}, {"family", m["anatomy"]["family"]}, {"fusion", m["anatomy"]["fusion"]},
                            {"total_parameters", m["anatomy"]["total_parameters"]}, {"shape_matches", matches}});
  }
  return s;
}

std::string compare_summary_text(const ordered_json& s) {
  std::ostringstream o;
  for (const auto& a : s["anatomy"]) {
    o << "model " << str(a["label"]) << ": " << str(a["family"]) << ", fusion " << str(a["fusion"]) << ", "
      << human_count(a["total_parameters"].get<int64_t>()) << " parameters\n";
  }
  o << "lineage: " << str(s["lineage"]["verdict"]) << " (log10 p " << format_log10_p(s["lineage"]["log10_p"]) << ")\n";
  for (const auto& c : s["lineage"]["components"]) {
    o << "  A." << str(c["a"]) << " ~ B." << str(c["b"]) << ": " << str(c["verdict"]) << " (log10 p " << format_log10_p(c["log10_p"]) << ")\n";
  }
  if (s["language_sides"].is_object()) {
    o << "  language sides: independent (structural: A " << str(s["language_sides"]["a"]) << " vs B "
      << str(s["language_sides"]["b"]) << ")\n";
  }
  for (const auto& u : s["unmatched"]) o << "  not traced: " << str(u) << '\n';
  if (s["features"]["status"] == "done") {
    o << "features (" << str(s["features"]["hook"]) << "):";
    for (const auto& [bin, n] : s["features"]["bin_counts"].items()) o << ' ' << bin << ' ' << n.dump();
    o << '\n';
  } else {
    o << "features: skipped (" << str(s["features"]["reason"]) << ")\n";
  }
  return o.str();
}

std::string compare_markdown(const ordered_json& doc) {
  std::ostringstream o;
  const auto& models = doc["models"];
  o << "# crosstrace comparison\n\n";
  o << "| | path | family |\n|---|---|---|\n";
  for (const auto& m : models) o << "| " << str(m["label"]) << " | `" << str(m["path"]) << "` | " << str(m["family"]) << " |\n";
  o << "\n## Summary\n\n```\n" << compare_summary_text(doc["summary"]) << "```\n";

  o << "\n## 1. Anatomy\n";
  for (const auto& m : doc["anatomy"]["models"]) {
    const auto& a = m["anatomy"];
    o << "\n### Model " << str(m["label"]) << ": " << str(a["family"]) << " (" << str(a["layout"]) << "), fusion "
      << str(a["fusion"]) << ", " << human_count(a["total_parameters"].get<int64_t>()) << " parameters\n\n";
    o << "| component | kind | parameters | width | layers | heads | patch | image |\n|---|---|---|---|---|---|---|---|\n";
    for (const auto& c : a["components"]) {
      o << "| " << str(c["name"]) << " | " << str(c["kind"]) << " | " << human_count(c["parameters"].get<int64_t>()) << " | "
        << cfg(c, "width") << " | " << cfg(c, "layers") << " | " << cfg(c, "heads") << " | " << cfg(c, "patch_size") << " | "
        << cfg(c, "image_size") << " |\n";
    }
    if (!m["shape_matches"].empty()) {
      o << "\nRegistry (shapes only, not identity):\n";
      for (const auto& x : m["shape_matches"]) o << "- " << str(x["statement"]) << " (" << str(x["paper"]) << ")\n";
    } else {
      o << "\nRegistry: no known model has these shapes.\n";
    }
  }
  o << "\n### The five axes\n";
  for (const auto& [key, title] : kAxes) {
    o << "\n#### " << title << "\n";
    for (const auto& m : doc["anatomy"]["models"]) {
      const auto& ax = m["axes"][key];
      o << "\n*Model " << str(m["label"]) << "* — basis: " << str(ax["basis"]) << "\n\n";
      if (ax["values"].empty()) o << "- (nothing known)\n";
      for (const auto& v : ax["values"]) o << "- " << str(v["text"]) << " [" << str(v["source"]) << "]\n";
    }
  }

  o << "\n## 2. Lineage\n\n### Declared lineage\n\n";
  for (const auto& m : doc["anatomy"]["models"]) {
    o << "- Model " << str(m["label"]) << ": ";
    if (m["declared_lineage"].empty()) o << "none declared (no model card base_model, no registry match)";
    bool first = true;
    for (const auto& d : m["declared_lineage"]) o << (first ? "" : "; ") << str(d["text"]) << " [" << str(d["source"]) << "]", first = false;
    o << '\n';
  }
  const auto& pair = doc["lineage"]["trace"]["pairs"][0];
  o << "\n### Traced lineage\n\nPair verdict: **" << str(pair["verdict"]) << "** (log10 p " << format_log10_p(pair["log10_p"]) << ")\n\n";
  o << "| A component | B component | verdict | log10 p | blocks A x B | block map (a, b, log10 p) |\n|---|---|---|---|---|---|\n";
  for (const auto& c : pair["components"]) {
    std::string map;
    for (const auto& l : c["block_map"]) map += "(" + l[0].dump() + ", " + l[1].dump() + ", " + format_log10_p(l[2]) + ") ";
    o << "| " << str(c["a"]) << " | " << str(c["b"]) << " | " << str(c["verdict"]) << " | " << format_log10_p(c["log10_p"]) << " | "
      << c["blocks_a"].dump() << " x " << c["blocks_b"].dump() << " | " << (map.empty() ? "none" : map) << " |\n";
  }
  if (pair["components"].empty()) o << "| (none comparable) | | | | | |\n";
  for (const auto& n : pair["notes"]) o << "\nNote: " << str(n) << '\n';
  if (doc["lineage"].contains("language_sides") && doc["lineage"]["language_sides"].is_object()) {
    const auto& ls = doc["lineage"]["language_sides"];
    o << "\nLanguage sides: **independent** (structural: A " << str(ls["a"]) << " vs B " << str(ls["b"]) << "): "
      << str(ls["reason"]) << ".\n";
  }
  if (!doc["lineage"]["unmatched"].empty()) {
    o << "\nNot traced:\n\n";
    for (const auto& u : doc["lineage"]["unmatched"]) o << "- " << str(u["model"]) << "." << str(u["component"]) << ": " << str(u["reason"]) << '\n';
  }

  o << "\n## 3. Features\n\n";
  const auto& f = doc["features"];
  if (f["status"] != "done") {
    o << "Skipped: " << str(f["reason"]) << "\n";
  } else {
    const auto& an = f["analysis"];
    o << "Paired activations at `" << str(f["hook_a"]) << "` on " << f["images"].dump() << " images x " << f["tokens_per_image"].dump()
      << " tokens = " << f["rows"].dump() << " rows; " << str(f["alignment"]) << ".\n\n";
    o << "- model A: " << str(f["tower_a"]) << "\n- model B: " << str(f["tower_b"]) << '\n';
    if (f["row_cosine_mean"].is_number()) o << "- mean cosine of paired rows before any dictionary: " << fixed(f["row_cosine_mean"].get<double>(), 4) << '\n';
    const auto& cc = f["crosscoder"];
    o << "- crosscoder: " << str(cc["sparsity"]) << ", dictionary " << cc["dict_size"].dump() << ", k " << cc["k"].dump() << ", "
      << cc["steps"].dump() << " steps of " << cc["batch_size"].dump() << " rows\n";
    o << "- fraction of variance explained: A " << fixed(an["fve"][0].get<double>(), 3) << ", B " << fixed(an["fve"][1].get<double>(), 3)
      << "; L0 " << fixed(an["l0_threshold"].get<double>(), 2) << "; dead " << fixed(an["dead_fraction"].get<double>() * 100, 1) << "%\n\n";
    o << "| bin | latents |\n|---|---|\n";
    for (const auto& [bin, n] : an["bin_counts"].items()) o << "| " << bin << " | " << n.dump() << " |\n";
    o << "\nRelative decoder norm r = |d_B| / (|d_A| + |d_B|), 20 bins over [0, 1]: " << an["r_histogram"].dump() << "\n\n";
    o << "Decoder cosine, 20 bins over [-1, 1]: " << an["cosine_histogram"].dump() << "\n";
    for (const auto& b : f["top_latents"]) {
      if (b["latents"].empty()) continue;
      o << "\n### Top latents: " << str(b["bin"]) << "\n\n| latent | r | cosine | frequency | top inputs (image, token: activation) |\n|---|---|---|---|---|\n";
      for (const auto& l : b["latents"]) {
        std::string ins;
        for (const auto& in : l["top_inputs"]) {
          ins += f["image_names"][in["image"].get<std::size_t>()].get<std::string>() + " t" + in["token"].dump() +
                 (in["patch"].is_null() ? " (CLS)" : " (patch " + in["patch"][0].dump() + "," + in["patch"][1].dump() + ")") + ": " +
                 fixed(in["activation"].get<double>(), 3) + "; ";
        }
        o << "| " << l["latent"].dump() << " | " << fixed(l["r"].get<double>(), 3) << " | "
          << (l["cosine"].is_number() ? fixed(l["cosine"].get<double>(), 3) : "n/a") << " | " << fixed(l["frequency"].get<double>(), 4)
          << " | " << ins << " |\n";
      }
    }
  }
  o << "\n## Run\n\n";
  for (const auto& st : doc["run"]["stages"]) {
    o << "- " << str(st["stage"]) << ": " << (st["resumed"].get<bool>() ? "resumed" : "computed") << ", " << fixed(st["seconds"].get<double>(), 1) << " s\n";
  }
  return o.str();
}

}  // namespace ct::report
