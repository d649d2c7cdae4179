// Tests of trajectory.hpp: PCA of synthetic trajectories along known orthogonal directions
// (closed form), against numpy's SVD of the same checkpoint files, block streaming, and the
// projection formula with the final model at the origin.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "losscape/checkpoint.hpp"
#include "losscape/error.hpp"
#include "losscape/grid.hpp"
#include "losscape/train.hpp"
#include "losscape/trajectory.hpp"
#include "test_support.hpp"

using namespace losscape;
using losscape::test::TempDir;
using catch_compat::Contains;

namespace {

double dot(const TensorList& a, const TensorList& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    s += (a[i].tensor.to(torch::kFloat64) * b[i].tensor.to(torch::kFloat64)).sum().item<double>();
  return s;
}
double cosine(const TensorList& a, const TensorList& b) {
  return dot(a, b) / std::sqrt(dot(a, a) * dot(b, b));
}

// A unit direction over the ≥2-D parameters of `like` (0 on ≤1-D ones), random with `seed`.
TensorList unit_direction(const TensorList& like, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  TensorList d;
  for (auto& t : like)
    d.push_back({t.name, t.tensor.dim() >= 2 ? torch::randn(t.tensor.sizes(), gen)
                                             : torch::zeros(t.tensor.sizes())});
  double n = std::sqrt(dot(d, d));
  for (auto& t : d) t.tensor.div_(n);
  return d;
}

// Checkpoints model_<k>.h5, k = 0..n-1, of cnn_small with parameters θ_f + a_k·u + b_k·v
// (+ noise·ε_k) and BN buffers that also drift.
std::vector<std::string> write_trajectory(const std::string& dir, const std::vector<double>& a,
                                          const std::vector<double>& b, const TensorList& u,
                                          const TensorList& v, double noise = 0,
                                          const std::string& dataset = "fashion-mnist") {
  std::filesystem::create_directories(dir);
  torch::manual_seed(1);
  auto model = make_zoo("cnn_small", dataset);
  std::vector<std::string> files;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(99);
  for (std::size_t k = 0; k < a.size(); ++k) {
    Checkpoint ck;
    ck.meta = meta_for(*model, dataset);
    ck.meta.epoch = std::int64_t(k);
    ck.meta.config = {{"note", "synthetic trajectory"}};
    std::map<std::string, std::size_t> pidx;
    for (std::size_t i = 0; i < u.size(); ++i) pidx[u[i].name] = i;
    for (auto& s : model->state()) {
      torch::Tensor t = s.tensor.detach().clone();
      auto it = pidx.find(s.name);
      if (it != pidx.end()) {
        t = t + a[k] * u[it->second].tensor + b[k] * v[it->second].tensor;
        if (noise > 0 && k + 1 < a.size()) t = t + noise * torch::randn(t.sizes(), gen);
      } else if (t.is_floating_point()) {
        t = t + 0.01 * double(k);  // running statistics drift too
      } else {
        t.fill_(std::int64_t(100 * k));
      }
      ck.state.push_back({s.name, t});
    }
    files.push_back(checkpoint_path(dir, std::int64_t(k)));
    save_checkpoint(files.back(), ck);
  }
  return files;
}

TensorList weights_of(const Directions& d, int c) { return d.dirs.at(std::size_t(c)); }

}  // namespace

