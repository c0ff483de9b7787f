// crosstrace crosscoder from the outside: bad inputs give exit 2 and one line naming the problem
// (unequal rows, NaN rows under reject, a truncated shard, a resume with a different
// configuration, an --out holding another run) without touching what was trained; --nonfinite
// skip trains and reports the skipped count; SIGINT mid-run then --resume ends bit-identical to an
// uninterrupted run (the reference).
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "io/npy.h"
#include "support/test_dir.h"

namespace ct {
namespace {
namespace fs = std::filesystem;
using testing::quoted;
using testing::run_cli;
using testing::slurp;

fs::path tmp_dir(const std::string& name) {
  const fs::path d = fs::path(CROSSTRACE_TEST_TMP) / ("cc_cli_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_matrix(const fs::path& p, int64_t rows, int64_t d, float seed) {
  std::vector<float> v(rows * d);
  for (int64_t i = 0; i < rows * d; ++i) v[i] = std::sin(seed * 1.3f + 0.71f * static_cast<float>(i)) + 0.1f * static_cast<float>(i % 5);
  const int64_t shape[2] = {rows, d};
  io::write_npy(p, io::DType::kF32, shape, std::as_bytes(std::span<const float>(v)));
}

std::string planted(const fs::path& dir, const std::string& extra = "") {
  const auto r = run_cli("crosscoder planted --out " + quoted(dir) + " --rows 20000 --concepts 32 --dim 8 --seed 3 " + extra);
  EXPECT_EQ(r.status, 0) << r.err;
  return "--source A=" + quoted(dir / "A.npy") + " --source B=" + quoted(dir / "B.npy");
}

TEST(CrosscoderCli, BadInputsExitTwoWithOneLine) {
  const fs::path dir = tmp_dir("bad");
  write_matrix(dir / "a.npy", 100, 4, 1);
  write_matrix(dir / "b.npy", 99, 4, 2);
  auto r = run_cli("crosscoder train --source A=" + quoted(dir / "a.npy") + " --source B=" + quoted(dir / "b.npy") +
                   " --out " + quoted(dir / "o1") + " --steps 2 --batch-size 16 --dict-size 8 --k 2");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(testing::is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("b.npy"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("equal row counts"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "o1" / "cfg.json"));

  // A NaN in row 42 of B: rejected by default naming B and the row.
  {
    std::vector<float> v(100 * 4, 0.5f);
    for (int i = 0; i < 400; ++i) v[i] = std::cos(0.3f * static_cast<float>(i));
    v[42 * 4 + 2] = NAN;
    const int64_t shape[2] = {100, 4};
    io::write_npy(dir / "nan.npy", io::DType::kF32, shape, std::as_bytes(std::span<const float>(v)));
  }
  const std::string nan_sources = "--source A=" + quoted(dir / "a.npy") + " --source B=" + quoted(dir / "nan.npy");
  r = run_cli("crosscoder train " + nan_sources + " --out " + quoted(dir / "o2") + " --steps 2 --batch-size 16 --dict-size 8 --k 2");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(testing::is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("row 42"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nan.npy"), std::string::npos) << r.err;
  r = run_cli("crosscoder train " + nan_sources + " --out " + quoted(dir / "o2") +
              " --steps 3 --batch-size 16 --dict-size 8 --k 2 --nonfinite skip --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["rows_skipped_nonfinite"], 1);
  EXPECT_EQ(j["rows_available"], 99);
  EXPECT_TRUE(std::isfinite(j["final"]["loss"].get<double>()));

  // --out holding a run: refused without --resume, and with --resume when the config differs.
  const std::string before = slurp(dir / "o2" / "crosscoder.safetensors");
  r = run_cli("crosscoder train " + nan_sources + " --out " + quoted(dir / "o2") + " --steps 3 --batch-size 16 --dict-size 8 --k 2 --nonfinite skip");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  r = run_cli("crosscoder train " + nan_sources + " --out " + quoted(dir / "o2") +
              " --steps 3 --batch-size 16 --dict-size 16 --k 2 --nonfinite skip --resume");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(testing::is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("dict_size is 8 in the checkpoint, 16 now"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir / "o2" / "crosscoder.safetensors"), before);  // nothing trained was lost

  // A truncated shard of a store source.
  r = run_cli("crosscoder planted --out " + quoted(dir / "st") + " --rows 300 --concepts 8 --dim 4 --format store --shard-rows 128");
  ASSERT_EQ(r.status, 0) << r.err;
  fs::resize_file(dir / "st" / "B" / "resid.1.bin", 100);
  r = run_cli("crosscoder train --source A=" + quoted(dir / "st" / "A") + ":resid --source B=" + quoted(dir / "st" / "B") +
              ":resid --out " + quoted(dir / "o3") + " --steps 2 --batch-size 16 --dict-size 8 --k 2");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(testing::is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("resid.1.bin"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

// Starts the binary with `args` (split on spaces; no quoting needed for these paths) in the background.
pid_t spawn(const std::vector<std::string>& args, const fs::path& err) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    const int nul = ::open("/dev/null", O_WRONLY);
    dup2(nul, 1);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(CROSSTRACE_BINARY));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(CROSSTRACE_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

TEST(CrosscoderCli, SigintThenResumeIsBitIdenticalToAnUninterruptedRun) {
  const fs::path dir = tmp_dir("sigint");
  const std::string sources = planted(dir / "data");
  const std::string opts = " --steps 3000 --batch-size 256 --dict-size 32 --k 3 --checkpoint-every 100 --threads 2 --seed 9";
  auto r = run_cli("crosscoder train " + sources + " --out " + quoted(dir / "ref") + opts);
  ASSERT_EQ(r.status, 0) << r.err;

  std::vector<std::string> args{"crosscoder", "train", "--source", "A=" + (dir / "data" / "A.npy").string(),
                                "--source", "B=" + (dir / "data" / "B.npy").string(), "--out", (dir / "run").string()};
  std::istringstream os(opts);
  for (std::string w; os >> w;) args.push_back(w);
  const pid_t pid = spawn(args, dir / "stderr.txt");
  // Interrupt once the first periodic checkpoint exists (mid-run).
  for (int i = 0; i < 3000 && !fs::exists(dir / "run" / "cfg.json"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << slurp(dir / "stderr.txt");
  const std::string err = slurp(dir / "stderr.txt");
  if (WEXITSTATUS(status) == 0) GTEST_SKIP() << "the run finished before the signal arrived";
  EXPECT_EQ(WEXITSTATUS(status), 130) << err;
  EXPECT_NE(err.find("interrupted after step"), std::string::npos) << err;
  const auto cfg = nlohmann::json::parse(slurp(dir / "run" / "cfg.json"));
  EXPECT_LT(cfg["steps_done"].get<int64_t>(), 3000);
  EXPECT_GT(cfg["steps_done"].get<int64_t>(), 0);

  r = run_cli("crosscoder train " + sources + " --out " + quoted(dir / "run") + opts + " --resume");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("resuming"), std::string::npos) << r.err;
  for (const char* f : {"crosscoder.safetensors", "trainer_state.safetensors", "cfg.json"})
    EXPECT_EQ(slurp(dir / "run" / f), slurp(dir / "ref" / f)) << f;
}

}  // namespace
}  // namespace ct
