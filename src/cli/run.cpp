// crosstrace run MODEL --image IMG --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-p P]
//                [--seed S] [--task vqa|caption] [--vision-tower DIR] [--raw-prompt] [--json] [--threads N]
//
// Generates the model's answer for one image and prompt (models/vlm_pipeline.h) and prints it.
// --json prints {"answer", "token_ids" (generated ids, a final EOS included), "prompt_ids" (the LM
// input ids, image positions included: one per prefill row), "prompt" (the text tokenised),
// "model", "image", "family"}.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/vlm_args.h"
#include "core/exec_context.h"
#include "models/vlm_pipeline.h"

namespace ct::cli {

int run_run(int argc, char** argv) {
  ArgSpec spec{kVlmInputOptions, kVlmInputFlags, 1, 1,
               "crosstrace run MODEL --image IMG --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-p P] "
               "[--seed S] [--task vqa|caption] [--vision-tower DIR] [--raw-prompt] [--json] [--threads N]"};
  spec.options.insert({"--max-new-tokens", "--temperature", "--top-p", "--seed"});
  const Args args = parse_args(argc, argv, 2, spec);
  const std::string model = args.positional[0];
  const models::GenerationOptions gen = generation_options_from_args(args);
  const models::VlmRequest request = vlm_request_from_args(args);

  ExecContext ctx(args.threads, gen.seed);
  const auto pipeline = models::open_vlm_pipeline(model, vlm_open_options_from_args(args));
  const models::VlmInput input = pipeline->prepare(request);
  const models::VlmAnswer answer = pipeline->generate(input, gen, ctx, models::Hooks{});

  if (args.json) {
    const nlohmann::ordered_json doc = {{"answer", answer.answer},     {"token_ids", answer.token_ids},
                                        {"prompt_ids", input.ids},     {"prompt", input.prompt_text},
                                        {"model", model},              {"image", request.image.string()},
                                        {"family", pipeline->family()}};
    std::cout << doc.dump(2) << '\n';
  } else {
    std::cout << answer.answer << '\n';
  }
  return 0;
}

}  // namespace ct::cli
