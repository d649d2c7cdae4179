// Training trajectories (Li et al. 2018, sec. 7): PCA directions of the checkpoints θ_0..θ_n of a
// run around the final model, as the reference's sklearn PCA(n_components=2) gives them, and the
// projection of every checkpoint onto that plane. Built for millions of parameters and hundreds
// of checkpoints: the PCA works on the n×n Gram matrix of the rows, streamed tensor by tensor.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "losscape/directions.hpp"
#include "losscape/model.hpp"

namespace losscape {

/// What a trajectory's checkpoints are models of, for files that do not say (torch.save state
/// dicts, such as the reference's model_<epoch>.t7): the zoo architecture and the data set fixing
/// its input shape. losscape checkpoints name their own (an `arch` given must agree).
struct TrajectoryModel {
  std::string arch;
  /// Empty: a losscape checkpoint's own (recorded) data set, and fashion-mnist for a torch.save
  /// file (the command line's default). (It was "fashion-mnist" for both, which refused every
  /// losscape checkpoint of a CIFAR-10 run through the library's defaults.)
  std::string dataset;
};

struct PcaOptions {
  /// Bytes of float64 checkpoint data held at once (a block of columns of all n rows). Larger
  /// blocks mean fewer passes over the files for big models.
  std::int64_t memory_bytes = std::int64_t(1) << 30;
  TrajectoryModel model;
};

/// PCA directions of a trajectory. `checkpoint_files` are checkpoints of one run in training
/// order (losscape's model_<epoch>.h5, or torch.save state dicts with opts.model naming their
/// architecture; the epoch of such a file is the N of its name model_N.*, else -1); the last one
/// is the final model θ_n. Rows d_k = θ_k − θ_n over the tensors
/// of `type` (weights: parameters; states: the state dict), with ≤1-D tensors left out (their
/// direction is 0) when `ignore_biasbn`, integer tensors (num_batches_tracked) always left out;
/// rows mean-centred; pc1, pc2 are sklearn's components_ (unit vectors; sign as sklearn's
/// svd_flip of the reference's era: the largest |entry| of each left singular vector positive).
/// The result holds xdirection = pc1, ydirection = pc2 (float32, per tensor, zeros where left
/// out), explained_variance_ratio_, singular_values_, explained_variance_, the final model's
/// fingerprint and attrs {method: "pca", checkpoints, epochs, ...}. Needs ≥ 3 checkpoints.
/// Memory: the n×n Gram matrix plus opts.memory_bytes.
Directions pca_directions(const std::vector<std::string>& checkpoint_files, TensorSet type,
                          bool ignore_biasbn, const PcaOptions& opts = {});

/// Coordinates of checkpoints in the plane of two directions, with d_k = θ_k − θ_n (θ_n = the last
/// file), so the final model is at (0, 0), by the reference's project_trajectory methods:
///   "cos":   x_k = ⟨d_k, δ⟩/‖δ‖, y_k = ⟨d_k, η⟩/‖η‖ (the reference's default), which are the
///            surface's α and β only for orthonormal directions (PCA's);
///   "lstsq": the (x_k, y_k) minimizing ‖d_k − x_k δ − y_k η‖ (the 2×2 normal equations), the
///            surface's α and β for any two independent directions (for orthonormal ones, cos's).
struct Projection {
  std::vector<double> x, y;
  std::vector<std::int64_t> epochs;  ///< each checkpoint's epoch attribute
  std::vector<std::string> files;
  std::optional<std::vector<double>> explained_variance_ratio;  ///< from the direction file
  std::string dir_file;     ///< read_projection: the direction file it was made with ("" unknown)
  /// directions_fingerprint() of the directions projected onto ("" in files from before it was
  /// recorded, and the reference's): names the plane wherever the direction file is now.
  std::string directions_fingerprint;
  std::string method = "cos";  ///< proj_method ("cos" when not recorded)
  /// fingerprint() of the last checkpoint's parameters, the plane's origin (as a surface's identity
  /// records its θ*); "" in files from before it was recorded, and the reference's.
  std::string model_fingerprint;
  /// Whether δ and η are orthonormal (‖δ‖ = ‖η‖ = 1, ⟨δ, η⟩ = 0, to 1e-4): both methods agree
  /// then. Unknown for files that do not record it (the reference's, losscape's before 2026-12-02).
  std::optional<bool> orthonormal;
};
/// Whether the floating-point tensors of a 2-D direction set are orthonormal (as Projection says).
bool orthonormal_directions(const Directions& d);
/// The method `auto` stands for: cos for orthonormal directions (PCA's: the reference's results
/// and file name), else lstsq; "cos" and "lstsq" as given; anything else an InputError.
std::string resolve_projection_method(const std::string& method, const Directions& d);
/// `d` must be 2-D and match the checkpoints' model (by names when it has them, else by order
/// and shape); `dir_file` names it in messages. A fingerprint that is not the final model's is
/// reported on stderr (the final point is then not the plane's origin), not refused.
/// Checkpoints as for pca_directions (`model` for torch.save files).
Projection project_trajectory(const Directions& d, const std::vector<std::string>& checkpoint_files,
                              const std::string& dir_file = "directions",
                              const TrajectoryModel& model = {}, const std::string& method = "auto");

/// Whether `path` is a projection file (`losscape project`'s or the reference's: proj_xcoord and
/// proj_ycoord datasets).
bool is_projection_file(const std::string& path);

/// The projection file: proj_xcoord, proj_ycoord (float64, one per checkpoint; the reference's
/// layout) plus attributes epochs (int64), explained_variance_ratio (2 doubles, when known),
/// dir_file, directions_fingerprint, checkpoints and format = "losscape-projection".
void write_projection(const std::string& path, const Projection& p, const std::string& dir_file);
Projection read_projection(const std::string& path);

/// A grid that covers the projected path: each axis spans the path's range widened by `margin`
/// of it on both sides (at least ±1 around a point), bounds rounded outwards to two significant
/// digits. Returns the sweep options {"MIN:MAX:N" for x, "MIN:MAX:N" for y}.
std::pair<std::string, std::string> grid_covering(const Projection& p, int n, double margin = 0.15);

}  // namespace losscape
