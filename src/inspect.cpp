#include "losscape/inspect.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <set>
#include <sstream>
#include <tuple>

#include "losscape/checkpoint.hpp"
#include "losscape/error.hpp"
#include "losscape/grid.hpp"
#include "losscape/h5.hpp"
#include "losscape/json_config.hpp"
#include "losscape/lock.hpp"
#include "losscape/plot.hpp"
#include "losscape/surface.hpp"
#include "losscape/terminal.hpp"
#include "losscape/torch_save.hpp"
#include "losscape/trajectory.hpp"

namespace losscape {

nlohmann::json model_info(const Model& m) {
  nlohmann::json j;
  j["kind"] = "model";
  j["arch"] = m.arch;
  j["source"] = m.source;
  j["format"] = m.format;
  j["input_shape"] = m.input_shape;
  j["num_classes"] = m.num_classes;
  j["parameters"] = m.parameter_count();
  std::set<std::string> params;
  std::int64_t frozen = 0;  // (a TorchScript module's parameters saved with requires_grad off)
  for (auto& p : m.parameters()) {
    params.insert(p.name);
    if (!p.tensor.requires_grad()) frozen += p.tensor.numel();
  }
  j["frozen_parameters"] = frozen;
  j["tensors"] = nlohmann::json::array();
  for (auto& t : m.state())
    j["tensors"].push_back({{"name", t.name},
                            {"shape", t.tensor.sizes().vec()},
                            {"kind", params.count(t.name) ? "parameter" : "buffer"}});
  j["fingerprint"] = fingerprint(m.parameters());
  // A checkpoint of `losscape train`: its epoch, the metrics of that epoch and the recipe.
  if (m.format == "losscape-checkpoint") {
    const CheckpointMeta meta = read_checkpoint_meta(m.source);
    if (meta.epoch >= 0)
      j["training"] = {{"epoch", meta.epoch},           {"train_loss", meta.train_loss},
                       {"train_acc", meta.train_acc},   {"test_loss", meta.test_loss},
                       {"test_acc", meta.test_acc},     {"config", meta.config}};
  }
  return j;
}

namespace {
// PyTorch's name of a dtype (torch.float32 ...), as a state dict's author knows it.
std::string dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "float32";
    case torch::kFloat64: return "float64";
    case torch::kFloat16: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kInt64: return "int64";
    case torch::kInt32: return "int32";
    case torch::kInt16: return "int16";
    case torch::kInt8: return "int8";
    case torch::kUInt8: return "uint8";
    case torch::kBool: return "bool";
    default: return c10::toString(t);
  }
}
}  // namespace

nlohmann::json state_dict_info(const std::string& path) {
  auto values = read_torch_state_dict(path);
  nlohmann::json j;
  j["kind"] = "state_dict";
  j["file"] = path;
  j["format"] = torch_file_kind(path);
  std::int64_t numel = 0;
  j["tensors"] = nlohmann::json::array();
  for (auto& v : values) {
    numel += v.tensor.numel();
    j["tensors"].push_back({{"name", v.name},
                            {"shape", v.tensor.sizes().vec()},
                            {"dtype", dtype_name(v.tensor.scalar_type())}});
  }
  j["values"] = numel;
  j["matches"] = nlohmann::json::array();
  for (auto& [arch, dataset] : matching_zoo_archs(values))
    j["matches"].push_back({{"arch", arch}, {"dataset", dataset}});
  return j;
}

nlohmann::json dataset_info(const std::string& dataset, const std::string& data_dir) {
  nlohmann::json j;
  j["kind"] = "dataset";
  j["dataset"] = dataset;
  j["data_dir"] = data_dir.empty() ? default_data_dir(dataset) : data_dir;
  auto shape = data_shape(dataset);
  j["image_shape"] = {shape.channels, shape.height, shape.width};
  j["num_classes"] = shape.classes;
  // A split none of whose files is there (only CIFAR-10's test_batch.bin, to evaluate on the test
  // set) is said to be missing; one partly there, or damaged, is an error, as is neither split.
  std::string first_missing;
  for (const char* split : {"train", "test"}) {
    DataSpec spec;
    spec.dataset = dataset;
    spec.data_dir = data_dir;
    spec.split = split;
    try {
      auto d = load_split(spec);
      auto hist = torch::bincount(d.labels, {}, shape.classes);
      std::vector<std::int64_t> h(hist.data_ptr<std::int64_t>(), hist.data_ptr<std::int64_t>() + hist.numel());
      j["splits"][split] = {{"samples", d.size()},
                            {"files", split_files(dataset, j["data_dir"], split)},
                            {"class_histogram", h},
                            {"mean", d.images.mean().item<double>()},
                            {"std", d.images.std().item<double>()}};
    } catch (const InputError& e) {
      if (!split_absent(dataset, j["data_dir"], split)) throw;
      j["splits"][split] = {{"missing", one_line(e)}};
      if (first_missing.empty()) first_missing = e.what();
    }
  }
  if (j["splits"]["train"].contains("missing") && j["splits"]["test"].contains("missing"))
    throw InputError(first_missing);
  return j;
}

