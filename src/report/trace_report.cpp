#include "report/trace_report.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "lineage/pvalues.h"

namespace ct::report {
using nlohmann::ordered_json;

namespace {

ordered_json number(double v) { return std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr); }

std::string fmt(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, std::abs(v) >= 1000 ? "%.0f" : "%.2f", v);
  return buf;
}

ordered_json test_json(const lineage::TestResult& t, int64_t component) {
  ordered_json j;
  j["log10_p"] = number(t.log10_p);
  j["per_block"] = ordered_json::array();
  j["blocks"] = ordered_json::array();
  for (size_t k = 0; k < t.per_block.size(); ++k) {
    j["per_block"].push_back(number(t.per_block[k]));
    j["blocks"].push_back({{"component", component}, {"a", t.blocks[k].a}, {"b", t.blocks[k].b}});
  }
  return j;
}

}  // namespace

ordered_json trace_to_json(const std::vector<TracedModel>& models, const std::vector<lineage::PairTrace>& pairs,
                           const lineage::TraceOptions& o, uint64_t seed) {
  ordered_json out;
  out["models"] = ordered_json::array();
  for (const auto& m : models) out["models"].push_back({{"path", m.path}, {"family", m.family}});
  out["pairs"] = ordered_json::array();
  for (const auto& p : pairs) {
    ordered_json pj;
    pj["a"] = p.a;
    pj["b"] = p.b;
    pj["verdict"] = lineage::verdict_name(p.verdict);
    pj["log10_p"] = number(p.log10_p);
    // Pair-level tests: per_block concatenated over components, log10_p Fisher over component values.
    ordered_json tests = ordered_json::object();
    std::map<std::string, std::vector<double>> component_values;
    for (size_t c = 0; c < p.components.size(); ++c) {
      for (const auto& t : p.components[c].tests) {
        const ordered_json tj = test_json(t, static_cast<int64_t>(c));
        if (!tests.contains(t.name)) tests[t.name] = {{"log10_p", nullptr}, {"per_block", ordered_json::array()}, {"blocks", ordered_json::array()}};
        for (const auto& v : tj["per_block"]) tests[t.name]["per_block"].push_back(v);
        for (const auto& v : tj["blocks"]) tests[t.name]["blocks"].push_back(v);
        if (std::isfinite(t.log10_p)) component_values[t.name].push_back(t.log10_p);
      }
    }
    for (const auto& [name, values] : component_values) tests[name]["log10_p"] = number(lineage::fisher_combine(values).log10_p);
    pj["tests"] = tests;
    pj["components"] = ordered_json::array();
    for (size_t c = 0; c < p.components.size(); ++c) {
      const auto& ct = p.components[c];
      ordered_json cj;
      cj["a"] = ct.a;
      cj["b"] = ct.b;
      cj["log10_p"] = number(ct.log10_p);
      cj["verdict"] = lineage::verdict_name(ct.verdict);
      cj["block_map"] = ordered_json::array();
      for (const auto& l : ct.block_map) cj["block_map"].push_back({l.a, l.b, number(l.log10_p)});
      cj["match_class"] = ct.match_class;
      cj["blocks_a"] = ct.blocks_a;
      cj["blocks_b"] = ct.blocks_b;
      cj["residual_alignment"] = ct.residual_alignment;
      cj["anchor_cosine"] = number(ct.anchor_cosine);
      cj["block_log10_p"] = ordered_json::array();
      if (!ct.block_log10_p.empty()) {
        for (int64_t i = 0; i < ct.blocks_a; ++i) {
          ordered_json row = ordered_json::array();
          for (int64_t j = 0; j < ct.blocks_b; ++j) row.push_back(number(ct.block_log10_p[i * ct.blocks_b + j]));
          cj["block_log10_p"].push_back(row);
        }
      }
      cj["tests"] = ordered_json::object();
      for (const auto& t : ct.tests) {
        ordered_json tj = test_json(t, static_cast<int64_t>(c));
        tj.erase("blocks");
        ordered_json pairs_ab = ordered_json::array();
        for (const auto& b : t.blocks) pairs_ab.push_back({b.a, b.b});
        tj["block_pairs"] = pairs_ab;
        cj["tests"][t.name] = tj;
      }
      cj["notes"] = ct.notes;
      pj["components"].push_back(cj);
    }
    pj["notes"] = p.notes;
    out["pairs"].push_back(pj);
  }
  // N x N verdicts (null on the diagonal and for pairs not traced).
  out["verdict_matrix"] = ordered_json::array();
  for (size_t i = 0; i < models.size(); ++i) {
    ordered_json row = ordered_json::array();
    for (size_t j = 0; j < models.size(); ++j) {
      ordered_json v = nullptr;
      for (const auto& p : pairs) {
        if ((p.a == static_cast<int64_t>(i) && p.b == static_cast<int64_t>(j)) ||
            (p.b == static_cast<int64_t>(i) && p.a == static_cast<int64_t>(j))) {
          v = lineage::verdict_name(p.verdict);
        }
      }
      row.push_back(v);
    }
    out["verdict_matrix"].push_back(row);
  }
  out["options"] = {{"seed", seed},
                    {"samples", o.samples},
                    {"match_units", o.match_units},
                    {"localize_units", o.localize_units},
                    {"localize_samples", o.localize_samples},
                    {"u_columns", o.u_columns},
                    {"l2_permutations", o.l2_permutations},
                    {"localize_threshold", o.localize_threshold},
                    {"dependent_log10_p", o.dependent_log10_p},
                    {"independent_log10_p", o.independent_log10_p}};
  return out;
}

