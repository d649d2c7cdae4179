// Tests of evaluate.hpp: cross-entropy, MSE and accuracy against closed forms on a model with
// known logits, and against a direct torch::nn::functional computation on a zoo network.
#include <ATen/autocast_mode.h>

#include <cmath>
#include <limits>

#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "losscape/sweep.hpp"
#include "test_model_support.hpp"
#include "test_support.hpp"

using namespace losscape;

namespace {

// A model whose logits are its input, flattened: the data set *is* the logits.
class IdentityLogits : public Model {
 public:
  IdentityLogits() {
    arch = "identity";
    source = "test";
  }
  TensorList parameters() const override { return {}; }
  TensorList state() const override { return {}; }
  torch::Tensor forward(const torch::Tensor& x) override {
    ++calls;
    return x.flatten(1);
  }
  void train(bool on) override { training = on; }
  void to(const torch::Device&) override {}
  bool training = true;
  int calls = 0;
};

DataSplit logits_split(const std::vector<std::vector<float>>& rows, const std::vector<std::int64_t>& labels) {
  const auto n = std::int64_t(rows.size()), c = std::int64_t(rows[0].size());
  auto x = torch::empty({n, 1, 1, c});
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < c; ++j) x[i][0][0][j] = rows[std::size_t(i)][std::size_t(j)];
  DataSplit d;
  d.images = x;
  d.labels = torch::tensor(labels, torch::kInt64);
  d.total = n;
  d.num_classes = int(c);
  return d;
}

}  // namespace

TEST_CASE("cross-entropy, MSE and accuracy equal their closed forms", "[evaluate]") {
  // Sample 0: all logits equal            -> CE = ln 10, predicted class 0 (first maximum).
  // Sample 1: logit a on the true class 3 -> CE = ln(e^a + 9) - a.
  // Sample 2: logit b on class 5, label 1 -> CE = ln(e^b + 9), wrong.
  // Sample 3: logit a on class 0, label 0 -> right.
  const double a = 2.0, b = 1.5;
  std::vector<std::vector<float>> rows(4, std::vector<float>(10, 0.0f));
  rows[1][3] = float(a);
  rows[2][5] = float(b);
  rows[3][0] = float(a);
  IdentityLogits model;
  auto data = logits_split(rows, {7, 3, 1, 0});

  const double ce = (std::log(10.0) + (std::log(std::exp(a) + 9) - a) + std::log(std::exp(b) + 9) +
                     (std::log(std::exp(a) + 9) - a)) / 4;
  // MSE per sample: mean over the 10 classes of (p - onehot)^2.
  auto mse_one = [](double big, bool big_is_label, bool uniform) {
    if (uniform) return (0.81 + 9 * 0.01) / 10;  // p = 0.1 everywhere, label elsewhere
    const double z = std::exp(big) + 9, p = std::exp(big) / z, q = 1 / z;
    if (big_is_label) return ((1 - p) * (1 - p) + 9 * q * q) / 10;
    // the label is one of the small entries
    return (p * p + (1 - q) * (1 - q) + 8 * q * q) / 10;
  };
  const double mse = (mse_one(0, false, true) + mse_one(a, true, false) + mse_one(b, false, false) +
                      mse_one(a, true, false)) / 4;

  for (std::int64_t bs : {1, 3, 4, 100}) {
    INFO("batch size " << bs);
    EvalOptions o;
    o.batch_size = bs;
    auto s = evaluate(model, data, o);
    CHECK_FALSE(model.training);  // evaluate puts the model in eval mode
    CHECK(s.count == 4);
    CHECK(s.correct == 2);
    CHECK(s.accuracy() == 50.0);
    CHECK(s.loss() == Approx(ce).epsilon(1e-6));
    o.loss = LossKind::mse;
    auto m = evaluate(model, data, o);
    CHECK(m.loss() == Approx(mse).epsilon(1e-6));
    CHECK(m.accuracy() == 50.0);
  }
  model.calls = 0;
  EvalOptions o;
  o.batch_size = 3;
  evaluate(model, data, o);
  CHECK(model.calls == 2);  // ceil(4 / 3) batches
}

