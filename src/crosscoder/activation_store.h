// Activation store (CONTRACTS.md section 4): a directory of activations, one row per token, for
// several hook points that share their row numbering.
//
// Layout of STORE/:
//   store.json          {"format": "crosstrace-activation-store", "version": 1,
//                        "dtype": "f32" | "f16" | "bf16", "rows": N, "shard_rows": S,
//                        "complete": bool, "checksum": "crc32",
//                        "compact_inputs": K   (optional: the writer compacts groups of inputs),
//                        "sources": {free-form strings: model, data, ...},
//                        "hooks": [{"name": H, "dim": d,
//                                   "shards": [{"file": "H.0.bin", "row_begin": 0, "rows": n,
//                                               "bytes": n*d*size, "crc32": "xxxxxxxx"}, ...]}, ...],
//                        "input_ids": {"shards": [{"file": "input_ids.0.bin", "row_begin", "rows",
//                                                  "bytes", "crc32"}]}   (optional),
//                        "inputs": [{"row_begin": r, "rows": n, free-form strings: image,
//                                    prompt, ...}, ...]   (optional: which rows each input gave)}
//   <hook>.<n>.bin      row-major [rows, d] in the declared dtype, little-endian, no header
//   input_ids.<n>.bin   int32 [rows]: the input (token) id of every row, when the writer has them
// Shard n of every hook covers the same rows [row_begin, row_begin + rows). The checksum is the
// zlib CRC-32 of the shard file's bytes, as 8 lower-case hex digits. Shard numbers increase in
// the order the writer made the shards but need not be contiguous (compaction, below, retires
// numbers); a reader follows the list in store.json and ignores every file it does not list.
//
// Writing is streaming and crash-safe: rows are buffered per shard; a full shard is written
// atomically (temp file + rename) for every hook, and only then is store.json rewritten
// atomically to list it (with StoreWriterOptions::manifest_interval_s, at most that often). A
// crashed writer therefore leaves a store whose listed shards are complete and verified
// ("complete": false until finish()); reopening it with resume deletes the unlisted ones and
// continues after the last listed shard.
//
// Compaction (options.compact_inputs = K > 0): a writer that flushes every input as its own
// shard(s) would leave inputs x (hooks + 1) files, and a reader that maps them all runs into the
// kernel's map count (vm.max_map_count, 65530 by default). So the listed inputs are cut into
// groups, each closed by the first input that brings it to K inputs or to shard_rows rows; the
// groups depend only on the inputs' row counts, never on when the writer ran. Once a group is
// closed (all its rows listed) and its rows are exactly covered by more than one shard, those
// shards are merged, for every hook and the ids: one file per hook under the next shard number,
// written atomically, each small shard's crc32 verified while copying; then store.json is
// rewritten to list the merged shard in their place; then the small files are deleted. A crash at
// any step leaves store.json listing either the small shards (the merged files are unlisted
// leftovers) or the merged one (the small files are leftovers). Reopening with resume deletes the
// leftovers (unlisted "<hook>.<n>.bin" / "input_ids.<n>.bin" files and the atomic writer's
// ".<name>.tmp.*" files; nothing else) and first compacts any closed group that is still in
// pieces, so an interrupted writer plus its resume writes the same bytes as one uninterrupted run.
// Merged shards may hold more than shard_rows rows.
//
// Reading verifies sizes and checksums of every shard on open (a truncated or corrupted shard is
// an InputError naming the shard file), then maps shards lazily: at most
// StoreOpenOptions::max_mappings stay mapped (least recently used ones are unmapped), so a store
// with any number of shards opens. A shard mapped again later is checked for its size (InputError
// naming it when it changed) but not re-checksummed. Rows are widened to f32 on read.
//
// Ownership: a store owns its mappings (copies of a store share them); a writer owns its buffers.
// Thread-safety: an open store may be read from several threads (the mapping cache is locked; a
// read holds its shard's mapping, so concurrent readers may briefly exceed max_mappings by one
// each); a writer is used by one thread.
// Failure: InputError naming store.json or the shard for malformed stores and bad arguments;
// RuntimeFailure when writing fails.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ct::io {
class MappedFile;
}

