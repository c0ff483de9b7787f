// Activation store and crosscoder sources: write/read round trips in every dtype against the
// values written (f16/bf16 against the rounding of tensor/convert), shard rollover, resumable
// writing after a simulated crash, checksum and truncation detection naming the shard, source
// parsing, pairing (row counts, input-id alignment), the shuffled order (a permutation, local,
// deterministic) and skipping non-finite rows.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "crosscoder/activation_store.h"
#include "crosscoder/sources.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "support/test_dir.h"
#include "tensor/convert.h"

namespace ct::crosscoder {
namespace {
namespace fs = std::filesystem;

fs::path tmp_dir(const std::string& name) {
  const fs::path d = fs::path(CROSSTRACE_TEST_TMP) / ("store_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d.parent_path());
  return d;
}

std::vector<float> ramp(int64_t rows, int64_t dim, float scale) {
  std::vector<float> v(rows * dim);
  for (int64_t i = 0; i < rows * dim; ++i) v[i] = scale * std::sin(0.37f * static_cast<float>(i)) * (1 + i % 7);
  return v;
}

float rounded(StoreDType t, float x) {
  if (t == StoreDType::kF16) return tensor::f16_to_f32(tensor::f32_to_f16(x));
  if (t == StoreDType::kBF16) return tensor::bf16_to_f32(tensor::f32_to_bf16(x));
  return x;
}

TEST(ActivationStore, RoundTripEveryDtypeWithShardRollover) {
  for (StoreDType t : {StoreDType::kF32, StoreDType::kF16, StoreDType::kBF16}) {
    const fs::path dir = tmp_dir(std::string("rt_") + store_dtype_name(t));
    const int64_t rows = 1000;
    const auto a = ramp(rows, 5, 1.0f), b = ramp(rows, 3, 2.5f);
    std::vector<int32_t> ids(rows);
    for (int64_t i = 0; i < rows; ++i) ids[i] = static_cast<int32_t>(i * 7 % 101);
    StoreWriterOptions opt;
    opt.dtype = t;
    opt.shard_rows = 300;
    opt.input_ids = true;
    opt.sources = {{"model", "unit-test"}};
    {
      ActivationStoreWriter w(dir, {{"h.a", 5}, {"h.b", 3}}, opt);
      // Uneven appends cross shard boundaries.
      for (int64_t r = 0; r < rows;) {
        const int64_t n = std::min<int64_t>(rows - r, 1 + (r * 13) % 250);
        w.append({a.data() + r * 5, b.data() + r * 3}, n, ids.data() + r);
        r += n;
      }
      w.finish();
    }
    const ActivationStore st = ActivationStore::open(dir);
    EXPECT_EQ(st.rows(), rows);
    EXPECT_TRUE(st.complete());
    EXPECT_EQ(st.shard_starts(), (std::vector<int64_t>{0, 300, 600, 900}));
    EXPECT_TRUE(fs::exists(dir / "h.a.3.bin"));
    EXPECT_EQ(fs::file_size(dir / "h.b.3.bin"), 100u * 3 * store_dtype_size(t));
    EXPECT_EQ(st.sources().at("model"), "unit-test");
    std::vector<float> got(rows * 5);
    st.read_rows(st.hook_index("h.a"), 0, rows, got.data());
    for (int64_t i = 0; i < rows * 5; ++i) ASSERT_EQ(got[i], rounded(t, a[i])) << store_dtype_name(t) << " at " << i;
    std::vector<float> part(7 * 3);
    st.read_rows(st.hook_index("h.b"), 297, 7, part.data());  // spans a shard boundary
    for (int64_t i = 0; i < 21; ++i) ASSERT_EQ(part[i], rounded(t, b[297 * 3 + i]));
    std::vector<int32_t> gids(rows);
    st.read_input_ids(0, rows, gids.data());
    EXPECT_EQ(gids, ids);
    EXPECT_THROW(st.hook_index("nope"), InputError);
  }
}

TEST(ActivationStore, CrashedWriterLeavesCompleteShardsAndResumes) {
  const fs::path dir = tmp_dir("crash");
  const auto a = ramp(250, 4, 1.0f);
  StoreWriterOptions opt;
  opt.shard_rows = 100;
  {
    ActivationStoreWriter w(dir, {{"x", 4}}, opt);
    w.append({a.data()}, 150);  // one full shard written, 50 rows buffered
    // Destroyed without finish(): the buffered rows are lost, the shard is not.
  }
  {
    const ActivationStore st = ActivationStore::open(dir);
    EXPECT_EQ(st.rows(), 100);
    EXPECT_FALSE(st.complete());
  }
  EXPECT_THROW(ActivationStoreWriter(dir, {{"x", 4}}, opt), InputError);  // exists, no resume
  opt.resume = true;
  EXPECT_THROW(ActivationStoreWriter(dir, {{"x", 5}}, opt), InputError);  // different hook
  {
    ActivationStoreWriter w(dir, {{"x", 4}}, opt);
    EXPECT_EQ(w.rows(), 100);
    w.append({a.data() + 100 * 4}, 150);
    w.finish();
  }
  const ActivationStore st = ActivationStore::open(dir);
  ASSERT_EQ(st.rows(), 250);
  std::vector<float> got(250 * 4);
  st.read_rows(0, 0, 250, got.data());
  EXPECT_EQ(got, a);
}

// manifest_interval_s: flushed shards are listed on sync(), on destruction or once the interval has
// passed; a writer killed before that (a forked child leaving by _exit, no destructors) leaves its
// shards unlisted, and resume deletes them and writes the same store an uninterrupted run writes.
TEST(ActivationStore, ManifestIntervalDefersListingAndACrashLosesOnlyUnlistedShards) {
  const fs::path dir = tmp_dir("interval");
  const auto a = ramp(40, 3, 1.0f);
  StoreWriterOptions opt;
  opt.shard_rows = 100;
  opt.manifest_interval_s = 3600;
  auto bin_files = [&] {
    int64_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".bin";
    return n;
  };
  auto add_input = [&](ActivationStoreWriter& w, int64_t first, int64_t rows) {
    w.begin_input(rows, {{"prompt", "input at " + std::to_string(first)}});
    w.append({a.data() + first * 3}, rows);
    w.flush();
  };
  {
    ActivationStoreWriter w(dir, {{"x", 3}}, opt);
    add_input(w, 0, 10);
    EXPECT_EQ(ActivationStore::open(dir).rows(), 0);  // written, not listed yet
    EXPECT_EQ(bin_files(), 1);
    w.sync();
    EXPECT_EQ(ActivationStore::open(dir).rows(), 10);
    add_input(w, 10, 5);
    EXPECT_EQ(ActivationStore::open(dir).rows(), 10);
  }  // destroyed without finish(): the destructor lists the second input
  {
    const ActivationStore st = ActivationStore::open(dir);
    EXPECT_EQ(st.rows(), 15);
    EXPECT_EQ(st.inputs().size(), 2u);
    EXPECT_FALSE(st.complete());
  }
  opt.resume = true;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      ActivationStoreWriter w(dir, {{"x", 3}}, opt);
      add_input(w, 15, 7);
      _exit(0);  // killed with the writer alive: its shard is written and unlisted
    } catch (...) {
      _exit(1);
    }
  }
  int status = -1;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(ActivationStore::open(dir).rows(), 15);
  EXPECT_EQ(bin_files(), 3);
  {
    ActivationStoreWriter w(dir, {{"x", 3}}, opt);
    EXPECT_EQ(bin_files(), 2);  // the crashed writer's shard is gone
    EXPECT_EQ(w.rows(), 15);
    add_input(w, 15, 7);
    add_input(w, 22, 18);
    w.finish();
  }
  const ActivationStore st = ActivationStore::open(dir);
  ASSERT_EQ(st.rows(), 40);
  EXPECT_TRUE(st.complete());
  ASSERT_EQ(st.inputs().size(), 4u);
  EXPECT_EQ(st.inputs()[2].row_begin, 15);
  EXPECT_EQ(st.inputs()[3].info.at("prompt"), "input at 22");
  std::vector<float> got(40 * 3);
  st.read_rows(0, 0, 40, got.data());
  EXPECT_EQ(got, a);
}

TEST(ActivationStore, OneWriterAtATime) {
  const fs::path dir = tmp_dir("locked");
  const auto a = ramp(20, 2, 1.0f);
  StoreWriterOptions opt;
  opt.shard_rows = 10;
  auto first = std::make_unique<ActivationStoreWriter>(dir, std::vector<StoreHook>{{"x", 2}}, opt);
  first->append({a.data()}, 10);
  opt.resume = true;
  try {
    ActivationStoreWriter second(dir, {{"x", 2}}, opt);
    ADD_FAILURE() << "a second writer opened a store that a writer holds";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), dir.string());
    EXPECT_NE(e.problem().find("another writer"), std::string::npos) << e.problem();
  }
  EXPECT_EQ(ActivationStore::open(dir).rows(), 10);  // the refused writer touched nothing
  first.reset();  // releases the lock
  ActivationStoreWriter second(dir, {{"x", 2}}, opt);
  second.append({a.data() + 20}, 10);
  second.finish();
  const ActivationStore st = ActivationStore::open(dir);
  ASSERT_EQ(st.rows(), 20);
  std::vector<float> got(40);
  st.read_rows(0, 0, 20, got.data());
  EXPECT_EQ(got, a);
}

