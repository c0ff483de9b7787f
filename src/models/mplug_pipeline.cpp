#include "models/mplug_pipeline.h"

#include "core/error.h"
#include "models/image.h"
#include "models/mplug.h"
#include "models/tokenizer_wordpiece.h"

namespace ct::models {
namespace fs = std::filesystem;
namespace {

MplugTask task_of(const std::string& task) { return task == "caption" ? MplugTask::kCaption : MplugTask::kVqa; }

class MplugPipeline final : public VlmPipeline {
 public:
  explicit MplugPipeline(const fs::path& model) : model_(load_mplug(model)), tok_(load_vocab(model_.directory)) {}

  std::string family() const override { return "mplug"; }
  std::vector<std::string> hook_names() const override { return mplug_hook_names(model_.config, MplugTask::kVqa); }

  VlmInput prepare(const VlmRequest& request) const override {
    if (request.raw_prompt) throw InputError("--raw-prompt", "applies to LLaVA only; give mPLUG the question with --prompt");
    VlmInput in;
    in.task = request.task.empty() ? "vqa" : request.task;
    if (in.task != "vqa" && in.task != "caption") {
      throw InputError("--task", "must be vqa or caption, found '" + request.task + "'");
    }
    if (in.task == "vqa") {
      if (request.prompt.empty()) throw InputError("--prompt", "is empty: give a question (or use --task caption)");
      in.prompt_text = request.prompt;
      in.ids = tok_.encode(request.prompt).ids;  // [CLS] q [SEP]
    }
    const ImageTensor pixels = preprocess_mplug(decode_image_file(request.image), model_.config.image_res);
    in.pixels = pixels.data;
    in.image_size = model_.config.image_res;
    return in;
  }

  VlmAnswer generate(const VlmInput& input, const GenerationOptions& opt, const ExecContext& ctx,
                     const Hooks& hooks) const override {
    validate_generation_options(opt);
    if (opt.temperature > 0 || opt.top_p < 1.0f) {
      throw InputError("--temperature", "mPLUG answers with beam search (beam 5, length penalty 0.6); sampling options do not apply");
    }
    MplugGenerateOptions o;
    if (opt.max_new_tokens > 0) o.max_length = opt.max_new_tokens;
    const MplugTask task = task_of(input.task);
    const MplugMemory memory = mplug_encode(model_, input.pixels, input.ids, task, ctx, hooks);
    const MplugBeamResult best = mplug_beam_search(model_, memory, task, o, ctx);
    if (hooks.enabled()) mplug_decoder_teacher_forced(model_, memory, best.ids, ctx, hooks);
    VlmAnswer a;
    a.token_ids = best.ids;
    a.answer = tok_.decode(best.ids, /*skip_special=*/true);
    return a;
  }

  // The decoder hooks are defined on the generated answer, so a forward runs the beam search too.
  void forward(const VlmInput& input, const ExecContext& ctx, const Hooks& hooks) const override {
    generate(input, GenerationOptions{.max_new_tokens = 0, .temperature = 0.0f}, ctx, hooks);
  }

 private:
  static WordPieceTokenizer load_vocab(const fs::path& dir) {
    const fs::path vocab = dir / "vocab.txt";
    if (!fs::exists(vocab)) throw InputError(vocab.string(), "missing: mPLUG needs the BERT vocab.txt next to its checkpoint");
    return WordPieceTokenizer::load(vocab);
  }

  MplugModel model_;
  WordPieceTokenizer tok_;
};

}  // namespace

std::unique_ptr<VlmPipeline> open_mplug_pipeline(const fs::path& model) { return std::make_unique<MplugPipeline>(model); }

}  // namespace ct::models
