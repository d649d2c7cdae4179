// Loss and accuracy of a model over a resident data split: eval mode, no autograd, batched,
// sums accumulated on the device and brought to the host once per call.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "losscape/data.hpp"
#include "losscape/model.hpp"
#include "losscape/mpi.hpp"
#include "losscape/pass_graph.hpp"
#include "losscape/zoo.hpp"

namespace losscape {

/// crossentropy: mean over samples of -log softmax(logits)[label] (the reference's L).
/// mse: mean over samples of the mean over classes of (softmax(logits) - onehot)^2, which is what
/// the reference's nn.MSELoss on softmax outputs gives.
enum class LossKind { cross_entropy, mse };
LossKind parse_loss(const std::string& s);
const char* to_string(LossKind k);

/// Partial sums, so that shards of a split can be combined exactly (allreduce) before dividing.
struct EvalSums {
  double loss_sum = 0;
  double correct = 0;
  double count = 0;
  double loss() const { return count > 0 ? loss_sum / count : 0; }
  double accuracy() const { return count > 0 ? 100.0 * correct / count : 0; }  ///< percent
};

/// Arithmetic of the forward pass. fp32: IEEE float32 everywhere (TF32 explicitly off on GPUs);
/// tf32: float32 with TensorFloat-32 matrix products and convolutions on GPUs that have them
/// (refused on a CPU, as fp16 is: PrecisionGuard); bf16 / fp16: autocast (mixed precision: convolutions and matrix products
/// in the half type, reductions and the loss in float32). fp16 needs a GPU.
enum class Precision { fp32, tf32, bf16, fp16 };
Precision parse_precision(const std::string& s);
const char* to_string(Precision p);

/// Whether autocast (mixed precision) is on for the CPU (`gpu` false) or for CUDA devices, in any
/// LibTorch version (2.4 renamed the functions).
bool autocast_enabled(bool gpu);

/// Sets autocast and the TF32 switches for `p` on `device` while alive; restores them on exit.
/// Throws InputError for a precision the device cannot do (fp16 on a CPU).
class PrecisionGuard {
 public:
  PrecisionGuard(Precision p, const torch::Device& device);
  ~PrecisionGuard();
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  bool cpu_autocast_, gpu_autocast_, cache_;
  at::ScalarType cpu_dtype_, gpu_dtype_;
  bool tf32_cublas_, tf32_cudnn_;
};

/// Memory layout of the model's 4-D tensors (convolution weights): channels-last (NHWC) when
/// `on`, else contiguous (NCHW). oneDNN and cuDNN run many convolutional networks faster in NHWC.
/// In place (the tensors keep their identity), outside autograd.
void set_channels_last(Model& model, bool on);
/// Images (4-D) in the requested layout; other tensors unchanged.
torch::Tensor with_layout(const torch::Tensor& images, bool channels_last);

struct EvalOptions {
  std::int64_t batch_size = 0;  ///< 0: 256 (callers choose with choose_eval_options)
  LossKind loss = LossKind::cross_entropy;
  Precision precision = Precision::fp32;
  bool fold_batchnorm = true;  ///< fold BatchNorm into the layer before it (zoo.hpp FoldBatchNorm)
  /// cuDNN's fused convolution + ReLU (zoo.hpp FuseConvolutions; GPU, fp32 / tf32 only)
  bool fuse_convolutions = false;
  /// Called between batches (the sweep's coordinator serves work requests there); may be empty.
  std::function<void()> between_batches;
};

/// Sum of losses and correct predictions of `model` over `data` (which must be on the model's
/// device). One host synchronisation. With `graph` (on a GPU), the pass is recorded as a CUDA
/// graph and replayed by later calls on the same tensors (pass_graph.hpp).
EvalSums evaluate(Model& model, const DataSplit& data, const EvalOptions& opts,
                  PassGraph* graph = nullptr);
/// evaluate() for the K models of `s` in one pass over the data (several grid points per
/// forward: Model::forward_stacked, which the model must support): one sum per model, in order.
/// `opts.batch_size` counts images; a batch's activations are K times those of one model.
std::vector<EvalSums> evaluate_points(Model& model, const DataSplit& data, const StackedState& s,
                                      const EvalOptions& opts, PassGraph* graph = nullptr);

/// Share `part` of `parts` of `data`'s batches of `batch_size` images (the batches evaluate()
/// makes of it): a view of whole, contiguous batches, near-equal in number (a share is empty when
/// there are fewer batches than parts). The shares partition `data`, and each batch is one of the
/// whole pass, so the sums over the shares are the whole pass's up to the order of additions,
/// with no batch shape the whole pass does not have. `description` is left as it is.
DataSplit batch_share(const DataSplit& data, std::int64_t batch_size, int part, int parts);

/// The images of one forward pass of K grid points at batch size `batch`: batch / K, at least 1
/// (a pass then holds the activations of one point's batch).
inline std::int64_t stacked_batch(std::int64_t batch, int points) {
  return std::max<std::int64_t>(1, batch / points);
}

/// An option's count or "auto" (0); InputError naming `flag` for anything else or a count below
/// `least`.
std::int64_t parse_count_or_auto(const std::string& s, const std::string& flag, std::int64_t least);
/// `--batch-size`: a positive number, or 0 for "auto"; InputError otherwise.
std::int64_t parse_batch_size(const std::string& s);
/// `--memory-format`: InputError unless "auto", "nchw" or "nhwc".
void check_memory_format(const std::string& s);
/// `--cudnn-fusion`: InputError unless "auto", "on" or "off".
void check_cudnn_fusion(const std::string& s);

/// What `--batch-size auto` and `--memory-format auto` settle on at start-up.
struct EvalChoice {
  std::int64_t batch_size = 0;
  bool channels_last = false;
  double images_per_second = 0;  ///< the best forward rate measured while choosing
  int points_per_forward = 1;     ///< grid points per pass (ChoiceOptions::max_points)
  bool fuse_convolutions = false; ///< cuDNN's fused convolutions won (ChoiceOptions::try_fusion)
  std::string report;            ///< one line per candidate layout: "nhwc: bs 32, 812 img/s"
};
/// The batch sizes `--batch-size auto` tries for `n` images: powers of two from 16 below the cap,
/// then the cap, min(n, 4096) on a CPU and min(n, 8192) on a GPU (a batch that does not fit
/// ends the scan). On an H200 the scan of ResNet-56 on 50,000 images chose the cap, 8192, in
/// every precision (docs/performance.md); larger GPU caps are unmeasured.
std::vector<std::int64_t> batch_candidates(std::int64_t n, bool cuda);
/// One timing of a candidate batch size and layout, on one rank or combined over several.
struct TimingResult {
  /// unusable: a setting that does not work here but leaves the others usable (cuDNN has no
  /// fused kernel for it, or its results differ): it is not chosen; failed: the choice fails.
  enum State { ok = 0, out_of_memory = 1, unusable = 2, failed = 3 };
  double rate = 0;  ///< images per second (the sum over the ranks, when combined)
  int state = ok;   ///< the worst over the ranks, when combined
  std::string error;
};
/// How ranks that choose together (each timing on its own share of the machine, all at once, as
/// they will run) combine one timing: every rank calls it in the same order with its own result
/// and gets the total rate, the worst state and an error message of a failed rank.
using CombineTimings = std::function<TimingResult(const TimingResult&)>;

struct ChoiceOptions {
  std::int64_t fixed_batch = 0;  ///< > 0: only this batch size (then only the layout is chosen)
  std::string layout = "auto";   ///< auto, nchw or nhwc
  Precision precision = Precision::fp32;
  double budget_seconds = 3.0;
  bool runoff = true;  ///< time the two best again, alternately (see choose_eval_options)
  /// >= 0: candidates up to this many images (0: nothing is timed); ranks that choose together
  /// pass the smallest of their data sizes, so that all try the same candidates, or none.
  std::int64_t max_images = -1;
  CombineTimings combine;  ///< empty: this process alone
  /// > 1 (with `stack`): also choose how many grid points to evaluate per forward pass (1, 2,
  /// 4, ... up to this), on batches of batch / K images; `stack(K)` gives K points' models.
  int max_points = 1;
  std::function<StackedState(int)> stack;
  /// Also try cuDNN's fused convolutions (zoo.hpp FuseConvolutions) at the chosen layout and
  /// batch, before the points per pass: checked against the separate operations on one batch,
  /// then timed against them (a zoo network on a GPU in fp32 / tf32; elsewhere they change
  /// nothing).
  bool try_fusion = false;
  bool force_fusion = false;  ///< with try_fusion: use them when the check passes, untimed
};

/// Times forward passes over `data` for the candidate batch sizes (batch_candidates; only
/// `fixed_batch` when > 0) and layouts (both when `layout` is "auto", else "nchw" or "nhwc") at
/// the given precision, within about `budget_seconds`, and returns the fastest. Larger sizes are
/// no longer tried once slower (more than 3 % below the best, or two in a row below it) or out
/// of memory. With `runoff`, the two fastest, when within 15 %, are then timed again alternately
/// for about a third of the budget more and the faster wins (short timings on a noisy machine
/// swap close candidates). On a CPU small batches often win by staying in cache; on a GPU large
/// ones do. Nothing is timed when both are fixed. Leaves the model in the chosen layout. Any
/// other failure of a forward pass is thrown (on every rank, with `combine`). With `max_points`
/// > 1, the points per forward pass are then chosen the same way at the chosen layout and batch
/// (points_per_forward, with the run-off against one point); with `try_fusion`, before that,
/// whether to fuse (fuse_convolutions: where the fused logits of one batch agree with the plain
/// ones on every rank, within 1e-2 of their largest magnitude, and a run-off finds them faster).
EvalChoice choose_eval_options(Model& model, const DataSplit& data, const ChoiceOptions& o);
EvalChoice choose_eval_options(Model& model, const DataSplit& data, std::int64_t fixed_batch,
                               const std::string& layout, Precision p,
                               double budget_seconds = 3.0, bool runoff = true);
/// Forward throughput (images/s) of `model` on the first `images` of `data` (all when 0) in
/// batches of `batch_size` at precision `p`, over at least `min_seconds` (on a CPU at most one
/// batch more; on a GPU whole passes over the images), BatchNorm folded as evaluate() does
/// unless told otherwise; the model and data layouts are used as they are.
/// With `points` (K models, evaluate_points), the forward passes are stacked ones and the rate
/// counts each image once per model (point-images per second).
double forward_rate(Model& model, const DataSplit& data, std::int64_t batch_size, Precision p,
                    double min_seconds, std::int64_t images = 0, bool fold_batchnorm = true,
                    const StackedState* points = nullptr, bool fuse_convolutions = false);


/// Testing aid: LOSSCAPE_TEST_EVAL_ERROR=R:N makes the N-th evaluation step of world rank R (a
/// sweep's pass over the data for its points, a Hessian-vector product) throw, as a device
/// error would (tests/cli/test_sweep_faults.py). Does nothing without it.
void injected_eval_error();

/// Runs `local`, one rank's share of an evaluation its data-shard group does together, and has
/// the group agree whether it failed (one small reduction over `group`) before the reduction of
/// the results: when `local` throws on any rank (a device error, out of memory), every rank of
/// the group throws GroupEvalError, the failed one with its own message, instead of the others
/// waiting forever for it. MpiError is rethrown at once (the group cannot be told). With no
/// group or a group of one rank, `local` just runs.
void run_in_group(const mpi::Comm* group, const std::function<void()>& local);

/// Runs `step` on every rank of `comm` and has them agree on its errors (one allgather): when it
/// throws on any rank, every rank throws AgreedError with the first failed rank's message. For
/// set-up steps with no collective call that a failed rank could leave the others waiting in.
void run_agreed(const mpi::Comm& comm, const std::function<void()>& step);

}  // namespace losscape
