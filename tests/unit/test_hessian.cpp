// Curvature against closed forms: ARPACK's eigenvalues of matrices with a known spectrum, the
// λmin of the reference's maps (negative, zero and positive), the Hutchinson trace (exact for a
// diagonal matrix), the SLQ quadrature (nodes in the spectrum, weights summing to one, all
// eigenvalues after n steps), and the Hessian of a softmax-linear model, whose Hessian of the mean
// cross-entropy is (1/N) Σ_n (diag p_n − p_n p_nᵀ) ⊗ f_n f_nᵀ.
#include "catch_compat.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "losscape/error.hpp"
#include "losscape/hessian.hpp"
#include "losscape/model.hpp"
#include "test_support.hpp"

using namespace losscape;

namespace {

// A = Q diag(λ) Qᵀ with a random orthogonal Q (QR of a Gaussian matrix), as a dense operator.
struct DenseSym {
  torch::Tensor a;  // float64 [n, n]
  explicit DenseSym(const std::vector<double>& lambda, std::uint64_t seed = 1) {
    const auto n = std::int64_t(lambda.size());
    torch::manual_seed(seed);
    auto g = torch::randn({n, n}, torch::kFloat64);
    auto q = std::get<0>(torch::linalg_qr(g, "reduced"));
    auto l = torch::tensor(lambda, torch::kFloat64);
    a = q.matmul(torch::diag(l)).matmul(q.t());
    a = (a + a.t()) / 2;
  }
  SymOperator op() const {
    return [this](const double* x, double* y) {
      const auto n = a.size(0);
      auto xv = torch::from_blob(const_cast<double*>(x), {n}, torch::kFloat64);
      auto yv = a.matmul(xv);
      std::copy(yv.data_ptr<double>(), yv.data_ptr<double>() + n, y);
    };
  }
  std::int64_t n() const { return a.size(0); }
};

std::vector<double> spectrum(int n, double lo, double hi, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> l(static_cast<std::size_t>(n));
  for (auto& v : l) v = u(rng);
  return l;
}

}  // namespace

TEST_CASE("ARPACK finds the ends of a known spectrum", "[hessian]") {
  auto lambda = spectrum(60, -2.0, 5.0, 3);
  lambda[7] = 9.0;   // largest algebraic and largest magnitude
  lambda[11] = 8.5;
  lambda[19] = -6.0; // most negative
  DenseSym m(lambda);
  auto sorted = lambda;
  std::sort(sorted.rbegin(), sorted.rend());
  EigenOptions o;
  o.tol = 1e-10;

  auto top = arpack_eigsh(m.op(), m.n(), 3, Which::largest_algebraic, o);
  REQUIRE(top.converged);
  REQUIRE(top.values.size() == 3);
  for (int k = 0; k < 3; ++k) CHECK(top.values[std::size_t(k)] == Approx(sorted[std::size_t(k)]).epsilon(1e-8));
  CHECK(top.products > 0);

  auto lm = arpack_eigsh(m.op(), m.n(), 1, Which::largest_magnitude, o);
  CHECK(lm.values[0] == Approx(9.0).epsilon(1e-8));
  auto sa = arpack_eigsh(m.op(), m.n(), 1, Which::smallest_algebraic, o);
  CHECK(sa.values[0] == Approx(-6.0).epsilon(1e-8));

  CHECK_THROWS_AS(arpack_eigsh(m.op(), m.n(), 60, Which::largest_algebraic, o), InputError);
}

