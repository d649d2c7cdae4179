// CUDA graphs for the sweep's evaluation passes: a whole pass over a resident data split (every
// batch's forward pass, loss and accuracy sums) recorded once and replayed at each later grid
// point, one launch per pass instead of a few hundred kernel launches per batch.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace losscape {

/// One recordable evaluation pass (evaluate(), evaluate_points() with a PassGraph).
///
/// A recorded graph replays its kernels on the addresses they had when recorded, so a pass is
/// identified by a key: the addresses of the model's tensors and of the data, the batch size and
/// the options. It stays valid while the caller changes tensors in place, as the sweep does
/// between points (apply_directions, stack_points_into). The first call with a key runs the pass
/// normally; the second call with the same key runs it normally on a side stream (cuDNN's,
/// cuBLAS's and the allocator's lazy set-up happen there, outside the recording), records it,
/// replays it once and keeps the graph only if the replay gives the same sums (to 1e-5, relative);
/// later calls with that key replay it. A failure while recording or replaying, or a difference,
/// turns the graph off for good, with a reason (the pass then runs normally); calls with another
/// key run normally. On a CPU, and in a build without CUDA graphs (supported()), every call runs
/// the pass normally.
class PassGraph {
 public:
  /// A pass: returns the device tensor of its sums. `recording`: it is being recorded, so it
  /// must not synchronise with the host (no between-batch callback).
  using Pass = std::function<torch::Tensor(bool recording)>;
  /// `name` says which pass this is in reports ("train, 4 points per pass").
  explicit PassGraph(std::string name);
  ~PassGraph();
  PassGraph(const PassGraph&) = delete;
  PassGraph& operator=(const PassGraph&) = delete;

  /// Whether this build records CUDA graphs (LibTorch with CUDA, CMake option
  /// LOSSCAPE_CUDA_GRAPHS).
  static bool supported();

  /// The sums of `pass` on `device` for `key`: replayed, recorded, or run normally (see above).
  /// `while_waiting` (may be empty) is called repeatedly while a replay runs on the GPU.
  torch::Tensor run(const std::vector<std::int64_t>& key, const torch::Device& device,
                    const Pass& pass, const std::function<void()>& while_waiting);

  bool recorded() const;
  /// Why the graph was turned off; "" while it is not.
  const std::string& off_reason() const;
  /// Called once when the graph is recorded or turned off, with one line that says so (the
  /// seconds of the last ordinary pass and of the first replay, or the reason).
  std::function<void(const std::string&)> on_event;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// `--cuda-graphs`: InputError unless "auto" or "off".
void check_cuda_graphs(const std::string& s);

}  // namespace losscape
