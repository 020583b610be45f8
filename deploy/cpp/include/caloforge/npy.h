// caloforge .npy reading and writing: NumPy's format (version 1-3 headers, little-endian,
// C order) for float32, float64, int32 and int64 arrays -- what the Python side reads with
// numpy.load and writes with numpy.save.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace caloforge {

struct NpyArray {
  std::string descr;            // '<f4', '<f8', '<i4' or '<i8'
  std::vector<int64_t> shape;   // C order
  std::vector<char> bytes;      // element data, little-endian

  int64_t Size() const;
  std::vector<float> AsFloat32() const;   // converts from any of the four types
  std::vector<double> AsFloat64() const;
  std::vector<int64_t> AsInt64() const;   // integer types only
};

// Throws std::runtime_error naming the file and what was expected.
NpyArray ReadNpy(const std::string& path);
// Writes a float32 array of shape (rows, cols).
void WriteNpyFloat32(const std::string& path, const std::vector<float>& data, int64_t rows,
                     int64_t cols);

}  // namespace caloforge
