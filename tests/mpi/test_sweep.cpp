// The distributed sweep under 1..4 ranks: every surface must equal an independent serial
// computation (θ* + αδ + βη built with plain tensor arithmetic, evaluated with the formula of the
// loss), whatever the rank count, data shards, grid shape or interruption.
#include "catch_compat.hpp"
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "losscape/checkpoint.hpp"
#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "losscape/mpi.hpp"
#include "losscape/surface.hpp"
#include "losscape/sweep.hpp"
#include "mpi_fixture.hpp"

using namespace losscape;
using namespace losscape::testing;
namespace fs = std::filesystem;

namespace {

// A shared scratch directory with a tiny MNIST-shaped data set, a model and directions.
struct Fixture {
  ScratchDir scratch{"losscape-mpi"};
  const std::string dir = scratch.path, model = dir + "/model.h5", dirs2d = dir + "/dirs2d.h5",
                    dirs1d = dir + "/dirs1d.h5";
  Fixture() {
    if (world().root()) make();
    world().barrier();  // the files exist before any rank uses them
  }
  void make() const {
    std::mt19937 rng(7);
    write_mnist_split(dir, "train", 48, rng);
    write_mnist_split(dir, "t10k", 24, rng);
    torch::manual_seed(3);
    auto m = make_zoo("cnn_small", "mnist");
    // Non-trivial BatchNorm statistics, so that eval mode matters.
    for (auto& t : m->state())
      if (t.name.find("running_var") != std::string::npos) t.tensor.uniform_(0.5, 2.0);
      else if (t.name.find("running_mean") != std::string::npos) t.tensor.uniform_(-0.2, 0.2);
    Checkpoint ck;
    ck.meta = meta_for(*m, "mnist");
    ck.state = m->state();
    save_checkpoint(model, ck);
    DirectionsConfig c;
    write_directions(dirs2d, make_directions(*m, c, "mnist"));
    c.dims = 1;
    c.type = TensorSet::states;
    c.x.ignore_biasbn = false;
    write_directions(dirs1d, make_directions(*m, c, "mnist"));
  }
  SweepConfig config(const std::string& out) const {
    SweepConfig c;
    c.model_file = model;
    c.directions = dirs2d;
    c.dataset = "mnist";
    c.data_dir = dir;
    c.x = "-1:0.5:5";
    c.y = "0:1:4";
    c.splits = {"train", "test"};
    c.batch_size = "16";
    c.device = "cpu";
    c.threads = 1;
    c.quiet = true;
    c.flush_seconds = 0.05;
    c.out = dir + "/" + out;
    return c;
  }
};

// Independent serial value at one point: the model's tensors set by plain arithmetic from the
// files, evaluated batch-free with the loss written out.
std::vector<double> serial_point(const SweepConfig& c, double a, double b) {
  auto m = load_model(c.model_file, "", c.dataset);
  auto d = read_directions(c.directions);
  perturb(*m, d, a, b);
  m->train(false);
  std::vector<double> out;
  for (auto& split : c.splits) {
    DataSpec s;
    s.dataset = c.dataset;
    s.data_dir = c.data_dir;
    s.split = split;
    s.samples = c.samples;
    auto data = load_split(s);
    torch::NoGradGuard g;
    auto logits = m->forward(data.images).to(torch::kFloat64);
    torch::Tensor l;
    if (c.loss == "mse") {
      auto p = torch::softmax(logits, 1);
      auto oh = torch::one_hot(data.labels, 10).to(torch::kFloat64);
      l = (p - oh).pow(2).mean(1).mean();
    } else {
      l = -torch::log_softmax(logits, 1).gather(1, data.labels.unsqueeze(1)).mean();
    }
    out.push_back(l.item<double>());
    out.push_back(100.0 * logits.argmax(1).eq(data.labels).to(torch::kFloat64).mean().item<double>());
  }
  return out;
}

void check_against_serial(const SweepConfig& c) {
  if (!world().root()) return;
  auto s = read_surface(c.out);
  Grid g;
  g.x = parse_axis(c.x);
  if (!c.y.empty()) {
    g.has_y = true;
    g.y = parse_axis(c.y);
  }
  REQUIRE(s.x == g.x.coordinates());
  for (std::int64_t i = 0; i < g.size(); ++i) {
    REQUIRE(int(s.done[std::size_t(i)]) == 1);
    auto want = serial_point(c, g.alpha(i), g.beta(i));
    for (std::size_t v = 0; v < want.size(); ++v) {
      double got = s.values[v][std::size_t(i)];
      INFO(s.names[v] << " at point " << i << " (" << g.alpha(i) << ", " << g.beta(i) << ")");
      if (s.names[v].find("acc") != std::string::npos)
        CHECK(got == Approx(want[v]).margin(1e-9));
      else
        CHECK(got == Approx(want[v]).epsilon(1e-6));
    }
  }
}

}  // namespace

