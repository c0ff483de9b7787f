// The CLI as a user meets it: demo, inspect, and bad arguments (exit status 2, one line).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"

namespace ct::testing {
namespace {

namespace fs = std::filesystem;

fs::path tmp(const std::string& name) {
  const fs::path p = fs::path(CROSSTRACE_TEST_TMP) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TEST(Cli, DemoShowsBothAnatomiesSideBySide) {
  const fs::path out = tmp("cli_demo");
  const CliResult r = run_cli("demo --out " + quoted(out));
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* needle : {"mplug", "llava", "deep", "early", "vision_encoder", "fusion", "projector", "language_model",
                             "decoder", "co,co,connected"}) {
    EXPECT_NE(r.out.find(needle), std::string::npos) << needle << "\n" << r.out;
  }
}

TEST(Cli, DemoPairSharesOneVisionTowerWithDifferentLanguageSides) {
  const fs::path out = tmp("cli_demo_json");
  const CliResult r = run_cli("demo --json --out " + quoted(out));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["models"].size(), 2u);
  const auto& mplug = j["models"][0];
  const auto& llava = j["models"][1];
  EXPECT_EQ(mplug["family"], "mplug");
  EXPECT_EQ(llava["family"], "llava");
  auto component = [](const nlohmann::json& m, const std::string& name) {
    for (const auto& c : m["components"]) {
      if (c["name"] == name) return c;
    }
    return nlohmann::json();
  };
  EXPECT_EQ(component(mplug, "vision_encoder")["parameters"], component(llava, "vision_encoder")["parameters"]);
  EXPECT_EQ(component(mplug, "vision_encoder")["config"]["tokens"], 17);
  EXPECT_EQ(llava["config"]["image_tokens"], 16);
  EXPECT_EQ(component(mplug, "fusion")["config"]["schedule"], "co,co,connected");
  EXPECT_TRUE(component(llava, "fusion").is_null());
  // inspect on the written directory agrees with what demo reported.
  const CliResult again = run_cli("inspect --json " + quoted(out / "llava_tiny"));
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["total_parameters"], llava["total_parameters"]);
}

TEST(Cli, BadArgumentsAndMissingInputsExitTwoWithOneLine) {
  const fs::path empty = tmp("cli_empty_dir");
  const std::string cases[] = {
      "",                                       // no command
      "frobnicate",                             // unknown command
      "inspect",                                // missing MODEL
      "inspect a b",                            // too many
      "inspect --bogus x",                      // unknown option
      "inspect x --threads zero",               // bad number
      "inspect /definitely/not/here",           // missing file
      "inspect " + quoted(empty),               // no checkpoint in the directory
      "demo --out",                             // option without value
  };
  for (const auto& args : cases) {
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.status, 2) << args;
    if (!args.empty()) {
      EXPECT_TRUE(is_one_line(r.err)) << args << ": " << r.err;
    }
  }
  const CliResult missing = run_cli("inspect /definitely/not/here");
  EXPECT_NE(missing.err.find("/definitely/not/here"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace ct::testing
