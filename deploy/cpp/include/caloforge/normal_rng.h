// caloforge::NormalRng -- standard-normal floats from a seeded std::mt19937_64, by the
// Box-Muller transform written out here (std::normal_distribution's algorithm differs between
// standard libraries; this one gives the same stream with any conforming compiler).
// It is not torch.randn's stream: to reproduce Python's showers, pass Python's noise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>

namespace caloforge {

class NormalRng {
 public:
  explicit NormalRng(uint64_t seed) : engine_(seed) {}
  // Fills out[0..n) with independent standard normals.
  void Fill(float* out, size_t n);

 private:
  double Uniform();  // in (0, 1], 53 random bits
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace caloforge
