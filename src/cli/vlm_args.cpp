// Shared input/generation options of `run` and `harvest`.
#include "cli/vlm_args.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace ct::cli {

models::VlmRequest vlm_request_from_args(const Args& args) {
  models::VlmRequest r;
  r.image = args.get("--image");
  r.prompt = args.get("--prompt");
  r.raw_prompt = args.has("--raw-prompt");
  r.task = args.get("--task");
  if (args.options.count("--task") && r.task != "vqa" && r.task != "caption") {
    throw InputError("--task", "must be vqa or caption, found '" + r.task + "'");
  }
  return r;
}

models::VlmOpenOptions vlm_open_options_from_args(const Args& args) {
  models::VlmOpenOptions o;
  o.vision_tower = args.get("--vision-tower");
  return o;
}

models::GenerationOptions generation_options_from_args(const Args& args) {
  models::GenerationOptions g;
  g.max_new_tokens = 0;  // the family's default unless given
  if (args.options.count("--max-new-tokens")) {
    const int64_t n = parse_int_option("--max-new-tokens", args.get("--max-new-tokens"));
    if (n < 1 || n > 1000000) {
      throw InputError("--max-new-tokens", "must be an integer from 1 to 1000000, found " + std::to_string(n));
    }
    g.max_new_tokens = static_cast<int>(n);
  }
  if (args.options.count("--temperature")) {
    g.temperature = static_cast<float>(parse_float_option("--temperature", args.get("--temperature")));
  }
  if (args.options.count("--top-p")) g.top_p = static_cast<float>(parse_float_option("--top-p", args.get("--top-p")));
  if (args.options.count("--seed")) g.seed = parse_u64_option("--seed", args.get("--seed"));
  models::validate_generation_options(g);
  return g;
}

int64_t parse_int_option(const std::string& option, const std::string& v) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) throw InputError(option, "must be an integer, found '" + v + "'");
  return n;
}

double parse_float_option(const std::string& option, const std::string& v) {
  // strtod rather than from_chars<double>: the latter needs a newer libstdc++ than Debian 12's
  // for some targets; the full-match check keeps it strict.
  char* end = nullptr;
  const double x = v.empty() ? NAN : std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(x)) {
    throw InputError(option, "must be a finite number, found '" + v + "'");
  }
  return x;
}

uint64_t parse_u64_option(const std::string& option, const std::string& v) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) {
    throw InputError(option, "must be a non-negative integer, found '" + v + "'");
  }
  return n;
}

}  // namespace ct::cli