namespace {
std::string shape_text(const nlohmann::json& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i].get<long long>());
  return out + "]";
}
}  // namespace

namespace {

// Value arrays as rows [y][x], or [x] for a 1D surface (ny = 0), as the files hold them (JSON
// writes NaN as null).
template <class T>
nlohmann::json value_rows(const std::vector<T>& v, std::size_t nx, std::size_t ny) {
  if (ny == 0) return std::vector<T>(v.begin(), v.begin() + std::ptrdiff_t(nx));
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t r = 0; r < ny; ++r)
    rows.push_back(std::vector<T>(v.begin() + std::ptrdiff_t(r * nx),
                                  v.begin() + std::ptrdiff_t((r + 1) * nx)));
  return rows;
}

// "MIN:MAX:NUM" when the coordinates are numpy.linspace(MIN, MAX, NUM) (to 1e-9 of the span),
// else a description of the irregular axis.
std::string axis_text(const std::vector<double>& c) {
  GridAxis a;
  a.min = c.front();
  a.max = c.back();
  a.num = std::int64_t(c.size());
  auto lin = a.coordinates();
  const double tol = 1e-9 * std::max(1.0, std::fabs(a.max - a.min));
  for (std::size_t i = 0; i < c.size(); ++i)
    if (!(std::fabs(lin[i] - c[i]) <= tol)) {
      char b[120];
      std::snprintf(b, sizeof b, "irregular: %zu coordinates from %.10g to %.10g", c.size(), a.min, a.max);
      return b;
    }
  // (another tool's decreasing axis: said so, since --x takes MIN < MAX)
  if (a.num > 1 && a.max < a.min) {
    GridAxis up = a;
    std::swap(up.min, up.max);
    return a.str() + " (decreasing: the points of " + up.str() + " in reverse order)";
  }
  return a.str();
}

// A surface in the Python reference's layout (no format attribute, no done mask, no run log):
// what it holds, and which points are computed (every stored value not −1:
// reference_pending_marks).
nlohmann::json reference_surface_info(const std::string& path, bool values) {
  auto s = read_surface_view(path);
  nlohmann::json j;
  j["kind"] = "surface";
  j["origin"] = "reference";
  j["file"] = path;
  j["dir_file"] = s.dir_file;
  j["grid"] = {{"x", axis_text(s.x)}, {"y", s.two_d() ? axis_text(s.y) : std::string()}};
  j["grid_points"] = s.size();
  std::vector<bool> all(s.size(), true);
  j["datasets"] = nlohmann::json::array();
  for (auto& [name, v] : s.data) {
    std::int64_t n = 0;
    const auto& marks = reference_pending_marks(s, name);
    for (std::size_t i = 0; i < v.size(); ++i) {
      const bool computed = marks[i] != kNotComputed;
      n += computed ? 1 : 0;
      all[i] = all[i] && computed;
    }
    j["datasets"].push_back({{"name", name}, {"computed", n}});
  }
  const auto done = std::int64_t(std::count(all.begin(), all.end(), true));
  j["points_total"] = s.size();
  j["points_done"] = s.data.empty() ? 0 : done;
  j["complete"] = !s.data.empty() && done == std::int64_t(s.size());
  if (values) {
    j["x"] = s.x;
    j["y"] = s.y;
    for (auto& [name, v] : s.data) j["values"][name] = value_rows(v, s.nx(), s.y.size());
    if (s.data.empty()) all.assign(all.size(), false);
    j["done"] = value_rows(all, s.nx(), s.y.size());
  }
  return j;
}

}  // namespace

