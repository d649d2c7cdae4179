// Several grid points per forward: stack_points + forward_stacked + evaluate_points against the
// one-point path (apply_directions + forward / evaluate) for every network that can stack.
#include <cmath>
#include <map>

#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "test_model_support.hpp"
#include "test_support.hpp"

using namespace losscape;

namespace {

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / (b.abs().max() + 1e-12)).item<double>();
}

}  // namespace

TEST_CASE("several points per forward equal one point at a time", "[stacked]") {
  struct Case {
    const char* arch;
    const char* dataset;
    std::int64_t c, hw;
  };
  const Case cases[] = {{"cnn_small", "fashion-mnist", 1, 28},
                        {"vgg9", "cifar10", 3, 32},
                        {"resnet20", "cifar10", 3, 32},
                        {"resnet20_noshort", "cifar10", 3, 32}};
  const std::vector<double> alphas = {-0.3, 0.0, 0.5}, betas = {0.2, -0.1, 0.4};
  for (const auto& c : cases) {
    for (TensorSet type : {TensorSet::weights, TensorSet::states}) {
      INFO(c.arch << ", " << to_string(type) << " directions");
      torch::manual_seed(11);
      auto model = make_zoo(c.arch, c.dataset);
      REQUIRE(model->can_stack());
      test::scramble(*model);
      DirectionsConfig dc;
      dc.type = type;
      // With states directions the BatchNorm vectors move too (a copy of θ for ≤1-D tensors).
      dc.x.ignore_biasbn = dc.y.ignore_biasbn = type == TensorSet::weights;
      auto dirs = make_directions(*model, dc, c.dataset);
      auto live = model->tensors(type);
      TensorList base;
      for (auto& t : live) base.push_back({t.name, t.tensor.clone()});
      DataSplit data;
      data.images = torch::randn({9, c.c, c.hw, c.hw});
      data.labels = torch::randint(0, 10, {9}, torch::kInt64);

      for (bool nhwc : {false, true}) {
        INFO((nhwc ? "nhwc" : "nchw"));
        set_channels_last(*model, nhwc);
        DataSplit d = data;
        d.images = with_layout(data.images, nhwc);
        apply_directions(live, base, dirs, 0, 0);
        auto s = stack_points(*model, base, dirs, alphas, betas);
        REQUIRE(s.points == 3);
        // θ* itself is untouched by stacking.
        for (std::size_t i = 0; i < live.size(); ++i)
          REQUIRE(torch::equal(live[i].tensor, base[i].tensor));

        for (bool fold : {true, false}) {
          INFO("fold " << fold);
          torch::Tensor stacked;
          {
            c10::InferenceMode guard;
            model->train(false);
            FoldBatchNorm f(fold);
            stacked = model->forward_stacked(d.images, s);
          }
          REQUIRE(stacked.sizes() == torch::IntArrayRef({9, 3, 10}));
          EvalOptions o;
          o.batch_size = 4;  // 9 images: batches of 4, 4 and 1
          o.fold_batchnorm = fold;
          for (LossKind loss : {LossKind::cross_entropy, LossKind::mse}) {
            o.loss = loss;
            auto sums = evaluate_points(*model, d, s, o);
            REQUIRE(sums.size() == 3);
            for (std::size_t k = 0; k < 3; ++k) {
              INFO("point " << k << ", " << to_string(loss));
              apply_directions(live, base, dirs, alphas[k], betas[k]);
              auto one = evaluate(*model, d, o);
              torch::Tensor logits;
              {
                c10::InferenceMode guard;
                FoldBatchNorm f(fold);
                logits = model->forward(d.images);
              }
              apply_directions(live, base, dirs, 0, 0);
              CHECK(max_rel_diff(stacked.select(1, std::int64_t(k)), logits) < 1e-5);
              CHECK(sums[k].loss() == Approx(one.loss()).epsilon(1e-5));
              CHECK(std::abs(sums[k].correct - one.correct) <= 1);  // an argmax tie may flip
              CHECK(sums[k].count == 9);
            }
          }
          // The points differ from each other: the stacking really used each point's tensors.
          CHECK(max_rel_diff(stacked.select(1, 0), stacked.select(1, 2)) > 1e-3);
        }
      }
    }
  }
}

TEST_CASE("networks without a stacked form say so", "[stacked]") {
  auto dense = make_zoo("densenet121", "cifar10");
  CHECK(!dense->can_stack());
  CHECK_THROWS_AS(dense->forward_stacked(torch::zeros({1, 3, 32, 32}), StackedState{}), InputError);
}

TEST_CASE("stack_points_into rewrites the same tensors for the same number of points", "[stacked]") {
  torch::manual_seed(5);
  auto model = make_zoo("resnet20", "cifar10");
  test::scramble(*model);
  auto dirs = make_directions(*model, DirectionsConfig{}, "cifar10");
  TensorList base;
  for (auto& t : model->parameters()) base.push_back({t.name, t.tensor.clone()});
  const std::vector<double> alphas = {-0.4, 0.1, 0.7}, betas = {0.3, -0.2, 0.05};
  auto same_as_fresh = [&](const StackedState& s, const std::vector<double>& a,
                           const std::vector<double>& b) {
    auto fresh = stack_points(*model, base, dirs, a, b);
    REQUIRE(s.points == fresh.points);
    REQUIRE(s.tensors.size() == fresh.tensors.size());
    for (const auto& [name, t] : fresh.tensors) {
      INFO(name);
      const auto& r = s[name];
      CHECK(torch::equal(r, t));  // the same two ops per slot: the same bits
      CHECK(r.strides() == t.strides());  // the model's layout
    }
  };
  for (bool nhwc : {false, true}) {
    INFO((nhwc ? "nhwc" : "nchw"));
    set_channels_last(*model, nhwc);
    for (auto& t : base) t.tensor = t.tensor.contiguous(nhwc && t.tensor.dim() == 4
                                                            ? torch::MemoryFormat::ChannelsLast
                                                            : torch::MemoryFormat::Contiguous);
    StackedState s;
    stack_points_into(s, *model, base, dirs, {0.9, 0.9, 0.9}, {-0.9, -0.9, -0.9});
    std::map<std::string, const void*> where;
    for (const auto& [name, t] : s.tensors) where[name] = t.data_ptr();
    stack_points_into(s, *model, base, dirs, alphas, betas);
    same_as_fresh(s, alphas, betas);
    for (const auto& [name, t] : s.tensors) CHECK(t.data_ptr() == where[name]);
    // Another number of points: new tensors of the new size.
    stack_points_into(s, *model, base, dirs, {0.2, -0.2}, {0.1, 0.3});
    same_as_fresh(s, {0.2, -0.2}, {0.1, 0.3});
  }
}
