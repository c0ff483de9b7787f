// Hook listings from config.json.
#include "models/model_hooks.h"

#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "io/json_file.h"
#include "models/clip_vision.h"
#include "models/llama.h"
#include "models/llava.h"
#include "models/mplug.h"

namespace ct::models {
namespace fs = std::filesystem;

namespace {

// The vision config of a CLIP directory (CLIPVisionModel or CLIPModel), if it has a config.json.
bool read_tower_config(const fs::path& tower, io::ClipVisionConfig& out) {
  const fs::path cfg = io::model_directory(tower) / "config.json";
  if (!fs::exists(cfg)) return false;
  const nlohmann::json j = io::read_json_file(cfg);
  const std::string type = io::config_model_type(j, cfg.string());
  if (type == "clip" && j.contains("vision_config")) out = io::parse_clip_vision_config(j["vision_config"], cfg.string());
  else if (type == "clip_vision_model") out = io::parse_clip_vision_config(j, cfg.string());
  else return false;
  return true;
}

}  // namespace

ModelHooks list_model_hooks(const fs::path& model, const fs::path& vision_tower) {
  ModelHooks h;
  const fs::path dir = io::model_directory(model);
  const fs::path cfg_path = dir / "config.json";
  if (!fs::exists(cfg_path) && fs::exists(dir / "config.yaml")) {
    // mPLUG ships config.yaml + a BERT JSON; its vision sizes are read off the checkpoint's shapes.
    h.family = "mplug";
    const io::TensorStore store = io::open_checkpoint(model);
    h.names = mplug_hook_names(read_mplug_config(model, store));
    return h;
  }
  if (!fs::exists(cfg_path)) {
    h.note = "no config.json next to the checkpoint";
    return h;
  }
  const nlohmann::json j = io::read_json_file(cfg_path);
  const std::string file = cfg_path.string();
  const std::string type = io::config_model_type(j, file);
  if (type == "llava" || type == "llava_llama" || j.contains("mm_vision_tower")) {
    h.family = "llava";
    io::LlavaConfig c = io::parse_llava_config(j, file);
    if (c.original_layout) {
      fs::path tower = vision_tower.empty() ? fs::path(c.mm_vision_tower) : vision_tower;
      if (tower.is_relative() && vision_tower.empty()) tower = dir / tower;
      if (!read_tower_config(tower, c.vision)) {
        h.note = "original LLaVA layout: vision tower \"" + c.mm_vision_tower +
                 "\" not found locally, so only projector and lm hooks are listed";
        h.names.push_back("projector.output");
        const auto lm = llama_hook_names(c.text);
        h.names.insert(h.names.end(), lm.begin(), lm.end());
        return h;
      }
    }
    h.names = llava_hook_names(c);
  } else if (type == "llama") {
    h.family = "llama";
    h.names = llama_hook_names(io::parse_llama_config(j, file));
  } else if (type == "clip_vision_model" || (type == "clip" && j.contains("vision_config"))) {
    h.family = "clip_vision";
    io::ClipVisionConfig c;
    read_tower_config(model, c);
    h.names = clip_vision_hook_names(c, {});
  } else {
    h.note = "no forward pass for model_type \"" + type + "\" yet";
  }
  return h;
}

}  // namespace ct::models
