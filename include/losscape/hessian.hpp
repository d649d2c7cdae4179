// Curvature of the loss at one model: Hessian-vector products of the loss over a whole data split
// (double backward, eval mode, batch sums accumulated exactly), its extreme eigenvalues by
// ARPACK's implicitly restarted Lanczos (arpack-ng, the solver behind the reference's scipy
// eigsh), the Hutchinson trace estimate and the stochastic Lanczos quadrature (SLQ) density.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "losscape/data.hpp"
#include "losscape/device.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "losscape/model.hpp"
#include "losscape/mpi.hpp"

namespace losscape {

/// What the Hessian is taken of, and how the products are computed.
struct HessianOptions {
  LossKind loss = LossKind::cross_entropy;
  std::int64_t batch_size = 256;  ///< samples per double-backward pass (does not change H)
  /// false: only parameter tensors with ≥ 2 dimensions take part (weights of conv and linear
  /// layers; the reference's choice); true: every trainable parameter.
  bool all_params = false;
};

/// H = ∇²L(θ) of the mean loss L over the samples of `data` (all shards of a group together),
/// restricted to the chosen parameter tensors, as a linear operator on flat float64 vectors
/// (tensors concatenated in parameter order). Reads the model's live parameters at every
/// product, so a caller may move θ in place between products.
class HessianOperator {
 public:
  /// `group`: ranks that each hold one shard of the data (nullptr or size 1: all data here);
  /// every product is then collective over the group and returns the same vector on all ranks.
  HessianOperator(Model& model, const DataSplit& data, const HessianOptions& opts,
                  const mpi::Comm* group = nullptr);

  std::int64_t dim() const { return dim_; }
  /// The parameters the Hessian is taken over: floating-point tensors, those with ≥ 2
  /// dimensions unless `all_params`; InputError naming the model when they hold fewer than 2
  /// numbers (the eigensolver's least dimension).
  static TensorList selected_parameters(const Model& model, bool all_params);
  /// Names of the tensors taking part, in order.
  std::vector<std::string> tensor_names() const;
  std::int64_t samples() const { return total_samples_; }  ///< over the whole group
  /// y = H x (both of length dim()). One pass over the data; collective over the group.
  void apply(const double* x, double* y);
  std::int64_t products() const { return products_; }  ///< Hessian-vector products so far
  /// Called between batches (the sweep's coordinator serves work requests there); may be empty.
  std::function<void()> between_batches;
  /// After each product, a stop signal on any rank of the group (stop.hpp) ends the work with
  /// HessianStopped on every rank (`losscape hessian`; the sweep stops between its points).
  bool stop_on_signal = false;