TEST(ActivationStore, InputsAreListedOnceTheirRowsAreWritten) {
  const fs::path dir = tmp_dir("inputs");
  const auto a = ramp(400, 2, 1.0f);
  StoreWriterOptions opt;
  opt.shard_rows = 100;
  {
    ActivationStoreWriter w(dir, {{"x", 2}}, opt);
    w.begin_input(60, {{"prompt", "first"}});
    w.append({a.data()}, 60);
    w.begin_input(90, {{"prompt", "second"}});
    w.append({a.data() + 60 * 2}, 90);  // rows 0..99 written, 50 buffered: only "first" is complete
  }
  {
    const ActivationStore st = ActivationStore::open(dir);
    ASSERT_EQ(st.inputs().size(), 1u);
    EXPECT_EQ(st.inputs()[0].row_begin, 0);
    EXPECT_EQ(st.inputs()[0].rows, 60);
    EXPECT_EQ(st.inputs()[0].info.at("prompt"), "first");
    EXPECT_EQ(st.shard_rows(), 100);
  }
  opt.resume = true;
  {
    ActivationStoreWriter w(dir, {{"x", 2}}, opt);  // continues at row 100: the lost input is gone
    w.begin_input(30, {{"prompt", "third"}});
    w.append({a.data() + 100 * 2}, 30);
    EXPECT_THROW(w.begin_input(1, {{"rows", "5"}}), InputError);  // a reserved field
    w.finish();
  }
  const ActivationStore st = ActivationStore::open(dir);
  EXPECT_EQ(st.rows(), 130);
  ASSERT_EQ(st.inputs().size(), 2u);
  EXPECT_EQ(st.inputs()[1].row_begin, 100);
  EXPECT_EQ(st.inputs()[1].rows, 30);
  EXPECT_EQ(st.inputs()[1].info.at("prompt"), "third");
}

