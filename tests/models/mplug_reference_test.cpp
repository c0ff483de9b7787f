// mPLUG and BERT against the independent plain-torch reference of the released code
// (tools/mplug_reference.py) on the tiny fixtures: both key spellings (mplug_finetuned,
// mplug_pretrained), the base-like schedule with a connected layer (stride 2 of 3 fusion layers),
// the large-like one without (mplug_large, whose config.yaml also forces the positional-table
// resize) and a model without visn_fc (mplug_base). Every hook within 1e-4 relative (max |diff| /
// max |ref|), the offered hook list equal to the dumped one, beam-search answer and caption ids
// identical (the reference re-runs the whole sequence per step with the memory tiled per beam; we
// cache). Question ids come from our WordPiece tokenizer. Also: mplug_answer end to end on an image
// file, and the bad-input errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "core/exec_context.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "models/bert.h"
#include "models/image.h"
#include "models/model_fixtures.h"
#include "models/model_hooks.h"
#include "models/mplug.h"
#include "models/tokenizer_wordpiece.h"
#include "tensor/convert.h"

namespace ct::models {
namespace {

namespace fs = std::filesystem;
using ct::testing::fixtures_dir;

const char* kQuestion = "What color is the cat on the table?";

fs::path tmp_dir() {
  const fs::path d = fs::path(CROSSTRACE_TEST_TMP) / ("mplug_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

int run(const std::string& cmd) { return std::system((cmd + " > /dev/null 2>&1").c_str()); }

std::string join_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

// Runs the reference; returns the dump path (empty after ADD_FAILURE when the script fails).
fs::path mplug_reference(const std::string& fixture, const std::vector<int32_t>& ids, const std::string& extra = {}) {
  const fs::path out = tmp_dir() / (fixture + "_ref.safetensors");
  const std::string cmd = "/usr/bin/python3 " CROSSTRACE_SOURCE_DIR "/tools/mplug_reference.py --fixture '" +
                          (fixtures_dir() / fixture).string() + "' --out '" + out.string() + "' --ids " +
                          join_ids(ids) + " " + extra;
  if (run(cmd) != 0) {
    ADD_FAILURE() << "mplug_reference.py failed: " << cmd;
    return {};
  }
  return out;
}

std::vector<int32_t> read_ids(const io::TensorStore& s, const std::string& name) {
  std::vector<int32_t> out;
  const io::TensorEntry* e = s.find(name);
  if (e == nullptr) return out;
  for (int64_t i = 0; i < e->numel(); ++i) {
    int64_t v;
    std::memcpy(&v, e->data.data() + 8 * i, 8);
    out.push_back(static_cast<int32_t>(v));
  }
  return out;
}

// Compares every dumped tensor named `prefix` + hook with the capture of `hook`.
double compare(const io::TensorStore& ref, const std::string& prefix, const HookRecorder& rec,
               const std::set<std::string>& hooks, double tol, const std::string& label) {
  double worst = 0.0;
  for (const auto& name : hooks) {
    const io::TensorEntry* e = ref.find(prefix + name);
    auto it = rec.tensors.find(name);
    if (e == nullptr || it == rec.tensors.end()) {
      ADD_FAILURE() << label << ": " << name << (e ? " not emitted" : " not in the reference dump");
      continue;
    }
    const auto& got = it->second;
    EXPECT_EQ(e->shape.size(), 2u) << name;
    if (e->shape.size() != 2) continue;
    EXPECT_EQ(got.rows, e->shape[0]) << label << " " << name;
    EXPECT_EQ(got.cols, e->shape[1]) << label << " " << name;
    if (got.rows != e->shape[0] || got.cols != e->shape[1]) continue;
    const std::vector<float> want = tensor::to_f32(*e);
    double max_diff = 0.0, max_ref = 0.0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(got.data[i]) - want[i]));
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    }
    const double rel = max_diff / std::max(max_ref, 1e-30);
    EXPECT_LE(rel, tol) << label << ": " << name << " max|diff| " << max_diff << " max|ref| " << max_ref;
    worst = std::max(worst, rel);
  }
  std::printf("[ reference ] %-28s %zu hooks, worst max rel %.3g\n", label.c_str(), hooks.size(), worst);
  return worst;
}

void check_fixture(const std::string& fixture) {
  const MplugModel m = load_mplug(fixtures_dir() / fixture);
  const WordPieceTokenizer tok = WordPieceTokenizer::load(fixtures_dir() / fixture / "vocab.txt");
  const std::vector<int32_t> ids = tok.encode(kQuestion).ids;
  const fs::path path = mplug_reference(fixture, ids);
  ASSERT_FALSE(path.empty());
  io::TensorStore ref;
  io::read_safetensors(path, ref);
  const std::vector<float> pixels = tensor::to_f32(ref.at("input.pixels"));
  EXPECT_EQ(read_ids(ref, "input.ids"), ids);
  std::set<std::string> dumped, dumped_caption;
  for (const auto& e : ref.entries()) {
    if (e.name.starts_with("input.") || e.name.find("generated") != std::string::npos) continue;
    if (e.name.starts_with("caption.")) dumped_caption.insert(e.name.substr(8));
    else dumped.insert(e.name);
  }
  const std::vector<std::string> offered = mplug_hook_names(m.config);
  EXPECT_EQ(std::set<std::string>(offered.begin(), offered.end()), dumped) << fixture;
  const ExecContext ctx(2);

  // VQA: encoders and fusion, beam search, teacher-forced decoder hooks.
  Hooks hooks;
  HookRecorder rec;
  rec.subscribe_to(hooks, offered);
  const MplugMemory memory = mplug_encode(m, pixels, ids, MplugTask::kVqa, ctx, hooks);
  const MplugBeamResult answer = mplug_beam_search(m, memory, MplugTask::kVqa, {}, ctx);
  EXPECT_EQ(answer.ids, read_ids(ref, "generated")) << fixture;
  EXPECT_NEAR(answer.score, tensor::to_f32(ref.at("generated.score"))[0], 1e-4) << fixture;
  mplug_decoder_teacher_forced(m, memory, read_ids(ref, "generated"), ctx, hooks);
  compare(ref, "", rec, dumped, 1e-4, fixture + " vqa");

  // Captioning: the decoder over V.
  Hooks cap_hooks;
  HookRecorder cap;
  std::vector<std::string> dec(dumped_caption.begin(), dumped_caption.end());
  cap.subscribe_to(cap_hooks, dec);
  const MplugMemory v = mplug_encode(m, pixels, {}, MplugTask::kCaption, ctx, Hooks{});
  EXPECT_EQ(v.rows, clip_num_tokens(m.config.vision));
  const MplugBeamResult caption = mplug_beam_search(m, v, MplugTask::kCaption, {}, ctx);
  EXPECT_EQ(caption.ids, read_ids(ref, "caption.generated")) << fixture;
  EXPECT_GE(caption.ids.size(), 8u);  // min length 8: [SEP] is blocked before
  mplug_decoder_teacher_forced(m, v, read_ids(ref, "caption.generated"), ctx, cap_hooks);
  compare(ref, "caption.", cap, dumped_caption, 1e-4, fixture + " caption");
}

TEST(MplugReference, FinetunedSpellingBaseSchedule) { check_fixture("mplug_finetuned"); }
TEST(MplugReference, PretrainedSpellingBaseSchedule) { check_fixture("mplug_pretrained"); }
TEST(MplugReference, LargeScheduleAndResizedPositions) { check_fixture("mplug_large"); }
TEST(MplugReference, NoVisnFc) { check_fixture("mplug_base"); }

TEST(MplugConfigTest, SchedulesFromTheFixtureConfigs) {
  const MplugModel base = load_mplug(fixtures_dir() / "mplug_finetuned");
  EXPECT_EQ(base.config.fusion_start(), 3);
  EXPECT_FALSE(base.config.fusion_connected(0));
  EXPECT_FALSE(base.config.fusion_connected(1));
  EXPECT_TRUE(base.config.fusion_connected(2));
  EXPECT_TRUE(base.config.visn_fc);
  EXPECT_EQ(clip_num_tokens(base.config.vision), 17);
  const MplugModel large = load_mplug(fixtures_dir() / "mplug_large" / "mplug_tiny.pth");
  for (int j = 0; j < 3; ++j) EXPECT_FALSE(large.config.fusion_connected(j));
  EXPECT_EQ(large.config.stored_grid, 4);
  EXPECT_EQ(clip_num_tokens(large.config.vision), 37);  // 24 / 4 = 6, 1 + 36
  EXPECT_TRUE(large.resized_positions != nullptr);
  EXPECT_FALSE(load_mplug(fixtures_dir() / "mplug_base").config.visn_fc);
}

TEST(MplugConfigTest, ResizeKeepsClsAndIsIdentityOnTheSameGrid) {
  // Hand-computed: a 2x2 grid of one channel [0, 1; 2, 3] to 4x4 with align_corners False.
  const std::vector<float> table = {9, 0, 1, 2, 3};
  const std::vector<float> out = resize_position_embedding(table, 1, 2, 4);
  const std::vector<float> want = {9, 0, 0.25f, 0.75f, 1, 0.5f, 0.75f, 1.25f, 1.5f,
                                   1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3};
  ASSERT_EQ(out.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(out[i], want[i]) << i;
  EXPECT_EQ(resize_position_embedding(table, 1, 2, 2), table);
}

TEST(BertReference, StandaloneHubLayoutTextHooks) {
  const BertModel m = load_bert(fixtures_dir() / "bert");
  const WordPieceTokenizer tok = WordPieceTokenizer::load(fixtures_dir() / "bert" / "vocab.txt");
  const std::vector<int32_t> ids = tok.encode("A small dog runs in the park.").ids;
  const fs::path path = mplug_reference("bert", ids, "--bert");
  ASSERT_FALSE(path.empty());
  io::TensorStore ref;
  io::read_safetensors(path, ref);
  const std::vector<std::string> offered = bert_hook_names(m.config.num_hidden_layers);
  std::set<std::string> dumped;
  for (const auto& e : ref.entries())
    if (!e.name.starts_with("input.")) dumped.insert(e.name);
  EXPECT_EQ(std::set<std::string>(offered.begin(), offered.end()), dumped);
  Hooks hooks;
  HookRecorder rec;
  rec.subscribe_to(hooks, offered);
  const ExecContext ctx(2);
  bert_encoder_forward(m.config, m.weights, ids, {}, ctx, hooks);
  compare(ref, "", rec, dumped, 1e-4, "bert");
}

fs::path write_test_image() {
  const fs::path p = tmp_dir() / "image.png";
  const std::string cmd = "/usr/bin/python3 -c \"import numpy as np; from PIL import Image; "
                          "Image.fromarray(np.random.RandomState(7).randint(0, 256, (37, 53, 3)).astype(np.uint8))"
                          ".save('" + p.string() + "')\"";
  EXPECT_EQ(run(cmd), 0) << cmd;
  return p;
}

TEST(MplugApi, AnswerEndToEndMatchesTheReference) {
  const fs::path image = write_test_image();
  const fs::path model = fixtures_dir() / "mplug_finetuned";
  const ExecContext ctx(2);
  const MplugAnswer a = mplug_answer(model / "mplug_tiny.pth", image, kQuestion, MplugTask::kVqa, {}, ctx);
  const WordPieceTokenizer tok = WordPieceTokenizer::load(model / "vocab.txt");
  EXPECT_EQ(a.input_ids, tok.encode(kQuestion).ids);
  // The reference on the same preprocessed pixels (preprocess_mplug is golden-tested against PIL).
  const ImageTensor px = preprocess_mplug(decode_image_file(image), 16);
  const fs::path npy = tmp_dir() / "pixels.npy";
  const int64_t shape[3] = {3, 16, 16};
  io::write_npy(npy, io::DType::kF32, shape, std::as_bytes(std::span<const float>(px.data)));
  const fs::path path = mplug_reference("mplug_finetuned", a.input_ids, "--pixels '" + npy.string() + "'");
  ASSERT_FALSE(path.empty());
  io::TensorStore ref;
  io::read_safetensors(path, ref);
  EXPECT_EQ(a.token_ids, read_ids(ref, "generated"));
  EXPECT_EQ(a.text, tok.decode(a.token_ids));
  EXPECT_FALSE(a.text.empty());
  const MplugAnswer c = mplug_answer(model, image, "", MplugTask::kCaption, {}, ctx);
  EXPECT_EQ(c.token_ids, read_ids(ref, "caption.generated"));
  EXPECT_TRUE(c.input_ids.empty());

  // Harvest: the named hooks, with the answer unchanged.
  const MplugHarvest h = mplug_harvest(model, image, kQuestion, {"vision.proj", "fusion.layers.2.image", "decoder.logits"},
                                       MplugTask::kVqa, {}, ctx);
  EXPECT_EQ(h.answer.token_ids, a.token_ids);
  EXPECT_EQ(h.captured.tensors.at("vision.proj").rows, 17);
  EXPECT_EQ(h.captured.tensors.at("decoder.logits").rows, static_cast<int64_t>(a.token_ids.size()));
  EXPECT_THROW(mplug_harvest(model, image, kQuestion, {"lm.logits"}, MplugTask::kVqa, {}, ctx), InputError);
}

TEST(MplugApi, HooksListedForInspect) {
  const ModelHooks h = list_model_hooks(fixtures_dir() / "mplug_pretrained");
  EXPECT_EQ(h.family, "mplug");
  const MplugModel m = load_mplug(fixtures_dir() / "mplug_pretrained");
  EXPECT_EQ(h.names, mplug_hook_names(m.config));
}

// Copies a fixture's files into a fresh directory, skipping `skip`.
fs::path copy_fixture(const std::string& fixture, const std::string& name, const std::string& skip = {}) {
  const fs::path d = tmp_dir() / name;
  fs::remove_all(d);
  fs::create_directories(d);
  for (const auto& e : fs::directory_iterator(fixtures_dir() / fixture))
    if (e.path().filename() != skip) fs::copy_file(e.path(), d / e.path().filename());
  return d;
}

void expect_input_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << " / " << n;
  }
}