TEST_CASE("evaluate() on a zoo network equals a direct torch computation", "[evaluate]") {
  torch::manual_seed(3);
  auto model = make_zoo("cnn_small", "fashion-mnist");
  test::scramble(*model);  // non-trivial weights and BN statistics, so eval mode matters
  DataSplit data;
  const std::int64_t n = 37;
  data.images = torch::randn({n, 1, 28, 28});
  data.labels = torch::randint(0, 10, {n}, torch::kInt64);
  data.total = n;

  // Reference: the module in eval mode, whole batch at once, in double precision.
  auto net = model->module();
  REQUIRE(net);
  torch::Tensor logits;
  {
    torch::NoGradGuard g;
    net->eval();
    logits = model->forward(data.images).to(torch::kFloat64);
  }
  namespace F = torch::nn::functional;
  const double ce = F::cross_entropy(logits, data.labels).item<double>();
  const double mse = F::mse_loss(torch::softmax(logits, 1),
                                 torch::one_hot(data.labels, 10).to(torch::kFloat64))
                         .item<double>();
  const double acc = 100.0 * logits.argmax(1).eq(data.labels).sum().item<double>() / double(n);

  model->train(true);  // evaluate must switch to eval mode itself
  for (std::int64_t bs : {1, 8, 37, 64}) {
    INFO("batch size " << bs);
    EvalOptions o;
    o.batch_size = bs;
    auto s = evaluate(*model, data, o);
    CHECK(s.loss() == Approx(ce).epsilon(1e-5));
    CHECK(s.accuracy() == Approx(acc).margin(1e-9));
    CHECK(s.count == n);
    o.loss = LossKind::mse;
    CHECK(evaluate(*model, data, o).loss() == Approx(mse).epsilon(1e-5));
  }
  // The BN running statistics are untouched by evaluation.
  REQUIRE(model->state()[6].name == "bn1.num_batches_tracked");
  CHECK(model->state()[6].tensor.item<std::int64_t>() == 0);

  auto bs = choose_eval_options(*model, data, 0, "nchw", Precision::fp32, 0.2).batch_size;
  CHECK(bs >= 1);
  CHECK(bs <= n);
}

TEST_CASE("sums of shards combine to the whole", "[evaluate]") {
  torch::manual_seed(4);
  auto model = make_zoo("cnn_small", "fashion-mnist");
  DataSplit all;
  all.images = torch::randn({20, 1, 28, 28});
  all.labels = torch::randint(0, 10, {20}, torch::kInt64);
  EvalOptions o;
  o.batch_size = 6;
  auto whole = evaluate(*model, all, o);
  EvalSums sum;
  for (auto [lo, len] : std::vector<std::pair<int, int>>{{0, 7}, {7, 7}, {14, 6}}) {
    DataSplit part;
    part.images = all.images.narrow(0, lo, len);
    part.labels = all.labels.narrow(0, lo, len);
    auto s = evaluate(*model, part, o);
    sum.loss_sum += s.loss_sum;
    sum.correct += s.correct;
    sum.count += s.count;
  }
  CHECK(sum.count == whole.count);
  CHECK(sum.correct == whole.correct);
  CHECK(sum.loss() == Approx(whole.loss()).epsilon(1e-6));
}

