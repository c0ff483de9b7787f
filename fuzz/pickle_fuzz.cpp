// libFuzzer target: the restricted unpickler alone (ct::io::check_pickle) over arbitrary bytes.
// Only ct::InputError may escape the code under test; anything else (a crash, a sanitizer report,
// another exception) is a finding. Seeds: fuzz/seeds/pickle/ (data.pkl of tiny state dicts).
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "io/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ct::io::check_pickle(std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz.pkl");
  } catch (const ct::InputError&) {
  }
  return 0;
}
