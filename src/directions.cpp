#include "losscape/directions.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "losscape/checkpoint.hpp"
#include "losscape/data.hpp"
#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "losscape/torch_save.hpp"

namespace losscape {

Norm parse_norm(const std::string& s, const std::string& what) {
  if (s == "filter") return Norm::filter;
  if (s == "layer") return Norm::layer;
  if (s == "weight") return Norm::weight;
  if (s == "dfilter") return Norm::dfilter;
  if (s == "dlayer") return Norm::dlayer;
  if (s == "none") return Norm::none;
  // (the reference's --xnorm '' is no normalization; here "" is refused, not taken for none:
  // a config's "norm": "" swept unnormalized directions without a word)
  if (s.empty())
    throw InputError(what + ": an empty normalization; write none for no normalization (the reference's '')");
  throw InputError(what + ": unknown normalization '" + s +
                   "' (expected filter, layer, weight, dfilter, dlayer or none)");
}

const char* to_string(Norm n) {
  switch (n) {
    case Norm::filter: return "filter";
    case Norm::layer: return "layer";
    case Norm::weight: return "weight";
    case Norm::dfilter: return "dfilter";
    case Norm::dlayer: return "dlayer";
    case Norm::none: return "none";
  }
  return "none";
}

void to_json(nlohmann::json& j, const DirectionsConfig& c) {
  auto spec = [](const DirectionSpec& s) {
    if (!s.target.empty())  // θ(target) − θ*, used as it is: neither normalized nor ignored
      return nlohmann::json{{"norm", "none"}, {"ignore", "none"}, {"target", s.target}};
    return nlohmann::json{{"norm", to_string(s.norm)},
                          {"ignore", s.ignore_biasbn ? "biasbn" : "none"},
                          {"target", s.target}};
  };
  j = {{"type", to_string(c.type)}, {"dims", c.dims}, {"x", spec(c.x)},
       {"same_dir", c.same_dir},    {"seed", c.seed}};
  if (c.dims == 2) j["y"] = spec(c.same_dir ? c.x : c.y);  // (with --same-dir, y is x)
}

TensorList gaussian_like(const TensorList& theta, at::Generator& gen) {
  TensorList out;
  out.reserve(theta.size());
  for (auto& t : theta)
    out.push_back({t.name, at::randn(t.tensor.sizes(), gen, torch::kFloat32)});
  return out;
}

// ‖t‖ as the reference takes it (float32), or in float64 where its sum of squares alone
// overflows float32 (a finite norm above ~1.8e19, whose direction is finite: those weights were
// refused as "overflows float32"). Bit for bit the reference's wherever that one is finite.
static torch::Tensor norm_of(const torch::Tensor& t) {
  auto n = t.norm();
  if (!std::isfinite(n.item<float>()) && torch::isfinite(t).all().item<bool>())
    n = t.to(torch::kFloat64).norm().to(t.scalar_type());
  return n;
}

void normalize(TensorList& d, const TensorList& theta, Norm norm, bool ignore_biasbn) {
  torch::NoGradGuard guard;
  for (std::size_t i = 0; i < d.size(); ++i) {
    auto& dt = d[i].tensor;
    // An integer or bool buffer of a TorchScript model with a dimension (an index table, a
    // mask) is no coordinate a point moves (apply_directions leaves it at θ*; the reference
    // fails on its norm): zero, after its draw, which keeps the random stream the reference's.
    if (dt.dim() >= 1 && !at::isFloatingType(theta[i].tensor.scalar_type())) {
      dt.zero_();
      continue;
    }
    auto w = theta[i].tensor.detach().to(torch::kCPU, torch::kFloat32);
    if (dt.dim() <= 1) {
      // Biases, BatchNorm weights/biases and statistics: the reference zeroes them ("biasbn")
      // or keeps θ itself as the direction.
      if (ignore_biasbn)
        dt.zero_();
      else
        dt.copy_(w);
      continue;
    }
    switch (norm) {
      case Norm::filter:
        // ‖d_i‖ = ‖θ_i‖ for every slice along dim 0 (reference: d.mul_(w.norm()/(d.norm()+1e-10)))
        for (std::int64_t k = 0; k < dt.size(0); ++k) {
          auto dk = dt[k];
          dk.mul_(norm_of(w[k]) / (dk.norm() + 1e-10));
        }
        break;
      case Norm::layer: dt.mul_(norm_of(w) / dt.norm()); break;
      case Norm::weight: dt.mul_(w); break;
      case Norm::dfilter:
        for (std::int64_t k = 0; k < dt.size(0); ++k) {
          auto dk = dt[k];
          dk.div_(dk.norm() + 1e-10);
        }
        break;
      case Norm::dlayer: dt.div_(dt.norm()); break;
      case Norm::none: break;
    }
  }
}

// Whether a direction is zero in every tensor with a dimension (a scalar is a counter,
// num_batches_tracked, which no point moves).
static bool is_zero_direction(const TensorList& d) {
  return std::none_of(d.begin(), d.end(), [](const NamedTensor& t) {
    return t.tensor.dim() > 0 && t.tensor.ne(0).any().item<bool>();
  });
}

TensorList difference(const TensorList& theta, const TensorList& other) {
  TensorList out;
  for (std::size_t i = 0; i < theta.size(); ++i) {
    auto a = theta[i].tensor.detach().to(torch::kCPU, torch::kFloat32);
    auto b = other[i].tensor.detach().to(torch::kCPU, torch::kFloat32);
    out.push_back({theta[i].name, b - a});
  }
  return out;
}

namespace {

std::string shape_str(at::IntArrayRef s) { return c10::str(s); }

// Directions around (or towards) a model with NaN or infinite weights would hold them too: every
// point of a sweep NaN, and the file refused when read. Refused here, naming the file.
void check_finite(const TensorList& tensors, const std::string& file, const char* role) {
  if (const std::string bad = diverged_model(tensors, file); !bad.empty())
    throw InputError(bad + "; no directions " + role + " it");
}

// "CxHxW" of a checkpoint's recorded input shape, or "" (not a checkpoint, none recorded).
std::string checkpoint_inputs(const std::string& file) {
  try {
    if (!h5::is_hdf5(file)) return "";
    const auto shape = read_checkpoint(file).meta.input_shape;
    if (shape.size() != 3) return "";
    return std::to_string(shape[0]) + "x" + std::to_string(shape[1]) + "x" +
           std::to_string(shape[2]);
  } catch (const Error&) {
    return "";
  }
}

}  // namespace

TensorList target_direction(const Model& model, TensorSet type, const std::string& file,
                            const std::string& dataset, std::string* note) {
  // A TorchScript target for a zoo network (loading it with θ*'s arch would blame an --arch the
  // user never gave).
  if (model.arch != "torchscript" && torch_file_kind(file) == "torchscript")
    throw InputError(file + ": target model is a TorchScript module, the model (" + model.source +
                     ") a " + model.arch + " network: a target must be the same network in "
                     "the same format");
  std::unique_ptr<Model> other;
  try {
    other = load_model(file, model.arch == "torchscript" ? "" : model.arch, dataset);
  } catch (const InputError&) {
    // A checkpoint of θ*'s architecture made for other inputs (another data set's network) is not
    // a target for θ*: say so, rather than blame the data set that θ* itself was loaded with.
    const std::string theirs = checkpoint_inputs(file);
    const DataShape s = data_shape(dataset);
    const std::string ours = std::to_string(s.channels) + "x" + std::to_string(s.height) + "x" +
                             std::to_string(s.width);
    if (!theirs.empty() && theirs != ours)
      throw InputError(file + ": target model was made for " + theirs + " inputs, the model (" +
                       model.source + ") for " + ours + ": not a target for it");
    // A torch.save state dict records no input shape, but its first convolution's channels (its
    // loader's hint, "give --dataset cifar10", would then fail on θ* itself).
    std::int64_t channels = 0;
    try {
      const std::string kind = torch_file_kind(file);
      if (kind == "zip" || kind == "legacy")
        for (auto& [name, shape] : torch_state_dict_shapes(file))
          if (shape.size() == 4) {
            channels = shape[1];
            break;
          }
    } catch (const std::exception&) {
    }
    if (channels > 0 && channels != s.channels)
      throw InputError(file + ": target model takes " + std::to_string(channels) + "-channel images, the model (" +
                       model.source + ") " + std::to_string(s.channels) + "-channel ones (" + ours +
                       "): not a target for it");
    throw;
  }
  auto a = model.tensors(type);
  auto b = other->tensors(type);
  check_finite(b, file, "towards");
  if (a.size() != b.size())
    throw InputError(file + ": target model has " + std::to_string(b.size()) + " tensors, the model has " +
                     std::to_string(a.size()));
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].tensor.sizes() != b[i].tensor.sizes() || a[i].name != b[i].name)
      throw InputError(file + ": target tensor " + std::to_string(i) + " (" + b[i].name + " " +
                       shape_str(b[i].tensor.sizes()) + ") does not match " + a[i].name + " " +
                       shape_str(a[i].tensor.sizes()));
  if (note && type == TensorSet::weights) {
    // The interpolation θ* + α(θ(target) − θ*) of the weights alone keeps θ*'s BatchNorm
    // statistics: at α = 1 it is not the target model (whose own statistics differ).
    const auto sa = model.state(), sb = other->state();
    std::set<std::string> params;
    for (auto& t : a) params.insert(t.name);
    for (std::size_t i = 0; i < sa.size() && i < sb.size(); ++i)
      if (!params.count(sa[i].name) && at::isFloatingType(sa[i].tensor.scalar_type()) &&
          sa[i].tensor.sizes() == sb[i].tensor.sizes() &&
          !torch::equal(sa[i].tensor.cpu(), sb[i].tensor.cpu())) {
        *note = "--type weights with a target: the directions leave out the BatchNorm "
                "statistics (" + sa[i].name + " ...), which stay θ*'s, so α = 1 is not " + file +
                " itself; --type states interpolates them too, as the paper's interpolations do";
        break;
      }
  }
  auto d = difference(a, b);
  // The target is θ* itself (the same file, or a copy): a zero direction, along which every
  // point of a sweep is θ*. (Counters that differ do not count: check_directions refuses such a
  // file as zero, and apply_directions leaves integer tensors at θ*.)
  if (is_zero_direction(d))
    throw InputError(file + ": target model equals the model (" + model.source + ") in every " +
                     (type == TensorSet::weights ? "weight" : "tensor of its state") +
                     ": the direction towards it is zero");
  return d;
}