TEST_CASE("2D non-square sweep through 0 with both splits equals the serial values", "[sweep]") {
  Fixture fx;
  auto c = fx.config("s2d.h5");
  auto r = run_sweep(c, world());
  CHECK(r.complete);
  CHECK(r.computed == 20);
  // The writes really were collective (HDF5 silently falls back to independent I/O otherwise).
  CHECK(r.last_io_mode != H5D_MPIO_NO_COLLECTIVE);
  check_against_serial(c);
}

TEST_CASE("1D states sweep with MSE loss equals the serial values", "[sweep]") {
  Fixture fx;
  auto c = fx.config("s1d.h5");
  c.directions = fx.dirs1d;
  c.y = "";
  c.x = "-0.5:1.5:7";
  c.loss = "mse";
  c.splits = {"test"};
  auto r = run_sweep(c, world());
  CHECK(r.complete);
  check_against_serial(c);
}

TEST_CASE("data shards give the same surface", "[sweep]") {
  if (world().size() % 2 != 0) return;
  Fixture fx;
  auto c = fx.config("shards.h5");
  c.data_shards = 2;
  auto r = run_sweep(c, world());
  CHECK(r.complete);
  check_against_serial(c);
}

TEST_CASE("the last points go in pieces to all ranks and give a one-rank sweep's values", "[sweep]") {
  // With n groups of ranks the last min(points, n) are handed out in pieces, shares of whole
  // batches (48 train images in 3 batches of 16, 24 test images in 2: 3 pieces, the test
  // split's third one empty; with 2 data shards a rank has 2 batches of train images and 1 of
  // test: 2 pieces), to whichever rank asks, and added up at the end. The batches are a whole
  // pass's, so without data shards the values equal rank 0's own sweep up to the order of the
  // additions (a shard has batches of its own). 3 points, then 7 (more points than groups).
  Fixture fx;
  for (int shards : {1, 2}) {
    if (world().size() % shards != 0) continue;
    const int groups = world().size() / shards;
    auto c = fx.config("tail" + std::to_string(shards) + ".h5");
    c.directions = fx.dirs1d;
    c.y = "";
    c.x = "-0.5:1.5:3";
    c.points_per_forward = "1";
    c.memory_format = "nchw";  // (one layout for this run and rank 0's own: below)
    c.data_shards = shards;
    INFO("ranks " << world().size() << ", data shards " << shards);
    auto r = run_sweep(c, world());
    CHECK(r.complete);
    CHECK(r.computed == 3);
    CHECK(r.shared_points == (groups > 1 ? std::min(3, groups) : 0));
    check_against_serial(c);
    mpi::Comm self = world().split(world().rank(), 0);
    if (world().root() && shards == 1) {
      auto alone = c;
      alone.out = fx.dir + "/tail-alone.h5";
      CHECK(run_sweep(alone, self).shared_points == 0);
      auto a = read_surface(alone.out), b = read_surface(c.out);
      REQUIRE(a.names == b.names);
      for (std::size_t v = 0; v < a.names.size(); ++v)
        for (std::size_t i = 0; i < 3; ++i) {
          INFO(a.names[v] << " at point " << i);
          CHECK(b.values[v][i] == Approx(a.values[v][i]).epsilon(1e-12).margin(1e-12));
        }
      const auto seconds = h5::File(c.out, h5::File::Mode::read).dataset("seconds").read_doubles();
      for (std::size_t i = 0; i < 3; ++i) CHECK(seconds[i] > 0);
    }
    world().barrier();
    if (shards == 1) {
      auto d = c;
      d.x = "-0.5:1.5:7";
      d.out = fx.dir + "/tail7.h5";
      CHECK(run_sweep(d, world()).shared_points == (groups > 1 ? groups : 0));
      check_against_serial(d);
    }
  }
}