TEST_CASE("extreme eigenvalues: λmax by magnitude, λmin the most negative, or the smallest", "[hessian]") {
  EigenOptions o;
  o.tol = 1e-9;
  SECTION("indefinite: λmin < 0 < λmax") {
    auto l = spectrum(40, -0.5, 3.0, 5);
    l[0] = 4.0;
    l[1] = -1.25;
    DenseSym m(l);
    auto e = extreme_eigenvalues(m.op(), m.n(), o);
    REQUIRE(e.converged);
    CHECK(e.max_eig == Approx(4.0).epsilon(1e-8));
    CHECK(e.min_eig == Approx(-1.25).epsilon(1e-8));
    CHECK(e.products > 0);
  }
  SECTION("positive definite: λmin is the smallest positive eigenvalue") {
    auto l = spectrum(40, 0.5, 3.0, 6);
    l[3] = 0.01;
    l[4] = 7.0;
    DenseSym m(l);
    auto e = extreme_eigenvalues(m.op(), m.n(), o);
    REQUIRE(e.converged);
    CHECK(e.max_eig == Approx(7.0).epsilon(1e-8));
    CHECK(e.min_eig == Approx(0.01).margin(1e-7));
  }
  SECTION("negative curvature dominates: λmin by magnitude, λmax the largest positive (the reference's swap)") {
    auto l = spectrum(40, -0.5, 1.0, 9);
    l[5] = -3.0;  // largest magnitude
    l[9] = 1.75;  // largest algebraic
    DenseSym m(l);
    auto e = extreme_eigenvalues(m.op(), m.n(), o);
    REQUIRE(e.converged);
    CHECK(e.min_eig == Approx(-3.0).epsilon(1e-8));
    CHECK(e.max_eig == Approx(1.75).epsilon(1e-8));
  }
  SECTION("negative definite: the largest magnitude is negative, λmin = λmax") {
    auto l = spectrum(30, -3.0, -0.5, 7);
    l[2] = -5.0;
    DenseSym m(l);
    auto e = extreme_eigenvalues(m.op(), m.n(), o);
    REQUIRE(e.converged);
    CHECK(e.max_eig == Approx(-5.0).epsilon(1e-8));
    CHECK(e.min_eig == Approx(-5.0).epsilon(1e-8));
  }
  SECTION("a zero operator (a network whose units are all dead): every eigenvalue 0, converged") {
    // (ARPACK itself gives up on it: info -9, as if its starting vector were zero)
    const std::int64_t n = 25;
    SymOperator zero = [](const double*, double* y) { std::fill(y, y + 25, 0.0); };
    auto e = extreme_eigenvalues(zero, n, o);
    REQUIRE(e.converged);
    CHECK(e.max_eig == 0.0);
    CHECK(e.min_eig == 0.0);
    CHECK(e.products > 0);
    auto top = arpack_eigsh(zero, n, 3, Which::largest_algebraic, o);
    CHECK(top.converged);
    CHECK(top.values == std::vector<double>{0.0, 0.0, 0.0});
  }
  SECTION("out of restarts: not converged, values NaN") {
    auto l = spectrum(200, 0.0, 1.0, 8);  // a dense cluster at the top: slow convergence
    DenseSym m(l);
    EigenOptions hard;
    hard.tol = 1e-14;
    hard.max_iter = 1;
    hard.ncv = 3;
    auto e = extreme_eigenvalues(m.op(), m.n(), hard);
    CHECK_FALSE(e.converged);
    CHECK((std::isnan(e.max_eig) || std::isnan(e.min_eig)));
  }
}

TEST_CASE("Hutchinson's trace: exact for a diagonal matrix, unbiased within its standard error", "[hessian]") {
  SECTION("diagonal: vᵀDv = tr D for every Rademacher v") {
    std::vector<double> d = {1.5, -2.0, 0.25, 4.0, 3.0, -0.75};
    SymOperator op = [&](const double* x, double* y) {
      for (std::size_t i = 0; i < d.size(); ++i) y[i] = d[i] * x[i];
    };
    auto t = hutchinson_trace(op, std::int64_t(d.size()), 10, 1);
    CHECK(t.trace == Approx(6.0).epsilon(1e-12));
    CHECK(t.standard_error == Approx(0).margin(1e-12));
    CHECK(t.probes == 10);
    CHECK(t.samples.size() == 10);
  }
  SECTION("dense: within 4 standard errors, and the error is the samples' std / sqrt(probes)") {
    auto l = spectrum(50, -1.0, 2.0, 9);
    DenseSym m(l);
    double exact = 0;
    for (double v : l) exact += v;
    auto t = hutchinson_trace(m.op(), m.n(), 400, 2);
    double mean = 0, var = 0;
    for (double s : t.samples) mean += s;
    mean /= double(t.samples.size());
    for (double s : t.samples) var += (s - mean) * (s - mean);
    var /= double(t.samples.size() - 1);
    CHECK(t.trace == Approx(mean).epsilon(1e-12));
    CHECK(t.standard_error == Approx(std::sqrt(var / 400.0)).epsilon(1e-9));
    CHECK(std::abs(t.trace - exact) <= 4 * t.standard_error);
  }
}

