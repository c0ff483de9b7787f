// The AVX-512 register tile that linear_gemm and gemm_abt share: 14 rows x 32 columns held in 28
// zmm accumulators, summed over packed panels kc deep (A panel: ap[kk * 14 + i], B panel:
// bp[kk * 32 + j], both 64-byte aligned; panels past the matrix edge are zero-padded by the packer).
//
// c [rows x cols] (leading dimension ldc, rows <= 14, cols <= 32) = (first ? (bias ? bias[j] : 0)
// : c) + A panel * B panel. A whole tile is stored straight from the registers; a tile cut by the
// edge of c goes through a local 14 x 32 tile. The whole-tile kernel is a function of its own:
// with the local tile in the same function GCC kept the 28 accumulators in a stack array, stored
// on entry and exit of every call.
//
// Requires an AVX-512F CPU (the callers choose it by Isa). Thread-safety: re-entrant. Failure: none.
#pragma once

#include <cstdint>

namespace ct::kernels::cpu {

constexpr int kTileRows = 14, kTileCols = 32;

void micro_14x32(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int rows, int cols,
                 const float* bias, bool first);

}  // namespace ct::kernels::cpu