TEST_CASE("with several points per pass the last passes go in pieces and give a one-rank sweep's values",
          "[sweep]") {
  // K = 3: the last min(points, 3 x groups) points, plus what makes the points before them whole
  // passes, go as passes of 3 (the last one with fewer points, filled up to 3 as in a sweep alone) in
  // pieces. On 2 ranks: 7 points are all the tail (7 <= 6 + 1: passes of 3, 3 and 1); of 11
  // points, 6 + (11 - 6) mod 3 = 8 are (3, 3, 2) and 3 go before them as one whole pass.
  Fixture fx;
  const int groups = world().size();
  for (int n : {7, 11}) {
    auto c = fx.config("tailk" + std::to_string(n) + ".h5");
    c.directions = fx.dirs1d;
    c.y = "";
    c.x = "-0.5:1.5:" + std::to_string(n);
    c.points_per_forward = "3";
    // One layout for both runs: "auto" times NCHW against NHWC at start-up, and on a busy machine
    // the two runs can choose differently (other kernels: sums apart by ~1e-8, seen once).
    c.memory_format = "nchw";
    INFO("ranks " << groups << ", points " << n);
    auto r = run_sweep(c, world());
    CHECK(r.complete);
    CHECK(r.computed == n);
    const int whole = 3 * groups;
    CHECK(r.shared_points == (groups == 1 ? 0 : n <= whole ? n : whole + (n - whole) % 3));
    check_against_serial(c);
    mpi::Comm self = world().split(world().rank(), 0);
    if (world().root()) {
      auto alone = c;
      alone.out = fx.dir + "/tailk-alone" + std::to_string(n) + ".h5";
      CHECK(run_sweep(alone, self).shared_points == 0);
      auto a = read_surface(alone.out), b = read_surface(c.out);
      REQUIRE(a.names == b.names);
      for (std::size_t v = 0; v < a.names.size(); ++v)
        for (std::size_t i = 0; i < std::size_t(n); ++i) {
          INFO(a.names[v] << " at point " << i);
          CHECK(b.values[v][i] == Approx(a.values[v][i]).epsilon(1e-12).margin(1e-12));
        }
    }
    world().barrier();
  }
}

TEST_CASE("several points per forward give the serial values", "[sweep]") {
  Fixture fx;
  auto c = fx.config("stacked.h5");
  c.points_per_forward = "3";  // 20 points: blocks of whole stacks of 3, the last 2 one at a time
  auto r = run_sweep(c, world());
  CHECK(r.complete);
  CHECK(r.computed == 20);
  check_against_serial(c);
  // With states directions (BatchNorm statistics move too) and MSE, 1D.
  auto d = fx.config("stacked1d.h5");
  d.directions = fx.dirs1d;
  d.y = "";
  d.x = "-0.5:1.5:7";
  d.loss = "mse";
  d.points_per_forward = "4";
  CHECK(run_sweep(d, world()).complete);
  check_against_serial(d);
  if (world().size() % 2 == 0) {  // with data shards: the groups' stacked sums combine
    auto e = fx.config("stacked_shards.h5");
    e.data_shards = 2;
    e.points_per_forward = "3";  // 20 points: the last 2 one at a time within the group
    CHECK(run_sweep(e, world()).complete);
    check_against_serial(e);
  }
  auto bad = fx.config("stacked_bad.h5");
  bad.points_per_forward = "17";
  CHECK_THROWS_WITH(run_sweep(bad, world()), catch_compat::Contains("--points-per-forward must be auto or 1 to 16"));
  // A network without a stacked form is refused with an explicit K > 1 (auto takes 1 for it).
  bad.points_per_forward = "2";
  bad.model_file = "";
  bad.arch = "densenet121";
  CHECK_THROWS_WITH(run_sweep(bad, world()),
                    catch_compat::Contains("densenet121 cannot evaluate several points per forward (zoo networks"));
}

