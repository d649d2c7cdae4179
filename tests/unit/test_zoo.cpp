// Tests of zoo.hpp and the zoo side of model.hpp: parameter counts against the reference table,
// output shapes for both input kinds, and PyTorch's state_dict order.
#include <algorithm>
#include <map>

#include "losscape/data.hpp"
#include "losscape/error.hpp"
#include "losscape/model.hpp"
#include "losscape/zoo.hpp"
#include "test_support.hpp"

using namespace losscape;

namespace {

// reference-notes.md, "Models": trainable parameter counts of the reference's PyTorch networks.
const std::map<std::string, std::int64_t> kReferenceCounts = {
    {"vgg9", 2789706},          {"resnet20", 272474},          {"resnet20_noshort", 269722},
    {"resnet56", 855770},       {"resnet56_noshort", 853018},  {"resnet110", 1730714},
    {"resnet110_noshort", 1727962}, {"wrn56_2", 3412394},      {"wrn56_4", 13628234},
    {"wrn56_8", 54470282},      {"densenet121", 6956298},
};

// The `_noshort` wide ResNets are not in the table; they lack exactly the two projection
// shortcuts (1x1 conv without bias + BN) of the stride-2 stages: 16k->32k and 32k->64k.
std::int64_t wrn_projection_params(std::int64_t k) {
  return (16 * k * 32 * k + 2 * 32 * k) + (32 * k * 64 * k + 2 * 64 * k);
}

// cnn_small (losscape's own): conv3x3(C->16)+b, BN16, conv3x3(16->32)+b, BN32, Linear(512->10).
std::int64_t cnn_small_params(std::int64_t c) {
  return (c * 16 * 9 + 16) + 32 + (16 * 32 * 9 + 32) + 64 + (32 * 4 * 4 * 10 + 10);
}

std::int64_t expected_count(const std::string& arch) {
  auto it = kReferenceCounts.find(arch);
  if (it != kReferenceCounts.end()) return it->second;
  if (arch == "cnn_small") return cnn_small_params(3);
  const std::string suffix = "_noshort";
  REQUIRE(arch.size() > suffix.size());
  REQUIRE(arch.substr(arch.size() - suffix.size()) == suffix);
  const std::string base = arch.substr(0, arch.size() - suffix.size());
  REQUIRE(base.rfind("wrn56_", 0) == 0);
  return kReferenceCounts.at(base) - wrn_projection_params(std::stoi(base.substr(6)));
}

}  // namespace

TEST_CASE("every zoo network has the reference's trainable parameter count", "[zoo]") {
  const auto names = zoo_names();
  // Every architecture of the table is in the zoo.
  for (auto& [name, count] : kReferenceCounts) {
    INFO(name);
    CHECK(is_zoo_name(name));
  }
  for (const auto& arch : names) {
    INFO(arch);
    auto m = make_zoo(arch, "cifar10");
    CHECK(m->parameter_count() == expected_count(arch));
    CHECK(m->arch == arch);
    CHECK(m->input_shape == std::vector<std::int64_t>{3, 32, 32});
    // Trainable parameters are exactly the state entries that are not buffers, in the same order.
    auto params = m->parameters();
    auto state = m->state();
    std::vector<std::string> p_names, s_param_names;
    for (auto& p : params) p_names.push_back(p.name);
    std::map<std::string, bool> is_param;
    for (auto& p : params) is_param[p.name] = true;
    for (auto& s : state)
      if (is_param.count(s.name)) s_param_names.push_back(s.name);
    CHECK(s_param_names == p_names);
  }
  CHECK_FALSE(is_zoo_name("resnet18"));
  CHECK_THROWS_AS(make_zoo_model("resnet18"), InputError);
  CHECK_THROWS_AS(make_zoo_model("wrn56_3"), InputError);
}

TEST_CASE("grayscale 28x28 networks differ only in the first layer (and vgg9's fc)", "[zoo]") {
  // One input channel instead of three removes 2 * out_channels * 3 * 3 weights from the stem.
  CHECK(make_zoo("resnet20", "fashion-mnist")->parameter_count() == 272474 - 2 * 16 * 9);
  CHECK(make_zoo("resnet56_noshort", "mnist")->parameter_count() == 853018 - 2 * 16 * 9);
  CHECK(make_zoo("densenet121", "fashion-mnist")->parameter_count() == 6956298 - 2 * 64 * 9);
  CHECK(make_zoo("cnn_small", "fashion-mnist")->parameter_count() == cnn_small_params(1));
  // vgg9 pools 28 -> 14 -> 7 -> 4 (ceil mode), so its fc still sees 256 x 4 x 4 = 4096 inputs.
  CHECK(make_zoo("vgg9", "fashion-mnist")->parameter_count() == 2789706 - 2 * 64 * 9);
}