void expect_input_error_naming(const std::function<void()>& fn, const std::string& name, const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(ActivationStore, TruncatedOrCorruptedShardIsAnInputErrorNamingIt) {
  const fs::path dir = tmp_dir("corrupt");
  const auto a = ramp(200, 4, 1.0f);
  StoreWriterOptions opt;
  opt.shard_rows = 100;
  {
    ActivationStoreWriter w(dir, {{"x", 4}}, opt);
    w.append({a.data()}, 200);
    w.finish();
  }
  ASSERT_NO_THROW(ActivationStore::open(dir));
  {
    std::fstream f(dir / "x.1.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(17);
    f.put('\x55');
  }
  expect_input_error_naming([&] { ActivationStore::open(dir); }, "x.1.bin", "corrupted");
  fs::resize_file(dir / "x.1.bin", 100 * 4 * 4 - 8);
  expect_input_error_naming([&] { ActivationStore::open(dir); }, "x.1.bin", "truncated");
  fs::remove(dir / "x.1.bin");
  expect_input_error_naming([&] { ActivationStore::open(dir); }, "x.1.bin", "");
}

using testing::dir_bytes;

TEST(ActivationStore, MoreShardsThanTheMappingBoundOpenAndReadEveryRow) {
  const fs::path dir = tmp_dir("many_shards");
  const int64_t rows = 600;
  const auto a = ramp(rows, 3, 1.0f), b = ramp(rows, 2, -0.5f);
  std::vector<int32_t> ids(rows);
  for (int64_t i = 0; i < rows; ++i) ids[i] = static_cast<int32_t>(i * 11 % 97);
  StoreWriterOptions opt;
  opt.shard_rows = 5;
  opt.input_ids = true;
  {
    ActivationStoreWriter w(dir, {{"a", 3}, {"b", 2}}, opt);
    for (int64_t r = 0; r < rows;) {  // shards of 1..5 rows: flushes and rollovers
      const int64_t n = std::min<int64_t>(rows - r, 1 + r % 4);
      w.append({a.data() + r * 3, b.data() + r * 2}, n, ids.data() + r);
      if (r % 3 == 0) w.flush();
      r += n;
    }
    w.finish();
  }
  StoreOpenOptions bound;
  bound.max_mappings = 7;
  const ActivationStore st = ActivationStore::open(dir, bound);
  const auto starts = st.shard_starts();
  ASSERT_GT(starts.size() * 3, 20 * static_cast<std::size_t>(bound.max_mappings));  // far more files than mappings
  EXPECT_LE(st.mapped_shards(), bound.max_mappings);
  // Row by row in a scattered order (every read maps again), then all at once.
  std::vector<float> ra(3), rb(2);
  int32_t id = 0;
  for (int64_t k = 0; k < rows; ++k) {
    const int64_t r = (k * 389) % rows;
    st.read_rows(0, r, 1, ra.data());
    st.read_rows(1, r, 1, rb.data());
    st.read_input_ids(r, 1, &id);
    ASSERT_EQ(ra, std::vector<float>(a.begin() + r * 3, a.begin() + r * 3 + 3)) << "row " << r;
    ASSERT_EQ(rb, std::vector<float>(b.begin() + r * 2, b.begin() + r * 2 + 2)) << "row " << r;
    ASSERT_EQ(id, ids[r]) << "row " << r;
    ASSERT_LE(st.mapped_shards(), bound.max_mappings);
  }
  std::vector<float> all(rows * 3);
  st.read_rows(0, 0, rows, all.data());
  EXPECT_EQ(all, a);
  EXPECT_LE(st.mapped_shards(), bound.max_mappings);
  // A shard that changes size after open is named when it is mapped again.
  const ActivationStore fresh = ActivationStore::open(dir, bound);
  const std::string first = "a.0.bin";
  fs::resize_file(dir / first, 4);
  try {
    fresh.read_rows(0, 0, 1, ra.data());
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(first), std::string::npos) << e.what();
  }
}

// Inputs of these row counts, each flushed, with groups of 3 inputs or 8 rows: groups {0,1,2}
// (6 rows, closed by count), {3,4} (9 rows, closed by rows), {5,6,7}; 8 and 9 stay open.
const std::vector<int64_t> kInputRows = {2, 3, 1, 4, 5, 1, 1, 1, 2, 3};

StoreWriterOptions compacting_options() {
  StoreWriterOptions opt;
  opt.shard_rows = 8;
  opt.compact_inputs = 3;
  opt.input_ids = true;
  return opt;
}

// Writes inputs [from, to) of kInputRows (rows from `a` [.., 3], `b` [.., 2]), each flushed.
void write_inputs(const fs::path& dir, StoreWriterOptions opt, int64_t from, int64_t to, bool finish,
                  const std::vector<float>& a, const std::vector<float>& b, const std::vector<int32_t>& ids) {
  ActivationStoreWriter w(dir, {{"a", 3}, {"b", 2}}, opt);
  int64_t r = 0;
  for (int64_t i = 0; i < from; ++i) r += kInputRows[i];
  ASSERT_EQ(w.rows(), r);
  for (int64_t i = from; i < to; ++i) {
    w.begin_input(kInputRows[i], {{"image", "img" + std::to_string(i)}});
    w.append({a.data() + r * 3, b.data() + r * 2}, kInputRows[i], ids.data() + r);
    w.flush();
    r += kInputRows[i];
  }
  if (finish) w.finish();
}

TEST(ActivationStore, CompactionMergesClosedGroupsAndResumesToTheSameBytes) {
  const int64_t rows = 23, n = static_cast<int64_t>(kInputRows.size());
  const auto a = ramp(rows, 3, 1.0f), b = ramp(rows, 2, 3.0f);
  std::vector<int32_t> ids(rows);
  for (int64_t i = 0; i < rows; ++i) ids[i] = static_cast<int32_t>(100 + i);
  const StoreWriterOptions opt = compacting_options();
  StoreWriterOptions resume = opt;
  resume.resume = true;

  const fs::path full = tmp_dir("compact_full");
  write_inputs(full, opt, 0, n, true, a, b, ids);
  {
    const ActivationStore st = ActivationStore::open(full);
    EXPECT_EQ(st.compact_inputs(), 3);
    EXPECT_EQ(st.shard_starts(), (std::vector<int64_t>{0, 6, 15, 18, 20}));
    ASSERT_EQ(st.inputs().size(), kInputRows.size());
    std::vector<float> got_a(rows * 3), got_b(rows * 2);
    std::vector<int32_t> got_ids(rows);
    st.read_rows(0, 0, rows, got_a.data());
    st.read_rows(1, 0, rows, got_b.data());
    st.read_input_ids(0, rows, got_ids.data());
    EXPECT_EQ(got_a, a);
    EXPECT_EQ(got_b, b);
    EXPECT_EQ(got_ids, ids);
  }
  // Merged shards take the next number when their group closes; pieces are gone.
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(full)) files.insert(e.path().filename().string());
  std::set<std::string> want = {"store.json"};
  for (const char* p : {"a", "b", "input_ids"})
    for (int num : {3, 6, 10, 11, 12}) want.insert(std::string(p) + "." + std::to_string(num) + ".bin");
  EXPECT_EQ(files, want);
  EXPECT_EQ(fs::file_size(full / "a.6.bin"), 9u * 3 * 4);
  const auto reference = dir_bytes(full);

  // Killed after any number of inputs (after the flush and the merge it triggered), then resumed.
  for (int64_t k = 0; k <= n; ++k) {
    const fs::path dir = tmp_dir("compact_cut_" + std::to_string(k));
    write_inputs(dir, opt, 0, k, false, a, b, ids);
    write_inputs(dir, resume, k, n, true, a, b, ids);
    EXPECT_TRUE(dir_bytes(dir) == reference) << "cut after " << k << " inputs";
  }

  // Killed between a group's last flush and its merge, with a merged file half written (a
  // temporary) or complete but unlisted: the pieces are listed; resuming removes the leftovers,
  // merges, and ends equal. A file that is not the store's stays.
  {
    const fs::path dir = tmp_dir("compact_before_merge");
    StoreWriterOptions plain = opt;
    plain.compact_inputs = 0;
    write_inputs(dir, plain, 0, 3, false, a, b, ids);  // the first group closed, still in pieces
    ASSERT_EQ(ActivationStore::open(dir).shard_starts().size(), 3u);
    std::ofstream(dir / ".a.3.bin.tmp.Xy12ab") << "half";
    std::ofstream(dir / "b.3.bin") << "unlisted";
    std::ofstream(dir / "notes.txt") << "mine";
    write_inputs(dir, resume, 3, n, true, a, b, ids);
    auto got = dir_bytes(dir);
    EXPECT_EQ(got.count("notes.txt"), 1u);
    got.erase("notes.txt");
    EXPECT_TRUE(got == reference);
  }
  // Killed after store.json lists a merged shard but before its pieces were deleted.
  {
    const fs::path dir = tmp_dir("compact_after_merge");
    write_inputs(dir, opt, 0, 3, false, a, b, ids);
    for (const char* p : {"a", "b", "input_ids"}) std::ofstream(dir / (std::string(p) + ".1.bin")) << "stale piece";
    ASSERT_EQ(ActivationStore::open(dir).inputs().size(), 3u);  // the reader ignores them
    write_inputs(dir, resume, 3, n, true, a, b, ids);
    EXPECT_TRUE(dir_bytes(dir) == reference);
  }
  // Another group size for the same store is refused before anything changes.
  StoreWriterOptions other = resume;
  other.compact_inputs = 4;
  const auto before = dir_bytes(full);
  EXPECT_THROW(ActivationStoreWriter(full, {{"a", 3}, {"b", 2}}, other), InputError);
  EXPECT_TRUE(dir_bytes(full) == before);
}

