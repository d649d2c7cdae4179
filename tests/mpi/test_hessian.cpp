// Hessian maps under 1..4 ranks: `sweep --hessian` must give at every point the eigenvalues that a
// serial computation at θ* + αδ + βη gives (the model's tensors set by plain arithmetic, one
// operator over all the data), whatever the rank count, data shards or interruption; a point
// whose solve runs out of restarts is recorded as not converged and never recomputed.
#include "catch_compat.hpp"

#include <cmath>
#include <filesystem>
#include <random>

#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/hessian.hpp"
#include "losscape/mpi.hpp"
#include "losscape/surface.hpp"
#include "losscape/sweep.hpp"
#include "mpi_fixture.hpp"

using namespace losscape;
using namespace losscape::testing;
namespace fs = std::filesystem;

namespace {

// A tiny MNIST-shaped data set, a tiny network and 2D directions in a shared directory.
struct Fixture {
  ScratchDir scratch{"losscape-mpi-hess"};
  const std::string dir = scratch.path, model = dir + "/model.pt", dirs = dir + "/dirs.h5";
  Fixture() {
    if (world().root()) make();
    world().barrier();  // the files exist before any rank uses them
  }
  void make() const {
    std::mt19937 rng(9);
    write_mnist_split(dir, "train", 20, rng);
    // A tiny tanh network as TorchScript, defined here in C++ (cheap products, curvature of
    // both signs).
    torch::manual_seed(4);
    torch::jit::Module tiny("Tiny");
    tiny.register_parameter("w1", torch::randn({8, 49}) * 0.8, false);
    tiny.register_parameter("b1", torch::randn({8}) * 0.3, false);
    tiny.register_parameter("w2", torch::randn({10, 8}) * 1.5, false);
    tiny.register_parameter("b2", torch::zeros({10}), false);
    tiny.define(R"(
def forward(self, x):
    f = x.reshape([x.size(0), 7, 4, 7, 4]).mean([2, 4]).flatten(1)
    h = torch.tanh(torch.matmul(f, self.w1.t()) + self.b1)
    return torch.matmul(h, self.w2.t()) + self.b2
)");
    tiny.save(model);
    auto m = load_model(model, "", "mnist");
    DirectionsConfig c;
    write_directions(dirs, make_directions(*m, c, "mnist"));
  }
  SweepConfig config(const std::string& out) const {
    SweepConfig c;
    c.model_file = model;
    c.directions = dirs;
    c.dataset = "mnist";
    c.data_dir = dir;
    c.x = "-0.5:0.5:3";
    c.y = "0:0.5:2";
    c.splits = {"train"};
    c.batch_size = "8";
    c.device = "cpu";
    c.threads = 1;
    c.quiet = true;
    c.flush_seconds = 0.05;
    c.hessian = true;
    c.hessian_batch_size = 8;
    c.eig_tol = 1e-6;
    c.out = dir + "/" + out;
    return c;
  }
};

// Serial λmax, λmin at (a, b): θ set by plain arithmetic, one operator over all the data.
ExtremeEigs serial_point(const SweepConfig& c, double a, double b) {
  auto m = load_model(c.model_file, "", c.dataset);
  auto d = read_directions(c.directions);
  perturb(*m, d, a, b);
  m->train(false);
  DataSpec s;
  s.dataset = c.dataset;
  s.data_dir = c.data_dir;
  s.split = c.splits.front();
  auto data = load_split(s);
  HessianOptions ho;
  ho.batch_size = 5;  // another batching than the sweep's: the Hessian does not depend on it
  HessianOperator h(*m, data, ho);
  EigenOptions eo;
  eo.tol = c.eig_tol;
  eo.max_iter = c.eig_max_iter;
  eo.ncv = c.eig_ncv;
  return extreme_eigenvalues([&](const double* x, double* y) { h.apply(x, y); }, h.dim(), eo);
}

void check_against_serial(const SweepConfig& c) {
  if (!world().root()) return;
  auto s = read_surface(c.out);
  REQUIRE(s.get("max_eig"));
  REQUIRE(s.get("min_eig"));
  REQUIRE(s.get("eig_converged"));
  REQUIRE(s.get("hvp_count"));
  Grid g;
  g.x = parse_axis(c.x);
  g.has_y = true;
  g.y = parse_axis(c.y);
  for (std::int64_t i = 0; i < g.size(); ++i) {
    const auto k = std::size_t(i);
    REQUIRE(int(s.done[k]) == 1);
    auto want = serial_point(c, g.alpha(i), g.beta(i));
    INFO("point " << i << " (" << g.alpha(i) << ", " << g.beta(i) << "): serial " << want.max_eig
                  << ", " << want.min_eig);
    REQUIRE(want.converged);
    CHECK((*s.get("eig_converged"))[k] == 1.0);
    CHECK((*s.get("hvp_count"))[k] > 0);
    const double scale = std::abs(want.max_eig);
    CHECK(std::abs((*s.get("max_eig"))[k] - want.max_eig) <= 1e-4 * scale);
    CHECK(std::abs((*s.get("min_eig"))[k] - want.min_eig) <= 1e-4 * scale);
    CHECK((*s.get("min_eig"))[k] <= (*s.get("max_eig"))[k]);
  }
}

}  // namespace

