// The self-contained HTML page of the compare report (see compare_report.h). Everything is inline:
// CSS in <style>, figures as <svg>, thumbnails as data: URIs; the CSP meta tag forbids any fetch
// except data: images, and the page carries no script.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "report/anatomy_report.h"
#include "report/compare_report.h"
#include "report/svg_plot.h"

namespace ct::report {
using nlohmann::ordered_json;
namespace {

constexpr const char* kCss = R"(
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:0;color:#1d1d1f;background:#f6f7f9;font-size:14px}
header{background:#24344d;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#cfd8e6}
main{padding:8px 24px 40px}section{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:14px 0;padding:10px 18px}
h2{font-size:18px;border-bottom:2px solid #24344d;padding-bottom:4px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px}th,td{border:1px solid #c9ced6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#e8ecf2}td.num{text-align:right;font-variant-numeric:tabular-nums}
.dependent{background:#fde0dc;font-weight:bold}.independent{background:#dff3e4}.inconclusive{background:#f3f0d7}
.figs{display:flex;flex-wrap:wrap;gap:12px}.figs svg{border:1px solid #dde1e7;background:#fff}
svg .title{font-size:14px;font-weight:bold;fill:#1d1d1f}svg .tick{font-size:11px;fill:#333}
svg .label{font-size:12px;fill:#1d1d1f}svg .legend{font-size:11px;fill:#1d1d1f}
svg .axis{stroke:#333;stroke-width:1}svg .grid{stroke:#e3e6ea;stroke-width:1}
.src{color:#5a6472;font-size:12px}.note{color:#5a6472}.thumbs{display:flex;gap:6px;flex-wrap:wrap}
.thumb{font-size:11px;text-align:center}code{background:#eef1f5;padding:0 3px}
)";

std::string e(const std::string& s) { return xml_escape(s); }
std::string str(const ordered_json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }
std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}
std::string cfg(const ordered_json& c, const char* key) {
  return c["config"].contains(key) ? e(str(c["config"][key])) : "";
}
std::string verdict_cell(const ordered_json& v) {
  const std::string s = str(v);
  return "<td class=\"" + s + "\">" + e(s) + "</td>";
}

void anatomy_section(std::ostringstream& o, const ordered_json& doc) {
  o << "<section id=\"anatomy\"><h2>1. Anatomy</h2>";
  for (const auto& m : doc["anatomy"]["models"]) {
    const auto& a = m["anatomy"];
    o << "<h3>Model " << e(str(m["label"])) << ": " << e(str(a["family"])) << " (" << e(str(a["layout"])) << "), fusion <b>"
      << e(str(a["fusion"])) << "</b>, " << e(human_count(a["total_parameters"].get<int64_t>())) << " parameters</h3>"
      << "<p class=\"src\">" << e(str(m["path"])) << "</p>"
      << "<table class=\"components\"><tr><th>component</th><th>kind</th><th>parameters</th><th>width</th><th>layers</th>"
         "<th>heads</th><th>MLP width</th><th>patch</th><th>image</th><th>vocab</th></tr>";
    for (const auto& c : a["components"]) {
      o << "<tr><td>" << e(str(c["name"])) << "</td><td>" << e(str(c["kind"])) << "</td><td class=\"num\">"
        << e(human_count(c["parameters"].get<int64_t>())) << "</td><td class=\"num\">" << cfg(c, "width") << "</td><td class=\"num\">"
        << cfg(c, "layers") << "</td><td class=\"num\">" << cfg(c, "heads") << "</td><td class=\"num\">" << cfg(c, "mlp_width")
        << "</td><td class=\"num\">" << cfg(c, "patch_size") << "</td><td class=\"num\">" << cfg(c, "image_size")
        << "</td><td class=\"num\">" << cfg(c, "vocab") << "</td></tr>";
    }
    o << "</table>";
    if (a["config"].contains("image_tokens")) o << "<p>Image tokens per image: " << e(str(a["config"]["image_tokens"])) << ". ";
    if (a["config"].contains("fusion_detail")) o << "Fusion: " << e(str(a["config"]["fusion_detail"])) << ".";
    o << "</p><p>Registry: ";
    if (m["shape_matches"].empty()) o << "no known model has these shapes.";
    for (const auto& x : m["shape_matches"]) o << e(str(x["statement"])) << " <span class=\"src\">(" << e(str(x["paper"])) << ")</span>; ";
    o << " <span class=\"note\">Shapes never prove identity; lineage below tests it.</span></p>";
  }
  o << "<h3>The five axes of the seed comparison</h3><table id=\"axes-table\"><tr><th>axis</th>";
  for (const auto& m : doc["anatomy"]["models"]) o << "<th>Model " << e(str(m["label"])) << " (" << e(str(m["anatomy"]["family"])) << ")</th>";
  o << "</tr>";
  const char* axes[][2] = {{"architecture", "Architecture"}, {"tasks", "Tasks solved"}, {"training_data", "Training data"},
                           {"application_area", "Application area"}, {"universality", "Universality"}};
  for (const auto& [key, title] : axes) {
    o << "<tr><th>" << title << "</th>";
    for (const auto& m : doc["anatomy"]["models"]) {
      const auto& ax = m["axes"][key];
      o << "<td><ul>";
      if (ax["values"].empty()) o << "<li class=\"note\">nothing known</li>";
      for (const auto& v : ax["values"]) o << "<li>" << e(str(v["text"])) << " <span class=\"src\">[" << e(str(v["source"])) << "]</span></li>";
      o << "</ul><span class=\"src\">basis: " << e(str(ax["basis"])) << "</span></td>";
    }
    o << "</tr>";
  }
  o << "</table></section>";
}

void lineage_section(std::ostringstream& o, const ordered_json& doc) {
  const auto& pair = doc["lineage"]["trace"]["pairs"][0];
  o << "<section id=\"lineage\"><h2>2. Lineage</h2><h3>Declared beside traced</h3><table id=\"declared-table\"><tr><th>model</th>"
       "<th>declared lineage</th></tr>";
  for (const auto& m : doc["anatomy"]["models"]) {
    o << "<tr><td>" << e(str(m["label"])) << "</td><td>";
    if (m["declared_lineage"].empty()) o << "<span class=\"note\">none declared (no model card base_model, no registry match)</span>";
    for (const auto& d : m["declared_lineage"]) o << e(str(d["text"])) << " <span class=\"src\">[" << e(str(d["source"])) << "]</span><br>";
    o << "</td></tr>";
  }
  o << "</table><p>Traced: pair verdict <b>" << e(str(pair["verdict"])) << "</b> (log10 p " << e(format_log10_p(pair["log10_p"]))
    << "). Weight-based independence tests per component (robust to permutations); p-values in log10.</p>"
    << "<table id=\"lineage-table\"><tr><th>A component</th><th>B component</th><th>verdict</th><th>log10 p</th><th>blocks</th>"
       "<th>residual alignment</th><th>block map (a, b, log10 p)</th></tr>";
  for (const auto& c : pair["components"]) {
    std::string map;
    for (const auto& l : c["block_map"]) map += "(" + l[0].dump() + ", " + l[1].dump() + ", " + format_log10_p(l[2]) + ") ";
    o << "<tr><td>" << e(str(c["a"])) << "</td><td>" << e(str(c["b"])) << "</td>" << verdict_cell(c["verdict"]) << "<td class=\"num\">"
      << e(format_log10_p(c["log10_p"])) << "</td><td>" << c["blocks_a"].dump() << " x " << c["blocks_b"].dump() << "</td><td>"
      << e(str(c["residual_alignment"])) << "</td><td>" << e(map.empty() ? "none" : map) << "</td></tr>";
  }
  if (pair["components"].empty()) o << "<tr><td colspan=\"7\">no comparable components</td></tr>";
  o << "</table>";
  for (const auto& n : pair["notes"]) o << "<p class=\"note\">" << e(str(n)) << "</p>";
  if (doc["lineage"].contains("language_sides") && doc["lineage"]["language_sides"].is_object()) {
    const auto& ls = doc["lineage"]["language_sides"];
    o << "<p id=\"language-sides\">Language sides: <b>independent</b> (structural: A " << e(str(ls["a"])) << " vs B "
      << e(str(ls["b"])) << "): " << e(str(ls["reason"])) << ".</p>";
  }
  if (!doc["lineage"]["unmatched"].empty()) {
    o << "<h3>Not traced</h3><ul id=\"unmatched\">";
    for (const auto& u : doc["lineage"]["unmatched"]) o << "<li><b>" << e(str(u["model"]) + "." + str(u["component"])) << "</b>: " << e(str(u["reason"])) << "</li>";
    o << "</ul>";
  }
  o << "<div class=\"figs\">";
  for (const auto& c : pair["components"]) {
    HeatmapPlot h;
    h.title = "log10 p per block pair: A." + str(c["a"]) + " vs B." + str(c["b"]);
    h.x_label = "block of B." + str(c["b"]);
    h.y_label = "block of A." + str(c["a"]);
    h.legend_label = "log10 p";
    h.rows = c["blocks_a"].get<int64_t>();
    h.cols = c["blocks_b"].get<int64_t>();
    double lo = -1;
    for (const auto& row : c["block_log10_p"]) {
      for (const auto& v : row) {
        h.values.push_back(v.is_number() ? v.get<double>() : NAN);
        if (v.is_number()) lo = std::min(lo, v.get<double>());
      }
    }
    if (static_cast<int64_t>(h.values.size()) != h.rows * h.cols || h.rows == 0 || h.cols == 0) continue;
    h.v_min = std::floor(std::max(lo, -300.0));
    h.v_max = 0;
    for (const auto& l : c["block_map"]) h.marked.emplace_back(l[0].get<int64_t>(), l[1].get<int64_t>());
    h.marked_label = "block map";
    o << svg_heatmap(h);
  }
  o << "</div></section>";
}

// A thumbnail with the patch (or the whole image for CLS) outlined, as an inline SVG.
std::string thumbnail(const ordered_json& f, const ordered_json& in) {
  const auto idx = in["image"].get<int64_t>();
  std::string png;
  for (const auto& t : f["thumbnails"]) if (t["index"].get<int64_t>() == idx) png = t["thumbnail_png"].get<std::string>();
  const int size = 64;
  const double cell = static_cast<double>(size) / f["grid"].get<double>();
  std::ostringstream o;
  o << "<div class=\"thumb\"><svg width=\"" << size << "\" height=\"" << size << "\" viewBox=\"0 0 " << size << ' ' << size << "\">"
    << "<image width=\"" << size << "\" height=\"" << size << "\" href=\"data:image/png;base64," << png << "\"/>";
  if (in["patch"].is_null()) {
    o << "<rect x=\"1\" y=\"1\" width=\"" << size - 2 << "\" height=\"" << size - 2 << "\" fill=\"none\" stroke=\"#ffd400\" stroke-width=\"2\" stroke-dasharray=\"4 2\"/>";
  } else {
    o << "<rect x=\"" << fixed(cell * in["patch"][1].get<double>(), 1) << "\" y=\"" << fixed(cell * in["patch"][0].get<double>(), 1)
      << "\" width=\"" << fixed(cell, 1) << "\" height=\"" << fixed(cell, 1) << "\" fill=\"none\" stroke=\"#ffd400\" stroke-width=\"2\"/>";
  }
  o << "</svg><br>" << e(str(f["image_names"][idx])) << "<br>" << (in["patch"].is_null() ? std::string("CLS") : "patch " + in["patch"][0].dump() + "," + in["patch"][1].dump())
    << " · " << fixed(in["activation"].get<double>(), 2) << "</div>";
  return o.str();
}

void features_section(std::ostringstream& o, const ordered_json& doc) {
  const auto& f = doc["features"];
  o << "<section id=\"features\"><h2>3. Features</h2>";
  if (f["status"] != "done") {
    o << "<p>Skipped: " << e(str(f["reason"])) << "</p></section>";
    return;
  }
  const auto& an = f["analysis"];
  const auto& cc = f["crosscoder"];
  o << "<p>Paired activations at <code>" << e(str(f["hook_a"])) << "</code> on " << f["images"].dump() << " images x "
    << f["tokens_per_image"].dump() << " tokens = " << f["rows"].dump() << " rows. " << e(str(f["alignment"])) << ".</p><ul>"
    << "<li>Model A: " << e(str(f["tower_a"])) << "</li><li>Model B: " << e(str(f["tower_b"])) << "</li>";
  if (f["row_cosine_mean"].is_number()) o << "<li>Mean cosine of paired rows before any dictionary: " << fixed(f["row_cosine_mean"].get<double>(), 4) << "</li>";
  o << "<li>Crosscoder: " << e(str(cc["sparsity"])) << ", dictionary " << cc["dict_size"].dump() << ", k " << cc["k"].dump() << ", "
    << cc["steps"].dump() << " steps of " << cc["batch_size"].dump() << " rows; FVE A " << fixed(an["fve"][0].get<double>(), 3)
    << ", B " << fixed(an["fve"][1].get<double>(), 3) << "; L0 " << fixed(an["l0_threshold"].get<double>(), 2) << "; dead "
    << fixed(an["dead_fraction"].get<double>() * 100, 1) << "%</li><li>" << e(str(f["prompts_note"])) << "</li></ul>";

  o << "<table id=\"bins-table\"><tr><th>bin</th><th>latents</th></tr>";
  BarPlot bars;
  bars.title = "Latents per bin";
  bars.y_label = "latents";
  for (const auto& [bin, n] : an["bin_counts"].items()) {
    o << "<tr><td>" << e(bin) << "</td><td class=\"num\">" << n.dump() << "</td></tr>";
    bars.labels.push_back(bin);
    bars.values.push_back(n.get<double>());
    bars.colors.push_back(bin == "shared" ? "#3b6ea8" : bin == "dead" ? "#9aa3ad" : bin == "A-only" ? "#d9822b" : bin == "B-only" ? "#7b4fa6" : "#6aa56a");
  }
  o << "</table><div class=\"figs\">";
  if (!bars.values.empty()) o << svg_bars(bars);
  HistogramPlot r;
  r.title = "Relative decoder norm of live latents";
  r.x_label = "r = |d_B| / (|d_A| + |d_B|)";
  r.series_label = "latents per bin of r";
  r.counts = an["r_histogram"].get<std::vector<int64_t>>();
  r.regions = {{0, 0.2, "A-only (r < 0.2)", "#d9822b"}, {0.3, 0.7, "shared (0.3 < r < 0.7)", "#3b6ea8"}, {0.8, 1.0, "B-only (r > 0.8)", "#7b4fa6"}};
  o << svg_histogram(r);
  HistogramPlot c;
  c.title = "Decoder cosine of live latents";
  c.x_label = "cos(d_A, d_B)";
  c.x_min = -1;
  c.series_label = "latents per cosine bin";
  c.counts = an["cosine_histogram"].get<std::vector<int64_t>>();
  o << svg_histogram(c) << "</div><p class=\"note\">" << e(str(an["cosine_note"])) << "</p>";

  for (const auto& b : f["top_latents"]) {
    o << "<h3>Top latents: " << e(str(b["bin"])) << " (" << b["count"].dump() << " latents)</h3>";
    if (b["latents"].empty()) {
      o << "<p class=\"note\">none</p>";
      continue;
    }
    o << "<table class=\"latents\"><tr><th>latent</th><th>r</th><th>cosine</th><th>frequency</th><th>top inputs (patch outlined)</th></tr>";
    for (const auto& l : b["latents"]) {
      o << "<tr><td>" << l["latent"].dump() << "</td><td class=\"num\">" << fixed(l["r"].get<double>(), 3) << "</td><td class=\"num\">"
        << (l["cosine"].is_number() ? fixed(l["cosine"].get<double>(), 3) : "n/a") << "</td><td class=\"num\">"
        << fixed(l["frequency"].get<double>(), 4) << "</td><td><div class=\"thumbs\">";
      for (const auto& in : l["top_inputs"]) o << thumbnail(f, in);
      o << "</div></td></tr>";
    }
    o << "</table>";
  }
  o << "</section>";
}

}  // namespace

std::string compare_html(const ordered_json& doc) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
       "<title>crosstrace comparison</title><style>" << kCss << "</style></head><body>";
  o << "<header><h1>crosstrace comparison</h1><p>" << e(str(doc["command"])) << "</p></header><main>";
  o << "<section id=\"summary\"><h2>Summary</h2><table id=\"summary-table\"><tr><th>model</th><th>path</th><th>family</th>"
       "<th>fusion</th><th>parameters</th><th>registry (shape only)</th></tr>";
  for (std::size_t i = 0; i < doc["models"].size(); ++i) {
    const auto& m = doc["models"][i];
    const auto& s = doc["summary"]["anatomy"][i];
    std::string matches;
    for (const auto& x : s["shape_matches"]) matches += str(x) + "; ";
    o << "<tr><td>" << e(str(m["label"])) << "</td><td>" << e(str(m["path"])) << "</td><td>" << e(str(m["family"])) << "</td><td>"
      << e(str(s["fusion"])) << "</td><td class=\"num\">" << e(human_count(s["total_parameters"].get<int64_t>())) << "</td><td>"
      << e(matches.empty() ? "no match" : matches) << "</td></tr>";
  }
  o << "</table><table id=\"summary-lineage\"><tr><th>A component</th><th>B component</th><th>verdict</th><th>log10 p</th></tr>";
  for (const auto& c : doc["summary"]["lineage"]["components"]) {
    o << "<tr><td>" << e(str(c["a"])) << "</td><td>" << e(str(c["b"])) << "</td>" << verdict_cell(c["verdict"]) << "<td class=\"num\">"
      << e(format_log10_p(c["log10_p"])) << "</td></tr>";
  }
  o << "<tr><th colspan=\"2\">pair</th>" << verdict_cell(doc["summary"]["lineage"]["verdict"]) << "<td class=\"num\">"
    << e(format_log10_p(doc["summary"]["lineage"]["log10_p"])) << "</td></tr></table>";
  const auto& fs = doc["summary"]["features"];
  if (fs["status"] == "done") {
    o << "<p>Features: ";
    for (const auto& [bin, n] : fs["bin_counts"].items()) o << e(bin) << " " << n.dump() << " · ";
    o << "</p>";
  } else {
    o << "<p>Features: skipped (" << e(str(fs["reason"])) << ")</p>";
  }
  o << "</section>";
  anatomy_section(o, doc);
  lineage_section(o, doc);
  features_section(o, doc);
  o << "<section id=\"run\"><h2>Run</h2><ul>";
  for (const auto& st : doc["run"]["stages"]) {
    o << "<li>" << e(str(st["stage"])) << ": " << (st["resumed"].get<bool>() ? "resumed from REPORT_DIR/stages" : "computed") << ", "
      << fixed(st["seconds"].get<double>(), 1) << " s</li>";
  }
  o << "</ul><p class=\"note\">Threads " << doc["run"]["threads"].dump() << ", seed " << doc["run"]["seed"].dump()
    << ". Self-contained page: no script, no external resource.</p></section></main></body></html>\n";
  return o.str();
}

}  // namespace ct::report
