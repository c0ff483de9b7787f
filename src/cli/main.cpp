// crosstrace: one binary, subcommands (CONTRACTS.md section 1). Exit status: 0 success, 1 runtime
// failure, 2 bad usage or bad input, with a one-line message naming the file and the problem.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "cli/commands.h"
#include "core/error.h"

namespace {

constexpr const char* kUsage =
    "usage: crosstrace <command> [options]\n"
    "commands:\n"
    "  inspect MODEL [--json]   architecture, components, parameter counts, dtypes, config\n"
    "  demo [--out DIR]         the tiny embedded pair, side by side\n"
    "  trace MODEL_A MODEL_B [MODEL_C ...] [--seed S] [--samples N]\n"
    "                           lineage tests between every pair: shared weights per component\n"
    "  crosscoder train|analyze|export|planted ...\n"
    "                           sparse crosscoders: train on paired activations, model-diffing statistics,\n"
    "                           SAELens / dictionary_learning export, planted demo data (crosstrace crosscoder)\n"
    "every command accepts --json and --threads N\n";

int dispatch(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  if (command == "inspect") return ct::cli::run_inspect(argc, argv);
  if (command == "demo") return ct::cli::run_demo(argc, argv);
  if (command == "trace") return ct::cli::run_trace(argc, argv);
  if (command == "crosscoder") return ct::cli::run_crosscoder(argc, argv);
  throw ct::InputError(command, "unknown command; the commands are: inspect, demo, trace, crosscoder (see crosstrace --help)");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const ct::InputError& e) {
    std::fprintf(stderr, "crosstrace: error: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "crosstrace: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crosstrace: error: %s\n", e.what());
    return 1;
  }
}
