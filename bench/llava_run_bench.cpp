// End-to-end LLaVA run for the 24 GB acceptance item: loads a llava-hf checkpoint (for example the
// LLaVA-1.5-7B-shaped one tools/make_llava7b_shaped.py writes), runs one image and a prompt
// through models::llava_generate (vision tower, projector, prefill, greedy decode) and prints the
// wall time of each stage and the peak resident set size against the 24 GB machine budget.
// Run it under `/usr/bin/time -v` for an independent peak-RSS figure.
//
// Usage: llava_run_bench MODEL_DIR [--threads N] [--new-tokens K] [--text-tokens T]
// The pixels are a fixed pseudo-random normalised image; the prompt is BOS, T text ids, the image id,
// T more text ids (ids below 320 so any llama tokenizer of the fixtures covers them).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "models/generate.h"
#include "models/llava.h"

int main(int argc, char** argv) {
  using namespace ct;
  using Clock = std::chrono::steady_clock;
  if (argc < 2) {
    std::fprintf(stderr, "usage: llava_run_bench MODEL_DIR [--threads N] [--new-tokens K] [--text-tokens T]\n");
    return 2;
  }
  int threads = 2, new_tokens = 4, text_tokens = 20;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--new-tokens") && i + 1 < argc) new_tokens = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--text-tokens") && i + 1 < argc) text_tokens = std::atoi(argv[++i]);
  }
  const ExecContext ctx(threads);
  auto t0 = Clock::now();
  const models::LlavaModel m = models::load_llava(argv[1]);
  const double t_load = std::chrono::duration<double>(Clock::now() - t0).count();
  const int S = m.config.vision.image_size;
  std::vector<float> pixels(static_cast<std::size_t>(3 * S * S));
  uint32_t state = 12345;
  for (auto& p : pixels) {
    state = state * 1664525u + 1013904223u;
    p = static_cast<float>(state >> 8) / 16777216.0f * 4.0f - 2.0f;
  }
  std::vector<int32_t> ids = {1};
  for (int i = 0; i < text_tokens; ++i) ids.push_back(10 + (i * 37) % 300);
  ids.push_back(models::llava_image_token_id(m));
  for (int i = 0; i < text_tokens; ++i) ids.push_back(10 + (i * 53) % 300);
  const std::vector<int32_t> expanded = models::expand_image_tokens(m, ids);
  models::GenerationOptions opt;
  opt.max_new_tokens = new_tokens;
  opt.eos_ids = {};
  t0 = Clock::now();
  const std::vector<int32_t> out = models::llava_generate(m, ids, pixels, opt, ctx, models::Hooks{});
  const double t_gen = std::chrono::duration<double>(Clock::now() - t0).count();
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  std::printf("llava_run_bench: %s, %d threads\n", argv[1], threads);
  std::printf("load (map + bind): %.2f s\n", t_load);
  std::printf("generate: %zu prompt positions (%zu after image expansion), %zu new tokens in %.1f s\n", ids.size(),
              expanded.size(), out.size(), t_gen);
  std::printf("tokens:");
  for (int32_t t : out) std::printf(" %d", t);
  std::printf("\npeak RSS %.2f GB (getrusage; budget 24 GB)\n", static_cast<double>(ru.ru_maxrss) / 1e6);
  return 0;
}