 private:
  Model& model_;
  const DataSplit& data_;
  HessianOptions opts_;
  const mpi::Comm* group_;
  std::vector<torch::Tensor> params_;
  std::vector<std::string> names_;
  std::int64_t dim_ = 0;
  std::int64_t total_samples_ = 0;
  std::int64_t products_ = 0;
};

/// Thrown by HessianOperator::apply with stop_on_signal after the product during which a stop
/// signal arrived; caught by curvature_report.
struct HessianStopped {};

/// A symmetric linear operator y = A x on vectors of length n.
using SymOperator = std::function<void(const double* x, double* y)>;

/// Settings of ARPACK's dsaupd (implicitly restarted Lanczos).
struct EigenOptions {
  /// Relative accuracy of each Ritz value (ARPACK's TOL: |residual| ≤ tol·|θ|); 1e-2 is the
  /// reference's eigsh setting.
  double tol = 1e-2;
  int max_iter = 100;  ///< implicit restarts (ARPACK's MXITER) before giving up
  int ncv = 0;         ///< Lanczos basis size; 0: min(n, max(2·nev + 1, 20)) as scipy's eigsh
  std::uint64_t seed = 0;  ///< of the starting vector (uniform in [−1, 1]), fixed for determinism
};
void to_json(nlohmann::json& j, const EigenOptions& o);
/// Refuses (InputError naming the option) --eig-tol that is negative or not finite,
/// --eig-max-iter below 1, --eig-ncv other than 0 (automatic) or at least 3: the settings
/// `losscape hessian` and `sweep --hessian` share.
void check_eigen_options(const EigenOptions& o);

/// Which end of the spectrum ARPACK looks for.
enum class Which { largest_magnitude, largest_algebraic, smallest_algebraic };

/// ARPACK reported an error other than non-convergence (a breakdown, as on non-finite products).
class ArpackError : public Error {
 public:
  using Error::Error;
};

/// The loss at the model is not finite (a diverged model): thrown by HessianOperator::apply on
/// every rank of its group alike, before any product it would return.
class UndefinedHessian : public Error {
 public:
  using Error::Error;
};

struct EigenResult {
  std::vector<double> values;  ///< nev eigenvalues, descending; NaN where not converged
  bool converged = false;      ///< all nev converged within max_iter
  int converged_count = 0;     ///< ARPACK's NCONV
  int iterations = 0;          ///< implicit restarts used
  int products = 0;            ///< applications of the operator
};

/// nev eigenvalues of the symmetric operator `op` (of dimension n) at the end `which`, of
/// op − shift·I plus shift (the shift moves nothing but ARPACK's relative convergence test,
/// see extreme_eigenvalues). Throws ArpackError when ARPACK reports an error other than
/// non-convergence, InputError when nev ≥ n.
EigenResult arpack_eigsh(const SymOperator& op, std::int64_t n, int nev, Which which,
                         const EigenOptions& opts, double shift = 0);

/// λmax and λmin of the reference's Hessian maps.
struct ExtremeEigs {
  double max_eig = 0;     ///< the eigenvalue of largest magnitude, or if that is negative the
                          ///< largest positive one (NaN if not converged)
  double min_eig = 0;     ///< the smallest (most negative) eigenvalue (NaN if not converged)
  bool converged = false; ///< both converged
  int iterations = 0;     ///< ARPACK restarts over both solves
  int products = 0;       ///< Hessian-vector products over both solves
};
/// λ₁ by Lanczos for the largest magnitude. If λ₁ ≥ 0: λmax = λ₁ and λmin the smallest
/// algebraic eigenvalue of H − λ₁·I, plus λ₁. If λ₁ < 0: λmin = λ₁ and λmax the largest
/// algebraic eigenvalue of H − λ₁·I, plus λ₁, if that is positive (the reference's swap), else
/// λ₁ (H negative definite). The reference finds λmin as the largest-
/// magnitude eigenvalue of H − 0.51·λmax·I, which yields λmin whenever λmin < 0.02·λmax; asking
/// for the smallest algebraic one gives it always, and the shift keeps ARPACK's relative
/// tolerance at the scale of the spectrum (λmax − λmin) instead of |λmin|, which for λmin ≈ 0
/// would never be met.
ExtremeEigs extreme_eigenvalues(const SymOperator& op, std::int64_t n, const EigenOptions& opts);

/// Hutchinson estimate of tr(H): the mean of vᵀHv over `probes` Rademacher vectors v.
struct TraceEstimate {
  double trace = 0;
  double standard_error = 0;  ///< standard error of the mean (sample std / sqrt(probes))
  int probes = 0;
  std::vector<double> samples;  ///< vᵀHv of each probe
};
TraceEstimate hutchinson_trace(const SymOperator& op, std::int64_t n, int probes,
                               std::uint64_t seed);

/// Stochastic Lanczos quadrature: per Rademacher probe, `steps` Lanczos steps (full
/// reorthogonalization) give Gauss quadrature nodes (Ritz values) and weights (squared first
/// components of the Ritz vectors) of the spectral measure; the density is their Gaussian-
/// smoothed average (PyHessian's recipe: σ² = 1e-5·max(1, spread)) on a uniform grid.
struct SpectralDensity {
  std::vector<std::vector<double>> nodes, weights;  ///< per probe
  std::vector<double> grid, density;                ///< smoothed, ∫ density = 1
  double sigma = 0;
  int steps = 0;
};
/// `grid_points` 0: auto_density_points of the nodes' interval.
SpectralDensity slq_density(const SymOperator& op, std::int64_t n, int steps, int probes,
                            std::uint64_t seed, int grid_points = 0);
/// Grid points for a density over an interval of `width` (σ² = 1e-5 · max(1, width)): a grid
/// step of at most σ/2, so that each Gaussian is sampled across its shape; at least 400, at most
/// kMaxDensityPoints.
int auto_density_points(double width);
constexpr int kMaxDensityPoints = 1000000;

/// What `losscape hessian` computes at one model.
struct CurvatureOptions {
  int top_k = 3;            ///< largest (algebraic) eigenvalues to report
  EigenOptions eig;
  int trace_probes = 100;   ///< Hutchinson probes; 0: no trace
  std::uint64_t seed = 0;   ///< of the trace and density probes
  bool density = false;     ///< the SLQ spectral density
  int slq_steps = 80;       ///< Lanczos steps per density probe
  int slq_probes = 1;
  std::int64_t density_points = 0;  ///< 0: auto_density_points
};
void to_json(nlohmann::json& j, const CurvatureOptions& o);
/// Refuses (InputError naming the option) settings no stage could run with, before any work:
/// negative counts, a tolerance that is negative or not finite, --eig-ncv 1 or 2 or not above
/// --top-k, density settings below 1 step / 1 probe / 2 points; with the Hessian's dimension n
/// (0: not known yet) also --top-k or --eig-ncv beyond n.
void check_curvature_options(const CurvatureOptions& o, std::int64_t n = 0);

/// Refuses (InputError naming the option) settings whose vectors of n doubles do not fit `room` on
/// each of `ranks_on_node` ranks, before any work: the eigensolver's Lanczos basis (--eig-ncv, or
/// its automatic size, for λmax/λmin and for --top-k) and --density's (--slq-steps + 1 vectors),
/// after check_curvature_options(o, n) (settings the size n rules out).
void check_curvature_memory(const CurvatureOptions& o, std::int64_t n, int ranks_on_node,
                            const MemoryRoom& room);

/// λmax, λmin (extreme_eigenvalues), the top-k eigenvalues (largest algebraic, ARPACK on
/// H − λmin·I so that the relative tolerance is at the spectrum's scale), the trace and, if asked,
/// the density, as one JSON object. `progress` (may be empty) is told each stage's name. Stopped
/// by a signal (h.stop_on_signal), it returns the stages finished before, with "complete": false
/// and "stopped_during" naming the stage (else "complete": true). `earlier`: the result of an
/// unfinished run of the same computation (the caller checks that it is): the stages it holds
/// are taken from it ("kept": their keys) instead of being computed; "products" counts this run's.
nlohmann::json curvature_report(HessianOperator& h, const CurvatureOptions& o,
                                const std::function<void(const std::string&)>& progress = {},
                                const nlohmann::json& earlier = {});
/// Why the stages a (stopped) curvature_report result holds could not be kept for settings `o`
/// (a stage's keys missing or of the wrong type, a count unlike `o`'s, a stage without the extreme
/// eigenvalues it follows), or "" when they can.
std::string curvature_stages_problem(const nlohmann::json& result, const CurvatureOptions& o);

}  // namespace losscape
