// Crosscoder input sources (see sources.h).
#include "crosscoder/sources.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "crosscoder/activation_store.h"
#include "crosscoder/init.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "tensor/convert.h"

namespace ct::crosscoder {
namespace fs = std::filesystem;
namespace {

class NpyColumn : public Column {
 public:
  explicit NpyColumn(const std::string& path) : path_(path), arr_(io::read_npy(path)) {
    if (arr_.shape.size() != 2 || arr_.shape[0] <= 0 || arr_.shape[1] <= 0)
      throw InputError(path, "expected a 2-D array [rows, d] with rows, d > 0");
    if (arr_.dtype != io::DType::kF32 && arr_.dtype != io::DType::kF16)
      throw InputError(path, "expected dtype <f4 or <f2, found " + std::string(io::dtype_name(arr_.dtype)));
  }
  int64_t rows() const override { return arr_.shape[0]; }
  int64_t dim() const override { return arr_.shape[1]; }
  void read(int64_t first, int64_t count, float* out) const override {
    const int64_t n = count * dim(), at = first * dim();
    if (arr_.dtype == io::DType::kF32) {
      std::memcpy(out, arr_.data.data() + at * 4, n * 4);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, arr_.data.data() + (at + i) * 2, 2);
        out[i] = tensor::f16_to_f32(v);
      }
    }
  }
  std::string describe() const override { return path_; }

 private:
  std::string path_;
  io::NpyArray arr_;
};

class SafetensorsColumn : public Column {
 public:
  SafetensorsColumn(const std::string& path, const std::string& name) : path_(path), store_(path) {
    io::read_safetensors(path, store_);
    entry_ = &store_.at(name);
    if (entry_->shape.size() != 2 || entry_->shape[0] <= 0 || entry_->shape[1] <= 0)
      throw InputError(path, "tensor '" + name + "' must be 2-D [rows, d] with rows, d > 0");
    if (entry_->dtype != io::DType::kF32 && entry_->dtype != io::DType::kF16 && entry_->dtype != io::DType::kBF16)
      throw InputError(path, "tensor '" + name + "' must be F32, F16 or BF16");
  }
  int64_t rows() const override { return entry_->shape[0]; }
  int64_t dim() const override { return entry_->shape[1]; }
  void read(int64_t first, int64_t count, float* out) const override {
    tensor::to_f32(*entry_, first * dim(), std::span<float>(out, count * dim()));
  }
  std::string describe() const override { return path_ + ":" + entry_->name; }

 private:
  std::string path_;
  io::TensorStore store_;
  const io::TensorEntry* entry_ = nullptr;
};

class StoreColumn : public Column {
 public:
  StoreColumn(const std::string& dir, const std::string& hook) : store_(ActivationStore::open(dir)) {
    if (hook.empty()) {
      if (store_.hooks().size() != 1)
        throw InputError(dir, "the store has several hooks; name one as STORE:HOOK");
      hook_ = 0;
    } else {
      hook_ = store_.hook_index(hook);
    }
    if (store_.rows() <= 0) throw InputError(dir, "the store holds no rows");
    desc_ = dir + ":" + store_.hooks()[hook_].name;
  }
  int64_t rows() const override { return store_.rows(); }
  int64_t dim() const override { return store_.hooks()[hook_].dim; }
  void read(int64_t first, int64_t count, float* out) const override { store_.read_rows(hook_, first, count, out); }
  bool has_input_ids() const override { return store_.has_input_ids(); }
  void read_input_ids(int64_t first, int64_t count, int32_t* out) const override {
    store_.read_input_ids(first, count, out);
  }
  std::string describe() const override { return desc_; }

 private:
  ActivationStore store_;
  int64_t hook_ = 0;
  std::string desc_;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

SourceArg parse_source_arg(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size())
    throw InputError("--source", "expected NAME=PATH (PATH: FILE.npy, FILE.safetensors:TENSOR or STORE:HOOK), found '" + arg + "'");
  SourceArg s;
  s.text = arg;
  s.name = arg.substr(0, eq);
  std::string rest = arg.substr(eq + 1);
  // A selector follows the last ':' unless the whole text names an existing file or directory.
  const size_t colon = rest.rfind(':');
  if (colon != std::string::npos && !fs::exists(rest)) {
    s.path = rest.substr(0, colon);
    s.selector = rest.substr(colon + 1);
  } else {
    s.path = rest;
  }
  return s;
}