TEST(ActivationStore, CompactionVerifiesEachPieceItMerges) {
  const auto a = ramp(23, 3, 1.0f), b = ramp(23, 2, 3.0f);
  std::vector<int32_t> ids(23, 7);
  StoreWriterOptions opt = compacting_options();
  opt.compact_inputs = 0;
  const fs::path dir = tmp_dir("compact_corrupt");
  write_inputs(dir, opt, 0, 2, false, a, b, ids);
  opt.compact_inputs = 3;
  opt.resume = true;
  {
    ActivationStoreWriter w(dir, {{"a", 3}, {"b", 2}}, opt);
    // A piece corrupted after the writer verified it on open: the merge that reads it says so.
    {
      std::fstream f(dir / "b.1.bin", std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(5);
      f.put('\x42');
    }
    w.begin_input(1, {});
    w.append({a.data() + 5 * 3, b.data() + 5 * 2}, 1, ids.data());
    expect_input_error_naming([&] { w.flush(); }, "b.1.bin", "corrupted");
  }
  // The store still lists the three pieces (the merge never got listed).
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(dir / "store.json"))["hooks"][0]["shards"].size(), 3u);
}

// Not unit tests: measurements, run by hand (they print, they do not time-assert), e.g.
//   CT_STORE_INPUTS=4000 build/tests/crosstrace_tests --gtest_also_run_disabled_tests
//     --gtest_filter='ActivationStore.DISABLED_*'
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int64_t inputs_from_env(int64_t fallback) {
  const char* env = std::getenv("CT_STORE_INPUTS");
  return env ? std::atoll(env) : fallback;
}

