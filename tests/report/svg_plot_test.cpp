// SVG figures: bar heights proportional to the counts (read back from the markup), one heatmap cell
// per value with the darkest colour at v_min, outlines for the block map, escaping of labels.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "report/svg_plot.h"

namespace ct::report {
namespace {

std::vector<double> bar_heights(const std::string& svg) {
  std::vector<double> h;
  const std::regex bar(R"re(<rect class="bar" x="[0-9.]+" y="[0-9.]+" width="[0-9.]+" height="([0-9.]+)")re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), bar); it != std::sregex_iterator(); ++it) h.push_back(std::stod((*it)[1]));
  return h;
}

TEST(SvgPlot, HistogramBarsAreProportionalToCounts) {
  HistogramPlot p;
  p.title = "t";
  p.counts = {0, 10, 5, 20};
  const auto h = bar_heights(svg_histogram(p));
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0], 0.0);
  EXPECT_NEAR(h[1] / h[3], 0.5, 0.01);
  EXPECT_NEAR(h[2] / h[3], 0.25, 0.01);
}

TEST(SvgPlot, HeatmapHasOneCellPerValueAndOutlinesTheMap) {
  HeatmapPlot p;
  p.rows = 2;
  p.cols = 3;
  p.values = {-10, 0, NAN, -5, -10, 0};
  p.v_min = -10;
  p.marked = {{0, 0}, {1, 1}};
  const std::string svg = svg_heatmap(p);
  const std::regex cell(R"re(<rect [^>]*fill="(#[0-9a-f]{6})" stroke="#ffffff")re");
  std::vector<std::string> fills;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cell); it != std::sregex_iterator(); ++it) fills.push_back((*it)[1]);
  ASSERT_EQ(fills.size(), 6u);
  EXPECT_EQ(fills[0], "#7f0000");   // v_min: darkest
  EXPECT_EQ(fills[1], "#fff7ec");   // v_max: lightest
  EXPECT_EQ(fills[2], "#d0d0d0");   // NaN: missing
  EXPECT_EQ(fills[4], fills[0]);
  size_t outlines = 0;
  for (size_t pos = 0; (pos = svg.find("stroke=\"#1a9850\" stroke-width=\"2.5\"", pos)) != std::string::npos; ++pos) ++outlines;
  EXPECT_EQ(outlines, 2u);
}

TEST(SvgPlot, EscapesText) {
  EXPECT_EQ(xml_escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
  BarPlot b;
  b.title = "<script>";
  b.labels = {"x"};
  b.values = {1};
  EXPECT_EQ(svg_bars(b).find("<script>"), std::string::npos);
}

}  // namespace
}  // namespace ct::report
