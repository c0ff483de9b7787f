// Optimised linear layer y = x · Wᵀ + b over weights in their stored dtype (f32, f16, bf16): the
// twin of kernels/ref/linear.h, which it is tested against on odd shapes.
//
// Two paths, chosen per call from the row count:
// - GEMM (n > kGemvMaxRows): Goto/BLIS structure. For each thread's range of output features, each
//   KC-deep slice of W is widened to f32 *while it is packed* into NR-wide panels (the model is
//   never converted as a whole), x is packed into MR-tall panels, and an MR x NR register-tile
//   micro-kernel (AVX-512 14x32, AVX2 6x16, portable 4x8) accumulates into y; the bias is added
//   when the first slice is stored.
// - GEMV (n <= kGemvMaxRows: decode, beam search): each weight row is streamed once from memory,
//   widened in registers and dotted with all n rows of x at once, so the cost is the weight bytes at
//   memory bandwidth. One row on AVX-512 is a single sequential stream per thread (here); 2..8 rows,
//   or other instruction sets, are linear_rows.h's blocks of weight rows.
// Threads split the output features statically (whole panels / row blocks); every output element
// is summed by one thread in a fixed order, so results do not depend on the thread count (they do
// depend on the path and the instruction set, within f32 rounding).
//
// Ownership: the caller owns x and y (must not overlap); W and b are views into mapped storage.
// Packing buffers are per call and thread. Thread-safety: re-entrant.
// Failure: mismatched shapes are CT_CHECKs; an Isa the CPU lacks is a CT_CHECK.
#pragma once

#include <cstdint>
#include <span>

#include "core/exec_context.h"
#include "kernels/cpu/isa.h"
#include "kernels/weight_view.h"

namespace ct::kernels::cpu {

// Up to this many rows of x, linear() streams the weights (GEMV) instead of packing them (GEMM).
constexpr int64_t kGemvMaxRows = 8;

// x [n, in], w [out, in] (f32/f16/bf16), bias [out] or empty, y [n, out].
void linear(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
            const WeightView& bias, float* y, Isa isa = best_isa());

// One output of linear_group: y [n, w->rows] = x · w->ᵀ + bias (bias [w->rows], or empty).
struct GroupedLinear {
  const WeightView* w;
  const WeightView* bias;
  float* y;
};

// Several linears over the same x [n, in] (q/k/v, gate/up). With one row of x on AVX-512 (decode),
// one parallel loop streams all the weights back to back: thread t takes the t-th contiguous part of
// their concatenated rows, so a group costs one wake-up and one stream start per thread instead of
// one per matrix. Every output element is the same sum as linear() computes for it (bit-equal).
// Otherwise each output is one linear() call.
void linear_group(const ExecContext& ctx, const float* x, int64_t n, int64_t in,
                  std::span<const GroupedLinear> outs, Isa isa = best_isa());

// The GEMM path regardless of n (tests, benchmarks).
void linear_gemm(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
                 const WeightView& bias, float* y, Isa isa = best_isa());
// The GEMV path regardless of n (tests, benchmarks); n <= kGemvMaxRows.
void linear_gemv(const ExecContext& ctx, const float* x, int64_t n, int64_t in, const WeightView& w,
                 const WeightView& bias, float* y, Isa isa = best_isa());

}  // namespace ct::kernels::cpu
