// Training the zoo networks with the reference recipe (SGD with Nesterov momentum, step schedule,
// crop-and-flip augmentation on the device) into a run folder of losscape HDF5 checkpoints
// model_<epoch>.h5 that hold everything an exact resume needs (docs/training.md).
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "losscape/checkpoint.hpp"
#include "losscape/model.hpp"

namespace losscape {

/// One training run's configuration; the single source of its defaults. Stored as JSON in every
/// checkpoint (attribute `config`), so that a resume continues the same run.
struct TrainConfig {
  std::string arch;
  std::string dataset = "fashion-mnist";
  std::string data_dir;            ///< empty: the data set's default location
  std::int64_t samples = 0;        ///< training subset size (0 = whole train split)
  std::uint64_t subset_seed = 0;   ///< seed of the subset rule (data.hpp select_indices)
  std::int64_t test_samples = 0;   ///< test subset size for the per-epoch evaluation (0 = all)
  std::int64_t batch_size = 128;
  std::string optimizer = "sgd";   ///< sgd | adam
  double lr = 0.1;                 ///< initial learning rate (0.001 for adam unless given)
  double momentum = 0.9;           ///< SGD only
  bool nesterov = true;            ///< SGD only
  double weight_decay = 5e-4;      ///< L2 term added to the gradient (PyTorch weight_decay)
  std::int64_t epochs = 300;
  std::vector<std::int64_t> milestones = {150, 225, 275};  ///< lr × gamma after these epochs
  double gamma = 0.1;
  bool augment = true;             ///< random crop (padding 4) + horizontal flip
  std::int64_t save_every = 1;     ///< checkpoint every N epochs (plus epoch 0 and the last)
  std::uint64_t seed = 0;          ///< initialization, shuffling and augmentation
  std::string device = "auto";     ///< auto | cpu | cuda | cuda:N (not part of the run's identity)
  std::string out;                 ///< run folder
};
void to_json(nlohmann::json& j, const TrainConfig& c);
void from_json(const nlohmann::json& j, TrainConfig& c);

/// The reference milestones 150/225/275 of 300 scaled to `epochs`: round(epochs·{1/2, 3/4,
/// 11/12}), without duplicates or zeros.
std::vector<std::int64_t> default_milestones(std::int64_t epochs);
/// Learning rate used during epoch `epoch` (1-based): lr·gamma^(number of milestones < epoch),
/// which is PyTorch's MultiStepLR stepped once after every epoch.
double lr_at_epoch(const TrainConfig& c, std::int64_t epoch);

/// Complete a configuration from the options a user gave explicitly (JSON keys as in to_json):
/// without `stored`, defaults fill the rest (lr 0.001 for adam, milestones scaled to the epochs);
/// with `stored` (the run being resumed) the stored values are kept, `epochs`, `save_every`,
/// `device` and `data_dir` may be changed, and any other option that differs is an InputError,
/// which names the flag, or `config_file` and the key for a key in `from_file` (the values a
/// --config file gave and no flag replaced).
TrainConfig resolve_train_config(const nlohmann::json& given,
                                 const std::optional<TrainConfig>& stored = std::nullopt,
                                 const std::string& config_file = "",
                                 const std::set<std::string>& from_file = {});
/// The values' checks of resolve_train_config on a --config file's settings (`file_values`;
/// keys it lacks have their defaults): each value alone, then those that depend on each other
/// (Nesterov and momentum, Adam and momentum) as the flags that override the file leave them
/// (`given`; `from_file`: the keys no flag replaced). An InputError naming `file` and the key for
/// a value of the file's, e.g. `c.json: "lr" must be a positive number`, the flag for a flag's.
void check_train_config_file(const nlohmann::json& file_values, const nlohmann::json& given,
                             const std::string& file, const std::set<std::string>& from_file);
/// The training configuration a checkpoint records (its `config` attribute, as read): an
/// InputError naming `path` when it holds none (a checkpoint written by another tool records
/// `{}`) or a damaged one, so that a resume never runs with defaults in its place.
TrainConfig stored_train_config(const nlohmann::json& config, const std::string& path);
/// How a later checkpoint's recorded training configuration (`later`, a `config` attribute)
/// differs from an earlier one's of what should be the same run, in a setting no resume may
/// change: "KEY LATER'S, not FIRST'S" (arch and dataset named first); empty when they agree, or
/// when either records no configuration of losscape train (a torch.save file, an older tool).
std::string run_difference(const nlohmann::json& first, const nlohmann::json& later);

/// A run folder's checkpoints model_<epoch>.h5, in increasing epoch order.
struct RunCheckpoint {
  std::int64_t epoch;
  std::string path;
};
std::vector<RunCheckpoint> run_checkpoints(const std::string& run_dir);
/// `--out` of a training run, lexically normal and without a trailing '/' ("runs/P/sub/.." is
/// runs/P, as its lock takes it: the run there was not seen while sub did not exist, and was
/// written over).
std::string normal_run_folder(const std::string& out);
/// The paths of run_checkpoints(run_dir); when there are none, the folder's torch.save
/// checkpoints model_<epoch>.t7 / .pt / .pth (a run of the Python reference), in epoch order.
/// InputError when the folder holds neither.
std::vector<std::string> checkpoint_files(const std::string& run_dir);
/// The epoch a checkpoint's name gives (its digits); InputError naming `path` when out of range.
std::int64_t epoch_in_name(const std::string& digits, const std::string& path);
/// Path of the checkpoint of `epoch` in `run_dir`.
std::string checkpoint_path(const std::string& run_dir, std::int64_t epoch);

/// Gradient-descent state that travels in a checkpoint's /optimizer group.
/// SGD: "momentum_buffer.<param>"; Adam: "step.<param>" (int64 0-d), "exp_avg.<param>",
/// "exp_avg_sq.<param>"; a parameter without state (before the first step) has no entries.
TensorList optimizer_state(const torch::optim::Optimizer& opt, const TensorList& params);
/// Restore what optimizer_state wrote into `opt` (whose params are `params`, on their device).
void load_optimizer_state(torch::optim::Optimizer& opt, const TensorList& params,
                          const TensorList& saved, const std::string& what);
/// SGD or Adam over `params` as `c` says (lr of epoch 1).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& c,
                                                        const std::vector<torch::Tensor>& params);