// The writer as harvest drives it: CT_STORE_INPUTS inputs of 1..3 rows (2 hooks of width 4, ids),
// each flushed, with compaction (groups of 1024) and without; then open and read every row.
TEST(ActivationStore, DISABLED_WriteManyTinyInputs) {
  const int64_t n = inputs_from_env(4000);
  const auto a = ramp(3, 4, 1.0f), b = ramp(3, 4, 2.0f);
  const std::vector<int32_t> ids = {1, 2, 3};
  for (const int64_t compact : {int64_t{1024}, int64_t{0}}) {
    const fs::path dir = tmp_dir("tiny_" + std::to_string(compact));
    StoreWriterOptions opt;
    opt.input_ids = true;
    opt.compact_inputs = compact;
    opt.manifest_interval_s = 5;  // harvest's
    auto t = std::chrono::steady_clock::now();
    {
      ActivationStoreWriter w(dir, {{"a", 4}, {"b", 4}}, opt);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t rows = 1 + i % 3;
        w.begin_input(rows, {{"image", "img" + std::to_string(i) + ".png"}, {"prompt", "what is this?"}});
        w.append({a.data(), b.data()}, rows, ids.data());
        w.flush();
        if ((i + 1) % 1000 == 0) std::printf("  %lld inputs written: %.2f s\n", static_cast<long long>(i + 1), seconds_since(t));
      }
      w.finish();
    }
    const double write_s = seconds_since(t);
    t = std::chrono::steady_clock::now();
    const ActivationStore st = ActivationStore::open(dir);
    const double open_s = seconds_since(t);
    std::vector<float> got(st.rows() * 4);
    t = std::chrono::steady_clock::now();
    st.read_rows(0, 0, st.rows(), got.data());
    const double read_s = seconds_since(t);
    int64_t files = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
    std::printf("write: %lld inputs, compact_inputs %lld: write %.2f s, open %.3f s, read all %.3f s; %lld rows, "
                "%zu shards per hook, %lld files, store.json %lld bytes\n",
                static_cast<long long>(n), static_cast<long long>(compact), write_s, open_s, read_s,
                static_cast<long long>(st.rows()), st.shard_starts().size(), static_cast<long long>(files),
                static_cast<long long>(fs::file_size(dir / "store.json")));
    EXPECT_EQ(static_cast<int64_t>(st.inputs().size()), n);
    fs::remove_all(dir);
  }
}