TEST_CASE("PCA recovers two known orthogonal directions and their variance ratios",
          "[trajectory]") {
  TempDir tmp("pca");
  torch::manual_seed(1);
  auto params = make_zoo("cnn_small", "fashion-mnist")->parameters();
  auto u = unit_direction(params, 11);
  auto v0 = unit_direction(params, 12);
  // Gram-Schmidt: v ⊥ u.
  double uv = dot(u, v0);
  TensorList v;
  for (std::size_t i = 0; i < u.size(); ++i) v.push_back({u[i].name, v0[i].tensor - uv * u[i].tensor});
  double vn = std::sqrt(dot(v, v));
  for (auto& t : v) t.tensor.div_(vn);
  // k = 0..10: a_k = 10 − k, b_k = (k − 5)² − 25 (both 0 at the final k = 10). Centred, a is
  // odd and b even around k = 5, so they are orthogonal: |a_c|² = 110, |b_c|² = 858.
  std::vector<double> a, b;
  for (int k = 0; k <= 10; ++k) a.push_back(10.0 - k), b.push_back((k - 5.0) * (k - 5.0) - 25.0);
  auto files = write_trajectory(tmp.file("run"), a, b, u, v);
  REQUIRE(checkpoint_files(tmp.file("run")) == files);

  auto d = pca_directions(files, TensorSet::weights, /*ignore_biasbn=*/true);
  REQUIRE(d.dims() == 2);
  CHECK(std::abs(cosine(weights_of(d, 0), v)) >= 0.999);
  CHECK(std::abs(cosine(weights_of(d, 1), u)) >= 0.999);
  CHECK(std::sqrt(dot(weights_of(d, 0), weights_of(d, 0))) == Approx(1).epsilon(1e-6));
  CHECK(std::abs(cosine(weights_of(d, 0), weights_of(d, 1))) < 1e-4);
  REQUIRE(d.explained_variance_ratio);
  CHECK((*d.explained_variance_ratio)[0] == Approx(858.0 / 968).epsilon(1e-5));
  CHECK((*d.explained_variance_ratio)[1] == Approx(110.0 / 968).epsilon(1e-5));
  CHECK((*d.singular_values)[0] == Approx(std::sqrt(858.0)).epsilon(1e-5));
  CHECK((*d.singular_values)[1] == Approx(std::sqrt(110.0)).epsilon(1e-5));
  CHECK((*d.explained_variance)[0] == Approx(858.0 / 10).epsilon(1e-5));
  for (std::size_t i = 0; i < params.size(); ++i)
    if (params[i].tensor.dim() <= 1) CHECK(d.dirs[0][i].tensor.abs().max().item<double>() == 0);
  CHECK(d.names.size() == params.size());
  CHECK(d.attrs.at("method") == "pca");
  CHECK(d.attrs.at("epochs").size() == 11);

  // Block streaming (tiny budget: tensors split over blocks) gives the same directions.
  PcaOptions small;
  small.memory_bytes = 8 * 12 * 1000;
  auto d2 = pca_directions(files, TensorSet::weights, true, small);
  for (int c = 0; c < 2; ++c) CHECK(cosine(weights_of(d, c), weights_of(d2, c)) > 1 - 1e-9);

  // Projection: x_k = ⟨d_k, pc1⟩/‖pc1‖ = ±b_k, y_k = ±a_k; the final model at (0, 0).
  write_directions(tmp.file("pca.h5"), d);
  auto back = read_directions(tmp.file("pca.h5"));
  REQUIRE(back.explained_variance_ratio);
  auto p = project_trajectory(back, files, tmp.file("pca.h5"));
  REQUIRE(p.x.size() == 11);
  const double sx = (dot(weights_of(d, 0), v) > 0) ? 1 : -1;
  const double sy = (dot(weights_of(d, 1), u) > 0) ? 1 : -1;
  for (std::size_t k = 0; k < 11; ++k) {
    CHECK(p.x[k] == Approx(sx * b[k]).margin(2e-3));
    CHECK(p.y[k] == Approx(sy * a[k]).margin(2e-3));
    CHECK(p.epochs[k] == std::int64_t(k));
  }
  CHECK(p.x.back() == 0.0);
  CHECK(p.y.back() == 0.0);
  write_projection(tmp.file("proj.h5"), p, "pca.h5");
  auto pr = read_projection(tmp.file("proj.h5"));
  CHECK(pr.x == p.x);
  CHECK(pr.y == p.y);
  CHECK(pr.epochs == p.epochs);
  CHECK(*pr.explained_variance_ratio == *d.explained_variance_ratio);
}

