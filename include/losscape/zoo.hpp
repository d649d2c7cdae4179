// The model zoo: C++ definitions of the reference's CIFAR-10 networks with the same module and
// parameter names, registration order and parameter counts (docs/models.md), adapted to the data
// set's input channels and image size. Initialization follows the reference recipe.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace losscape {

/// A zoo network: a torch::nn::Module with a single-tensor forward.
class ZooNet : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
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

/// Reference initialization applied to every submodule of `net` (also used by `train`).
void reference_init(torch::nn::Module& net);

}  // namespace losscape