// The reader on a store with one shard per input, as an uncompacting writer (or another tool)
// leaves it: CT_STORE_INPUTS inputs of one row (default 100000), 2 hooks + ids, i.e. 3 files per
// input, laid out directly (files + store.json) since the writer's per-input manifest makes that
// slow. Opened with the default bound, then with no bound, which needs a mapping per file.
TEST(ActivationStore, DISABLED_OpenManyShards) {
  const int64_t n = inputs_from_env(100000);
  const fs::path dir = tmp_dir("many_files");
  fs::create_directories(dir);
  auto t = std::chrono::steady_clock::now();
  nlohmann::json j = {{"format", "crosstrace-activation-store"}, {"version", 1}, {"dtype", "f32"}, {"rows", n},
                      {"shard_rows", 65536}, {"complete", true}, {"checksum", "crc32"}};
  auto shard = [&](const std::string& file, int64_t row, const void* data, int64_t bytes) {
    std::ofstream(dir / file, std::ios::binary).write(static_cast<const char*>(data), bytes);
    char crc[9];
    std::snprintf(crc, sizeof crc, "%08x", store_crc32(data, bytes));
    return nlohmann::json{{"file", file}, {"row_begin", row}, {"rows", 1}, {"bytes", bytes}, {"crc32", crc}};
  };
  for (const char* h : {"a", "b"}) {
    nlohmann::json hj = {{"name", h}, {"dim", 2}, {"shards", nlohmann::json::array()}};
    for (int64_t i = 0; i < n; ++i) {
      const float row[2] = {static_cast<float>(i), h[0] == 'a' ? 1.0f : -1.0f};
      hj["shards"].push_back(shard(std::string(h) + "." + std::to_string(i) + ".bin", i, row, sizeof row));
    }
    j["hooks"].push_back(std::move(hj));
  }
  j["input_ids"] = {{"dtype", "i32"}, {"shards", nlohmann::json::array()}};
  for (int64_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i % 1000);
    j["input_ids"]["shards"].push_back(shard("input_ids." + std::to_string(i) + ".bin", i, &id, 4));
    j["inputs"].push_back({{"row_begin", i}, {"rows", 1}, {"image", "img" + std::to_string(i) + ".png"}});
  }
  std::ofstream(dir / "store.json") << j.dump(1) << "\n";
  std::printf("laid out %lld inputs, %lld files: %.2f s\n", static_cast<long long>(n), static_cast<long long>(3 * n + 1),
              seconds_since(t));

  t = std::chrono::steady_clock::now();
  const ActivationStore st = ActivationStore::open(dir);
  const double open_s = seconds_since(t);
  std::vector<float> got(n * 2);
  std::vector<int32_t> got_ids(n);
  t = std::chrono::steady_clock::now();
  st.read_rows(0, 0, n, got.data());
  st.read_input_ids(0, n, got_ids.data());
  const double read_s = seconds_since(t);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(got[i * 2], static_cast<float>(i));
    ASSERT_EQ(got_ids[i], i % 1000);
  }
  std::printf("open (max_mappings %lld): %.2f s, read every row and id: %.2f s, %lld mapped after\n",
              static_cast<long long>(StoreOpenOptions{}.max_mappings), open_s, read_s,
              static_cast<long long>(st.mapped_shards()));
  StoreOpenOptions unbounded;
  unbounded.max_mappings = int64_t{1} << 40;
  t = std::chrono::steady_clock::now();
  try {
    const ActivationStore all = ActivationStore::open(dir, unbounded);
    std::printf("open with every shard mapped (as before): %.2f s, %lld mapped\n", seconds_since(t),
                static_cast<long long>(all.mapped_shards()));
  } catch (const InputError& e) {
    std::printf("open with every shard mapped (as before) fails after %.2f s: %s\n", seconds_since(t), e.what());
  }
  fs::remove_all(dir);
}

