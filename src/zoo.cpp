#include "losscape/zoo.hpp"

#include <cmath>

#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"

namespace nn = torch::nn;

namespace losscape {
namespace {

nn::Conv2d conv(int in, int out, int k, int stride, int pad, bool bias) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(bias));
}

thread_local bool fold_batchnorm = false;
thread_local bool fuse_convolutions = false;

template <class BatchNorm>
bool folding(const BatchNorm& b) {
  return fold_batchnorm && !b.is_training() && b.options.track_running_stats() && b.options.affine();
}

// The weight and bias of layer (weight, bias) followed by a BatchNorm in eval mode (γ, β, running
// μ and σ², ε), as one layer: w' = w·γ/√(σ²+ε) (per output channel), b' = (bias − μ)·γ/√(σ²+ε) + β.
std::pair<torch::Tensor, torch::Tensor> fold(const torch::Tensor& gamma, const torch::Tensor& beta,
                                             const torch::Tensor& mean, const torch::Tensor& var,
                                             double eps, const torch::Tensor& weight,
                                             const torch::Tensor& bias) {
  auto scale = gamma * torch::rsqrt(var + eps);
  std::vector<std::int64_t> shape(std::size_t(weight.dim()), 1);
  shape[0] = -1;
  auto shift = beta - mean * scale;
  if (bias.defined()) shift = shift + bias * scale;
  return {weight * scale.reshape(shape), shift};
}
template <class BatchNorm>
std::pair<torch::Tensor, torch::Tensor> fold(const BatchNorm& b, const torch::Tensor& weight,
                                             const torch::Tensor& bias) {
  return fold(b.weight, b.bias, b.running_mean, b.running_var, b.options.eps(), weight, bias);
}

// What follows a convolution (and its BatchNorm) in a zoo network: a ReLU, or the sum with a
// shortcut `add` and then a ReLU, or nothing.
struct Epilogue {
  bool relu = false;
  const torch::Tensor* add = nullptr;
};
constexpr Epilogue kNone{}, kRelu{true, nullptr};
Epilogue add_relu(const torch::Tensor& z) { return {true, &z}; }

// The epilogue on y, the fresh output of a convolution (or BatchNorm). Outside autograd (the
// evaluation passes run in inference mode) in place: no new tensor per layer, one memory pass
// less for the sum.
torch::Tensor finish(torch::Tensor y, const Epilogue& e) {
  const bool in_place = c10::InferenceMode::is_enabled() || !torch::GradMode::is_enabled();
  if (e.add) y = in_place ? y.add_(*e.add) : y + *e.add;
  if (e.relu) y = in_place ? y.relu_() : torch::relu(y);
  return y;
}

// conv2d(x, w, bias) then the epilogue: with cuDNN fusion on (FuseConvolutions), CUDA tensors
// and an ungrouped convolution, one cuDNN call (cudnn_convolution_relu / _add_relu: convolution,
// bias, sum and ReLU in one kernel where cuDNN has one); otherwise separate operations. The
// grouped convolutions of several points per pass stay unfused: whether cuDNN fuses those is
// unmeasured.
torch::Tensor conv_finish(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                          torch::IntArrayRef stride, torch::IntArrayRef pad,
                          torch::IntArrayRef dilation, std::int64_t groups, const Epilogue& e) {
  // (Autocast has no rule for these operators: with bf16 / fp16 the ordinary ones run.)
  if (fuse_convolutions && e.relu && groups == 1 && x.is_cuda() &&
      c10::InferenceMode::is_enabled() && !autocast_enabled(true)) {
    const c10::optional<torch::Tensor> b =
        bias.defined() ? c10::optional<torch::Tensor>(bias) : c10::nullopt;
    if (e.add)
      return at::cudnn_convolution_add_relu(x, w, *e.add, 1, b, stride, pad, dilation, groups);
    return at::cudnn_convolution_relu(x, w, b, stride, pad, dilation, groups);
  }
  return finish(torch::conv2d(x, w, bias, stride, pad, dilation, groups), e);
}

// bn(conv(x)) and the epilogue, with the BatchNorm folded into the convolution's weights when
// folding is on.
torch::Tensor conv_bn(nn::Conv2dImpl& c, nn::BatchNorm2dImpl& b, const torch::Tensor& x,
                      const Epilogue& e = kNone) {
  if (!folding(b)) return finish(b.forward(c.forward(x)), e);
  auto [w, shift] = fold(b, c.weight, c.bias);
  const auto& o = c.options;
  // Every zoo convolution (conv() above) pads k / 2 with zeros.
  const std::vector<std::int64_t> pad = {c.weight.size(2) / 2, c.weight.size(3) / 2};
  return conv_finish(x, w, shift, o.stride(), pad, o.dilation(), o.groups(), e);
}

