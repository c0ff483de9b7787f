// Model-card front matter and the known-model registry: hand-written cards with the expected
// fields, and anatomies built by hand with the published shapes (values from the papers / HF
// configs, typed here independently of registry.cpp).
#include <gtest/gtest.h>

#include "anatomy/model_card.h"
#include "anatomy/registry.h"

namespace ct::anatomy {
namespace {

TEST(ModelCard, ParsesTheFrontMatterSubset) {
  const std::string text =
      "---\n"
      "license: apache-2.0   # a comment\n"
      "base_model: \"lmsys/vicuna-7b-v1.5\"\n"
      "datasets:\n"
      "  - liuhaotian/LLaVA-Instruct-150K\n"
      "  - 'liuhaotian/LLaVA-Pretrain'\n"
      "tags: [vision, 'llava, 1.5', chat]\n"
      "pipeline_tag: image-text-to-text\n"
      "model-index:\n"
      "  - name: x\n"
      "    results: []\n"
      "---\n"
      "# Title\nbase_model: not front matter\n";
  const ModelCard c = parse_model_card(text, "README.md");
  ASSERT_TRUE(c.present);
  EXPECT_EQ(c.get("license"), std::vector<std::string>{"apache-2.0"});
  EXPECT_EQ(c.get("base_model"), std::vector<std::string>{"lmsys/vicuna-7b-v1.5"});
  EXPECT_EQ(c.get("datasets"), (std::vector<std::string>{"liuhaotian/LLaVA-Instruct-150K", "liuhaotian/LLaVA-Pretrain"}));
  EXPECT_EQ(c.get("tags"), (std::vector<std::string>{"vision", "llava, 1.5", "chat"}));
  EXPECT_EQ(c.get("pipeline_tag"), std::vector<std::string>{"image-text-to-text"});
  EXPECT_TRUE(c.get("model-index").empty());  // nested mapping, not a list of scalars
}

TEST(ModelCard, NoFrontMatterOrUnclosedIsNotACard) {
  EXPECT_FALSE(parse_model_card("# just a readme\n", "R").present);
  const ModelCard open = parse_model_card("---\nlicense: mit\n", "R");
  EXPECT_FALSE(open.present);
  ASSERT_EQ(open.notes.size(), 1u);
  EXPECT_NE(open.notes[0].find("never closed"), std::string::npos);
}

Component component(const std::string& name, const std::string& kind, nlohmann::ordered_json config) {
  Component c;
  c.name = name;
  c.kind = kind;
  c.config = std::move(config);
  return c;
}

bool has_match(const std::vector<ShapeMatch>& m, const std::string& id, const std::string& comp) {
  for (const auto& x : m) if (x.id == id && x.component == comp) return true;
  return false;
}

TEST(Registry, LlavaOneFiveSevenBShapesMatchByShape) {
  Anatomy a;
  a.family = Family::kLlava;
  a.components = {component("vision_encoder", "clip_vit", {{"width", 1024}, {"layers", 24}, {"patch_size", 14}, {"image_size", 336}}),
                  component("language_model", "llama", {{"width", 4096}, {"layers", 32}, {"mlp_width", 11008}, {"vocab", 32064}})};
  const auto m = match_shapes(a);
  EXPECT_TRUE(has_match(m, "llava-1.5-7b", ""));
  EXPECT_FALSE(has_match(m, "llava-1.5-13b", ""));
  EXPECT_TRUE(has_match(m, "clip-vit-l-14-336", "vision_encoder"));
  EXPECT_FALSE(has_match(m, "clip-vit-l-14", "vision_encoder"));  // 224 px
  EXPECT_TRUE(has_match(m, "vicuna-7b-v1.5", "language_model"));
  EXPECT_TRUE(has_match(m, "llama-2-7b", "language_model"));
  for (const auto& x : m) {
    if (x.id == "llama-2-7b") {
      ASSERT_EQ(x.notes.size(), 1u);  // padded vocabulary is named, not hidden
      EXPECT_NE(x.notes[0].find("32064"), std::string::npos);
    }
  }
  const auto axes = five_axes(a, ModelCard{}, m);
  EXPECT_NE(axes["training_data"]["basis"].get<std::string>().find("matches the shape of LLaVA-1.5 7B"), std::string::npos);
  bool cites = false;
  for (const auto& v : axes["training_data"]["values"]) cites |= v["source"].get<std::string>().find("2310.03744") != std::string::npos;
  EXPECT_TRUE(cites);
}

TEST(Registry, TinyShapesMatchNothingAndFallBackToTheFamilyReference) {
  Anatomy a;
  a.family = Family::kMplug;
  a.components = {component("vision_encoder", "clip_vit", {{"width", 48}, {"layers", 2}, {"patch_size", 4}, {"image_size", 16}})};
  EXPECT_TRUE(match_shapes(a).empty());
  ModelCard card;
  card.present = true;
  card.path = "README.md";
  card.fields["pipeline_tag"] = {"visual-question-answering"};
  const auto axes = five_axes(a, card, {});
  const auto& tasks = axes["tasks"]["values"];
  ASSERT_FALSE(tasks.empty());
  EXPECT_EQ(tasks[0]["text"], "pipeline: visual-question-answering");
  bool unverified = true;
  for (const auto& v : tasks) {
    if (v["source"].get<std::string>().find("2205.12005") != std::string::npos) {
      unverified &= v["source"].get<std::string>().find("not verified for this checkpoint") != std::string::npos;
    }
  }
  EXPECT_TRUE(unverified);
  EXPECT_EQ(tasks.size(), 6u);  // the card's pipeline + the five mPLUG tasks of the seed write-up
}

TEST(Registry, EveryFactCitesASource) {
  for (const auto& m : known_models()) {
    EXPECT_FALSE(m.paper.empty()) << m.id;
    for (const auto* list : {&m.architecture, &m.tasks, &m.training_data, &m.application_area, &m.universality, &m.built_from}) {
      for (const auto& f : *list) EXPECT_FALSE(f.source.empty()) << m.id << ": " << f.text;
    }
  }
}

}  // namespace
}  // namespace ct::anatomy