TEST(CrosscoderSources, ParsesEveryFormAndPairsRows) {
  const fs::path dir = tmp_dir("sources");
  fs::create_directories(dir);
  const auto a = ramp(64, 3, 1.0f), b = ramp(64, 2, -2.0f);
  const int64_t sa[2] = {64, 3};
  io::write_npy(dir / "a.npy", io::DType::kF32, sa, std::as_bytes(std::span<const float>(a)));
  const io::TensorToWrite tb{"acts", io::DType::kF32, {64, 2}, std::as_bytes(std::span<const float>(b))};
  io::write_safetensors(dir / "b.safetensors", std::span<const io::TensorToWrite>(&tb, 1));
  StoreWriterOptions opt;
  opt.shard_rows = 10;
  {
    ActivationStoreWriter w(dir / "store", {{"h", 2}}, opt);
    w.append({b.data()}, 64);
    w.finish();
  }
  const SourceArg s1 = parse_source_arg("A=" + (dir / "a.npy").string());
  EXPECT_EQ(s1.name, "A");
  EXPECT_TRUE(s1.selector.empty());
  const SourceArg s2 = parse_source_arg("B=" + (dir / "b.safetensors").string() + ":acts");
  EXPECT_EQ(s2.selector, "acts");
  const SourceArg s3 = parse_source_arg("C=" + (dir / "store").string() + ":h");
  EXPECT_EQ(s3.path, (dir / "store").string());
  EXPECT_THROW(parse_source_arg("noequals"), InputError);

  const PairedSource p({s1, s2, s3});
  EXPECT_EQ(p.dims(), (std::vector<int64_t>{3, 2, 2}));
  std::vector<float> row(7 * 2);
  p.read(63, 2, row.data());  // wraps to row 0
  for (int i = 0; i < 3; ++i) EXPECT_EQ(row[i], a[63 * 3 + i]);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(row[3 + i], b[63 * 2 + i]);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(row[5 + i], b[63 * 2 + i]);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(row[7 + i], a[i]);

  const int64_t sc[2] = {63, 3};
  io::write_npy(dir / "short.npy", io::DType::kF32, sc, std::as_bytes(std::span<const float>(a.data(), 63 * 3)));
  expect_input_error_naming([&] { PairedSource({s1, parse_source_arg("S=" + (dir / "short.npy").string())}); },
                            "short.npy", "equal row counts");
  expect_input_error_naming([&] { PairedSource({parse_source_arg("B=" + (dir / "b.safetensors").string() + ":zz")}); },
                            "b.safetensors", "zz");
}