// bn(linear(x)) for BatchNorm1d after a Linear layer (VGG-9's fc).
torch::Tensor linear_bn(nn::LinearImpl& l, nn::BatchNorm1dImpl& b, const torch::Tensor& x) {
  if (!folding(b)) return b.forward(l.forward(x));
  auto [w, shift] = fold(b, l.weight, l.bias);
  return torch::linear(x, w, shift);
}

// A Sequential's forward with conv-BN and linear-BN pairs folded when folding is on.
torch::Tensor sequential_folded(nn::Sequential& seq, torch::Tensor x) {
  const std::size_t n = seq->size();
  for (std::size_t i = 0; i < n; ++i) {
    auto m = seq->ptr(i);
    auto next = i + 1 < n ? seq->ptr(i + 1) : nullptr;
    if (auto* c = m->as<nn::Conv2d>(); c && next && next->as<nn::BatchNorm2d>()) {
      const bool relu = i + 2 < n && seq->ptr(i + 2)->as<nn::ReLU>();
      x = conv_bn(*c, *next->as<nn::BatchNorm2d>(), x, relu ? kRelu : kNone);
      i += relu ? 2 : 1;
    } else if (auto* l = m->as<nn::Linear>(); l && next && next->as<nn::BatchNorm1d>()) {
      x = linear_bn(*l, *next->as<nn::BatchNorm1d>(), x);
      ++i;
    } else {
      x = (seq->begin() + std::ptrdiff_t(i))->forward(x);
    }
  }
  return x;
}

// ---- several points per forward (StackedState): the same layers for K models at once ----
// Activations carry the K points side by side: [N, K·C, H, W] for feature maps (point k's
// channels are k·C .. k·C + C − 1, as in a convolution with K groups), [N, K, F] for features.

// bn(conv(x)) for K points, the stacked tensors of the convolution `cp` and the BatchNorm `bp`
// (name prefixes) with the layers' settings from `c` and `b`. `x` has the input channels of one
// point (the images, shared by all points) or K times them (one group per point).
torch::Tensor conv_bn_stacked(const nn::Conv2dImpl& c, const nn::BatchNorm2dImpl& b,
                              const StackedState& s, const std::string& cp, const std::string& bp,
                              const torch::Tensor& x, const Epilogue& e = kNone) {
  const auto& w = s[cp + "weight"];
  torch::Tensor bias = c.options.bias() ? s[cp + "bias"] : torch::Tensor();
  const std::int64_t groups = x.size(1) == w.size(1) ? 1 : x.size(1) / w.size(1);
  const std::vector<std::int64_t> pad = {w.size(2) / 2, w.size(3) / 2};
  const auto& o = c.options;
  const auto &gamma = s[bp + "weight"], &beta = s[bp + "bias"];
  const auto &mean = s[bp + "running_mean"], &var = s[bp + "running_var"];
  if (folding(b)) {
    auto [fw, shift] = fold(gamma, beta, mean, var, b.options.eps(), w, bias);
    return conv_finish(x, fw, shift, o.stride(), pad, o.dilation(), groups, e);
  }
  auto y = torch::conv2d(x, w, bias, o.stride(), pad, o.dilation(), groups);
  return finish(torch::batch_norm(y, gamma, beta, mean, var, false, 0.0, b.options.eps(), true), e);
}

// A linear layer for K points on features [N, K, F]: [N, K, out], one batched product.
torch::Tensor linear_stacked(const torch::Tensor& weight, const torch::Tensor& bias,
                             const torch::Tensor& x) {
  const std::int64_t k = x.size(1);
  auto w = weight.reshape({k, -1, weight.size(1)});  // [K, out, F]
  auto y = torch::bmm(x.transpose(0, 1), w.transpose(1, 2)).transpose(0, 1);
  return bias.defined() ? y + bias.reshape({k, -1}) : y;
}
torch::Tensor linear_stacked(const nn::LinearImpl& l, const StackedState& s, const std::string& p,
                             const torch::Tensor& x) {
  return linear_stacked(s[p + "weight"], l.options.bias() ? s[p + "bias"] : torch::Tensor(), x);
}

