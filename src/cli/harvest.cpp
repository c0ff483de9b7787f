// crosstrace harvest MODEL --hooks H1,H2,...|all --image IMG --prompt TEXT --out FILE.safetensors
//                    [--task vqa|caption] [--vision-tower DIR] [--raw-prompt] [--json] [--threads N]
// crosstrace harvest MODEL --hooks H1,H2,... --image IMG --prompt TEXT --out STORE/ [--dtype f32|f16|bf16]
//
// One input (CONTRACTS.md 3): one forward pass over the prepared prompt (no generation), capturing
// the named hook points into one safetensors file: one F32 tensor [rows, dim] per hook, named by
// the hook, and __metadata__ {model (the path given), prompt (the text tokenised), image,
// token_ids (JSON array of the LM input ids, image positions included), family}. `--hooks all`
// takes every hook the model offers; an unknown hook is an InputError listing the valid ones.
//
// Into an activation store (CONTRACTS.md 4): when --out ends in "/", is a directory or has no
// extension, it names a store directory (new, empty, or an existing store). The input's rows are appended to every hook
// through ActivationStoreWriter (shards written atomically with their crc32, store.json rewritten
// last), so running again over more inputs grows the store; store.json lists each input's row
// range with its image and prompt under "inputs". The hooks of a store share their row numbering,
// so every hook asked for must have the same row count (the LM hooks of one input do; vision hooks
// have one row per patch instead). When every hook is token-aligned (lm.*, text.*,
// fusion.layers.*.text), the store carries the input ids per row, which is what pairs two models'
// stores row by row. Appending needs the same hooks in the same order, the same model family and
// the same model path; --dtype defaults to the store's (f32 for a new store).
// The dataset form (`--data DIR --out STORE/`) is not in this file yet.
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
#include "crosscoder/activation_store.h"
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

// --out names a store when it ends in a separator ("STORE/"), is an existing directory, or has no
// extension; anything else (FILE.safetensors, as before) is the single-input file.
bool names_a_store(const fs::path& out) {
  std::error_code ec;
  return !out.has_filename() || fs::is_directory(out, ec) || out.extension().empty();
}

// Fails before the forward pass when the output cannot be written where asked.
void check_out_path(const fs::path& out) {
  if (out.empty()) throw InputError("--out", "needs the output file (FILE.safetensors) or store directory (STORE/)");
  const fs::path parent = out.parent_path();
  if (!parent.empty() && !fs::is_directory(parent)) {
    throw InputError(out.string(), "its directory " + parent.string() + " does not exist");
  }
}

// Rows of these hooks are the input's tokens, one per input id (VlmInput::ids).
bool token_aligned(const std::string& hook) {
  const auto starts = [&](const char* p) { return hook.rfind(p, 0) == 0; };
  const auto ends = [&](const char* p) {
    const std::string e(p);
    return hook.size() >= e.size() && hook.compare(hook.size() - e.size(), e.size(), e) == 0;
  };
  return starts("lm.") || starts("text.") || (starts("fusion.") && ends(".text"));
}

// What must hold before the forward pass for a store at `dir` (new, empty or an existing store).
// Returns the existing store's dtype and shard size through the options (resume set) when there is one.
void check_store_target(const fs::path& dir, const std::vector<std::string>& hooks, const std::string& model,
                        const std::string& family, crosscoder::StoreWriterOptions& opt, bool dtype_given) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw InputError(dir.string(), "is a file, not an activation store directory (a single-input file needs --out FILE.safetensors)");
  if (!fs::exists(dir / "store.json", ec)) {
    if (fs::is_directory(dir, ec) && !fs::is_empty(dir, ec))
      throw InputError(dir.string(), "exists and is not an activation store (no store.json); harvest into a new or empty directory");
    const fs::path parent = dir.parent_path();
    if (!parent.empty() && !fs::is_directory(parent, ec))
      throw InputError(dir.string(), "its directory " + parent.string() + " does not exist");
    return;
  }
  const crosscoder::ActivationStore old = crosscoder::ActivationStore::open(dir);
  const std::string manifest = (dir / "store.json").string();
  std::string had, now;
  for (const auto& h : old.hooks()) had += (had.empty() ? "" : ",") + h.name;
  for (const auto& h : hooks) now += (now.empty() ? "" : ",") + h;
  if (had != now)
    throw InputError(manifest, "holds hooks " + had + " but this harvest asks for " + now +
                                   " (appending needs the same hooks in the same order)");
  const auto& src = old.sources();
  const auto fam = src.find("family");
  if (fam != src.end() && fam->second != family)
    throw InputError(manifest, "holds " + fam->second + " activations, not " + family + " ones");
  const auto mod = src.find("model");
  std::error_code e1, e2;
  if (mod != src.end() && fs::weakly_canonical(mod->second, e1) != fs::weakly_canonical(model, e2))
    throw InputError(manifest, "holds activations of " + mod->second + ", not " + model);
  if (dtype_given && opt.dtype != old.dtype())
    throw InputError(manifest, std::string("holds ") + crosscoder::store_dtype_name(old.dtype()) + " rows, not " +
                                   crosscoder::store_dtype_name(opt.dtype));
  opt.dtype = old.dtype();
  if (old.shard_rows() > 0) opt.shard_rows = old.shard_rows();
  opt.resume = true;
}

}  // namespace

