#include "losscape/trajectory.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>

#include "losscape/checkpoint.hpp"
#include "losscape/error.hpp"
#include "losscape/grid.hpp"
#include "losscape/h5.hpp"
#include "losscape/json_config.hpp"
#include "losscape/train.hpp"
#include "losscape/torch_save.hpp"

namespace losscape {
namespace {

// One checkpoint file opened for reading single tensors: a losscape checkpoint's /state group,
// or a torch.save state dict (read whole).
class CheckpointReader {
 public:
  explicit CheckpointReader(const std::string& path) : path_(path) {
    run_.path = path;
    if (!h5::is_hdf5(path)) {
      torch_file_ = true;
      std::int64_t recorded = -1;
      for (auto& t : read_torch_state_dict(path, &recorded)) torch_[t.name] = t.tensor;
      static const std::regex numbered(R"(model_(\d+)\.[A-Za-z0-9]+)");
      std::smatch m;
      const std::string name = std::filesystem::path(path).filename().string();
      if (std::regex_match(name, m, numbered)) {
        epoch_ = epoch_in_name(m[1].str(), path);
        recorded_ = recorded;
      }
      return;
    }
    file_ = h5::File(path, h5::File::Mode::read);
    if (!file_.has_attr("format") || file_.attr_string("format") != "losscape-checkpoint")
      throw InputError(path + ": not a losscape checkpoint (trajectories need the model_<epoch>.h5 "
                              "files written by losscape train)");
    if (!file_.exists("state")) throw FormatError(path + ": checkpoint has no /state group");
    state_ = file_.group("state");
    epoch_ = file_.has_attr("epoch") ? file_.attr_int("epoch") : -1;
    if (file_.has_attr("arch")) arch_ = file_.attr_string("arch");
    if (file_.has_attr("config")) {
      try {
        run_.config = nlohmann::json::parse(file_.attr_string("config"));
      } catch (const nlohmann::json::exception&) {
      }
    }
    for (const char* key : {"train_data_fingerprint", "test_data_fingerprint"})
      if (file_.has_attr(key)) run_.data[key] = file_.attr_string(key);
    // A file named for another epoch than it records (copied or damaged) would put the path's
    // points in the wrong order and label them wrongly; train --resume refuses it alike.
    static const std::regex numbered_h5(R"(model_(\d+)\.h5)");
    std::smatch m;
    const std::string name = std::filesystem::path(path).filename().string();
    if (std::regex_match(name, m, numbered_h5)) {
      if (!file_.has_attr("epoch"))
        throw FormatError(path + ": has no epoch attribute (a damaged checkpoint): not using it");
      if (epoch_ != epoch_in_name(m[1].str(), path))
        throw FormatError(path + ": records epoch " + std::to_string(epoch_) +
                          " but is named for epoch " + m[1].str() +
                          " (a copied or damaged checkpoint): not using it");
    }
  }
  std::int64_t epoch() const { return epoch_; }
  /// A torch.save file's own 'epoch' entry beside its state dict (-1: none, or not a numbered
  /// model_<N> file): the reference's model_<N>.t7 record N, other scripts N + 1.
  std::int64_t recorded_epoch() const { return recorded_; }
  const std::string& path() const { return path_; }
  /// A checkpoint of another architecture than the final model's is refused (one whose tensors
  /// include the final model's, resnet20 beside resnet20_noshort, was read without a word); a
  /// torch.save file records none.
  void check_arch(const std::string& arch, const std::string& final_file) const {
    if (!arch_.empty() && arch_ != arch)
      throw InputError(path_ + ": checkpoint holds architecture " + arch_ + ", not " + arch +
                       " (the final model's, " + final_file + "): each checkpoint of one run");
  }
  /// What tells a checkpoint's training run: its recorded configuration and data fingerprints.
  struct Run {
    std::string path;
    nlohmann::json config;
    std::map<std::string, std::string> data;  // data fingerprints, by attribute
  };
  const Run& run() const { return run_; }
  /// A losscape checkpoint of another training run than `first` (copied into the folder: a
  /// same-architecture network's weights drawn as a point of this path, or taken into its PCA,
  /// without a word) is refused: the run-defining settings of their recorded configurations
  /// (run_difference, as train --resume compares them), then the data they were trained on.
  /// Checkpoints that record neither (torch.save files, older ones) are not compared.
  void check_same_run(const Run& first) const {
    std::string diff = run_difference(first.config, run_.config);
    for (auto& [key, value] : run_.data)
      if (diff.empty() && first.data.count(key) && first.data.at(key) != value)
        diff = key + " " + value + ", not " + first.data.at(key);
    if (!diff.empty())
      throw InputError(path_ + ": is of another training run than " + first.path + " (" + diff +
                       "): each checkpoint of one run");
  }
  /// Every tensor of the final model's state `all` is there, of its shape: a checkpoint missing
  /// one the projection leaves out (a BatchNorm bias under biasbn) is damaged all the same, as
  /// eval finds it (it was projected without a word). Its names and shapes only: nothing read.
  void check_holds(const TensorList& all) const {
    for (const auto& t : all) {
      // (a BatchNorm's num_batches_tracked: files of PyTorch before 0.4.1 have none)
      if (!at::isFloatingType(t.tensor.scalar_type())) continue;
      if (torch_file_) {
        auto it = torch_.find(t.name);
        if (it == torch_.end()) missing(t.name);
        check_shape(t.name, it->second.sizes(), t.tensor.sizes());
      } else {
        if (!state_.exists(t.name)) missing(t.name);
        const auto dims = state_.dataset(t.name).dims();
        check_shape(t.name, std::vector<std::int64_t>(dims.begin(), dims.end()), t.tensor.sizes());
      }
    }
  }
  /// Tensor `name` flattened to float64; its shape must be `shape`.
  torch::Tensor read(const std::string& name, at::IntArrayRef shape) const {
    if (torch_file_) {
      auto it = torch_.find(name);
      if (it == torch_.end()) missing(name);
      check_shape(name, it->second.sizes(), shape);
      // callers only read the result, so a float64 tensor of the file is returned as it is
      return it->second.to(torch::kFloat64).contiguous().view(-1);
    }
    if (!state_.exists(name)) missing(name);
    auto ds = state_.dataset(name);
    auto dims = ds.dims();
    const std::vector<std::int64_t> have(dims.begin(), dims.end());
    check_shape(name, have, shape);
    std::int64_t numel = 1;
    for (auto s : shape) numel *= s;
    auto t = torch::empty({numel}, torch::kFloat64);
    ds.read(h5::Type::f64, t.data_ptr());
    return t;
  }