TEST_CASE("batch shares partition a split into whole batches of its pass", "[evaluate]") {
  for (std::int64_t n : {0, 1, 15, 16, 17, 48, 100})
    for (std::int64_t bs : {1, 16, 32})
      for (int parts = 1; parts <= 5; ++parts) {
        INFO(n << " images, batch " << bs << ", " << parts << " parts");
        DataSplit d;
        d.labels = torch::arange(n, torch::kInt64);
        d.images = torch::arange(n, torch::kFloat32).view({n, 1, 1, 1});
        const std::int64_t batches = (n + bs - 1) / bs;
        std::int64_t next = 0, fewest = batches, most = 0;
        for (int p = 0; p < parts; ++p) {
          auto s = batch_share(d, bs, p, parts);
          const std::int64_t len = s.size();
          REQUIRE(s.images.size(0) == len);
          if (len > 0) {  // contiguous, starting at a batch boundary, in order
            CHECK(s.labels[0].item<std::int64_t>() == next);
            CHECK(s.images[len - 1].item<float>() == float(next + len - 1));
            CHECK(next % bs == 0);
          }
          CHECK((len % bs == 0 || next + len == n));  // whole batches, but for the pass's last
          const std::int64_t b = (len + bs - 1) / bs;
          fewest = std::min(fewest, b);
          most = std::max(most, b);
          next += len;
        }
        CHECK(next == n);             // together: the whole split, each image once
        CHECK(most - fewest <= 1);    // near-equal shares of the batches
      }
  DataSplit d;
  d.labels = torch::zeros({4}, torch::kInt64);
  d.images = torch::zeros({4, 1, 1, 1});
  CHECK_THROWS_AS(batch_share(d, 0, 0, 1), std::invalid_argument);
  CHECK_THROWS_AS(batch_share(d, 2, 2, 2), std::invalid_argument);
  // A batch size near 2^63 is one batch of the whole split, on one part (n + bs - 1 overflowed:
  // the parts' shares were garbage).
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  CHECK(batch_share(d, huge, 0, 2).size() + batch_share(d, huge, 1, 2).size() == 4);
  CHECK(batch_share(d, huge, 1, 2).size() == 4);
}

TEST_CASE("parse_loss", "[evaluate]") {
  CHECK(parse_loss("crossentropy") == LossKind::cross_entropy);
  CHECK(parse_loss("mse") == LossKind::mse);
  CHECK(std::string(to_string(LossKind::mse)) == "mse");
  CHECK_THROWS_AS(parse_loss("hinge"), InputError);
  EvalSums empty;
  CHECK(empty.loss() == 0);
  CHECK(empty.accuracy() == 0);
}

TEST_CASE("channels-last and bf16 evaluation agree with the default", "[evaluate]") {
  torch::manual_seed(5);
  auto model = make_zoo("resnet20", "cifar10");
  DataSplit data;
  data.images = torch::randn({24, 3, 32, 32});
  data.labels = torch::randint(0, 10, {24}, torch::kInt64);
  EvalOptions o;
  o.batch_size = 8;
  auto ref = evaluate(*model, data, o);
  // The same tensors, relaid out in place: conv weights report NHWC strides, values unchanged.
  auto before = model->parameters()[0].tensor.clone();
  set_channels_last(*model, true);
  auto w = model->parameters()[0].tensor;
  REQUIRE(w.dim() == 4);
  CHECK(w.is_contiguous(torch::MemoryFormat::ChannelsLast));
  CHECK(!w.is_contiguous());
  CHECK(torch::equal(w, before));
  DataSplit nhwc = data;
  nhwc.images = with_layout(data.images, true);
  CHECK(nhwc.images.is_contiguous(torch::MemoryFormat::ChannelsLast));
  auto cl = evaluate(*model, nhwc, o);
  CHECK(cl.loss() == Approx(ref.loss()).epsilon(1e-5));
  CHECK(std::abs(cl.correct - ref.correct) <= 1);  // an argmax tie may flip, nothing more
  // bf16 autocast: close to fp32 but not bit-equal (it really ran in bf16), and the guard leaves
  // autocast off afterwards.
  o.precision = Precision::bf16;
  auto half = evaluate(*model, nhwc, o);
  CHECK(half.loss() == Approx(ref.loss()).epsilon(5e-2));
  CHECK(half.loss() != ref.loss());
  CHECK(!autocast_enabled(false));
  o.precision = Precision::fp16;
  CHECK_THROWS_AS(evaluate(*model, nhwc, o), InputError);
  CHECK(!autocast_enabled(false));
  set_channels_last(*model, false);
  CHECK(model->parameters()[0].tensor.is_contiguous());
  o.precision = Precision::fp32;
  CHECK(evaluate(*model, data, o).loss() == Approx(ref.loss()).epsilon(1e-6));
}

