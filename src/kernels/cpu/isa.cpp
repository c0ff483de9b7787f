// CPU feature detection through the compiler's cpuid builtins, cached once per process.
#include "kernels/cpu/isa.h"

#include <cpuid.h>

namespace ct::kernels::cpu {
namespace {

// F16C (CPUID leaf 1, ECX bit 29) read directly: clang 14's __builtin_cpu_supports has no "f16c".
bool has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

bool detect(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    case Isa::kAvx512:
      return detect(Isa::kAvx2) && __builtin_cpu_supports("avx512f");
  }
  return false;
}

}  // namespace

// Cached: every op checks its Isa, and CPUID traps to the hypervisor on a virtual machine (about a
// microsecond each, 0.8 % of a LLaMA decode step when it was asked per call).
bool isa_supported(Isa isa) {
  static const bool kAvx2 = detect(Isa::kAvx2), kAvx512 = detect(Isa::kAvx512);
  switch (isa) {
    case Isa::kPortable: return true;
    case Isa::kAvx2: return kAvx2;
    case Isa::kAvx512: return kAvx512;
  }
  return false;
}

Isa best_isa() {
  static const Isa kBest = isa_supported(Isa::kAvx512) ? Isa::kAvx512
                           : isa_supported(Isa::kAvx2) ? Isa::kAvx2
                                                       : Isa::kPortable;
  return kBest;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kPortable: return "portable";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

}  // namespace ct::kernels::cpu