TEST_CASE("an interrupted sweep resumes to the same surface, computing only what is left",
          "[sweep]") {
  Fixture fx;
  auto c = fx.config("resume.h5");
  c.points_per_forward = "1";  // a stop comes after the current pass: here one point
  c.stop_after = 3;
  c.flush_seconds = 1000;  // only the final flush: everything computed so far must survive
  auto r1 = run_sweep(c, world());
  CHECK_FALSE(r1.complete);
  // No more than three points are handed out, with any number of ranks: exactly three are done.
  CHECK(r1.computed == 3);
  // Four points per pass, four more: one pass (a cut one if the limit fell inside a pass).
  c.points_per_forward = "4";
  c.stop_after = 4;
  auto r1b = run_sweep(c, world());
  CHECK(r1b.computed == 4);
  c.points_per_forward = "1";
  c.stop_after = -1;
  CHECK_THROWS_WITH(run_sweep(c, world()), catch_compat::Contains("--stop-after must be a number"));
  // A limit beyond the points left is none (with several ranks the last ones go in pieces).
  c.stop_after = 1000;
  auto r2 = run_sweep(c, world());
  CHECK(r2.complete);
  CHECK(r1.computed + r1b.computed + r2.computed == 20);
  check_against_serial(c);
  // A third run finds nothing to do.
  auto r3 = run_sweep(c, world());
  CHECK(r3.complete);
  CHECK(r3.computed == 0);
}

