// Instruction-set levels of the optimised CPU kernels and the one-time choice among them.
//
// Every op in kernels/cpu/ has a portable path and, where the CPU supports it, an AVX2+FMA(+F16C)
// path and an AVX-512F path, each compiled with a function-level target attribute (the build never
// needs -march=native). The op picks its path once per call from best_isa() (detected once per
// process and cached in a function-local constant), never inside inner loops. Tests pass an
// explicit Isa to compare every supported path against its reference twin.
//
// Thread-safety: pure functions. Failure: none (asking for an unsupported Isa is a CT_CHECK in the
// ops that take one).
#pragma once

namespace ct::kernels::cpu {

enum class Isa { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

// True when this CPU can run `isa`.
bool isa_supported(Isa isa);
// The widest supported level (AVX-512F > AVX2+FMA+F16C > portable), detected once.
Isa best_isa();
const char* isa_name(Isa isa);

}  // namespace ct::kernels::cpu
