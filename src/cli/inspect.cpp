// crosstrace inspect MODEL [--json]
#include <cstdio>
#include <iostream>

#include "anatomy/anatomy.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "io/checkpoint.h"
#include "models/model_hooks.h"
#include "report/anatomy_report.h"

namespace ct::cli {

int run_inspect(int argc, char** argv) {
  const ArgSpec spec{{}, {}, 1, 1, "crosstrace inspect MODEL [--json]"};
  const Args args = parse_args(argc, argv, 2, spec);
  const std::filesystem::path model = args.positional[0];
  const io::TensorStore store = io::open_checkpoint(model);
  anatomy::Anatomy a = anatomy::describe_model(store, io::model_directory(model));
  const models::ModelHooks hooks = models::list_model_hooks(model);
  a.hooks = hooks.names;
  if (!hooks.note.empty()) a.notes.push_back("hooks: " + hooks.note);
  if (args.json) {
    std::cout << report::anatomy_to_json(a).dump(2) << '\n';
  } else {
    std::cout << report::anatomy_text(a);
  }
  return 0;
}

}  // namespace ct::cli
