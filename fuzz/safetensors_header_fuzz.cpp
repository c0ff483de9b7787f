// libFuzzer target: parse_safetensors_header over arbitrary bytes taken as a whole file image.
//
// An InputError is the expected outcome for malformed input. Anything else is a bug: another
// exception escaping (libFuzzer reports it as a crash through std::terminate), a sanitizer report,
// or a header that was accepted although it breaks the promises checked below (CT_CHECK aborts).
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "io/dtype.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  try {
    const ct::io::SafetensorsHeader h = ct::io::parse_safetensors_header(file, "fuzz-input");
    // Promises of an accepted header: every tensor lies inside the data area, and its byte size
    // is numel * dtype size.
    CT_CHECK(h.data_offset >= 8 && h.data_offset <= size);
    const uint64_t data_size = size - h.data_offset;
    for (const auto& t : h.tensors) {
      CT_CHECK(t.begin <= t.end && t.end <= data_size, t.name);
      uint64_t bytes = ct::io::dtype_size(t.dtype);
      for (int64_t d : t.shape) {
        CT_CHECK(d >= 0);
        CT_CHECK(!__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes));
      }
      CT_CHECK(bytes == t.end - t.begin);
    }
  } catch (const ct::InputError&) {
    // Malformed input, rejected as it should be.
  }
  return 0;
}
