// `crosstrace harvest ... --out STORE/` from the outside, on the llava_hf fixture: two runs over two
// prompts append to one activation store whose rows equal, bit for bit, what the single-input
// harvest (`--out FILE.safetensors`) writes for the same inputs; the input ids per row are the
// files' token_ids; the shard checksums are zlib's CRC-32 of the shard bytes (recomputed here);
// store.json lists each input's row range; `crosstrace crosscoder train` reads the store. Bad inputs
// (a non-store directory, other hooks or another model on append, hooks with different row counts,
// --dtype with a file) exit 2 with one line and leave the store as it was.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "io/png_writer.h"
#include "io/safetensors.h"
#include "io/tensor_store.h"
#include "models/model_fixtures.h"
#include "support/test_dir.h"

namespace ct {
namespace {
namespace fs = std::filesystem;
using testing::is_one_line;
using testing::quoted;
using testing::run_cli;
using testing::slurp;

fs::path write_image(const fs::path& dir) {
  std::vector<uint8_t> rgb(23 * 17 * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>((i * 37 + i / 3) % 251);
  const auto png = io::encode_png_rgb(rgb, 23, 17);
  std::ofstream(dir / "image.png", std::ios::binary).write(reinterpret_cast<const char*>(png.data()), png.size());
  return dir / "image.png";
}

const char* const kHooks = "lm.layers.0.output,lm.layers.1.output";
const char* const kPrompts[2] = {"what is this?", "what colour is the ball in the picture?"};

std::string harvest_args(const fs::path& model, const fs::path& image, const std::string& prompt,
                         const fs::path& out, const std::string& hooks = kHooks) {
  return "harvest " + quoted(model) + " --hooks " + hooks + " --image " + quoted(image) + " --prompt '" + prompt +
         "' --out " + quoted(out);
}

TEST(HarvestStore, AppendsInputsEqualToSingleInputFilesAndTrains) {
  const fs::path dir = testing::test_dir();
  const fs::path model = testing::fixtures_dir() / "llava_hf";
  const fs::path image = write_image(dir);
  const fs::path store = dir / "store";

  // Reference: the single-input files of the same two inputs.
  std::vector<io::TensorStore> files(2);
  for (int i = 0; i < 2; ++i) {
    const fs::path f = dir / ("input" + std::to_string(i) + ".safetensors");
    const auto r = run_cli(harvest_args(model, image, kPrompts[i], f));
    ASSERT_EQ(r.status, 0) << r.err;
    files[i] = io::TensorStore(f.string());
    io::read_safetensors(f, files[i]);
  }
  // The store, "STORE/" the first time (a new directory), "STORE" the second (an existing store).
  for (int i = 0; i < 2; ++i) {
    const auto r = run_cli(harvest_args(model, image, kPrompts[i], i == 0 ? fs::path(store.string() + "/") : store) +
                           " --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto doc = nlohmann::json::parse(r.out);
    EXPECT_EQ(doc["rows_added"].get<int64_t>(), files[i].at("lm.layers.0.output").shape[0]);
    EXPECT_TRUE(doc["input_ids"].get<bool>());
  }

  const nlohmann::json j = nlohmann::json::parse(slurp(store / "store.json"));
  EXPECT_EQ(j["format"], "crosstrace-activation-store");
  EXPECT_EQ(j["dtype"], "f32");
  EXPECT_TRUE(j["complete"].get<bool>());
  const int64_t rows0 = files[0].at("lm.layers.0.output").shape[0], rows1 = files[1].at("lm.layers.0.output").shape[0];
  ASSERT_NE(rows0, rows1);  // the prompts differ in length, so a wrong range shows
  EXPECT_EQ(j["rows"].get<int64_t>(), rows0 + rows1);
  ASSERT_EQ(j["inputs"].size(), 2u);
  EXPECT_EQ(j["inputs"][0]["row_begin"].get<int64_t>(), 0);
  EXPECT_EQ(j["inputs"][0]["rows"].get<int64_t>(), rows0);
  EXPECT_EQ(j["inputs"][1]["row_begin"].get<int64_t>(), rows0);
  EXPECT_EQ(j["inputs"][1]["rows"].get<int64_t>(), rows1);
  EXPECT_EQ(j["inputs"][1]["prompt"].get<std::string>(), files[1].metadata.at("prompt"));
  EXPECT_EQ(j["inputs"][0]["image"].get<std::string>(), image.string());

  // Every hook: the shards' bytes, concatenated, are the two files' tensors; each crc32 is zlib's.
  ASSERT_EQ(j["hooks"].size(), 2u);
  for (const auto& h : j["hooks"]) {
    const std::string name = h["name"].get<std::string>();
    EXPECT_EQ(h["dim"].get<int64_t>(), files[0].at(name).shape[1]);
    std::string bytes;
    for (const auto& s : h["shards"]) {
      const std::string shard = slurp(store / s["file"].get<std::string>());
      char crc[9];
      std::snprintf(crc, sizeof crc, "%08lx",
                    crc32(0L, reinterpret_cast<const Bytef*>(shard.data()), static_cast<uInt>(shard.size())));
      EXPECT_EQ(s["crc32"].get<std::string>(), crc) << s["file"];
      EXPECT_EQ(s["bytes"].get<int64_t>(), static_cast<int64_t>(shard.size()));
      bytes += shard;
    }
    std::string want;
    for (const auto& f : files) want.append(reinterpret_cast<const char*>(f.at(name).data.data()), f.at(name).data.size());
    EXPECT_TRUE(bytes == want) << name << ": store rows differ from the single-input files";
  }
  // Input ids per row: the files' token_ids, in order.
  std::string id_bytes;
  for (const auto& s : j["input_ids"]["shards"]) id_bytes += slurp(store / s["file"].get<std::string>());
  std::vector<int32_t> ids(id_bytes.size() / 4);
  std::memcpy(ids.data(), id_bytes.data(), ids.size() * 4);
  std::vector<int32_t> want_ids;
  for (const auto& f : files)
    for (const auto& v : nlohmann::json::parse(f.metadata.at("token_ids"))) want_ids.push_back(v.get<int32_t>());
  EXPECT_EQ(ids, want_ids);

  // A short crosscoder run reads the store (layer 0 vs layer 1 as the two sources).
  const fs::path cc = dir / "cc";
  const auto r = run_cli("crosscoder train --source A=" + quoted(fs::path(store.string() + ":lm.layers.0.output")) +
                         " --source B=" + quoted(fs::path(store.string() + ":lm.layers.1.output")) + " --out " + quoted(cc) +
                         " --dict-size 16 --k 2 --steps 10 --batch-size 64 --seed 1 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json cfg = nlohmann::json::parse(slurp(cc / "cfg.json"));
  EXPECT_EQ(cfg["steps_done"].get<int64_t>(), 10);
  EXPECT_EQ(cfg["sources"][0]["dim"].get<int64_t>(), files[0].at("lm.layers.0.output").shape[1]);
}

TEST(HarvestStore, BadInputsExitTwoWithOneLineAndLeaveTheStore) {
  const fs::path dir = testing::test_dir();
  const fs::path model = testing::fixtures_dir() / "llava_hf";
  const fs::path image = write_image(dir);
  const fs::path store = dir / "store";
  ASSERT_EQ(run_cli(harvest_args(model, image, kPrompts[0], store)).status, 0);
  const std::string manifest = slurp(store / "store.json");

  fs::create_directories(dir / "not_a_store");
  std::ofstream(dir / "not_a_store" / "notes.txt") << "something else\n";
  struct Case {
    std::string label, args, named;
  };
  const Case cases[] = {
      {"a directory that is not a store", harvest_args(model, image, kPrompts[0], dir / "not_a_store"),
       (dir / "not_a_store").string()},
      {"other hooks on append", harvest_args(model, image, kPrompts[1], store, "lm.layers.1.output,lm.layers.0.output"),
       (store / "store.json").string()},
      {"another model on append", harvest_args(testing::fixtures_dir() / "llava_hf_newkeys", image, kPrompts[1], store),
       (store / "store.json").string()},
      {"another dtype on append", harvest_args(model, image, kPrompts[1], store) + " --dtype bf16",
       (store / "store.json").string()},
      {"hooks with different row counts", harvest_args(model, image, kPrompts[0], dir / "mixed",
                                                       "lm.layers.0.output,vision.layers.0.output"),
       "--hooks"},
      {"--dtype with a file", harvest_args(model, image, kPrompts[0], dir / "x.safetensors") + " --dtype f16", "--dtype"},
  };
  for (const Case& c : cases) {
    const auto r = run_cli(c.args);
    EXPECT_EQ(r.status, 2) << c.label << ": " << r.err;
    EXPECT_TRUE(is_one_line(r.err)) << c.label << ": " << r.err;
    EXPECT_NE(r.err.find(c.named), std::string::npos) << c.label << ": " << r.err;
    EXPECT_EQ(r.out, "") << c.label;
  }
  EXPECT_EQ(slurp(store / "store.json"), manifest);
  EXPECT_FALSE(fs::exists(dir / "mixed" / "store.json"));
  EXPECT_EQ(slurp(dir / "not_a_store" / "notes.txt"), "something else\n");
}

}  // namespace
}  // namespace ct