nlohmann::json surface_info(const std::string& path, bool values) {
  {
    h5::File f(path, h5::File::Mode::read);
    if (!f.has_attr("format")) return reference_surface_info(path, values);
  }
  auto s = read_surface(path);
  nlohmann::json j;
  j["kind"] = "surface";
  j["file"] = path;
  j["identity"] = s.identity;
  const Grid g = parse_grid(s.identity.at("x").get<std::string>(), s.identity.value("y", std::string()));
  // A part file ("k/N") holds the points of its slice of the coarse-to-fine order (sweep.cpp).
  const std::string part = s.identity.value("part", std::string());
  std::int64_t k = 0, n = 1;
  if (!part.empty()) std::tie(k, n) = parse_part_text(part);  // (read_surface checked it)
  std::int64_t total = 0, done = 0;
  for (std::int64_t i : part_points(g, k, n)) {
    ++total;
    done += s.done.at(std::size_t(i)) ? 1 : 0;
  }
  j["part"] = part;
  j["points_total"] = total;
  j["points_done"] = done;
  j["complete"] = done == total;
  j["grid_points"] = g.size();
  {  // what was swept, as the file records it (its values are read above)
    const auto view = read_surface_view(path, false);
    j["arch"] = view.arch;
    j["model_file"] = view.model_file;
    j["dir_file"] = view.dir_file;
  }
  // Each value over the computed points: lowest and highest finite value (where), the value at
  // θ* (α = β = 0, when on the grid) and how many are NaN or infinite (a diverged model).
  {
    const std::size_t ax = preview_anchor(s.x), ay = s.y.empty() ? 0 : preview_anchor(s.y);
    const bool origin = at_origin(s.x, ax) && (s.y.empty() || at_origin(s.y, ay));
    const std::size_t at0 = ay * s.x.size() + ax;
    auto where = [&](std::size_t i) {
      return s.y.empty() ? nlohmann::json::array({s.x[i]})
                         : nlohmann::json::array({s.x[i % s.x.size()], s.y[i / s.x.size()]});
    };
    for (std::size_t v = 0; v < s.names.size(); ++v) {
      const auto& vals = s.values[v];
      // Where a split's loss is NaN or infinite its logits were, and their argmax (the stored
      // accuracy) means nothing: counted with the non-finite values, as plot draws a gap there.
      const std::vector<double>* loss = nullptr;
      const std::string& name = s.names[v];
      if (is_accuracy_name(name))
        for (std::size_t w = 0; w < s.names.size(); ++w)
          if (s.names[w] == name.substr(0, name.size() - 4) + "_loss") loss = &s.values[w];
      std::ptrdiff_t lo = -1, hi = -1;
      std::int64_t bad = 0;
      for (std::size_t i = 0; i < vals.size(); ++i) {
        if (!s.done.at(i)) continue;
        if (!std::isfinite(vals[i]) || (loss && !std::isfinite((*loss)[i]))) {
          ++bad;
          continue;
        }
        if (lo < 0 || vals[i] < vals[std::size_t(lo)]) lo = std::ptrdiff_t(i);
        if (hi < 0 || vals[i] > vals[std::size_t(hi)]) hi = std::ptrdiff_t(i);
      }
      nlohmann::json e = {{"non_finite", bad}};
      if (lo >= 0)
        e.update({{"min", vals[std::size_t(lo)]}, {"min_at", where(std::size_t(lo))},
                  {"max", vals[std::size_t(hi)]}, {"max_at", where(std::size_t(hi))}});
      if (origin && s.done.at(at0))  // (NaN is written as null)
        e["at_origin"] = loss && !std::isfinite((*loss)[at0]) ? std::nan("") : vals[at0];
      j["summary"][s.names[v]] = e;
    }
  }
  h5::File f(path, h5::File::Mode::read);
  auto d = f.dataset("run_log");
  std::vector<char> buf(d.size() + 1, '\0');
  d.read(h5::Type::u8, buf.data());
  const std::string log_text(buf.data());  // (empty: no run recorded yet)
  nlohmann::json log = log_text.empty() ? nlohmann::json::array() : nlohmann::json::parse(log_text, nullptr, false);
  j["runs"] = nlohmann::json::array();
  if (!log.is_array()) {  // (said, as merge says it: `runs: []` alone read as "never run")
    j["run_log_damaged"] = log.is_discarded() ? "not JSON" : "another JSON value";
    log = nlohmann::json::array();
  }
  auto done_before = [](const nlohmann::json& e) -> std::int64_t {
    return e.is_object() && e.contains("points_done_before") &&
                   e["points_done_before"].is_number_integer()
               ? e["points_done_before"].get<std::int64_t>()
               : -1;
  };
  for (std::size_t i = 0; i < log.size(); ++i) try {
    const auto& r = log[i];
    if (!r.is_object()) continue;
    nlohmann::json run = r;
    run.erase("config");  // the file's configuration attribute holds the latest
    const bool merge = r.contains("merge");  // a merge's entry, kept as written
    // (a merge records one time, when it wrote the file: its start and its end; "" is a killed
    // run's unknown end)
    run.update({{"start", r.value("start", r.value("time", std::string()))},
                {"end", r.value("end", merge ? r.value("time", std::string()) : std::string())},
                {"status", r.value("status", std::string())}});
    if (!merge)
      run.update({{"ranks", r.value("ranks", 0)},
                  {"points_computed", r.value("points_computed", std::int64_t(0))}});
    // A run's entry is written at its start ("running") and at its end. A run still "running"
    // was killed, unless it is the last and its lock is held (it runs now). What it computed is
    // what the done mask gained until the next run's start (or until now).
    if (run["status"] == "running" && !merge) {
      const bool last = i + 1 == log.size();
      const std::int64_t from = done_before(r);
      const std::int64_t to = last ? done : done_before(log[i + 1]);
      // Only within one file: the inputs of a merged file name theirs (the last run of each
      // input, which has no next run there, has the count the merge recorded).
      const auto file_of = [](const nlohmann::json& e) {
        return e.is_object() && e.contains("file") ? e["file"].dump() : std::string();
      };
      const bool same_file = last ? !r.contains("file")
                                  : file_of(r) == file_of(log[i + 1]) && !log[i + 1].contains("merge");
      if (from >= 0 && to >= 0 && same_file)
        run["points_computed"] = std::max<std::int64_t>(0, to - from);
      run["end"] = "";  // (the entry's end is its start until the run ends: unknown)
      if (r.value("running_when_merged", false)) {  // (a merged file's copy: not killed)
        run["note"] = "still running in " + r.value("file", std::string("its part")) +
                      " when the merge was made: merge again when it has ended";
      } else if (!last || !FileLock::held(path)) {
        run["status"] = "killed";
        run["note"] = "no final entry: SIGKILL or a node failure; its points are kept";
      }
    }
    j["runs"].push_back(run);
  } catch (const nlohmann::json::exception&) {
    // an entry with keys of other types (damaged, or not losscape's): shown as it is
    j["runs"].push_back({{"status", "unreadable"}, {"entry", log[i]}});
  }
  if (values) {
    j["x"] = s.x;
    j["y"] = s.y;
    for (std::size_t v = 0; v < s.names.size(); ++v)
      j["values"][s.names[v]] = value_rows(s.values[v], s.x.size(), s.y.size());
    j["done"] = value_rows(std::vector<bool>(s.done.begin(), s.done.end()), s.x.size(), s.y.size());
  }
  return j;
}

