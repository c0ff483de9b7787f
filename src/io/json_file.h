// Reading JSON files (configs, indexes) with errors that name the file.
// Failure: InputError("<path>", "...") when the file is missing, unreadable or not valid JSON.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

namespace ct::io {

nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace ct::io