TEST_CASE("PCA of a noisy trajectory equals numpy's SVD of the same checkpoints",
          "[trajectory]") {
  LOSSCAPE_REQUIRE_PYTHON("numpy h5py");
  TempDir tmp("pcanp");
  torch::manual_seed(1);
  auto params = make_zoo("cnn_small", "fashion-mnist")->parameters();
  auto u = unit_direction(params, 21), v = unit_direction(params, 22);
  std::vector<double> a, b;
  const int n = 15;
  for (int k = 0; k < n; ++k) {
    double s = double(n - 1 - k) / (n - 1);
    a.push_back(3 * s * s + 0.5 * s);
    b.push_back(std::sin(4 * s) * s);
  }
  auto files = write_trajectory(tmp.file("run"), a, b, u, v, /*noise=*/0.002);
  for (bool states : {false, true}) {
    INFO("states " << states);
    auto type = states ? TensorSet::states : TensorSet::weights;
    const bool ignore = !states;
    auto d = pca_directions(files, type, ignore);
    write_directions(tmp.file("pca.h5"), d);
    auto p = project_trajectory(d, files);
    write_projection(tmp.file("proj.h5"), p, "pca.h5");
    // numpy: rows θ_k − θ_n over the same tensors (names from the direction file), SVD of the
    // centred matrix, sklearn's u-based sign rule; projections by the reference's formula.
    std::ostringstream py;
    py << "import h5py, numpy as np, json\n"
       << "files = " << nlohmann::json(files).dump() << "\n"
       << "ignore = " << (ignore ? "True" : "False") << "\n"
       << "D = h5py.File('" << tmp.file("pca.h5") << "', 'r')\n"
       << "names = [n.decode() if isinstance(n, bytes) else n for n in D.attrs['names']]\n"
       << R"(
def row(f, final=None):
    with h5py.File(f, 'r') as h:
        parts = []
        for n in names:
            x = h['state'][n][()]
            if x.dtype.kind != 'f' or (ignore and x.ndim <= 1):
                x = np.zeros_like(x, dtype=np.float64)
            parts.append(np.asarray(x, np.float64).ravel())
        return np.concatenate(parts)
T = np.stack([row(f) for f in files])
X = T - T[-1]
Xc = X - X.mean(0)
U, S, Vt = np.linalg.svd(Xc, full_matrices=False)
for i in range(2):
    j = np.argmax(np.abs(U[:, i]))
    if U[j, i] < 0:
        U[:, i] *= -1; Vt[i] *= -1
ratio = S**2 / (S**2).sum()
pcs = [np.concatenate([np.asarray(D[g][str(i)][()], np.float64).ravel() for i in range(len(names))])
       for g in ('xdirection', 'ydirection')]
P = h5py.File(')" << tmp.file("proj.h5") << R"(', 'r')
px = X @ Vt[0] / np.linalg.norm(Vt[0]); py = X @ Vt[1] / np.linalg.norm(Vt[1])
out = dict(cos=[float(pcs[i] @ Vt[i] / np.linalg.norm(pcs[i])) for i in range(2)],
           ratio_err=float(np.max(np.abs(ratio[:2] - D['explained_variance_ratio_'][()]))),
           sv_rel=float(np.max(np.abs(S[:2] - D['singular_values_'][()]) / S[:2])),
           var_rel=float(np.max(np.abs(S[:2]**2 / (len(files) - 1) - D['explained_variance_'][()]) / (S[:2]**2 / (len(files) - 1)))),
           proj_err=float(max(np.max(np.abs(px - P['proj_xcoord'][()])), np.max(np.abs(py - P['proj_ycoord'][()])))),
           proj_scale=float(np.max(np.abs(px))),
           ratio=[float(r) for r in ratio[:2]])
print(json.dumps(out))
)";
    auto r = losscape::test::run_python(tmp, py.str());
    INFO(r.out);
    REQUIRE(r.status == 0);
    auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
    CHECK(j["cos"][0].get<double>() >= 0.9999);  // same sign too
    CHECK(j["cos"][1].get<double>() >= 0.9999);
    CHECK(j["ratio_err"].get<double>() < 1e-6);
    CHECK(j["sv_rel"].get<double>() < 1e-6);
    CHECK(j["var_rel"].get<double>() < 1e-6);
    CHECK(j["proj_err"].get<double>() < 1e-5 * j["proj_scale"].get<double>());
  }
}

TEST_CASE("a CIFAR-10 run's checkpoints are read as CIFAR-10 models by default", "[trajectory]") {
  // (the library's default data set was fashion-mnist for every checkpoint: a 3x32x32 model was
  // refused; a losscape checkpoint records its own)
  TempDir tmp("pca-cifar");
  torch::manual_seed(1);
  auto params = make_zoo("cnn_small", "cifar10")->parameters();
  auto u = unit_direction(params, 11), v = unit_direction(params, 12);
  auto files = write_trajectory(tmp.file("run"), {3, 2, 1, 0}, {0, 1, -1, 0}, u, v, 0, "cifar10");
  auto d = pca_directions(files, TensorSet::weights, true);
  REQUIRE(d.dims() == 2);
  auto p = project_trajectory(d, files);
  REQUIRE(p.x.size() == 4);
  CHECK(p.x.back() == 0);
  CHECK(p.y.back() == 0);
}

