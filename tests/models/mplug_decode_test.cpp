// The cached decoder step (cross-attention K/V of the memory once per answer, self-attention K/V
// cached per beam) against the released code's way (mplug_decoder_step_released: every beam's
// whole prefix through the whole decoder, the memory tiled per beam, nothing cached), on the tiny
// fixtures: the same logits within 1e-5 relative (max |diff| / max |ref|) at every step of a
// 6-step decode with distinct beams, and the same beam-search answer and score both ways, for VQA
// (memory [V'; T']) and captioning (memory V).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/exec_context.h"
#include "models/model_fixtures.h"
#include "models/mplug.h"
#include "models/tokenizer_wordpiece.h"

namespace ct::models {
namespace {

using ct::testing::fixtures_dir;

struct Encoded {
  MplugModel model;
  MplugMemory vqa, caption;
};

Encoded encode(const std::string& fixture) {
  Encoded e{load_mplug(fixtures_dir() / fixture), {}, {}};
  const WordPieceTokenizer tok = WordPieceTokenizer::load(fixtures_dir() / fixture / "vocab.txt");
  const std::vector<int32_t> ids = tok.encode("What color is the cat on the table?").ids;
  const int64_t res = e.model.config.image_res;
  std::vector<float> pixels(static_cast<std::size_t>(3 * res * res));
  std::mt19937 gen(17);
  std::normal_distribution<float> nd;
  for (float& p : pixels) p = nd(gen);
  const ExecContext ctx(2);
  e.vqa = mplug_encode(e.model, pixels, ids, MplugTask::kVqa, ctx, Hooks{});
  e.caption = mplug_encode(e.model, pixels, {}, MplugTask::kCaption, ctx, Hooks{});
  return e;
}

double max_rel(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, mag = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - want[i]));
    mag = std::max(mag, std::fabs(static_cast<double>(want[i])));
  }
  return diff / std::max(mag, 1e-30);
}

void check_steps(const MplugModel& m, const MplugMemory& memory, const std::string& what) {
  const ExecContext ctx(2);
  const int beams = 5, steps = 6;
  const int64_t V = m.config.bert.vocab_size;
  const std::vector<BertMemoryKv> kv = mplug_decoder_memory(m, memory, ctx);
  MplugDecoderCache cache(m, beams, steps);
  std::vector<std::vector<int32_t>> prefixes(beams, std::vector<int32_t>{kMplugBos});
  std::vector<int32_t> last(beams, kMplugBos);
  std::vector<float> cached, released;
  for (int t = 0; t < steps; ++t) {
    mplug_decoder_step(m, kv, cache, last, t, cached, ctx);
    mplug_decoder_step_released(m, memory, prefixes, released, ctx);
    ASSERT_EQ(cached.size(), static_cast<std::size_t>(beams * V));
    ASSERT_EQ(released.size(), cached.size());
    EXPECT_LE(max_rel(cached, released), 1e-5) << what << " step " << t;
    // Distinct continuations per beam: beam b takes the (b+1)-th best token of its row.
    for (int b = 0; b < beams; ++b) {
      std::vector<int32_t> order(static_cast<std::size_t>(V));
      for (int64_t i = 0; i < V; ++i) order[static_cast<std::size_t>(i)] = static_cast<int32_t>(i);
      const float* row = cached.data() + b * V;
      std::partial_sort(order.begin(), order.begin() + b + 1, order.end(),
                        [&](int32_t x, int32_t y) { return row[x] > row[y] || (row[x] == row[y] && x < y); });
      last[static_cast<std::size_t>(b)] = order[static_cast<std::size_t>(b)];
      prefixes[static_cast<std::size_t>(b)].push_back(last[static_cast<std::size_t>(b)]);
    }
  }
}

TEST(MplugDecode, CachedStepEqualsReleasedStep) {
  const Encoded e = encode("mplug_finetuned");
  check_steps(e.model, e.vqa, "mplug_finetuned vqa");
  check_steps(e.model, e.caption, "mplug_finetuned caption");
}

TEST(MplugDecode, BeamSearchSameAnswerBothWays) {
  const ExecContext ctx(2);
  for (const char* fixture : {"mplug_finetuned", "mplug_large"}) {
    const Encoded e = encode(fixture);
    for (const MplugTask task : {MplugTask::kVqa, MplugTask::kCaption}) {
      const MplugMemory& memory = task == MplugTask::kVqa ? e.vqa : e.caption;
      MplugGenerateOptions opt;
      const MplugBeamResult cached = mplug_beam_search(e.model, memory, task, opt, ctx);
      opt.released_step = true;
      const MplugBeamResult released = mplug_beam_search(e.model, memory, task, opt, ctx);
      EXPECT_EQ(cached.ids, released.ids) << fixture;
      EXPECT_NEAR(cached.score, released.score, 1e-5) << fixture;
      EXPECT_FALSE(cached.ids.empty()) << fixture;
    }
  }
}

}  // namespace
}  // namespace ct::models