// bn(linear(x)) for K points (VGG-9's fc).
torch::Tensor linear_bn_stacked(const nn::LinearImpl& l, const nn::BatchNorm1dImpl& b,
                                const StackedState& s, const std::string& lp,
                                const std::string& bp, const torch::Tensor& x) {
  const auto& w = s[lp + "weight"];
  torch::Tensor bias = l.options.bias() ? s[lp + "bias"] : torch::Tensor();
  const auto &gamma = s[bp + "weight"], &beta = s[bp + "bias"];
  const auto &mean = s[bp + "running_mean"], &var = s[bp + "running_var"];
  if (folding(b)) {
    auto [fw, shift] = fold(gamma, beta, mean, var, b.options.eps(), w, bias);
    return linear_stacked(fw, shift, x);
  }
  auto y = linear_stacked(w, bias, x);
  const auto n = y.size(0);
  return torch::batch_norm(y.reshape({n, -1}), gamma, beta, mean, var, false, 0.0,
                           b.options.eps(), true)
      .reshape(y.sizes());
}

// sequential_folded for K points; `prefix` is the Sequential's name with a trailing dot.
torch::Tensor sequential_stacked(nn::Sequential& seq, const StackedState& s,
                                 const std::string& prefix, torch::Tensor x) {
  const std::size_t n = seq->size();
  for (std::size_t i = 0; i < n; ++i) {
    auto m = seq->ptr(i);
    auto next = i + 1 < n ? seq->ptr(i + 1) : nullptr;
    const std::string p = prefix + std::to_string(i) + ".", q = prefix + std::to_string(i + 1) + ".";
    if (auto* c = m->as<nn::Conv2d>(); c && next && next->as<nn::BatchNorm2d>()) {
      const bool relu = i + 2 < n && seq->ptr(i + 2)->as<nn::ReLU>();
      x = conv_bn_stacked(*c, *next->as<nn::BatchNorm2d>(), s, p, q, x, relu ? kRelu : kNone);
      i += relu ? 2 : 1;
    } else if (auto* l = m->as<nn::Linear>(); l && next && next->as<nn::BatchNorm1d>()) {
      x = linear_bn_stacked(*l, *next->as<nn::BatchNorm1d>(), s, p, q, x);
      ++i;
    } else if (auto* l1 = m->as<nn::Linear>()) {
      x = linear_stacked(*l1, s, p, x);
    } else if (m->as<nn::ReLU>() || m->as<nn::MaxPool2d>()) {  // the same for every channel
      x = (seq->begin() + std::ptrdiff_t(i))->forward(x);
    } else {
      throw std::logic_error("sequential_stacked: no stacked form of " + m->name());
    }
  }
  return x;
}

// [N, K·C, H, W] -> [N, K, C·H·W], each point's features in the order of flatten(1).
torch::Tensor flatten_stacked(const torch::Tensor& x, int points) {
  return x.reshape({x.size(0), points, -1});
}

// ---------------- VGG-9 ----------------
// features: [conv-bn-relu] x2, M, x2, M, x3, M (reference pattern 64,64,M,128,128,M,256,256,256,M)
class Vgg9 : public ZooNet {
 public:
  Vgg9(int channels, int h, int w, int classes) {
    const int cfg[] = {64, 64, -1, 128, 128, -1, 256, 256, 256, -1};
    int in = channels;
    for (int c : cfg) {
      if (c < 0) {
        features_->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2).stride(2).ceil_mode(true)));
        h = (h + 1) / 2;
        w = (w + 1) / 2;
      } else {
        features_->push_back(conv(in, c, 3, 1, 1, true));
        features_->push_back(nn::BatchNorm2d(c));
        features_->push_back(nn::ReLU(nn::ReLUOptions(true)));
        in = c;
      }
    }
    register_module("features", features_);
    fc_->push_back(nn::Linear(in * h * w, 256));
    fc_->push_back(nn::BatchNorm1d(256));
    fc_->push_back(nn::ReLU(nn::ReLUOptions(true)));
    register_module("fc", fc_);
    classifier_ = register_module("classifier", nn::Linear(256, classes));
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = sequential_folded(features_, x);
    x = x.flatten(1);
    return classifier_->forward(sequential_folded(fc_, x));
  }
  bool can_stack() const override { return true; }
  torch::Tensor forward_stacked(const torch::Tensor& x, const StackedState& s) override {
    auto f = flatten_stacked(sequential_stacked(features_, s, "features.", x), s.points);
    return linear_stacked(*classifier_, s, "classifier.", sequential_stacked(fc_, s, "fc.", f));
  }

 private:
  nn::Sequential features_, fc_;
  nn::Linear classifier_{nullptr};
};

