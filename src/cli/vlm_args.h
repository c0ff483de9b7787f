// The options `run` and `harvest` share to describe one image + prompt input, and number parsing
// for the generation options.
//
// Failure: InputError naming the option ("--max-new-tokens", ...) for a malformed or out-of-range
// value. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "cli/args.h"
#include "models/generate.h"
#include "models/vlm_pipeline.h"

namespace ct::cli {

// Options taking a value / flags that describe the input (added to a command's ArgSpec).
inline const std::set<std::string> kVlmInputOptions = {"--image", "--prompt", "--task", "--vision-tower"};
inline const std::set<std::string> kVlmInputFlags = {"--raw-prompt"};

models::VlmRequest vlm_request_from_args(const Args& args);
models::VlmOpenOptions vlm_open_options_from_args(const Args& args);

// --max-new-tokens (default 128, as LLaVA's eval loader), --temperature (0: greedy), --top-p, --seed.
models::GenerationOptions generation_options_from_args(const Args& args);

int64_t parse_int_option(const std::string& option, const std::string& value);
double parse_float_option(const std::string& option, const std::string& value);
uint64_t parse_u64_option(const std::string& option, const std::string& value);

}  // namespace ct::cli
