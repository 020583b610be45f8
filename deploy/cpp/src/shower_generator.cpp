#include "caloforge/shower_generator.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <cmath>
#include <fstream>
#include <stdexcept>

namespace caloforge {
namespace {

constexpr const char* kFormat = "caloforge-aoti-generator/1";

std::string Required(const std::map<std::string, std::string>& meta, const std::string& key,
                     const std::string& path) {
  auto it = meta.find(key);
  if (it == meta.end()) {
    throw std::runtime_error(path + ": package metadata has no key '" + key +
                             "'; export the model with `caloforge export --format aoti`");
  }
  return it->second;
}

int64_t RequiredInt(const std::map<std::string, std::string>& meta, const std::string& key,
                    const std::string& path) {
  const std::string text = Required(meta, key, path);
  size_t used = 0;
  const int64_t v = std::stoll(text, &used);
  if (used != text.size()) {
    throw std::runtime_error(path + ": metadata key '" + key + "' = '" + text +
                             "' is not an integer");
  }
  return v;
}

double RequiredDouble(const std::map<std::string, std::string>& meta, const std::string& key,
                      const std::string& path) {
  const std::string text = Required(meta, key, path);
  size_t used = 0;
  const double v = std::stod(text, &used);
  if (used != text.size() || !std::isfinite(v)) {
    throw std::runtime_error(path + ": metadata key '" + key + "' = '" + text +
                             "' is not a finite number");
  }
  return v;
}

}  // namespace

void SetIntraOpThreads(int threads) {
  if (threads < 1) throw std::invalid_argument("threads must be >= 1");
  at::set_num_threads(threads);
}

ShowerGenerator::ShowerGenerator(const std::string& package_path, uint64_t seed)
    : path_(package_path), rng_(seed) {
  if (!std::ifstream(package_path, std::ios::binary)) {
    throw std::runtime_error(path_ + ": cannot open the model package for reading");
  }
  try {
    for (const auto& [key, value] :
         torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(package_path,
                                                                              "model")) {
      metadata_[key] = value;
    }
  } catch (const c10::Error& exc) {
    throw std::runtime_error(path_ + ": not a readable AOTInductor package (" +
                             exc.what_without_backtrace() + ")");
  }
  const std::string format = Required(metadata_, "caloforge_format", path_);
  if (format != kFormat) {
    throw std::runtime_error(path_ + ": metadata 'caloforge_format' is '" + format +
                             "', expected '" + kFormat + "'");
  }
  info_.family = Required(metadata_, "family", path_);
  info_.particle = Required(metadata_, "particle", path_);
  info_.geometry_name = Required(metadata_, "geometry_name", path_);
  info_.noise_dim = RequiredInt(metadata_, "cpp.noise_dim", path_);
  info_.cond_dim = RequiredInt(metadata_, "cpp.cond_dim", path_);
  info_.n_cells = RequiredInt(metadata_, "cpp.n_cells", path_);
  info_.n_configs = RequiredInt(metadata_, "cpp.n_configs", path_);
  info_.centre = RequiredDouble(metadata_, "cpp.centre", path_);
  info_.half_width = RequiredDouble(metadata_, "cpp.half_width", path_);
  info_.energy_min_mev = RequiredDouble(metadata_, "cpp.energy_min_mev", path_);
  info_.energy_max_mev = RequiredDouble(metadata_, "cpp.energy_max_mev", path_);
  const int64_t expected_cond = 1 + (info_.n_configs > 1 ? info_.n_configs : 0);
  if (info_.cond_dim != expected_cond || info_.noise_dim < 1 || info_.n_cells < 1 ||
      info_.half_width <= 0.0) {
    throw std::runtime_error(path_ + ": inconsistent metadata (cpp.cond_dim " +
                             std::to_string(info_.cond_dim) + ", expected " +
                             std::to_string(expected_cond) + ")");
  }
  try {
    loader_ = std::make_unique<torch::inductor::AOTIModelPackageLoader>(package_path, "model");
  } catch (const c10::Error& exc) {
    throw std::runtime_error(path_ + ": cannot load the compiled model (" +
                             exc.what_without_backtrace() + ")");
  }
}

ShowerGenerator::~ShowerGenerator() = default;

bool ShowerGenerator::InTrainedRange(double energy_mev) const {
  constexpr double kRtol = 1e-6;  // as caloforge.models.ConditionEncoding.in_range
  return energy_mev >= info_.energy_min_mev * (1 - kRtol) &&
         energy_mev <= info_.energy_max_mev * (1 + kRtol);
}

std::vector<float> ShowerGenerator::EncodeConditions(const std::vector<double>& energies,
                                                     const std::vector<int>& configs) const {
  const size_t n = energies.size();
  if (!configs.empty() && configs.size() != n) {
    throw std::invalid_argument("configs has " + std::to_string(configs.size()) +
                                " entries for " + std::to_string(n) + " energies");
  }
  const size_t dim = static_cast<size_t>(info_.cond_dim);
  std::vector<float> cond(n * dim, 0.0f);
  for (size_t i = 0; i < n; ++i) {
    const double e = energies[i];
    if (!std::isfinite(e) || e <= 0.0) {
      throw std::invalid_argument("energies must be positive and finite (MeV), got " +
                                  std::to_string(e));
    }
    // in double, then rounded once to float32: as the Python encoding does
    cond[i * dim] = static_cast<float>((std::log(e) - info_.centre) / info_.half_width);
    const int c = configs.empty() ? 0 : configs[i];
    if (c < 0 || c >= info_.n_configs) {
      throw std::invalid_argument("config must be in 0.." + std::to_string(info_.n_configs - 1) +
                                  ", got " + std::to_string(c));
    }
    if (info_.n_configs > 1) cond[i * dim + 1 + static_cast<size_t>(c)] = 1.0f;
  }
  return cond;
}

std::vector<float> ShowerGenerator::DrawNoise(size_t n) {
  std::vector<float> noise(n * static_cast<size_t>(info_.noise_dim));
  rng_.Fill(noise.data(), noise.size());
  return noise;
}

std::vector<float> ShowerGenerator::Run(const std::vector<float>& noise,
                                        const std::vector<float>& conditions, size_t n) {
  const auto rows = static_cast<int64_t>(n);
  if (noise.size() != n * static_cast<size_t>(info_.noise_dim)) {
    throw std::invalid_argument("noise has " + std::to_string(noise.size()) + " values; expected " +
                                std::to_string(n) + " x " + std::to_string(info_.noise_dim));
  }
  if (conditions.size() != n * static_cast<size_t>(info_.cond_dim)) {
    throw std::invalid_argument("conditions have " + std::to_string(conditions.size()) +
                                " values; expected " + std::to_string(n) + " x " +
                                std::to_string(info_.cond_dim));
  }
  if (n == 0) return {};
  c10::InferenceMode guard;
  // from_blob views the caller's memory; the compiled graph only reads its inputs
  auto z = at::from_blob(const_cast<float*>(noise.data()), {rows, info_.noise_dim}, at::kFloat);
  auto c = at::from_blob(const_cast<float*>(conditions.data()), {rows, info_.cond_dim},
                         at::kFloat);
  std::vector<at::Tensor> outputs = loader_->run({z, c});
  if (outputs.size() != 1) {
    throw std::runtime_error(path_ + ": model returned " + std::to_string(outputs.size()) +
                             " outputs, expected 1 (cells)");
  }
  at::Tensor cells = outputs[0].to(at::kFloat).contiguous();
  if (cells.dim() != 2 || cells.size(0) != rows || cells.size(1) != info_.n_cells) {
    throw std::runtime_error(path_ + ": model output has shape " + std::to_string(cells.size(0)) +
                             " x " + std::to_string(cells.size(1)) + ", expected " +
                             std::to_string(rows) + " x " + std::to_string(info_.n_cells));
  }
  const float* data = cells.data_ptr<float>();
  return std::vector<float>(data, data + cells.numel());
}

std::vector<float> ShowerGenerator::Generate(double energy_mev, int config) {
  return Generate(std::vector<double>{energy_mev}, std::vector<int>{config});
}

std::vector<float> ShowerGenerator::Generate(const std::vector<double>& energies,
                                             const std::vector<int>& configs) {
  std::vector<float> cond = EncodeConditions(energies, configs);
  return Run(DrawNoise(energies.size()), cond, energies.size());
}

std::vector<float> ShowerGenerator::Generate(const std::vector<double>& energies,
                                             const std::vector<int>& configs,
                                             const std::vector<float>& noise) {
  return Run(noise, EncodeConditions(energies, configs), energies.size());
}

}  // namespace caloforge
