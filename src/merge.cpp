#include "losscape/merge.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/grid.hpp"
#include "losscape/h5.hpp"
#include "losscape/json_config.hpp"
#include "losscape/lock.hpp"
#include "losscape/mpi.hpp"
#include "losscape/stop.hpp"
#include "losscape/surface.hpp"
#include "losscape/terminal.hpp"
#include "losscape/timestamp.hpp"
#include "losscape/version.hpp"

namespace losscape {

void to_json(nlohmann::json& j, const MergeConfig& c) {
  j = {{"parts", c.parts}, {"out", c.out}};
  if (c.tolerance < 0)
    j["tolerance"] = "auto";
  else
    j["tolerance"] = c.tolerance;
}

double merge_tolerance(const std::string& precision) {
  return precision.empty() || precision == "fp32" ? 1e-6 : 1e-2;
}

double parse_merge_tolerance(const std::string& s) {
  if (s == "auto") return -1;
  std::optional<double> t;
  try {
    t = whole_number<double>(s);
  } catch (const std::out_of_range&) {  // (said below)
  }
  if (!t || !(*t >= 0) || !std::isfinite(*t))
    throw InputError("merge: --tolerance must be auto or a number >= 0 (got '" + s + "')");
  return *t;
}

void from_json(const nlohmann::json& j, MergeConfig& c) {
  for (auto& [k, v] : j.items())
    if (k != "parts" && k != "out" && k != "tolerance")
      throw InputError("merge config: unknown key " + shown_json(k));
  if (j.contains("parts")) j.at("parts").get_to(c.parts);
  if (j.contains("out")) j.at("out").get_to(c.out);
  if (j.contains("tolerance")) {
    const auto& t = j.at("tolerance");
    c.tolerance = parse_merge_tolerance(t.is_string() ? t.get<std::string>() : t.dump());
  }
}

namespace {

// One input surface: its identity, configuration and run log (read_input), and, while it is
// merged, its values (load_values; a 1000-part fan-out of a 1001 x 1001 grid held 25-48 GB when
// every input was read whole first).
struct Input {
  std::string path;
  SurfaceData data;
  std::vector<double> seconds;
  nlohmann::json config;
  nlohmann::json run_log;
};

void load_values(Input& in) {
  in.data = read_surface(in.path);
  in.seconds = h5::File(in.path, h5::File::Mode::read).dataset("seconds").read_doubles();
}
void drop_values(Input& in) {  // (moved-from empties: `= {}` would keep the capacity)
  in.data.values = std::vector<std::vector<double>>();
  in.data.done = std::vector<std::uint8_t>();
  in.seconds = std::vector<double>();
}

Input read_input(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw InputError(path + (ec ? ": cannot be looked at (" + ec.message() + ")" : ": no such file"));
  Input in;
  in.path = path;
  in.data = read_surface(path, false);  // checks the format attribute and the layout
  h5::File f(path, h5::File::Mode::read);
  try {
    in.config = nlohmann::json::parse(f.attr_string("config"));
  } catch (const nlohmann::json::exception&) {
    throw FormatError(path + ": attribute 'config' is not JSON");
  }
  // The run log is raw text in a byte dataset, NUL-padded (see surface.hpp).
  auto d = f.dataset("run_log");
  std::vector<char> buf(d.size() + 1, '\0');
  d.read(h5::Type::u8, buf.data());
  const std::string text(buf.data());  // (empty: no run recorded yet, as SurfaceFile::run_log reads it)
  in.run_log = text.empty() ? nlohmann::json::array() : nlohmann::json::parse(text, nullptr, false);
  if (!in.run_log.is_array()) {
    // (its points are whole: only the record of its runs is lost, said as a resume says it)
    std::fprintf(stderr,
                 "losscape: note: %s: its run log is %s, not the list of earlier starts that losscape "
                 "writes (damaged?): its runs are left out of the merged file's log\n",
                 printable_line(path).c_str(), in.run_log.is_discarded() ? "not JSON" : "another JSON value");
    in.run_log = nlohmann::json::array();
  }
  return in;
}

// Empty when `b` belongs to the same sweep as `a` (every identity key but the part equal; an
// entry files of earlier versions lack is compared only where both have it).
std::string identity_difference(const Input& a, const Input& b) {
  const auto& ia = a.data.identity;
  const auto& ib = b.data.identity;
  for (const auto& k : SurfaceIdentity::keys_in_order(ia, ib)) {
    if (k == "part") continue;
    if (SurfaceIdentity::added_later(k) && !(ia.contains(k) && ib.contains(k)))
      continue;  // (a file of an earlier version)
    // (compared as JSON values, an absent precision being fp32; shown as text, whose strings are
    // not escaped and so cannot tell every two values apart)
    auto value = [&k](const nlohmann::json& id) -> std::optional<nlohmann::json> {
      if (id.contains(k)) return id[k];
      if (k == "precision") return nlohmann::json("fp32");
      return std::nullopt;
    };
    if (value(ia) != value(ib))
      return b.path + " is not a part of the same sweep as " + a.path + ": " + SurfaceIdentity::its(k) +
             SurfaceIdentity::shown(ib, k, "none") + ", " + a.path + " has " +
             SurfaceIdentity::shown(ia, k, "none");
  }
  return "";
}

// Empty when every input belongs to one sweep, else the first difference. The parts are compared
// among themselves first and an existing output (`out`, or null) last, so that a part that
// differs is named, not the output. Each input is compared with the first part and, for the
// entries files of earlier versions lack, with the first input that has them too (two new parts
// on other data must not pass because the first part is an old one).
std::string sweep_difference(const std::vector<const Input*>& parts, const Input* out) {
  std::vector<const Input*> all = parts;
  if (out) all.push_back(out);
  // The references: the first input, and the first of each other set of entries present.
  auto kind = [](const Input* in) {
    std::string k;
    for (const auto& [key, v] : in->data.identity.items())
      if (SurfaceIdentity::added_later(key)) k += key + ",";
    return k;
  };
  std::vector<std::size_t> refs;
  std::set<std::string> kinds;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (kinds.insert(kind(all[i])).second) refs.push_back(i);
  for (std::size_t i = 1; i < all.size(); ++i)
    for (std::size_t r : refs) {
      if (r >= i) break;  // (each input against the references before it)
      std::string diff = identity_difference(*all[r], *all[i]);
      if (diff.empty()) continue;
      if (all[i] == out)
        diff = out->path + " exists and belongs to another sweep (" + diff + "); refusing to overwrite it";
      return diff;
    }
  return "";
}

// Within `tol` of the larger magnitude; an accuracy (percent) within `tol` of its full scale,
// 100 %: it moves by whole images, so one image flipped at a low accuracy (12 % vs 12.5 % of 200
// images in bf16) is not a relative 4 % disagreement.
bool agree(double a, double b, double tol, bool accuracy) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  // (an infinity agrees with itself only: |inf - 5| <= tol * inf would hold)
  if (a == b || std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(a - b) <= tol * (accuracy ? 100.0 : std::max(std::fabs(a), std::fabs(b)));
}


std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string point_name(const Grid& g, std::int64_t idx) {
  std::string s = "(x=" + fmt(g.alpha(idx));
  if (g.has_y) s += ", y=" + fmt(g.beta(idx));
  return s + ")";
}

// "k/N" -> {k (1-based), N}; {0, 0} for a whole surface.
std::pair<int, int> part_of(const std::string& part) {
  auto slash = part.find('/');
  if (part.empty() || slash == std::string::npos) return {0, 0};
  auto [k, n] = parse_part_text(part);  // (read_surface checked it)
  return {k + 1, n};
}

// The direction file the merged surface names. Parts swept without --directions each made their
// own copy beside them (NAME.part-K-of-N.dirs.h5, the same seeded directions): the merged file
// gets one beside it, OUT.dirs.h5, as a sweep of OUT would have made, rather than name the first
// part's (deleted with the parts), and a resume of OUT reads it. An OUT.dirs.h5 already there
// (an earlier merge's) must hold the same directions. Other files (--directions) stay as named.
std::string merged_directions(const std::vector<Input>& inputs, const Input& ref, const std::string& out,
                              const std::string& fingerprint, bool& copied) {
  copied = false;
  namespace fs = std::filesystem;
  auto own_directions = [](const Input& in) {  // (made by the sweep beside its file, not --directions)
    const std::string named = in.config.value("directions", std::string());
    const std::string its_out = in.config.value("out", std::string());
    return !named.empty() && !its_out.empty() && named == default_dir_file(its_out);
  };
  const std::string named = ref.config.value("directions", std::string());
  if (!own_directions(ref)) return named;
  const std::string to = default_dir_file(out);
  std::error_code ec;
  // Whether `file` holds the parts' directions; one that cannot be read (damaged, not HDF5, no
  // permission) sets `why` to the reason, as read_directions gives it (with the file's name).
  auto holds_ours = [&](const std::string& file, std::string& why) {
    try {
      return directions_fingerprint(read_directions(file)) == fingerprint;
    } catch (const Error& e) {
      why = e.what();
      return false;
    }
  };
  if (fs::exists(to, ec)) {
    std::string why;
    if (!holds_ours(to, why))
      throw InputError((why.empty() ? to + " holds other directions than the parts' (" + default_dir_file(ref.path) + ")"
                                    : why + " (the merged surface's direction file)") +
                       "; not merged, " + out + " is left as it was (move it away, or merge into another --out)");
    return to;
  }
  // The first part's copy, or another part's where it is gone or holds other directions (a file
  // replaced since: copied as it was, the merged file could not be resumed with it).
  std::vector<const Input*> order{&ref};
  for (const auto& in : inputs)
    if (&in != &ref) order.push_back(&in);
  std::string from, others, unreadable;
  for (const Input* in : order) {
    if (!own_directions(*in)) continue;
    const std::string file = default_dir_file(in->path);
    if (!fs::exists(file, ec)) continue;
    std::string why;
    if (holds_ours(file, why)) {
      from = file;
      break;
    }
    if (why.empty())
      others += (others.empty() ? "" : ", ") + file;
    else if (unreadable.empty())
      unreadable = why;
  }
  if (from.empty()) {
    if (!others.empty())
      throw InputError("the parts' direction files (" + others + ") hold other directions than the parts were " +
                       "swept with (fingerprint " + fingerprint + "); not merged, " + out + " is left as it was");
    if (!unreadable.empty())
      throw InputError(unreadable + " (a part's direction file, to be copied beside the merged surface); not merged, " +
                       out + " is left as it was");
    return named;  // (gone: the file keeps the name it was made with)
  }
  h5::write_whole(to, ".copying", [&](const std::string& tmp) {
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  });
  copied = true;
  return to;
}

}  // namespace

MergeReport merge_surfaces(const MergeConfig& cfg) {
  namespace fs = std::filesystem;
  if (cfg.parts.empty()) throw InputError("merge: give the part files to merge");
  if (cfg.out.empty()) throw UsageError("merge: give --out");
  check_surface_name(cfg.out);  // (a sweep resumes the merged file)
  if (std::isnan(cfg.tolerance)) throw InputError("merge: --tolerance must be auto or >= 0");
  if (!mpi::initialized()) throw MpiError("merge: MPI is not initialised (mpi::Environment)");

  // No input twice; the output may be among the inputs (or exist already: then it is one).
  // (by path: symbolic links are followed; hard-linked names count as files of their own, harmless)
  auto canonical = [](const std::string& p) {
    std::error_code ec;
    auto c = fs::weakly_canonical(p, ec);
    return ec ? p : c.string();
  };
  const std::string out_key = canonical(cfg.out);
  std::map<std::string, std::string> seen;  // key -> the name it was given under first
  for (auto& p : cfg.parts) {
    const auto [it, fresh] = seen.emplace(canonical(p), p);
    if (!fresh)
      throw InputError(p + " is given twice" + (it->second != p ? " (" + it->second + " is the same file)" : ""));
  }

  refuse_hard_linked(cfg.out);
  FileLock lock(cfg.out);  // no sweep and no other merge writes the output meanwhile
  // An existing output of the same sweep is merged too (first, so its points count as kept).
  // (an empty file at the name is replaced, as every output of losscape replaces one)
  const bool out_extra = fs::exists(cfg.out) && !h5::is_empty_file(cfg.out) && !seen.count(out_key);
  std::vector<Input> inputs;
  if (out_extra) {
    try {
      inputs.push_back(read_input(cfg.out));
    } catch (const Error& e) {
      std::string why = e.what();  // (without the file's name again)
      if (why.rfind(cfg.out + ": ", 0) == 0) why.erase(0, cfg.out.size() + 2);
      throw InputError(cfg.out + " exists and is not a surface file (" + why +
                       "); refusing to overwrite it");
    }
    // (as a sweep refuses to resume it: a file made read-only was replaced in silence)
    if (::access(cfg.out.c_str(), W_OK) != 0)
      throw InputError(cfg.out + ": cannot be written (" + std::strerror(errno) +
                       "), so it cannot be merged into; it is left as it was");
  }
  // A stop signal (a merge job's time limit, scancel) ends the merge between inputs and before
  // the rename, with the output as it was and no lock or temporary left behind.
  auto check_stop = [&] {
    if (stop_requested())
      throw MergeStopped(cfg.out + ": the merge was stopped by a signal before it wrote its "
                         "output; nothing was changed (run the same merge again)");
  };
  for (auto& p : cfg.parts) {
    check_stop();
    inputs.push_back(read_input(p));
  }
  for (auto& in : inputs)
    if (canonical(in.path) == out_key && in.data.identity.value("part", std::string()) != "")
      throw InputError(cfg.out + " is a part file (part " +
                       in.data.identity["part"].get<std::string>() +
                       "); refusing to overwrite it with the merged surface: use another --out");
  // The reference is the first part given; every other input (an existing output too) must
  // belong to the same sweep.
  const Input& ref = inputs[out_extra ? 1 : 0];
  {
    std::vector<const Input*> parts;
    for (std::size_t i = out_extra ? 1 : 0; i < inputs.size(); ++i) parts.push_back(&inputs[i]);
    if (const std::string diff = sweep_difference(parts, out_extra ? &inputs.front() : nullptr); !diff.empty())
      throw InputError(diff);
  }

  const auto& idj = ref.data.identity;
  const Grid grid = parse_grid(idj.at("x").get<std::string>(), idj.value("y", std::string()));
  // (every input's datasets have the n points of its identity's grid: read_surface checked
  // them, SurfaceFile::check_layout; and the identities agree)
  const auto n = std::size_t(grid.size());
  const auto& names = ref.data.names;
  // (files made before --precision have none: they are fp32)
  const std::string precision = idj.value("precision", std::string("fp32"));
  const double tolerance = cfg.tolerance < 0 ? merge_tolerance(precision) : cfg.tolerance;
  // A Hessian map's eigenvalues are ARPACK's to its --eig-tol: two rank layouts (another sum
  // order) land within it, not within fp32's 1e-6 (-10.5045756 vs -10.5045648 was refused).
  const double eig_tol = idj.contains("hessian") && idj["hessian"].value("tol", 0.0) > 0
                             ? idj["hessian"].value("tol", 0.0)
                             : 0.0;
  auto tolerance_of = [&](const std::string& name) {
    const bool eig = name == "max_eig" || name == "min_eig";
    return cfg.tolerance < 0 && eig ? std::max(tolerance, eig_tol) : tolerance;
  };
  // (what a point's eigensolve cost, not a value of the surface: another rank layout can take
  // another restart; the first input's is kept)
  auto compared = [](const std::string& name) { return name != "hvp_count"; };
  // An accuracy's loss of the same split ("train_acc": "train_loss"), if the file has it: where
  // that loss is NaN (a diverged model) the accuracy is argmax over NaN logits, which hardware
  // and precision decide, and info and plot leave it out as a gap; merge does not compare it.
  std::vector<std::ptrdiff_t> loss_of(names.size(), -1);
  for (std::size_t v = 0; v < names.size(); ++v)
    if (is_accuracy_name(names[v])) {
      const auto it = std::find(names.begin(), names.end(),
                                names[v].substr(0, names[v].size() - 4) + "_loss");
      if (it != names.end()) loss_of[v] = it - names.begin();
    }

  // Merge point by point, in argument order; a point done twice must agree in every value.
  MergeReport rep;
  rep.total = std::int64_t(n);
  rep.tolerance = tolerance;
  if (tolerance_of("max_eig") != tolerance) rep.eig_tolerance = tolerance_of("max_eig");
  rep.has_y = grid.has_y;
  std::vector<std::vector<double>> values(names.size(), std::vector<double>(n, kNotComputed));
  std::vector<double> seconds(n, kNotComputed);
  std::vector<int> source(n, -1);
  std::vector<bool> overlapped(n, false);  // (a point in three inputs is one overlapping point)
  const auto order = coarse_to_fine(grid);
  std::vector<std::int64_t> position(n);  // a point's place in the coarse-to-fine order
  for (std::size_t p = 0; p < order.size(); ++p) position[std::size_t(order[p])] = std::int64_t(p);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    check_stop();
    auto& in = inputs[i];
    load_values(in);
    MergeInput mi;
    mi.path = in.path;
    mi.part = in.data.identity.value("part", std::string());
    // (the output's own lock is ours: only the other inputs can be live)
    mi.live = canonical(in.path) != out_key && FileLock::held(in.path);
    auto [k, parts] = part_of(mi.part);
    for (std::size_t p = 0; p < n; ++p) {
      const bool mine = parts == 0 || position[p] % parts == k - 1;
      if (mine) ++mi.part_total;
      if (!in.data.done[p]) continue;
      if (!mine)  // (a part computes its slice only: a damaged or edited file)
        throw InputError(in.path + ": point " + point_name(grid, std::int64_t(p)) +
                         " is marked done but is not in part " + mi.part + "'s slice of the grid (a "
                         "damaged or edited file); not merged, " + cfg.out + " is left as it was");
      ++mi.done;
      if (source[p] < 0) {
        source[p] = int(i);
        for (std::size_t v = 0; v < names.size(); ++v) values[v][p] = in.data.values[v][p];
        seconds[p] = in.seconds[p];
        ++mi.added;
        continue;
      }
      if (!overlapped[p]) ++rep.overlapping;
      overlapped[p] = true;
      for (std::size_t v = 0; v < names.size(); ++v) {
        if (!compared(names[v])) continue;
        if (const auto l = loss_of[v];
            l >= 0 && std::isnan(values[std::size_t(l)][p]) && std::isnan(in.data.values[std::size_t(l)][p]))
          continue;
        const double a = values[v][p], b = in.data.values[v][p];
        const double tol = tolerance_of(names[v]);
        if (!agree(a, b, tol, is_accuracy_name(names[v])))
          throw InputError(in.path + " and " + inputs[std::size_t(source[p])].path +
                           " disagree at point " + point_name(grid, std::int64_t(p)) + ": " +
                           names[v] + " " + fmt(b) + " vs " + fmt(a) + " (relative tolerance " +
                           fmt(tol) + (is_accuracy_name(names[v]) ? " of 100 %" : "") +
                           (cfg.tolerance < 0 ? (tol != tolerance ? ", the default for eigenvalues: their --eig-tol"
                                                                  : ", the default in " + precision)
                                              : std::string()) +
                           "); not merged, " + cfg.out +
                           " is left as it was");
      }
    }
    rep.inputs.push_back(mi);
    drop_values(in);
  }
  for (std::size_t p = 0; p < n; ++p) {
    if (source[p] >= 0) {
      ++rep.done;
    } else {
      rep.missing.push_back(std::int64_t(p));
      if (rep.missing_alpha.size() < 10) {
        rep.missing_alpha.push_back(grid.alpha(std::int64_t(p)));
        rep.missing_beta.push_back(grid.has_y ? grid.beta(std::int64_t(p)) : 0.0);
      }
    }
  }
  // Slices of which no file was given, among those of the parts' N that still miss points.
  if (!rep.missing.empty()) {
    std::map<int, std::set<int>> given;  // N -> k given
    for (auto& mi : rep.inputs) {
      auto [k, parts] = part_of(mi.part);
      if (parts > 0) given[parts].insert(k);
    }
    for (auto& [parts, ks] : given) {
      // (one pass over the missing points, whatever N: up to 2^31 - 1 parts of a small grid)
      std::set<std::int64_t> lacking;
      for (auto p : rep.missing) lacking.insert(position[std::size_t(p)] % parts + 1);
      for (auto k : lacking)
        if (!ks.count(int(k))) rep.absent_parts.push_back(std::to_string(k) + "/" + std::to_string(parts));
    }
  }

