// `losscape directions`: make a direction file (random, filter-normalized, or target).
#include <cstdio>
#include <iostream>

#include "common.hpp"
#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "losscape/train.hpp"
#include "losscape/trajectory.hpp"

namespace losscape::cli {

void add_direction_options(CLI::App& app, DirectionOptions& o) {
  app.add_option("--dims", o.dims, "1 or 2 directions (sweep: must agree with the grid)")
      ->capture_default_str();
  app.add_option("--type", o.type, "weights (parameters) | states (with BatchNorm buffers)")
      ->capture_default_str();
  app.add_option("--x-norm", o.x_norm, "filter | layer | weight | dfilter | dlayer | none")
      ->capture_default_str();
  app.add_option("--x-ignore", o.x_ignore, "biasbn (zero ≤1-D tensors) or none")
      ->capture_default_str();
  app.add_option("--y-norm", o.y_norm, "Normalization of y")->capture_default_str();
  app.add_option("--y-ignore", o.y_ignore, "biasbn or none for y")->capture_default_str();
  app.add_option("--x-target", o.x_target, "Model file M2: x = θ(M2) − θ* (interpolation)");
  app.add_option("--y-target", o.y_target, "Model file M3: y = θ(M3) − θ*");
  app.add_flag("--same-dir", o.same_dir, "y equals x");
  app.add_option("--seed", o.seed, "Seed of the Gaussian directions (reference: 123)")
      ->check(seed_check())
      ->capture_default_str();
}

namespace {
// The direction flags but --dims, each with the field of DirectionsConfig it sets.
using SetField = void (*)(DirectionsConfig& to, const DirectionsConfig& from);
const std::pair<const char*, SetField> kDirectionFlags[] = {
    {"--type", [](DirectionsConfig& t, const DirectionsConfig& f) { t.type = f.type; }},
    {"--x-norm", [](DirectionsConfig& t, const DirectionsConfig& f) { t.x.norm = f.x.norm; }},
    {"--x-ignore",
     [](DirectionsConfig& t, const DirectionsConfig& f) { t.x.ignore_biasbn = f.x.ignore_biasbn; }},
    {"--y-norm", [](DirectionsConfig& t, const DirectionsConfig& f) { t.y.norm = f.y.norm; }},
    {"--y-ignore",
     [](DirectionsConfig& t, const DirectionsConfig& f) { t.y.ignore_biasbn = f.y.ignore_biasbn; }},
    {"--x-target", [](DirectionsConfig& t, const DirectionsConfig& f) { t.x.target = f.x.target; }},
    {"--y-target", [](DirectionsConfig& t, const DirectionsConfig& f) { t.y.target = f.y.target; }},
    {"--same-dir", [](DirectionsConfig& t, const DirectionsConfig& f) { t.same_dir = f.same_dir; }},
    {"--seed", [](DirectionsConfig& t, const DirectionsConfig& f) { t.seed = f.seed; }},
};
}  // namespace

std::vector<std::string> given_direction_options(const CLI::App& app) {
  std::vector<std::string> out;
  for (auto& [flag, set] : kDirectionFlags)
    if (app.count(flag) > 0) out.emplace_back(flag);
  return out;
}

void override_given_direction_options(const CLI::App& app, const DirectionOptions& o,
                                      DirectionsConfig& c) {
  const DirectionsConfig given = to_config(o);
  for (auto& [flag, set] : kDirectionFlags)
    if (app.count(flag) > 0) set(c, given);
}

namespace {
// No direction is drawn at random: every one is a target (x alone in 1D, or y too, or y = x).
bool all_targets(const DirectionsConfig& c, int dims) {
  return !c.x.target.empty() && (dims == 1 || c.same_dir || !c.y.target.empty());
}
constexpr const char* kNoRandomDirection =
    "no direction is drawn at random (each is θ(target) − θ*)";
}  // namespace

void check_no_ignored_direction_options(const CLI::App& app, const DirectionsConfig& c, int dims) {
  for (const auto& flag : given_direction_options(app)) {
    if (flag == "--seed" && all_targets(c, dims))
      throw InputError(std::string("--seed does not apply: ") + kNoRandomDirection);
    const bool y = flag.rfind("--y-", 0) == 0, x = flag.rfind("--x-", 0) == 0;
    if (y && c.same_dir)
      throw InputError(flag + " does not apply with --same-dir (y is a copy of x)");
    const DirectionSpec& s = y ? c.y : c.x;
    if ((x || y) && flag.find("-target") == std::string::npos && !s.target.empty())
      throw InputError(flag + " does not apply to a target direction (" + (y ? "y" : "x") +
                       " = θ(" + s.target + ") − θ*, used as it is)");
  }
}

void check_config_direction_values(const DirectionsConfig& c, int dims, const std::string& file) {
  // The values a --config file gives that would be ignored, as their flags are refused. A stored
  // configuration (the file's config attribute) passes: it records a target's norm as "none", a
  // copied y as x, no y in 1D and the default seed where none applied.
  const DirectionSpec plain;
  auto same = [](const DirectionSpec& a, const DirectionSpec& b) {
    return a.norm == b.norm && a.ignore_biasbn == b.ignore_biasbn && a.target == b.target;
  };
  const std::string in = file + ": dir.";
  if (dims == 1 && !same(c.y, plain))
    throw InputError(in + "y is about the second direction: a 2D grid needs \"y\" (or --y)");
  if (dims == 1 && c.same_dir)  // (as the flag --same-dir is)
    throw InputError(in + "same_dir is about the second direction: a 2D grid needs \"y\" (or --y)");
  if (dims == 2 && c.same_dir && !same(c.y, plain) && !same(c.y, c.x))
    throw InputError(in + "y does not apply with same_dir (y is a copy of x)");
  for (const auto* axis : {"x", "y"}) {
    const DirectionSpec& s = axis[0] == 'x' ? c.x : c.y;
    if (!s.target.empty() && s.norm != Norm::none && s.norm != plain.norm)
      throw InputError(in + axis + ".norm \"" + to_string(s.norm) +
                       "\" does not apply to a target direction (θ(" + s.target +
                       ") − θ*, used as it is)");
  }
  if (all_targets(c, dims) && c.seed != DirectionsConfig{}.seed)
    throw InputError(in + "seed does not apply: " + kNoRandomDirection);
}

DirectionsConfig to_config(const DirectionOptions& o) {
  DirectionsConfig c;
  c.type = parse_tensor_set(o.type);
  c.dims = o.dims;
  auto ignore = [](const std::string& s, const char* opt) {
    if (s == "biasbn") return true;
    if (s == "none") return false;  // ("" too is refused: an empty shell variable, not a choice)
    throw InputError(std::string(opt) + " '" + s + "': expected biasbn or none");
  };
  c.x = {parse_norm(o.x_norm, "--x-norm"), ignore(o.x_ignore, "--x-ignore"), o.x_target};
  c.y = {parse_norm(o.y_norm, "--y-norm"), ignore(o.y_ignore, "--y-ignore"), o.y_target};
  c.same_dir = o.same_dir;
  c.seed = o.seed;
  if (!o.y_target.empty() && c.dims == 1) c.dims = 2;
  return c;
}

void add_directions(CLI::App& root, Registry& reg) {
  struct Opts {
    ModelOptions model;
    std::string dataset = "fashion-mnist";
    DirectionOptions dir;
    std::string out;
    bool quiet = false;
    bool pca = false;
    std::vector<std::string> checkpoints;
    std::string ignore = "biasbn";
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("directions", "Make perturbation directions for a model");
  add_model_options(*app, o->model);
  app->add_option("--dataset,-d", o->dataset,
                  std::string("Data set fixing the model's input shape (") + kDatasetDefault + ")");
  add_direction_options(*app, o->dir);
  app->add_option("--out,-o", o->out, "Direction file to write (HDF5)")->required();
  app->add_flag("--pca", o->pca,
                "PCA directions of a training trajectory (needs --checkpoints; see docs/training.md)");
  app->add_option("--checkpoints,-c", o->checkpoints,
                  "Run folder of model_<epoch>.h5 checkpoints (losscape train), or of "
                  "model_<epoch>.t7 torch.save files (the reference's; name --arch), or "
                  "checkpoint files in training order (the last is θ*)");
  app->add_option("--ignore", o->ignore, "With --pca: biasbn (leave out ≤1-D tensors) or none")
      ->capture_default_str();
  app->add_flag("--quiet,-q", o->quiet, "Print nothing");
  reg.push_back({app, [o, app]() {
    if (const int rc = refuse_several_ranks("directions")) return rc;
    // (a usage error first, as without --out: a missing model is one whatever --out names)
    if (!o->pca && o->model.file.empty() && o->model.arch.empty())
      throw UsageError("no model: give --model-file FILE or --arch NAME");
    if (o->pca && o->checkpoints.empty())  // (its model: exit 2 as well)
      throw UsageError("--pca needs --checkpoints RUN_FOLDER (or checkpoint files)");
    // (before the work: a PCA of a long run takes minutes)
    h5::check_replaceable(o->out, "direction file", is_directions_file);
    default_to_recorded_dataset(*app, o->model.file, o->dataset);
    if (o->pca) {
      // The trajectory gives θ* (its last checkpoint) and both directions: the options of
      // random or target directions would be ignored.
      for (const auto& flag : given_direction_options(*app))
        if (flag != "--type")
          throw InputError(flag + " does not apply to --pca (the directions are the trajectory's "
                           "two principal components)");
      for (const char* flag : {"--dims", "--model-file", "--init-seed"})
        if (app->count(flag) > 0)
          throw InputError(std::string(flag) + " does not apply to --pca (" +
                           (std::string(flag) == "--dims"
                                ? "it always makes 2 directions)"
                                : "θ* is the trajectory's last checkpoint)"));
      if (o->ignore != "biasbn" && o->ignore != "none")
        throw InputError("--ignore '" + o->ignore + "': expected biasbn or none");
      auto files = trajectory_files(o->checkpoints);
      if (!files.empty()) default_to_recorded_dataset(*app, files.front(), o->dataset);
      PcaOptions po;
      po.model = {o->model.arch, o->dataset};
      auto d = pca_directions(files, parse_tensor_set(o->dir.type), o->ignore == "biasbn", po);
      write_directions(o->out, d);
      if (!o->quiet) {
        const auto& r = *d.explained_variance_ratio;
        std::printf("wrote %s: PCA of %zu checkpoints of %s (%s), explained variance ratio "
                    "%.4f, %.4f\n",
                    o->out.c_str(), files.size(),
                    o->checkpoints.size() == 1 ? o->checkpoints[0].c_str() : "the files given",
                    to_string(d.type),
                    r.at(0), r.at(1));
      }
      return 0;
    }
    if (!o->checkpoints.empty())
      throw InputError("--checkpoints is for --pca (directions of a training trajectory)");
    if (app->count("--ignore") > 0)
      throw InputError("--ignore is for --pca; random directions take --x-ignore/--y-ignore");
    if (app->count("--dims") > 0 && o->dir.dims == 1 && !o->dir.y_target.empty())
      throw InputError("--y-target is about the second direction: --dims 1 makes only x");
    auto cfg = to_config(o->dir);
    if (cfg.dims == 1)
      for (const auto& flag : given_direction_options(*app))
        if (flag == "--y-norm" || flag == "--y-ignore" || flag == "--same-dir")
          throw InputError(flag + " is about the second direction: --dims 1 makes only x");
    check_no_ignored_direction_options(*app, cfg, cfg.dims);
    auto model = load_model(o->model, o->dataset);
    auto d = make_directions(*model, cfg, o->dataset);
    // A fresh network is "zoo" and its --init-seed: what makes θ* again (the check's hint)
    if (o->model.file.empty()) d.attrs["init_seed"] = o->model.seed;
    for (const auto& n : d.notes) std::fprintf(stderr, "losscape: warning: %s\n", n.c_str());
    write_directions(o->out, d);
    if (!o->quiet) {
      auto info = directions_info(d, model.get());
      std::printf("wrote %s: %d direction(s), %zu tensors (%s), x: %s", o->out.c_str(), d.dims(),
                  d.dirs[0].size(), to_string(d.type),
                  cfg.x.target.empty() ? to_string(cfg.x.norm) : ("target " + cfg.x.target).c_str());
      char cosine[32] = "n/a";  // (null: a zero direction)
      if (info["cosine_xy"].is_number())
        std::snprintf(cosine, sizeof cosine, "%.3g", info["cosine_xy"].get<double>());
      if (d.dims() == 2)
        std::printf(", y: %s, cos(x, y) = %s",
                    cfg.same_dir ? "same as x"
                    : cfg.y.target.empty() ? to_string(cfg.y.norm)
                                           : ("target " + cfg.y.target).c_str(),
                    cosine);
      std::printf("\n");
    }
    return 0;
  }});
}

}  // namespace losscape::cli
