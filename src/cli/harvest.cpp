// crosstrace harvest MODEL --hooks H1,H2,...|all --image IMG --prompt TEXT --out FILE.safetensors
//                    [--task vqa|caption] [--vision-tower DIR] [--raw-prompt] [--json] [--threads N]
// crosstrace harvest MODEL --hooks H1,H2,... --image IMG --prompt TEXT --out STORE/ [--dtype f32|f16|bf16]
// crosstrace harvest MODEL --hooks H1,H2,... --data DIR [--prompt TEXT] [--max-inputs N] --out STORE/
//                    [--dtype f32|f16|bf16] [--compact-inputs K]
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
//
// A dataset (`--data DIR --out STORE/`): the images of DIR as `compare --data` lists them
// (cli/data_dir.h: *.png / *.jpg / *.jpeg in file-name order), each paired with a prompt:
//   - DIR/prompts.txt with one non-blank line per image: line i is image i's prompt;
//   - DIR/prompts.txt with a single line: that prompt for every image;
//   - no prompts.txt: --prompt TEXT for every image (or none: mPLUG --task caption);
// any other prompts.txt line count, or --prompt beside a prompts.txt, is an InputError. --max-inputs N
// takes only the first N pairs. Inputs stream one at a time (decode, forward, append): each input's
// rows are flushed as their own shard(s) and store.json is rewritten at most every
// kManifestIntervalS seconds and on stop, interrupt or error, so a store killed at any point lists
// the inputs that finished up to those last seconds (their unlisted shards are deleted by the
// rerun, which harvests them again), and the shard layout depends
// only on the inputs, never on where runs were interrupted: an interrupted run plus its rerun
// writes the same bytes as one uninterrupted run, and the same bytes as one single-input harvest
// per image (the "image" of each input is DIR/<name> as DIR was given). Resuming: a rerun skips
// every input that store.json already lists with the same image file name and prompt (the text
// tokenised), and appends the rest in order. SIGINT / SIGTERM stop after the input in flight
// (exit 130, store valid). Progress (inputs, rate, ETA) goes to stderr, except with --json.
// Checked before anything is written (exit 2, store unchanged): DIR missing or without images, a
// prompts.txt count mismatch, a file that is not a readable PNG or JPEG (by its magic bytes), and
// an existing store of another model, family, dtype or hook list. An image whose data turns out
// corrupt while decoding stops the run there with exit 2 naming it; the inputs before it stay.
//
// Compaction (--compact-inputs K, default 1024; 0 turns it off): one shard per input and hook
// means inputs x (hooks + 1) files, and a reader that mapped them all stopped opening near 15k
// inputs with 3 hooks (vm.max_map_count 65530). Two remedies, both taken: the store reader maps
// shards lazily under a bound (so any store opens, including ones other tools wrote), and the
// writer merges each closed group of inputs (K inputs or shard_rows rows, whichever comes first)
// into one shard per hook (activation_store.h), so a store of 100k inputs holds about
// 100k / K x (hooks + 1) files instead of 100k x (hooks + 1), and reading touches few mappings.
// Compaction is done by the writer, right after the flush that closes a group, rather than by this
// command at the end of a run: groups are a function of the inputs' row counts alone, so the
// layout is the same whether a run was interrupted or not, and equal to single-input harvests with
// the same K (which compact the same way); compacting "when a run finishes" would make the layout
// depend on where runs stopped. The value is recorded in store.json; an existing store keeps its
// own (another --compact-inputs for it is an InputError), and a store made before compaction
// existed takes the one given. A kill during compaction leaves the store listing either the
// pieces or the merged shard; the rerun removes the unlisted leftovers and redoes what is missing.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <utility>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/interrupt_poll.h"
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

