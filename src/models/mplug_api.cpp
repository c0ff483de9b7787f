// mPLUG end to end for the CLI: image file + question → answer or caption, optionally with hooks.
#include "core/error.h"
#include "models/image.h"
#include "models/mplug.h"
#include "models/tokenizer_wordpiece.h"

namespace ct::models {
namespace fs = std::filesystem;

MplugAnswer mplug_answer(const MplugModel& m, const fs::path& image_path, const std::string& question,
                         MplugTask task, const MplugGenerateOptions& opt, const ExecContext& ctx, const Hooks& hooks) {
  // The tokenizer first: a missing vocab.txt fails before any heavy work.
  const fs::path vocab = m.directory / "vocab.txt";
  if (!fs::exists(vocab)) throw InputError(vocab.string(), "missing: mPLUG needs the BERT vocab.txt next to its checkpoint");
  const WordPieceTokenizer tok = WordPieceTokenizer::load(vocab);
  MplugAnswer out;
  if (task == MplugTask::kVqa) {
    if (question.empty()) throw InputError("prompt", "mPLUG VQA needs a question");
    out.input_ids = tok.encode(question).ids;  // [CLS] q [SEP], lower-cased WordPiece
  }
  const ImageTensor pixels = preprocess_mplug(decode_image_file(image_path), m.config.image_res);
  const MplugMemory memory = mplug_encode(m, pixels.data, out.input_ids, task, ctx, hooks);
  const MplugBeamResult best = mplug_beam_search(m, memory, task, opt, ctx);
  out.token_ids = best.ids;
  out.score = best.score;
  out.text = tok.decode(best.ids, /*skip_special=*/true);
  if (hooks.enabled()) mplug_decoder_teacher_forced(m, memory, best.ids, ctx, hooks);
  return out;
}

MplugAnswer mplug_answer(const fs::path& model_path, const fs::path& image_path, const std::string& question,
                         MplugTask task, const MplugGenerateOptions& opt, const ExecContext& ctx, const Hooks& hooks) {
  return mplug_answer(load_mplug(model_path), image_path, question, task, opt, ctx, hooks);
}

MplugHarvest mplug_harvest(const fs::path& model_path, const fs::path& image_path, const std::string& question,
                           const std::vector<std::string>& hook_names, MplugTask task,
                           const MplugGenerateOptions& opt, const ExecContext& ctx) {
  const MplugModel m = load_mplug(model_path);
  validate_hook_names(hook_names, mplug_hook_names(m.config, task), model_path.string());
  MplugHarvest h;
  Hooks hooks;
  h.captured.subscribe_to(hooks, hook_names);
  h.answer = mplug_answer(m, image_path, question, task, opt, ctx, hooks);
  return h;
}

}  // namespace ct::models
