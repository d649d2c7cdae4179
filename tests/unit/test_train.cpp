// Tests of train.hpp: the optimizer update and schedule against PyTorch (and a closed form), the
// device augmentation against a per-sample loop, learning on a synthetic data set, exact resume,
// the checkpoint contents (optimizer state included) and refusals of bad input.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "losscape/checkpoint.hpp"
#include "losscape/data.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "losscape/train.hpp"
#include "test_support.hpp"

using namespace losscape;
using losscape::test::TempDir;
using losscape::test::put_be32;
using catch_compat::Contains;
namespace fs = std::filesystem;

namespace {

// ---- a synthetic, learnable MNIST-format data set ----
// Class c (0..9): vertical stripes of period 2 + c/2 when c is even, horizontal when odd, on a
// background whose brightness grows with c, plus noise. Crops and flips keep the class.
void write_synthetic_idx(const std::string& dir, const std::string& prefix, int n,
                         std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> cls(0, 9), noise(-25, 25);
  std::vector<std::uint8_t> img, lab;
  put_be32(img, 0x00000803);
  put_be32(img, std::uint32_t(n));
  put_be32(img, 28);
  put_be32(img, 28);
  put_be32(lab, 0x00000801);
  put_be32(lab, std::uint32_t(n));
  for (int i = 0; i < n; ++i) {
    int c = cls(rng);
    lab.push_back(std::uint8_t(c));
    const int period = 2 + c / 2;
    const int phase = int(rng() % 7);
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        int coord = (c % 2 == 0 ? x : y) + phase;
        int v = 20 + 8 * c + ((coord / period) % 2 ? 120 : 0) + noise(rng);
        img.push_back(std::uint8_t(std::clamp(v, 0, 255)));
      }
  }
  losscape::test::write_bytes(dir + "/" + prefix + "-images-idx3-ubyte", img);
  losscape::test::write_bytes(dir + "/" + prefix + "-labels-idx1-ubyte", lab);
}

std::string make_data(const TempDir& t, int train_n = 1024, int test_n = 256) {
  auto dir = t.file("data");
  fs::create_directories(dir);
  write_synthetic_idx(dir, "train", train_n, 1);
  write_synthetic_idx(dir, "t10k", test_n, 2);
  return dir;
}

TrainConfig small_config(const std::string& data_dir, const std::string& out) {
  nlohmann::json given = {{"arch", "cnn_small"}, {"dataset", "mnist"}, {"data_dir", data_dir},
                          {"batch_size", 64},     {"lr", 0.05},        {"epochs", 4},
                          {"seed", 5},            {"device", "cpu"},   {"out", out}};
  return resolve_train_config(given);
}

TrainOptions quiet() {
  TrainOptions o;
  o.quiet = true;
  return o;
}

void require_equal_lists(const TensorList& a, const TensorList& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].name);
    REQUIRE(a[i].name == b[i].name);
    REQUIRE(a[i].tensor.scalar_type() == b[i].tensor.scalar_type());
    REQUIRE(torch::equal(a[i].tensor, b[i].tensor));
  }
}

// Gradients used by the optimizer comparisons: g_t[i] = sin(0.37 (t+1)(i+1)) (float32).
torch::Tensor grad_at(int t, int size) {
  std::vector<float> g;
  for (int i = 0; i < size; ++i) g.push_back(float(std::sin(0.37 * (t + 1) * (i + 1))));
  return torch::tensor(g);
}
torch::Tensor initial_param(int size) {
  std::vector<float> p;
  for (int i = 0; i < size; ++i) p.push_back(float(0.5 - 0.13 * i));
  return torch::tensor(p);
}

// Run make_optimizer(c) over `epochs` epochs of `steps` steps with the schedule of lr_at_epoch.
torch::Tensor run_optimizer(const TrainConfig& c, int epochs, int steps, int size) {
  auto p = initial_param(size).requires_grad_(true);
  auto opt = make_optimizer(c, {p});
  int t = 0;
  for (int e = 1; e <= epochs; ++e) {
    for (auto& g : opt->param_groups()) g.options().set_lr(lr_at_epoch(c, e));
    for (int s = 0; s < steps; ++s, ++t) {
      p.mutable_grad() = grad_at(t, size);
      opt->step();
    }
  }
  return p.detach();
}

