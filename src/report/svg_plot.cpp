// SVG figures (see svg_plot.h). Coordinates are in px of a fixed viewBox; the page scales them.
#include "report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"

namespace ct::report {
namespace {

constexpr double kWidth = 520, kHeight = 300;
constexpr double kLeft = 62, kRight = 16, kTop = 34, kBottom = 52;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// About `target` round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int target = 5) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / target, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  std::vector<double> out;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return out;
}

std::string open_svg(const std::string& title, const std::string& klass) {
  std::ostringstream o;
  o << "<svg class=\"plot " << klass << "\" viewBox=\"0 0 " << kWidth << ' ' << kHeight
    << "\" width=\"" << kWidth << "\" height=\"" << kHeight << "\" role=\"img\" aria-label=\"" << xml_escape(title) << "\">"
    << "<rect x=\"0\" y=\"0\" width=\"" << kWidth << "\" height=\"" << kHeight << "\" fill=\"#ffffff\"/>"
    << "<text x=\"" << kWidth / 2 << "\" y=\"20\" text-anchor=\"middle\" class=\"title\">" << xml_escape(title) << "</text>";
  return o.str();
}

// Axes box, y ticks over [0, y_max] and the two axis labels.
void frame(std::ostringstream& o, double y_max, const std::string& x_label, const std::string& y_label) {
  const double x0 = kLeft, y0 = kHeight - kBottom, x1 = kWidth - kRight, y1 = kTop;
  for (double t : ticks(0, y_max)) {
    const double y = y0 - (y0 - y1) * t / y_max;
    o << "<line x1=\"" << px(x0) << "\" y1=\"" << px(y) << "\" x2=\"" << px(x1) << "\" y2=\"" << px(y) << "\" class=\"grid\"/>"
      << "<text x=\"" << px(x0 - 6) << "\" y=\"" << px(y + 4) << "\" text-anchor=\"end\" class=\"tick\">" << num(t) << "</text>";
  }
  o << "<line x1=\"" << x0 << "\" y1=\"" << y0 << "\" x2=\"" << x1 << "\" y2=\"" << y0 << "\" class=\"axis\"/>"
    << "<line x1=\"" << x0 << "\" y1=\"" << y0 << "\" x2=\"" << x0 << "\" y2=\"" << y1 << "\" class=\"axis\"/>"
    << "<text x=\"" << px((x0 + x1) / 2) << "\" y=\"" << px(kHeight - 10) << "\" text-anchor=\"middle\" class=\"label\">"
    << xml_escape(x_label) << "</text>"
    << "<text transform=\"translate(16," << px((y0 + y1) / 2) << ") rotate(-90)\" text-anchor=\"middle\" class=\"label\">"
    << xml_escape(y_label) << "</text>";
}

void legend_entry(std::ostringstream& o, int index, const std::string& color, const std::string& text, bool outline = false) {
  const double x = kWidth - kRight - 170, y = kTop + 4 + 16 * index;
  o << "<rect x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"12\" height=\"10\" "
    << (outline ? "fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\"" : "fill=\"" + color + "\"") << "/>"
    << "<text x=\"" << px(x + 17) << "\" y=\"" << px(y + 9) << "\" class=\"legend\">" << xml_escape(text) << "</text>";
}

// Sequential scale: t = 0 light, 1 dark.
std::string ramp(double t) {
  t = std::clamp(t, 0.0, 1.0);
  const double a[3] = {255, 247, 236}, b[3] = {127, 0, 0};
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(a[0] + (b[0] - a[0]) * t),
                static_cast<int>(a[1] + (b[1] - a[1]) * t), static_cast<int>(a[2] + (b[2] - a[2]) * t));
  return buf;
}

}  // namespace

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string svg_histogram(const HistogramPlot& p) {
  CT_CHECK(!p.counts.empty() && p.x_max > p.x_min);
  std::ostringstream o;
  o << open_svg(p.title, "histogram");
  const double x0 = kLeft, y0 = kHeight - kBottom, x1 = kWidth - kRight, y1 = kTop;
  const int64_t peak = *std::max_element(p.counts.begin(), p.counts.end());
  const double y_max = std::max<double>(1, static_cast<double>(peak)) * 1.1;
  auto xpos = [&](double v) { return x0 + (x1 - x0) * (v - p.x_min) / (p.x_max - p.x_min); };
  for (const auto& r : p.regions) {
    o << "<rect x=\"" << px(xpos(r.from)) << "\" y=\"" << px(y1) << "\" width=\"" << px(xpos(r.to) - xpos(r.from))
      << "\" height=\"" << px(y0 - y1) << "\" fill=\"" << r.color << "\" opacity=\"0.25\"/>";
  }
  frame(o, y_max, p.x_label, p.y_label);
  const double bw = (x1 - x0) / static_cast<double>(p.counts.size());
  for (std::size_t i = 0; i < p.counts.size(); ++i) {
    const double h = (y0 - y1) * static_cast<double>(p.counts[i]) / y_max;
    o << "<rect class=\"bar\" x=\"" << px(x0 + bw * i + 1) << "\" y=\"" << px(y0 - h) << "\" width=\"" << px(bw - 2)
      << "\" height=\"" << px(h) << "\" fill=\"#3b6ea8\"><title>" << p.counts[i] << "</title></rect>";
  }
  for (double t : ticks(p.x_min, p.x_max)) {
    o << "<line x1=\"" << px(xpos(t)) << "\" y1=\"" << px(y0) << "\" x2=\"" << px(xpos(t)) << "\" y2=\"" << px(y0 + 5)
      << "\" class=\"axis\"/><text x=\"" << px(xpos(t)) << "\" y=\"" << px(y0 + 18) << "\" text-anchor=\"middle\" class=\"tick\">"
      << num(t) << "</text>";
  }
  int entry = 0;
  legend_entry(o, entry++, "#3b6ea8", p.series_label.empty() ? "count per bin" : p.series_label);
  for (const auto& r : p.regions) legend_entry(o, entry++, r.color, r.label);
  o << "</svg>";
  return o.str();
}

