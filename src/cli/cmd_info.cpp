// `losscape info`: describe a model file, a zoo architecture, a data set, or a losscape file.
#include <iostream>

#include "common.hpp"
#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "losscape/inspect.hpp"
#include "losscape/trajectory.hpp"
#include "losscape/torch_save.hpp"
#include "losscape/zoo.hpp"

namespace losscape::cli {
namespace {

// The data set fixing a model's input shape: --input when given, else the one a losscape
// checkpoint records (or a 3-channel state dict implies: cifar10), else Fashion-MNIST.
std::string input_dataset(const std::string& given, const std::string& model_file) {
  if (!given.empty()) return given;
  auto r = recorded_dataset(model_file);
  return r.empty() ? "fashion-mnist" : r;
}

}  // namespace

void add_info(CLI::App& root, Registry& reg) {
  struct Opts {
    std::string file;
    ModelOptions model;
    std::string dataset;
    std::string data_dir;
    std::string model_dataset;  ///< empty: the one the file implies, else fashion-mnist
    bool json = false;
    bool values = false;
    bool list = false;
    std::string model_file;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand(
      "info", "Describe a model file, a zoo architecture (--arch), a data set (--dataset) or a "
              "losscape file");
  app->add_option("file", o->file, "Model, checkpoint, direction, surface or projection file");
  app->add_option("--arch,-a", o->model.arch, "Describe a zoo architecture (or load FILE into it)");
  app->add_option("--input", o->model_dataset,
                  "Data set fixing a zoo model's input shape (default: a checkpoint's own data "
                  "set, cifar10 for a 3-channel state dict, else fashion-mnist)");
  app->add_option("--dataset,-d", o->dataset, "Describe a data set");
  app->add_option("--data-dir", o->data_dir, "Directory of the data set's files");
  app->add_option("--model-file,-m", o->model_file,
                  "With a direction file: the model, for norms relative to θ*");
  app->add_flag("--list-archs", o->list, "List the zoo's architectures");
  auto* json = app->add_flag("--json", o->json, "Machine-readable output");
  app->add_flag("--values", o->values,
                "With --json and a surface file: also its coordinates and value arrays")
      ->needs(json);
  auto is_surface = [](const std::string& path) {
    if (!h5::is_hdf5(path)) return false;
    h5::File f(path, h5::File::Mode::read);
    // losscape's, or the Python reference's (no format attribute, coordinates and values)
    if (f.has_attr("format")) return f.attr_string("format") == "losscape-surface";
    return f.exists("xcoordinates");
  };
  auto is_state_dict = [](const std::string& path) {  // torch.save's, not a TorchScript module
    const std::string kind = torch_file_kind(path);
    return kind == "zip" || kind == "legacy";
  };
  reg.push_back({app, [o, app, is_surface, is_state_dict]() {
    if (const int rc = refuse_several_ranks("info", "each would print the same description"))
      return rc;
    // What is described, in this order of precedence; then the options that would be ignored
    // for it are refused rather than silently dropped.
    enum class Kind { list, dataset, directions, projection, surface, state_dict, model };
    Kind kind;
    const bool file = !o->file.empty(), arch = !o->model.arch.empty();
    if (file) check_not_special(o->file, "a model, direction, surface or projection file");
    // (its kind is unknown: not "no such model file"; one that cannot be read, or behind a folder
    // that cannot be searched, was taken for a model, or ended in a raw filesystem error)
    if (file)
      if (const std::string why = read_problem(o->file, "file"); !why.empty())
        throw InputError(o->file + ": " + why);
    if (o->list)
      kind = Kind::list;
    else if (!o->dataset.empty())
      kind = Kind::dataset;
    else if (file && h5::is_hdf5(o->file) && is_directions_file(o->file))
      kind = Kind::directions;
    else if (file && is_projection_file(o->file))  // (with --arch: refused below, naming it)
      kind = Kind::projection;
    else if (file && is_surface(o->file))
      kind = Kind::surface;
    else if (file && !arch && is_state_dict(o->file))
      kind = Kind::state_dict;
    else if (file || arch)
      kind = Kind::model;
    else
      return usage_error(o->model_file.empty()
                             ? "info: give a FILE, --arch NAME, --dataset NAME or --list-archs"
                             : "info: --model-file goes with a direction file (info DIRS "
                               "--model-file MODEL); to describe a model: losscape info MODEL");
    const std::string what = kind == Kind::list         ? "--list-archs"
                             : kind == Kind::dataset    ? "--dataset " + o->dataset
                             : kind == Kind::directions ? o->file + " (a direction file)"
                             : kind == Kind::projection ? o->file + " (a projection file)"
                             : kind == Kind::surface    ? o->file + " (a surface file)"
                             : kind == Kind::state_dict ? o->file + " (a state dict)"
                             : file                     ? o->file + " (a model)"
                                                        : "--arch " + o->model.arch;
    auto refuse_unless = [&](bool applies, const char* flag, const char* use) {
      if (!applies && app->count(flag) > 0)
        throw InputError(std::string(flag) + " is for " + use + ", not for " + what);
    };
    // A FILE with --list-archs or --dataset: each describes something else, and one would be
    // dropped without a word.
    if (o->list && (file || !o->dataset.empty()))
      throw InputError("info: --list-archs lists the zoo; give it without " +
                       (file ? o->file : "--dataset " + o->dataset));
    if (kind == Kind::dataset && file)
      throw InputError("info: give " + o->file + " or --dataset " + o->dataset +
                       ", not both (--dataset describes a data set; a model's data set is --input)");
    refuse_unless(kind == Kind::directions, "--model-file", "a direction file");
    const bool model = kind == Kind::model || (kind == Kind::directions && !o->model_file.empty());
    refuse_unless(model, "--input", "a model (a model file, --arch, or a direction file's --model-file)");
    refuse_unless(model, "--arch", "a model (alone, with a model file, or with a direction file's --model-file)");
    refuse_unless(kind == Kind::dataset, "--data-dir", "--dataset");
    refuse_unless(kind == Kind::surface, "--values", "a surface file");
    nlohmann::json j;
    if (kind == Kind::list) {
      j = {{"kind", "zoo"}, {"architectures", zoo_names()}};
      if (!o->json) {
        for (auto& n : zoo_names()) std::cout << n << "\n";
        return 0;
      }
    } else if (kind == Kind::dataset) {
      j = dataset_info(o->dataset, o->data_dir);
    } else if (kind == Kind::directions) {
      auto d = read_directions(o->file);
      std::unique_ptr<Model> model;
      if (!o->model_file.empty()) {
        ModelOptions mo = o->model;
        mo.file = o->model_file;
        model = load_model(mo, input_dataset(o->model_dataset, mo.file), "--input");
        check_directions(d, *model, o->file);
      }
      j = directions_info(d, model.get());
      j["file"] = o->file;
    } else if (kind == Kind::projection) {
      j = projection_info(o->file);
    } else if (kind == Kind::surface) {
      j = surface_info(o->file, o->values);
    } else if (kind == Kind::state_dict) {
      j = state_dict_info(o->file);
    } else {
      o->model.file = o->file;
      try {
        j = model_info(*load_model(o->model, input_dataset(o->model_dataset, o->model.file), "--input"));
      } catch (const NotModelFileError&) {  // (a .vtp, a JSON, a picture: not only "not a model")
        throw FormatError(o->file + ": not a file info describes (a surface, direction or projection "
                                    "file, or a model: a losscape HDF5 checkpoint, a TorchScript module "
                                    "or a torch.save file)");
      }
    }
    // (JSON holds UTF-8 only: a name of bytes that are not UTF-8, a state dict key a Python
    // str with a lone surrogate gave, shows U+FFFD there rather than ending in nlohmann's error)
    std::cout << (o->json ? j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"
                          : render_info(j));
    return 0;
  }});
}

}  // namespace losscape::cli
