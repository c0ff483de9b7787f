// Hook listings from config files equal the names the forward passes emit.
#include <gtest/gtest.h>

#include "models/clip_vision.h"
#include "models/llama.h"
#include "models/llava.h"
#include "models/model_fixtures.h"
#include "models/model_hooks.h"

namespace ct::models {
namespace {
using ct::testing::fixtures_dir;

TEST(HookListing, MatchesTheLoadedModels) {
  const ModelHooks llava = list_model_hooks(fixtures_dir() / "llava_hf_newkeys");
  EXPECT_EQ(llava.family, "llava");
  EXPECT_EQ(llava.names, llava_hook_names(load_llava(fixtures_dir() / "llava_hf_newkeys")));
  EXPECT_EQ(llava.names.front(), "vision.embeddings");
  EXPECT_EQ(llava.names[6], "projector.output");  // one vision layer runs for feature layer -2 of 2
  const ModelHooks llama = list_model_hooks(fixtures_dir() / "llama" / "model.safetensors");
  EXPECT_EQ(llama.family, "llama");
  EXPECT_EQ(llama.names.size(), 1u + 2 * 5 + 2);
  EXPECT_EQ(llama.names.back(), "lm.logits");
  const ModelHooks clip = list_model_hooks(fixtures_dir() / "clip_vision");
  EXPECT_EQ(clip.names, clip_vision_hook_names(load_clip_vision(fixtures_dir() / "clip_vision").config, {}));
  EXPECT_EQ(clip.names.back(), "vision.post_ln");
}

TEST(HookListing, OriginalLlavaAndUnknownFamilies) {
  const ModelHooks orig = list_model_hooks(fixtures_dir() / "llava_original");
  EXPECT_EQ(orig.family, "llava");
  EXPECT_NE(orig.note.find("not found locally"), std::string::npos);
  EXPECT_EQ(orig.names.front(), "projector.output");
  const ModelHooks with_tower = list_model_hooks(fixtures_dir() / "llava_original", fixtures_dir() / "clip_vision");
  EXPECT_TRUE(with_tower.note.empty());
  EXPECT_EQ(with_tower.names.front(), "vision.embeddings");
  const ModelHooks bert = list_model_hooks(fixtures_dir() / "bert");
  EXPECT_TRUE(bert.names.empty());
  EXPECT_FALSE(bert.note.empty());
}

}  // namespace
}  // namespace ct::models