std::vector<double> parse_doubles(const std::string& s) {
  std::vector<double> v;
  std::istringstream in(s);
  std::string tok;
  while (in >> tok) {
    try {
      v.push_back(std::stod(tok));
    } catch (...) {
    }
  }
  return v;
}

const char* kPyOptim = R"(
import math, sys, torch
kind, epochs, steps, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
p = torch.nn.Parameter(torch.tensor([0.5 - 0.13 * i for i in range(size)], dtype=torch.float32))
if kind == 'sgd':
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
else:
    opt = torch.optim.Adam([p], lr=0.01, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
t = 0
for e in range(epochs):
    for s in range(steps):
        p.grad = torch.tensor([math.sin(0.37 * (t + 1) * (i + 1)) for i in range(size)],
                              dtype=torch.float32)
        opt.step()
        t += 1
    sched.step()
print(' '.join(repr(float(x)) for x in p.detach()))
)";

}  // namespace

TEST_CASE("milestones scale with the epochs and the schedule is MultiStepLR's", "[train]") {
  CHECK(default_milestones(300) == std::vector<std::int64_t>{150, 225, 275});
  CHECK(default_milestones(10) == std::vector<std::int64_t>{5, 8, 9});
  CHECK(default_milestones(1) == std::vector<std::int64_t>{1});
  TrainConfig c;
  c.lr = 0.1;
  c.milestones = {150, 225, 275};
  CHECK(lr_at_epoch(c, 1) == 0.1);
  CHECK(lr_at_epoch(c, 150) == 0.1);
  CHECK(lr_at_epoch(c, 151) == Approx(0.01).epsilon(1e-12));
  CHECK(lr_at_epoch(c, 226) == Approx(0.001).epsilon(1e-12));
  CHECK(lr_at_epoch(c, 300) == Approx(0.0001).epsilon(1e-12));
  auto r = resolve_train_config({{"arch", "cnn_small"}, {"epochs", 20}, {"out", "x"}});
  CHECK(r.milestones == std::vector<std::int64_t>{10, 15, 18});
  CHECK(r.optimizer == "sgd");
  CHECK(r.nesterov);
  CHECK(r.momentum == 0.9);
  CHECK(r.weight_decay == 5e-4);
  auto a = resolve_train_config({{"arch", "cnn_small"}, {"optimizer", "adam"}, {"out", "x"}});
  CHECK(a.lr == 0.001);
  CHECK(a.milestones == std::vector<std::int64_t>{150, 225, 275});
}

TEST_CASE("SGD with Nesterov momentum and weight decay follows PyTorch's formula", "[train]") {
  const int size = 5, epochs = 5, steps = 3;
  TrainConfig c;
  c.lr = 0.1;
  c.milestones = {2, 4};
  auto got = run_optimizer(c, epochs, steps, size);

  // Closed form (PyTorch docs): g' = g + wd·p; b = μ·b + g' (b = g' at the first step);
  // p -= lr·(g' + μ·b).
  std::vector<double> p, b(size, 0);
  for (int i = 0; i < size; ++i) p.push_back(double(float(0.5 - 0.13 * i)));
  int t = 0;
  for (int e = 1; e <= epochs; ++e) {
    double lr = 0.1 * std::pow(0.1, (e > 2) + (e > 4));
    for (int s = 0; s < steps; ++s, ++t)
      for (int i = 0; i < size; ++i) {
        double g = double(float(std::sin(0.37 * (t + 1) * (i + 1)))) + 5e-4 * p[i];
        b[i] = t == 0 ? g : 0.9 * b[i] + g;
        p[i] -= lr * (g + 0.9 * b[i]);
      }
  }
  for (int i = 0; i < size; ++i) CHECK(got[i].item<double>() == Approx(p[i]).margin(1e-6));

  LOSSCAPE_REQUIRE_PYTHON("torch");
  TempDir tmp("sgd");
  {
    std::ofstream(tmp.file("optim.py")) << kPyOptim;
  }
  auto r = losscape::test::run_command(std::string(losscape::test::test_python()) + " " +
                                       tmp.file("optim.py") + " sgd 5 3 5");
  REQUIRE(r.status == 0);
  auto py = parse_doubles(r.out);
  REQUIRE(py.size() == std::size_t(size));
  for (int i = 0; i < size; ++i) CHECK(got[i].item<double>() == Approx(py[i]).margin(1e-7));
}