// ---------------- ResNet (CIFAR), WRN ----------------
class BasicBlockImpl : public nn::Module {
 public:
  BasicBlockImpl(int in, int planes, int stride, bool shortcut) : use_shortcut_(shortcut) {
    conv1_ = register_module("conv1", conv(in, planes, 3, stride, 1, false));
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv(planes, planes, 3, 1, 1, false));
    bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    if (shortcut && (stride != 1 || in != planes)) {
      proj_->push_back(conv(in, planes, 1, stride, 0, false));
      proj_->push_back(nn::BatchNorm2d(planes));
      register_module("shortcut", proj_);
      has_proj_ = true;
    }
  }
  // relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), each convolution with its epilogue.
  torch::Tensor forward(torch::Tensor x) {
    auto out = conv_bn(*conv1_, *bn1_, x, kRelu);
    if (!use_shortcut_) return conv_bn(*conv2_, *bn2_, out, kRelu);
    const auto shortcut = has_proj_ ? sequential_folded(proj_, x) : x;
    return conv_bn(*conv2_, *bn2_, out, add_relu(shortcut));
  }
  torch::Tensor forward_stacked(const torch::Tensor& x, const StackedState& s,
                                const std::string& p) {
    auto out = conv_bn_stacked(*conv1_, *bn1_, s, p + "conv1.", p + "bn1.", x, kRelu);
    const std::string c2 = p + "conv2.", b2 = p + "bn2.";
    if (!use_shortcut_) return conv_bn_stacked(*conv2_, *bn2_, s, c2, b2, out, kRelu);
    const auto shortcut = has_proj_ ? sequential_stacked(proj_, s, p + "shortcut.", x) : x;
    return conv_bn_stacked(*conv2_, *bn2_, s, c2, b2, out, add_relu(shortcut));
  }

 private:
  bool use_shortcut_, has_proj_ = false;
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::Sequential proj_;
};
TORCH_MODULE(BasicBlock);

class ResNetCifar : public ZooNet {
 public:
  ResNetCifar(int depth, int width, bool shortcut, int channels, int classes) {
    const int n = (depth - 2) / 6;
    int in = 16 * width;
    conv1_ = register_module("conv1", conv(channels, in, 3, 1, 1, false));
    bn1_ = register_module("bn1", nn::BatchNorm2d(in));
    const int planes[] = {16 * width, 32 * width, 64 * width};
    nn::Sequential* layers[] = {&layer1_, &layer2_, &layer3_};
    for (int s = 0; s < 3; ++s) {
      for (int b = 0; b < n; ++b) {
        int stride = (b == 0 && s > 0) ? 2 : 1;
        (*layers[s])->push_back(BasicBlock(in, planes[s], stride, shortcut));
        in = planes[s];
      }
      register_module("layer" + std::to_string(s + 1), *layers[s]);
    }
    linear_ = register_module("linear", nn::Linear(in, classes));
  }
  torch::Tensor forward(torch::Tensor x) override {
    auto out = conv_bn(*conv1_, *bn1_, x, kRelu);
    out = layer3_->forward(layer2_->forward(layer1_->forward(out)));
    // The reference pools 8x8 on 32x32 inputs; adaptive pooling is identical there and also
    // serves 28x28 inputs.
    out = torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);
    return linear_->forward(out);
  }
  bool can_stack() const override { return true; }
  torch::Tensor forward_stacked(const torch::Tensor& x, const StackedState& s) override {
    auto out = conv_bn_stacked(*conv1_, *bn1_, s, "conv1.", "bn1.", x, kRelu);
    const nn::Sequential* layers[] = {&layer1_, &layer2_, &layer3_};
    for (int l = 0; l < 3; ++l)
      for (std::size_t b = 0; b < (*layers[l])->size(); ++b)
        out = (*layers[l])->ptr<BasicBlockImpl>(b)->forward_stacked(
            out, s, "layer" + std::to_string(l + 1) + "." + std::to_string(b) + ".");
    out = flatten_stacked(torch::adaptive_avg_pool2d(out, {1, 1}), s.points);
    return linear_stacked(*linear_, s, "linear.", out);
  }

 private:
  nn::Conv2d conv1_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  nn::Sequential layer1_, layer2_, layer3_;
  nn::Linear linear_{nullptr};
};