// Inputs per compaction group (see the header comment): 100k inputs make ~100 groups.
constexpr int64_t kDefaultCompactInputs = 1024;
// store.json is rewritten at most this often while inputs are flushed one by one (and on interrupt,
// error and finish): a kill -9 loses at most the last seconds of inputs, which a rerun harvests
// again. See StoreWriterOptions::manifest_interval_s.
constexpr double kManifestIntervalS = 5.0;

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
// Returns the existing store, opened and verified, with its dtype and shard size set in the options
// (resume set) when there is one; nullopt for a new store.
std::optional<crosscoder::ActivationStore> check_store_target(const fs::path& dir, const std::vector<std::string>& hooks, const std::string& model,
                        const std::string& family, crosscoder::StoreWriterOptions& opt, bool dtype_given,
                        bool compact_given) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw InputError(dir.string(), "is a file, not an activation store directory (a single-input file needs --out FILE.safetensors)");
  if (!fs::exists(dir / "store.json", ec)) {
    if (fs::is_directory(dir, ec) && !fs::is_empty(dir, ec))
      throw InputError(dir.string(), "exists and is not an activation store (no store.json); harvest into a new or empty directory");
    const fs::path parent = dir.parent_path();
    if (!parent.empty() && !fs::is_directory(parent, ec))
      throw InputError(dir.string(), "its directory " + parent.string() + " does not exist");
    return std::nullopt;
  }
  crosscoder::ActivationStore old = crosscoder::ActivationStore::open(dir);
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
  if (compact_given && old.compact_inputs() > 0 && opt.compact_inputs != old.compact_inputs())
    throw InputError(manifest, "compacts groups of " + std::to_string(old.compact_inputs()) + " inputs, not " +
                                   std::to_string(opt.compact_inputs) + " (leave --compact-inputs out to keep the store's)");
  if (old.compact_inputs() > 0) opt.compact_inputs = old.compact_inputs();
  opt.dtype = old.dtype();
  if (old.shard_rows() > 0) opt.shard_rows = old.shard_rows();
  opt.resume = true;
  return old;
}

// One forward pass over `input`, capturing `names` into `recorder` (cleared first). InputError
// when a hook is not emitted for this input.
void capture(const models::VlmPipeline& pipeline, const models::VlmInput& input, const std::vector<std::string>& names,
             const models::Hooks& hooks, models::HookRecorder& recorder, const ExecContext& ctx) {
  recorder.tensors.clear();
  pipeline.forward(input, ctx, hooks);
  for (const auto& name : names) {
    if (recorder.tensors.find(name) == recorder.tensors.end()) {
      throw InputError("--hooks", "'" + name + "' is not emitted for this input (e.g. mPLUG's text.* and fusion.* hooks need --task vqa)");
    }
  }
}

// The captured hooks as store rows: one row count for every hook (the store pairs rows across
// hooks by index), their widths and data in `names` order. InputError otherwise.
struct StoreRows {
  int64_t rows = 0;
  std::vector<crosscoder::StoreHook> hooks;  // name, dim
  std::vector<const float*> data;            // [rows, dim] per hook
  bool token_aligned = false;                // every hook is token-aligned and rows == ids
};

StoreRows store_rows(const models::HookRecorder& recorder, const std::vector<std::string>& names,
                     const models::VlmInput& input) {
  StoreRows r;
  const auto& first = recorder.tensors.find(names[0])->second;
  r.rows = first.rows;
  for (const auto& name : names) {
    const auto& t = recorder.tensors.find(name)->second;
    if (t.rows != first.rows)
      throw InputError("--hooks", "'" + names[0] + "' has " + std::to_string(first.rows) + " rows but '" + name + "' has " +
                                      std::to_string(t.rows) + "; a store's hooks share their rows, so harvest these into separate stores");
    r.hooks.push_back({name, t.cols});
    r.data.push_back(t.data.data());
  }
  r.token_aligned = std::all_of(names.begin(), names.end(), token_aligned) &&
                    static_cast<int64_t>(input.ids.size()) == first.rows;
  return r;
}

std::map<std::string, std::string> store_sources(const std::string& model, const models::VlmPipeline& pipeline) {
  return {{"model", model}, {"family", pipeline.family()}, {"writer", "crosstrace harvest"}};
}

// Refuses a file named like an image that is not one (checked for every input before the first
// forward pass, so a bad file leaves the store as it was): it must open and start with the PNG or
// JPEG signature, which is what the decoder dispatches on.
void check_image_signature(const fs::path& image) {
  std::ifstream in(image, std::ios::binary);
  if (!in) throw InputError(image.string(), "cannot be opened");
  unsigned char head[8] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const std::streamsize n = in.gcount();
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const bool png = n == 8 && std::equal(head, head + 8, kPng);
  const bool jpeg = n >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF;
  if (!png && !jpeg) {
    throw InputError(image.string(), n == 0 ? "is empty, not a PNG or JPEG image"
                                            : "is not a PNG or JPEG image (its first bytes are neither signature)");
  }
}

