// The Hugging Face class defaults that published config files omit (vlm-architectures.md trap 4).
#include "io/hf_config.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace ct::io {
namespace {

TEST(HfConfig, LlavaHfDefaultsAreViTL14At336AndLlama7B) {
  // The fields llava-1.5-7b-hf really lists, minus the nested configs.
  const auto j = nlohmann::json::parse(R"({"model_type": "llava", "image_token_index": 32000,
      "vision_feature_layer": -2, "projector_hidden_act": "gelu"})");
  const LlavaConfig c = parse_llava_config(j, "config.json");
  EXPECT_EQ(c.vision.hidden_size, 1024);
  EXPECT_EQ(c.vision.image_size, 336);
  EXPECT_EQ(c.vision.patch_size, 14);
  EXPECT_EQ(c.vision.num_hidden_layers, 24);
  EXPECT_EQ(c.vision.hidden_act, "quick_gelu");
  EXPECT_EQ(c.text.hidden_size, 4096);
  EXPECT_EQ(c.text.intermediate_size, 11008);
  EXPECT_EQ(c.text.num_key_value_heads, 32);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-6);
  EXPECT_FALSE(c.original_layout);
}

TEST(HfConfig, GivenVisionConfigUsesClipClassDefaults) {
  const auto j = nlohmann::json::parse(R"({"model_type": "llava", "vision_config": {"hidden_size": 32, "num_attention_heads": 4},
      "text_config": {"hidden_size": 24, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5}})");
  const LlavaConfig c = parse_llava_config(j, "config.json");
  EXPECT_EQ(c.vision.hidden_size, 32);
  EXPECT_EQ(c.vision.patch_size, 32);  // CLIPVisionConfig's own default
  EXPECT_EQ(c.text.head_dim, 6);
  EXPECT_EQ(c.text.num_key_value_heads, 2);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-5);
}

TEST(HfConfig, OriginalLlavaLayout) {
  const auto j = nlohmann::json::parse(R"({"model_type": "llava_llama", "mm_vision_tower": "openai/clip-vit-large-patch14-336",
      "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch", "hidden_size": 4096})");
  const LlavaConfig c = parse_llava_config(j, "config.json");
  EXPECT_TRUE(c.original_layout);
  EXPECT_EQ(c.mm_projector_type, "mlp2x_gelu");
  EXPECT_EQ(c.vision_feature_layer, -2);
  EXPECT_EQ(c.image_token_index, -200);
}

TEST(HfConfig, WrongTypesAndImpossibleValuesNameTheField) {
  for (const char* bad : {R"({"hidden_size": "big"})", R"({"hidden_size": -4})", R"({"rms_norm_eps": "x"})",
                          R"({"num_attention_heads": 5, "hidden_size": 16})", R"({"num_key_value_heads": 3})",
                          R"({"tie_word_embeddings": 1})"}) {
    EXPECT_THROW(parse_llama_config(nlohmann::json::parse(bad), "/m/config.json"), InputError) << bad;
  }
  try {
    parse_bert_config(nlohmann::json::parse(R"({"vocab_size": 1.5})"), "/m/config.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "/m/config.json: field \"vocab_size\" must be an integer >= 1, found 1.5");
  }
}

TEST(HfConfig, BertDefaultsAndMplugExtras) {
  const BertConfig plain = parse_bert_config(nlohmann::json::object(), "c.json");
  EXPECT_EQ(plain.vocab_size, 30522);
  EXPECT_DOUBLE_EQ(plain.layer_norm_eps, 1e-12);
  EXPECT_FALSE(plain.fusion_layers.has_value());
  const BertConfig mplug = parse_bert_config(nlohmann::json::parse(R"({"fusion_layers": 6, "stride_layer": 3})"), "c.json");
  EXPECT_EQ(*mplug.fusion_layers, 6);
  EXPECT_EQ(*mplug.stride_layer, 3);
}

}  // namespace
}  // namespace ct::io
