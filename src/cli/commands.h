// The subcommands of the `crosstrace` binary, one file each. Each returns the exit status and
// throws InputError for bad input (main turns it into exit status 2).
#pragma once

namespace ct::cli {

int run_inspect(int argc, char** argv);  // crosstrace inspect MODEL [--json]
int run_demo(int argc, char** argv);     // crosstrace demo [--out DIR]
int run_trace(int argc, char** argv);    // crosstrace trace MODEL_A MODEL_B [MODEL_C ...]
int run_crosscoder(int argc, char** argv);  // crosstrace crosscoder train|analyze|export|planted

}  // namespace ct::cli