namespace {
// `n` random CIFAR-shaped images with random labels.
DataSplit random_cifar(std::int64_t n) {
  DataSplit d;
  d.images = torch::randn({n, 3, 32, 32});
  d.labels = torch::randint(0, 10, {n}, torch::kInt64);
  return d;
}
}  // namespace

TEST_CASE("choose_eval_options picks among the candidates and leaves the model in its layout",
          "[evaluate]") {
  torch::manual_seed(6);
  auto model = make_zoo("resnet20", "cifar10");
  const DataSplit data = random_cifar(40);
  auto c = choose_eval_options(*model, data, 0, "auto", Precision::fp32, 0.5);
  CHECK((c.batch_size == 16 || c.batch_size == 32 || c.batch_size == 40));
  CHECK(c.images_per_second > 0);
  CHECK(c.report.find("nchw") != std::string::npos);
  CHECK(c.report.find("nhwc") != std::string::npos);
  CHECK(model->parameters()[0].tensor.is_contiguous(
            c.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous));
  auto fixed = choose_eval_options(*model, data, 7, "nchw", Precision::fp32, 0.5);
  CHECK(fixed.batch_size == 7);
  CHECK(!fixed.channels_last);
  CHECK(model->parameters()[0].tensor.is_contiguous());
  CHECK_THROWS_AS(choose_eval_options(*model, data, 0, "nhcw", Precision::fp32, 0.1), InputError);
  CHECK(forward_rate(*model, data, 8, Precision::fp32, 0.05) > 0);
}

