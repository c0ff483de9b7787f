// libFuzzer target: a whole torch.save zip file (ct::io::read_torch_checkpoint_bytes): zip
// directory, local headers, inflate, data.pkl, state dict and tensor views. Every tensor byte is
// read so that AddressSanitizer sees any view outside the input. Only ct::InputError may escape.
// Seeds: fuzz/seeds/torch_zip/ (tiny .pth files written by torch.save).
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "io/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ct::io::TensorStore store("fuzz.pth");
    ct::io::read_torch_checkpoint_bytes(std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz.pth", store, nullptr);
    unsigned sum = 0;
    for (const auto& e : store.entries()) {
      for (std::byte b : e.data) sum += std::to_integer<unsigned>(b);
    }
    volatile unsigned sink = sum;
    (void)sink;
  } catch (const ct::InputError&) {
  }
  return 0;
}
