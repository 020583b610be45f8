// caloforge::ShowerGenerator -- a calorimeter-shower generator exported by
// `caloforge export --format aoti` (an AOTInductor .pt2 package), called from C++.
//
// Shaped like a Geant4 fast-simulation model's inference step: a framework's
// G4VFastSimulationModel::DoIt (or a DDML inference interface) holds one ShowerGenerator
// per worker thread and calls Generate(energy, config) per particle, or the batched form.
//
// Units and shapes (as in the Python package):
//   energy          incident energy in MeV (trained range: Info().energy_min_mev..max)
//   config          alignment configuration, 0..n_configs-1 (0 for models without one)
//   noise           independent standard normals, n * noise_dim floats, row-major
//   conditions      n * cond_dim floats: column 0 = (ln(E/MeV) - centre) / half_width,
//                   then a one-hot of the configuration when n_configs > 1
//   cells           n * n_cells floats, visible energy per cell in MeV, in the geometry's
//                   flattening order (the package metadata key "output" describes it)
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "caloforge/normal_rng.h"

namespace torch::inductor {
class AOTIModelPackageLoader;
}

namespace caloforge {

// What the package's metadata says about the generator (read from the .pt2 itself).
struct GeneratorInfo {
  std::string family;
  std::string particle;
  std::string geometry_name;
  int64_t noise_dim = 0;
  int64_t cond_dim = 0;
  int64_t n_cells = 0;
  int64_t n_configs = 1;
  double centre = 0.0;      // of ln(E / MeV)
  double half_width = 1.0;  // of ln(E / MeV)
  double energy_min_mev = 0.0;
  double energy_max_mev = 0.0;
};

// Sets LibTorch's intra-op thread count (process-wide, as at::set_num_threads).
void SetIntraOpThreads(int threads);

class ShowerGenerator {
 public:
  // Loads `package_path` (.pt2); `seed` seeds the noise of Generate without explicit noise.
  // Throws std::runtime_error naming the file and key when the package is not a caloforge one.
  explicit ShowerGenerator(const std::string& package_path, uint64_t seed = 0);
  ~ShowerGenerator();
  ShowerGenerator(const ShowerGenerator&) = delete;
  ShowerGenerator& operator=(const ShowerGenerator&) = delete;

  const GeneratorInfo& Info() const { return info_; }
  // Every metadata entry of the package (nested values are JSON strings).
  const std::map<std::string, std::string>& Metadata() const { return metadata_; }

  // Batch size one: n_cells floats (MeV) for one particle, noise from the own RNG.
  std::vector<float> Generate(double energy_mev, int config = 0);
  // Batched: energies.size() showers, row-major (n, n_cells); `configs` is empty (all 0) or
  // one per energy.
  std::vector<float> Generate(const std::vector<double>& energies,
                              const std::vector<int>& configs);
  // Batched with the caller's noise (n * noise_dim standard normals): the same showers as the
  // Python back-ends give for the same noise.
  std::vector<float> Generate(const std::vector<double>& energies,
                              const std::vector<int>& configs,
                              const std::vector<float>& noise);

  // The pieces Generate is made of, for callers that time or reuse them.
  std::vector<float> EncodeConditions(const std::vector<double>& energies,
                                      const std::vector<int>& configs) const;
  std::vector<float> DrawNoise(size_t n);
  // Forward pass: (n, noise_dim) noise and (n, cond_dim) conditions -> (n, n_cells) MeV.
  std::vector<float> Run(const std::vector<float>& noise,
                         const std::vector<float>& conditions, size_t n);

  bool InTrainedRange(double energy_mev) const;

 private:
  std::string path_;
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
  std::map<std::string, std::string> metadata_;
  GeneratorInfo info_;
  NormalRng rng_;
};

}  // namespace caloforge