TEST_CASE("PCA refuses too few checkpoints and files that are not checkpoints", "[trajectory]") {
  TempDir tmp("pcabad");
  torch::manual_seed(1);
  auto params = make_zoo("cnn_small", "fashion-mnist")->parameters();
  auto u = unit_direction(params, 1), v = unit_direction(params, 2);
  auto files = write_trajectory(tmp.file("run"), {1, 0}, {0, 0}, u, v);
  CHECK_THROWS_WITH(pca_directions(files, TensorSet::weights, true), Contains("at least 3"));
  auto line = write_trajectory(tmp.file("line"), {2, 1, 0}, {0, 0, 0}, u, v);
  CHECK_THROWS_WITH(pca_directions(line, TensorSet::weights, true),
                    Contains("fewer than two dimensions"));
  std::ofstream(tmp.file("junk.h5")) << "not hdf5";
  CHECK_THROWS(pca_directions({tmp.file("junk.h5"), files[0], files[1]}, TensorSet::weights, true));
  CHECK_THROWS_WITH(checkpoint_files(tmp.file("nothing")), Contains("no such run folder"));
}

TEST_CASE("grid_covering spans the path with a margin and has theta* (0) as a node", "[trajectory]") {
  losscape::Projection p;
  p.x = {8.56487, 1.91864, 0.0718348, 0};
  p.y = {0.29902, 2.20921, 0.0704887, 0};
  const auto [gx, gy] = losscape::grid_covering(p, 21);
  // x: [0, 8.56487] ± 15 % = [-1.2847, 9.8496]; steps of two digits from 11.134 / 20 = 0.5567 up:
  // 0.56 and 0.57 need 3 + 18 steps; 0.58 needs 3 + 17 = 20, but -1.74:9.86:21's node 3 is
  // -1.74 + 3 * (11.6 / 20), not 0 in floating point; 0.59 gives -1.77:10.03. y: [-0.33138,
  // 2.5406], 2.872 / 20 -> 0.15: 3 + 17 steps, inexact again; 0.16: -0.48:2.72
  CHECK(gx == "-1.77:10.03:21");
  CHECK(gy == "-0.48:2.72:21");
  // 0 exactly a node (as the sweep computes coordinates), the path inside, for many paths and sizes
  for (int n : {3, 4, 5, 11, 21, 51, 101})
    for (double span : {0.013, 0.7, 1.0, 2.0, 3.3, 17.0, 123.4})
      for (double frac : {0.0, 0.1, 0.37, 0.5, 0.93, 1.0}) {
        losscape::Projection q;
        q.x = {-frac * span, (1 - frac) * span, 0};
        q.y = {0, span};
        const auto [sx, sy] = losscape::grid_covering(q, n);
        for (const auto& [spec, lo, hi] : {std::tuple{sx, -frac * span, (1 - frac) * span}, std::tuple{sy, 0.0, span}}) {
          const auto c = losscape::parse_axis(spec).coordinates();
          INFO(spec << " n " << n << " span " << span << " frac " << frac);
          CHECK(std::count(c.begin(), c.end(), 0.0) == 1);
          CHECK(c.front() <= lo);
          CHECK(c.back() >= hi);
          CHECK(int(c.size()) == n);
        }
      }
  // a single point: ±1 around it, and 0
  losscape::Projection one;
  one.x = {0};
  one.y = {5};
  const auto [ox, oy] = losscape::grid_covering(one, 3);
  CHECK(ox == "-1:1:3");
  CHECK(oy == "0:6:3");
  // two points per axis cannot have 0 inside: the path's bounds as they are
  losscape::Projection two;
  two.x = {-1, 1, 0};
  two.y = {-1, 1, 0};
  CHECK(losscape::grid_covering(two, 2).first == "-1.3:1.3:2");
  // bounds on the 2-digit grid are the decimals they read as (19 * 0.1 printed 1.9000000000000001)
  losscape::Projection tenth;
  tenth.x = {0, 1.65};
  tenth.y = {0, 0.0165};
  CHECK(losscape::grid_covering(tenth, 2).first == "-0.25:1.9:2");
  CHECK_THROWS_AS(losscape::grid_covering(one, 1), losscape::InputError);
}