TEST_CASE("every zoo network maps [B,3,32,32] and [B,1,28,28] to [B,10]", "[zoo][slow]") {
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  for (const auto& arch : zoo_names()) {
    for (const char* dataset : {"cifar10", "fashion-mnist"}) {
      INFO(arch << " on " << dataset);
      auto m = make_zoo(arch, dataset);
      m->train(false);
      auto s = data_shape(dataset);
      const std::int64_t batch = 2;
      auto out = m->forward(torch::randn({batch, s.channels, s.height, s.width}));
      REQUIRE(out.sizes() == torch::IntArrayRef({batch, 10}));
      CHECK(torch::isfinite(out).all().item<bool>());
    }
  }
}

TEST_CASE("state() follows PyTorch's state_dict order", "[zoo]") {
  auto m = make_zoo("resnet56", "cifar10");
  auto state = m->state();
  const std::vector<std::string> head = {
      "conv1.weight",        "bn1.weight",           "bn1.bias",
      "bn1.running_mean",    "bn1.running_var",      "bn1.num_batches_tracked",
      "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
      "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var", "layer1.0.bn1.num_batches_tracked",
      "layer1.0.conv2.weight", "layer1.0.bn2.weight"};
  REQUIRE(state.size() > head.size());
  for (std::size_t i = 0; i < head.size(); ++i) CHECK(state[i].name == head[i]);
  CHECK(state.back().name == "linear.bias");
  CHECK(state[state.size() - 2].name == "linear.weight");
  // 55 convs + 1 linear with weights; 55 BNs + 2 projection BNs with 5 entries; 2 projection convs.
  CHECK(state.size() == 57 * 5 + 55 + 2 + 2);
  CHECK(m->parameters().size() == 57 * 2 + 55 + 2 + 2);

  // The first projection shortcut sits in layer2.0 after bn2, as in the reference's BasicBlock.
  std::vector<std::string> names;
  for (auto& t : state) names.push_back(t.name);
  auto at = std::find(names.begin(), names.end(), "layer2.0.bn2.num_batches_tracked");
  REQUIRE(at != names.end());
  CHECK(*(at + 1) == "layer2.0.shortcut.0.weight");
  CHECK(*(at + 2) == "layer2.0.shortcut.1.weight");

  // num_batches_tracked is PyTorch's 0-d int64 buffer; running stats are float32.
  CHECK(state[5].tensor.dim() == 0);
  CHECK(state[5].tensor.scalar_type() == torch::kInt64);
  CHECK(state[3].tensor.scalar_type() == torch::kFloat32);

  auto noshort = make_zoo("resnet56_noshort", "cifar10")->state();
  for (auto& t : noshort) CHECK(t.name.find("shortcut") == std::string::npos);

  auto vgg = make_zoo("vgg9", "cifar10")->state();
  CHECK(vgg[0].name == "features.0.weight");
  CHECK(vgg[1].name == "features.0.bias");
  CHECK(vgg[2].name == "features.1.weight");
  CHECK(vgg[6].name == "features.1.num_batches_tracked");
  CHECK(vgg[7].name == "features.3.weight");
  std::vector<std::string> tail;
  for (std::size_t i = vgg.size() - 9; i < vgg.size(); ++i) tail.push_back(vgg[i].name);
  CHECK(tail == std::vector<std::string>{"fc.0.weight", "fc.0.bias", "fc.1.weight", "fc.1.bias",
                                         "fc.1.running_mean", "fc.1.running_var",
                                         "fc.1.num_batches_tracked", "classifier.weight",
                                         "classifier.bias"});

  auto dn = make_zoo("densenet121", "cifar10")->state();
  CHECK(dn[0].name == "conv1.weight");
  CHECK(dn[1].name == "dense1.0.bn1.weight");
  std::vector<std::string> dn_names;
  for (auto& t : dn) dn_names.push_back(t.name);
  auto t1 = std::find(dn_names.begin(), dn_names.end(), "trans1.bn.weight");
  auto d2 = std::find(dn_names.begin(), dn_names.end(), "dense2.0.bn1.weight");
  REQUIRE(t1 != dn_names.end());
  CHECK(t1 < d2);
  CHECK(*(t1 - 1) == "dense1.5.conv2.weight");
}

