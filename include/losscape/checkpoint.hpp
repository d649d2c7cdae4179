// losscape's model checkpoint in HDF5 (docs/file-formats.md): named tensors (parameters and
// buffers, state-dict order) plus metadata attributes, readable from Python with h5py.
#pragma once
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "losscape/model.hpp"

namespace losscape {

struct CheckpointMeta {
  std::string arch;
  std::string dataset;
  std::vector<std::int64_t> input_shape;  ///< {C, H, W}
  int num_classes = 10;
  std::int64_t epoch = -1;
  double train_loss = std::numeric_limits<double>::quiet_NaN();
  double train_acc = std::numeric_limits<double>::quiet_NaN();
  double test_loss = std::numeric_limits<double>::quiet_NaN();
  double test_acc = std::numeric_limits<double>::quiet_NaN();
  nlohmann::json config = nlohmann::json::object();  ///< training configuration
  /// Hashes of the train and test splits trained on (DataSplit::fingerprint, of the whole split
  /// as read); empty in checkpoints of losscape before 2026-12-07 and outside `train`.
  std::string train_data_fingerprint, test_data_fingerprint;
};

struct Checkpoint {
  CheckpointMeta meta;
  TensorList state;      ///< group /state
  TensorList optimizer;  ///< group /optimizer (may be empty)
};

/// Write atomically (to path + ".tmp", then rename), so a crash never leaves half a checkpoint.
void save_checkpoint(const std::string& path, const Checkpoint& ck);
Checkpoint read_checkpoint(const std::string& path);
/// A checkpoint's metadata only (read_checkpoint's, without its tensors).
CheckpointMeta read_checkpoint_meta(const std::string& path);
/// Metadata for a model (arch, shape, classes) with an empty config.
CheckpointMeta meta_for(const Model& m, const std::string& dataset);

}  // namespace losscape