std::string svg_bars(const BarPlot& p) {
  CT_CHECK(p.labels.size() == p.values.size() && !p.values.empty());
  CT_CHECK(p.colors.empty() || p.colors.size() == p.values.size());
  std::ostringstream o;
  o << open_svg(p.title, "bars");
  const double x0 = kLeft, y0 = kHeight - kBottom, x1 = kWidth - kRight, y1 = kTop;
  const double y_max = std::max(1.0, *std::max_element(p.values.begin(), p.values.end())) * 1.15;
  frame(o, y_max, "", p.y_label);
  const double slot = (x1 - x0) / static_cast<double>(p.values.size());
  for (std::size_t i = 0; i < p.values.size(); ++i) {
    const double h = (y0 - y1) * p.values[i] / y_max, x = x0 + slot * i + slot * 0.15;
    const std::string color = p.colors.empty() ? "#3b6ea8" : p.colors[i];
    o << "<rect class=\"bar\" x=\"" << px(x) << "\" y=\"" << px(y0 - h) << "\" width=\"" << px(slot * 0.7) << "\" height=\""
      << px(h) << "\" fill=\"" << color << "\"/>"
      << "<text x=\"" << px(x + slot * 0.35) << "\" y=\"" << px(y0 - h - 4) << "\" text-anchor=\"middle\" class=\"tick\">"
      << num(p.values[i]) << "</text>"
      << "<text x=\"" << px(x + slot * 0.35) << "\" y=\"" << px(y0 + 16) << "\" text-anchor=\"middle\" class=\"tick\">"
      << xml_escape(p.labels[i]) << "</text>";
  }
  if (p.colors.empty()) {
    legend_entry(o, 0, "#3b6ea8", p.y_label);
  } else {
    for (std::size_t i = 0; i < p.labels.size(); ++i) legend_entry(o, static_cast<int>(i), p.colors[i], p.labels[i]);
  }
  o << "</svg>";
  return o.str();
}