std::unique_ptr<Column> open_column(const SourceArg& arg) {
  if (!fs::exists(arg.path)) throw InputError(arg.path, "no such file or directory (from --source " + arg.text + ")");
  if (fs::is_directory(arg.path)) return std::make_unique<StoreColumn>(arg.path, arg.selector);
  if (ends_with(arg.path, ".npy")) {
    if (!arg.selector.empty()) throw InputError(arg.text, "an .npy source takes no ':' selector");
    return std::make_unique<NpyColumn>(arg.path);
  }
  if (ends_with(arg.path, ".safetensors")) {
    if (arg.selector.empty()) throw InputError(arg.text, "name the tensor: NAME=FILE.safetensors:TENSOR");
    return std::make_unique<SafetensorsColumn>(arg.path, arg.selector);
  }
  throw InputError(arg.path, "expected an .npy file, a .safetensors file or an activation store directory");
}

PairedSource::PairedSource(const std::vector<SourceArg>& args) {
  if (args.empty()) throw InputError("--source", "at least one source is needed");
  for (const auto& a : args) {
    for (const auto& n : names_)
      if (n == a.name) throw InputError("--source", "source name '" + a.name + "' is given twice");
    cols_.push_back(open_column(a));
    names_.push_back(a.name);
    dims_.push_back(cols_.back()->dim());
  }
  rows_ = cols_[0]->rows();
  for (size_t m = 1; m < cols_.size(); ++m)
    if (cols_[m]->rows() != rows_)
      throw InputError(cols_[m]->describe(), "has " + std::to_string(cols_[m]->rows()) + " rows but " +
                                                 cols_[0]->describe() + " has " + std::to_string(rows_) +
                                                 "; paired sources need equal row counts");
  // Token alignment: every source with ids must match the first one with ids.
  constexpr int64_t kChunk = 1 << 16;
  std::vector<int32_t> a(kChunk), b(kChunk);
  for (size_t m = 0; m < cols_.size(); ++m) {
    if (!cols_[m]->has_input_ids()) continue;
    if (ids_column_ < 0) {
      ids_column_ = static_cast<int64_t>(m);
      continue;
    }
    int64_t differ = 0, first_bad = -1;
    for (int64_t r = 0; r < rows_; r += kChunk) {
      const int64_t n = std::min(kChunk, rows_ - r);
      cols_[ids_column_]->read_input_ids(r, n, a.data());
      cols_[m]->read_input_ids(r, n, b.data());
      for (int64_t i = 0; i < n; ++i)
        if (a[i] != b[i]) {
          if (first_bad < 0) first_bad = r + i;
          ++differ;
        }
    }
    if (differ > 0)
      throw InputError(cols_[m]->describe(),
                       "input ids differ from " + cols_[ids_column_]->describe() + " in " + std::to_string(differ) +
                           " of " + std::to_string(rows_) + " rows (first at row " + std::to_string(first_bad) +
                           "); the sources are not paired token by token");
  }
}

void PairedSource::read(int64_t first, int64_t count, float* out) const {
  int64_t dim = 0;
  for (int64_t d : dims_) dim += d;
  std::vector<float> buf;
  int64_t r = 0;
  while (r < count) {
    const int64_t row = (first + r) % rows_;
    const int64_t n = std::min(count - r, rows_ - row);  // contiguous until the wrap
    int64_t off = 0;
    for (size_t m = 0; m < cols_.size(); ++m) {
      const int64_t d = dims_[m];
      if (cols_.size() == 1) {
        cols_[m]->read(row, n, out + r * dim);
      } else {
        buf.resize(n * d);
        cols_[m]->read(row, n, buf.data());
        for (int64_t i = 0; i < n; ++i) std::memcpy(out + (r + i) * dim + off, buf.data() + i * d, d * sizeof(float));
      }
      off += d;
    }
    r += n;
  }
}

int32_t PairedSource::input_id(int64_t row) const {
  if (ids_column_ < 0) return -1;
  int32_t id = -1;
  cols_[ids_column_]->read_input_ids(row % rows_, 1, &id);
  return id;
}

ShuffledSource::ShuffledSource(const RowSource& base, int64_t window, uint64_t seed)
    : base_(base), window_(std::max<int64_t>(1, window)), seed_(seed) {}