nlohmann::json projection_info(const std::string& path) {
  auto p = read_projection(path);
  nlohmann::json j;
  j["kind"] = "projection";
  j["file"] = path;
  j["dir_file"] = p.dir_file;
  if (!p.directions_fingerprint.empty()) j["directions_fingerprint"] = p.directions_fingerprint;
  j["method"] = p.method;
  j["points"] = nlohmann::json::array();
  for (std::size_t i = 0; i < p.x.size(); ++i)
    j["points"].push_back({{"x", p.x[i]},
                           {"y", p.y[i]},
                           {"epoch", i < p.epochs.size() && p.epochs[i] >= 0 ? nlohmann::json(p.epochs[i]) : nullptr},
                           {"checkpoint", i < p.files.size() ? p.files[i] : ""}});
  if (p.explained_variance_ratio) j["explained_variance_ratio"] = *p.explained_variance_ratio;
  bool finite = !p.x.empty();  // (a diverged checkpoint projects to NaN: no grid covers it)
  for (std::size_t i = 0; i < p.x.size(); ++i)
    finite = finite && std::isfinite(p.x[i]) && i < p.y.size() && std::isfinite(p.y[i]);
  if (finite) {
    auto [gx, gy] = grid_covering(p, 21);
    j["covering_grid"] = {{"x", gx}, {"y", gy}};
  }
  return j;
}

