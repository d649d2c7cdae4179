// Loss and accuracy of a model over a resident data split: eval mode, no autograd, batched,
// sums accumulated on the device and brought to the host once per call.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>

#include "losscape/data.hpp"
#include "losscape/model.hpp"

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

struct EvalOptions {
  std::int64_t batch_size = 0;  ///< 0: choose automatically (see choose_batch_size)
  LossKind loss = LossKind::cross_entropy;
  /// Called between batches (the sweep's coordinator serves work requests there); may be empty.
  std::function<void()> between_batches;
};

/// Sum of losses and correct predictions of `model` over `data` (which must be on the model's
/// device). One host synchronisation.
EvalSums evaluate(Model& model, const DataSplit& data, const EvalOptions& opts);

/// The fastest evaluation batch size among candidates (powers of two from 16 up to the data
/// size or 4096), timed on a few batches of `data`; a few seconds at start-up. On CPU small
/// batches often win by staying in cache; on GPU large ones do.
std::int64_t choose_batch_size(Model& model, const DataSplit& data, double budget_seconds = 3.0);

}  // namespace losscape