TEST_CASE("reference initialization", "[zoo]") {
  torch::manual_seed(1);
  auto net = make_zoo_model("resnet20");
  std::map<std::string, torch::Tensor> p;
  for (auto& kv : net->named_parameters()) p[kv.key()] = kv.value();
  // Kaiming normal, fan_in, ReLU gain: std = sqrt(2 / (in * k * k)).
  auto w = p.at("layer3.1.conv1.weight");
  CHECK(w.std().item<double>() == Approx(std::sqrt(2.0 / (64 * 9))).epsilon(0.02));
  CHECK(p.at("bn1.weight").eq(1).all().item<bool>());
  CHECK(p.at("bn1.bias").eq(0).all().item<bool>());
  CHECK(p.at("linear.weight").std().item<double>() == Approx(1e-3).epsilon(0.1));
  CHECK(p.at("linear.bias").eq(0).all().item<bool>());
}

TEST_CASE("the in-place epilogues of inference passes equal the autograd forward", "[zoo]") {
  // In inference mode the ReLUs and shortcut sums after the convolutions run in place on the
  // convolutions' fresh outputs: the same values as the out-of-place forward, with the input
  // and the parameters untouched (the identity shortcut is the block's input). cuDNN fusion
  // changes nothing on a CPU.
  for (std::string arch : {"cnn_small", "resnet20", "resnet20_noshort", "vgg9"}) {
    for (bool fold : {false, true}) {
      INFO(arch << (fold ? " folded" : " unfolded"));
      torch::manual_seed(12);
      auto net = make_zoo_model(arch, 3, 32, 32, 10);
      net->eval();
      auto x = torch::randn({3, 3, 32, 32});
      const auto x0 = x.clone();
      FoldBatchNorm f(fold);
      auto with_grad = net->forward(x);  // autograd on: out of place
      REQUIRE(with_grad.requires_grad());
      torch::Tensor inference, fused;
      {
        c10::InferenceMode guard;
        inference = net->forward(x);
        FuseConvolutions fuse;
        fused = net->forward(x);
      }
      CHECK(torch::equal(inference, with_grad.detach()));
      CHECK(torch::equal(fused, inference));
      CHECK(torch::equal(x, x0));
      // and a second inference pass gives the same (no parameter was changed in place)
      c10::InferenceMode guard;
      CHECK(torch::equal(net->forward(x), inference));
    }
  }
}

TEST_CASE("BatchNorm folding gives the unfolded forward up to rounding", "[zoo]") {
  // (DenseNet's BatchNorms precede their convolutions: it runs unfolded.)
  for (std::string arch : {"cnn_small", "resnet20", "resnet20_noshort", "vgg9"}) {
    INFO(arch);
    torch::manual_seed(11);
    auto net = make_zoo_model(arch, 3, 32, 32, 10);
    {
      // Non-trivial BatchNorm statistics and affine parameters, as after training.
      torch::NoGradGuard ng;
      for (auto& m : net->modules(false)) {
        if (auto* b = m->as<torch::nn::BatchNorm2d>()) {
          b->running_mean.normal_(0, 0.5);
          b->running_var.uniform_(0.5, 2.0);
          b->weight.uniform_(0.5, 1.5);
          b->bias.normal_(0, 0.2);
        } else if (auto* b1 = m->as<torch::nn::BatchNorm1d>()) {
          b1->running_mean.normal_(0, 0.5);
          b1->running_var.uniform_(0.5, 2.0);
        }
      }
    }
    net->eval();
    torch::NoGradGuard ng;
    auto x = torch::randn({4, 3, 32, 32});
    auto plain = net->forward(x);
    torch::Tensor folded;
    {
      FoldBatchNorm fold;
      folded = net->forward(x);
    }
    CHECK(torch::allclose(folded, plain, 1e-4, 1e-5));
    CHECK(!torch::equal(folded, plain));  // the folded path really ran
    CHECK(torch::equal(net->forward(x), plain));  // and the guard switched it off again
    // In training mode nothing is folded (batch statistics).
    net->train();
    FoldBatchNorm fold;
    auto t1 = net->forward(x);
    FoldBatchNorm off(false);
    CHECK(torch::allclose(t1, net->forward(x)));
  }
}