TEST_CASE("SLQ: quadrature nodes in the spectrum, weights summing to one, density of mass one", "[hessian]") {
  std::vector<double> l = {-1.0, 0.5, 1.0, 2.0, 3.5, 6.0, 7.0, 10.0};
  DenseSym m(l, 4);
  SECTION("n steps recover every eigenvalue") {
    auto d = slq_density(m.op(), m.n(), int(l.size()), 2, 3, 200);
    REQUIRE(d.nodes.size() == 2);
    for (std::size_t p = 0; p < d.nodes.size(); ++p) {
      REQUIRE(d.nodes[p].size() == l.size());
      auto nodes = d.nodes[p];
      std::sort(nodes.begin(), nodes.end());
      for (std::size_t k = 0; k < l.size(); ++k) CHECK(nodes[k] == Approx(l[k]).margin(1e-8));
      double w = 0;
      for (double v : d.weights[p]) w += v;
      CHECK(w == Approx(1.0).epsilon(1e-10));
    }
    REQUIRE(d.grid.size() == 200);
    double mass = 0;
    for (std::size_t i = 1; i < d.grid.size(); ++i)
      mass += 0.5 * (d.density[i] + d.density[i - 1]) * (d.grid[i] - d.grid[i - 1]);
    CHECK(mass == Approx(1.0).epsilon(2e-2));
  }
  SECTION("the automatic grid: a step of at most σ/2 and at least 400 points") {
    auto d = slq_density(m.op(), m.n(), int(l.size()), 1, 3);  // width 11.22: σ = 0.0105929
    const double width = d.grid.back() - d.grid.front();
    const double sigma = std::sqrt(1e-5 * width);
    CHECK(d.sigma == Approx(sigma).epsilon(1e-12));
    CHECK(int(d.grid.size()) == int(std::ceil(width / (sigma / 2))) + 1);
    CHECK(width / double(d.grid.size() - 1) <= sigma / 2);
    CHECK(auto_density_points(0.05) == 400);  // σ = 0.00316: 33 points would do; at least 400
    CHECK(auto_density_points(1e12) == kMaxDensityPoints);
  }
  SECTION("an invariant subspace ends a probe early: steps is the most a probe took") {
    // 4 distinct eigenvalues (0 five times): a Krylov space of dimension 4 at most, whatever the
    // start; `steps` said the 8 asked for.
    DenseSym few({0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 4.0}, 4);
    auto d = slq_density(few.op(), few.n(), 8, 2, 3, 100);
    REQUIRE(d.nodes.size() == 2);
    for (auto& nodes : d.nodes) CHECK(nodes.size() == 4);
    CHECK(d.steps == 4);
  }
  SECTION("fewer steps: nodes stay inside [λmin, λmax]") {
    auto d = slq_density(m.op(), m.n(), 4, 1, 5, 100);
    CHECK(d.steps == 4);
    REQUIRE(d.nodes.size() == 1);
    REQUIRE(d.nodes[0].size() == 4);  // one node per Lanczos step
    for (double v : d.nodes[0]) {
      CHECK(v >= -1.0 - 1e-9);
      CHECK(v <= 10.0 + 1e-9);
    }
  }
}