// One input of a dataset: the image file and the prompt paired with it.
struct DataInput {
  fs::path image;
  std::string prompt;
};

// DIR's images paired with their prompts (see the header comment); InputError on a mismatch.
std::vector<DataInput> pair_data_inputs(const DataDirListing& listing, const Args& args) {
  const fs::path prompts_file = listing.dir / kPromptsFile;
  const std::size_t n = listing.images.size();
  std::vector<DataInput> inputs;
  if (listing.has_prompts_file && args.options.count("--prompt"))
    throw InputError(prompts_file.string(), "gives the prompts and so does --prompt; keep one of them");
  if (listing.has_prompts_file && listing.prompts.size() != n && listing.prompts.size() != 1)
    throw InputError(prompts_file.string(), "has " + std::to_string(listing.prompts.size()) + " prompts for " +
                                                std::to_string(n) + " images; give one line per image (in file-name "
                                                "order) or a single line for all of them");
  for (std::size_t i = 0; i < n; ++i) {
    std::string prompt = args.get("--prompt");
    if (listing.has_prompts_file) prompt = listing.prompts[listing.prompts.size() == 1 ? 0 : i];
    inputs.push_back({listing.images[i], std::move(prompt)});
  }
  if (args.options.count("--max-inputs")) {
    const int64_t max = parse_int_option("--max-inputs", args.get("--max-inputs"));
    if (max < 1) throw InputError("--max-inputs", "must be at least 1, found " + std::to_string(max));
    if (static_cast<std::size_t>(max) < inputs.size()) inputs.resize(static_cast<std::size_t>(max));
  }
  return inputs;
}