// ---------------- DenseNet-121 (CIFAR) ----------------
class BottleneckImpl : public nn::Module {
 public:
  BottleneckImpl(int in, int growth) {
    bn1_ = register_module("bn1", nn::BatchNorm2d(in));
    conv1_ = register_module("conv1", conv(in, 4 * growth, 1, 1, 0, false));
    bn2_ = register_module("bn2", nn::BatchNorm2d(4 * growth));
    conv2_ = register_module("conv2", conv(4 * growth, growth, 3, 1, 1, false));
  }
  torch::Tensor forward(torch::Tensor x) {
    auto out = conv1_->forward(torch::relu(bn1_->forward(x)));
    out = conv2_->forward(torch::relu(bn2_->forward(out)));
    return torch::cat({out, x}, 1);
  }

 private:
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(Bottleneck);

class TransitionImpl : public nn::Module {
 public:
  TransitionImpl(int in, int out) {
    bn_ = register_module("bn", nn::BatchNorm2d(in));
    conv_ = register_module("conv", conv(in, out, 1, 1, 0, false));
  }
  torch::Tensor forward(torch::Tensor x) {
    return torch::avg_pool2d(conv_->forward(torch::relu(bn_->forward(x))), 2);
  }

 private:
  nn::BatchNorm2d bn_{nullptr};
  nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(Transition);

class DenseNet121 : public ZooNet {
 public:
  DenseNet121(int channels, int classes) {
    const int growth = 32, blocks[] = {6, 12, 24, 16};
    int planes = 2 * growth;
    conv1_ = register_module("conv1", conv(channels, planes, 3, 1, 1, false));
    for (int b = 0; b < 4; ++b) {
      nn::Sequential dense;
      for (int i = 0; i < blocks[b]; ++i) {
        dense->push_back(Bottleneck(planes, growth));
        planes += growth;
      }
      dense_.push_back(register_module("dense" + std::to_string(b + 1), dense));
      if (b < 3) {
        int out = int(std::floor(planes * 0.5));
        trans_.push_back(register_module("trans" + std::to_string(b + 1), Transition(planes, out)));
        planes = out;
      }
    }
    bn_ = register_module("bn", nn::BatchNorm2d(planes));
    linear_ = register_module("linear", nn::Linear(planes, classes));
  }
  torch::Tensor forward(torch::Tensor x) override {
    auto out = conv1_->forward(x);
    for (int b = 0; b < 4; ++b) {
      out = dense_[b]->forward(out);
      if (b < 3) out = trans_[b]->forward(out);
    }
    // Reference: avg_pool2d(relu(bn(out)), 4) on the 4x4 map of 32x32 inputs.
    out = torch::adaptive_avg_pool2d(torch::relu(bn_->forward(out)), {1, 1}).flatten(1);
    return linear_->forward(out);
  }

