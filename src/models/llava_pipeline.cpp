// LLaVA-1.5 generation pipeline: files → ids and pixels → answer.
#include "models/llava_pipeline.h"

#include <algorithm>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/json_file.h"
#include "models/image.h"
#include "models/llava.h"
#include "models/tokenizer_llama.h"

namespace ct::models {
namespace fs = std::filesystem;

namespace {

std::size_t count_of(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

std::string trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// The tokenizer's EOS plus generation_config.json's eos_token_id (an int or a list of ints).
std::vector<int32_t> stop_ids(const LlamaTokenizer& tok, const fs::path& dir) {
  std::vector<int32_t> ids = {tok.eos_id()};
  const fs::path gen = dir / "generation_config.json";
  if (!fs::exists(gen)) return ids;
  const nlohmann::json j = io::read_json_file(gen);
  const auto it = j.find("eos_token_id");
  if (it == j.end() || it->is_null()) return ids;
  const nlohmann::json list = it->is_array() ? *it : nlohmann::json::array({*it});
  for (const auto& v : list) {
    if (!v.is_number_integer()) throw InputError(gen.string(), "eos_token_id must be an integer or a list of integers");
    const auto id = v.get<int32_t>();
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

// Processor settings from `file` when it exists, else CLIP's at the tower's resolution; the crop
// must be the tower's image size.
ClipProcessorConfig processor_config(const fs::path& file, const io::ClipVisionConfig& vision) {
  ClipProcessorConfig pc;
  pc.shortest_edge = pc.crop_size = vision.image_size;
  if (!fs::exists(file)) return pc;
  pc = read_clip_processor_config(file);
  if (pc.crop_size != vision.image_size) {
    throw InputError(file.string(), "crop_size " + std::to_string(pc.crop_size) + " differs from the vision tower's image_size " +
                                        std::to_string(vision.image_size));
  }
  return pc;
}

class LlavaPipeline final : public VlmPipeline {
 public:
  LlavaPipeline(LlavaModel model, LlamaTokenizer tok, ClipProcessorConfig pc, fs::path tokenizer_dir)
      : model_(std::move(model)), tok_(std::move(tok)), pc_(pc), tokenizer_dir_(std::move(tokenizer_dir)) {
    eos_ = stop_ids(tok_, tokenizer_dir_);
  }

  std::string family() const override { return "llava"; }
  std::vector<std::string> hook_names() const override { return llava_hook_names(model_); }

  VlmInput prepare(const VlmRequest& request) const override {
    VlmInput in;
    in.prompt_text = llava_prompt_text(request);
    in.ids = expand_image_tokens(model_, tokenize(in.prompt_text));
    in.pixels = preprocess(request.image);
    in.image_size = model_.config.vision.image_size;
    in.task = request.task.empty() ? "vqa" : request.task;
    return in;
  }

  VlmAnswer generate(const VlmInput& input, const GenerationOptions& opt, const ExecContext& ctx,
                     const Hooks& hooks) const override {
    validate_generation_options(opt);
    GenerationOptions o = opt;
    if (o.max_new_tokens == 0) o.max_new_tokens = kLlavaDefaultMaxNewTokens;
    o.eos_ids = eos_;
    VlmAnswer a;
    a.token_ids = llava_generate(model_, input.ids, input.pixels, o, ctx, hooks);
    // Ids past the tokenizer (llava-hf pads the embedding to 32064 rows) have no text; HF's fast
    // tokenizer skips them when decoding, and so do we.
    std::vector<int32_t> known;
    for (int32_t id : a.token_ids)
      if (id >= 0 && static_cast<std::size_t>(id) < tok_.vocab_size()) known.push_back(id);
    a.answer = trim(tok_.decode(known, /*skip_special=*/true));
    return a;
  }

  void forward(const VlmInput& input, const ExecContext& ctx, const Hooks& hooks) const override {
    KvCache cache(model_.config.text);
    llava_forward(model_, input.ids, input.pixels, cache, ctx, hooks);
  }

 private:
  std::vector<int32_t> tokenize(const std::string& text) const {
    const int32_t image_id = llava_image_token_id(model_);
    std::vector<int32_t> ids;
    if (model_.config.original_layout) {
      ids = tok_.encode_with_image_placeholder(text, image_id);
    } else {
      if (tok_.image_token_id() != image_id) {
        throw InputError((tokenizer_dir_ / "tokenizer_config.json").string(),
                         tok_.image_token_id() < 0
                             ? "the tokenizer has no <image> added token (llava-hf tokenizers map it to image_token_index " +
                                   std::to_string(image_id) + ")"
                             : "<image> is token " + std::to_string(tok_.image_token_id()) +
                                   " but config.json's image_token_index is " + std::to_string(image_id));
      }
      ids = tok_.encode(text);
    }
    // llava_prompt_text guarantees one "<image>"; an added token spelled inside it could not
    // split it, so anything else is a tokenizer that disagrees with the template.
    if (std::count(ids.begin(), ids.end(), image_id) != 1) {
      throw InputError("--prompt", "expected the prompt to tokenise to exactly one image id " + std::to_string(image_id) +
                                       ", found " + std::to_string(std::count(ids.begin(), ids.end(), image_id)));
    }
    return ids;
  }

  std::vector<float> preprocess(const fs::path& image) const {
    if (image.empty()) throw InputError("--image", "LLaVA needs an image: give a PNG or JPEG file with --image");
    if (!fs::is_regular_file(image)) throw InputError(image.string(), "no such image file; give a PNG or JPEG file");
    const RgbImage rgb = decode_image_file(image);
    const bool pad = model_.config.original_layout && model_.config.image_aspect_ratio == "pad";
    ImageTensor t = pad ? preprocess_llava_pad(rgb, pc_) : preprocess_clip(rgb, pc_);
    CT_CHECK(t.height == model_.config.vision.image_size && t.width == t.height, "preprocessing gave the wrong size");
    return std::move(t.data);
  }

  LlavaModel model_;
  LlamaTokenizer tok_;
  ClipProcessorConfig pc_;
  fs::path tokenizer_dir_;
  std::vector<int32_t> eos_;
};

}  // namespace

std::string llava_prompt_text(const VlmRequest& r) {
  const std::string task = r.task.empty() ? "vqa" : r.task;
  if (task != "vqa" && task != "caption") throw InputError("--task", "must be vqa or caption, found '" + r.task + "'");
  if (r.raw_prompt) {
    const std::size_t n = count_of(r.prompt, kImageTokenText);
    if (n != 1) {
      throw InputError("--prompt", "a raw prompt (--raw-prompt) must contain exactly one <image> where the image goes, found " +
                                       std::to_string(n) + " (e.g. \"USER: <image>\\nWhat is shown? ASSISTANT:\")");
    }
    return r.prompt;
  }
  if (count_of(r.prompt, kImageTokenText) > 0) {
    throw InputError("--prompt", "contains <image>, but the chat template places the image itself; give the bare "
                                 "question, or the whole prompt with --raw-prompt");
  }
  if (count_of(r.prompt, "USER:") > 0 || count_of(r.prompt, "ASSISTANT:") > 0) {
    throw InputError("--prompt", "already contains the chat template (USER:/ASSISTANT:) but no <image>; give the bare "
                                 "question, or pass --raw-prompt with exactly one <image> in the prompt");
  }
  std::string question = trim(r.prompt);
  if (question.empty()) {
    if (task != "caption") throw InputError("--prompt", "is empty: give a question (or use --task caption)");
    question = kLlavaCaptionQuestion;
  }
  return llava15_prompt(question);
}

fs::path resolve_llava_vision_tower(const io::LlavaConfig& c, const fs::path& config_file, const fs::path& given) {
  if (!given.empty()) {
    if (!fs::exists(given)) throw InputError(given.string(), "no such vision tower directory (--vision-tower)");
    return given;
  }
  const fs::path named = c.mm_vision_tower;
  if (!named.empty()) {
    if (fs::exists(named)) return named;
    const fs::path beside = config_file.parent_path() / named;
    if (named.is_relative() && fs::exists(beside)) return beside;
  }
  throw InputError(config_file.string(), "original LLaVA layout: its vision tower mm_vision_tower \"" + c.mm_vision_tower +
                                             "\" is not a local directory; pass the CLIP checkpoint directory with "
                                             "--vision-tower DIR");
}

std::unique_ptr<VlmPipeline> open_llava_pipeline(const fs::path& model, const VlmOpenOptions& opt) {
  const fs::path dir = io::model_directory(model);
  const fs::path cfg_path = dir / "config.json";
  const io::LlavaConfig c = io::parse_llava_config(io::read_json_file(cfg_path), cfg_path.string());
  LlavaLoadOptions load;
  fs::path processor_file = dir / "preprocessor_config.json";
  if (c.original_layout) {
    load.vision_tower = resolve_llava_vision_tower(c, cfg_path, opt.vision_tower);
    processor_file = io::model_directory(load.vision_tower) / "preprocessor_config.json";
  } else if (!opt.vision_tower.empty()) {
    throw InputError("--vision-tower", "only the original LLaVA layout keeps its vision tower apart; " + dir.string() +
                                           " is a llava-hf checkpoint with its own tower (drop --vision-tower)");
  }
  // The tokenizer first: a missing tokenizer.model fails before the weights are mapped.
  LlamaTokenizer tok = LlamaTokenizer::load_dir(dir);
  LlavaModel m = load_llava(model, load);
  const ClipProcessorConfig pc = processor_config(processor_file, m.config.vision);
  return std::make_unique<LlavaPipeline>(std::move(m), std::move(tok), pc, dir);
}

}  // namespace ct::models