// `harvest --data DIR --out STORE/` (see the header comment).
int harvest_data(const Args& args, const std::string& model, const fs::path& out, crosscoder::StoreWriterOptions store_opt) {
  if (args.options.count("--image"))
    throw InputError("--image", "takes one input; with --data DIR the images are DIR's (give one or the other)");
  const fs::path data_dir = args.get("--data");
  const DataDirListing listing = list_data_dir(data_dir);
  const std::vector<DataInput> inputs = pair_data_inputs(listing, args);
  for (const auto& in : inputs) check_image_signature(in.image);
  models::VlmRequest request = vlm_request_from_args(args);
  store_opt.manifest_interval_s = kManifestIntervalS;

  InterruptPoll interrupts;  // before the ExecContext starts worker threads
  StderrProgress progress;
  NullProgress quiet;
  ExecContext ctx(args.threads, 0, args.json ? static_cast<ProgressSink*>(&quiet) : &progress);
  const auto pipeline = models::open_vlm_pipeline(model, vlm_open_options_from_args(args));
  const std::vector<std::string> offered = pipeline->hook_names();
  const std::string list = args.get("--hooks");
  const std::vector<std::string> names = list == "all" ? offered : split_hooks(list);
  models::validate_hook_names(names, offered, "--hooks");
  // What the run needs from an existing store, kept as values: the store itself (a mapping per
  // shard) closes here, so a resume never holds two sets of mappings (the writer opens it again).
  struct ExistingStore {
    int64_t rows = 0;
    bool has_input_ids = false, complete = false;
    std::vector<crosscoder::StoreHook> hooks;
    std::vector<crosscoder::StoreInput> inputs;
  };
  std::optional<ExistingStore> existing;
  if (const auto store = check_store_target(out, names, model, pipeline->family(), store_opt, args.options.count("--dtype") > 0,
                                            args.options.count("--compact-inputs") > 0))
    existing = ExistingStore{store->rows(), store->has_input_ids(), store->complete(), store->hooks(), store->inputs()};

  // Resume: the inputs the store already lists, by image file name and prompt text. Only images
  // whose name is listed are prepared here (to get their prompt text), the others are not touched.
  std::vector<std::size_t> pending;
  if (existing) {
    std::set<std::pair<std::string, std::string>> done;
    std::set<std::string> done_names;
    for (const auto& in : existing->inputs) {
      const auto image = in.info.find("image"), prompt = in.info.find("prompt");
      if (image == in.info.end() || prompt == in.info.end()) continue;
      const std::string name = fs::path(image->second).filename().string();
      done.insert({name, prompt->second});
      done_names.insert(name);
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const std::string name = inputs[i].image.filename().string();
      bool skip = false;
      if (done_names.count(name)) {
        request.image = inputs[i].image;
        request.prompt = inputs[i].prompt;
        skip = done.count({name, pipeline->prepare(request).prompt_text}) > 0;
      }
      if (!skip) pending.push_back(i);
    }
  } else {
    for (std::size_t i = 0; i < inputs.size(); ++i) pending.push_back(i);
  }

  models::Hooks hooks;
  models::HookRecorder recorder;
  recorder.subscribe_to(hooks, names);
  std::unique_ptr<crosscoder::ActivationStoreWriter> writer;  // made by the first input (it knows the widths)
  const int64_t rows_before = existing ? existing->rows : 0;
  bool with_ids = existing ? existing->has_input_ids : false;
  std::vector<crosscoder::StoreHook> widths;
  int64_t added = 0;
  bool interrupted = false;
  ctx.progress().begin("harvest " + out.string(), static_cast<int64_t>(pending.size()), "inputs");
  for (const std::size_t i : pending) {
    if (interrupts.pending()) {
      interrupted = true;
      break;
    }
    request.image = inputs[i].image;
    request.prompt = inputs[i].prompt;
    const models::VlmInput input = pipeline->prepare(request);  // decodes this image only
    capture(*pipeline, input, names, hooks, recorder, ctx);
    const StoreRows rows = store_rows(recorder, names, input);
    if (!writer && !existing) with_ids = rows.token_aligned;  // a new store: ids when every hook has them
    if (with_ids && !rows.token_aligned)
      throw InputError(inputs[i].image.string(), "gives " + std::to_string(rows.rows) + " rows for " +
                                                     std::to_string(input.ids.size()) + " input ids; the store carries one id per row");
    if (!writer) {
      widths = rows.hooks;
      store_opt.input_ids = with_ids;
      store_opt.sources = store_sources(model, *pipeline);
      writer = std::make_unique<crosscoder::ActivationStoreWriter>(out, rows.hooks, store_opt);
    }
    writer->begin_input(rows.rows, {{"image", inputs[i].image.string()}, {"prompt", input.prompt_text}});
    writer->append(rows.data, rows.rows, with_ids ? input.ids.data() : nullptr);
    writer->flush();  // this input's shard is written; store.json lists it within kManifestIntervalS
    ++added;
    ctx.progress().update(added);
  }
  ctx.progress().end();
  if (!interrupted && !writer && existing && !existing->complete) {
    // Everything was harvested but the run that did it stopped before marking the store complete.
    store_opt.input_ids = existing->has_input_ids;
    store_opt.sources = store_sources(model, *pipeline);
    writer = std::make_unique<crosscoder::ActivationStoreWriter>(out, existing->hooks, store_opt);
  }
  if (writer && !interrupted) writer->finish();
  if (writer && interrupted) writer->sync();  // every input harvested so far is listed
  const int64_t rows_now = writer ? writer->rows() : rows_before;
  if (interrupted) {
    const std::string where = writer || existing ? (out / "store.json").string() + " lists them" : "nothing was written";
    std::fprintf(stderr, "harvest: interrupted after %lld of %lld inputs; %s; rerun the same command to continue\n",
                 static_cast<long long>(added), static_cast<long long>(pending.size()), where.c_str());
    return 130;
  }
  if (widths.empty() && existing) widths = existing->hooks;
  if (args.json) {
    nlohmann::ordered_json dims = nlohmann::ordered_json::object();
    for (const auto& h : widths) dims[h.name] = h.dim;
    const nlohmann::ordered_json doc = {{"out", out.string()}, {"store", true}, {"model", model},
                                        {"family", pipeline->family()}, {"data", data_dir.string()},
                                        {"inputs", inputs.size()}, {"inputs_skipped", inputs.size() - pending.size()},
                                        {"inputs_added", added}, {"row_begin", rows_before},
                                        {"rows_added", rows_now - rows_before}, {"rows", rows_now},
                                        {"input_ids", with_ids}, {"hooks", dims}};
    std::cout << doc.dump(2) << '\n';
  } else {
    std::cout << "harvested " << added << " of " << inputs.size() << " inputs of " << data_dir.string() << " ("
              << inputs.size() - pending.size() << " already in the store): " << rows_now - rows_before << " rows added to "
              << out.string() << ", " << rows_now << " rows in all\n";
  }
  return 0;
}

}  // namespace