Directions make_directions(const Model& model, const DirectionsConfig& cfg,
                           const std::string& dataset) {
  if (cfg.dims != 1 && cfg.dims != 2) throw InputError("--dims must be 1 or 2");
  torch::NoGradGuard guard;
  Directions out;
  out.type = cfg.type;
  auto theta = model.tensors(cfg.type);
  check_finite(theta, model.source, "around");
  for (auto& t : theta) out.names.push_back(t.name);
  // One generator for x then y, as the reference draws them from one seeded stream.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(cfg.seed);
  auto make = [&](const DirectionSpec& s) {
    if (!s.target.empty()) {
      std::string note;
      auto d = target_direction(model, cfg.type, s.target, dataset, &note);
      if (!note.empty()) out.notes.push_back(note);
      return d;
    }
    auto d = gaussian_like(theta, gen);
    normalize(d, theta, s.norm, s.ignore_biasbn);
    // (a zero direction: a direction file the sweep refuses, a flat surface; said here)
    if (is_zero_direction(d)) {
      const std::string axis = &s == &cfg.x ? "x" : "y", what = to_string(cfg.type);
      auto any_of_dims_above = [&](std::int64_t dims) {
        return std::any_of(theta.begin(), theta.end(), [dims](const NamedTensor& t) { return t.tensor.dim() > dims; });
      };
      std::string why;
      if (!any_of_dims_above(0))
        why = "the model has no " + what + " to perturb (no tensor with a dimension)";
      else if (s.ignore_biasbn && !any_of_dims_above(1))
        why = "its " + axis + " direction would be zero: every tensor of its " + what +
              " has at most one dimension, and --" + axis + "-ignore biasbn leaves those out (--" + axis +
              "-ignore none keeps them)";
      else if (!any_of_dims_above(1))
        // (with --x-ignore none a tensor of one dimension gets θ*'s own values, as in the
        // reference, whatever the norm: --x-norm none, which this advised, changed nothing)
        why = "its " + axis + " direction would be zero: every tensor of its " + what +
              " has at most one dimension, whose direction is θ*'s own values under --" + axis +
              "-ignore none (as in the reference), and those are zero in θ*";
      else
        why = "its " + axis + " direction would be zero: the " + what + " it perturbs are zero in θ*, and --" +
              axis + "-norm " + to_string(s.norm) + " scales it to their size (--" + axis + "-norm none does not)";
      throw InputError(model.source + ": " + why + "; no directions made");
    }
    // Weights near float32's limit (a diverged model) make a scaled direction that overflows:
    // said here, not as a direction file of NaNs that the sweep then refuses.
    for (std::size_t i = 0; i < d.size(); ++i)
      if (!torch::isfinite(d[i].tensor).all().item<bool>()) {
        char peak[32];
        std::snprintf(peak, sizeof peak, "%.3g", theta[i].tensor.abs().max().item<double>());
        throw InputError(model.source + ": the " + to_string(s.norm) + "-normalized random direction of " +
                         d[i].name + " overflows float32 (its weights reach " + peak +
                         ": a diverged model?); no directions around it");
      }
    return d;
  };
  out.dirs.push_back(make(cfg.x));
  if (cfg.dims == 2) {
    if (cfg.same_dir) {
      TensorList y;
      for (auto& t : out.dirs[0]) y.push_back({t.name, t.tensor.clone()});
      out.dirs.push_back(y);
    } else {
      out.dirs.push_back(make(cfg.y));
    }
  }
  out.attrs = cfg;
  out.attrs["model_file"] = model.source;
  out.attrs["arch"] = model.arch;
  out.fingerprint = theta_fingerprint(theta);
  return out;
}