TEST(CrosscoderSources, MismatchedInputIdsAreRejectedWithTheRows) {
  const fs::path dir = tmp_dir("ids");
  const auto a = ramp(50, 2, 1.0f);
  std::vector<int32_t> ids(50), ids2;
  for (int i = 0; i < 50; ++i) ids[i] = i;
  ids2 = ids;
  ids2[17] = 999;
  ids2[30] = 998;
  StoreWriterOptions opt;
  opt.shard_rows = 16;
  opt.input_ids = true;
  for (auto [name, v] : {std::pair<const char*, std::vector<int32_t>*>{"s1", &ids}, {"s2", &ids}, {"s3", &ids2}}) {
    ActivationStoreWriter w(dir / name, {{"h", 2}}, opt);
    w.append({a.data()}, 50, v->data());
    w.finish();
  }
  const auto arg = [&](const char* n) { return parse_source_arg(std::string(n) + "=" + (dir / n).string()); };
  const PairedSource ok({arg("s1"), arg("s2")});
  EXPECT_TRUE(ok.has_input_ids());
  EXPECT_EQ(ok.input_id(17), 17);
  expect_input_error_naming([&] { PairedSource({arg("s1"), arg("s3")}); }, "s3", "2 of 50 rows (first at row 17)");
}

TEST(CrosscoderSources, ShuffleIsALocalDeterministicPermutation) {
  const int64_t rows = 1003, window = 100;
  std::vector<float> idx(rows);
  for (int64_t i = 0; i < rows; ++i) idx[i] = static_cast<float>(i);
  const InMemorySource base({idx}, {1});
  const ShuffledSource s(base, window, 42), s2(base, window, 42), other(base, window, 43);
  std::vector<float> e0(rows), e1(rows), again(rows), o(rows);
  s.read(0, rows, e0.data());
  s.read(rows, rows, e1.data());
  s2.read(0, rows, again.data());
  other.read(0, rows, o.data());
  EXPECT_EQ(e0, again);
  EXPECT_NE(e0, o);
  EXPECT_NE(e0, e1);  // a new epoch, a new order
  for (const auto* e : {&e0, &e1}) {
    std::set<float> seen(e->begin(), e->end());
    EXPECT_EQ(static_cast<int64_t>(seen.size()), rows);
  }
  // Locality: consecutive rows come from the same window except at window changes (<= 11 of them).
  int changes = 0;
  for (int64_t i = 1; i < rows; ++i)
    changes += static_cast<int64_t>(e0[i]) / window != static_cast<int64_t>(e0[i - 1]) / window;
  EXPECT_LE(changes, 10);
  // Reads of any range agree with base_row.
  std::vector<float> mid(37);
  s.read(480, 37, mid.data());
  for (int64_t i = 0; i < 37; ++i) EXPECT_EQ(mid[i], static_cast<float>(s.base_row(480 + i)));
  EXPECT_NE(std::vector<float>(e0.begin(), e0.begin() + 100), std::vector<float>(idx.begin(), idx.begin() + 100));
}

TEST(CrosscoderSources, NonFiniteRowsAreFoundAndSkipped) {
  std::vector<float> a(20 * 2), b(20);
  for (int i = 0; i < 40; ++i) a[i] = static_cast<float>(i);
  for (int i = 0; i < 20; ++i) b[i] = static_cast<float>(100 + i);
  a[3 * 2 + 1] = NAN;
  b[7] = INFINITY;
  a[19 * 2] = -INFINITY;
  const InMemorySource src({a, b}, {2, 1});
  const auto bad = find_nonfinite_rows(src);
  EXPECT_EQ(bad, (std::vector<int64_t>{3, 7, 19}));
  EXPECT_EQ(find_nonfinite_rows(src, 1), (std::vector<int64_t>{3}));
  const SkipRowsSource kept(src, bad);
  EXPECT_EQ(kept.rows(), 17);
  std::vector<float> got(17 * 3);
  kept.read(0, 17, got.data());
  std::vector<int64_t> expect_rows;
  for (int64_t r = 0; r < 20; ++r)
    if (r != 3 && r != 7 && r != 19) expect_rows.push_back(r);
  for (int64_t i = 0; i < 17; ++i) {
    EXPECT_EQ(got[i * 3 + 2], b[expect_rows[i]]) << i;
    EXPECT_EQ(kept.base_row(i), expect_rows[i]);
  }
  EXPECT_TRUE(find_nonfinite_rows(kept).empty());
}

}  // namespace
}  // namespace ct::crosscoder