TEST(MplugBadInput, MissingTensorNamesKeyAndFile) {
  const fs::path d = copy_fixture("mplug_finetuned", "missing_tensor", "mplug_tiny.pth");
  const fs::path pth = d / "mplug_tiny.pth";
  const std::string cmd = "/usr/bin/python3 -c \"import torch; o = torch.load('" +
                          (fixtures_dir() / "mplug_finetuned" / "mplug_tiny.pth").string() +
                          "'); del o['model']['fusion_encoder.encoder.layer.4.crossattention.self.key.weight']; "
                          "torch.save(o, '" + pth.string() + "')\"";
  ASSERT_EQ(run(cmd), 0) << cmd;
  const ExecContext ctx(1);
  expect_input_error([&] { load_mplug(pth); },
                     {"fusion_encoder.encoder.layer.4.crossattention.self.key.weight", pth.string()});
  expect_input_error([&] { mplug_answer(pth, write_test_image(), kQuestion, MplugTask::kVqa, {}, ctx); },
                     {"missing tensor", pth.string()});
}

TEST(MplugBadInput, MissingConfigsVocabAndBadImage) {
  const ExecContext ctx(1);
  const fs::path image = write_test_image();
  const fs::path no_yaml = copy_fixture("mplug_finetuned", "no_yaml", "config.yaml");
  expect_input_error([&] { load_mplug(no_yaml); }, {"config.yaml", "missing"});
  const fs::path no_bert = copy_fixture("mplug_finetuned", "no_bert", "config_bert.json");
  expect_input_error([&] { load_mplug(no_bert); }, {"config_bert.json", "BERT config"});
  const fs::path no_vocab = copy_fixture("mplug_finetuned", "no_vocab", "vocab.txt");
  expect_input_error([&] { mplug_answer(no_vocab, image, kQuestion, MplugTask::kVqa, {}, ctx); }, {"vocab.txt"});
  const fs::path bad = tmp_dir() / "not_an_image.png";
  std::ofstream(bad) << "this is not an image";
  expect_input_error([&] { mplug_answer(fixtures_dir() / "mplug_finetuned", bad, kQuestion, MplugTask::kVqa, {}, ctx); },
                     {bad.string()});
  // image_res that the patch size does not divide.
  const fs::path odd = copy_fixture("mplug_finetuned", "odd_res", "config.yaml");
  std::ifstream in(fixtures_dir() / "mplug_finetuned" / "config.yaml");
  std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  yaml.replace(yaml.find("image_res: 16"), 13, "image_res: 18");
  std::ofstream(odd / "config.yaml") << yaml;
  expect_input_error([&] { load_mplug(odd); }, {"config.yaml", "image_res 18"});
}

}  // namespace
}  // namespace ct::models
