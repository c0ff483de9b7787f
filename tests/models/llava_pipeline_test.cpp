// The generation pipeline's own rules (models/vlm_pipeline.h, models/llava_pipeline.h): the prompt
// rule with hand-written expected strings, the family dispatch on the fixtures, and prepare() on
// llava_hf against hand-counted ids (the end-to-end comparison with PyTorch is
// tests/python/test_run_llava.py).
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "models/llava_pipeline.h"
#include "models/vlm_pipeline.h"
#include "model_fixtures.h"

namespace {

using ct::InputError;
using ct::models::VlmRequest;

VlmRequest req(std::string prompt, bool raw = false, std::string task = "") {
  VlmRequest r;
  r.prompt = std::move(prompt);
  r.raw_prompt = raw;
  r.task = std::move(task);
  return r;
}

std::string where_of(const VlmRequest& r) {
  try {
    ct::models::llava_prompt_text(r);
  } catch (const InputError& e) {
    return e.where();
  }
  return "";
}

TEST(LlavaPromptRule, QuestionGetsTheChatTemplate) {
  EXPECT_EQ(ct::models::llava_prompt_text(req("What is this?")), "USER: <image>\nWhat is this? ASSISTANT:");
  EXPECT_EQ(ct::models::llava_prompt_text(req("  padded  ")), "USER: <image>\npadded ASSISTANT:");
  EXPECT_EQ(ct::models::llava_prompt_text(req("", false, "caption")),
            "USER: <image>\nProvide a one-sentence caption for the provided image. ASSISTANT:");
  EXPECT_EQ(ct::models::llava_prompt_text(req("Describe it.", false, "caption")), "USER: <image>\nDescribe it. ASSISTANT:");
}

TEST(LlavaPromptRule, RawPromptIsVerbatimWithExactlyOneImage) {
  const std::string raw = "A chat. USER: <image>\nWhat? ASSISTANT:";
  EXPECT_EQ(ct::models::llava_prompt_text(req(raw, true)), raw);
  EXPECT_EQ(where_of(req("USER: hi ASSISTANT:", true)), "--prompt");
  EXPECT_EQ(where_of(req("<image><image>", true)), "--prompt");
}

TEST(LlavaPromptRule, RejectsTemplateOrImageInAQuestion) {
  EXPECT_EQ(where_of(req("USER: hi ASSISTANT:")), "--prompt");
  EXPECT_EQ(where_of(req("what is in <image>?")), "--prompt");
  EXPECT_EQ(where_of(req("")), "--prompt");
  EXPECT_EQ(where_of(req("   ")), "--prompt");
  EXPECT_EQ(where_of(req("hi", false, "chat")), "--task");
}

TEST(VlmPipeline, FamilyDispatch) {
  const auto fx = ct::testing::fixtures_dir();
  EXPECT_EQ(ct::models::detect_vlm_family(fx / "llava_hf"), "llava");
  EXPECT_EQ(ct::models::detect_vlm_family(fx / "llava_original"), "llava");
  EXPECT_EQ(ct::models::detect_vlm_family(fx / "mplug_finetuned"), "mplug");
  EXPECT_EQ(ct::models::detect_vlm_family(fx / "mplug_pretrained" / "mplug_tiny.pth"), "mplug");
  EXPECT_THROW(ct::models::detect_vlm_family(fx / "llama"), InputError);  // a text-only model
  EXPECT_EQ(ct::models::open_vlm_pipeline(fx / "mplug_finetuned")->family(), "mplug");
}

TEST(VlmPipeline, GenerationOptionLimits) {
  ct::models::GenerationOptions g;
  g.max_new_tokens = -1;
  EXPECT_THROW(ct::models::validate_generation_options(g), InputError);
  g.max_new_tokens = 0;  // the family's default length
  EXPECT_NO_THROW(ct::models::validate_generation_options(g));
  g.max_new_tokens = 1;
  EXPECT_NO_THROW(ct::models::validate_generation_options(g));
  g.top_p = 0.0f;
  EXPECT_THROW(ct::models::validate_generation_options(g), InputError);
  g.top_p = 1.0f;
  g.temperature = -0.5f;
  EXPECT_THROW(ct::models::validate_generation_options(g), InputError);
}

// llava_hf: 2 vision layers with feature layer -2 → 1 layer runs; LLaMA 2 layers (make_fixtures.py).
TEST(VlmPipeline, LlavaHooksAndMissingImage) {
  const auto fx = ct::testing::fixtures_dir();
  const auto p = ct::models::open_vlm_pipeline(fx / "llava_hf");
  EXPECT_EQ(p->family(), "llava");
  // vision: embeddings, pre_ln, layers.0.{attn_out, mlp_act, mlp_out, output}; projector.output;
  // lm: embeddings, layers.{0,1}.{attn_out, mlp_gate, mlp_up, mlp_out, output}, norm, logits.
  const auto hooks = p->hook_names();
  EXPECT_EQ(hooks.size(), 6u + 1u + 13u);
  EXPECT_EQ(hooks[6], "projector.output");
  VlmRequest r = req("what is this?");
  r.image = fx / "no_such_image.png";
  try {
    p->prepare(r);
    ADD_FAILURE() << "a missing image must be an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), r.image.string());
  }
  r.image.clear();
  EXPECT_THROW(p->prepare(r), InputError);
}

}  // namespace
