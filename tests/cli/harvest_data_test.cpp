// `crosstrace harvest MODEL --hooks ... --data DIR --out STORE/` from the outside, on the llava_hf
// and mplug_base fixtures. The reference for a dataset store is independent of the dataset code:
// one single-input harvest (`--image IMG --prompt TEXT --out STORE/`) per image of DIR, in file-name
// order, must give the same directory byte for byte. Against that reference: an uninterrupted run;
// a run cut after 2 of 4 inputs (--max-inputs 2) then completed by a rerun; a store left as a crash
// leaves it (store.json not complete, an orphan half-written shard) then resumed; a run stopped by a
// corrupt image, then rerun once the image is fixed. Prompts pair line i to image i, or one line
// to all. Bad inputs exit 2 with one line naming the file and leave the store as it was.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "crosscoder/activation_store.h"
#include "io/png_writer.h"
#include "models/model_fixtures.h"
#include "support/test_dir.h"

namespace ct {
namespace {
namespace fs = std::filesystem;
using testing::dir_bytes;
using testing::is_one_line;
using testing::quoted;
using testing::run_cli;
using testing::slurp;

// Distinct PNGs of different sizes, so a mis-paired image changes the rows.
void write_png(const fs::path& file, int width, int height, int seed) {
  std::vector<uint8_t> rgb(static_cast<std::size_t>(width) * height * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>((i * (37 + seed) + i / 3 + seed * 11) % 251);
  const auto png = io::encode_png_rgb(rgb, width, height);
  std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(png.data()), png.size());
}

// Prompts of different lengths, so a mis-paired prompt changes the row counts.
const std::vector<std::string> kPrompts = {"what is this?", "what colour is the ball in the picture?", "how many?",
                                           "describe the scene in a few words please"};
const char* const kHooks = "lm.layers.0.output,lm.layers.1.output";

// DIR with n images (img0.png ...; written out of order to show that the listing sorts) and, when
// `prompts` is not empty, prompts.txt.
fs::path make_data_dir(const fs::path& dir, int n, const std::vector<std::string>& prompts) {
  fs::create_directories(dir);
  for (int i = n - 1; i >= 0; --i) write_png(dir / ("img" + std::to_string(i) + ".png"), 20 + 3 * i, 17 + 2 * i, i);
  if (!prompts.empty()) {
    std::ofstream f(dir / "prompts.txt");
    for (const auto& p : prompts) f << p << "\n";
  }
  return dir;
}

std::string data_args(const fs::path& model, const std::string& hooks, const fs::path& data, const fs::path& out) {
  return "harvest " + quoted(model) + " --hooks " + hooks + " --data " + quoted(data) + " --out " + quoted(out);
}

// The reference: one single-input harvest per image into `out`, in file-name order.
void single_input_store(const fs::path& model, const std::string& hooks, const fs::path& data, int n,
                        const std::vector<std::string>& prompts, const std::string& extra, const fs::path& out) {
  for (int i = 0; i < n; ++i) {
    std::string args = "harvest " + quoted(model) + " --hooks " + hooks + " --image " +
                       quoted(data / ("img" + std::to_string(i) + ".png")) + " --out " + quoted(out) + extra;
    if (!prompts.empty()) args += " --prompt '" + prompts[prompts.size() == 1 ? 0 : i] + "'";
    const auto r = run_cli(args);
    ASSERT_EQ(r.status, 0) << r.err;
  }
}

nlohmann::json manifest(const fs::path& store) { return nlohmann::json::parse(slurp(store / "store.json")); }

TEST(HarvestData, LlavaStoreEqualsSingleInputHarvestsAndResumesByteForByte) {
  const fs::path dir = testing::test_dir();
  const fs::path model = testing::fixtures_dir() / "llava_hf";
  const fs::path data = make_data_dir(dir / "data", 4, kPrompts);

  const fs::path reference = dir / "reference";
  single_input_store(model, kHooks, data, 4, kPrompts, "", reference);

  // One uninterrupted run.
  const fs::path full = dir / "full";
  auto r = run_cli(data_args(model, kHooks, data, fs::path(full.string() + "/")) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["inputs"].get<int64_t>(), 4);
  EXPECT_EQ(doc["inputs_added"].get<int64_t>(), 4);
  EXPECT_EQ(doc["inputs_skipped"].get<int64_t>(), 0);
  EXPECT_TRUE(doc["input_ids"].get<bool>());
  EXPECT_TRUE(dir_bytes(full) == dir_bytes(reference)) << "the dataset store differs from 4 single-input harvests";
  const nlohmann::json j = manifest(full);
  EXPECT_TRUE(j["complete"].get<bool>());
  ASSERT_EQ(j["inputs"].size(), 4u);
  int64_t next = 0;
  for (int i = 0; i < 4; ++i) {
    const auto& in = j["inputs"][i];
    EXPECT_EQ(in["image"].get<std::string>(), (data / ("img" + std::to_string(i) + ".png")).string());
    EXPECT_NE(in["prompt"].get<std::string>().find(kPrompts[i]), std::string::npos) << "line " << i << " pairs with image " << i;
    EXPECT_EQ(in["row_begin"].get<int64_t>(), next);
    next += in["rows"].get<int64_t>();
  }
  EXPECT_EQ(j["rows"].get<int64_t>(), next);
  EXPECT_EQ(doc["rows"].get<int64_t>(), next);

  // 2 of 4, then the rest.
  const fs::path resumed = dir / "resumed";
  r = run_cli(data_args(model, kHooks, data, resumed) + " --max-inputs 2 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["inputs_added"].get<int64_t>(), 2);
  EXPECT_EQ(manifest(resumed)["inputs"].size(), 2u);
  r = run_cli(data_args(model, kHooks, data, resumed) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["inputs_skipped"].get<int64_t>(), 2);
  EXPECT_EQ(doc["inputs_added"].get<int64_t>(), 2);
  EXPECT_TRUE(dir_bytes(resumed) == dir_bytes(full)) << "2 + 2 inputs differ from one run of 4";

  // Rerun over a finished store: nothing to do, nothing changes.
  const auto before = dir_bytes(full);
  r = run_cli(data_args(model, kHooks, data, full) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["inputs_added"].get<int64_t>(), 0);
  EXPECT_TRUE(dir_bytes(full) == before);

  // What a kill during input 3 leaves: store.json listing 2 inputs, not complete, and the shard of
  // input 3 written for one hook but not listed. The rerun ends with the same bytes.
  const fs::path crashed = dir / "crashed";
  ASSERT_EQ(run_cli(data_args(model, kHooks, data, crashed) + " --max-inputs 2").status, 0);
  nlohmann::json m = manifest(crashed);
  m["complete"] = false;
  std::ofstream(crashed / "store.json") << m.dump(1) << "\n";
  std::ofstream(crashed / "lm.layers.0.output.2.bin") << "half a shard";
  ASSERT_EQ(crosscoder::ActivationStore::open(crashed).inputs().size(), 2u);  // a valid store as left
  r = run_cli(data_args(model, kHooks, data, crashed));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(dir_bytes(crashed) == dir_bytes(full)) << "resuming a crashed store differs from one run";

  // A kill after the last input but before the store was marked complete: the rerun completes it.
  m = manifest(crashed);
  m["complete"] = false;
  std::ofstream(crashed / "store.json") << m.dump(1) << "\n";
  ASSERT_EQ(run_cli(data_args(model, kHooks, data, crashed)).status, 0);
  EXPECT_TRUE(dir_bytes(crashed) == dir_bytes(full));

  // Another prompt for an image makes another input: a rerun appends it, the others are skipped.
  std::vector<std::string> changed = kPrompts;
  changed[3] = "and now?";
  make_data_dir(data, 4, changed);
  r = run_cli(data_args(model, kHooks, data, resumed) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["inputs_skipped"].get<int64_t>(), 3);
  EXPECT_EQ(doc["inputs_added"].get<int64_t>(), 1);
  const nlohmann::json grown = manifest(resumed);
  ASSERT_EQ(grown["inputs"].size(), 5u);
  EXPECT_NE(grown["inputs"][4]["prompt"].get<std::string>().find("and now?"), std::string::npos);
}

TEST(HarvestData, CorruptImageStopsTheRunKeepsEarlierInputsAndTheRerunCompletes) {
  const fs::path dir = testing::test_dir();
  const fs::path model = testing::fixtures_dir() / "llava_hf";
  const fs::path data = make_data_dir(dir / "data", 3, kPrompts);
  const std::vector<std::string> three(kPrompts.begin(), kPrompts.begin() + 3);
  { std::ofstream(data / "prompts.txt") << three[0] << "\n" << three[1] << "\n" << three[2] << "\n"; }
  const fs::path full = dir / "full";
  ASSERT_EQ(run_cli(data_args(model, kHooks, data, full)).status, 0);

  // img1.png: a PNG signature and then garbage (passes the up-front check, fails to decode).
  const std::string good = slurp(data / "img1.png");
  std::ofstream(data / "img1.png", std::ios::binary) << good.substr(0, 40);
  const fs::path store = dir / "store";
  auto r = run_cli(data_args(model, kHooks, data, store));
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find((data / "img1.png").string()), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  const crosscoder::ActivationStore partial = crosscoder::ActivationStore::open(store);
  EXPECT_FALSE(partial.complete());
  ASSERT_EQ(partial.inputs().size(), 1u);
  EXPECT_EQ(partial.inputs()[0].info.at("image"), (data / "img0.png").string());

  std::ofstream(data / "img1.png", std::ios::binary) << good;
  r = run_cli(data_args(model, kHooks, data, store));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(dir_bytes(store) == dir_bytes(full));
}

// Compaction with groups of 2 inputs over 5 images: inputs {0,1} and {2,3} end as one shard per
// hook each, input 4 stays a piece. The rows are those of an uncompacted store (--compact-inputs 0);
// the bytes equal single-input harvests with the same group size, after any interruption.
TEST(HarvestData, CompactsClosedGroupsKeepsTheRowsAndResumesByteForByte) {
  const fs::path dir = testing::test_dir();
  const fs::path model = testing::fixtures_dir() / "llava_hf";
  const std::vector<std::string> one = {"what is this?"};
  const fs::path data = make_data_dir(dir / "data", 5, one);
  const fs::path reference = dir / "reference";
  single_input_store(model, kHooks, data, 5, one, " --compact-inputs 2", reference);

  const fs::path plain = dir / "plain", full = dir / "full";
  ASSERT_EQ(run_cli(data_args(model, kHooks, data, plain) + " --compact-inputs 0").status, 0);
  auto r = run_cli(data_args(model, kHooks, data, full) + " --compact-inputs 2");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(dir_bytes(full) == dir_bytes(reference)) << "the compacted store differs from 5 single-input harvests";

  // Layout: 3 shards per hook, numbered as made (pieces 0,1 -> 2; 3,4 -> 5; piece 6), nothing else.
  const nlohmann::json j = manifest(full);
  EXPECT_EQ(j["compact_inputs"].get<int64_t>(), 2);
  ASSERT_EQ(j["inputs"].size(), 5u);
  std::set<std::string> listed = {"store.json"};
  for (const auto& h : j["hooks"]) {
    ASSERT_EQ(h["shards"].size(), 3u) << h["name"];
    const std::string name = h["name"].get<std::string>();
    EXPECT_EQ(h["shards"][0]["file"], name + ".2.bin");
    EXPECT_EQ(h["shards"][1]["file"], name + ".5.bin");
    EXPECT_EQ(h["shards"][2]["file"], name + ".6.bin");
    EXPECT_EQ(h["shards"][1]["row_begin"], j["inputs"][2]["row_begin"]);
    EXPECT_EQ(h["shards"][2]["row_begin"], j["inputs"][4]["row_begin"]);
    for (const auto& s : h["shards"]) listed.insert(s["file"].get<std::string>());
  }
  for (const auto& s : j["input_ids"]["shards"]) listed.insert(s["file"].get<std::string>());
  std::set<std::string> files;
  for (const auto& [name, bytes] : dir_bytes(full)) files.insert(name);
  EXPECT_EQ(files, listed);
  EXPECT_EQ(manifest(plain)["hooks"][0]["shards"].size(), 5u);

  // The rows, ids and inputs equal the uncompacted store's.
  const crosscoder::ActivationStore a = crosscoder::ActivationStore::open(full), b = crosscoder::ActivationStore::open(plain);
  ASSERT_EQ(a.rows(), b.rows());
  for (int64_t h = 0; h < 2; ++h) {
    const int64_t dim = a.hooks()[h].dim;
    std::vector<float> ra(a.rows() * dim), rb(b.rows() * dim);
    a.read_rows(h, 0, a.rows(), ra.data());
    b.read_rows(h, 0, b.rows(), rb.data());
    EXPECT_EQ(ra, rb) << a.hooks()[h].name;
  }
  std::vector<int32_t> ia(a.rows()), ib(b.rows());
  a.read_input_ids(0, a.rows(), ia.data());
  b.read_input_ids(0, b.rows(), ib.data());
  EXPECT_EQ(ia, ib);
  ASSERT_EQ(a.inputs().size(), b.inputs().size());
  for (std::size_t i = 0; i < a.inputs().size(); ++i) {
    EXPECT_EQ(a.inputs()[i].row_begin, b.inputs()[i].row_begin);
    EXPECT_EQ(a.inputs()[i].info, b.inputs()[i].info);
  }

  // 3 inputs (one group merged, one piece), then the rest with the store's group size.
  const fs::path resumed = dir / "resumed";
  ASSERT_EQ(run_cli(data_args(model, kHooks, data, resumed) + " --compact-inputs 2 --max-inputs 3").status, 0);
  ASSERT_EQ(run_cli(data_args(model, kHooks, data, resumed)).status, 0);
  EXPECT_TRUE(dir_bytes(resumed) == dir_bytes(full)) << "3 + 2 inputs differ from one run of 5";

  // A kill between the flush that closed the group {0,1} and its merge: the two pieces listed
  // (an uncompacting run leaves the same, bar store.json's compact_inputs, which the rerun writes),
  // a half-written merged shard and a complete but unlisted one beside them. The rerun removes
  // those, merges, and ends equal.
  const fs::path crashed = dir / "crashed";
  ASSERT_EQ(run_cli(data_args(model, kHooks, data, crashed) + " --compact-inputs 0 --max-inputs 2").status, 0);
  std::ofstream(crashed / ".lm.layers.0.output.2.bin.tmp.a1b2c3") << "half a shard";
  std::ofstream(crashed / "lm.layers.1.output.2.bin") << "unlisted";
  ASSERT_EQ(crosscoder::ActivationStore::open(crashed).inputs().size(), 2u);
  r = run_cli(data_args(model, kHooks, data, crashed) + " --compact-inputs 2");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(dir_bytes(crashed) == dir_bytes(full)) << "resuming a store killed before a merge differs from one run";

  // Another group size for an existing store: exit 2, one line, nothing changed.
  const auto before = dir_bytes(full);
  r = run_cli(data_args(model, kHooks, data, full) + " --compact-inputs 3");
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("store.json"), std::string::npos) << r.err;
  EXPECT_TRUE(dir_bytes(full) == before);
}

TEST(HarvestData, MplugOnePromptForAllAndCaptionsWithoutPrompts) {
  const fs::path dir = testing::test_dir();
  const fs::path model = testing::fixtures_dir() / "mplug_base";
  const std::string text_hooks = "text.layers.0.output,fusion.layers.0.text";
  const std::string vision_hooks = "vision.layers.0.output,vision.proj";

  // VQA: prompts.txt with one line asks every image the same question; rows carry input ids.
  const fs::path vqa_data = make_data_dir(dir / "vqa", 3, {"what is in the picture?"});
  const fs::path vqa_ref = dir / "vqa_ref", vqa = dir / "vqa_store";
  single_input_store(model, text_hooks, vqa_data, 3, {"what is in the picture?"}, " --task vqa", vqa_ref);
  auto r = run_cli(data_args(model, text_hooks, vqa_data, vqa) + " --task vqa --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["family"], "mplug");
  EXPECT_TRUE(nlohmann::json::parse(r.out)["input_ids"].get<bool>());
  EXPECT_TRUE(dir_bytes(vqa) == dir_bytes(vqa_ref)) << "mPLUG VQA dataset store differs from single-input harvests";
  const nlohmann::json vqa_manifest = manifest(vqa);  // a range-for over a member of a temporary dangles
  for (const auto& in : vqa_manifest["inputs"]) EXPECT_EQ(in["prompt"], "what is in the picture?");

  // Captions: no prompts.txt, no --prompt; vision rows (one per patch + CLS), no input ids;
  // f16 rows, then a resume picks the store's dtype.
  const fs::path cap_data = make_data_dir(dir / "caption", 3, {});
  const fs::path cap_ref = dir / "cap_ref", cap = dir / "cap_store";
  single_input_store(model, vision_hooks, cap_data, 3, {}, " --task caption --dtype f16", cap_ref);
  r = run_cli(data_args(model, vision_hooks, cap_data, cap) + " --task caption --dtype f16 --max-inputs 1");
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_cli(data_args(model, vision_hooks, cap_data, cap) + " --task caption --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_FALSE(doc["input_ids"].get<bool>());
  EXPECT_EQ(doc["inputs_added"].get<int64_t>(), 2);
  EXPECT_TRUE(dir_bytes(cap) == dir_bytes(cap_ref)) << "mPLUG caption dataset store differs from single-input harvests";
  const crosscoder::ActivationStore s = crosscoder::ActivationStore::open(cap);
  EXPECT_EQ(s.dtype(), crosscoder::StoreDType::kF16);
  EXPECT_EQ(s.inputs().size(), 3u);
}

TEST(HarvestData, BadInputsExitTwoWithOneLineAndLeaveTheStore) {
  const fs::path dir = testing::test_dir();
  const fs::path model = testing::fixtures_dir() / "llava_hf";
  const fs::path data = make_data_dir(dir / "data", 4, kPrompts);
  const fs::path store = dir / "store";
  ASSERT_EQ(run_cli(data_args(model, kHooks, data, store) + " --max-inputs 2").status, 0);
  const auto kept = dir_bytes(store);

  const fs::path no_images = dir / "no_images";
  fs::create_directories(no_images);
  std::ofstream(no_images / "prompts.txt") << "what?\n";
  const fs::path garbage = make_data_dir(dir / "garbage", 4, kPrompts);
  std::ofstream(garbage / "img2.png") << "not an image\n";
  const fs::path empty_jpeg = make_data_dir(dir / "empty_jpeg", 4, kPrompts);
  fs::remove(empty_jpeg / "img3.png");
  std::ofstream(empty_jpeg / "img3.jpg").flush();
  const fs::path mismatch = make_data_dir(dir / "mismatch", 4, {kPrompts[0], kPrompts[1], kPrompts[2]});

  struct Case {
    std::string label, args, named;
  };
  const Case cases[] = {
      {"missing DIR", data_args(model, kHooks, dir / "nowhere", store), (dir / "nowhere").string()},
      {"DIR without images", data_args(model, kHooks, no_images, store), no_images.string()},
      {"an image that is not one", data_args(model, kHooks, garbage, store), (garbage / "img2.png").string()},
      {"an empty image", data_args(model, kHooks, empty_jpeg, store), (empty_jpeg / "img3.jpg").string()},
      {"prompts.txt count mismatch", data_args(model, kHooks, mismatch, store), (mismatch / "prompts.txt").string()},
      {"--prompt beside prompts.txt", data_args(model, kHooks, data, store) + " --prompt 'what?'",
       (data / "prompts.txt").string()},
      {"a store of another model", data_args(testing::fixtures_dir() / "llava_hf_newkeys", kHooks, data, store),
       (store / "store.json").string()},
      {"a store of other hooks", data_args(model, "lm.layers.1.output,lm.layers.0.output", data, store),
       (store / "store.json").string()},
      {"a store of another dtype", data_args(model, kHooks, data, store) + " --dtype bf16", (store / "store.json").string()},
      {"--image with --data", data_args(model, kHooks, data, store) + " --image " + quoted(data / "img0.png"), "--image"},
      {"--data into a file", data_args(model, kHooks, data, dir / "x.safetensors"), "--out"},
      {"--max-inputs 0", data_args(model, kHooks, data, store) + " --max-inputs 0", "--max-inputs"},
      {"--max-inputs without --data",
       "harvest " + quoted(model) + " --hooks " + kHooks + " --image " + quoted(data / "img0.png") +
           " --prompt hi --out " + quoted(store) + " --max-inputs 1",
       "--max-inputs"},
  };
  for (const Case& c : cases) {
    const auto r = run_cli(c.args);
    EXPECT_EQ(r.status, 2) << c.label << ": " << r.err;
    EXPECT_TRUE(is_one_line(r.err)) << c.label << ": " << r.err;
    EXPECT_NE(r.err.find(c.named), std::string::npos) << c.label << ": " << r.err;
    EXPECT_EQ(r.out, "") << c.label;
    EXPECT_TRUE(dir_bytes(store) == kept) << c.label << " changed the store";
  }
  // The same inputs into a new store: nothing is created.
  for (const fs::path& bad : {no_images, garbage, empty_jpeg, mismatch}) {
    const fs::path fresh = dir / ("fresh_" + bad.filename().string());
    const auto r = run_cli(data_args(model, kHooks, bad, fresh));
    EXPECT_EQ(r.status, 2) << bad << ": " << r.err;
    EXPECT_FALSE(fs::exists(fresh)) << bad;
  }
  // --hooks all mixes vision rows (per patch) with LM rows (per token): refused on the first
  // input, before a store exists, as in the single-input store form.
  {
    const auto r = run_cli(data_args(model, "all", data, dir / "fresh_all"));
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_TRUE(is_one_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("--hooks"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "fresh_all"));
  }
  // LLaVA needs a question: no prompts.txt and no --prompt fails on the first input, before a store exists.
  const fs::path unprompted = make_data_dir(dir / "unprompted", 2, {});
  const auto r = run_cli(data_args(model, kHooks, unprompted, dir / "fresh_unprompted"));
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_FALSE(fs::exists(dir / "fresh_unprompted"));
}

}  // namespace
}  // namespace ct