namespace ct::crosscoder {

enum class StoreDType { kF32, kF16, kBF16 };
const char* store_dtype_name(StoreDType t);
StoreDType parse_store_dtype(const std::string& s);  // InputError on anything else
int64_t store_dtype_size(StoreDType t);

struct StoreHook {
  std::string name;
  int64_t dim = 0;
};

// One input (an image + prompt, a document) and the rows it contributed.
struct StoreInput {
  int64_t row_begin = 0, rows = 0;
  std::map<std::string, std::string> info;
};

struct StoreShard {
  std::string file;
  int64_t row_begin = 0, rows = 0;
  uint32_t crc32 = 0;
};

struct StoreOpenOptions {
  // Most shard files mapped at once (>= 1). Every mapping is one of the process's
  // vm.max_map_count (65530 by default), which model weights and the allocator share.
  int64_t max_mappings = 4096;
};

class ActivationStore {
 public:
  // Opens and verifies `dir` (see the header comment).
  static ActivationStore open(const std::filesystem::path& dir, const StoreOpenOptions& options = {});

  const std::filesystem::path& dir() const { return dir_; }
  StoreDType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  bool complete() const { return complete_; }
  const std::vector<StoreHook>& hooks() const { return hooks_; }
  const std::map<std::string, std::string>& sources() const { return sources_; }
  bool has_input_ids() const { return has_ids_; }
  int64_t shard_rows() const { return shard_rows_; }        // the writer's shard size (0: not recorded)
  int64_t compact_inputs() const { return compact_inputs_; }  // the writer's compaction group (0: none)
  const std::vector<StoreInput>& inputs() const { return inputs_; }  // empty when not recorded
  // Index of hook `name`; InputError naming the store and listing its hooks when absent.
  int64_t hook_index(const std::string& name) const;

  // Rows [first, first + count) of hook `h` widened to f32 into out [count, dim]; the range must
  // lie inside [0, rows()) (CT_CHECK).
  void read_rows(int64_t h, int64_t first, int64_t count, float* out) const;
  // Input ids of rows [first, first + count) (CT_CHECK has_input_ids()).
  void read_input_ids(int64_t first, int64_t count, int32_t* out) const;
  // Shard boundaries (shared by all hooks), ascending row_begin.
  std::vector<int64_t> shard_starts() const;
  // Shard files mapped now (at most max_mappings between reads); for tests and diagnostics.
  int64_t mapped_shards() const;

  class MappingCache;  // the bounded set of open mappings (activation_store.cpp)

 private:
  struct Mapped {
    StoreShard shard;
    int64_t bytes = 0;   // the file's expected size
    std::size_t slot = 0;  // its index in the mapping cache
  };
  std::filesystem::path dir_;
  StoreDType dtype_ = StoreDType::kF32;
  int64_t rows_ = 0, shard_rows_ = 0, compact_inputs_ = 0;
  std::shared_ptr<MappingCache> cache_;
  bool complete_ = false;
  bool has_ids_ = false;
  std::vector<StoreInput> inputs_;
  std::vector<StoreHook> hooks_;
  std::map<std::string, std::string> sources_;
  std::vector<std::vector<Mapped>> shards_;  // [hook][shard]
  std::vector<Mapped> id_shards_;