 private:
  nn::Conv2d conv1_{nullptr};
  std::vector<nn::Sequential> dense_;
  std::vector<Transition> trans_;
  nn::BatchNorm2d bn_{nullptr};
  nn::Linear linear_{nullptr};
};

// ---------------- cnn_small: losscape's quick CPU network ----------------
// Not in the reference: two conv-BN-ReLU-pool stages and a linear classifier, 10,314 parameters (10,026 on 28x28 inputs),
// for the quickstart and for tests (trains to > 85 % on Fashion-MNIST in one CPU epoch).
class CnnSmall : public ZooNet {
 public:
  CnnSmall(int channels, int classes) {
    conv1_ = register_module("conv1", conv(channels, 16, 3, 1, 1, true));
    bn1_ = register_module("bn1", nn::BatchNorm2d(16));
    conv2_ = register_module("conv2", conv(16, 32, 3, 1, 1, true));
    bn2_ = register_module("bn2", nn::BatchNorm2d(32));
    linear_ = register_module("linear", nn::Linear(32 * 4 * 4, classes));
  }
  torch::Tensor forward(torch::Tensor x) override {
    auto out = torch::max_pool2d(conv_bn(*conv1_, *bn1_, x, kRelu), 2);
    out = torch::max_pool2d(conv_bn(*conv2_, *bn2_, out, kRelu), 2);
    out = torch::adaptive_avg_pool2d(out, {4, 4}).flatten(1);
    return linear_->forward(out);
  }
  bool can_stack() const override { return true; }
  torch::Tensor forward_stacked(const torch::Tensor& x, const StackedState& s) override {
    auto out = torch::max_pool2d(conv_bn_stacked(*conv1_, *bn1_, s, "conv1.", "bn1.", x, kRelu), 2);
    out = torch::max_pool2d(conv_bn_stacked(*conv2_, *bn2_, s, "conv2.", "bn2.", out, kRelu), 2);
    out = flatten_stacked(torch::adaptive_avg_pool2d(out, {4, 4}), s.points);
    return linear_stacked(*linear_, s, "linear.", out);
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::Linear linear_{nullptr};
};

}  // namespace

const torch::Tensor& StackedState::operator[](const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw std::logic_error("stacked state has no tensor '" + name + "'");
  return it->second;
}

torch::Tensor ZooNet::forward_stacked(const torch::Tensor&, const StackedState&) {
  throw std::logic_error("this network has no stacked forward (can_stack() is false)");
}

std::vector<std::string> zoo_names() {
  return {"vgg9",          "resnet20",          "resnet56",         "resnet110",
          "resnet20_noshort", "resnet56_noshort", "resnet110_noshort", "wrn56_2",
          "wrn56_4",       "wrn56_8",           "wrn56_2_noshort",  "wrn56_4_noshort",
          "wrn56_8_noshort", "densenet121",     "cnn_small"};
}

FoldBatchNorm::FoldBatchNorm(bool on) : previous_(fold_batchnorm) { fold_batchnorm = on; }
FoldBatchNorm::~FoldBatchNorm() { fold_batchnorm = previous_; }

FuseConvolutions::FuseConvolutions(bool on) : previous_(fuse_convolutions) {
  fuse_convolutions = on;
}
FuseConvolutions::~FuseConvolutions() { fuse_convolutions = previous_; }

bool is_zoo_name(const std::string& name) {
  for (auto& n : zoo_names())
    if (n == name) return true;
  return false;
}

void reference_init(torch::nn::Module& net) {
  torch::NoGradGuard guard;
  for (auto& m : net.modules(/*include_self=*/true)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanIn, torch::kReLU);
      if (c->options.bias()) c->bias.zero_();
    } else if (auto* b = m->as<nn::BatchNorm2d>()) {
      b->weight.fill_(1);
      b->bias.zero_();
    } else if (auto* b1 = m->as<nn::BatchNorm1d>()) {
      b1->weight.fill_(1);
      b1->bias.zero_();
    } else if (auto* l = m->as<nn::Linear>()) {
      l->weight.normal_(0, 1e-3);
      if (l->options.bias()) l->bias.zero_();
    }
  }
}

std::shared_ptr<ZooNet> make_zoo_model(const std::string& arch, int channels, int height,
                                       int width, int classes) {
  std::shared_ptr<ZooNet> net;
  auto resnet = [&](const std::string& rest, int width_mult, bool shortcut) -> bool {
    if (rest == "20" || rest == "56" || rest == "110") {
      net = std::make_shared<ResNetCifar>(std::stoi(rest), width_mult, shortcut, channels, classes);
      return true;
    }
    return false;
  };
  std::string base = arch;
  bool shortcut = true;
  if (base.size() > 8 && base.substr(base.size() - 8) == "_noshort") {
    shortcut = false;
    base = base.substr(0, base.size() - 8);
  }
  if (arch == "vgg9") {
    net = std::make_shared<Vgg9>(channels, height, width, classes);
  } else if (arch == "densenet121") {
    net = std::make_shared<DenseNet121>(channels, classes);
  } else if (arch == "cnn_small") {
    net = std::make_shared<CnnSmall>(channels, classes);
  } else if (base.rfind("resnet", 0) == 0) {
    resnet(base.substr(6), 1, shortcut);
  } else if (base.rfind("wrn56_", 0) == 0) {
    std::string k = base.substr(6);
    if (k == "2" || k == "4" || k == "8") resnet("56", std::stoi(k), shortcut);
  }
  if (!net) {
    std::string names;
    for (auto& n : zoo_names()) names += (names.empty() ? "" : ", ") + n;
    throw InputError("unknown architecture '" + arch + "' (known: " + names + ")");
  }
  reference_init(*net);
  return net;
}

}  // namespace losscape
