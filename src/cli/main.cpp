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
    "  demo [--out DIR]         compare on the tiny embedded pair and generated images; writes a report\n"
    "  trace MODEL_A MODEL_B [MODEL_C ...] [--seed S] [--samples N]\n"
    "                           lineage tests between every pair: shared weights per component\n"
    "  run MODEL --image IMG --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-p P]\n"
    "      [--seed S] [--task vqa|caption] [--vision-tower DIR] [--raw-prompt]\n"
    "                           generate the model's answer (LLaVA-1.5 chat; --prompt is the question,\n"
    "                           or with --raw-prompt the whole prompt with exactly one <image>)\n"
    "  harvest MODEL --hooks H1,H2,...|all --image IMG --prompt TEXT --out FILE.safetensors\n"
    "                           capture hook points of one forward pass into a safetensors file\n"
    "  harvest MODEL --hooks H1,H2,... --image IMG --prompt TEXT --out STORE/ [--dtype f32|f16|bf16]\n"
    "                           append them to an activation store (rows pair by token across hooks)\n"
    "  harvest MODEL --hooks H1,H2,... --data DIR [--prompt TEXT] [--max-inputs N] [--compact-inputs K] --out STORE/\n"
    "                           every *.png/*.jpg of DIR (name order) with its line of DIR/prompts.txt (or\n"
    "                           one line or --prompt for all) into a store; a rerun resumes where it stopped\n"
    "  compare MODEL_A MODEL_B [--data DIR] --out REPORT_DIR [--force]\n"
    "                           anatomy, lineage and features; writes report.html, report.md, report.json\n"
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
  if (command == "run") return ct::cli::run_run(argc, argv);
  if (command == "harvest") return ct::cli::run_harvest(argc, argv);
  if (command == "compare") return ct::cli::run_compare(argc, argv);
  if (command == "crosscoder") return ct::cli::run_crosscoder(argc, argv);
  throw ct::InputError(command, "unknown command; the commands are: inspect, demo, trace, run, harvest, compare, crosscoder (see crosstrace --help)");
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
