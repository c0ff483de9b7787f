#include "cli/args.h"

#include <charconv>

#include "core/error.h"

namespace ct::cli {

std::string Args::get(const std::string& option, const std::string& fallback) const {
  auto it = options.find(option);
  return it == options.end() ? fallback : it->second;
}

Args parse_args(int argc, char** argv, int first, const ArgSpec& spec) {
  Args args;
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") {
      args.json = true;
    } else if (a == "--threads") {
      if (i + 1 >= argc) throw InputError("--threads", "needs a value (usage: " + spec.usage + ")");
      const std::string v = argv[++i];
      int n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > 1024) {
        throw InputError("--threads", "must be an integer from 1 to 1024, found '" + v + "'");
      }
      args.threads = n;
    } else if (spec.options.count(a)) {
      if (i + 1 >= argc) throw InputError(a, "needs a value (usage: " + spec.usage + ")");
      args.options[a] = argv[++i];
    } else if (spec.flags.count(a)) {
      args.flags.insert(a);
    } else if (a.size() > 1 && a[0] == '-') {
      throw InputError(a, "unknown option (usage: " + spec.usage + ")");
    } else {
      args.positional.push_back(a);
    }
  }
  const int n = static_cast<int>(args.positional.size());
  if (n < spec.min_positional || (spec.max_positional >= 0 && n > spec.max_positional)) {
    throw InputError(n < spec.min_positional ? "arguments" : args.positional.back(),
                     (n < spec.min_positional ? "missing argument" : "unexpected argument") +
                         std::string(" (usage: ") + spec.usage + ")");
  }
  return args;
}

}  // namespace ct::cli