namespace {

// A softmax-linear TorchScript model of MNIST-shaped images, loaded as losscape loads one:
// logits = f Wᵀ + b, f the k x k means of the image's blocks of 28/k x 28/k pixels, computed in
// `dtype` (W and b normal, times w_scale and b_scale).
auto softmax_linear(test::TempDir& dir, int k, torch::Dtype dtype, double w_scale, double b_scale) {
  const std::string b = std::to_string(28 / k), ks = std::to_string(k);
  torch::jit::Module lin("Lin");
  lin.register_parameter("w", torch::randn({10, k * k}, dtype) * w_scale, false);
  lin.register_parameter("b", torch::randn({10}, dtype) * b_scale, false);
  lin.define("def forward(self, x):\n    f = x" + std::string(dtype == torch::kFloat64 ? ".double()" : "") +
             ".reshape([x.size(0), " + ks + ", " + b + ", " + ks + ", " + b +
             "]).mean([2, 4]).flatten(1)\n    return torch.matmul(f, self.w.t()) + self.b\n");
  lin.save(dir.file("lin.pt"));
  auto model = load_model(dir.file("lin.pt"), "", "mnist");
  model->train(false);
  return model;
}

DataSplit random_mnist(std::int64_t n, double scale) {
  DataSplit data;
  data.images = torch::randn({n, 1, 28, 28}) * scale;
  data.labels = torch::randint(0, 10, {n}, torch::kInt64);
  data.total = n;
  return data;
}

// The closed-form Hessian over W of softmax_linear's mean cross-entropy on `data`, in float64:
// the mean over samples of (diag p − p pᵀ) ⊗ f fᵀ (row-major index c·k² + d).
torch::Tensor softmax_linear_hessian(const Model& model, const DataSplit& data, int k) {
  torch::NoGradGuard g;
  const std::int64_t n = data.total, b = 28 / k;
  auto f = data.images.to(torch::kFloat64).reshape({n, k, b, k, b}).mean({2, 4}).flatten(1);
  auto w = model.parameters()[0].tensor.to(torch::kFloat64);
  auto bias = model.parameters()[1].tensor.to(torch::kFloat64);
  auto p = torch::softmax(f.matmul(w.t()) + bias, 1);
  auto h = torch::zeros({10 * k * k, 10 * k * k}, torch::kFloat64);
  for (std::int64_t i = 0; i < n; ++i)
    h += torch::kron(torch::diag(p[i]) - torch::outer(p[i], p[i]), torch::outer(f[i], f[i]));
  return h / double(n);
}

}  // namespace

TEST_CASE("the Hessian of a softmax-linear model equals its closed form", "[hessian]") {
  test::TempDir dir("hess");
  // logits = f Wᵀ + b with f the 7x7 block means of a 28x28 image (49 features).
  torch::manual_seed(11);
  auto model = softmax_linear(dir, 7, torch::kFloat32, 0.5, 0.1);
  const std::int64_t n = 24;
  const DataSplit data = random_mnist(n, 1.0);
  // Closed form over W (the only tensor with ≥ 2 dimensions), row-major index c·49 + d.
  const torch::Tensor h_exact = softmax_linear_hessian(*model, data, 7);

  HessianOptions ho;
  ho.batch_size = 7;  // batches of unequal size: the sum must still be exact
  HessianOperator h(*model, data, ho);
  REQUIRE(h.dim() == 490);
  REQUIRE(h.tensor_names() == std::vector<std::string>{"w"});
  REQUIRE(h.samples() == n);

  const double scale = h_exact.abs().max().item<double>();
  std::mt19937_64 rng(1);
  std::normal_distribution<double> nd;
  std::vector<double> v(490), hv(490);
  for (auto& e : v) e = nd(rng);
  h.apply(v.data(), hv.data());
  auto want = h_exact.matmul(torch::tensor(v, torch::kFloat64));
  const double vnorm = std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
  for (std::int64_t i = 0; i < 490; ++i)
    REQUIRE(std::abs(hv[std::size_t(i)] - want[i].item<double>()) <= 1e-5 * scale * vnorm);
  CHECK(h.products() == 1);

  // Its spectrum: λmax from the closed form, λmin = 0 (the softmax's null vector 1 ⊗ anything).
  auto eig = torch::linalg_eigvalsh(h_exact, "L");
  const double lmax = eig[-1].item<double>();
  EigenOptions o;
  o.tol = 1e-6;
  auto e = extreme_eigenvalues([&](const double* x, double* y) { h.apply(x, y); }, h.dim(), o);
  REQUIRE(e.converged);
  CHECK(e.max_eig == Approx(lmax).epsilon(1e-4));
  CHECK(std::abs(e.min_eig) <= 1e-4 * lmax);
  CHECK(std::abs(eig[0].item<double>()) <= 1e-10 * lmax);

  // The trace, exactly known, within 4 standard errors of Hutchinson's estimate.
  auto t = hutchinson_trace([&](const double* x, double* y) { h.apply(x, y); }, h.dim(), 60, 3);
  const double tr = h_exact.trace().item<double>();
  CHECK(std::abs(t.trace - tr) <= 4 * t.standard_error);
  CHECK(t.standard_error < 0.2 * tr);
}