  // The merged file: a normal (whole) surface of the same sweep, written beside the output and
  // renamed over it, so that the output is never half-written.
  SurfaceIdentity id;
  id.grid = grid;
  id.values = names;
  id.dataset = idj.value("dataset", std::string());
  id.samples = idj.value("samples", std::int64_t(0));
  id.subset_seed = idj.value("subset_seed", std::uint64_t(0));
  id.raw = idj.value("raw_data", false);
  id.loss = idj.value("loss", std::string());
  id.model_fingerprint = idj.value("model_fingerprint", std::string());
  id.directions_fingerprint = idj.value("directions_fingerprint", std::string());
  bool dirs_copied = false;  // (a copy made for this output is removed if the merge fails)
  id.dir_file = merged_directions(inputs, ref, cfg.out, id.directions_fingerprint, dirs_copied);
  id.part = "";
  // Every other identity entry travels as it is, so that the merged file can be resumed.
  if (idj.contains("hessian")) id.hessian = idj.at("hessian");
  id.precision = idj.value("precision", std::string("fp32"));
  for (const auto& in : inputs)  // (the entries files of earlier versions lack: from one that has them)
    if (in.data.identity.contains("data")) {
      id.data = in.data.identity["data"];
      break;
    }
  for (auto [key, entry] : {std::pair{"buffers_fingerprint", &id.buffers_fingerprint}, {"network", &id.network}})
    for (const auto& in : inputs)
      if (in.data.identity.contains(key)) {
        *entry = in.data.identity[key].get<std::string>();
        break;
      }
  nlohmann::json config = ref.config;
  config["directions"] = id.dir_file;
  config["part"] = "";
  config["out"] = cfg.out;

