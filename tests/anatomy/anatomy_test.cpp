// Family detection and component assignment on in-memory stores (no files), against hand-computed
// counts; config defaults and config/tensor contradictions.
#include "anatomy/anatomy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "anatomy/layout.h"
#include "core/error.h"

namespace ct::anatomy {
namespace {

// A store whose tensors point at one zeroed buffer (only names, shapes and dtypes matter here).
class FakeStore {
 public:
  FakeStore() : buffer_(std::make_shared<std::vector<std::byte>>(1 << 20)) { store_.keep_alive(buffer_); }
  FakeStore& add(const std::string& name, std::vector<int64_t> shape, io::DType dtype = io::DType::kF32) {
    io::TensorEntry e;
    e.name = name;
    e.dtype = dtype;
    e.shape = std::move(shape);
    e.data = {buffer_->data(), static_cast<std::size_t>(e.numel()) * io::dtype_size(dtype)};
    e.file = "fake.safetensors";
    store_.add(std::move(e));
    return *this;
  }
  const io::TensorStore& store() const { return store_; }

 private:
  std::shared_ptr<std::vector<std::byte>> buffer_;
  io::TensorStore store_{"fake"};
};

const Component* find(const Anatomy& a, const std::string& name) {
  for (const auto& c : a.components) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::filesystem::path empty_dir() {
  auto dir = std::filesystem::path(CROSSTRACE_TEST_TMP) / "anatomy_empty";
  std::filesystem::create_directories(dir);
  return dir;
}

void add_llava_hf(FakeStore& s, const std::string& vision, const std::string& projector, const std::string& lm,
                  const std::string& head) {
  s.add(vision + "vision_model.embeddings.class_embedding", {8});
  s.add(vision + "vision_model.embeddings.patch_embedding.weight", {8, 3, 2, 2});
  s.add(vision + "vision_model.embeddings.position_embedding.weight", {17, 8});
  s.add(vision + "vision_model.embeddings.position_ids", {1, 17}, io::DType::kI64);
  s.add(vision + "vision_model.encoder.layers.0.mlp.fc1.weight", {37, 8});
  s.add(vision + "vision_model.encoder.layers.1.mlp.fc1.weight", {37, 8});
  s.add(projector + "linear_1.weight", {12, 8});
  s.add(projector + "linear_2.weight", {12, 12});
  s.add(lm + "embed_tokens.weight", {100, 12});
  s.add(lm + "layers.0.self_attn.q_proj.weight", {12, 12});
  s.add(lm + "layers.0.self_attn.k_proj.weight", {6, 12});
  s.add(lm + "layers.0.mlp.gate_proj.weight", {30, 12});
  s.add(lm + "layers.0.self_attn.rotary_emb.inv_freq", {2});
  s.add(head + "weight", {100, 12});
}

TEST(Anatomy, LlavaHfBothSpellingsGiveTheSameComponents) {
  FakeStore old_keys, new_keys;
  add_llava_hf(old_keys, "vision_tower.", "multi_modal_projector.", "language_model.model.", "language_model.lm_head.");
  add_llava_hf(new_keys, "model.vision_tower.", "model.multi_modal_projector.", "model.language_model.", "lm_head.");
  const Anatomy a = describe_model(old_keys.store(), empty_dir());
  const Anatomy b = describe_model(new_keys.store(), empty_dir());
  EXPECT_EQ(a.layout, "llava-hf");
  EXPECT_EQ(b.layout, "llava-hf-new-keys");
  for (const Anatomy* m : {&a, &b}) {
    EXPECT_EQ(m->family, Family::kLlava);
    EXPECT_EQ(m->fusion, "early");
    ASSERT_NE(find(*m, "vision_encoder"), nullptr);
    EXPECT_EQ(find(*m, "vision_encoder")->parameters, 8 + 8 * 3 * 4 + 17 * 8 + 2 * 37 * 8);
    EXPECT_EQ(find(*m, "projector")->parameters, 12 * 8 + 12 * 12);
    EXPECT_EQ(find(*m, "projector")->kind, "mlp2x_gelu");
    EXPECT_EQ(find(*m, "language_model")->parameters, 100 * 12 + 144 + 72 + 360);
    EXPECT_EQ(find(*m, "lm_head")->parameters, 1200);
    EXPECT_EQ(m->ignored.tensors, 2);  // position_ids and inv_freq
    EXPECT_EQ(m->ignored.parameters, 17 + 2);
    EXPECT_EQ(find(*m, "vision_encoder")->config["layers"], 2);
    EXPECT_EQ(find(*m, "vision_encoder")->config["image_size"], 8);
    EXPECT_EQ(m->config["image_tokens"], 16);
    EXPECT_EQ(find(*m, "language_model")->config["grouped_query"], true);
    EXPECT_EQ(m->total_parameters, find(*m, "vision_encoder")->parameters + 240 + 1776 + 1200 + 19);
  }
}

TEST(Anatomy, LlavaOriginalLayout) {
  FakeStore s;
  s.add("model.embed_tokens.weight", {50, 8}).add("model.layers.0.self_attn.q_proj.weight", {8, 8});
  s.add("model.mm_projector.0.weight", {8, 6}).add("model.mm_projector.2.weight", {8, 8});
  s.add("model.norm.weight", {8}).add("lm_head.weight", {50, 8});
  const Anatomy a = describe_model(s.store(), empty_dir());
  EXPECT_EQ(a.layout, "llava-original");
  EXPECT_EQ(find(a, "projector")->parameters, 48 + 64);
  EXPECT_EQ(find(a, "language_model")->parameters, 400 + 64 + 8);
  EXPECT_EQ(find(a, "lm_head")->parameters, 400);
  EXPECT_EQ(find(a, "vision_encoder"), nullptr);
}

TEST(Anatomy, MplugPretrainedKeysAreNormalisedAndUnusedFusionModulesIgnored) {
  FakeStore s;
  s.add("visual_encoder.visual.conv1.weight", {6, 3, 2, 2}).add("visual_encoder.visual.class_embedding", {6});
  s.add("visual_encoder.visual.positional_embedding", {5, 6}).add("visual_encoder.visual.proj", {6, 4});
  s.add("visual_encoder.token_embedding.weight", {10, 4});  // CLIP text tower: unused
  s.add("visual_encoder_m.visual.conv1.weight", {6, 3, 2, 2});  // momentum copy
  s.add("text_encoder.bert.embeddings.word_embeddings.weight", {110, 4});
  for (int i = 0; i < 4; ++i) s.add("fusion_encoder.fusion.encoder.layer." + std::to_string(i) + ".attention.self.query.weight", {4, 4});
  s.add("text_decoder.bert.encoder.layer.0.crossattention.self.query.weight", {4, 4});
  s.add("text_decoder.cls.predictions.decoder.weight", {110, 4});
  s.add("itm_head.weight", {2, 4});
  const Anatomy a = describe_model(s.store(), empty_dir());
  EXPECT_EQ(a.family, Family::kMplug);
  EXPECT_EQ(a.layout, "mplug-pretrained");
  EXPECT_EQ(a.fusion, "deep");
  EXPECT_EQ(find(a, "vision_encoder")->parameters, 72 + 6 + 30);
  EXPECT_EQ(find(a, "text_encoder")->parameters, 440);
  EXPECT_EQ(find(a, "fusion")->parameters, 2 * 16);  // modules 2 and 3 of 4 run
  EXPECT_EQ(find(a, "fusion")->config["first_module_run"], 2);
  EXPECT_EQ(find(a, "decoder")->parameters, 16);
  EXPECT_EQ(find(a, "lm_head")->parameters, 440);
  EXPECT_EQ(a.ignored.tensors, 6);  // proj, text tower, momentum, 2 unused fusion modules, itm_head
}

TEST(Anatomy, BertHubNamesAndGenericFallback) {
  FakeStore bert;
  bert.add("bert.embeddings.word_embeddings.weight", {30, 4}).add("bert.embeddings.LayerNorm.gamma", {4});
  bert.add("bert.encoder.layer.0.attention.self.query.weight", {4, 4}).add("cls.predictions.bias", {30});
  const Anatomy b = describe_model(bert.store(), empty_dir());
  EXPECT_EQ(b.family, Family::kBert);
  EXPECT_EQ(b.layout, "bert-hf-gamma-beta");
  EXPECT_EQ(find(b, "text_encoder")->parameters, 120 + 4 + 16);
  EXPECT_EQ(find(b, "heads")->parameters, 30);

  FakeStore other;
  other.add("encoder.conv.weight", {3, 3}).add("decoder.fc.weight", {2, 5}).add("scale", {});
  const Anatomy g = describe_model(other.store(), empty_dir());
  EXPECT_EQ(g.family, Family::kGeneric);
  ASSERT_EQ(g.components.size(), 3u);
  EXPECT_EQ(find(g, "decoder")->parameters, 10);
  EXPECT_EQ(find(g, "scale")->parameters, 1);
}

TEST(Anatomy, ConfigThatContradictsTheTensorsIsAnInputError) {
  const auto dir = std::filesystem::path(CROSSTRACE_TEST_TMP) / "anatomy_mismatch";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"model_type": "llama", "hidden_size": 4})";
  FakeStore bert;
  bert.add("embeddings.word_embeddings.weight", {30, 4});
  try {
    describe_model(bert.store(), dir);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bert"), std::string::npos) << e.what();
  }
}

TEST(Anatomy, BadConfigFieldNamesTheFileAndField) {
  const auto dir = std::filesystem::path(CROSSTRACE_TEST_TMP) / "anatomy_badfield";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"model_type": "llama", "num_attention_heads": "many"})";
  FakeStore llama;
  llama.add("model.embed_tokens.weight", {30, 4});
  try {
    describe_model(llama.store(), dir);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("num_attention_heads"), std::string::npos) << e.what();
    EXPECT_NE(e.where().find("config.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ct::anatomy