TEST_CASE("choose_eval_options: combined timings, memory limits, failures and the run-off",
          "[evaluate]") {
  torch::manual_seed(7);
  auto model = make_zoo("resnet20", "cifar10");
  const DataSplit data = random_cifar(40);
  ChoiceOptions o;
  o.layout = "nchw";
  o.budget_seconds = 0.3;
  int calls = 0;
  SECTION("the combined rate decides, and every timing goes through combine") {
    // Another rank that is fast only at batch 32 (the second candidate) makes it the choice.
    o.combine = [&](const TimingResult& mine) {
      TimingResult all = mine;
      all.rate += ++calls == 2 ? 1e9 : 0;
      return all;
    };
    auto c = choose_eval_options(*model, data, o);
    CHECK(c.batch_size == 32);
    CHECK(calls >= 3);  // 16, 32, 40, and the run-off if any
  }
  SECTION("a batch that does not fit ends the scan; the largest that fits can win") {
    o.runoff = false;
    o.combine = [&](const TimingResult& mine) {
      TimingResult all = mine;
      if (++calls == 2) {
        all.state = TimingResult::out_of_memory;
        all.error = "CUDA out of memory (on another rank)";
      }
      return all;
    };
    auto c = choose_eval_options(*model, data, o);
    CHECK(calls == 2);  // 40 was not tried
    CHECK(c.batch_size == 16);
    o.combine = [&](const TimingResult&) {
      TimingResult all;
      all.state = TimingResult::out_of_memory;
      all.error = "not enough memory";
      return all;
    };
    CHECK_THROWS_WITH(choose_eval_options(*model, data, o),
                      Catch::Contains("even a batch of 16 images does not fit in memory"));
  }
  SECTION("a failure on any rank is thrown with its message") {
    o.combine = [&](const TimingResult&) {
      TimingResult all;
      all.state = TimingResult::failed;
      all.error = "forward failed on rank 3";
      return all;
    };
    CHECK_THROWS_WITH(choose_eval_options(*model, data, o), "forward failed on rank 3");
  }
  SECTION("the scan stops at a candidate more than 3 % below the best, or two in a row below") {
    o.runoff = false;
    const DataSplit more = random_cifar(80);  // candidates 16, 32, 64, 80
    std::vector<double> rates = {100, 96, 1000, 1000};  // 96 < 0.97 x 100: stop there
    o.combine = [&](const TimingResult& mine) {
      TimingResult all = mine;
      all.rate = rates[std::size_t(calls++)];
      return all;
    };
    CHECK(choose_eval_options(*model, more, o).batch_size == 16);
    CHECK(calls == 2);
    calls = 0;
    rates = {100, 99, 98.5, 1000};  // within 3 %, but twice in a row below the best
    CHECK(choose_eval_options(*model, more, o).batch_size == 16);
    CHECK(calls == 3);
  }
  SECTION("a rank without images among ranks that choose together: nobody times") {
    o.max_images = 0;  // the smallest data size over the ranks
    o.combine = [&](const TimingResult& mine) {
      ++calls;
      return mine;
    };
    auto c = choose_eval_options(*model, data, o);
    CHECK(calls == 0);
    CHECK(c.batch_size == 1);
  }
  SECTION("max_images bounds the candidates; close candidates go to a run-off") {
    o.max_images = 20;
    // Equal combined rates: the two best are within 15 %, so the run-off runs.
    o.combine = [&](const TimingResult& mine) {
      TimingResult all = mine;
      all.rate = 100;
      ++calls;
      return all;
    };
    auto c = choose_eval_options(*model, data, o);
    CHECK((c.batch_size == 16 || c.batch_size == 20));
    CHECK(calls == 2 + 6);  // 16 and 20, then three rounds of two
    CHECK(c.report.find("run-off") != std::string::npos);
  }
  SECTION("points per forward: chosen by the combined rate like the batch, run-off against one") {
    DirectionsConfig dc;
    auto dirs = make_directions(*model, dc, "cifar10");
    TensorList base;
    for (auto& t : model->parameters()) base.push_back({t.name, t.tensor.clone()});
    std::vector<int> stacked;
    o.fixed_batch = 32;  // one batch candidate, so the call order is: 1 point, 2, 4, run-off
    o.max_points = 16;
    o.stack = [&](int k) {
      stacked.push_back(k);
      const std::vector<double> zero(std::size_t(k), 0.0);
      return stack_points(*model, base, dirs, zero, zero);
    };
    // Calls: 1 point, 2 points, 4 points (more than 3 % below 2: the scan stops), then the
    // run-off in the order 1, 2 | 2, 1 | 1, 2.
    std::vector<double> rates;
    o.combine = [&](const TimingResult& mine) {
      TimingResult all = mine;
      all.rate = rates[std::size_t(calls++)];
      return all;
    };
    rates = {100, 150, 140, 100, 150, 150, 100, 100, 150};
    auto c = choose_eval_options(*model, data, o);
    CHECK(c.points_per_forward == 2);
    CHECK(c.batch_size == 32);
    CHECK(calls == 9);
    CHECK(stacked == std::vector<int>{2, 4});
    CHECK(c.images_per_second == Approx(150));
    CHECK(c.report.find("points per forward: 1 100, 2 150, 4 140 (run-off: 1 100 vs 2 150)") !=
          std::string::npos);
    // The run-off overturns a lucky scan timing.
    calls = 0;
    rates = {100, 150, 140, 100, 90, 90, 100, 100, 90};
    CHECK(choose_eval_options(*model, data, o).points_per_forward == 1);
    // The copies of 4 points do not fit on this rank: that is its timing of 4, which still goes
    // through combine (the other ranks time 4 meanwhile), as out of memory; 2 wins the scan.
    calls = 0;
    stacked.clear();
    std::vector<TimingResult> seen;
    o.stack = [&](int k) {
      stacked.push_back(k);
      if (k == 4) throw c10::OutOfMemoryError({__func__, __FILE__, 0}, "CUDA out of memory (test)");
      const std::vector<double> zero(std::size_t(k), 0.0);
      return stack_points(*model, base, dirs, zero, zero);
    };
    o.combine = [&](const TimingResult& mine) {
      seen.push_back(mine);
      TimingResult all = mine;
      all.rate = rates[std::size_t(calls++)];
      return all;
    };
    rates = {100, 150, 0, 100, 150, 150, 100, 100, 150};
    auto oom = choose_eval_options(*model, data, o);
    CHECK(stacked == std::vector<int>{2, 4});
    REQUIRE(seen.size() == 9);  // 1, 2, 4 (out of memory), then the run-off of 1 against 2
    CHECK(seen[2].state == TimingResult::out_of_memory);
    CHECK(seen[2].error.find("CUDA out of memory (test)") != std::string::npos);
    CHECK(oom.points_per_forward == 2);
    // No stacking without max_points (and then nothing to time: batch and layout are given).
    calls = 0;
    o.max_points = 1;
    CHECK(choose_eval_options(*model, data, o).points_per_forward == 1);
    CHECK(calls == 0);
  }
  SECTION("a given batch larger than the data: every timing takes the data (real timings)") {
    // 40 images, --batch-size 512: 2 points' share (256) also exceeds the data. Before
    // 2026-12-01 the timings of K points failed ("start (0) + length (256) exceeds dimension
    // size (40)") and the sweep stopped at start-up.
    DirectionsConfig dc;
    auto dirs = make_directions(*model, dc, "cifar10");
    TensorList base;
    for (auto& t : model->parameters()) base.push_back({t.name, t.tensor.clone()});
    o.fixed_batch = 512;
    o.max_points = 4;
    o.budget_seconds = 0.2;
    o.stack = [&](int k) {
      const std::vector<double> zero(std::size_t(k), 0.0);
      return stack_points(*model, base, dirs, zero, zero);
    };
    o.try_fusion = true;  // (its check and run-off at the chosen batch: the same clamp)
    EvalChoice c;
    REQUIRE_NOTHROW(c = choose_eval_options(*model, data, o));
    CHECK(c.batch_size == 512);
    CHECK(c.points_per_forward >= 1);
    CHECK(c.images_per_second > 0);
  }
}