std::string svg_heatmap(const HeatmapPlot& p) {
  CT_CHECK(p.rows > 0 && p.cols > 0 && static_cast<int64_t>(p.values.size()) == p.rows * p.cols);
  CT_CHECK(p.v_max > p.v_min);
  std::ostringstream o;
  o << open_svg(p.title, "heatmap");
  const double x0 = kLeft, y0 = kHeight - kBottom, x1 = kWidth - 110, y1 = kTop;
  const double cw = (x1 - x0) / static_cast<double>(p.cols), ch = (y0 - y1) / static_cast<double>(p.rows);
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t c = 0; c < p.cols; ++c) {
      const double v = p.values[r * p.cols + c];
      const std::string fill = std::isnan(v) ? "#d0d0d0" : ramp((p.v_max - v) / (p.v_max - p.v_min));
      o << "<rect x=\"" << px(x0 + cw * c) << "\" y=\"" << px(y1 + ch * r) << "\" width=\"" << px(cw) << "\" height=\"" << px(ch)
        << "\" fill=\"" << fill << "\" stroke=\"#ffffff\" stroke-width=\"0.5\"><title>" << p.y_label << ' ' << r << ", "
        << p.x_label << ' ' << c << ": " << (std::isnan(v) ? std::string("n/a") : num(v)) << "</title></rect>";
    }
  }
  for (const auto& [r, c] : p.marked) {
    o << "<rect x=\"" << px(x0 + cw * c + 1.5) << "\" y=\"" << px(y1 + ch * r + 1.5) << "\" width=\"" << px(cw - 3)
      << "\" height=\"" << px(ch - 3) << "\" fill=\"none\" stroke=\"#1a9850\" stroke-width=\"2.5\"/>";
  }
  const int64_t xstep = std::max<int64_t>(1, p.cols / 8), ystep = std::max<int64_t>(1, p.rows / 8);
  for (int64_t c = 0; c < p.cols; c += xstep) {
    o << "<text x=\"" << px(x0 + cw * (c + 0.5)) << "\" y=\"" << px(y0 + 16) << "\" text-anchor=\"middle\" class=\"tick\">" << c << "</text>";
  }
  for (int64_t r = 0; r < p.rows; r += ystep) {
    o << "<text x=\"" << px(x0 - 6) << "\" y=\"" << px(y1 + ch * (r + 0.5) + 4) << "\" text-anchor=\"end\" class=\"tick\">" << r << "</text>";
  }
  o << "<text x=\"" << px((x0 + x1) / 2) << "\" y=\"" << px(kHeight - 10) << "\" text-anchor=\"middle\" class=\"label\">"
    << xml_escape(p.x_label) << "</text>"
    << "<text transform=\"translate(16," << px((y0 + y1) / 2) << ") rotate(-90)\" text-anchor=\"middle\" class=\"label\">"
    << xml_escape(p.y_label) << "</text>";
  // Colour bar legend.
  const double lx = kWidth - 90, steps = 20;
  for (int i = 0; i < steps; ++i) {
    o << "<rect x=\"" << px(lx) << "\" y=\"" << px(y1 + (y0 - y1) * i / steps) << "\" width=\"14\" height=\""
      << px((y0 - y1) / steps + 0.5) << "\" fill=\"" << ramp(1.0 - i / steps) << "\"/>";
  }
  o << "<text x=\"" << px(lx + 18) << "\" y=\"" << px(y1 + 8) << "\" class=\"tick\">" << num(p.v_min) << "</text>"
    << "<text x=\"" << px(lx + 18) << "\" y=\"" << px(y0) << "\" class=\"tick\">" << num(p.v_max) << "</text>"
    << "<text x=\"" << px(lx - 4) << "\" y=\"" << px(y1 - 8) << "\" class=\"legend\">" << xml_escape(p.legend_label) << "</text>";
  if (!p.marked.empty()) {
    o << "<rect x=\"" << px(lx) << "\" y=\"" << px(y0 + 14) << "\" width=\"12\" height=\"10\" fill=\"none\" stroke=\"#1a9850\" stroke-width=\"2\"/>"
      << "<text x=\"" << px(lx + 16) << "\" y=\"" << px(y0 + 23) << "\" class=\"legend\">" << xml_escape(p.marked_label) << "</text>";
  }
  o << "</svg>";
  return o.str();
}

}  // namespace ct::report
