// Training and analysis inputs of a crosscoder: the `--source NAME=PATH` forms of CONTRACTS.md
// section 6, paired into one RowSource, plus the row-order wrappers the trainer uses.
//
// Source forms (`parse_source_arg`):
//   NAME=FILE.npy                 [rows, d] f32 or f16
//   NAME=FILE.safetensors:TENSOR  a 2-D F32, F16 or BF16 tensor
//   NAME=STORE:HOOK               hook HOOK of an activation store directory (activation_store.h)
//   NAME=STORE                    a store with exactly one hook
// Pairing (`PairedSource`): every source must have the same row count; when two or more sources
// carry input ids (stores written with ids), their id streams must be identical, else an
// InputError says how many rows differ and the first one.
// Row order: `ShuffledSource` permutes rows with locality: the rows are cut into windows of W
// consecutive rows (W near the shard size keeps reads inside one mapped shard); each epoch visits
// the windows in a seeded random order and the rows of each window in a seeded random order. The
// permutation is a pure function of (seed, epoch), so a resumed run sees the same rows.
// Non-finite rows: `find_nonfinite_rows` lists rows with a NaN or Inf in any source;
// `SkipRowsSource` hides them.
//
// Ownership: a PairedSource owns its mapped inputs; wrappers keep a reference to the wrapped source,
// which must outlive them. Thread-safety: read() of every class here is const and re-entrant.
// Failure: InputError naming the file (or argument) for every malformed or mismatched input.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "crosscoder/trainer.h"

namespace ct::crosscoder {

struct SourceArg {
  std::string name;      // NAME
  std::string path;      // FILE or STORE
  std::string selector;  // tensor or hook; empty for .npy and single-hook stores
  std::string text;      // the argument as given (for messages)
};

// Parses "NAME=PATH[:SELECTOR]"; InputError("--source", ...) when malformed.
SourceArg parse_source_arg(const std::string& arg);

// One opened input column: [rows, dim] convertible to f32.
class Column {
 public:
  virtual ~Column() = default;
  virtual int64_t rows() const = 0;
  virtual int64_t dim() const = 0;
  virtual void read(int64_t first, int64_t count, float* out) const = 0;  // [count, dim]
  virtual bool has_input_ids() const { return false; }
  virtual void read_input_ids(int64_t, int64_t, int32_t*) const {}
  virtual std::string describe() const = 0;  // for messages
};

std::unique_ptr<Column> open_column(const SourceArg& arg);

class PairedSource : public RowSource {
 public:
  // Opens every argument; InputError on unequal row counts or misaligned input ids.
  explicit PairedSource(const std::vector<SourceArg>& args);
  std::vector<int64_t> dims() const override { return dims_; }
  int64_t rows() const override { return rows_; }
  void read(int64_t first, int64_t count, float* out) const override;
  const std::vector<std::string>& names() const { return names_; }
  // Input ids of a row (those of the first source that has them); -1 when none has them.
  bool has_input_ids() const { return ids_column_ >= 0; }
  int32_t input_id(int64_t row) const;

 private:
  std::vector<std::unique_ptr<Column>> cols_;
  std::vector<std::string> names_;
  std::vector<int64_t> dims_;
  int64_t rows_ = 0;
  int64_t ids_column_ = -1;
};

class ShuffledSource : public RowSource {
 public:
  ShuffledSource(const RowSource& base, int64_t window, uint64_t seed);
  std::vector<int64_t> dims() const override { return base_.dims(); }
  int64_t rows() const override { return base_.rows(); }
  void read(int64_t first, int64_t count, float* out) const override;
  // The row of `base` that row `row` (any non-negative number; epoch = row / rows()) reads.
  int64_t base_row(int64_t row) const;

 private:
  const RowSource& base_;
  int64_t window_;
  uint64_t seed_;
};

// Rows of `base` in order, without the rows listed in `skip` (sorted, unique).
class SkipRowsSource : public RowSource {
 public:
  // InputError when every row is skipped.
  SkipRowsSource(const RowSource& base, std::vector<int64_t> skip);
  std::vector<int64_t> dims() const override { return base_.dims(); }
  int64_t rows() const override { return base_.rows() - static_cast<int64_t>(skip_.size()); }
  void read(int64_t first, int64_t count, float* out) const override;
  int64_t base_row(int64_t row) const;  // row in [0, rows())

 private:
  const RowSource& base_;
  std::vector<int64_t> skip_;
  std::vector<int64_t> key_;  // skip_[i] - i, non-decreasing
};

// Rows of `src` (in [0, rows())) holding a NaN or an Inf, ascending. Stops after `limit` finds.
std::vector<int64_t> find_nonfinite_rows(const RowSource& src, int64_t limit = INT64_MAX);

}  // namespace ct::crosscoder