/// The per-epoch random numbers: a CPU generator seeded from (seed, epoch) alone, so that any
/// epoch can be replayed without saved generator state. Gives the sample order and, per sample,
/// the crop offsets in [0, 2·pad] and the flip bit.
struct EpochRandom {
  torch::Tensor order;   ///< int64 [N], a permutation
  torch::Tensor dy, dx;  ///< int64 [N]
  torch::Tensor flip;    ///< bool [N]
};
EpochRandom epoch_random(std::uint64_t seed, std::int64_t epoch, std::int64_t n, int pad);

/// Random crop (zero padding of the raw image, i.e. the normalized value of a black pixel,
/// `pad_value` per channel) and horizontal flip of a batch [B, C, H, W] on its device, one
/// gather, no per-sample host work. dy, dx, flip are [B] on the batch's device.
torch::Tensor crop_flip(const torch::Tensor& batch, const torch::Tensor& dy, const torch::Tensor& dx,
                        const torch::Tensor& flip, int pad, const torch::Tensor& pad_value);

/// One epoch's figures, as logged.
struct EpochRecord {
  std::int64_t epoch = 0;
  double lr = 0;
  double fit_loss = 0, fit_acc = 0;      ///< running averages over the epoch's augmented batches
  double train_loss = 0, train_acc = 0;  ///< evaluate() on the (unaugmented) training subset
  double test_loss = 0, test_acc = 0;
  double seconds = 0;
  nlohmann::json to_json() const;
};

struct TrainOptions {
  bool resume = false;
  bool progress = false;  ///< a progress bar within epochs (only useful on a terminal)
  bool quiet = false;     ///< no per-epoch lines on stdout
  /// Called after every epoch (tests use it to stop early, as if killed): return false to stop.
  std::function<bool(const EpochRecord&)> on_epoch;
  /// Poll stop_requested() (stop.hpp): on a first stop signal the current epoch is finished and
  /// checkpointed (whatever --save-every says) and training stops; on a second one it stops at
  /// the next batch and the epoch in progress is given up (resume starts from the last checkpoint).
  bool stop_on_signal = false;
  /// Check everything (configuration, resume, device, data, model, optimizer state) and print
  /// the plan; train nothing and write nothing.
  bool dry_run = false;
};

struct TrainResult {
  std::int64_t start_epoch = 0;  ///< epoch the run started from (0 for a fresh run)
  std::int64_t last_epoch = 0;
  std::string last_checkpoint;
  std::vector<EpochRecord> epochs;  ///< those run by this call
  bool stopped = false;  ///< stopped by a signal before the last epoch (stop_on_signal)
};

/// Train `cfg` into cfg.out (creating it). A folder with checkpoints is refused unless
/// opts.resume; resuming continues from the newest checkpoint (the stored configuration wins,
/// see resolve_train_config). Writes model_<epoch>.h5 and log.jsonl.
TrainResult train(const TrainConfig& cfg, const TrainOptions& opts);

}  // namespace losscape
