#include "io/json_file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace ct::io {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return nlohmann::json::parse(buffer.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(path.string(), std::string("invalid JSON: ") + e.what());
  }
}

}  // namespace ct::io
