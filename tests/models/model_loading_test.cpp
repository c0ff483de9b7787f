// Model loading and forward properties on the tiny fixtures: missing / misshapen tensors named in
// the error, the OpenAI CLIP layout equal to the HF layout, KV-cache decoding equal to a full
// prefill, thread-count independence, image-token checks, and the portable sampler.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <map>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "models/clip_vision.h"
#include "models/generate.h"
#include "models/llama.h"
#include "models/llava.h"
#include "models/model_fixtures.h"

namespace ct::models {
namespace {
namespace fs = std::filesystem;
using ct::testing::fixtures_dir;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::path(CROSSTRACE_TEST_TMP) / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Rewrites `src`'s tensors into dir/model.safetensors through `edit` (which may rename, drop or
// add tensors in the name → TensorToWrite map), copying config.json.
void rewrite_checkpoint(const fs::path& src, const fs::path& dir,
                        const std::function<void(std::map<std::string, io::TensorToWrite>&)>& edit) {
  const io::TensorStore store = io::open_checkpoint(src);
  std::map<std::string, io::TensorToWrite> t;
  for (const auto& e : store.entries()) t[e.name] = {e.name, e.dtype, e.shape, e.data};
  edit(t);
  std::vector<io::TensorToWrite> list;
  for (auto& [name, w] : t) {
    w.name = name;
    list.push_back(w);
  }
  io::write_safetensors(dir / "model.safetensors", list);
  fs::copy_file(src / "config.json", dir / "config.json");
}

std::vector<float> seeded_pixels(const io::ClipVisionConfig& c) {
  Rng rng(99);
  std::vector<float> p(static_cast<std::size_t>(3 * c.image_size * c.image_size));
  for (auto& v : p) v = static_cast<float>(rng.uniform01() * 4.0 - 2.0);
  return p;
}

TEST(LlamaModel, MissingTensorIsNamed) {
  const fs::path dir = fresh_dir("llama_missing");
  rewrite_checkpoint(fixtures_dir() / "llama", dir,
                     [](auto& t) { t.erase("model.layers.1.mlp.up_proj.weight"); });
  try {
    load_llama(dir);
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor model.layers.1.mlp.up_proj.weight (expected shape [40, 24])"),
              std::string::npos)
        << e.what();
  }
}

TEST(LlamaModel, WrongShapeAndDtypeAreNamed) {
  const fs::path dir = fresh_dir("llama_shape");
  std::vector<int64_t> ids(24, 7);
  rewrite_checkpoint(fixtures_dir() / "llama", dir, [&](auto& t) {
    t["model.norm.weight"].shape = {2, 12};
    t["model.layers.0.input_layernorm.weight"] = {"", io::DType::kI64, {24},
                                                  std::as_bytes(std::span<const int64_t>(ids))};
  });
  try {
    load_llama(dir);
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("input_layernorm.weight has dtype I64"), std::string::npos) << msg;
  }
  fs::remove_all(dir);
  fs::create_directories(dir);
  rewrite_checkpoint(fixtures_dir() / "llama", dir, [](auto& t) { t["model.norm.weight"].shape = {2, 12}; });
  EXPECT_THROW(
      {
        try {
          load_llama(dir);
        } catch (const InputError& e) {
          EXPECT_NE(std::string(e.what()).find("model.norm.weight has shape [2, 12], expected [24]"),
                    std::string::npos) << e.what();
          throw;
        }
      },
      InputError);
}

TEST(LlamaModel, KvCacheDecodingMatchesFullPrefill) {
  const LlamaModel m = load_llama(fixtures_dir() / "llama");
  const std::vector<int32_t> ids = {1, 5, 17, 100, 250, 33, 7, 99, 200, 3, 42, 311};
  const ExecContext ctx(2);
  KvCache full(m.config);
  const LlamaLogits all = llama_forward(m.config, m.weights, llama_embed(m.config, m.weights, ids), full, ctx, {}, true);
  ASSERT_EQ(all.rows, 12);
  KvCache cache(m.config);
  const std::span<const int32_t> s(ids);
  llama_forward(m.config, m.weights, llama_embed(m.config, m.weights, s.first(9)), cache, ctx, {});
  const auto V = static_cast<std::size_t>(m.config.vocab_size);
  for (std::size_t t = 9; t < 12; ++t) {
    const LlamaLogits step = llama_forward(m.config, m.weights, llama_embed(m.config, m.weights, s.subspan(t, 1)),
                                           cache, ctx, {});
    ASSERT_EQ(step.rows, 1);
    for (std::size_t v = 0; v < V; ++v) EXPECT_NEAR(step.data[v], all.data[t * V + v], 1e-5) << t << " " << v;
  }
  EXPECT_EQ(cache.length(), 12);
  EXPECT_THROW(llama_embed(m.config, m.weights, std::vector<int32_t>{320}), InputError);
}

