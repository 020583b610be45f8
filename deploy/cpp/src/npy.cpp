#include "caloforge/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace caloforge {
namespace {

[[noreturn]] void Fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

size_t ItemSize(const std::string& descr) {
  if (descr == "<f4" || descr == "<i4") return 4;
  if (descr == "<f8" || descr == "<i8") return 8;
  return 0;
}

// The quoted value after `key` in the header dictionary, e.g. 'descr': '<f4'.
std::string QuotedValue(const std::string& header, const std::string& key,
                        const std::string& path) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) Fail(path, "npy header has no '" + key + "' entry");
  const size_t open = header.find('\'', header.find(':', k) + 1);
  const size_t close = header.find('\'', open + 1);
  if (open == std::string::npos || close == std::string::npos) {
    Fail(path, "npy header entry '" + key + "' is not a quoted string");
  }
  return header.substr(open + 1, close - open - 1);
}

template <typename T>
T Element(const std::vector<char>& bytes, int64_t i) {
  T v;
  std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
  return v;
}

template <typename Out>
std::vector<Out> Convert(const NpyArray& a) {
  const int64_t n = a.Size();
  std::vector<Out> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (a.descr == "<f4") out[i] = static_cast<Out>(Element<float>(a.bytes, i));
    else if (a.descr == "<f8") out[i] = static_cast<Out>(Element<double>(a.bytes, i));
    else if (a.descr == "<i4") out[i] = static_cast<Out>(Element<int32_t>(a.bytes, i));
    else out[i] = static_cast<Out>(Element<int64_t>(a.bytes, i));
  }
  return out;
}

}  // namespace

int64_t NpyArray::Size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> NpyArray::AsFloat32() const { return Convert<float>(*this); }
std::vector<double> NpyArray::AsFloat64() const { return Convert<double>(*this); }
std::vector<int64_t> NpyArray::AsInt64() const {
  if (descr != "<i4" && descr != "<i8") {
    throw std::runtime_error("npy array of type " + descr + " where integers were expected");
  }
  return Convert<int64_t>(*this);
}

NpyArray ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path, "cannot open for reading");
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) Fail(path, "not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(magic[6]);
  size_t header_len = 0;
  if (major == 1) {
    unsigned char len[2];
    in.read(reinterpret_cast<char*>(len), 2);
    header_len = len[0] | (static_cast<size_t>(len[1]) << 8);
  } else if (major == 2 || major == 3) {
    unsigned char len[4];
    in.read(reinterpret_cast<char*>(len), 4);
    header_len = len[0] | (static_cast<size_t>(len[1]) << 8) |
                 (static_cast<size_t>(len[2]) << 16) | (static_cast<size_t>(len[3]) << 24);
  } else {
    Fail(path, "unsupported .npy version " + std::to_string(major) + " (expected 1, 2 or 3)");
  }
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  if (!in) Fail(path, "truncated .npy header");

  NpyArray a;
  a.descr = QuotedValue(header, "descr", path);
  if (ItemSize(a.descr) == 0) {
    Fail(path, "dtype " + a.descr + " not supported (expected <f4, <f8, <i4 or <i8)");
  }
  const size_t fo = header.find("'fortran_order'");
  const size_t fo_value = fo == std::string::npos
                              ? std::string::npos
                              : header.find_first_not_of(" ", header.find(':', fo) + 1);
  if (fo_value == std::string::npos || header.compare(fo_value, 5, "False") != 0) {
    Fail(path, "'fortran_order' must be False (C order)");
  }
  const size_t sh = header.find("'shape'");
  const size_t open = header.find('(', sh);
  const size_t close = header.find(')', open);
  if (sh == std::string::npos || open == std::string::npos || close == std::string::npos) {
    Fail(path, "npy header has no 'shape' tuple");
  }
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  std::string item;
  while (std::getline(dims, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos) continue;
    a.shape.push_back(std::stoll(item));
  }
  const size_t n_bytes = static_cast<size_t>(a.Size()) * ItemSize(a.descr);
  a.bytes.resize(n_bytes);
  in.read(a.bytes.data(), static_cast<std::streamsize>(n_bytes));
  if (static_cast<size_t>(in.gcount()) != n_bytes) {
    Fail(path, "holds fewer bytes than its shape needs");
  }
  return a;
}

void WriteNpyFloat32(const std::string& path, const std::vector<float>& data, int64_t rows,
                     int64_t cols) {
  if (static_cast<int64_t>(data.size()) != rows * cols) {
    Fail(path, "data size does not match shape (" + std::to_string(rows) + ", " +
                   std::to_string(cols) + ")");
  }
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  if (!out) Fail(path, "cannot open for writing");
  out.write("\x93NUMPY\x01\x00", 8);
  const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xff),
                                static_cast<unsigned char>(header.size() >> 8)};
  out.write(reinterpret_cast<const char*>(len), 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()),
            static_cast<std::streamsize>(data.size() * sizeof(float)));
  if (!out) Fail(path, "write failed");
}

}  // namespace caloforge