namespace {
// A number of a checkpoint's metrics (null in JSON where it was NaN).
std::string metric(const nlohmann::json& v, const char* format) {
  if (!v.is_number()) return "nan";
  char s[64];
  std::snprintf(s, sizeof s, format, v.get<double>());
  return s;
}

// The lines of a checkpoint's training record: epoch and metrics, the recipe's main settings.
std::string training_text(const nlohmann::json& t) {
  const auto& c = t["config"];
  const std::int64_t epoch = t["epoch"];
  std::ostringstream o;
  o << "epoch        " << epoch;
  if (c.contains("epochs")) o << " of " << c["epochs"];
  o << (epoch == 0 ? " (the initialization, before any step)" : "") << "\n"
    << "metrics      train loss " << metric(t["train_loss"], "%.4f") << " acc "
    << metric(t["train_acc"], "%.2f") << " %, test loss " << metric(t["test_loss"], "%.4f") << " acc "
    << metric(t["test_acc"], "%.2f") << " % (evaluated when it was saved)\n";
  std::vector<std::string> recipe;
  const auto item = [&](const char* key, const std::string& label) {
    if (c.contains(key)) recipe.push_back(label + " " + (c[key].is_string() ? c[key].get<std::string>() : c[key].dump()));
  };
  item("batch_size", "batch");
  item("weight_decay", "weight decay");
  item("optimizer", "optimizer");
  item("lr", "lr");
  item("seed", "seed");
  if (c.contains("samples") && c["samples"].is_number() && c["samples"].get<std::int64_t>() > 0)
    item("samples", "samples");
  if (c.contains("augment") && c["augment"] == false) recipe.push_back("no augmentation");
  if (!recipe.empty()) {
    o << "recipe       ";
    for (std::size_t i = 0; i < recipe.size(); ++i) o << (i ? ", " : "") << recipe[i];
    o << "\n";
  }
  return o.str();
}

// `j` with every string and object key (a tensor name, a file name, a value's name, read from a
// file) as printable_line makes it: a state dict key "a\nb" or bytes that are not UTF-8 neither
// split a line of the text nor reach the terminal raw. (Keys too: a value's summary is keyed by
// its name, which is looked up as the identity lists it.)
// Values nested deeper than kShownDepth (only a damaged or crafted file has them: 30,000 levels
// of a config attribute overflowed the stack here) are shown as a note, not followed.
constexpr int kShownDepth = 64;
nlohmann::json printable_strings(const nlohmann::json& j, int depth = 0) {
  if (j.is_string()) return printable_line(j.get<std::string>());
  if ((j.is_array() || j.is_object()) && depth >= kShownDepth && !j.empty())
    return "(nested more than " + std::to_string(kShownDepth) + " levels deep: not shown)";
  if (j.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : j) out.push_back(printable_strings(v, depth + 1));
    return out;
  }
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : j.items()) out[printable_line(key)] = printable_strings(value, depth + 1);
    return out;
  }
  return j;
}

// ["a","b"] as dump() writes a list of plain names, but of names printable_strings has escaped
// already: not escaped twice ("train\\tloss"); a quote in a name is escaped (`\"`), so that a
// crafted name `a","b` does not read as two (its backslashes are doubled already).
std::string quoted_list(const nlohmann::json& names) {
  std::string out = "[";
  for (const auto& n : names) {
    out += out.size() > 1 ? ",\"" : "\"";
    for (char c : n.is_string() ? n.get<std::string>() : n.dump())
      out += c == '"' ? std::string("\\\"") : std::string(1, c);
    out += "\"";
  }
  return out + "]";
}