void check_variance_ratio(const std::vector<double>& ratio, const std::string& where) {
  if (ratio.size() != 2)
    throw FormatError(where + " holds " + std::to_string(ratio.size()) +
                      (ratio.size() == 1 ? " value" : " values") + ", not 2 (a PCA plane's two components)");
  constexpr double kSlack = 1e-6;  // (float32 files, and rounding of the sum)
  for (const double v : ratio)
    if (!(v >= -kSlack && v <= 1 + kSlack))
      throw FormatError(where + " holds " + c10::str(v) + ", not a ratio in [0, 1]");
  if (ratio[0] + ratio[1] > 1 + kSlack)
    throw FormatError(where + " sums to " + c10::str(ratio[0] + ratio[1]) + ", more than 1");
}

bool is_directions_file(const std::string& path) {
  if (!h5::is_hdf5(path)) return false;
  h5::File f(path, h5::File::Mode::read);
  // (one that says it is a direction file is one, damaged or not: reading it says what is wrong;
  // info took one without its xdirection for a model, "not a losscape checkpoint")
  return (f.has_attr("format") && f.attr_string("format") == "losscape-directions") ||
         f.exists("xdirection");
}

namespace {
// The direction file at `path`, written in place.
void write_directions_file(const std::string& path, const Directions& d) {
  h5::File f(path, h5::File::Mode::truncate);
  const char* groups[] = {"xdirection", "ydirection"};
  for (int k = 0; k < d.dims(); ++k) {
    auto g = f.create_group(groups[k]);
    for (std::size_t i = 0; i < d.dirs[k].size(); ++i) {
      auto c = d.dirs[k][i].tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
      std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
      g.create_dataset(std::to_string(i), h5::Type::f32, dims).write(h5::Type::f32, c.data_ptr());
    }
  }
  auto put = [&](const char* name, const std::optional<std::vector<double>>& v) {
    if (!v) return;
    f.create_dataset(name, h5::Type::f64, {hsize_t(v->size())}).write(h5::Type::f64, v->data());
  };
  put("explained_variance_ratio_", d.explained_variance_ratio);
  put("singular_values_", d.singular_values);
  put("explained_variance_", d.explained_variance);
  f.set_attr("format", std::string("losscape-directions"));
  h5::set_version_attrs(f);
  f.set_attr("type", std::string(to_string(d.type)));
  if (!d.names.empty()) f.set_attr("names", d.names);
  f.set_attr("settings", d.attrs.dump());
  if (!d.fingerprint.empty()) f.set_attr("model_fingerprint", d.fingerprint);
  f.flush();
  f.close();  // (checked: what HDF5 still holds reaches the file before it is renamed)
}
}  // namespace