TEST_CASE("Adam with weight decay follows PyTorch's torch.optim.Adam", "[train]") {
  LOSSCAPE_REQUIRE_PYTHON("torch");
  TrainConfig c;
  c.optimizer = "adam";
  c.lr = 0.01;
  c.milestones = {2, 4};
  auto got = run_optimizer(c, 5, 3, 5);
  TempDir tmp("adam");
  {
    std::ofstream(tmp.file("optim.py")) << kPyOptim;
  }
  auto r = losscape::test::run_command(std::string(losscape::test::test_python()) + " " +
                                       tmp.file("optim.py") + " adam 5 3 5");
  REQUIRE(r.status == 0);
  auto py = parse_doubles(r.out);
  REQUIRE(py.size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(got[i].item<double>() == Approx(py[i]).margin(1e-7));
}

TEST_CASE("optimizer state survives optimizer_state / load_optimizer_state", "[train]") {
  for (std::string kind : {"sgd", "adam"}) {
    TrainConfig c;
    c.optimizer = kind;
    c.lr = 0.01;
    auto p = initial_param(6).view({2, 3}).clone().requires_grad_(true);
    TensorList params = {{"w", p}};
    auto opt = make_optimizer(c, {p});
    CHECK(optimizer_state(*opt, params).empty());  // no state before the first step
    for (int t = 0; t < 3; ++t) {
      p.mutable_grad() = grad_at(t, 6).view({2, 3});
      opt->step();
    }
    auto saved = optimizer_state(*opt, params);
    CHECK(saved.size() == (kind == "sgd" ? 1u : 3u));
    // A second parameter/optimizer pair continues exactly as the first.
    auto q = p.detach().clone().requires_grad_(true);
    TensorList qparams = {{"w", q}};
    auto opt2 = make_optimizer(c, {q});
    load_optimizer_state(*opt2, qparams, saved, "test");
    require_equal_lists(optimizer_state(*opt2, qparams), saved);
    for (int t = 3; t < 6; ++t) {
      p.mutable_grad() = grad_at(t, 6).view({2, 3});
      q.mutable_grad() = grad_at(t, 6).view({2, 3});
      opt->step();
      opt2->step();
    }
    CHECK(torch::equal(p, q));
    TensorList wrong = {{"momentum_buffer.other", torch::zeros({2, 3})}};
    CHECK_THROWS_AS(load_optimizer_state(*opt2, qparams, wrong, "test"), FormatError);
  }
}

TEST_CASE("crop_flip equals a per-sample crop of the zero-padded image and a flip", "[train]") {
  torch::manual_seed(3);
  const int B = 6, C = 3, H = 5, W = 7, pad = 4;
  auto x = torch::randn({B, C, H, W});
  auto pv = torch::tensor({-1.5f, 0.25f, 2.0f});
  auto r = epoch_random(11, 3, B, pad);
  auto got = crop_flip(x, r.dy, r.dx, r.flip, pad, pv);
  for (int b = 0; b < B; ++b) {
    auto padded = pv.view({C, 1, 1}).expand({C, H + 2 * pad, W + 2 * pad}).clone();
    padded.narrow(1, pad, H).narrow(2, pad, W).copy_(x[b]);
    auto crop = padded.narrow(1, r.dy[b].item<std::int64_t>(), H)
                    .narrow(2, r.dx[b].item<std::int64_t>(), W);
    if (r.flip[b].item<bool>()) crop = crop.flip({2});
    CHECK(torch::equal(got[b], crop));
  }
  // The per-epoch numbers depend on (seed, epoch) alone, and differ between epochs.
  auto again = epoch_random(11, 3, B, pad);
  CHECK(torch::equal(r.order, again.order));
  CHECK(torch::equal(r.dx, again.dx));
  auto big1 = epoch_random(11, 3, 1000, pad), big2 = epoch_random(11, 4, 1000, pad);
  CHECK_FALSE(torch::equal(big1.order, big2.order));
  CHECK(big1.dx.min().item<std::int64_t>() == 0);
  CHECK(big1.dx.max().item<std::int64_t>() == 2 * pad);
  CHECK(std::get<0>(torch::sort(big1.order)).equal(torch::arange(1000)));
}

TEST_CASE("training a small network on a learnable data set", "[train]") {
  TempDir tmp("train");
  auto data = make_data(tmp);
  auto cfg = small_config(data, tmp.file("run"));
  cfg.epochs = 3;
  cfg.milestones = {2};
  auto r = train(cfg, quiet());
  REQUIRE(r.epochs.size() == 3);
  // Checkpoints 0..3 with metadata, log.jsonl with 4 lines.
  auto cks = run_checkpoints(cfg.out);
  REQUIRE(cks.size() == 4);
  auto ck0 = read_checkpoint(cks.front().path);
  auto ck3 = read_checkpoint(cks.back().path);
  CHECK(ck0.meta.epoch == 0);
  CHECK(ck3.meta.epoch == 3);
  CHECK(ck0.optimizer.empty());
  INFO("epoch 0: train loss " << ck0.meta.train_loss << " acc " << ck0.meta.train_acc);
  INFO("epoch 3: train loss " << ck3.meta.train_loss << " acc " << ck3.meta.train_acc
                              << " test acc " << ck3.meta.test_acc);
  CHECK(ck3.meta.train_loss < 0.5 * ck0.meta.train_loss);
  CHECK(r.epochs[2].fit_loss < r.epochs[0].fit_loss);
  CHECK(ck3.meta.test_acc > 60.0);  // chance: 10 %
  CHECK(ck3.meta.train_acc > 60.0);
  CHECK(ck3.meta.arch == "cnn_small");
  CHECK(ck3.meta.dataset == "mnist");
  CHECK(ck3.meta.config == nlohmann::json(cfg));
  CHECK(r.epochs[0].lr == 0.05);
  CHECK(r.epochs[2].lr == Approx(0.005).epsilon(1e-12));
  std::ifstream log(tmp.file("run/log.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    auto j = nlohmann::json::parse(line);
    CHECK(j.at("epoch") == lines);
    ++lines;
  }
  CHECK(lines == 4);

  // The stored metrics are evaluate() of the stored model on the stored data selection.
  auto model = load_model(cks.back().path, "", "mnist");
  DataSpec spec;
  spec.dataset = "mnist";
  spec.data_dir = data;
  spec.split = "test";
  auto test = load_split(spec);
  auto s = evaluate(*model, test, EvalOptions{});
  CHECK(s.loss() == Approx(ck3.meta.test_loss).epsilon(1e-6));
  CHECK(s.accuracy() == Approx(ck3.meta.test_acc).epsilon(1e-9));

  // The optimizer state: one momentum buffer per parameter, which load_optimizer_state takes.
  CHECK(ck3.optimizer.size() == model->parameters().size());
  for (auto& e : ck3.optimizer) CHECK(e.name.rfind("momentum_buffer.", 0) == 0);
  TensorList params = model->parameters();
  std::vector<torch::Tensor> pt;
  for (auto& p : params) pt.push_back(p.tensor);
  auto opt = make_optimizer(cfg, pt);
  load_optimizer_state(*opt, params, ck3.optimizer, cks.back().path);
  require_equal_lists(optimizer_state(*opt, params), ck3.optimizer);
}

TEST_CASE("resume gives the run an uninterrupted one gives, bit for bit", "[train]") {
  TempDir tmp("resume");
  auto data = make_data(tmp, 384, 64);
  for (std::string kind : {"sgd", "adam"}) {
    for (std::int64_t save_every : {1, 2}) {
      INFO(kind << " save_every " << save_every);
      auto full = small_config(data, tmp.file(kind + "-full-" + std::to_string(save_every)));
      full.optimizer = kind;
      full.save_every = save_every;
      full.epochs = 4;
      train(full, quiet());

      auto part = full;
      part.out = tmp.file(kind + "-part-" + std::to_string(save_every));
      TrainOptions stop = quiet();
      stop.on_epoch = [](const EpochRecord& r) { return r.epoch < 3; };  // "killed" after 3
      train(part, stop);
      CHECK(run_checkpoints(part.out).back().epoch == (save_every == 1 ? 3 : 2));
      TrainOptions res = quiet();
      res.resume = true;
      auto rr = train(part, res);
      CHECK(rr.start_epoch == (save_every == 1 ? 3 : 2));
      auto a = read_checkpoint(checkpoint_path(full.out, 4));
      auto b = read_checkpoint(checkpoint_path(part.out, 4));
      require_equal_lists(a.state, b.state);
      require_equal_lists(a.optimizer, b.optimizer);
      CHECK(a.meta.test_loss == b.meta.test_loss);
      // The log holds each epoch once.
      std::ifstream log(part.out + "/log.jsonl");
      std::string line;
      std::int64_t expect = 0;
      while (std::getline(log, line)) CHECK(nlohmann::json::parse(line).at("epoch") == expect++);
      CHECK(expect == 5);
      // Resuming a finished run does nothing.
      auto done = train(part, res);
      CHECK(done.epochs.empty());
    }
  }
}

TEST_CASE("bad input is refused before anything is written", "[train]") {
  TempDir tmp("bad");
  auto data = make_data(tmp, 128, 32);
  auto cfg = small_config(data, tmp.file("run"));
  cfg.epochs = 1;

  auto bad = cfg;
  bad.arch = "resnet57";
  CHECK_THROWS_WITH(train(bad, quiet()), Contains("unknown architecture 'resnet57'"));
  CHECK_THROWS_AS(resolve_train_config({{"arch", "nope"}, {"out", "x"}}), InputError);
  CHECK_FALSE(fs::exists(cfg.out));

  bad = cfg;
  bad.data_dir = tmp.file("nodata");
  CHECK_THROWS_AS(train(bad, quiet()), InputError);
  CHECK_FALSE(fs::exists(cfg.out));

  train(cfg, quiet());
  const auto before = fs::last_write_time(checkpoint_path(cfg.out, 1));
  std::ifstream in(checkpoint_path(cfg.out, 1), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THROWS_WITH(train(cfg, quiet()), Contains("already holds a training run"));
  auto other = cfg;
  other.lr = 0.2;
  TrainOptions res = quiet();
  res.resume = true;
  CHECK_THROWS_WITH(train(other, res), Contains("another configuration"));
  std::ifstream in2(checkpoint_path(cfg.out, 1), std::ios::binary);
  std::string bytes2((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
  CHECK(bytes == bytes2);
  CHECK(fs::last_write_time(checkpoint_path(cfg.out, 1)) == before);

  // Resume keeps the stored configuration; only epochs, save_every, device, data_dir may change.
  auto stored = read_checkpoint(checkpoint_path(cfg.out, 1)).meta.config.get<TrainConfig>();
  CHECK_THROWS_WITH(resolve_train_config({{"lr", 0.2}}, stored), Contains("--lr 0.2 differs"));
  // a value from a --config file is named by the file and key, a flag's by the flag
  CHECK_THROWS_WITH(resolve_train_config({{"lr", 0.2}, {"nesterov", false}}, stored, "c.json", {"lr"}),
                    Contains("c.json: \"lr\" 0.2 differs from the run being resumed"));
  CHECK_THROWS_WITH(resolve_train_config({{"nesterov", false}}, stored, "c.json", {"lr"}),
                    Contains("--no-nesterov differs"));
  auto more = resolve_train_config({{"epochs", 3}, {"lr", 0.05}}, stored);
  CHECK(more.epochs == 3);
  CHECK(more.lr == 0.05);
  // integers compare exactly: two seeds above 2^53 that one double holds are two seeds
  auto big = stored;
  big.seed = std::uint64_t(1) << 53;  // (2^53 + 1 is the same double)
  CHECK_THROWS_WITH(resolve_train_config({{"seed", (std::uint64_t(1) << 53) + 1}}, big),
                    Contains("--seed 9007199254740993 differs"));
  CHECK(resolve_train_config({{"seed", std::uint64_t(1) << 53}}, big).seed == big.seed);
}