  // Each input's runs, marked with the file they ran in. An input that is itself a merged file
  // (the output merged into again) carries its inputs' runs already marked: those keep their
  // file, and a run found twice (in the part and in the earlier merge) is listed once.
  nlohmann::json log = nlohmann::json::array();
  // A run is known by its start, configuration (its --out and part) and the points done when it
  // started, whatever the spelling of the path it is listed under; a merge entry by all of it.
  // The same run found twice (in a part and in an earlier merge of it) is listed once, as its
  // own file has it: a copy can be older (a run still going when the earlier merge was made).
  auto run_key = [](const nlohmann::json& e) {
    if (e.is_object() && e.contains("start") && !e.contains("merge"))
      return nlohmann::json::array({e["start"], e.value("config", nlohmann::json()),
                                    e.value("points_done_before", nlohmann::json())});
    nlohmann::json bare = e;
    if (bare.is_object())
      for (const char* k : {"file", "part", "points_computed", "running_when_merged"}) bare.erase(k);
    return bare;
  };
  std::vector<std::pair<nlohmann::json, bool>> listed;  // each entry of `log`: its key, whether
                                                        // it came from its own file
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Input& in = inputs[i];
    const std::int64_t in_done = rep.inputs[i].done;  // (its values are gone: merged one by one)
    for (std::size_t e = 0; e < in.run_log.size(); ++e) {
      nlohmann::json entry = in.run_log[e];
      const bool own = entry.is_object() && !entry.contains("file");
      if (own) {
        entry["file"] = in.path;
        entry["part"] = in.data.identity.value("part", std::string());
        // The input's last run, still "running" (killed, or running on): what it computed is
        // what the input's done mask gained since its start, which only this input shows.
        const auto& before = entry.contains("points_done_before") ? entry["points_done_before"]
                                                                   : nlohmann::json();
        if (e + 1 == in.run_log.size() && entry.value("status", std::string()) == "running") {
          if (before.is_number_integer())
            entry["points_computed"] = std::max<std::int64_t>(0, in_done - before.get<std::int64_t>());
          // (running on: not killed, whatever later runs the merged file lists after it)
          if (rep.inputs[i].live) entry["running_when_merged"] = true;
        } else if (e + 1 < in.run_log.size() && entry.value("status", std::string()) == "running" &&
                   before.is_number_integer()) {
          // A run killed before a later run of this input (a resume): what it computed is what
          // the done mask gained until that run's start, known only here: in the merged log the
          // run that follows it may be another part's.
          const auto& next = in.run_log[e + 1];
          if (next.is_object() && next.contains("points_done_before") &&
              next["points_done_before"].is_number_integer())
            entry["points_computed"] = std::max<std::int64_t>(
                0, next["points_done_before"].get<std::int64_t>() - before.get<std::int64_t>());
        }
      }
      const nlohmann::json key = run_key(entry);
      auto found = std::find_if(listed.begin(), listed.end(), [&](const auto& l) { return l.first == key; });
      if (found == listed.end()) {
        listed.emplace_back(key, own);
        log.push_back(entry);
      } else if (own && !found->second) {
        found->second = true;
        log[std::size_t(found - listed.begin())] = entry;
      }
    }
  }
  // In time order (the output merged into comes first, then each input's runs): by a run's
  // start, an earlier merge's time; an entry without either stays after the one before it.
  {
    std::vector<std::pair<std::string, std::size_t>> order;
    std::string last;
    for (std::size_t e = 0; e < log.size(); ++e) {
      const auto& entry = log[e];
      for (const char* k : {"start", "time"})
        if (entry.is_object() && entry.contains(k) && entry[k].is_string()) {
          last = entry[k].get<std::string>();
          break;
        }
      order.emplace_back(last, e);
    }
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    nlohmann::json sorted = nlohmann::json::array();
    for (const auto& o : order) sorted.push_back(std::move(log[o.second]));
    log = std::move(sorted);
  }
  nlohmann::json merge_entry = {{"merge", cfg},
                                {"time", utc_now_iso()},
                                {"losscape_version", version},
                                {"losscape_revision", source_revision()},
                                {"points_done", rep.done},
                                {"points_total", rep.total},
                                {"overlapping", rep.overlapping},
                                {"status", rep.complete() ? "complete" : "incomplete"}};
  // Thousands of parts would fill the run log alone: the entry then names the first and last
  // ones and their number (write_run_log keeps the most recent runs that fit).
  auto& parts = merge_entry["merge"]["parts"];
  if (parts.is_array() && parts.dump().size() > kRunLogBytes / 4 && parts.size() > 20) {
    nlohmann::json shortened = nlohmann::json::array();
    for (std::size_t i = 0; i < 10; ++i) shortened.push_back(parts[i]);
    shortened.push_back("... (" + std::to_string(parts.size() - 20) + " more: " +
                        std::to_string(parts.size()) + " parts in all)");
    for (std::size_t i = parts.size() - 10; i < parts.size(); ++i) shortened.push_back(parts[i]);
    parts = shortened;
  }
  log.push_back(merge_entry);
  // (write_run_log gives up the oldest merge entries first when the log outgrows its room)

  std::vector<PointResult> results;
  for (std::size_t p = 0; p < n; ++p) {
    if (source[p] < 0) continue;
    PointResult r;
    r.index = std::int64_t(p);
    for (auto& v : values) r.values.push_back(v[p]);
    r.seconds = seconds[p];
    results.push_back(std::move(r));
  }
  // (a leftover .merging of a merge killed earlier is replaced: we hold the lock)
  // (through a link at --out: the merged file goes where it leads, as a sweep writes there)
  try {
    h5::write_whole(link_target(cfg.out), ".merging", [&](const std::string& tmp) {
      try {
        mpi::Comm self = mpi::Comm::self();
        SurfaceFile file(tmp, id, config, self);
        file.write_round(results);
        file.write_run_log(log);
        file.close();
      } catch (const InputError& e) {
        // (named by the output, not the temporary file beside it: no room for it on the disk)
        std::string why = e.what();
        if (why.rfind(tmp + ": ", 0) != 0) throw;
        throw InputError(cfg.out + ": " + why.substr(tmp.size() + 2) + "; not merged, " + cfg.out +
                         (out_extra ? " is left as it was" : " is not written"));
      }
      // A merge stopped (suspended) longer than the lock's stale time may have lost its lock to a
      // sweep that writes the output now: its rename must not replace that file (checked last,
      // just before the rename).
      if (const std::string why = lock.lost(); !why.empty())
        throw InputError(cfg.out + ": this merge no longer holds the file: " + why + "; not written");
      check_stop();
    });
  } catch (...) {
    // (not when the lock went to another writer of the output, which may use the copy now)
    std::error_code ec;
    if (dirs_copied && lock.lost().empty()) fs::remove(id.dir_file, ec);
    throw;
  }
  return rep;
}

}  // namespace losscape
