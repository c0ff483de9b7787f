// AlignedVector: 64-byte alignment for every size, 2 MiB from 2 MiB up, and ordinary vector
// behaviour across growth, copies and moves (the allocator frees with the alignment it used).
#include "core/aligned_vector.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>

namespace ct {
namespace {

uintptr_t address(const void* p) { return reinterpret_cast<uintptr_t>(p); }

TEST(AlignedVector, SmallArraysStartOnACacheLine) {
  for (size_t n : {1, 3, 17, 1000, 100000}) {
    AlignedVector<float> v(n, 1.0f);
    EXPECT_EQ(address(v.data()) % 64, 0u) << n;
    AlignedVector<double> d(n, 2.0);
    EXPECT_EQ(address(d.data()) % 64, 0u) << n;
  }
}

TEST(AlignedVector, LargeArraysStartOnAHugePage) {
  AlignedVector<float> v((size_t{2} << 20) / sizeof(float) + 5, 0.5f);
  EXPECT_EQ(address(v.data()) % (size_t{2} << 20), 0u);
  EXPECT_EQ(v.back(), 0.5f);
}

TEST(AlignedVector, GrowsCopiesAndMovesAcrossTheHugePageThreshold) {
  AlignedVector<float> v;
  for (int i = 0; i < 700000; ++i) v.push_back(static_cast<float>(i));  // reallocates from 64 B to 2 MiB alignment
  EXPECT_EQ(address(v.data()) % (size_t{2} << 20), 0u);
  const AlignedVector<float> copy = v;
  EXPECT_EQ(copy, v);
  AlignedVector<float> moved = std::move(v);
  EXPECT_EQ(moved.size(), 700000u);
  EXPECT_EQ(std::accumulate(moved.begin(), moved.end(), 0.0), 699999.0 * 700000.0 / 2);
  moved.resize(10);
  moved.shrink_to_fit();  // back under the threshold: freed with the alignment it was allocated with
  EXPECT_EQ(address(moved.data()) % 64, 0u);
  EXPECT_EQ(moved[9], 9.0f);
}

}  // namespace
}  // namespace ct