namespace {

// The window that holds row `row` (epoch row / n) of a shuffled order, with its row permutation.
struct Window {
  int64_t block = 0, start = 0, size = 0;  // base rows [block * W, + size); positions [start, + size)
  std::vector<int64_t> perm;
};

Window locate_window(int64_t n, int64_t window, uint64_t seed, int64_t row) {
  const int64_t epoch = row / n, pos = row % n, blocks = (n + window - 1) / window;
  // Window order of this epoch (Fisher-Yates from the epoch's stream).
  std::vector<int64_t> order(blocks);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed, 2 * static_cast<uint64_t>(epoch) + 1);
  for (int64_t i = blocks - 1; i > 0; --i) std::swap(order[i], order[static_cast<int64_t>(rng.next_u64() % (i + 1))]);
  // Every window is full except the last one (n % W rows).
  Window w;
  for (int64_t k = 0;; ++k) {
    w.block = order[k];
    w.size = std::min(window, n - w.block * window);
    if (pos < w.start + w.size) break;
    w.start += w.size;
  }
  w.perm.resize(w.size);
  std::iota(w.perm.begin(), w.perm.end(), 0);
  Rng wr(seed ^ 0xA5A5A5A5ull, (static_cast<uint64_t>(epoch) << 32) ^ static_cast<uint64_t>(w.block));
  for (int64_t i = w.size - 1; i > 0; --i) std::swap(w.perm[i], w.perm[static_cast<int64_t>(wr.next_u64() % (i + 1))]);
  return w;
}

}  // namespace

int64_t ShuffledSource::base_row(int64_t row) const {
  const int64_t n = base_.rows();
  const Window w = locate_window(n, window_, seed_, row);
  return w.block * window_ + w.perm[row % n - w.start];
}

void ShuffledSource::read(int64_t first, int64_t count, float* out) const {
  int64_t dim = 0;
  for (int64_t d : base_.dims()) dim += d;
  const int64_t n = base_.rows();
  int64_t r = 0;
  while (r < count) {
    // Rows of one window share its permutations: compute them once per run of rows inside it.
    const int64_t epoch = (first + r) / n;
    const Window w = locate_window(n, window_, seed_, first + r);
    int64_t pos = (first + r) % n;
    while (r < count && pos < w.start + w.size && (first + r) / n == epoch) {
      base_.read(w.block * window_ + w.perm[pos - w.start], 1, out + r * dim);
      ++r;
      ++pos;
    }
  }
}

SkipRowsSource::SkipRowsSource(const RowSource& base, std::vector<int64_t> skip) : base_(base), skip_(std::move(skip)) {
  if (rows() <= 0) throw InputError("training sources", "every row holds a NaN or an Inf; nothing to train on");
  key_.resize(skip_.size());
  for (size_t i = 0; i < skip_.size(); ++i) key_[i] = skip_[i] - static_cast<int64_t>(i);
}

int64_t SkipRowsSource::base_row(int64_t row) const {
  // The kept row i is i + j, with j the number of skipped rows s_j such that s_j - j <= i.
  const int64_t j = std::upper_bound(key_.begin(), key_.end(), row) - key_.begin();
  return row + j;
}

void SkipRowsSource::read(int64_t first, int64_t count, float* out) const {
  int64_t dim = 0;
  for (int64_t d : base_.dims()) dim += d;
  const int64_t n = rows();
  for (int64_t r = 0; r < count; ++r) base_.read(base_row((first + r) % n), 1, out + r * dim);
}

std::vector<int64_t> find_nonfinite_rows(const RowSource& src, int64_t limit) {
  int64_t dim = 0;
  for (int64_t d : src.dims()) dim += d;
  constexpr int64_t kChunk = 4096;
  std::vector<float> buf(kChunk * dim);
  std::vector<int64_t> bad;
  for (int64_t r = 0; r < src.rows(); r += kChunk) {
    const int64_t n = std::min(kChunk, src.rows() - r);
    src.read(r, n, buf.data());
    for (int64_t i = 0; i < n; ++i) {
      const float* row = buf.data() + i * dim;
      for (int64_t c = 0; c < dim; ++c)
        if (!std::isfinite(row[c])) {
          bad.push_back(r + i);
          if (static_cast<int64_t>(bad.size()) >= limit) return bad;
          break;
        }
    }
  }
  return bad;
}

}  // namespace ct::crosscoder
