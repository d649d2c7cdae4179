// Data sets: CIFAR-10 (binary version) and IDX (MNIST, Fashion-MNIST, gzip or not) readers,
// normalization, deterministic subsets and shards. A split is decoded once into one resident
// tensor on the chosen device and reused for every evaluation.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace losscape {

/// Which data, which part of it, and how it is prepared. Defaults are the built-in default data
/// set (Fashion-MNIST at Debian's location).
struct DataSpec {
  std::string dataset = "fashion-mnist";  ///< cifar10 | fashion-mnist | mnist
  std::string data_dir;                   ///< empty: the data set's default location
  std::string split = "test";             ///< train | test
  std::int64_t samples = 0;               ///< 0: all; else a deterministic subset of this size
  std::uint64_t subset_seed = 0;          ///< seed of the subset rule
  bool raw = false;                       ///< skip normalization (pixels in [0, 1])
  int shard = 0;                          ///< this shard ...
  int num_shards = 1;                     ///< ... of this many (partitioning the subset)
  std::string samples_option = "--samples";  ///< the option that gave `samples` (for messages)
  bool fingerprint = false;  ///< hash the split as read (DataSplit::fingerprint; ~1 s per GB)
};

/// A decoded split: images [N, C, H, W] float32 (normalized unless raw), labels [N] int64.
struct DataSplit {
  torch::Tensor images;
  torch::Tensor labels;
  std::int64_t total = 0;  ///< samples in the whole split on disk
  int num_classes = 10;
  std::string description;  ///< e.g. "cifar10 train (1000 of 50000 samples, shard 1/2)"
  /// With DataSpec::fingerprint: a hash of the whole split as read from its files, before the
  /// subset and shard ("fnv1a64:<16 hex>"), the same on every rank that read the same data.
  std::string fingerprint;
  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

/// Image shape (C, H, W) and class count of a data set name; throws InputError for unknown ones.
struct DataShape {
  int channels, height, width, classes;
};
DataShape data_shape(const std::string& dataset);
/// Where a data set's files are looked for when --data-dir is not given.
std::string default_data_dir(const std::string& dataset);
/// Per-channel mean and std used for normalization.
std::pair<std::vector<double>, std::vector<double>> normalization(const std::string& dataset);

/// Read, check, subset, shard, normalize and move to `device`. Throws InputError/FormatError
/// naming the file for a missing file, a truncated record, a wrong magic number, a bad label.
DataSplit load_split(const DataSpec& spec, const torch::Device& device = torch::kCPU);

/// The indices (into the split on disk, ascending) of the subset and shard `spec` selects:
/// the first `samples` entries of a Fisher-Yates shuffle of 0..total-1 driven by
/// mt19937_64(subset_seed), sorted; then shard k of K is the k-th of K contiguous, near-equal
/// blocks of that list, so the shards of a subset partition it.
std::vector<std::int64_t> select_indices(std::int64_t total, const DataSpec& spec);

// Low-level readers (exposed for tests and `losscape info`). Pixels are uint8 [N, C, H, W].
struct RawImages {
  torch::Tensor pixels;  ///< uint8 [N, C, H, W]
  torch::Tensor labels;  ///< int64 [N]
};
RawImages read_cifar10_files(const std::vector<std::string>& files);
torch::Tensor read_idx_images(const std::string& file);  ///< uint8 [N, 1, rows, cols]
torch::Tensor read_idx_labels(const std::string& file);  ///< int64 [N]
/// The files of a split of a data set in `dir` (resolving .gz or not for IDX).
std::vector<std::string> split_files(const std::string& dataset, const std::string& dir,
                                     const std::string& split);
/// True when none of the files of a split is in `dir` (neither plain nor .gz): a split not
/// downloaded, rather than one damaged or partly there.
bool split_absent(const std::string& dataset, const std::string& dir, const std::string& split);

}  // namespace losscape