void write_directions(const std::string& path, const Directions& d) {
  // Written under a temporary name and renamed when complete: a write that fails half-way (a
  // full disk, a kill) leaves no partial file that a later sweep would take for a direction
  // file of the reference's layout (which has no attributes to tell it from a partial one).
  h5::check_replaceable(path, "direction file", is_directions_file);
  h5::write_whole(path, h5::own_suffix(".writing"), [&](const std::string& tmp) { write_directions_file(tmp, d); });
}

Directions read_directions(const std::string& path) {
  h5::File f(path, h5::File::Mode::read);
  if (!f.exists("xdirection"))
    throw FormatError(path + ": " +
                      (f.has_attr("format") && f.attr_string("format") == "losscape-directions"
                           ? "a damaged direction file (its format is losscape-directions, but group "
                             "'xdirection' is missing)"
                           : "not a direction file (group 'xdirection' is missing)"));
  Directions d;
  for (const char* gname : {"xdirection", "ydirection"}) {
    if (!f.exists(gname)) break;
    auto g = f.group(gname);
    auto names = g.children();
    TensorList list;
    for (std::size_t i = 0; i < names.size(); ++i) {
      auto key = std::to_string(i);
      if (!g.exists(key))
        throw FormatError(g.where() + ": holds " + std::to_string(names.size()) +
                          " entries but dataset '" + key + "' is missing (expected \"0\".." +
                          std::to_string(names.size() - 1) + ")");
      auto ds = g.dataset(key);
      auto dims = ds.dims();
      auto t = torch::empty(std::vector<std::int64_t>(dims.begin(), dims.end()), torch::kFloat32);
      ds.read(h5::Type::f32, t.data_ptr());
      if (!torch::isfinite(t).all().item<bool>())  // every point of a sweep would be NaN
        throw FormatError(g.where() + "/" + key + ": holds NaN or infinite values");
      list.push_back({"", t});
    }
    d.dirs.push_back(std::move(list));
  }
  if (d.dirs.size() == 2 && d.dirs[0].size() != d.dirs[1].size())
    throw FormatError(path + ": xdirection has " + std::to_string(d.dirs[0].size()) +
                      " tensors but ydirection has " + std::to_string(d.dirs[1].size()));
  if (d.dirs.size() == 2)
    for (std::size_t i = 0; i < d.dirs[0].size(); ++i)
      if (d.dirs[0][i].tensor.sizes() != d.dirs[1][i].tensor.sizes())
        throw FormatError(path + ": xdirection/" + std::to_string(i) + " and ydirection/" +
                          std::to_string(i) + " differ in shape");
  if (f.has_attr("names")) {
    d.names = f.attr_strings("names");
    if (d.names.size() != d.dirs[0].size())
      throw FormatError(path + ": attribute 'names' lists " + std::to_string(d.names.size()) +
                        " tensors but xdirection holds " + std::to_string(d.dirs[0].size()));
    for (auto& list : d.dirs)
      for (std::size_t i = 0; i < list.size(); ++i) list[i].name = d.names[i];
  }
  if (f.has_attr("type")) {
    try {
      d.type = parse_tensor_set(f.attr_string("type"));
    } catch (const InputError& e) {
      throw FormatError(path + ": " + e.what());
    }
  }
  if (f.has_attr("settings")) {
    try {
      d.attrs = nlohmann::json::parse(f.attr_string("settings"));
    } catch (const nlohmann::json::exception&) {
      throw FormatError(path + ": attribute 'settings' is not JSON");
    }
  } else {
    d.attrs = {{"written_by", "reference (no losscape attributes)"}};
  }
  if (f.has_attr("model_fingerprint")) d.fingerprint = f.attr_string("model_fingerprint");
  auto get = [&](const char* name) -> std::optional<std::vector<double>> {
    if (!f.exists(name)) return std::nullopt;
    return f.dataset(name).read_doubles();
  };
  d.explained_variance_ratio = get("explained_variance_ratio_");
  if (d.explained_variance_ratio)
    check_variance_ratio(*d.explained_variance_ratio, path + ": explained_variance_ratio_");
  d.singular_values = get("singular_values_");
  d.explained_variance = get("explained_variance_");
  return d;
}

