#include "losscape/hessian.hpp"

#include <arpack.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "losscape/device.hpp"
#include "losscape/error.hpp"
#include "losscape/stop.hpp"
#include "losscape/surface.hpp"

namespace losscape {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Sum over the batch of the per-sample losses: the formula of evaluate() (evaluate.hpp), kept
// differentiable here; in float32, or float64 for float64 logits, as evaluate() scores them.
torch::Tensor batch_loss_sum(const torch::Tensor& logits_in, const torch::Tensor& y, LossKind kind) {
  const torch::Tensor logits =
      logits_in.scalar_type() == torch::kFloat64 ? logits_in : logits_in.to(torch::kFloat32);
  if (kind == LossKind::cross_entropy)
    return torch::nn::functional::cross_entropy(
        logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  auto p = torch::softmax(logits, 1);
  auto onehot = torch::one_hot(y, logits.size(1)).to(p.scalar_type());
  return (p - onehot).pow(2).mean(1).sum();
}

// Uniform in [−1, 1) from the top 53 bits: the same numbers on every platform and rank.
double uniform_pm1(std::mt19937_64& rng) {
  return double(rng() >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

std::vector<double> rademacher(std::mt19937_64& rng, std::int64_t n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  std::uint64_t bits = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (i % 64 == 0) bits = rng();
    v[std::size_t(i)] = (bits >> (i % 64)) & 1 ? 1.0 : -1.0;
  }
  return v;
}

const char* which_code(Which w) {
  switch (w) {
    case Which::largest_magnitude: return "LM";
    case Which::largest_algebraic: return "LA";
    case Which::smallest_algebraic: return "SA";
  }
  return "LM";
}

std::string arpack_error(int info) {
  switch (info) {
    case -1: return "N must be positive";
    case -2: return "NEV must be positive";
    case -3: return "NCV must be greater than NEV and at most N";
    case -4: return "the maximum number of iterations must be positive";
    case -9: return "the starting vector is zero";
    case -13: return "NEV and WHICH = 'BE' are incompatible";
    case -9999: return "could not build a Lanczos factorization";
    default: return "info " + std::to_string(info);
  }
}

// The Lanczos basis ARPACK keeps for nev eigenvalues: --eig-ncv, or by default 2 nev + 1, at
// least 20, at most n (arpack_eigsh uses it; check_curvature_memory counts its vectors).
std::int64_t basis_size(const EigenOptions& o, std::int64_t n, std::int64_t nev) {
  return o.ncv > 0 ? o.ncv : std::min<std::int64_t>(n, std::max<std::int64_t>(2 * nev + 1, 20));
}

}  // namespace

// ---------------- the operator ----------------

HessianOperator::HessianOperator(Model& model, const DataSplit& data, const HessianOptions& opts,
                                 const mpi::Comm* group)
    : model_(model), data_(data), opts_(opts), group_(group) {
  for (auto& p : selected_parameters(model, opts.all_params)) {
    if (!p.tensor.requires_grad()) p.tensor.requires_grad_(true);
    params_.push_back(p.tensor);
    names_.push_back(p.name);
    dim_ += p.tensor.numel();
  }
  if (opts_.batch_size < 1) throw InputError("Hessian batch size must be at least 1");
  total_samples_ = data.size();
  if (group_ && group_->size() > 1) total_samples_ = group_->allreduce_sum(total_samples_);
  if (total_samples_ < 1) throw InputError("Hessian: the data split is empty");
}

TensorList HessianOperator::selected_parameters(const Model& model, bool all_params) {
  TensorList out;
  for (auto& p : model.parameters())
    if (p.tensor.is_floating_point() && (all_params || p.tensor.dim() >= 2)) out.push_back(p);
  if (out.empty())
    throw InputError(model.source + ": no parameter tensor " +
                     (all_params ? std::string("") : "with 2 or more dimensions ") +
                     "to take the Hessian over" +
                     (all_params ? "" : " (hessian --all-params, sweep --hessian-all-params: with the 1-D ones too)"));
  std::int64_t n = 0;
  for (const auto& p : out) n += p.tensor.numel();
  // (ARPACK needs an operator of dimension 2 or more: a 1 x 1 Hessian failed in the eigensolver,
  // naming no file, also with --top-k 0)
  if (n < 2) {
    std::int64_t all = 0;
    for (auto& p : model.parameters())
      if (p.tensor.is_floating_point()) all += p.tensor.numel();
    throw InputError(model.source + ": the Hessian would be over 1 parameter; the eigensolver needs at least 2" +
                     (all > n ? " (all parameters, the 1-D ones included, are " + std::to_string(all) + ")" : ""));
  }
  return out;
}

std::vector<std::string> HessianOperator::tensor_names() const { return names_; }

void HessianOperator::apply(const double* x, double* y) {
  // Double backward needs autograd on, whatever the caller's mode (the sweep evaluates under
  // InferenceMode, which must not leak here).
  c10::InferenceMode no_inference(false);
  torch::AutoGradMode grad_on(true);
  model_.train(false);
  // On a rank of a data-shard group, a failure of this rank's part is agreed within the group
  // before the reduction below (GroupEvalError on every rank of the group).
  bool finite = true, finite_product = true;
  run_in_group(group_, [&]() {
    injected_eval_error();
    const auto dev = params_.front().device();
    const auto dtype = params_.front().scalar_type();
    // Plain float32 arithmetic: no autocast and no TF32 (PyTorch's cuDNN default) in the products.
    PrecisionGuard fp32(Precision::fp32, dev);
    auto flat = torch::from_blob(const_cast<double*>(x), {dim_}, torch::kFloat64).to(dev, dtype);
    std::vector<torch::Tensor> v, acc;
    std::int64_t off = 0;
    for (auto& p : params_) {
      v.push_back(flat.narrow(0, off, p.numel()).view(p.sizes()).to(p.scalar_type()));
      acc.push_back(torch::zeros(p.sizes(), p.options().dtype(torch::kFloat64).requires_grad(false)));
      off += p.numel();
    }
    const std::int64_t n = data_.size();
    torch::Tensor loss_total;  // (on the device, read once after the pass: no sync per batch)
    for (std::int64_t start = 0; start < n; start += opts_.batch_size) {
      const std::int64_t len = std::min(opts_.batch_size, n - start);
      auto xb = data_.images.narrow(0, start, len);
      auto yb = data_.labels.narrow(0, start, len);
      auto logits = model_.forward(xb);
      if (logits.dim() != 2 || logits.size(0) != len)
        throw InputError(model_.source + ": forward returned shape " + c10::str(logits.sizes()) +
                         ", expected [batch, classes]");
      auto loss = batch_loss_sum(logits, yb, opts_.loss);
      loss_total = loss_total.defined() ? loss_total + loss.detach() : loss.detach();
      // Hv = ∇(∇L · v): the gradient with its graph, then the gradient of its product with v.
      try {
        auto g = torch::autograd::grad({loss}, params_, {}, /*retain_graph=*/true,
                                       /*create_graph=*/true, /*allow_unused=*/true);
        torch::Tensor gv;
        for (std::size_t i = 0; i < params_.size(); ++i) {
          if (!g[i].defined()) continue;
          auto term = (g[i] * v[i]).sum();
          gv = gv.defined() ? gv + term : term;
        }
        if (gv.defined() && gv.requires_grad()) {
          auto hv = torch::autograd::grad({gv}, params_, {}, /*retain_graph=*/false,
                                          /*create_graph=*/false, /*allow_unused=*/true);
          for (std::size_t i = 0; i < params_.size(); ++i)
            if (hv[i].defined()) acc[i].add_(hv[i].detach().to(torch::kFloat64));
        }
      } catch (const c10::OutOfMemoryError&) {
        throw;  // (its handlers need the type)
      } catch (const c10::Error& e) {
        // A model autograd cannot differentiate twice (an in-place op on a value its backward
        // needs, a custom op without a double backward): LibTorch's message named no file.
        throw InputError(model_.source + ": its Hessian-vector product (a double backward) failed: " +
                         one_line(e));
      }
      if (between_batches) between_batches();
    }
    std::vector<torch::Tensor> flat_acc;
    for (auto& a : acc) flat_acc.push_back(a.reshape({-1}));
    auto out = torch::cat(flat_acc).div_(double(total_samples_)).to(torch::kCPU).contiguous();
    std::copy(out.data_ptr<double>(), out.data_ptr<double>() + dim_, y);
    finite = !loss_total.defined() || std::isfinite(loss_total.item<double>());
    // A finite loss whose second derivatives overflow (weights near the float range's end):
    // ARPACK broke down on the NaNs, LAPACK printed "Parameter 4 to routine DLASCL was
    // incorrect", and the error named no file.
    finite_product = std::all_of(y, y + dim_, [](double v) { return std::isfinite(v); });
  });
  if (group_ && group_->size() > 1) {  // (the same answer on every rank of the group, in one
                                       // reduction: 2 a loss, 1 a product not finite)
    const std::int64_t worst = group_->allreduce_max(std::int64_t(!finite ? 2 : !finite_product ? 1 : 0));
    finite = worst < 2;
    finite_product = worst < 1;
  }
  if (!finite || !finite_product) {
    ++products_;  // (the pass was made)
    throw UndefinedHessian(model_.source +
                           (!finite ? ": the loss is not finite at this model (inf or NaN on the data, a "
                                      "diverged model?): its Hessian is undefined"
                                    : ": the Hessian-vector product is not finite at this model, though "
                                      "its loss is (second derivatives beyond the float range: weights "
                                      "near overflow?): its Hessian is undefined here"));
  }
  if (group_ && group_->size() > 1) {
    // Rescaled shard sums add up to H x. The root's sum is broadcast so that every rank holds
    // bit-identical vectors and runs the same eigensolver iterations.
    group_->allreduce_sum(y, dim_);
    group_->bcast(y, dim_ * std::int64_t(sizeof(double)));
  }
  ++products_;
  if (stop_on_signal) {
    const bool mine = stop_requested();
    if (group_ && group_->size() > 1 ? group_->allreduce_max(std::int64_t(mine)) > 0 : mine)
      throw HessianStopped{};
  }
}

// ---------------- ARPACK ----------------

void to_json(nlohmann::json& j, const EigenOptions& o) {
  j = {{"solver", "ARPACK dsaupd/dseupd (implicitly restarted Lanczos, arpack-ng)"},
       {"tol", o.tol},
       {"max_iter", o.max_iter},
       {"ncv", o.ncv},
       {"seed", o.seed}};
}

EigenResult arpack_eigsh(const SymOperator& op, std::int64_t n, int nev, Which which,
                         const EigenOptions& opts, double shift) {
  if (nev < 1) throw InputError("eigensolver: asked for " + std::to_string(nev) + " eigenvalues");
  if (nev >= n)
    throw InputError("eigensolver: " + std::to_string(nev) + " eigenvalue(s) asked for, but the " +
                     "operator has dimension " + std::to_string(n) + " (need fewer than that)");
  if (n > std::numeric_limits<a_int>::max())
    throw InputError("eigensolver: dimension " + std::to_string(n) + " exceeds ARPACK's index type");
  if (!std::isfinite(opts.tol) || opts.tol < 0)
    throw InputError("eigensolver: tolerance must be a finite number >= 0");
  if (opts.max_iter < 1) throw InputError("eigensolver: max_iter must be at least 1");
  const a_int N = a_int(n);
  a_int ncv = a_int(basis_size(opts, n, nev));
  if (ncv <= nev || ncv > N)
    throw InputError("eigensolver: ncv " + std::to_string(ncv) + " must be in (" +
                     std::to_string(nev) + ", " + std::to_string(n) + "]");
  const a_int lworkl = ncv * (ncv + 8);
  std::vector<double> resid(static_cast<std::size_t>(n)), v(std::size_t(n) * std::size_t(ncv)),
      workd(3 * std::size_t(n)), workl(static_cast<std::size_t>(lworkl));
  // Our own starting vector (info = 1): ARPACK's default one continues a random stream saved
  // between calls, which would make a point's result depend on what its rank computed before.
  std::mt19937_64 rng(opts.seed);
  for (auto& r : resid) r = uniform_pm1(rng);
  a_int iparam[11] = {0}, ipntr[14] = {0};
  iparam[0] = 1;  // exact shifts
  iparam[2] = opts.max_iter;
  iparam[6] = 1;  // mode 1: A x = λ x
  a_int ido = 0, info = 1;
  const char* w = which_code(which);
  // ARPACK applies the operator at most ncv times per restart. Its own limit is trusted no
  // further than max_iter + 2 restarts' worth of products, a bound on what one solve can cost.
  // (Added for a Debian 13 run that never ended; that hang was later traced to TorchScript's CPU
  // fuser, see ScriptModel in model.cpp, and the bound has not been reached since.)
  const std::int64_t product_cap = (std::int64_t(opts.max_iter) + 2) * std::int64_t(ncv);
  std::int64_t products = 0;
  bool zero = true;  // every product so far was 0: then A = 0 (a random vector is in its null
                     // space with probability 0 otherwise), where ARPACK gives up (info -9)
  for (;;) {
    dsaupd_c(&ido, "I", N, w, nev, opts.tol, resid.data(), ncv, v.data(), N, iparam, ipntr,
             workd.data(), workl.data(), lworkl, &info);
    if (ido != -1 && ido != 1) break;
    if (++products > product_cap) {
      EigenResult r;
      r.iterations = opts.max_iter;
      r.products = int(products - 1);
      r.values.assign(std::size_t(nev), kNaN);
      return r;
    }
    const double* x = &workd[std::size_t(ipntr[0] - 1)];
    double* y = &workd[std::size_t(ipntr[1] - 1)];
    op(x, y);
    if (zero) zero = std::all_of(y, y + N, [](double v) { return v == 0; });
    if (shift != 0)
      for (a_int i = 0; i < N; ++i) y[i] -= shift * x[i];
  }
  if (info < 0 && zero && products > 0) {
    EigenResult r;  // the operator is 0: so is every eigenvalue
    r.products = int(products);
    r.converged = true;
    r.converged_count = nev;
    r.values.assign(std::size_t(nev), 0.0);
    return r;
  }
  if (info < 0 || info == 2) throw ArpackError("ARPACK dsaupd failed: " + arpack_error(info));
  EigenResult r;
  // (ARPACK counts one past MXITER when it stops at the limit, info 1: a solve of --eig-max-iter
  // 1 reported 2)
  r.iterations = std::min<int>(int(iparam[2]), opts.max_iter);
  r.products = iparam[8];
  r.converged_count = std::min<int>(iparam[4], nev);
  r.values.assign(std::size_t(nev), kNaN);
  if (r.converged_count > 0) {
    std::vector<a_int> select(std::size_t(ncv), 0);
    std::vector<double> d(std::size_t(nev), kNaN);
    a_int info2 = 0;
    dseupd_c(0, "A", select.data(), d.data(), v.data(), N, 0.0, "I", N, w, nev, opts.tol,
             resid.data(), ncv, v.data(), N, iparam, ipntr, workd.data(), workl.data(), lworkl,
             &info2);
    if (info2 != 0) throw ArpackError("ARPACK dseupd failed: " + arpack_error(info2));
    std::vector<double> got(d.begin(), d.begin() + r.converged_count);
    for (auto& g : got) g += shift;
    std::sort(got.begin(), got.end(), std::greater<double>());
    std::copy(got.begin(), got.end(), r.values.begin());
  }
  // info 1: MXITER restarts done; info 3: no shifts could be applied (ncv too small).
  r.converged = info == 0 && r.converged_count >= nev;
  return r;
}

ExtremeEigs extreme_eigenvalues(const SymOperator& op, std::int64_t n, const EigenOptions& opts) {
  ExtremeEigs e;
  auto top = arpack_eigsh(op, n, 1, Which::largest_magnitude, opts);
  e.iterations = top.iterations;
  e.products = top.products;
  e.max_eig = top.values[0];
  if (!top.converged || !std::isfinite(e.max_eig)) {
    e.max_eig = kNaN;
    e.min_eig = kNaN;
    return e;
  }
  if (e.max_eig < 0) {
    // The largest-magnitude eigenvalue is negative: it is λmin, nothing lies below it. λmax is
    // then the largest positive eigenvalue, as in the reference (whose second solve finds it and
    // which then swaps its two results): the largest algebraic one of H − λmin·I, a positive
    // semi-definite operator whose residual test is relative to the spectrum's width. Without a
    // positive eigenvalue (a local maximum) λmax = λmin.
    e.min_eig = e.max_eig;
    auto high = arpack_eigsh(op, n, 1, Which::largest_algebraic, opts, e.min_eig);
    e.iterations += high.iterations;
    e.products += high.products;
    e.converged = high.converged && std::isfinite(high.values[0]);
    if (!e.converged)
      e.max_eig = kNaN;
    else if (high.values[0] > 0)
      e.max_eig = high.values[0];
    return e;
  }
  auto low = arpack_eigsh(op, n, 1, Which::smallest_algebraic, opts, e.max_eig);
  e.iterations += low.iterations;
  e.products += low.products;
  e.min_eig = low.converged ? low.values[0] : kNaN;
  e.converged = low.converged;
  return e;
}

// ---------------- trace and density ----------------

TraceEstimate hutchinson_trace(const SymOperator& op, std::int64_t n, int probes,
                               std::uint64_t seed) {
  if (probes < 1) throw InputError("trace: the number of probes must be at least 1");
  TraceEstimate t;
  t.probes = probes;
  std::mt19937_64 rng(seed);
  std::vector<double> hv(static_cast<std::size_t>(n));
  for (int k = 0; k < probes; ++k) {
    auto v = rademacher(rng, n);
    op(v.data(), hv.data());
    t.samples.push_back(dot(v, hv));
  }
  double mean = 0;
  for (double s : t.samples) mean += s;
  mean /= probes;
  double var = 0;
  for (double s : t.samples) var += (s - mean) * (s - mean);
  t.trace = mean;
  t.standard_error = probes > 1 ? std::sqrt(var / (probes - 1) / probes) : kNaN;
  return t;
}

int auto_density_points(double width) {
  const double sigma = std::sqrt(1e-5 * std::max(1.0, width));
  const double points = std::ceil(width / (sigma / 2)) + 1;
  return int(std::clamp(points, 400.0, double(kMaxDensityPoints)));
}

SpectralDensity slq_density(const SymOperator& op, std::int64_t n, int steps, int probes,
                            std::uint64_t seed, int grid_points) {
  if (steps < 1) throw InputError("density: Lanczos steps must be at least 1");
  if (probes < 1) throw InputError("density: the number of probes must be at least 1");
  if (grid_points != 0 && grid_points < 2) throw InputError("density: need at least 2 grid points");
  SpectralDensity sd;
  // (a probe stops early where its Krylov space is invariant: `steps` is then the most any
  // probe took, as its nodes show; it said the steps asked for)
  const int limit = int(std::min<std::int64_t>(steps, n));
  std::mt19937_64 rng(seed);
  const std::size_t N = std::size_t(n);
  for (int p = 0; p < probes; ++p) {
    auto v0 = rademacher(rng, n);
    for (auto& x : v0) x /= std::sqrt(double(n));
    std::vector<std::vector<double>> V = {v0};
    std::vector<double> alpha, beta, w(N);
    double scale = 0;
    for (int j = 0; j < limit; ++j) {
      op(V[std::size_t(j)].data(), w.data());
      double a = dot(w, V[std::size_t(j)]);
      alpha.push_back(a);
      // Full reorthogonalization (twice is enough): the quadrature is only as good as the basis.
      for (int pass = 0; pass < 2; ++pass)
        for (auto& q : V) {
          double c = dot(w, q);
          for (std::size_t i = 0; i < N; ++i) w[i] -= c * q[i];
        }
      double b = std::sqrt(dot(w, w));
      scale = std::max({scale, std::abs(a), b});
      // An invariant subspace: the quadrature is exact with the nodes found so far.
      if (j + 1 == limit || b <= 1e-10 * scale) break;
      beta.push_back(b);
      for (auto& x : w) x /= b;
      V.push_back(w);
    }
    const auto k = std::int64_t(alpha.size());
    sd.steps = std::max(sd.steps, int(k));
    auto T = torch::zeros({k, k}, torch::kFloat64);
    for (std::int64_t i = 0; i < k; ++i) {
      T[i][i] = alpha[std::size_t(i)];
      if (i + 1 < k) {
        T[i][i + 1] = beta[std::size_t(i)];
        T[i + 1][i] = beta[std::size_t(i)];
      }
    }
    auto [evals, evecs] = torch::linalg_eigh(T, "L");
    std::vector<double> nodes(static_cast<std::size_t>(k)), weights(static_cast<std::size_t>(k));
    for (std::int64_t i = 0; i < k; ++i) {
      nodes[std::size_t(i)] = evals[i].item<double>();
      double c = evecs[0][i].item<double>();
      weights[std::size_t(i)] = c * c;
    }
    sd.nodes.push_back(nodes);
    sd.weights.push_back(weights);
  }
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (auto& ns : sd.nodes)
    for (double x : ns) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  const double spread = hi - lo;
  const double pad = 0.01 * std::max(1.0, spread);
  lo -= pad;
  hi += pad;
  const double s2 = 1e-5 * std::max(1.0, hi - lo);
  sd.sigma = std::sqrt(s2);
  if (grid_points == 0) grid_points = auto_density_points(hi - lo);
  sd.grid.resize(std::size_t(grid_points));
  sd.density.assign(std::size_t(grid_points), 0.0);
  for (int g = 0; g < grid_points; ++g) sd.grid[std::size_t(g)] = lo + (hi - lo) * g / (grid_points - 1);
  for (std::size_t p = 0; p < sd.nodes.size(); ++p)
    for (std::size_t i = 0; i < sd.nodes[p].size(); ++i)
      for (int g = 0; g < grid_points; ++g) {
        double d = sd.grid[std::size_t(g)] - sd.nodes[p][i];
        sd.density[std::size_t(g)] +=
            sd.weights[p][i] * std::exp(-d * d / (2 * s2)) / std::sqrt(2 * M_PI * s2);
      }
  double integral = 0;
  const double h = (hi - lo) / (grid_points - 1);
  for (double d : sd.density) integral += d * h;
  if (integral > 0)
    for (auto& d : sd.density) d /= integral;
  return sd;
}

}  // namespace losscape

// ---------------- the report of `losscape hessian` ----------------

namespace losscape {

void to_json(nlohmann::json& j, const CurvatureOptions& o) {
  j = {{"top_k", o.top_k},           {"eigensolver", o.eig},
       {"trace_probes", o.trace_probes}, {"seed", o.seed},
       {"density", o.density},       {"slq_steps", o.slq_steps},
       {"slq_probes", o.slq_probes},
       {"density_points", o.density_points == 0 ? nlohmann::json("auto") : nlohmann::json(o.density_points)}};
}

namespace {
void at_least(std::int64_t v, std::int64_t lo, const char* flag) {
  if (v < lo)
    throw InputError(std::string(flag) + " " + std::to_string(v) + ": must be at least " +
                     std::to_string(lo));
}
}  // namespace

void check_eigen_options(const EigenOptions& o) {
  if (!std::isfinite(o.tol) || o.tol < 0)
    throw InputError("--eig-tol must be a finite number >= 0 (0: machine precision)");
  at_least(o.max_iter, 1, "--eig-max-iter");
  if (o.ncv != 0 && o.ncv < 3)
    throw InputError("--eig-ncv " + std::to_string(o.ncv) + ": must be 0 (automatic) or at least 3");
}

void check_curvature_options(const CurvatureOptions& o, std::int64_t n) {
  check_eigen_options(o.eig);
  at_least(o.top_k, 0, "--top-k");
  at_least(o.trace_probes, 0, "--trace-probes");
  if (o.eig.ncv != 0 && o.eig.ncv <= o.top_k)
    throw InputError("--eig-ncv " + std::to_string(o.eig.ncv) + ": must be more than --top-k " +
                     std::to_string(o.top_k) + " (or 0, automatic)");
  if (o.density) {
    at_least(o.slq_steps, 1, "--slq-steps");
    at_least(o.slq_probes, 1, "--slq-probes");
    if (o.density_points != 0) at_least(o.density_points, 2, "--density-points");
    if (o.density_points > kMaxDensityPoints)
      throw InputError("--density-points " + std::to_string(o.density_points) + ": at most " +
                       std::to_string(kMaxDensityPoints));
  }
  if (n > 0 && o.top_k >= n)
    throw InputError("--top-k " + std::to_string(o.top_k) + ": the Hessian has only " +
                     std::to_string(n) + " rows (need fewer)");
  if (n > 0 && o.eig.ncv > n)
    throw InputError("--eig-ncv " + std::to_string(o.eig.ncv) + ": the Hessian has only " +
                     std::to_string(n) + " rows");
}

void check_curvature_memory(const CurvatureOptions& o, std::int64_t n, int ranks_on_node,
                            const MemoryRoom& room) {
  // Settings the Hessian's size rules out first (--eig-ncv 2147483647 was told to use "more
  // memory", which would never have made it valid).
  check_curvature_options(o, n);
  // ARPACK: ncv basis vectors, its residual and 3 work vectors; SLQ: steps + 1 basis vectors and
  // two more (all float64).
  const auto ncv = [&](std::int64_t nev) { return basis_size(o.eig, n, nev); };
  std::int64_t vectors = ncv(1) + 4;
  std::string what = "the eigensolver's " + std::to_string(ncv(1)) + " Lanczos vectors (--eig-ncv)";
  if (o.top_k > 0 && ncv(o.top_k) + 4 > vectors) {
    vectors = ncv(o.top_k) + 4;
    what = "the top-" + std::to_string(o.top_k) + " eigensolver's " + std::to_string(ncv(o.top_k)) +
           " Lanczos vectors (--top-k, --eig-ncv)";
  }
  // (at most n steps: slq_density stops there, a larger --slq-steps asked for memory never used)
  const std::int64_t steps = std::min<std::int64_t>(o.slq_steps, n);
  if (o.density && steps + 3 > vectors) {
    vectors = steps + 3;
    what = "--density's " + std::to_string(steps + 1) + " Lanczos vectors (--slq-steps)";
  }
  const std::uint64_t per_rank = std::uint64_t(vectors) * std::uint64_t(n) * sizeof(double);
  const auto text = [](std::uint64_t b) { return SurfaceFile::size_text(b); };
  const std::string why = memory_shortfall(room, per_rank, ranks_on_node, text);
  if (why.empty()) return;
  throw InputError(what + " of the Hessian's " + std::to_string(n) + " rows take about " +
                   text(per_rank) + " on each rank" +
                   (ranks_on_node > 1 ? " (" + text(per_rank * std::uint64_t(ranks_on_node)) +
                                            " for the " + std::to_string(ranks_on_node) +
                                            " ranks on this node)"
                                      : std::string()) +
                   ", and " + why + "; use fewer vectors or more memory");
}

std::string curvature_stages_problem(const nlohmann::json& r, const CurvatureOptions& o) {
  auto count = [](const nlohmann::json& v) { return v.is_number_integer() && v.get<std::int64_t>() >= 0; };
  auto number_or_null = [](const nlohmann::json& v) { return v.is_number() || v.is_null(); };
  auto numbers = [](const nlohmann::json& v, bool nulls) {
    return v.is_array() && std::all_of(v.begin(), v.end(), [&](const nlohmann::json& x) {
             return x.is_number() || (nulls && x.is_null());
           });
  };
  // (the keys every stage has; `at` of a const object: no insertion, an exception if missing)
  auto stage_ok = [&](const nlohmann::json& s) {
    return s.is_object() && s.contains("products") && count(s.at("products"));
  };
  const bool extreme = r.contains("extreme");
  if (extreme) {
    const auto& e = r.at("extreme");
    if (!stage_ok(e) || !e.contains("converged") || !e.at("converged").is_boolean() ||
        !e.contains("iterations") || !count(e.at("iterations")))
      return "its extreme is not one losscape writes";
    for (const char* k : {"max_eig", "min_eig", "eig_ratio"})
      if (!r.contains(k) || !number_or_null(r.at(k))) return std::string("its ") + k + " is missing or not a number";
    // (as this stage writes them: kept values that contradicted each other were printed, a
    // λmin of 100 above a λmax of 43.9, or a ratio the two λ do not give)
    const auto &mx = r.at("max_eig"), &mn = r.at("min_eig"), &ratio = r.at("eig_ratio");
    const bool converged = e.at("converged").get<bool>();
    if (converged && (!mx.is_number() || !mn.is_number()))
      return "its extreme eigenvalues are marked converged without values";
    if (mx.is_number() && mn.is_number()) {
      const double a = mx.get<double>(), b = mn.get<double>();
      if (b > a) return "its min_eig is above its max_eig";
      const double want = std::abs(b / a);
      const bool ratio_ok = converged && a != 0
                                ? ratio.is_number() && std::abs(ratio.get<double>() - want) <= 1e-9 * std::max(1.0, want)
                                : ratio.is_null();
      if (!ratio_ok) return "its eig_ratio is not |min_eig / max_eig|";
    }
  }
  if (r.contains("top_eigenvalues")) {
    const auto& t = r.at("top_eigenvalues");
    if (!extreme || !stage_ok(t) || !t.contains("values") || !numbers(t.at("values"), true) ||
        t.at("values").size() != std::size_t(o.top_k) || !t.contains("converged") ||
        !t.at("converged").is_boolean() || !t.contains("iterations") || !count(t.at("iterations")))
      return "its top_eigenvalues are not ones losscape writes";
  }
  if (r.contains("trace")) {
    const auto& t = r.at("trace");
    if (!extreme || !stage_ok(t) || !t.contains("estimate") || !t.at("estimate").is_number() ||
        !t.contains("stderr") || !number_or_null(t.at("stderr")) || !t.contains("probes") ||
        t.at("probes") != o.trace_probes || !t.contains("estimator") || !t.at("estimator").is_string())
      return "its trace is not one losscape writes";
  }
  if (r.contains("density")) {
    const auto& d = r.at("density");
    bool ok = extreme && stage_ok(d) && d.contains("method") && d.at("method").is_string();
    for (const char* k : {"steps", "probes"}) ok = ok && d.contains(k) && count(d.at(k));
    ok = ok && d.contains("sigma") && d.at("sigma").is_number();
    for (const char* k : {"nodes", "weights"})
      ok = ok && d.contains(k) && d.at(k).is_array() && d.at(k).size() == std::size_t(o.slq_probes) &&
           std::all_of(d.at(k).begin(), d.at(k).end(), [&](const nlohmann::json& p) { return numbers(p, false); });
    ok = ok && d.contains("grid") && numbers(d.at("grid"), false) && d.contains("density") &&
         numbers(d.at("density"), false) && d.at("grid").size() == d.at("density").size();
    if (!ok) return "its density is not one losscape writes";
  }
  return "";
}

nlohmann::json curvature_report(HessianOperator& h, const CurvatureOptions& o,
                                const std::function<void(const std::string&)>& progress,
                                const nlohmann::json& earlier) {
  check_curvature_options(o, h.dim());
  auto say = [&](const std::string& s) {  // (a stage begins)
    if (progress) progress(s + " ...");
  };
  const std::int64_t n = h.dim();
  SymOperator op = [&h](const double* x, double* y) { h.apply(x, y); };
  auto nan_to_null = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json j;
  j["parameters"] = {{"count", n}, {"tensors", h.tensor_names()}};
  j["samples"] = h.samples();
  j["settings"] = o;
  // A stage that an unfinished earlier run of the same command finished is taken from its
  // result (its keys, the stage's own last) instead of being computed again.
  nlohmann::json kept = nlohmann::json::array();
  auto keep = [&](const std::string& stage, const std::vector<const char*>& keys) {
    if (!earlier.is_object() || !earlier.contains(keys.back())) return false;
    for (const char* k : keys)
      if (earlier.contains(k)) j[k] = earlier[k];
    kept.push_back(keys.back());
    if (progress) progress(stage + ": kept from the unfinished earlier run");
    return true;
  };

  std::string stage = "extreme eigenvalues";
  try {
    ExtremeEigs e;
    if (keep(stage, {"max_eig", "min_eig", "eig_ratio", "extreme"})) {
      auto number = [](const nlohmann::json& v) {
        return v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
      };
      e.max_eig = number(j["max_eig"]);
      e.min_eig = number(j["min_eig"]);
      e.converged = j["extreme"].value("converged", false);
    } else {
      say(stage);
      auto before = h.products();
      e = extreme_eigenvalues(op, n, o.eig);
      j["max_eig"] = nan_to_null(e.max_eig);
      j["min_eig"] = nan_to_null(e.min_eig);
      j["eig_ratio"] = e.converged && e.max_eig != 0 ? nlohmann::json(std::abs(e.min_eig / e.max_eig))
                                                     : nlohmann::json();
      j["extreme"] = {{"converged", e.converged}, {"iterations", e.iterations},
                      {"products", h.products() - before}};
    }

    stage = "top-" + std::to_string(o.top_k) + " eigenvalues";
    if (o.top_k > 0 && !keep(stage, {"top_eigenvalues"})) {
      say(stage);
      auto before = h.products();
      nlohmann::json top;
      if (o.top_k == 1 && e.converged && e.max_eig >= 0) {
        // The largest-magnitude eigenvalue is non-negative: it is the largest one.
        top = {{"values", {e.max_eig}}, {"converged", true}, {"iterations", 0}, {"products", 0}};
      } else if (o.top_k >= n) {
        throw InputError("--top-k " + std::to_string(o.top_k) + ": the Hessian has only " +
                         std::to_string(n) + " rows (need fewer)");
      } else {
        double shift = e.converged ? e.min_eig : 0.0;
        auto r = arpack_eigsh(op, n, o.top_k, Which::largest_algebraic, o.eig, shift);
        nlohmann::json vals = nlohmann::json::array();
        for (double v : r.values) vals.push_back(nan_to_null(v));
        top = {{"values", vals}, {"converged", r.converged}, {"iterations", r.iterations},
               {"products", h.products() - before}};
      }
      j["top_eigenvalues"] = top;
    }

    stage = "trace";
    if (o.trace_probes > 0 && !keep(stage, {"trace"})) {
      say("trace (" + std::to_string(o.trace_probes) + " Hutchinson probes)");
      auto before = h.products();
      auto t = hutchinson_trace(op, n, o.trace_probes, o.seed);
      j["trace"] = {{"estimate", t.trace},
                    {"stderr", nan_to_null(t.standard_error)},
                    {"probes", t.probes},
                    {"estimator", "Hutchinson, Rademacher probes"},
                    {"products", h.products() - before}};
    }

    stage = "density";
    if (o.density && !keep(stage, {"density"})) {
      say("density (SLQ, " + std::to_string(o.slq_probes) + " x " +
          std::to_string(std::min<std::int64_t>(o.slq_steps, n)) + " Lanczos steps)");
      auto before = h.products();
      auto d = slq_density(op, n, o.slq_steps, o.slq_probes, o.seed + 1, int(o.density_points));
      j["density"] = {{"method", "stochastic Lanczos quadrature, Gaussian-smoothed"},
                      {"steps", d.steps},
                      {"probes", o.slq_probes},
                      {"sigma", d.sigma},
                      {"nodes", d.nodes},
                      {"weights", d.weights},
                      {"grid", d.grid},
                      {"density", d.density},
                      {"products", h.products() - before}};
    }
    j["complete"] = true;
  } catch (const HessianStopped&) {
    j["complete"] = false;
    j["stopped_during"] = stage;
  }
  if (!kept.empty()) j["kept"] = kept;
  j["products"] = h.products();
  return j;
}

}  // namespace losscape
