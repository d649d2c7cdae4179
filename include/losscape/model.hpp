// One model interface for every source: zoo networks (optionally with weights from a PyTorch
// state dict or a losscape HDF5 checkpoint) and TorchScript modules. It exposes what the method
// needs: ordered named parameters (θ), the ordered state (parameters and buffers, state-dict
// order), forward, eval/train mode and device placement.
#pragma once
#include <torch/script.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace losscape {

struct NamedTensor {
  std::string name;
  torch::Tensor tensor;
};
using TensorList = std::vector<NamedTensor>;
/// The name of the first floating-point tensor of `list` holding NaN or an infinity; "" if none.
std::string non_finite_tensor(const TensorList& list);
/// "FILE: TENSOR holds NaN or infinite values (a diverged checkpoint?)" for the first such tensor
/// of `list` (or "... holds negative values, a variance's ..." for a BatchNorm running_var below
/// 0), the start of each command's refusal or note; "" if every value is finite and fit.
std::string diverged_model(const TensorList& list, const std::string& file);
struct StackedState;  // zoo.hpp

/// Which tensors a direction covers: trainable parameters or the whole state dict.
enum class TensorSet { weights, states };
TensorSet parse_tensor_set(const std::string& s);
const char* to_string(TensorSet s);

class Model {
 public:
  virtual ~Model() = default;
  /// Trainable parameters in registration order (PyTorch's named_parameters()).
  virtual TensorList parameters() const = 0;
  /// Parameters and buffers in state-dict order (PyTorch's state_dict()).
  virtual TensorList state() const = 0;
  TensorList tensors(TensorSet set) const { return set == TensorSet::weights ? parameters() : state(); }
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  virtual void train(bool on) = 0;
  virtual void to(const torch::Device& device) = 0;
  /// The nn::Module for training (zoo models); nullptr for TorchScript.
  virtual std::shared_ptr<torch::nn::Module> module() { return nullptr; }
  /// Several points per forward (zoo.hpp StackedState): whether forward_stacked works (zoo
  /// networks that implement it; never TorchScript).
  virtual bool can_stack() const { return false; }
  /// Logits [N, K, classes] of the K models in `s` (ZooNet::forward_stacked).
  virtual torch::Tensor forward_stacked(const torch::Tensor& x, const StackedState& s);

  torch::Device device() const;
  std::int64_t parameter_count() const;

  std::string arch;    ///< zoo name, or "torchscript"
  std::string source;  ///< file it came from, or "zoo" for a fresh network
  std::string format;  ///< "zoo", "torchscript", "state_dict", "losscape-checkpoint"
  /// What the weights go through: the zoo architecture's name, or for a TorchScript module
  /// "torchscript " + the fingerprint of its code (the archive's code/*.py records), so that a
  /// resume with the same weights in a module of other code is told apart.
  std::string network() const { return arch == "torchscript" ? arch + " " + code_fingerprint : arch; }
  std::string code_fingerprint;  ///< a TorchScript module's code (fnv1a64), else ""
  std::vector<std::int64_t> input_shape;  ///< {C, H, W}
  int num_classes = 10;
};

/// A fresh zoo network for the given data set's input shape.
std::unique_ptr<Model> make_zoo(const std::string& arch, const std::string& dataset);

/// Load a model file: a losscape HDF5 checkpoint (architecture from the file, or `arch` which
/// must then agree), a TorchScript module (any architecture), or a PyTorch zip state dict (plain
/// or under "state_dict"), loaded by name into the zoo network `arch`. `dataset` fixes the input
/// shape of zoo networks. Errors name the file and what does not match; for a network of
/// another data set they say which to give with `dataset_option` (the command's option).
std::unique_ptr<Model> load_model(const std::string& path, const std::string& arch,
                                  const std::string& dataset,
                                  const std::string& dataset_option = "--dataset");

/// Copy `values` into the model's tensors of the same names (all must be present with equal
/// shapes; dtype is converted). `what` names the source for messages; a network of another data
/// set is told to give the right one with `dataset_option`.
void load_state(Model& model, const TensorList& values, const std::string& what,
                const std::string& dataset_option = "--dataset");

/// The zoo architectures whose state has exactly the names and shapes of `values` (a missing
/// num_batches_tracked allowed, as load_state allows), each with a data set whose input shape
/// fits (by the first convolution's channels: cifar10 for 3, fashion-mnist for 1). Builds every
/// zoo network once: a few seconds, for messages and `info`.
std::vector<std::pair<std::string, std::string>> matching_zoo_archs(const TensorList& values);

/// Fingerprint of a list of tensors (names, shapes and float32 values): "fnv1a64:<16 hex>".
std::string fingerprint(const TensorList& tensors);
/// FNV-1a (64 bits) of `n` bytes, continuing from `h` (the offset basis to start), and its text
/// as fingerprints are written ("fnv1a64:<16 hex>").
constexpr std::uint64_t kFnvBasis = 1469598103934665603ULL;
std::uint64_t fnv1a64(const void* bytes, std::size_t n, std::uint64_t h = kFnvBasis);
std::string fnv1a64_text(std::uint64_t h);

/// The buffers of `m` an evaluation reads (BatchNorm running means and variances...), in
/// state-dict order: its state less its parameters and the num_batches_tracked counters, which
/// only training with momentum None reads. A surface's identity fingerprints them beside θ*.
TensorList eval_buffers(const Model& m);
/// Whether a state tensor's name is a BatchNorm counter (num_batches_tracked).
bool is_counter(const std::string& name);

}  // namespace losscape
