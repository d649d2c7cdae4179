// Perturbation directions δ, η: Gaussian directions normalized tensor by tensor as the reference
// defines each mode (filter, layer, weight, dfilter, dlayer, none), target directions θ' − θ*
// for linear interpolation, the direction file (reference layout plus provenance attributes),
// its validation against a model, and applying θ = θ* + αδ + βη in place.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "losscape/model.hpp"
#include "losscape/zoo.hpp"

namespace losscape {

enum class Norm { filter, layer, weight, dfilter, dlayer, none };
/// `what` names where `s` came from in the error for an unknown one (--x-norm, a config's key).
Norm parse_norm(const std::string& s, const std::string& what);
const char* to_string(Norm n);

/// How one direction is made.
struct DirectionSpec {
  Norm norm = Norm::filter;
  bool ignore_biasbn = true;  ///< ≤1-D tensors get 0 (else a copy of θ for them)
  std::string target;         ///< model file: δ = θ(target) − θ* instead of a random direction
};

/// Everything `losscape directions` needs, and what the file records.
struct DirectionsConfig {
  TensorSet type = TensorSet::weights;
  int dims = 2;
  DirectionSpec x, y;
  bool same_dir = false;
  std::uint64_t seed = 123;  ///< the reference's torch.manual_seed(123)
};
void to_json(nlohmann::json& j, const DirectionsConfig& c);

/// A set of directions for one model: `dirs[0]` = x (δ), `dirs[1]` = y (η) when 2D. Tensors are
/// float32, on the CPU unless moved.
struct Directions {
  TensorSet type = TensorSet::weights;
  std::vector<std::string> names;        ///< tensor names (empty for reference files)
  std::vector<TensorList> dirs;          ///< one or two
  nlohmann::json attrs = nlohmann::json::object();  ///< settings/provenance stored in the file
  std::string fingerprint;               ///< of the model's θ* (empty if unknown)
  std::vector<std::string> notes;        ///< warnings for whoever made them (not stored)
  std::optional<std::vector<double>> explained_variance_ratio, singular_values, explained_variance;
  int dims() const { return int(dirs.size()); }
};

/// Gaussian N(0, I) tensors shaped like `theta`, drawn in order from a CPU generator seeded with
/// `gen` (so the numbers equal PyTorch's torch.randn after torch.manual_seed on the CPU,
/// whatever the device, rank or thread count).
TensorList gaussian_like(const TensorList& theta, at::Generator& gen);
/// Normalize `d` against `theta` in place as the reference does for `norm`; ≤1-D tensors become
/// 0 (ignore_biasbn) or a copy of θ.
void normalize(TensorList& d, const TensorList& theta, Norm norm, bool ignore_biasbn);
/// θ(other) − θ*, tensor by tensor (float32).
TensorList difference(const TensorList& theta, const TensorList& other);

/// θ(file) − θ* for a target model `file`, as make_directions makes a target direction: the file
/// loaded as `model`'s architecture with `dataset`'s input shape, its tensors checked against
/// θ*'s (names, shapes, finite). With `note`, a --type weights target whose BatchNorm statistics
/// differ from θ*'s sets it to a warning (θ* + 1·direction is then not the target itself).
TensorList target_direction(const Model& model, TensorSet type, const std::string& file,
                            const std::string& dataset, std::string* note = nullptr);

/// Make the directions of `cfg` for `model` (its CPU copy is fine). Target models are loaded with
/// `dataset`'s input shape.
Directions make_directions(const Model& model, const DirectionsConfig& cfg,
                           const std::string& dataset);

/// True for an HDF5 file holding a direction set (group "xdirection"), or saying it does (its
/// format attribute: a damaged one, whose reader names what is wrong).
bool is_directions_file(const std::string& path);
void write_directions(const std::string& path, const Directions& d);
Directions read_directions(const std::string& path);
/// Throws FormatError "WHERE: ..." unless `ratio` is a PCA's explained variance ratio of its two
/// components: 2 values, each in [0, 1], their sum at most 1 (a damaged or hand-written file's
/// NaN was shown as an axis label "1st PC: nan %").
void check_variance_ratio(const std::vector<double>& ratio, const std::string& where);
/// The fingerprint of the direction tensors (fnv1a64, as a surface's identity records it): the
/// same directions give the same one, wherever their file is.
std::string directions_fingerprint(const Directions& d);
/// The fingerprint a direction file records of the θ* it was made around (the tensors of its
/// type): without the num_batches_tracked counters, which no direction or evaluation uses (a
/// checkpoint saved without them, as PyTorch before 0.4.1 did, is the same θ*).
std::string theta_fingerprint(const TensorList& theta);
/// Whether `d` was made around θ* = `theta` (files written before 2026-12-05 fingerprinted the
/// counters too: either fingerprint is accepted).
bool made_around(const Directions& d, const TensorList& theta);
/// Check `d` against `model`: count, order and shapes (and names when the file has them), and
/// infer the type of a reference file without attributes. Throws InputError naming the file.
/// With `check_fingerprint`, also refuse directions made for another θ*.
void check_directions(Directions& d, const Model& model, const std::string& path,
                      bool check_fingerprint = true);

/// θ = θ* + α·δ (+ β·η) written into `target` (the model's live tensors), all on one device.
/// Integer tensors (BatchNorm's num_batches_tracked, unused in eval mode) are left at θ*.
void apply_directions(const TensorList& target, const TensorList& base, const Directions& d,
                      double alpha, double beta);
/// The models θ* + α_k·δ (+ β_k·η) for the points (alphas[k], betas[k]), stacked for one forward
/// pass of all (zoo.hpp StackedState, evaluate_points): every floating-point tensor of `model`'s
/// state, computed as apply_directions computes it for the tensors the directions cover (`base`
/// holds θ* of those, by name) and the model's own values for the others (BatchNorm statistics
/// under `weights` directions); 4-D tensors in the model's memory layout. `betas` is ignored for
/// 1-D directions.
StackedState stack_points(const Model& model, const TensorList& base, const Directions& d,
                          const std::vector<double>& alphas, const std::vector<double>& betas);
/// stack_points into `s`, reusing its tensors (same addresses, which a recorded CUDA graph needs)
/// when it already holds as many points of this model; else replacing them.
void stack_points_into(StackedState& s, const Model& model, const TensorList& base,
                       const Directions& d, const std::vector<double>& alphas,
                       const std::vector<double>& betas);

/// Per-tensor norms of the directions, their ratio to θ*'s norms, and cos(x, y).
nlohmann::json directions_info(const Directions& d, const Model* model);

}  // namespace losscape