 private:
  [[noreturn]] void missing(const std::string& name) const {
    throw InputError(path_ + ": has no tensor '" + name + "' (a checkpoint of another architecture?)");
  }
  void check_shape(const std::string& name, at::IntArrayRef have, at::IntArrayRef shape) const {
    if (have != shape)
      throw InputError(path_ + ": tensor '" + name + "' has shape " + c10::str(have) +
                       ", the final model's is " + c10::str(shape));
  }

  std::string path_;
  h5::File file_;
  h5::Location state_;
  bool torch_file_ = false;
  std::map<std::string, torch::Tensor> torch_;  // a torch.save file's tensors
  std::int64_t epoch_ = -1;
  std::int64_t recorded_ = -1;
  std::string arch_;  // a losscape checkpoint's recorded architecture
  Run run_;
};

// torch.save files of one run whose 'epoch' entries follow their names with one offset (the
// reference's: 0; a script saving epoch + 1: 1); a file off that offset was copied or renamed,
// and would put the path's points in the wrong order (losscape's own checkpoints are checked
// against their names exactly, when opened).
class EpochOffsets {
 public:
  void check(const CheckpointReader& r) {
    if (r.recorded_epoch() < 0) return;
    const std::int64_t off = r.recorded_epoch() - r.epoch();
    if (first_.empty()) {
      first_ = r.path(), first_recorded_ = r.recorded_epoch(), first_named_ = r.epoch(), offset_ = off;
    } else if (off != offset_) {
      throw FormatError(r.path() + ": records epoch " + std::to_string(r.recorded_epoch()) + " but is named for epoch " +
                        std::to_string(r.epoch()) + ", unlike " + first_ + " (epoch " + std::to_string(first_recorded_) +
                        ", named " + std::to_string(first_named_) + "): a copied or renamed checkpoint, not using it");
    }
  }