std::string render(const nlohmann::json& j) {
  std::ostringstream o;
  const std::string kind = j.value("kind", "");
  if (kind == "model") {
    // (a zoo architecture: "zoo (zoo)" said nothing; info initializes it as --init-seed 0 does)
    o << "model        "
      << (j["format"] == "zoo" ? std::string("zoo, a fresh network (initialized as --init-seed 0 does)")
                               : j["source"].get<std::string>() + " (" + j["format"].get<std::string>() + ")")
      << "\n"
      << "architecture " << j["arch"].get<std::string>() << "\n"
      << "input        " << shape_text(j["input_shape"]) << ", " << j["num_classes"] << " classes\n"
      << "parameters   " << j["parameters"]
      << (j.value("frozen_parameters", 0) > 0
              ? " (" + j["frozen_parameters"].dump() + " of them frozen: requires_grad off; directions and sweeps perturb them too)"
              : std::string(" trainable"))
      << "\n"
      << "fingerprint  " << j["fingerprint"].get<std::string>() << "\n";
    if (j.contains("training")) o << training_text(j["training"]);
    o << "tensors      " << j["tensors"].size() << " (state-dict order)\n";
    for (auto& t : j["tensors"])
      o << "  " << std::left << std::setw(44) << t["name"].get<std::string>() << std::setw(22)
        << shape_text(t["shape"]) << t["kind"].get<std::string>() << "\n";
  } else if (kind == "state_dict") {
    o << "state dict   " << j["file"].get<std::string>() << " (torch.save, "
      << (j["format"] == "legacy" ? "legacy format of PyTorch < 1.6" : "zip format") << ")\n"
      << "tensors      " << j["tensors"].size() << ", " << j["values"] << " values\n";
    if (j["matches"].empty()) {
      o << "zoo          no architecture has these tensors (a TorchScript module of the network "
           "would load without one)\n";
    } else {
      for (auto& m : j["matches"])
        o << "zoo          " << m["arch"].get<std::string>() << " (" << m["dataset"].get<std::string>()
          << " inputs): --model-file " << j["file"].get<std::string>() << " --arch "
          << m["arch"].get<std::string>() << "\n";
    }
    for (auto& t : j["tensors"])
      o << "  " << std::left << std::setw(44) << t["name"].get<std::string>() << std::setw(22)
        << shape_text(t["shape"]) << t["dtype"].get<std::string>() << "\n";
  } else if (kind == "dataset") {
    o << "data set     " << j["dataset"].get<std::string>() << " in " << j["data_dir"].get<std::string>() << "\n"
      << "images       " << shape_text(j["image_shape"]) << ", " << j["num_classes"] << " classes\n";
    for (auto& [split, s] : j["splits"].items()) {
      if (s.contains("missing")) {
        o << split << ": missing (" << s["missing"].get<std::string>() << ")\n";
        continue;
      }
      o << split << ": " << s["samples"] << " samples, normalized mean " << std::setprecision(4)
        << s["mean"].get<double>() << " std " << s["std"].get<double>() << "\n  classes:";
      for (auto& c : s["class_histogram"]) o << " " << c;
      o << "\n";
    }
  } else if (kind == "directions") {
    const std::string type = j["type"].get<std::string>();
    o << "directions   " << j.value("file", std::string()) << ": " << j["dims"] << " direction(s) over "
      << (type == "unknown" ? "weights or states (not recorded: --model-file tells which)" : type) << "\n"
      << "settings     " << shown_json(j["settings"]) << "\n"
      << "fingerprint  "
      << (j["model_fingerprint"].get<std::string>().empty()
              ? std::string("none recorded (a file of another tool: the model is not checked)")
              : j["model_fingerprint"].get<std::string>() + " (of the model's θ*)")
      << "\n";
    if (j.contains("cosine_xy") && j["cosine_xy"].is_null())
      o << "cos(x, y)    undefined (a direction is zero)\n";
    else if (j.contains("cosine_xy"))
      o << "cos(x, y)    " << std::setprecision(4) << j["cosine_xy"].get<double>() << "\n";
    if (j.contains("explained_variance_ratio"))
      o << "PCA          explained variance ratio " << j["explained_variance_ratio"].dump() << "\n";
    for (auto& [axis, arr] : j["tensors"].items()) {
      o << axis << ":\n  " << std::left << std::setw(6) << "#" << std::setw(40) << "name"
        << std::setw(22) << "shape" << std::setw(12) << "norm"
        << (!arr.empty() && arr.front().contains("ratio") ? "norm/|θ|" : "") << "\n";
      for (auto& t : arr) {
        o << "  " << std::setw(6) << t["index"].get<long long>() << std::setw(40)
          << t["name"].get<std::string>() << std::setw(22) << shape_text(t["shape"]) << std::setw(12)
          << std::setprecision(5) << t["norm"].get<double>();
        if (t.contains("ratio")) o << std::setprecision(5) << t["ratio"].get<double>();
        o << "\n";
      }
    }
  } else if (kind == "surface" && j.value("origin", "") == "reference") {
    const auto& g = j["grid"];
    o << "surface      " << j["file"].get<std::string>()
      << " (the Python reference's layout: no completion mask, no run log)\n"
      << "grid         x " << g["x"].get<std::string>();
    if (!g["y"].get<std::string>().empty()) o << ", y " << g["y"].get<std::string>();
    o << " (" << j["grid_points"] << (j["grid_points"] == 1 ? " point)\n" : " points)\n");
    if (!j["dir_file"].get<std::string>().empty())
      o << "directions   " << j["dir_file"].get<std::string>() << "\n";
    o << "values      ";
    for (auto& d : j["datasets"])
      o << " " << d["name"].get<std::string>() << " (" << d["computed"] << " computed)";
    o << "\ndone         " << j["points_done"] << " of " << j["points_total"]
      << " points have every value (" << (j["complete"].get<bool>() ? "complete" : "incomplete")
      << "; −1 marks a value not computed)\n";
  } else if (kind == "surface") {
    const auto& id = j["identity"];
    o << "surface      " << j["file"].get<std::string>() << "\n"
      << "grid         x " << id["x"].get<std::string>();
    if (!id.value("y", std::string()).empty()) o << ", y " << id["y"].get<std::string>();
    o << " (" << j["grid_points"] << (j["grid_points"] == 1 ? " point)\n" : " points)\n")
      << "values       " << quoted_list(id["values"]) << ", loss " << id.value("loss", std::string("?"))
      << ", " << id.value("dataset", std::string("?")) << " samples "
      << (!id.contains("samples") ? std::string("?")
          : id["samples"].is_number() && id["samples"].get<long long>() == 0
              ? std::string("all")  // (0: the whole split)
              : id["samples"].dump())
      << "\n";
    if (!j["part"].get<std::string>().empty())
      o << "part         " << j["part"].get<std::string>() << "\n";
    if (!j.value("model_file", std::string()).empty() || !j.value("arch", std::string()).empty())
      o << "model        " << (j.value("model_file", std::string()).empty() ? "fresh " + j.value("arch", std::string())
                                                                            : j["model_file"].get<std::string>())
        << " (fingerprint " << id.value("model_fingerprint", std::string("?")) << ")\n";
    if (!j.value("dir_file", std::string()).empty())
      o << "directions   " << j["dir_file"].get<std::string>() << "\n";
    o << "done         " << j["points_done"] << " of " << j["points_total"] << " points"
      << (j["complete"].get<bool>() ? " (complete)" : " (incomplete: resume with the same sweep)")
      << "\n";
    if (j.contains("summary")) {
      // The values' names in a column as wide as the longest (eig_converged of a Hessian map)
      std::size_t name_width = 10;
      for (const auto& value_name : id["values"])
        name_width = std::max(name_width, value_name.get<std::string>().size());
      for (const auto& value_name : id["values"]) {  // (in the file's order)
        const std::string name = value_name.get<std::string>();
        if (!j["summary"].contains(name)) continue;
        const auto& e = j["summary"][name];
        auto at = [](const nlohmann::json& xy) {
          std::ostringstream w;
          w << "(";
          for (std::size_t i = 0; i < xy.size(); ++i) w << (i ? ", " : "") << std::setprecision(4) << xy[i].get<double>();
          return w.str() + ")";
        };
        o << "  " << std::left << std::setw(int(name_width + 1)) << name << std::right;
        if (e.contains("min"))
          o << std::setprecision(5) << "min " << e["min"].get<double>() << " at " << at(e["min_at"]) << ", max "
            << e["max"].get<double>() << " at " << at(e["max_at"]);
        else  // ("yet" only where points are still to come: a complete file's are final)
          o << (j["complete"].get<bool>() ? "no finite value" : "no finite value yet");
        if (e.contains("at_origin")) {
          o << "; at θ* " << (id.value("y", std::string()).empty() ? "(0)" : "(0, 0)") << ": ";
          // (a NaN held here is a number too: it was printed "nan", the JSON's null "NaN")
          const double v = e["at_origin"].is_number() ? e["at_origin"].get<double>() : std::nan("");
          if (std::isfinite(v))
            o << v;
          else
            o << (std::isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf");
        }
        if (e["non_finite"].get<std::int64_t>() > 0) o << "; " << e["non_finite"] << " NaN or infinite";
        o << "\n";
      }
    }
    if (j.contains("run_log_damaged"))
      o << "  runs  (the run log is " << j["run_log_damaged"].get<std::string>()
        << ", not the list of starts that losscape writes: damaged? the points are not affected)\n";
    for (auto& r : j["runs"]) {
      if (r.value("status", std::string()) == "unreadable") {
        o << "  run   (an entry of the run log with unexpected types: " << shown_json(r["entry"]).substr(0, 120)
          << ")\n";
        continue;
      }
      if (r.contains("merge"))
        o << "  merge " << r["start"].get<std::string>() << ": " << r["status"].get<std::string>()
          << "\n";
      else
        o << "  run   " << r["start"].get<std::string>() << " .. "
          << (!r["end"].get<std::string>().empty() ? r["end"].get<std::string>()
              : r["status"] == "running"            ? std::string("now")
                                                    : std::string("?"))
          << ": " << r["status"].get<std::string>()
          << (r.contains("note") && r["note"].is_string() ? " (" + r["note"].get<std::string>() + ")"
                                                          : std::string())
          << ", " << r["points_computed"] << (r["points_computed"] == 1 ? " point" : " points")
          << " on " << r["ranks"] << " rank(s)\n";
      // (a merged file's runs: the input each ran in)
      if (r.contains("file") && r["file"].is_string()) {
        const std::string part = r.value("part", nlohmann::json()).is_string() ? r["part"].get<std::string>() : "";
        o << "        in      " << r["file"].get<std::string>() << (part.empty() ? "" : " (part " + part + ")")
          << "\n";
      }
      if (r.contains("error") && r["error"].is_string())
        o << "        error   " << r["error"].get<std::string>() << "\n";
      if (r.contains("devices") && r["devices"].is_array() && !r["devices"].empty()) {
        // Each distinct device with its number of ranks, in order of first appearance.
        std::vector<std::pair<std::string, int>> seen;
        for (auto& d : r["devices"]) {
          const std::string name = d.is_string() ? d.get<std::string>() : d.dump();
          auto it = std::find_if(seen.begin(), seen.end(), [&](auto& p) { return p.first == name; });
          if (it == seen.end()) seen.emplace_back(name, 1); else ++it->second;
        }
        o << "        devices";
        for (std::size_t i = 0; i < seen.size(); ++i)
          o << (i ? ", " : " ") << seen[i].first << " x" << seen[i].second;
        o << "\n";
      }
      if (r.contains("cuda_graph_events"))
        for (auto& e : r["cuda_graph_events"]) o << "        " << e.get<std::string>() << "\n";
      // Which build computed it (runs of one surface may come from different ones).
      if (r.contains("losscape_version") && r["losscape_version"].is_string())
        o << "        losscape " << r["losscape_version"].get<std::string>()
          << (r.contains("losscape_revision") && r["losscape_revision"].is_string()
                  ? " (revision " + r["losscape_revision"].get<std::string>() + ")"
                  : std::string())
          << "\n";
    }
  } else if (kind == "projection") {
    o << "projection   " << j["file"].get<std::string>() << ": " << j["points"].size()
      << (j["points"].size() == 1 ? " checkpoint" : " checkpoints") << " in the plane of "
      << (j["dir_file"].get<std::string>().empty() ? std::string("(no direction file recorded)")
                                                   : j["dir_file"].get<std::string>())
      << (j["method"].get<std::string>().empty() ? "" : " (" + j["method"].get<std::string>() + ")")
      << "\n";
    if (j.contains("explained_variance_ratio"))
      o << "PCA          explained variance ratio " << j["explained_variance_ratio"].dump() << "\n";
    if (j.contains("covering_grid"))
      o << "grid         --x " << j["covering_grid"]["x"].get<std::string>() << " --y "
        << j["covering_grid"]["y"].get<std::string>() << " covers the path\n";
    o << "  " << std::left << std::setw(7) << "epoch" << std::setw(13) << "x" << std::setw(13)
      << "y" << "checkpoint\n";
    for (auto& pt : j["points"]) {
      o << "  " << std::setw(7) << (pt["epoch"].is_null() ? "-" : pt["epoch"].dump())
        << std::setw(13) << std::setprecision(6) << pt["x"].get<double>() << std::setw(13)
        << pt["y"].get<double>() << pt["checkpoint"].get<std::string>() << "\n";
    }
  } else {
    o << j.dump(2) << "\n";
  }
  return o.str();
}
}  // namespace

std::string render_info(const nlohmann::json& info) { return render(printable_strings(info)); }

}  // namespace losscape
