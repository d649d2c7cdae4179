// The model zoo: C++ definitions of the reference's CIFAR-10 networks with the same module and
// parameter names, registration order and parameter counts (docs/models.md), adapted to the data
// set's input channels and image size. Initialization follows the reference recipe.
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace losscape {

/// The states of K models of one architecture (K grid points), for one forward pass of all K
/// ("several points per forward"): each floating-point tensor of the state dict, by its name,
/// holds the K models' values one after the other along the first dimension (a convolution
/// weight [out, in, kh, kw] becomes [K·out, in, kh, kw], a vector [c] becomes [K·c]).
struct StackedState {
  int points = 1;
  std::map<std::string, torch::Tensor> tensors;
  /// The tensor `name`; std::logic_error when missing (a bug, not an input error).
  const torch::Tensor& operator[](const std::string& name) const;
};

/// A zoo network: a torch::nn::Module with a single-tensor forward.
class ZooNet : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  /// Whether forward_stacked is implemented (cnn_small, VGG-9, the ResNets and WRNs).
  virtual bool can_stack() const { return false; }
  /// The logits [N, K, classes] of the K models of `s` on the images `x` [N, C, H, W], in one
  /// pass: convolutions grouped by point (the first one shared over the images), linear layers
  /// as batched matrix products. Equal to K forward() calls up to float rounding; BatchNorm is
  /// folded under FoldBatchNorm as forward() does. Eval mode only.
  virtual torch::Tensor forward_stacked(const torch::Tensor& x, const StackedState& s);
};

/// Names accepted by make_zoo_model.
std::vector<std::string> zoo_names();
bool is_zoo_name(const std::string& name);
/// Build `arch` for inputs of `channels` channels and `height` x `width` pixels and `classes`
/// outputs, initialized as the reference does (Kaiming-normal convs, BN 1/0, Linear N(0, 1e-3)).
/// Throws InputError for an unknown name.
std::shared_ptr<ZooNet> make_zoo_model(const std::string& arch, int channels = 3, int height = 32,
                                       int width = 32, int classes = 10);
/// While alive, on this thread, zoo networks in eval mode fold every BatchNorm into the
/// convolution (or linear layer) before it: w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β, computed
/// from the current tensors at each forward, so in-place perturbations are always seen. One pass
/// less over the activations per layer; the result equals the unfolded one up to float rounding.
/// Networks whose BatchNorm precedes its convolution (DenseNet) run unchanged. evaluate() uses it.
class FoldBatchNorm {
 public:
  explicit FoldBatchNorm(bool on = true);
  ~FoldBatchNorm();
  FoldBatchNorm(const FoldBatchNorm&) = delete;
  FoldBatchNorm& operator=(const FoldBatchNorm&) = delete;

 private:
  bool previous_;
};

/// While alive, on this thread, zoo networks running in inference mode on CUDA, with BatchNorm
/// folded and autocast off (fp32, tf32), compute each convolution followed by a ReLU, or by the
/// sum with a shortcut and a ReLU, as one cuDNN call (at::cudnn_convolution_relu and
/// cudnn_convolution_add_relu, the operators of PyTorch's frozen-graph fusion): one pass over the
/// activations instead of two or three. Equal to the separate operations up to float rounding
/// (cuDNN may pick other algorithms). Without it, and on a CPU, the sum and the ReLU are separate
/// (in place, outside autograd). The sweep's start-up tries it on a GPU (--cudnn-fusion).
class FuseConvolutions {
 public:
  explicit FuseConvolutions(bool on = true);
  ~FuseConvolutions();
  FuseConvolutions(const FuseConvolutions&) = delete;
  FuseConvolutions& operator=(const FuseConvolutions&) = delete;

 private:
  bool previous_;
};

/// Reference initialization applied to every submodule of `net` (also used by `train`).
void reference_init(torch::nn::Module& net);

}  // namespace losscape