TEST_CASE("curvature options no stage could run with are refused before any work", "[hessian]") {
  auto refused = [](CurvatureOptions o, const std::string& flag, std::int64_t n = 0) {
    CHECK_THROWS_WITH(check_curvature_options(o, n), catch_compat::Contains(flag));
  };
  CurvatureOptions ok;
  CHECK_NOTHROW(check_curvature_options(ok));
  CurvatureOptions o = ok;
  o.top_k = -2;
  refused(o, "--top-k");
  o = ok;
  o.trace_probes = -5;
  refused(o, "--trace-probes");
  o = ok;
  o.eig.tol = std::numeric_limits<double>::infinity();
  refused(o, "--eig-tol");
  o = ok;
  o.eig.ncv = 2;
  refused(o, "--eig-ncv");
  o.eig.ncv = 3;  // not above --top-k 3
  refused(o, "--eig-ncv");
  o.eig.ncv = -5;
  refused(o, "--eig-ncv");
  o = ok;
  o.density = true;
  o.density_points = 1;
  refused(o, "--density-points");
  o.density_points = 400;
  o.slq_steps = 0;
  refused(o, "--slq-steps");
  o.slq_steps = 80;
  o.slq_probes = 0;
  refused(o, "--slq-probes");
  o.density = false;  // density settings matter only with --density
  CHECK_NOTHROW(check_curvature_options(o));
  o = ok;
  o.top_k = 507;
  CHECK_NOTHROW(check_curvature_options(o));  // the dimension is not known yet
  refused(o, "--top-k", 507);
}

TEST_CASE("a float64 model's Hessian is of its float64 loss", "[hessian]") {
  // A TorchScript model computing in double (as PyTorch scores it, evaluate() scores its float64
  // logits in float64): its Hessian-vector product equals the closed form to float64 rounding,
  // not to float32's (the loss was taken of logits rounded to float32: ~1e-7 relative).
  test::TempDir dir("hess64");
  torch::manual_seed(12);
  auto model = softmax_linear(dir, 4, torch::kFloat64, 2.0, 1.0);
  const std::int64_t n = 12;
  const DataSplit data = random_mnist(n, 3.0);
  const torch::Tensor h_exact = softmax_linear_hessian(*model, data, 4);
  HessianOptions ho;
  ho.batch_size = 5;
  HessianOperator h(*model, data, ho);
  REQUIRE(h.dim() == 160);
  std::mt19937_64 rng(2);
  std::normal_distribution<double> nd;
  std::vector<double> v(160), hv(160);
  for (auto& e : v) e = nd(rng);
  h.apply(v.data(), hv.data());
  auto want = h_exact.matmul(torch::tensor(v, torch::kFloat64));
  const double scale = want.abs().max().item<double>();
  double worst = 0;
  for (std::int64_t i = 0; i < 160; ++i) worst = std::max(worst, std::abs(hv[std::size_t(i)] - want[i].item<double>()));
  INFO("largest deviation " << worst << " of " << scale);
  CHECK(worst <= 1e-11 * scale);
}
