// crosstrace demo [--out DIR]: writes the embedded tiny pair (models/demo_pair.h) under DIR
// (default ./crosstrace-demo) and shows their anatomies side by side. Later stages (lineage,
// features, the report) join as `compare` grows.
#include <iostream>

#include "anatomy/anatomy.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "io/checkpoint.h"
#include "models/demo_pair.h"
#include "report/anatomy_report.h"

namespace ct::cli {

int run_demo(int argc, char** argv) {
  const ArgSpec spec{{"--out"}, {}, 0, 0, "crosstrace demo [--out DIR] [--json]"};
  const Args args = parse_args(argc, argv, 2, spec);
  const std::filesystem::path out = args.get("--out", "crosstrace-demo");
  const models::DemoPairPaths paths = models::write_demo_pair(out);
  const io::TensorStore llava_store = io::open_checkpoint(paths.llava);
  const io::TensorStore mplug_store = io::open_checkpoint(paths.mplug);
  const anatomy::Anatomy llava = anatomy::describe_model(llava_store, paths.llava);
  const anatomy::Anatomy mplug = anatomy::describe_model(mplug_store, paths.mplug);
  if (args.json) {
    std::cout << nlohmann::ordered_json{{"models", {report::anatomy_to_json(mplug), report::anatomy_to_json(llava)}}}.dump(2)
              << '\n';
    return 0;
  }
  std::cout << "crosstrace demo: anatomy of a tiny mPLUG-style model (deep fusion) and a tiny\n"
               "LLaVA-1.5-style model (early fusion) that share one CLIP vision tower.\n\n";
  std::cout << report::anatomy_side_by_side(mplug, llava);
  std::cout << "\nThe models are in " << std::filesystem::absolute(out).string()
            << "; `crosstrace inspect DIR` shows one in full.\n";
  return 0;
}

}  // namespace ct::cli
