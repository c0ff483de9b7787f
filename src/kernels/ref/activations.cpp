// Reference activations and softmax.
#include "kernels/ref/activations.h"

#include <cmath>
#include <limits>

namespace ct::kernels::ref {

float gelu_erf(float t) {
  const double x = t;
  return static_cast<float>(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))));
}

float gelu_tanh(float t) {
  const double x = t;
  const double k = std::sqrt(2.0 / 3.14159265358979323846);
  return static_cast<float>(0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x))));
}

float quick_gelu(float t) {
  const double x = t;
  return static_cast<float>(x / (1.0 + std::exp(-1.702 * x)));
}

float silu(float t) {
  const double x = t;
  return static_cast<float>(x / (1.0 + std::exp(-x)));
}

void activate(Activation a, float* x, int64_t n) {
  switch (a) {
    case Activation::kGeluErf:
      for (int64_t i = 0; i < n; ++i) x[i] = gelu_erf(x[i]);
      return;
    case Activation::kGeluTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = gelu_tanh(x[i]);
      return;
    case Activation::kQuickGelu:
      for (int64_t i = 0; i < n; ++i) x[i] = quick_gelu(x[i]);
      return;
    case Activation::kSilu:
      for (int64_t i = 0; i < n; ++i) x[i] = silu(x[i]);
      return;
  }
}

bool parse_activation(std::string_view name, Activation& out) {
  if (name == "gelu") out = Activation::kGeluErf;
  else if (name == "gelu_pytorch_tanh" || name == "gelu_new") out = Activation::kGeluTanh;
  else if (name == "quick_gelu") out = Activation::kQuickGelu;
  else if (name == "silu" || name == "swish") out = Activation::kSilu;
  else return false;
  return true;
}

void softmax_rows(float* x, int64_t n, int64_t d) {
  for (int64_t r = 0; r < n; ++r) {
    float* xr = x + r * d;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < d; ++i) mx = xr[i] > mx ? xr[i] : mx;
    if (mx == -std::numeric_limits<float>::infinity()) mx = 0.0f;  // fully masked row: stays 0/0 = NaN
    double sum = 0.0;
    for (int64_t i = 0; i < d; ++i) {
      xr[i] = std::exp(xr[i] - mx);
      sum += xr[i];
    }
    const double inv = 1.0 / sum;
    for (int64_t i = 0; i < d; ++i) xr[i] = static_cast<float>(xr[i] * inv);
  }
}

}  // namespace ct::kernels::ref
