// The family dispatch of the generation pipeline (the one place that knows every family).
#include "models/vlm_pipeline.h"

#include <cmath>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "io/json_file.h"
#include "models/llava_pipeline.h"
#include "models/mplug_pipeline.h"

namespace ct::models {
namespace fs = std::filesystem;

namespace {

bool has_mplug_config(const fs::path& dir) {
  if (fs::exists(dir / "config.yaml")) return true;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("config_bert", 0) == 0 && e.path().extension() == ".json") return true;
  }
  return false;
}

}  // namespace

std::string detect_vlm_family(const fs::path& model) {
  if (!fs::exists(model)) {
    throw InputError(model.string(), "no such model directory or checkpoint file");
  }
  const fs::path dir = io::model_directory(model);
  const fs::path cfg_path = dir / "config.json";
  if (fs::exists(cfg_path)) {
    const nlohmann::json j = io::read_json_file(cfg_path);
    const std::string type = io::config_model_type(j, cfg_path.string());
    if (type == "llava" || type == "llava_llama" || j.contains("mm_vision_tower")) return "llava";
    throw InputError(cfg_path.string(), "model_type \"" + type +
                                            "\" is not a vision-language model crosstrace can run "
                                            "(expected llava, llava_llama or mPLUG)");
  }
  if (has_mplug_config(dir)) return "mplug";
  throw InputError(dir.string(), "no config.json (LLaVA) and no config.yaml / config_bert*.json (mPLUG): "
                                 "cannot tell which model this is");
}

std::unique_ptr<VlmPipeline> open_vlm_pipeline(const fs::path& model, const VlmOpenOptions& opt) {
  const std::string family = detect_vlm_family(model);
  if (family == "llava") return open_llava_pipeline(model, opt);
  // Extension point: one branch per family, each implemented in its own <family>_pipeline.cpp.
  CT_CHECK(family == "mplug", "detect_vlm_family returned an unhandled family " + family);
  if (!opt.vision_tower.empty()) {
    throw InputError("--vision-tower", "applies to original-layout LLaVA only; mPLUG carries its own vision encoder");
  }
  return open_mplug_pipeline(model);
}

void validate_generation_options(const GenerationOptions& opt) {
  if (opt.max_new_tokens < 0) {
    throw InputError("--max-new-tokens", "must be at least 1, found " + std::to_string(opt.max_new_tokens));
  }
  if (!std::isfinite(opt.temperature) || opt.temperature < 0.0f) {
    throw InputError("--temperature", "must be a finite number >= 0 (0 = greedy), found " + std::to_string(opt.temperature));
  }
  if (!(opt.top_p > 0.0f && opt.top_p <= 1.0f)) {
    throw InputError("--top-p", "must be in (0, 1], found " + std::to_string(opt.top_p));
  }
}

}  // namespace ct::models