TEST(ClipModel, OpenAiLayoutMatchesHfLayout) {
  const fs::path src = fixtures_dir() / "clip_vision";
  const fs::path dir = fresh_dir("clip_openai");
  const io::TensorStore store = io::open_checkpoint(src);
  std::vector<std::vector<std::byte>> packed;  // keeps the concatenated q,k,v bytes alive
  packed.reserve(8);
  rewrite_checkpoint(src, dir, [&](auto& t) {
    std::map<std::string, io::TensorToWrite> out;
    auto move = [&](const std::string& from, const std::string& to) {
      out[to] = t.at("vision_model." + from);
    };
    move("embeddings.class_embedding", "visual.class_embedding");
    move("embeddings.patch_embedding.weight", "visual.conv1.weight");
    move("embeddings.position_embedding.weight", "visual.positional_embedding");
    for (const char* s : {"weight", "bias"}) {
      move(std::string("pre_layrnorm.") + s, std::string("visual.ln_pre.") + s);
      move(std::string("post_layernorm.") + s, std::string("visual.ln_post.") + s);
    }
    for (int i = 0; i < 2; ++i) {
      const std::string h = "encoder.layers." + std::to_string(i) + ".";
      const std::string o = "visual.transformer.resblocks." + std::to_string(i) + ".";
      for (const char* s : {"weight", "bias"}) {
        move(h + "layer_norm1." + s, o + "ln_1." + s);
        move(h + "layer_norm2." + s, o + "ln_2." + s);
        move(h + "mlp.fc1." + s, o + "mlp.c_fc." + s);
        move(h + "mlp.fc2." + s, o + "mlp.c_proj." + s);
        move(h + "self_attn.out_proj." + s, o + "attn.out_proj." + s);
        std::vector<std::byte> bytes;
        io::TensorToWrite pack;
        for (const char* p : {"q_proj.", "k_proj.", "v_proj."}) {
          const io::TensorToWrite& part = t.at("vision_model." + h + "self_attn." + p + s);
          bytes.insert(bytes.end(), part.data.begin(), part.data.end());
          pack = part;
        }
        pack.shape[0] *= 3;
        packed.push_back(std::move(bytes));
        pack.data = packed.back();
        out[o + (std::string(s) == "weight" ? "attn.in_proj_weight" : "attn.in_proj_bias")] = pack;
      }
    }
    t = out;
  });
  const ClipVisionModel hf = load_clip_vision(src);
  const ClipVisionModel oa = load_clip_vision(dir);
  EXPECT_EQ(oa.layout, ClipLayout::kOpenAi);
  const auto pixels = seeded_pixels(hf.config);
  const ExecContext ctx(2);
  EXPECT_EQ(clip_vision_forward(hf.config, hf.weights, pixels, {}, ctx, {}),
            clip_vision_forward(oa.config, oa.weights, pixels, {}, ctx, {}));
  EXPECT_THROW(clip_vision_forward(hf.config, hf.weights, std::span(pixels).first(10), {}, ctx, {}), InputError);
}

TEST(LlavaModel, ThreadCountDoesNotChangeHooks) {
  const LlavaModel m = load_llava(fixtures_dir() / "llava_hf_newkeys");
  const auto pixels = seeded_pixels(m.config.vision);
  const std::vector<int32_t> ids = {1, 10, llava_image_token_id(m), 13, 40};
  std::map<int, HookRecorder> rec;
  for (int threads : {1, 3}) {
    Hooks hooks;
    rec[threads].subscribe_to(hooks, llava_hook_names(m));
    KvCache cache(m.config.text);
    llava_forward(m, ids, pixels, cache, ExecContext(threads), hooks);
    EXPECT_EQ(cache.length(), 4 + llava_image_tokens(m));
  }
  ASSERT_EQ(rec[1].tensors.size(), llava_hook_names(m).size());
  for (const auto& [name, t] : rec[1].tensors) EXPECT_EQ(t.data, rec[3].tensors.at(name).data) << name;
}