 private:
  std::string first_;
  std::int64_t first_recorded_ = 0, first_named_ = 0, offset_ = 0;
};

// The checks each checkpoint of a trajectory passes when first read, in training order (the PCA's
// and the projection's): its recorded epoch against its name (EpochOffsets), the final model's
// architecture and every tensor of its state, and the training run of the first checkpoint.
class TrajectoryChecks {
 public:
  TrajectoryChecks(const Model& final_model, std::string final_file)
      : arch_(final_model.arch), final_file_(std::move(final_file)), state_(final_model.tensors(TensorSet::states)) {}
  void check(const CheckpointReader& r) {
    offsets_.check(r);
    r.check_arch(arch_, final_file_);
    r.check_holds(state_);
    if (!first_run_) first_run_ = r.run();
    r.check_same_run(*first_run_);
  }

 private:
  EpochOffsets offsets_;
  std::string arch_, final_file_;
  TensorList state_;
  std::optional<CheckpointReader::Run> first_run_;
};

// A stretch of one tensor's flattened values.
struct Segment {
  std::size_t tensor;
  std::int64_t offset, count;
};
using Block = std::vector<Segment>;

// Partition the flattened values of `tensors` (by index) into blocks of at most `cols` values;
// a tensor larger than `cols` is split over several blocks.
std::vector<Block> make_blocks(const TensorList& theta, const std::vector<std::size_t>& active,
                               std::int64_t cols) {
  cols = std::max<std::int64_t>(cols, 1);
  std::vector<Block> blocks(1);
  std::int64_t used = 0;
  for (auto i : active) {
    const std::int64_t n = theta[i].tensor.numel();
    for (std::int64_t off = 0; off < n;) {
      if (used == cols) blocks.emplace_back(), used = 0;
      const std::int64_t take = std::min(n - off, cols - used);
      blocks.back().push_back({i, off, take});
      used += take;
      off += take;
    }
  }
  if (blocks.back().empty()) blocks.pop_back();
  return blocks;
}

std::int64_t block_size(const Block& b) {
  std::int64_t s = 0;
  for (auto& g : b) s += g.count;
  return s;
}

// The values of block `b` of one checkpoint, float64 [cols].
torch::Tensor read_block(const CheckpointReader& r, const TensorList& theta, const Block& b) {
  auto out = torch::empty({block_size(b)}, torch::kFloat64);
  std::int64_t at = 0;
  std::size_t cached = SIZE_MAX;
  torch::Tensor whole;
  for (auto& g : b) {
    if (g.tensor != cached) {
      whole = r.read(theta[g.tensor].name, theta[g.tensor].tensor.sizes());
      cached = g.tensor;
    }
    out.narrow(0, at, g.count).copy_(whole.narrow(0, g.offset, g.count));
    at += g.count;
  }
  return out;
}

// The final model (names, shapes, values of its tensors) from its checkpoint: a losscape one
// names its architecture and data set, a torch.save file is a model of `m`.
std::unique_ptr<Model> final_model(const std::string& path, const TrajectoryModel& m) {
  if (!h5::is_hdf5(path)) {
    // (what is no model at all, a log, an empty file, a folder, a FIFO, the loader names as such:
    // it was "a torch.save checkpoint does not name its architecture")
    if (m.arch.empty() && !torch_file_kind(path).empty())
      throw InputError(path + ": a torch.save checkpoint does not name its architecture; give "
                              "--arch (and --dataset for its input shape)");
    return load_model(path, m.arch, m.dataset.empty() ? std::string("fashion-mnist") : m.dataset);
  }
  Checkpoint ck = read_checkpoint(path);
  if (!m.arch.empty() && m.arch != ck.meta.arch)
    throw InputError(path + ": checkpoint holds architecture " + ck.meta.arch + ", not " + m.arch);
  // (the data set asked for, which fixes the input shape: refused where it does not fit)
  return load_model(path, ck.meta.arch, m.dataset.empty() ? ck.meta.dataset : m.dataset);
}

// The final model, the origin of the plane, holds finite values only (every tensor).
void check_origin_finite(const TensorList& theta, const std::string& file) {
  if (const std::string bad = diverged_model(theta, file); !bad.empty())
    throw InputError(bad + "; the last checkpoint is the origin of the plane");
}

}  // namespace

Directions pca_directions(const std::vector<std::string>& files, TensorSet type,
                          bool ignore_biasbn, const PcaOptions& opts) {
  const std::int64_t n = std::int64_t(files.size());
  if (n < 3)
    throw InputError("PCA of a trajectory needs at least 3 checkpoints, got " + std::to_string(n));
  torch::NoGradGuard ng;
  auto model = final_model(files.back(), opts.model);
  const TensorList theta = model->tensors(type);
  std::vector<std::size_t> active;
  for (std::size_t i = 0; i < theta.size(); ++i) {
    const auto& t = theta[i].tensor;
    if (!at::isFloatingType(t.scalar_type())) continue;  // num_batches_tracked
    if (ignore_biasbn && t.dim() <= 1) continue;
    active.push_back(i);
  }
  if (active.empty()) throw InputError(files.back() + ": no tensors take part in the PCA");
  // (as project and sweep refuse it: a direction file no later step could use; a NaN in a
  // tensor the PCA leaves out, a BatchNorm bias under biasbn, was let through)
  check_origin_finite(theta, files.back());

  // Pass 1: G = D Dᵀ with D the n×P matrix of rows d_k = θ_k − θ_n, column block by block.
  // Files are opened again per block, so that hundreds of checkpoints never hold hundreds of
  // open files; the first block reads every file, which checks it (and gives its epoch) before
  // the long part of the work. When D fits in one block (the usual case) it is kept for pass 2
  // and every file is read once (a torch.save file is parsed whole at each opening).
  std::vector<std::int64_t> epochs;
  TrajectoryChecks checks(*model, files.back());
  auto G = torch::zeros({n, n}, torch::kFloat64);
  const std::int64_t cols1 = opts.memory_bytes / (8 * (n + 1));
  const auto blocks1 = make_blocks(theta, active, cols1);
  const bool one_block = blocks1.size() == 1;  // then D stays for pass 2
  torch::Tensor D;
  for (auto& b : blocks1) {
    D = torch::empty({n, block_size(b)}, torch::kFloat64);
    for (std::int64_t k = 0; k < n; ++k) {
      CheckpointReader r(files[std::size_t(k)]);
      if (epochs.size() < std::size_t(n)) {
        epochs.push_back(r.epoch());
        checks.check(r);
      }
      D[k].copy_(read_block(r, theta, b));
      if (!torch::isfinite(D[k]).all().item<bool>())
        throw InputError(files[std::size_t(k)] + ": holds NaN or infinite weights (a diverged "
                         "checkpoint?); leave it out of the trajectory");
    }
    D -= D[n - 1].clone();
    G.addmm_(D, D.t());
  }
  if (!one_block) D = torch::Tensor();  // the last block's: not needed, not held

  // Mean-centring the rows: Gc = H G H, H = I − 11ᵀ/n. Its eigenpairs are those of X_c X_cᵀ,
  // X_c = U S Vᵀ: eigenvalues s², eigenvectors the columns of U.
  auto rm = G.mean(1, true);
  auto Gc = G - rm - rm.t() + G.mean();
  Gc = 0.5 * (Gc + Gc.t());
  auto [evals, evecs] = torch::linalg_eigh(Gc);  // ascending
  const double total = Gc.trace().item<double>();
  std::vector<double> ratio, sing, var;
  auto W = torch::zeros({2, n}, torch::kFloat64);
  for (int c = 0; c < 2; ++c) {
    const std::int64_t j = n - 1 - c;
    const double lam = std::max(evals[j].item<double>(), 0.0);
    // Below ~1e-9 of the first, a "second direction" is float32 rounding of the checkpoints.
    if (!(lam > 1e-9 * std::max(evals[n - 1].item<double>(), 0.0)) || !(lam > 0))
      throw InputError("the trajectory through the " + std::to_string(n) +
                       " checkpoints spans fewer than two dimensions; no second principal "
                       "direction");
    auto u = evecs.select(1, j).clone();
    // sklearn's svd_flip (u-based): the largest |entry| of u positive; of entries equal in
    // exact arithmetic (a symmetric path), the first, as numpy's argmax (within 1e-9: the
    // eigensolver's rounding decided which, and the plot came out mirrored)
    {
      const auto a = u.abs();
      const double top = a.max().item<double>();
      const auto first = (a >= top * (1 - 1e-9)).nonzero()[0][0].item<std::int64_t>();
      if (u[first].item<double>() < 0) u = -u;
    }
    u -= u.mean();  // in exact arithmetic already ⊥ 1
    const double s = std::sqrt(lam);
    W[c].copy_(u / s);
    sing.push_back(s);
    var.push_back(lam / double(n - 1));
    ratio.push_back(total > 0 ? lam / total : 0.0);
  }

  // Pass 2: pc_c = X_cᵀ u_c / s_c = Σ_k W[c,k] d_k, block by block (d_n = 0); with D kept
  // from pass 1, one product.
  const std::int64_t cols2 = opts.memory_bytes / (8 * 4);
  std::vector<std::vector<torch::Tensor>> parts(2, std::vector<torch::Tensor>(theta.size()));
  const auto blocks2 = one_block ? blocks1 : make_blocks(theta, active, cols2);
  for (auto& b : blocks2) {
    torch::Tensor acc;
    if (one_block) {
      acc = W.mm(D);
    } else {
      auto last = read_block(CheckpointReader(files.back()), theta, b);
      acc = torch::zeros({2, last.numel()}, torch::kFloat64);
      for (std::int64_t k = 0; k + 1 < n; ++k) {
        auto d = read_block(CheckpointReader(files[std::size_t(k)]), theta, b) - last;
        acc.addmm_(W.narrow(1, k, 1), d.view({1, -1}));
      }
    }
    std::int64_t at = 0;
    for (auto& g : b) {
      for (int c = 0; c < 2; ++c) {
        auto& p = parts[c][g.tensor];
        if (!p.defined()) p = torch::zeros({theta[g.tensor].tensor.numel()}, torch::kFloat64);
        p.narrow(0, g.offset, g.count).copy_(acc[c].narrow(0, at, g.count));
      }
      at += g.count;
    }
  }

  Directions out;
  out.type = type;
  for (auto& t : theta) out.names.push_back(t.name);
  for (int c = 0; c < 2; ++c) {
    double sq = 0;
    for (auto i : active) sq += parts[c][i].pow(2).sum().item<double>();
    const double norm = std::sqrt(sq);  // 1 up to rounding; make it exact
    TensorList dir;
    for (std::size_t i = 0; i < theta.size(); ++i) {
      const auto& t = theta[i].tensor;
      auto v = parts[c][i].defined()
                   ? (parts[c][i] / norm).to(torch::kFloat32).view(t.sizes())
                   : torch::zeros(t.sizes(), torch::kFloat32);
      dir.push_back({theta[i].name, v});
    }
    out.dirs.push_back(std::move(dir));
  }
  out.explained_variance_ratio = ratio;
  out.singular_values = sing;
  out.explained_variance = var;
  out.fingerprint = theta_fingerprint(theta);
  out.attrs = {{"method", "pca"},
               {"type", to_string(type)},
               {"ignore", ignore_biasbn ? "biasbn" : "none"},
               {"arch", model->arch},
               {"model_file", files.back()},
               {"checkpoints", files},
               {"epochs", epochs},
               {"explained_variance_ratio", ratio},
               {"sign_convention", "sklearn svd_flip, u-based"}};
  return out;
}

namespace {
// ⟨δ, δ⟩, ⟨η, η⟩, ⟨δ, η⟩ over the floating-point tensors, in float64.
std::array<double, 3> gram_of(const Directions& d) {
  std::array<double, 3> g{0, 0, 0};
  for (std::size_t i = 0; i < d.dirs[0].size(); ++i) {
    if (!at::isFloatingType(d.dirs[0][i].tensor.scalar_type())) continue;
    auto dx = d.dirs[0][i].tensor.to(torch::kFloat64).flatten();
    auto dy = d.dirs[1][i].tensor.to(torch::kFloat64).flatten();
    g[0] += dx.dot(dx).item<double>();
    g[1] += dy.dot(dy).item<double>();
    g[2] += dx.dot(dy).item<double>();
  }
  return g;
}
bool orthonormal_gram(const std::array<double, 3>& g) {
  return std::fabs(g[0] - 1) <= 1e-4 && std::fabs(g[1] - 1) <= 1e-4 && std::fabs(g[2]) <= 1e-4;
}
// What `auto` stands for, for directions of Gram `g`.
std::string auto_method(const std::array<double, 3>& g) { return orthonormal_gram(g) ? "cos" : "lstsq"; }
}  // namespace

bool orthonormal_directions(const Directions& d) {
  return d.dims() == 2 && orthonormal_gram(gram_of(d));
}

std::string resolve_projection_method(const std::string& method, const Directions& d) {
  if (method == "cos" || method == "lstsq") return method;
  if (method != "auto")
    throw InputError("unknown projection method '" + method + "' (expected auto, cos or lstsq)");
  return auto_method(gram_of(d));
}

Projection project_trajectory(const Directions& d_in, const std::vector<std::string>& files,
                              const std::string& dir_file, const TrajectoryModel& m,
                              const std::string& method_in) {
  if (files.empty()) throw InputError("no checkpoints to project");
  if (d_in.dims() != 2)
    throw InputError(dir_file + ": a trajectory projection needs two directions (xdirection and "
                                "ydirection)");
  torch::NoGradGuard ng;
  Directions d = d_in;
  auto model = final_model(files.back(), m);
  check_directions(d, *model, dir_file, /*check_fingerprint=*/false);
  if (!d.fingerprint.empty() && !made_around(d, model->tensors(d.type)))
    std::fprintf(stderr,
                 "losscape: warning: %s was not made around %s (fingerprints differ): the "
                 "coordinates are measured from that checkpoint, not from the model the "
                 "directions were made around, so on a surface swept with them the path is "
                 "offset\n",
                 dir_file.c_str(), files.back().c_str());
  const TensorList theta = model->tensors(d.type);
  struct Item {
    std::size_t i;
    torch::Tensor last, dx, dy;
  };
  std::vector<Item> items;
  double nx = 0, ny = 0, nxy = 0;
  check_origin_finite(theta, files.back());
  for (std::size_t i = 0; i < theta.size(); ++i) {
    if (!at::isFloatingType(theta[i].tensor.scalar_type())) continue;
    auto dx = d.dirs[0][i].tensor.to(torch::kFloat64).flatten();
    auto dy = d.dirs[1][i].tensor.to(torch::kFloat64).flatten();
    nx += dx.dot(dx).item<double>();
    ny += dy.dot(dy).item<double>();
    nxy += dx.dot(dy).item<double>();
    if (dx.abs().max().item<double>() == 0 && dy.abs().max().item<double>() == 0) continue;
    items.push_back({i, theta[i].tensor.detach().cpu().to(torch::kFloat64).flatten(), dx, dy});
  }
  const std::array<double, 3> gram{nx, ny, nxy};
  nx = std::sqrt(nx);
  ny = std::sqrt(ny);
  if (nx == 0 || ny == 0) throw InputError(dir_file + ": a direction is zero");
  // (auto from the Gram at hand, not gram_of's second pass over the directions)
  const std::string method =
      method_in == "auto" ? auto_method(gram) : resolve_projection_method(method_in, d);
  // lstsq: the normal equations [δ·δ δ·η; δ·η η·η] (x, y) = (d·δ, d·η)
  const double det = gram[0] * gram[1] - gram[2] * gram[2];
  if (method == "lstsq" && !(det > 1e-12 * gram[0] * gram[1]))
    throw InputError(dir_file + ": its two directions are parallel (cos = " +
                     std::to_string(gram[2] / (nx * ny)) + "): they span no plane to project onto");

  Projection p;
  p.method = method;
  p.orthonormal = orthonormal_gram(gram);
  p.files = files;
  p.explained_variance_ratio = d.explained_variance_ratio;
  p.directions_fingerprint = directions_fingerprint(d_in);
  p.model_fingerprint = fingerprint(model->parameters());
  TrajectoryChecks checks(*model, files.back());
  for (auto& f : files) {
    CheckpointReader r(f);
    checks.check(r);
    double x = 0, y = 0;
    for (auto& it : items) {
      auto dk = r.read(theta[it.i].name, theta[it.i].tensor.sizes()) - it.last;
      x += dk.dot(it.dx).item<double>();
      y += dk.dot(it.dy).item<double>();
    }
    if (!std::isfinite(x) || !std::isfinite(y))
      throw InputError(f + ": holds NaN or infinite weights (a diverged checkpoint?); leave it "
                           "out of the projection");
    if (method == "cos") {
      p.x.push_back(x / nx);
      p.y.push_back(y / ny);
    } else {
      p.x.push_back((gram[1] * x - gram[2] * y) / det);
      p.y.push_back((gram[0] * y - gram[2] * x) / det);
    }
    p.epochs.push_back(r.epoch());
  }
  return p;
}

namespace {

void write_projection_file(const std::string& path, const Projection& p, const std::string& dir_file) {
  h5::File f(path, h5::File::Mode::truncate);
  const hsize_t n = p.x.size();
  f.create_dataset("proj_xcoord", h5::Type::f64, {n}).write(h5::Type::f64, p.x.data());
  f.create_dataset("proj_ycoord", h5::Type::f64, {n}).write(h5::Type::f64, p.y.data());
  f.set_attr("format", std::string("losscape-projection"));
  h5::set_version_attrs(f);
  f.set_attr("proj_method", p.method);
  if (p.orthonormal) f.set_attr("orthonormal", std::int64_t(*p.orthonormal));
  f.set_attr("dir_file", dir_file);
  if (!p.directions_fingerprint.empty())
    f.set_attr("directions_fingerprint", p.directions_fingerprint);
  if (!p.model_fingerprint.empty()) f.set_attr("model_fingerprint", p.model_fingerprint);
  f.set_attr("epochs", p.epochs);
  f.set_attr("checkpoints", p.files);
  if (p.explained_variance_ratio) f.set_attr("explained_variance_ratio", *p.explained_variance_ratio);
  f.flush();
  f.close();  // (checked: what HDF5 still holds reaches the file before it is renamed)
}

}  // namespace

void write_projection(const std::string& path, const Projection& p, const std::string& dir_file) {
  // Whole or not at all, like every file losscape writes: a killed run leaves no half file.
  h5::check_replaceable(path, "projection file", is_projection_file);
  h5::write_whole(path, h5::own_suffix(".writing"), [&](const std::string& tmp) { write_projection_file(tmp, p, dir_file); });
}

bool is_projection_file(const std::string& path) {
  if (!h5::is_hdf5(path)) return false;
  h5::File f(path, h5::File::Mode::read);
  // (one that says it is a projection is one, damaged or not: reading it says what is wrong)
  return (f.has_attr("format") && f.attr_string("format") == "losscape-projection") ||
         f.exists("proj_xcoord") || f.exists("proj_ycoord");
}

Projection read_projection(const std::string& path) {
  h5::File f(path, h5::File::Mode::read);
  if (!f.exists("proj_xcoord") || !f.exists("proj_ycoord"))
    throw FormatError(path + ": not a projection file (proj_xcoord / proj_ycoord missing)");
  Projection p;
  // (one coordinate per checkpoint: a (3, 2) array was read as 6 checkpoints)
  for (const char* name : {"proj_xcoord", "proj_ycoord"})
    if (const auto dims = f.dataset(name).dims(); dims.size() != 1)
      throw FormatError(path + ": " + name + " has " + std::to_string(dims.size()) +
                        " dimensions, not 1 (one coordinate per checkpoint)");
  p.x = f.dataset("proj_xcoord").read_doubles();
  p.y = f.dataset("proj_ycoord").read_doubles();
  if (p.x.size() != p.y.size())
    throw FormatError(path + ": proj_xcoord and proj_ycoord differ in length");
  // (one entry per checkpoint: epochs of another length were ignored, "records no epochs")
  auto per_point = [&](const char* name, std::size_t n) {
    if (n != p.x.size())
      throw FormatError(path + ": attribute '" + name + "' has " + std::to_string(n) + " values for " +
                        std::to_string(p.x.size()) + " checkpoints");
  };
  if (f.has_attr("epochs")) {
    p.epochs = f.attr_ints("epochs");
    per_point("epochs", p.epochs.size());
  }
  if (f.has_attr("checkpoints")) {
    p.files = f.attr_strings("checkpoints");
    per_point("checkpoints", p.files.size());
  }
  if (f.has_attr("explained_variance_ratio")) {
    p.explained_variance_ratio = f.attr_doubles("explained_variance_ratio");
    check_variance_ratio(*p.explained_variance_ratio, path + ": attribute 'explained_variance_ratio'");
  }
  if (f.has_attr("dir_file")) p.dir_file = f.attr_string("dir_file");
  if (f.has_attr("directions_fingerprint"))
    p.directions_fingerprint = f.attr_string("directions_fingerprint");
  if (f.has_attr("proj_method")) p.method = f.attr_string("proj_method");
  // (plot reads the coordinates by it: those of another method would be drawn as alpha and beta)
  if (p.method != "cos" && p.method != "lstsq")
    throw FormatError(path + ": proj_method " + shown_json(p.method) +
                      " is no projection method losscape or the reference writes (cos or lstsq)");
  if (f.has_attr("model_fingerprint")) p.model_fingerprint = f.attr_string("model_fingerprint");
  if (f.has_attr("orthonormal")) p.orthonormal = f.attr_int("orthonormal") != 0;
  return p;
}

namespace {
// Round v outwards (down for a lower bound, up for an upper one) to two significant digits.
double round_outwards(double v, bool up) {
  if (v == 0) return 0;
  // (times or over a power of 10, both exact: 19 * 0.1 is 1.9000000000000001, 19 / 10 is 1.9)
  const int e = int(std::floor(std::log10(std::fabs(v)))) - 1;
  const double q = e >= 0 ? v / std::pow(10.0, e) : v * std::pow(10.0, -e);
  // (a value already on the 2-digit grid stays there despite rounding)
  const double r = up ? std::ceil(q - 1e-9) : std::floor(q + 1e-9);
  return e >= 0 ? r * std::pow(10.0, e) : r / std::pow(10.0, -e);
}
std::string axis_spec(const std::vector<double>& c, int n, double margin) {
  if (c.empty()) throw InputError("grid_covering: the projection has no points");
  for (double v : c)
    if (!std::isfinite(v)) throw InputError("grid_covering: the projection has NaN or infinite coordinates");
  const auto [lo_it, hi_it] = std::minmax_element(c.begin(), c.end());
  double lo = *lo_it, hi = *hi_it;
  const double pad = std::max(margin * (hi - lo), 1e-12);
  lo -= pad;
  hi += pad;
  if (hi - lo < 2) {  // a point or a tiny path: at least ±1 around its middle
    const double mid = 0.5 * (lo + hi);
    lo = std::min(lo, mid - 1);
    hi = std::max(hi, mid + 1);
  }
  const std::string plain =
      shortest_decimal(round_outwards(lo, false)) + ":" + shortest_decimal(round_outwards(hi, true)) + ":" + std::to_string(n);
  // θ* (0) a node of the grid: the sweep's value there is the trained model's own, which the path
  // ends at (for PCA directions of its checkpoints). The step is rounded up to two significant
  // digits until ceil(-lo / step) + ceil(hi / step) <= n - 1; the nodes left over are shared by
  // both ends; bounds that do not give exactly 0 at node a (coordinates are min + i * step in
  // floating point) are moved a node along, else the step grows. Two points cannot have 0 inside.
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  if (n < 3 && lo < 0 && hi > 0) return plain;
  // step = k * 10^e, k of two digits; m steps, m * k * 10^e, computed as an integer times or
  // over a power of 10 (correctly rounded: -3 * 0.58 was -1.7399999999999998)
  const double first = round_outwards((hi - lo) / double(n - 1), true);
  int e = int(std::floor(std::log10(first))) - 1;
  auto k = std::int64_t(std::llround(first / std::pow(10.0, e)));
  auto steps = [&](std::int64_t m) {
    const double mk = double(m * k);
    return e >= 0 ? mk * std::pow(10.0, e) : mk / std::pow(10.0, -e);
  };
  for (int tries = 0; tries < 1000; ++tries) {
    const double step = steps(1);
    const auto a0 = std::int64_t(std::ceil(-lo / step - 1e-9)), b0 = std::int64_t(std::ceil(hi / step - 1e-9));
    const std::int64_t spare = std::int64_t(n - 1) - a0 - b0;
    if (spare >= 0)
      for (std::int64_t shift : {std::int64_t(0), std::int64_t(1), std::int64_t(-1)}) {
        const std::int64_t a = a0 + spare / 2 + shift;
        if (a < a0 || a > a0 + spare) continue;
        const std::string lo_s = shortest_decimal(a == 0 ? 0.0 : -steps(a));
        const std::string hi_s = shortest_decimal(steps(std::int64_t(n - 1) - a));
        GridAxis g{std::strtod(lo_s.c_str(), nullptr), std::strtod(hi_s.c_str(), nullptr), n};
        if (g.coordinates()[std::size_t(a)] == 0.0) return lo_s + ":" + hi_s + ":" + std::to_string(n);
      }
    if (++k == 100) k = 10, ++e;  // the next step of two significant digits
  }
  return plain;
}
}  // namespace

std::pair<std::string, std::string> grid_covering(const Projection& p, int n, double margin) {
  if (n < 2) throw InputError("grid_covering: a grid needs at least 2 points per axis");
  return {axis_spec(p.x, n, margin), axis_spec(p.y, n, margin)};
}

}  // namespace losscape