TEST_CASE("choose_eval_options: cuDNN fusion is checked, then timed against the plain passes",
          "[evaluate]") {
  // On a CPU the fused operators are never called (FuseConvolutions changes nothing there), so
  // the check passes and the run-off decides; the combined timings stand in for a GPU's.
  torch::manual_seed(8);
  auto model = make_zoo("resnet20", "cifar10");
  const DataSplit data = random_cifar(20);
  ChoiceOptions o;
  o.fixed_batch = 16;
  o.layout = "nchw";
  o.budget_seconds = 0.2;
  o.try_fusion = true;
  std::vector<TimingResult> seen;
  std::vector<double> rates;
  o.combine = [&](const TimingResult& mine) {
    seen.push_back(mine);
    TimingResult all = mine;
    all.rate = rates[seen.size() - 1];
    return all;
  };
  // Timings: the batch; the check (a state, no rate); the run-off, alternately plain and fused
  // (plain, fused; fused, plain; plain, fused).
  rates = {100, 0, 100, 120, 121, 99, 101, 119};
  auto c = choose_eval_options(*model, data, o);
  REQUIRE(seen.size() == 8);
  CHECK(seen[1].state == TimingResult::ok);  // the fused logits agreed with the plain ones
  CHECK(c.fuse_convolutions);
  CHECK(c.images_per_second == Approx(120));
  CHECK(c.report.find("cudnn fusion: off 100 vs on 120 images/s") != std::string::npos);
  seen.clear();
  rates = {100, 0, 100, 90, 90, 100, 100, 90};
  CHECK(!choose_eval_options(*model, data, o).fuse_convolutions);
  // A rank where the fused operators fail (no cuDNN engine for them) or disagree: nobody fuses,
  // nothing is timed, the choice goes on.
  seen.clear();
  o.combine = [&](const TimingResult& mine) {
    seen.push_back(mine);
    TimingResult all = mine;
    all.rate = 100;
    if (seen.size() == 2) {
      all.state = TimingResult::unusable;
      all.error = "cudnn_convolution_add_relu: no engine (rank 1)";
    }
    return all;
  };
  c = choose_eval_options(*model, data, o);
  CHECK(seen.size() == 2);
  CHECK(!c.fuse_convolutions);
  CHECK(c.batch_size == 16);
  CHECK(c.report.find("cudnn fusion: not used (cudnn_convolution_add_relu: no engine (rank 1))") !=
        std::string::npos);
  // Forced: used when the check passes, not timed.
  seen.clear();
  o.force_fusion = true;
  o.combine = [&](const TimingResult& mine) {
    seen.push_back(mine);
    TimingResult all = mine;
    all.rate = 100;
    return all;
  };
  c = choose_eval_options(*model, data, o);
  CHECK(seen.size() == 2);
  CHECK(c.fuse_convolutions);
  CHECK(c.report.find("cudnn fusion: on (checked, not timed)") != std::string::npos);
  o.force_fusion = false;
  // Without try_fusion nothing of it happens.
  seen.clear();
  o.try_fusion = false;
  o.combine = nullptr;
  c = choose_eval_options(*model, data, o);
  CHECK(c.report.find("cudnn fusion") == std::string::npos);
  CHECK(!c.fuse_convolutions);
  CHECK_THROWS_WITH(check_cudnn_fusion("yes"),
                    Catch::Contains("--cudnn-fusion 'yes': expected auto, on or off"));
  for (const char* s : {"auto", "on", "off"}) CHECK_NOTHROW(check_cudnn_fusion(s));
}