int run_harvest(int argc, char** argv) {
  ArgSpec spec{kVlmInputOptions, kVlmInputFlags, 1, 1,
               "crosstrace harvest MODEL --hooks H1,H2,...|all (--image IMG --prompt TEXT | --data DIR) "
               "--out FILE.safetensors|STORE/ [--task vqa|caption] [--vision-tower DIR] [--raw-prompt] [--json] [--threads N]"};
  spec.options.insert({"--hooks", "--out", "--data", "--dtype", "--max-inputs", "--compact-inputs"});
  const Args args = parse_args(argc, argv, 2, spec);
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
  store_opt.compact_inputs = kDefaultCompactInputs;
  if (args.options.count("--compact-inputs")) {
    if (!to_store) throw InputError("--compact-inputs", "applies to an activation store (--out STORE/)");
    store_opt.compact_inputs = parse_int_option("--compact-inputs", args.get("--compact-inputs"));
    if (store_opt.compact_inputs < 0)
      throw InputError("--compact-inputs", "must be 0 (no compaction) or more, found " + std::to_string(store_opt.compact_inputs));
  }
  if (args.options.count("--data")) {
    if (!to_store)
      throw InputError("--out", "--data DIR harvests into an activation store: give --out STORE/ (found '" + out.string() + "')");
    return harvest_data(args, model, out, store_opt);
  }
  if (args.options.count("--max-inputs")) throw InputError("--max-inputs", "applies to --data DIR only");
  const models::VlmRequest request = vlm_request_from_args(args);

  ExecContext ctx(args.threads);
  const auto pipeline = models::open_vlm_pipeline(model, vlm_open_options_from_args(args));
  const std::vector<std::string> offered = pipeline->hook_names();
  const std::string list = args.get("--hooks");
  const std::vector<std::string> names = list == "all" ? offered : split_hooks(list);
  models::validate_hook_names(names, offered, "--hooks");
  if (to_store)
    check_store_target(out, names, model, pipeline->family(), store_opt, args.options.count("--dtype") > 0,
                       args.options.count("--compact-inputs") > 0);
  const models::VlmInput input = pipeline->prepare(request);

  models::Hooks hooks;
  models::HookRecorder recorder;
  recorder.subscribe_to(hooks, names);
  capture(*pipeline, input, names, hooks, recorder, ctx);

  if (to_store) {
    const StoreRows rows = store_rows(recorder, names, input);
    store_opt.input_ids = rows.token_aligned;
    store_opt.sources = store_sources(model, *pipeline);
    crosscoder::ActivationStoreWriter writer(out, rows.hooks, store_opt);
    const int64_t before = writer.rows();
    writer.begin_input(rows.rows, {{"image", request.image.string()}, {"prompt", input.prompt_text}});
    writer.append(rows.data, rows.rows, rows.token_aligned ? input.ids.data() : nullptr);
    writer.finish();
    if (args.json) {
      nlohmann::ordered_json shapes = nlohmann::ordered_json::object();
      for (const auto& h : rows.hooks) shapes[h.name] = {rows.rows, h.dim};
      const nlohmann::ordered_json doc = {{"out", out.string()}, {"store", true}, {"model", model},
                                          {"family", pipeline->family()}, {"row_begin", before},
                                          {"rows_added", rows.rows}, {"rows", writer.rows()},
                                          {"input_ids", rows.token_aligned}, {"hooks", shapes}};
      std::cout << doc.dump(2) << '\n';
    } else {
      std::cout << "appended " << rows.rows << " rows (" << names.size() << " hooks) to store " << out.string()
                << ": rows " << before << ".." << writer.rows() - 1 << " of " << writer.rows() << '\n';
    }
    return 0;
  }

  std::vector<io::TensorToWrite> tensors;
  nlohmann::ordered_json shapes = nlohmann::ordered_json::object();
  for (const auto& name : names) {
    const auto& t = recorder.tensors.find(name)->second;
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
