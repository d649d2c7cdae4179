// Shared by the MPI tests (tests/mpi/test_*.cpp): the world communicator, a scratch directory
// every rank sees, a synthetic MNIST-shaped data set in IDX files, and the independent serial
// perturbation θ* + αδ + βη that the tests compare the sweep against.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "losscape/directions.hpp"
#include "losscape/model.hpp"
#include "losscape/mpi.hpp"

namespace losscape::testing {

inline const mpi::Comm& world() {
  static mpi::Comm w = mpi::Comm::world();
  return w;
}

inline void write_idx(const std::string& path, std::uint32_t magic,
                      const std::vector<std::uint32_t>& dims, const std::vector<std::uint8_t>& body) {
  std::ofstream o(path, std::ios::binary);
  auto be = [&](std::uint32_t v) {
    char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    o.write(b, 4);
  };
  be(magic);
  for (auto d : dims) be(d);
  o.write(reinterpret_cast<const char*>(body.data()), std::streamsize(body.size()));
}

// PREFIX-images-idx3-ubyte and PREFIX-labels-idx1-ubyte in dir: n 28×28 images whose pixels
// depend on their label (a learnable, non-trivial loss).
inline void write_mnist_split(const std::string& dir, const std::string& prefix, std::uint32_t n,
                              std::mt19937& rng) {
  std::vector<std::uint8_t> px(std::size_t(n) * 784), lb(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    lb[i] = std::uint8_t(rng() % 10);
    for (int p = 0; p < 784; ++p) px[i * 784 + std::size_t(p)] = std::uint8_t((rng() % 64) + 19 * lb[i]);
  }
  write_idx(dir + "/" + prefix + "-images-idx3-ubyte", 0x803, {n, 28, 28}, px);
  write_idx(dir + "/" + prefix + "-labels-idx1-ubyte", 0x801, {n}, lb);
}

// A fresh directory under the temporary folder, made by rank 0 and its path sent to all ranks
// (the ranks of these tests share one host); removed when the owner goes, after every rank is
// done with it.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const std::string& tag) {
    if (world().root()) {
      path = (std::filesystem::temp_directory_path() / (tag + "-" + std::to_string(getpid()))).string();
      std::filesystem::create_directories(path);
    }
    world().bcast(path);
  }
  ~ScratchDir() {
    world().barrier();
    if (world().root()) std::filesystem::remove_all(path);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

// The model's tensors of the directions' kind set to θ* + a·δ (+ b·η for 2D directions) by plain
// float64 arithmetic, independent of the sweep's in-place update.
inline void perturb(Model& m, const Directions& d, double a, double b) {
  auto tensors = m.tensors(d.type);
  torch::NoGradGuard g;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!tensors[i].tensor.is_floating_point()) continue;
    auto v = tensors[i].tensor.to(torch::kFloat64) + a * d.dirs[0][i].tensor.to(torch::kFloat64);
    if (d.dims() == 2) v = v + b * d.dirs[1][i].tensor.to(torch::kFloat64);
    tensors[i].tensor.copy_(v);
  }
}

}  // namespace losscape::testing
