// The subcommands of the `crosstrace` binary, one file each. Each returns the exit status and
// throws InputError for bad input (main turns it into exit status 2).
#pragma once

namespace ct::cli {

int run_inspect(int argc, char** argv);  // crosstrace inspect MODEL [--json]
int run_demo(int argc, char** argv);     // crosstrace demo [--out DIR]
int run_trace(int argc, char** argv);    // crosstrace trace MODEL_A MODEL_B [MODEL_C ...]
int run_run(int argc, char** argv);      // crosstrace run MODEL --image IMG --prompt TEXT
int run_harvest(int argc, char** argv);  // crosstrace harvest MODEL --hooks ... --out FILE.safetensors
int run_compare(int argc, char** argv);  // crosstrace compare MODEL_A MODEL_B [--data DIR] --out REPORT_DIR
int run_crosscoder(int argc, char** argv);  // crosstrace crosscoder train|analyze|export|planted

}  // namespace ct::cli
