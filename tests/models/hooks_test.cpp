// Hooks: dispatch by exact name, nothing when off, layer names, validation messages.
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/hooks.h"

namespace ct::models {
namespace {

TEST(Hooks, DispatchesByExactNameOnly) {
  Hooks hooks;
  EXPECT_FALSE(hooks.enabled());
  const float data[6] = {1, 2, 3, 4, 5, 6};
  hooks.emit("vision.pre_ln", {data, 2, 3});  // no subscriber: nothing happens
  int calls = 0;
  hooks.subscribe("vision.layers.3.mlp_act", [&](std::string_view name, const HookTensor& t) {
    ++calls;
    EXPECT_EQ(name, "vision.layers.3.mlp_act");
    EXPECT_EQ(t.rows, 2);
    EXPECT_EQ(t.cols, 3);
    EXPECT_EQ(t.data[5], 6.0f);
  });
  EXPECT_TRUE(hooks.enabled());
  EXPECT_TRUE(hooks.wants("vision.layers.3.mlp_act"));
  EXPECT_FALSE(hooks.wants("vision.layers.3"));
  hooks.emit_layer("vision", 3, "mlp_act", {data, 2, 3});
  hooks.emit_layer("vision", 13, "mlp_act", {data, 2, 3});
  hooks.emit("vision.layers.3.mlp_act_x", {data, 2, 3});
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(hooks.wants_layer("vision", 3, "mlp_act"));
}

TEST(Hooks, RecorderCopiesAndAppends) {
  Hooks hooks;
  HookRecorder rec;
  rec.append = true;
  rec.subscribe_to(hooks, {"lm.norm"});
  float a[2] = {1, 2};
  hooks.emit("lm.norm", {a, 1, 2});
  a[0] = 3;  // the recorder copied the first emission
  hooks.emit("lm.norm", {a, 1, 2});
  const auto& c = rec.tensors.at("lm.norm");
  EXPECT_EQ(c.rows, 2);
  EXPECT_EQ(c.data, (std::vector<float>{1, 2, 3, 2}));
}

TEST(Hooks, ValidationListsValidNamesCompactly) {
  std::vector<std::string> offered = {"vision.embeddings"};
  for (int i = 0; i < 24; ++i) {
    offered.push_back(Hooks::layer_hook_name("vision", i, "attn_out"));
    offered.push_back(Hooks::layer_hook_name("vision", i, "output"));
  }
  offered.push_back("lm.logits");
  EXPECT_NO_THROW(validate_hook_names({"vision.layers.23.output", "lm.logits"}, offered, "--hooks"));
  try {
    validate_hook_names({"vision.layers.24.output"}, offered, "--hooks");
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "--hooks");
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unknown hook \"vision.layers.24.output\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("offers 50 hooks"), std::string::npos) << msg;
    EXPECT_NE(msg.find("vision.layers.{0..23}.attn_out, vision.layers.{0..23}.output"), std::string::npos) << msg;
    EXPECT_LT(msg.size(), 300u) << msg;
  }
}

TEST(Hooks, SummaryKeepsGapsAndTruncates) {
  EXPECT_EQ(summarise_hook_names({"a.layers.0.x", "a.layers.2.x", "b"}), "a.layers.{0,2}.x, b");
  EXPECT_EQ(summarise_hook_names({"a.layers.5.x"}), "a.layers.5.x");
  std::vector<std::string> many;
  for (int i = 0; i < 50; ++i) many.push_back("site" + std::to_string(i));
  const std::string s = summarise_hook_names(many);
  EXPECT_NE(s.find("... and 10 more"), std::string::npos) << s;
}

}  // namespace
}  // namespace ct::models