  const Mapped& shard_of(const std::vector<Mapped>& list, int64_t row) const;
  std::shared_ptr<const io::MappedFile> mapping(const Mapped& m) const;
};

struct StoreWriterOptions {
  StoreDType dtype = StoreDType::kF32;
  int64_t shard_rows = 65536;
  bool input_ids = false;                      // rows carry input ids
  std::map<std::string, std::string> sources;  // recorded in store.json
  bool resume = false;                         // continue an existing store in `dir`
  // Compaction group size in inputs (see the header comment); 0: never compact. Recorded in
  // store.json; resuming a store that records another value is an InputError.
  int64_t compact_inputs = 0;
  // store.json lists every shard at once when 0. Above 0, a flush rewrites it only when this many
  // seconds have passed since it was last written (sync(), finish(), a compaction and the
  // destructor write it too): the manifest lists every input the store holds, so rewriting it
  // after every input of a long harvest costs time quadratic in the inputs (10,000 one-row inputs:
  // 114 s). A crash (not an exception, which the destructor covers) then loses at most this many
  // seconds of shards, which are unlisted leftovers that resume deletes.
  double manifest_interval_s = 0;
};

class ActivationStoreWriter {
 public:
  // Creates `dir` (which must not hold a store unless options.resume), or with resume reopens the
  // store there: its listed shards are kept (and verified) and appending continues after them;
  // hooks, dtype, shard size and compaction group must match (InputError naming the field
  // otherwise). Resuming also deletes the leftovers of a crash and compacts closed groups still in
  // pieces (see the header comment). One writer at a time: the writer holds an exclusive flock on
  // the directory for its life, and a second one (another harvest into the same store) is an
  // InputError naming the directory instead of two writers overwriting each other's shards.
  ActivationStoreWriter(std::filesystem::path dir, std::vector<StoreHook> hooks, StoreWriterOptions options);
  ~ActivationStoreWriter();
  ActivationStoreWriter(const ActivationStoreWriter&) = delete;
  ActivationStoreWriter& operator=(const ActivationStoreWriter&) = delete;

  // Appends `count` rows to every hook: hook_rows[h] is [count, dim_h] f32. `input_ids` [count]
  // is required exactly when the store carries ids. InputError on a wrong hook count.
  void append(const std::vector<const float*>& hook_rows, int64_t count, const int32_t* input_ids = nullptr);
  // Records that the next `rows` rows appended come from one input described by `info`; the
  // manifest lists an input once all its rows are in written shards.
  void begin_input(int64_t rows, std::map<std::string, std::string> info);
  // Writes the rows buffered so far as a shard now (possibly shorter than shard_rows) and lists it
  // in store.json, so every input begun so far survives a crash; the next append starts a new
  // shard. A writer that flushes after every input therefore lays out shards by input alone, the
  // same however often it was interrupted and resumed. No-op when nothing is buffered. With
  // compact_inputs, a group closed by this flush is then compacted.
  void flush();
  // Rewrites store.json now if a flush left shards it does not list yet (manifest_interval_s).
  void sync();
  // Writes the partial last shard and marks the store complete.
  void finish();
  int64_t rows() const { return rows_written_ + buffered_; }

 private:
  std::filesystem::path dir_;
  std::vector<StoreHook> hooks_;
  StoreWriterOptions opt_;
  std::vector<std::vector<StoreShard>> shards_;  // [hook]
  std::vector<StoreShard> id_shards_;
  std::vector<std::vector<uint8_t>> buffers_;    // [hook] encoded rows of the open shard
  std::vector<int32_t> id_buffer_;
  std::vector<StoreInput> inputs_;
  int64_t rows_written_ = 0, buffered_ = 0;
  int64_t next_shard_number_ = 0;  // 1 + the largest number of a listed shard
  std::size_t group_first_input_ = 0;  // the open compaction group's first input (index in inputs_)
  std::size_t inputs_grouped_ = 0;     // inputs_ [0, this) have been walked into groups
  bool finished_ = false;
  int lock_fd_ = -1;  // the store directory, flock-ed for the writer's life
  bool manifest_behind_ = false;  // shards are written that store.json does not list yet
  std::chrono::steady_clock::time_point manifest_written_;

  void open_or_create(const std::string& where);  // the constructor's work once the lock is held
  void flush_shard();
  void write_manifest(bool complete);
  void remove_leftovers() const;
  void compact_closed_groups();
  void merge_shards(int64_t row_begin, int64_t row_end);
};

// zlib CRC-32 of a byte range (exposed for tests).
uint32_t store_crc32(const void* data, int64_t bytes);

}  // namespace ct::crosscoder