int run_harvest(int argc, char** argv) {
  ArgSpec spec{kVlmInputOptions, kVlmInputFlags, 1, 1,
               "crosstrace harvest MODEL --hooks H1,H2,...|all --image IMG --prompt TEXT --out FILE.safetensors "
               "[--task vqa|caption] [--vision-tower DIR] [--raw-prompt] [--json] [--threads N]"};
  spec.options.insert({"--hooks", "--out", "--data", "--dtype"});
  const Args args = parse_args(argc, argv, 2, spec);
  if (args.options.count("--data")) {
    throw InputError("--data", "the dataset form (harvest --data DIR --out STORE/) is not available in this build yet");
  }
  if (!args.options.count("--hooks")) throw InputError("--hooks", "missing: name the hook points to capture, or all");
  const std::string model = args.positional[0];
  fs::path out = args.get("--out");
  const bool to_store = !out.empty() && names_a_store(out);
  if (to_store && !out.has_filename()) out = out.parent_path();  // "STORE/" names the directory STORE
  if (!to_store) check_out_path(out);
  if (!to_store && args.options.count("--dtype"))
    throw InputError("--dtype", "applies to an activation store (--out STORE/); a single-input file is F32");
  crosscoder::StoreWriterOptions store_opt;
  if (args.options.count("--dtype")) store_opt.dtype = crosscoder::parse_store_dtype(args.get("--dtype"));
  const models::VlmRequest request = vlm_request_from_args(args);

  ExecContext ctx(args.threads);
  const auto pipeline = models::open_vlm_pipeline(model, vlm_open_options_from_args(args));
  const std::vector<std::string> offered = pipeline->hook_names();
  const std::string list = args.get("--hooks");
  const std::vector<std::string> names = list == "all" ? offered : split_hooks(list);
  models::validate_hook_names(names, offered, "--hooks");
  if (to_store) check_store_target(out, names, model, pipeline->family(), store_opt, args.options.count("--dtype") > 0);
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
  if (to_store) {
    // One row count for every hook: the store pairs rows across hooks by index.
    const auto& first = recorder.tensors.find(names[0])->second;
    for (const auto& name : names) {
      const auto& t = recorder.tensors.find(name)->second;
      if (t.rows != first.rows)
        throw InputError("--hooks", "'" + names[0] + "' has " + std::to_string(first.rows) + " rows but '" + name + "' has " +
                                        std::to_string(t.rows) + "; a store's hooks share their rows, so harvest these into separate stores");
    }
    const bool with_ids = std::all_of(names.begin(), names.end(), token_aligned) &&
                          static_cast<int64_t>(input.ids.size()) == first.rows;
    store_opt.input_ids = with_ids;
    store_opt.sources = {{"model", model}, {"family", pipeline->family()}, {"writer", "crosstrace harvest"}};
    std::vector<crosscoder::StoreHook> store_hooks;
    std::vector<const float*> rows;
    for (const auto& name : names) {
      const auto& t = recorder.tensors.find(name)->second;
      store_hooks.push_back({name, t.cols});
      rows.push_back(t.data.data());
    }
    crosscoder::ActivationStoreWriter writer(out, store_hooks, store_opt);
    const int64_t before = writer.rows();
    writer.begin_input(first.rows, {{"image", request.image.string()}, {"prompt", input.prompt_text}});
    writer.append(rows, first.rows, with_ids ? input.ids.data() : nullptr);
    writer.finish();
    if (args.json) {
      const nlohmann::ordered_json doc = {{"out", out.string()}, {"store", true}, {"model", model},
                                          {"family", pipeline->family()}, {"row_begin", before},
                                          {"rows_added", first.rows}, {"rows", writer.rows()},
                                          {"input_ids", with_ids}, {"hooks", shapes}};
      std::cout << doc.dump(2) << '\n';
    } else {
      std::cout << "appended " << first.rows << " rows (" << names.size() << " hooks) to store " << out.string()
                << ": rows " << before << ".." << writer.rows() - 1 << " of " << writer.rows() << '\n';
    }
    return 0;
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
