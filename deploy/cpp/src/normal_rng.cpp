#include "caloforge/normal_rng.h"

#include <cmath>

namespace caloforge {

double NormalRng::Uniform() {
  // top 53 bits of one 64-bit draw, shifted to (0, 1] so that log() is finite
  return (static_cast<double>(engine_() >> 11) + 1.0) * 0x1.0p-53;
}

void NormalRng::Fill(float* out, size_t n) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for (size_t i = 0; i < n; ++i) {
    if (has_spare_) {
      out[i] = static_cast<float>(spare_);
      has_spare_ = false;
      continue;
    }
    const double radius = std::sqrt(-2.0 * std::log(Uniform()));
    const double angle = kTwoPi * (Uniform() - 0.5);
    out[i] = static_cast<float>(radius * std::cos(angle));
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
  }
}

}  // namespace caloforge