std::string trace_text(const std::vector<TracedModel>& models, const std::vector<lineage::PairTrace>& pairs) {
  std::ostringstream s;
  for (size_t m = 0; m < models.size(); ++m) s << "[" << m << "] " << models[m].path << " (" << models[m].family << ")\n";
  for (const auto& p : pairs) {
    s << "\n[" << p.a << "] vs [" << p.b << "]: " << lineage::verdict_name(p.verdict) << "  log10 p = " << fmt(p.log10_p) << "\n";
    for (const auto& n : p.notes) s << "  note: " << n << "\n";
    if (p.components.empty()) continue;
    char line[256];
    std::snprintf(line, sizeof line, "  %-16s %-16s %7s %-18s %10s %10s %8s %10s  %s\n", "component a", "component b", "blocks",
                  "residual", "phi_match", "phi_u", "phi_l2", "log10 p", "verdict");
    s << line;
    for (const auto& c : p.components) {
      std::map<std::string, double> t;
      for (const auto& x : c.tests) t[x.name] = x.log10_p;
      auto get = [&](const char* k) { return t.count(k) ? fmt(t[k]) : std::string("-"); };
      const std::string blocks = std::to_string(c.blocks_a) + "x" + std::to_string(c.blocks_b);
      std::snprintf(line, sizeof line, "  %-16s %-16s %7s %-18s %10s %10s %8s %10s  %s\n", c.a.c_str(), c.b.c_str(), blocks.c_str(),
                    c.residual_alignment.c_str(), get("phi_match").c_str(), get("phi_u").c_str(), get("phi_l2").c_str(),
                    fmt(c.log10_p).c_str(), lineage::verdict_name(c.verdict));
      s << line;
      if (!c.block_map.empty()) {
        s << "    block map (a->b):";
        for (const auto& l : c.block_map) s << " " << l.a << "->" << l.b;
        s << "\n";
      }
      for (const auto& n : c.notes) s << "    note: " << n << "\n";
    }
  }
  if (models.size() >= 3) {
    s << "\nverdicts (D dependent, I independent, ? inconclusive):\n     ";
    for (size_t j = 0; j < models.size(); ++j) s << " [" << j << "]";
    s << "\n";
    for (size_t i = 0; i < models.size(); ++i) {
      s << " [" << i << "]";
      for (size_t j = 0; j < models.size(); ++j) {
        char v = '.';
        for (const auto& p : pairs) {
          if ((p.a == static_cast<int64_t>(i) && p.b == static_cast<int64_t>(j)) ||
              (p.b == static_cast<int64_t>(i) && p.a == static_cast<int64_t>(j))) {
            v = p.verdict == lineage::Verdict::kDependent ? 'D' : p.verdict == lineage::Verdict::kIndependent ? 'I' : '?';
          }
        }
        s << "   " << v;
      }
      s << "\n";
    }
  }
  return s.str();
}

}  // namespace ct::report