void check_directions(Directions& d, const Model& model, const std::string& path,
                      bool check_fingerprint) {
  const std::size_t n = d.dirs.at(0).size();
  if (d.names.empty()) {
    // A reference file: no attributes. Its type follows from the tensor count.
    auto np = model.parameters().size(), ns = model.state().size();
    if (n == np)
      d.type = TensorSet::weights;
    else if (n == ns)
      d.type = TensorSet::states;
    else
      throw InputError(path + " has " + std::to_string(n) + " tensors, " + model.arch + " has " +
                       std::to_string(np) + " parameters (weights) and " + std::to_string(ns) +
                       " state tensors (states): was it made for another model?");
  }
  auto theta = model.tensors(d.type);
  if (theta.size() != n)
    throw InputError(path + " has " + std::to_string(n) + " tensors, " + model.arch + " has " +
                     std::to_string(theta.size()) + " (" + to_string(d.type) +
                     "): was it made for another model?");
  for (auto& list : d.dirs)
    for (std::size_t i = 0; i < n; ++i) {
      const auto& want = theta[i];
      if (!d.names.empty() && d.names[i] != want.name)
        throw InputError(path + ": tensor " + std::to_string(i) + " is '" + d.names[i] + "', " +
                         model.arch + " has '" + want.name + "' there");
      if (list[i].tensor.sizes() != want.tensor.sizes())
        throw InputError(path + ": tensor " + std::to_string(i) + " (" + want.name + ") has shape " +
                         shape_str(list[i].tensor.sizes()) + ", " + model.arch + " expects " +
                         shape_str(want.tensor.sizes()));
      list[i].name = want.name;
    }
  // (a zero direction gives a flat surface, θ*'s loss at every point, swept to the end and
  // "complete"; made directions refuse a target equal to θ* the same way)
  for (std::size_t k = 0; k < d.dirs.size(); ++k)
    if (is_zero_direction(d.dirs[k]))
      throw InputError(path + ": its " + (k ? "y" : "x") + " direction is zero in every tensor: the surface "
                       "along it would be flat, the loss of θ* at every point");
  if (check_fingerprint && !d.fingerprint.empty()) {
    auto fp = theta_fingerprint(theta);
    if (!made_around(d, theta)) {
      // A fresh network's θ* is its seed's: the file names the seed where it recorded it
      std::string fresh_hint;
      if (model.source == "zoo")
        fresh_hint = d.attrs.contains("init_seed") && d.attrs["init_seed"].is_number_unsigned()
                         ? " (a fresh network: they were made with --init-seed " +
                               std::to_string(d.attrs["init_seed"].get<std::uint64_t>()) + ")"
                         : std::string(" (a fresh network: give the --init-seed they were made with)");
      throw InputError(path + " was made for another θ* (fingerprint " + d.fingerprint +
                       ", this model " + fp + "); remake the directions for " + model.source +
                       fresh_hint + " (sweep --allow-other-model uses them anyway)");
    }
  }
}

