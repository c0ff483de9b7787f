// crosstrace harvest MODEL --hooks H1,H2,...|all --image IMG --prompt TEXT --out FILE.safetensors
//                    [--task vqa|caption] [--vision-tower DIR] [--raw-prompt] [--json] [--threads N]
//
// One input (CONTRACTS.md 3): one forward pass over the prepared prompt (no generation), capturing
// the named hook points into one safetensors file: one F32 tensor [rows, dim] per hook, named by
// the hook, and __metadata__ {model (the path given), prompt (the text tokenised), image,
// token_ids (JSON array of the LM input ids, image positions included), family}. `--hooks all`
// takes every hook the model offers; an unknown hook is an InputError listing the valid ones.
// The dataset form (`--data DIR --out STORE/`) is a separate path, not in this file.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <span>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/vlm_args.h"
#include "core/error.h"
#include "core/exec_context.h"
#include "io/safetensors.h"
#include "models/hooks.h"
#include "models/vlm_pipeline.h"

namespace ct::cli {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_hooks(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = list.find(',', start);
    const std::string name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (name.empty()) throw InputError("--hooks", "empty hook name in '" + list + "' (give names separated by commas, or all)");
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// Fails before the forward pass when the output cannot be written where asked.
void check_out_path(const fs::path& out) {
  if (out.empty()) throw InputError("--out", "needs the output file (FILE.safetensors)");
  if (fs::is_directory(out)) {
    throw InputError(out.string(), "is a directory; single-input harvest writes one FILE.safetensors");
  }
  const fs::path parent = out.parent_path();
  if (!parent.empty() && !fs::is_directory(parent)) {
    throw InputError(out.string(), "its directory " + parent.string() + " does not exist");
  }
}

}  // namespace

int run_harvest(int argc, char** argv) {
  ArgSpec spec{kVlmInputOptions, kVlmInputFlags, 1, 1,
               "crosstrace harvest MODEL --hooks H1,H2,...|all --image IMG --prompt TEXT --out FILE.safetensors "
               "[--task vqa|caption] [--vision-tower DIR] [--raw-prompt] [--json] [--threads N]"};
  spec.options.insert({"--hooks", "--out", "--data"});
  const Args args = parse_args(argc, argv, 2, spec);
  if (args.options.count("--data")) {
    throw InputError("--data", "the dataset form (harvest --data DIR --out STORE/) is not available in this build yet");
  }
  if (!args.options.count("--hooks")) throw InputError("--hooks", "missing: name the hook points to capture, or all");
  const std::string model = args.positional[0];
  const fs::path out = args.get("--out");
  check_out_path(out);
  const models::VlmRequest request = vlm_request_from_args(args);

  ExecContext ctx(args.threads);
  const auto pipeline = models::open_vlm_pipeline(model, vlm_open_options_from_args(args));
  const std::vector<std::string> offered = pipeline->hook_names();
  const std::string list = args.get("--hooks");
  const std::vector<std::string> names = list == "all" ? offered : split_hooks(list);
  models::validate_hook_names(names, offered, "--hooks");
  const models::VlmInput input = pipeline->prepare(request);

  models::Hooks hooks;
  models::HookRecorder recorder;
  recorder.subscribe_to(hooks, names);
  pipeline->forward(input, ctx, hooks);

  std::vector<io::TensorToWrite> tensors;
  nlohmann::ordered_json shapes = nlohmann::ordered_json::object();
  for (const auto& name : names) {
    const auto it = recorder.tensors.find(name);
    if (it == recorder.tensors.end()) {
      throw InputError("--hooks", "'" + name + "' is not emitted for this input (e.g. mPLUG's text.* and fusion.* hooks need --task vqa)");
    }
    const auto& t = it->second;
    tensors.push_back({name, io::DType::kF32, {t.rows, t.cols}, std::as_bytes(std::span(t.data))});
    shapes[name] = {t.rows, t.cols};
  }
  const std::map<std::string, std::string> metadata = {{"model", model},
                                                       {"prompt", input.prompt_text},
                                                       {"image", request.image.string()},
                                                       {"token_ids", nlohmann::json(input.ids).dump()},
                                                       {"family", pipeline->family()}};
  io::write_safetensors(out, tensors, metadata);

  if (args.json) {
    const nlohmann::ordered_json doc = {{"out", out.string()}, {"model", model}, {"family", pipeline->family()},
                                        {"tokens", input.ids.size()}, {"hooks", shapes}};
    std::cout << doc.dump(2) << '\n';
  } else {
    std::cout << "wrote " << out.string() << ": " << names.size() << " hooks over " << input.ids.size() << " tokens\n";
    for (const auto& [name, shape] : shapes.items()) std::cout << "  " << name << " " << shape.dump() << '\n';
  }
  return 0;
}

}  // namespace ct::cli