TEST_CASE("a sweep tries cuDNN fusion only for zoo networks on a GPU in fp32 or tf32",
          "[evaluate]") {
  // (A CUDA device value needs no GPU: this is the rule, not the fused operators.)
  auto zoo = make_zoo("resnet20", "cifar10");
  const torch::Device gpu(torch::kCUDA, 0), cpu(torch::kCPU);
  CHECK(tries_cudnn_fusion("auto", *zoo, gpu, Precision::tf32, false));
  CHECK(tries_cudnn_fusion("on", *zoo, gpu, Precision::fp32, false));
  CHECK(!tries_cudnn_fusion("off", *zoo, gpu, Precision::tf32, false));
  CHECK(!tries_cudnn_fusion("auto", *zoo, cpu, Precision::tf32, false));
  CHECK(!tries_cudnn_fusion("auto", *zoo, gpu, Precision::bf16, false));
  CHECK(!tries_cudnn_fusion("auto", *zoo, gpu, Precision::fp16, false));
  CHECK(!tries_cudnn_fusion("auto", *zoo, gpu, Precision::tf32, true));  // --hessian
  zoo->arch = "torchscript";  // its layers are not the zoo's
  CHECK(!tries_cudnn_fusion("auto", *zoo, gpu, Precision::tf32, false));
}

TEST_CASE("batch size and precision flags", "[evaluate]") {
  CHECK(parse_batch_size("auto") == 0);
  CHECK(parse_batch_size("64") == 64);
  CHECK_THROWS_AS(parse_batch_size("0"), InputError);
  CHECK_THROWS_AS(parse_batch_size("12x"), InputError);
  CHECK_THROWS_AS(parse_batch_size(" 12"), InputError);  // (as "12 " is: std::stoll skips the leading)
  CHECK_THROWS_AS(parse_batch_size("\n12"), InputError);
  CHECK(parse_precision("bf16") == Precision::bf16);
  CHECK(std::string(to_string(Precision::tf32)) == "tf32");
  CHECK_THROWS_AS(parse_precision("fp64"), InputError);
}