namespace {

// out = θ*_i + α·δ_i (+ β·η_i) for tensor i of the directions: one fused write, then one
// accumulate (apply_directions and stack_points compute a point the same way, to the bit).
void set_point(torch::Tensor out, const TensorList& base, const Directions& d, std::size_t i,
               double alpha, double beta) {
  at::add_out(out, base[i].tensor, d.dirs[0][i].tensor, alpha);
  if (d.dims() == 2 && beta != 0.0) out.add_(d.dirs[1][i].tensor, beta);
}

}  // namespace

void apply_directions(const TensorList& target, const TensorList& base, const Directions& d,
                      double alpha, double beta) {
  torch::NoGradGuard guard;
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (!at::isFloatingType(target[i].tensor.scalar_type())) continue;  // num_batches_tracked
    set_point(target[i].tensor, base, d, i, alpha, beta);
  }
}

void stack_points_into(StackedState& s, const Model& model, const TensorList& base,
                       const Directions& d, const std::vector<double>& alphas,
                       const std::vector<double>& betas) {
  torch::NoGradGuard guard;
  const bool two = d.dims() == 2;
  const int k = int(alphas.size());
  if (two && betas.size() != alphas.size())
    throw std::logic_error("stack_points: as many betas as alphas needed");
  std::map<std::string, std::size_t> covered;
  for (std::size_t i = 0; i < base.size(); ++i) covered[base[i].name] = i;
  if (s.points != k) s.tensors.clear();
  s.points = k;
  for (const auto& [name, t] : model.state()) {
    if (!at::isFloatingType(t.scalar_type())) continue;  // num_batches_tracked
    auto sizes = t.sizes().vec();
    const std::int64_t rows = sizes.empty() ? 1 : sizes[0];
    if (sizes.empty()) sizes.push_back(1);
    sizes[0] = rows * k;
    // 4-D tensors in the model's layout (channels-last when the model's are).
    const bool nhwc =
        t.dim() == 4 && t.is_contiguous(torch::MemoryFormat::ChannelsLast) && !t.is_contiguous();
    const auto fmt = nhwc ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    auto& out = s.tensors[name];
    if (!out.defined() || out.sizes() != at::IntArrayRef(sizes) || !out.is_contiguous(fmt) ||
        out.options().dtype() != t.options().dtype() || out.device() != t.device())
      out = torch::empty(sizes, t.options().memory_format(fmt));
    auto it = covered.find(name);
    for (int p = 0; p < k; ++p) {
      auto slot = out.narrow(0, p * rows, rows).view(t.sizes());
      if (it == covered.end()) {
        slot.copy_(t);
        continue;
      }
      set_point(slot, base, d, it->second, alphas[std::size_t(p)], two ? betas[std::size_t(p)] : 0.0);
    }
  }
}

