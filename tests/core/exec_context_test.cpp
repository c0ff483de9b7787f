// ExecContext: static partition, exceptions carried back to the caller, pool reuse, nesting.
#include "core/exec_context.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

namespace ct {
namespace {

TEST(ExecContext, CoversTheRangeInContiguousChunksEveryCall) {
  ExecContext ctx(3);
  for (int round = 0; round < 50; ++round) {  // the pool is reused across calls
    std::vector<int> hits(101, 0);
    std::vector<int64_t> ends(101, -1);  // ends[begin] = end of the chunk starting there
    ctx.parallel_for(101, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ++hits[i];
      ends[b] = e;
    });
    for (int h : hits) ASSERT_EQ(h, 1);
    EXPECT_EQ(ends[0], 33);  // chunk t is [n*t/3, n*(t+1)/3)
    EXPECT_EQ(ends[33], 67);
    EXPECT_EQ(ends[67], 101);
  }
}

TEST(ExecContext, RethrowsTheFirstChunksExceptionAfterAllFinish) {
  ExecContext ctx(4);
  std::atomic<int> finished{0};
  try {
    ctx.parallel_for(4, [&](int64_t b, int64_t) {
      finished++;
      if (b >= 1) throw std::runtime_error("chunk " + std::to_string(b));
    });
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "chunk 1");
  }
  EXPECT_EQ(finished.load(), 4);
  int sum = 0;  // still usable afterwards
  ctx.parallel_for(1, [&](int64_t b, int64_t e) { sum += static_cast<int>(e - b); });
  EXPECT_EQ(sum, 1);
}

TEST(ExecContext, NestedLoopsRunSeriallyInsideWorkers) {
  ExecContext ctx(2);
  std::vector<std::atomic<int>> hits(40);
  ctx.parallel_for(4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      ctx.parallel_for(10, [&](int64_t bb, int64_t ee) {
        for (int64_t j = bb; j < ee; ++j) hits[i * 10 + j]++;
      });
    }
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

}  // namespace
}  // namespace ct