TEST(LlavaModel, ImageTokenCountMustMatch) {
  const LlavaModel m = load_llava(fixtures_dir() / "llava_hf");
  EXPECT_EQ(llava_image_tokens(m), 225);
  const auto pixels = seeded_pixels(m.config.vision);
  const int32_t img = llava_image_token_id(m);
  KvCache cache(m.config.text);
  try {
    llava_forward(m, std::vector<int32_t>{1, img, img, 5}, pixels, cache, ExecContext(1), {});
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "token_ids");
    EXPECT_NE(std::string(e.what()).find("expected 225 image tokens"), std::string::npos) << e.what();
  }
  EXPECT_EQ(expand_image_tokens(m, std::vector<int32_t>{1, img, 5}).size(), 227u);
}

TEST(LlavaModel, OriginalLayoutNeedsItsVisionTower) {
  const fs::path dir = fixtures_dir() / "llava_original";
  // Without a CLIP directory at mm_vision_tower the error says how to fix it.
  try {
    load_llava(dir);
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("mm_vision_tower"), std::string::npos) << e.what();
  }
  LlavaLoadOptions opt;
  opt.vision_tower = fixtures_dir() / "clip_vision";
  try {
    const LlavaModel m = load_llava(dir, opt);
    EXPECT_EQ(llava_image_token_id(m), -200);
    const LlavaModel hf = load_llava(fixtures_dir() / "llava_hf");
    // Same projector and LM values (f16-rounded), same vision tower: the projector outputs agree.
    const auto pixels = seeded_pixels(m.config.vision);
    HookRecorder a, b;
    Hooks ha, hb;
    a.subscribe_to(ha, {"projector.output"});
    b.subscribe_to(hb, {"projector.output"});
    llava_image_features(m, pixels, ExecContext(1), ha);
    llava_image_features(hf, pixels, ExecContext(1), hb);
    const auto& x = a.tensors.at("projector.output").data;
    const auto& y = b.tensors.at("projector.output").data;
    double diff = 0, ref = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      diff = std::max(diff, std::fabs(static_cast<double>(x[i]) - y[i]));
      ref = std::max(ref, std::fabs(static_cast<double>(y[i])));
    }
    EXPECT_LT(diff / ref, 5e-3);
  } catch (const InputError& e) {
    if (std::string(e.what()).find("placeholder") != std::string::npos) GTEST_SKIP() << "no PyTorch reader: " << e.what();
    throw;
  }
}

TEST(Generation, SamplerIsSeededAndPortable) {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 5; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    EXPECT_NE(x, c.next_u64());
  }
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    const double u = a.uniform01();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);

  const std::vector<float> logits = {0.0f, 2.0f, 2.0f, 1.0f};
  GenerationOptions greedy;
  EXPECT_EQ(pick_token(logits, greedy, a), 1);  // ties: the first index
  GenerationOptions nucleus;
  nucleus.temperature = 1.0f;
  nucleus.top_p = 0.3f;  // the single most likely token (first of the tie) carries 0.42
  for (int i = 0; i < 20; ++i) EXPECT_EQ(pick_token(logits, nucleus, a), 1);
  GenerationOptions sample;
  sample.temperature = 1.0f;
  std::vector<int> counts(4);
  Rng r(7);
  for (int i = 0; i < 20000; ++i) ++counts[static_cast<std::size_t>(pick_token(logits, sample, r))];
  const double z = 1 + 2 * std::exp(2.0) + std::exp(1.0);
  EXPECT_NEAR(counts[0] / 20000.0, 1 / z, 0.01);
  EXPECT_NEAR(counts[3] / 20000.0, std::exp(1.0) / z, 0.01);
  GenerationOptions bad = sample;
  bad.top_p = 0.0f;
  EXPECT_THROW(pick_token(logits, bad, r), InputError);
}

TEST(Generation, StopsAtEosAndMaxTokens) {
  const LlamaModel m = load_llama(fixtures_dir() / "llama");
  const std::vector<int32_t> ids = {1, 5, 17, 100};
  const auto x = llama_embed(m.config, m.weights, ids);
  GenerationOptions opt;
  opt.max_new_tokens = 3;
  const auto three = generate(m.config, m.weights, x, opt, ExecContext(1), {});
  EXPECT_EQ(three.size(), 3u);
  opt.max_new_tokens = 6;
  opt.eos_ids = {three[1]};  // pretend the second token is EOS: it is kept, then generation stops
  const auto stopped = generate(m.config, m.weights, x, opt, ExecContext(1), {});
  EXPECT_EQ(stopped, (std::vector<int32_t>{three[0], three[1]}));
  opt.eos_ids = {};
  opt.temperature = 0.8f;
  opt.seed = 5;
  EXPECT_EQ(generate(m.config, m.weights, x, opt, ExecContext(1), {}),
            generate(m.config, m.weights, x, opt, ExecContext(2), {}));
}

}  // namespace
}  // namespace ct::models