StackedState stack_points(const Model& model, const TensorList& base, const Directions& d,
                          const std::vector<double>& alphas, const std::vector<double>& betas) {
  StackedState s;
  stack_points_into(s, model, base, d, alphas, betas);
  return s;
}

nlohmann::json directions_info(const Directions& d, const Model* model) {
  nlohmann::json j;
  j["kind"] = "directions";
  // A file of the reference records no type: only a model's tensor count tells (check_directions)
  j["type"] = d.names.empty() && !model ? "unknown" : to_string(d.type);
  j["dims"] = d.dims();
  j["settings"] = d.attrs;
  j["model_fingerprint"] = d.fingerprint;
  TensorList theta;
  if (model) theta = model->tensors(d.type);
  const char* axis[] = {"x", "y"};
  double dot = 0, nx2 = 0, ny2 = 0;
  for (int k = 0; k < d.dims(); ++k) {
    auto& arr = j["tensors"][axis[k]];
    arr = nlohmann::json::array();
    for (std::size_t i = 0; i < d.dirs[k].size(); ++i) {
      auto t = d.dirs[k][i].tensor.to(torch::kFloat64);
      double nrm = t.norm().item<double>();
      nlohmann::json e = {{"index", i}, {"name", d.dirs[k][i].name},
                          {"shape", t.sizes().vec()}, {"norm", nrm}};
      if (model && i < theta.size()) {
        double tn = theta[i].tensor.detach().to(torch::kCPU, torch::kFloat64).norm().item<double>();
        e["theta_norm"] = tn;
        e["ratio"] = tn > 0 ? nrm / tn : 0.0;
      }
      arr.push_back(e);
      // cos(x, y) over the tensors with a dimension, as the reference's cal_angle of
      // nplist_to_tensor: a scalar (num_batches_tracked, copied from θ* by states directions
      // with ignore none) is a counter, not a direction, and moved the cosine by 0.09.
      if (t.dim() == 0) continue;
      if (k == 0) nx2 += nrm * nrm;
      if (k == 1) {
        ny2 += nrm * nrm;
        dot += (t * d.dirs[0][i].tensor.to(torch::kFloat64)).sum().item<double>();
      }
    }
  }
  if (d.dims() == 2)
    j["cosine_xy"] = (nx2 > 0 && ny2 > 0) ? nlohmann::json(dot / std::sqrt(nx2 * ny2)) : nlohmann::json();  // (null: a zero direction)
  if (d.explained_variance_ratio) j["explained_variance_ratio"] = *d.explained_variance_ratio;
  return j;
}

std::string theta_fingerprint(const TensorList& theta) {
  TensorList kept;
  for (const auto& t : theta)
    if (!is_counter(t.name)) kept.push_back(t);
  return fingerprint(kept);
}

bool made_around(const Directions& d, const TensorList& theta) {
  return d.fingerprint == theta_fingerprint(theta) || d.fingerprint == fingerprint(theta);
}

std::string directions_fingerprint(const Directions& d) {
  TensorList all;
  for (auto& list : d.dirs)
    for (auto& t : list) all.push_back({"", t.tensor});
  return fingerprint(all);
}

}  // namespace losscape