TEST_CASE("a file from another command is refused and left untouched", "[sweep]") {
  Fixture fx;
  auto c = fx.config("refuse.h5");
  run_sweep(c, world());
  std::string before;
  if (world().root()) {
    std::ifstream in(c.out, std::ios::binary);
    before.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto other = c;
  other.x = "-1:0.5:6";
  CHECK_THROWS_WITH(run_sweep(other, world()), catch_compat::Contains("--x grid"));
  other = c;
  other.samples = 10;
  CHECK_THROWS_WITH(run_sweep(other, world()), catch_compat::Contains("--samples"));
  other = c;
  other.directions = fx.dirs1d;
  other.y = "";
  CHECK_THROWS_AS(run_sweep(other, world()), AgreedError);
  if (world().root()) {
    std::ifstream in(c.out, std::ios::binary);
    std::string after(std::istreambuf_iterator<char>(in), {});
    CHECK(after == before);
  }
}

TEST_CASE("a surface held by a live writer is refused with the holder's name", "[sweep]") {
  Fixture fx;
  auto c = fx.config("locked.h5");
  if (world().root()) {
    std::ofstream lk(c.out + ".lock");
    lk << R"({"host":"node-elsewhere","pid":4242,"slurm_job_id":"777","since":"2026-01-01T00:00:00Z"})";
  }
  world().barrier();
  CHECK_THROWS_WITH(run_sweep(c, world()), catch_compat::Contains("node-elsewhere") && catch_compat::Contains("777"));
  world().barrier();
  if (world().root()) fs::remove(c.out + ".lock");
  // A lock left by a dead process on this host is stale and taken over.
  if (world().root()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    std::ofstream lk(c.out + ".lock");
    lk << nlohmann::json{{"host", host}, {"pid", 999999999}}.dump();
  }
  world().barrier();
  auto r = run_sweep(c, world());
  CHECK(r.complete);
  // So is one whose holder is a zombie: killed, and not yet reaped (here: a child of rank 0 that
  // has exited and that rank 0 does not wait for until the sweep is done).
  auto c2 = fx.config("zombie.h5");
  pid_t zombie = 0;
  if (world().root()) {
    zombie = fork();
    if (zombie == 0) _exit(0);
    for (int i = 0; i < 200; ++i) {  // until it is a zombie
      std::ifstream st("/proc/" + std::to_string(zombie) + "/stat");
      std::string line;
      std::getline(st, line);
      if (line.find(") Z") != std::string::npos) break;
      usleep(10000);
    }
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    std::ofstream lk(c2.out + ".lock");
    lk << nlohmann::json{{"host", host}, {"pid", long(zombie)}}.dump();
  }
  world().barrier();
  auto r2 = run_sweep(c2, world());
  CHECK(r2.complete);
  if (world().root()) waitpid(zombie, nullptr, 0);
}

TEST_CASE("NaN results are results: marked done and never recomputed", "[sweep]") {
  Fixture fx;
  auto c = fx.config("nan.h5");
  // Directions scaled to overflow float32: the loss is NaN or infinite at every point but (0, 0).
  if (world().root()) {
    auto d = read_directions(fx.dirs2d);
    for (auto& list : d.dirs)
      for (auto& t : list) t.tensor.mul_(1e38);
    d.fingerprint.clear();
    write_directions(fx.dir + "/huge.h5", d);
  }
  world().barrier();
  c.directions = fx.dir + "/huge.h5";
  c.x = "1:2:3";
  c.y = "1:2:2";
  auto r = run_sweep(c, world());
  CHECK(r.complete);
  if (world().root()) {
    auto s = read_surface(c.out);
    bool any_bad = false;
    for (double v : *s.get("train_loss")) any_bad = any_bad || !std::isfinite(v);
    CHECK(any_bad);
  }
  auto r2 = run_sweep(c, world());
  CHECK(r2.complete);
  CHECK(r2.computed == 0);
}

TEST_CASE("ranks agree on errors: one message, the failed rank named", "[mpi]") {
  const auto& w = world();
  const int R = w.size();
  CHECK(w.agree("").empty());
  // The same error everywhere names no rank; on the last rank alone, that rank.
  CHECK(w.agree("bad file") == "bad file");
  const std::string one = w.agree(w.rank() == R - 1 ? "out of memory" : "");
  CHECK(one == (R > 1 ? "out of memory (rank " + std::to_string(R - 1) + ")" : "out of memory"));
  // run_agreed: every rank throws AgreedError with the failed rank's message.
  std::string got;
  try {
    run_agreed(w, [&]() {
      if (w.rank() == R - 1) throw InputError("m.h5: not a model");
    });
  } catch (const AgreedError& e) {
    got = e.what();
  }
  CHECK(got == (R > 1 ? "m.h5: not a model (rank " + std::to_string(R - 1) + ")" : "m.h5: not a model"));
  CHECK_NOTHROW(run_agreed(w, []() {}));
}

TEST_CASE("a failure on one rank of a group reaches every rank of it, not a hang", "[mpi]") {
  const auto& w = world();
  const int R = w.size();
  // A group's step: rank R-1's part fails, then the group reduces (which it would wait in
  // forever if the failure were not agreed first).
  double sum = 0;
  bool own = false, thrown = false;
  try {
    run_in_group(&w, [&]() {
      if (w.rank() == R - 1) throw std::runtime_error("device lost");
    });
    sum = w.allreduce_sum(1.0);
  } catch (const GroupEvalError& e) {
    thrown = true;
    own = e.own();
    CHECK(std::string(e.what()) == (own ? "device lost" : "the evaluation failed on another rank "
                                                          "of this data-shard group"));
  } catch (const std::runtime_error&) {
    thrown = true;  // a group of one: the error itself
    own = true;
  }
  CHECK(thrown);
  CHECK(own == (w.rank() == R - 1));
  CHECK(sum == 0);
  // Without a failure, the step runs and the ranks go on together.
  int ran = 0;
  run_in_group(&w, [&]() { ++ran; });
  CHECK(ran == 1);
  CHECK(w.allreduce_sum(1.0) == double(R));
}
