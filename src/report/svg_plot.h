// Small SVG figures for the self-contained HTML report: histograms, bar charts and heatmaps, each
// with axes, ticks, axis labels, a title and a legend. The output is an inline <svg> element (no
// scripts, no external references, fonts from the page's CSS).
//
// Ownership: returns strings. Thread-safety: pure functions.
// Failure: CT_CHECK on inconsistent sizes (a caller bug); NaN values are drawn as "missing".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ct::report {

// Escapes & < > " ' for XML/HTML text and attributes.
std::string xml_escape(std::string_view s);

struct ShadedRegion {
  double from = 0, to = 0;  // x range
  std::string label;        // legend text
  std::string color;        // CSS colour
};

struct HistogramPlot {
  std::string title, x_label, y_label = "count", series_label;
  double x_min = 0, x_max = 1;
  std::vector<int64_t> counts;         // equal-width bins over [x_min, x_max]
  std::vector<ShadedRegion> regions;   // e.g. the bins of relative norm
};
std::string svg_histogram(const HistogramPlot& p);

struct BarPlot {
  std::string title, y_label;
  std::vector<std::string> labels;
  std::vector<double> values;
  std::vector<std::string> colors;     // per bar; empty: one colour
};
std::string svg_bars(const BarPlot& p);

struct HeatmapPlot {
  std::string title, x_label, y_label, legend_label;
  int64_t rows = 0, cols = 0;
  std::vector<double> values;          // [rows, cols]; NaN = not computed
  double v_min = -10, v_max = 0;       // colour scale (v_min darkest)
  std::vector<std::pair<int64_t, int64_t>> marked;  // cells outlined (row, col)
  std::string marked_label;            // legend text for the outline
};
std::string svg_heatmap(const HeatmapPlot& p);

}  // namespace ct::report
