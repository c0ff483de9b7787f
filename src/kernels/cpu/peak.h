// Machine floors for the benchmarks, measured on the spot: the f32 FMA peak of the widest
// instruction set the kernels use, and the streaming read bandwidth of memory. Benchmarks print
// their measured figures next to these (STYLE.md: figures beside the floor).
//
// Ownership: allocate and free their own buffers (the probe object owns its buffer). Thread-safety: re-entrant; they use all
// ctx.threads() threads. Failure: none (allocation failure throws std::bad_alloc).
#pragma once

#include <cstdint>
#include <vector>

#include "core/exec_context.h"
#include "kernels/cpu/isa.h"

namespace ct::kernels::cpu {

// FLOP/s of independent FMA chains on every thread at once (a multiply-add counts 2), using `isa`'s
// vector width; the best of 3 runs of about `seconds` each (on a shared machine the best run is the
// closest to the uncontended peak, which keeps ratios against it conservative).
double measure_fma_peak(const ExecContext& ctx, double seconds, Isa isa = best_isa());

// Bytes/s of a streaming read (sum of a buffer of `bytes`, larger than the caches) on every thread
// at once; the best of `repeats` passes.
double measure_read_bandwidth(const ExecContext& ctx, int64_t bytes, int repeats);

// The same probe with its buffer kept, for benches that measure the bandwidth next to each timed
// step: on a shared virtual machine the bandwidth available moves by 2x within a minute, so a floor
// measured once, before the work, says little about the step timed a minute later.
class ReadBandwidthProbe {
 public:
  ReadBandwidthProbe(const ExecContext& ctx, int64_t bytes);
  double measure(int repeats) const;  // bytes/s, the best of `repeats` passes

 private:
  const ExecContext& ctx_;
  std::vector<float> buf_;  // [threads x chunk] floats, chunk a multiple of 64
  int64_t chunk_ = 0;
};

}  // namespace ct::kernels::cpu