TEST_CASE("sweep --hessian equals the serial eigenvalues at every point", "[hessian]") {
  Fixture fx;
  auto c = fx.config("h.h5");
  auto r = run_sweep(c, world());
  CHECK(r.complete);
  CHECK(r.computed == 6);
  check_against_serial(c);
  if (world().root()) {
    // The curvature of a tanh network with cross-entropy has both signs away from a minimum.
    auto s = read_surface(c.out);
    bool negative = false;
    for (double v : *s.get("min_eig")) negative = negative || v < 0;
    CHECK(negative);
  }
}

TEST_CASE("Hessian maps with data shards: products summed over the group", "[hessian]") {
  if (world().size() % 2 != 0) return;
  Fixture fx;
  auto c = fx.config("shards.h5");
  c.data_shards = 2;
  auto r = run_sweep(c, world());
  CHECK(r.complete);
  check_against_serial(c);
}

TEST_CASE("an interrupted Hessian sweep resumes to the same maps", "[hessian]") {
  Fixture fx;
  auto c = fx.config("resume.h5");
  c.x = "-0.5:0.5:5";
  c.y = "0:0.6:4";
  c.stop_after = 2;
  c.flush_seconds = 1000;
  auto r1 = run_sweep(c, world());
  CHECK_FALSE(r1.complete);
  c.stop_after = 0;
  auto r2 = run_sweep(c, world());
  CHECK(r2.complete);
  // No block is handed out once two points are reported, even while rank 0 is inside its own
  // point: at most what was in flight then (blocks are 1 or 2 points here) is computed on top.
  CHECK(r1.computed <= 2 + 2 * world().size());
  CHECK(r1.computed + r2.computed == 20);
  check_against_serial(c);
  // Other Hessian settings, or none, do not resume this file.
  auto other = c;
  other.eig_tol = 1e-3;
  CHECK_THROWS_WITH(run_sweep(other, world()), catch_compat::Contains("Hessian settings"));
  other = c;
  other.hessian = false;
  CHECK_THROWS_AS(run_sweep(other, world()), AgreedError);
}

TEST_CASE("points whose eigensolver does not converge are recorded as such", "[hessian]") {
  Fixture fx;
  auto c = fx.config("noconv.h5");
  c.eig_tol = 1e-14;
  c.eig_max_iter = 1;
  c.eig_ncv = 3;
  auto r = run_sweep(c, world());
  CHECK(r.complete);
  if (world().root()) {
    auto s = read_surface(c.out);
    REQUIRE(s.done.size() == std::size_t(parse_grid(c.x, c.y).size()));
    REQUIRE(!s.done.empty());
    for (std::size_t k = 0; k < s.done.size(); ++k) {
      CHECK(int(s.done[k]) == 1);
      CHECK((*s.get("eig_converged"))[k] == 0.0);
      CHECK(std::isnan((*s.get("max_eig"))[k]));
      CHECK(std::isnan((*s.get("min_eig"))[k]));
      CHECK((*s.get("hvp_count"))[k] > 0);
      CHECK(std::isfinite((*s.get("train_loss"))[k]));
    }
  }
  // Done is done: a rerun computes nothing.
  auto r2 = run_sweep(c, world());
  CHECK(r2.complete);
  CHECK(r2.computed == 0);
}
