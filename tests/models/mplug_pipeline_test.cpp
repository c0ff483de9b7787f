// mPLUG behind the run/harvest pipeline: the pipeline gives exactly what models::mplug_answer (checked
// against the PyTorch reference in mplug_reference_test.cpp) gives, for VQA and captioning, and
// rejects the LLaVA-only and sampling options.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "core/error.h"
#include "io/png_writer.h"
#include "models/model_fixtures.h"
#include "models/mplug.h"
#include "models/vlm_pipeline.h"

namespace ct::models {
namespace {
namespace fs = std::filesystem;

fs::path write_image() {
  const fs::path dir = fs::path(CROSSTRACE_TEST_TMP) / ("mplug_pipeline_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<uint8_t> rgb(23 * 17 * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>((i * 37 + i / 3) % 251);
  const auto png = io::encode_png_rgb(rgb, 23, 17);
  std::ofstream(dir / "image.png", std::ios::binary).write(reinterpret_cast<const char*>(png.data()), png.size());
  return dir / "image.png";
}

TEST(MplugPipeline, MatchesMplugAnswerForVqaAndCaption) {
  const fs::path model = ct::testing::fixtures_dir() / "mplug_finetuned";
  const fs::path image = write_image();
  const auto pipeline = open_vlm_pipeline(model);
  EXPECT_EQ(pipeline->family(), "mplug");
  ExecContext ctx(1);
  for (const char* task : {"vqa", "caption"}) {
    SCOPED_TRACE(task);
    const std::string question = std::string(task) == "vqa" ? "what is in the picture?" : "";
    const VlmInput in = pipeline->prepare({image, question, false, task});
    const VlmAnswer got = pipeline->generate(in, GenerationOptions{.max_new_tokens = 0}, ctx, Hooks{});
    const MplugAnswer want = mplug_answer(model, image, question,
                                          std::string(task) == "vqa" ? MplugTask::kVqa : MplugTask::kCaption, {}, ctx);
    EXPECT_EQ(got.token_ids, want.token_ids);
    EXPECT_EQ(got.answer, want.text);
    EXPECT_EQ(in.ids, want.input_ids);
    EXPECT_FALSE(got.token_ids.empty());
  }
}

TEST(MplugPipeline, RejectsLlavaOnlyAndSamplingOptions) {
  const fs::path model = ct::testing::fixtures_dir() / "mplug_finetuned";
  const fs::path image = write_image();
  EXPECT_THROW(open_vlm_pipeline(model, VlmOpenOptions{.vision_tower = model}), InputError);
  const auto pipeline = open_vlm_pipeline(model);
  EXPECT_THROW(pipeline->prepare({image, "USER: <image> hi", true, ""}), InputError);
  EXPECT_THROW(pipeline->prepare({image, "", false, "vqa"}), InputError);
  const VlmInput in = pipeline->prepare({image, "hi", false, ""});
  ExecContext ctx(1);
  EXPECT_THROW(pipeline->generate(in, GenerationOptions{.max_new_tokens = 0, .temperature = 0.7f}, ctx, Hooks{}),
               InputError);
}

}  // namespace
}  // namespace ct::models
