#include "losscape/surface.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include <sys/stat.h>
#include <unistd.h>

#include "losscape/error.hpp"
#include "losscape/json_config.hpp"
#include "losscape/lock.hpp"

namespace losscape {

nlohmann::json SurfaceIdentity::to_json() const {
  nlohmann::json j = {{"x", grid.x.str()},
                      {"values", values},
                      {"dataset", dataset},
                      {"samples", samples},
                      {"subset_seed", subset_seed},
                      {"raw_data", raw},
                      {"loss", loss},
                      {"model_fingerprint", model_fingerprint},
                      {"directions_fingerprint", directions_fingerprint},
                      {"part", part}};
  j["y"] = grid.has_y ? grid.y.str() : "";
  if (!hessian.is_null()) j["hessian"] = hessian;
  // Only when not fp32, so that files written before --precision existed keep their identity.
  if (precision != "fp32") j["precision"] = precision;
  if (!data.is_null()) j["data"] = data;
  if (!buffers_fingerprint.empty()) j["buffers_fingerprint"] = buffers_fingerprint;
  if (!network.empty()) j["network"] = network;
  return j;
}

void check_surface_name(const std::string& out) {
  if (const auto name = std::filesystem::path(out).filename().string(); name.size() > kMaxSurfaceName)
    throw InputError("--out " + out + ": a file name of " + std::to_string(name.size()) +
                     " characters; at most " + std::to_string(kMaxSurfaceName) +
                     " (Open MPI's MPI-IO fails on longer ones)");
  // (a loop of links, a folder above it that cannot be searched: named here, not by a raw
  // "filesystem error" of the first call that looks at it)
  std::error_code ec;
  (void)std::filesystem::status(out, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw InputError(out + ": cannot look at it (" + ec.message() + ")");
}

bool is_accuracy_name(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, "_acc") == 0;
}

std::string default_dir_file(const std::string& surface) {
  std::filesystem::path p(surface);
  return (p.parent_path() / (p.stem().string() + ".dirs.h5")).string();
}

std::string SurfaceIdentity::shown(const nlohmann::json& identity, const std::string& key,
                                   const std::string& absent) {
  // (a 1D sweep's y is "": said so, not as an empty string)
  if (key == "y" && identity.contains(key) && identity[key] == "") return "none (1D)";
  if (key == "part" && identity.contains(key) && identity[key] == "") return "none (a whole surface)";
  if (identity.contains(key)) return shown_json(identity[key]);
  return key == "precision" ? "\"fp32\"" : absent;
}

std::string SurfaceIdentity::its(const std::string& k) {
  const bool plural = k == "values" || k == "directions_fingerprint" || k == "hessian" || k == "buffers_fingerprint";
  return "its " + describe(k) + (plural ? " are " : " is ");
}

std::string SurfaceIdentity::describe(const std::string& k) {
  if (k == "x") return "--x grid";
  if (k == "y") return "--y grid";
  if (k == "values") return "computed values (splits / --hessian)";
  if (k == "dataset") return "data set";
  if (k == "model_fingerprint") return "model (θ* fingerprint)";
  if (k == "buffers_fingerprint") return "model's buffers (BatchNorm statistics; fingerprint of θ*'s buffers)";
  if (k == "network") return "network (the architecture, or a TorchScript module's code)";
  if (k == "directions_fingerprint") return "directions";
  if (k == "samples") return "--samples";
  if (k == "subset_seed") return "--subset-seed";
  if (k == "raw_data") return "--raw-data";
  if (k == "part") return "part (fan-out slice)";
  if (k == "hessian") return "Hessian settings (split, parameters, --eig-tol)";
  if (k == "precision") return "precision (--precision)";
  if (k == "data") return "data (each split's files as read, hashed)";
  return k;
}

namespace {

constexpr std::int64_t kSurfaceFormatVersion = 1;

std::vector<hsize_t> dims_of(const Grid& g) {
  auto s = g.shape();
  return std::vector<hsize_t>(s.begin(), s.end());
}


void write_string_dataset(const h5::Location& f, const std::string& name, const std::string& s) {
  // Fixed-length string dataset as h5py reads with f['dir_file'][()].
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, std::max<std::size_t>(1, s.size()));
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t d = H5Dcreate2(f.id(), name.c_str(), t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (d < 0) {
    H5Sclose(sp);
    H5Tclose(t);
    throw FormatError(f.where(name) + ": cannot create");
  }
  std::string padded = s.empty() ? std::string(1, '\0') : s;
  const herr_t written = H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, padded.data());
  H5Dclose(d);
  H5Sclose(sp);
  H5Tclose(t);
  if (written < 0) throw FormatError(f.where(name) + ": write failed");
}

}  // namespace

std::uintmax_t SurfaceFile::bytes_needed(const SurfaceIdentity& id) {
  // The values, `seconds` and `done` over the grid, the coordinates, the run log, and 32 KiB for
  // HDF5's metadata and the attributes (about 9 kB in practice): an upper bound, checked against
  // the free space before the file is made.
  const auto points = std::uintmax_t(id.grid.size());
  const auto coordinates = std::uintmax_t(id.grid.x.num + (id.grid.has_y ? id.grid.y.num : 0));
  return points * (8 * (id.values.size() + 1) + 1) + 8 * coordinates + kRunLogBytes +
         (std::uintmax_t(1) << 15);
}

std::string SurfaceFile::size_text(std::uintmax_t b) {
  char s[32];
  if (b < 1000000)
    std::snprintf(s, sizeof s, "%.3g kB", double(b) / 1e3);
  else if (b < 1000000000)
    std::snprintf(s, sizeof s, "%.3g MB", double(b) / 1e6);
  else
    std::snprintf(s, sizeof s, "%.3g GB", double(b) / 1e9);
  return s;
}

std::string SurfaceFile::resume_verdict(const std::string& path, const SurfaceIdentity& id) {
  try {
    // (an empty file at the name is replaced, as every output of losscape replaces one)
    std::error_code ec;
    const bool exists = std::filesystem::exists(path, ec);
    if (ec) return path + ": cannot be looked at (" + ec.message() + ")";
    if (!exists || h5::is_empty_file(path)) {
      // A file system that cannot hold it is named now, not after a creation that fills it
      // (a typo in --x/--y can ask for terabytes).
      const auto parent = std::filesystem::absolute(link_target(path), ec).parent_path();
      const auto space = std::filesystem::space(parent, ec);
      const std::uintmax_t need = bytes_needed(id);
      if (!ec && need > space.available)
        return path + ": a surface of " + std::to_string(id.grid.size()) + " points (" +
               id.grid.x.str() + (id.grid.has_y ? " x " + id.grid.y.str() : std::string()) +
               ") takes " + size_text(need) + ", and " + parent.string() + " has " +
               size_text(space.available) + " free";
      return "create";
    }
    const h5::File f(path, h5::File::Mode::read);
    auto have = read_identity(f, path);
    auto want = id.to_json();
    // The computed values (the splits) before the data's hashes, which differ with them: "its
    // computed values are [train_loss, ...]" says what is wrong, the hashes do not.
    for (const auto& k : SurfaceIdentity::keys_in_order(want, have)) {
      if (!want.contains(k)) continue;
      const auto& v = want[k];
      // (an entry the file lacks that files of earlier versions lack: resumed without the check)
      if (have.contains(k) ? have[k] != v : !SurfaceIdentity::added_later(k)) {
        // (directions of another file: the one the surface records is named, the likely slip
        // being a resume without its --directions)
        std::string swept_along;
        if (k == "directions_fingerprint" && f.has_attr("config")) {
          const auto cfg = nlohmann::json::parse(f.attr_string("config"), nullptr, false);
          if (cfg.is_object() && cfg.contains("directions") && cfg["directions"].is_string() &&
              !cfg["directions"].get<std::string>().empty() && cfg["directions"] != id.dir_file)
            swept_along = " (its direction file is " + cfg["directions"].get<std::string>() +
                          ", this command's " + id.dir_file + ": resume with --directions " +
                          cfg["directions"].get<std::string>() + ")";
        }
        return path + " belongs to another sweep: " + SurfaceIdentity::its(k) + SurfaceIdentity::shown(have, k, "none") +
               ", this command has " + SurfaceIdentity::shown(want, k, "none") + swept_along +
               "; refusing to resume (the file is left untouched; use another --out)";
      }
    }
    for (auto& [k, v] : have.items())
      if (!want.contains(k))
        return path + " belongs to another sweep: " + SurfaceIdentity::its(k) + shown_json(v) +
               ", this command has " + SurfaceIdentity::shown(want, k, "none") +
               "; refusing to resume (the file is left untouched; use another --out)";
    check_layout(f, have, path, /*resume=*/true);
    // (a read-only file system or bind mount; the ranks would fail one by one opening it)
    if (::access(path.c_str(), W_OK) != 0)
      return path + ": cannot be written (" + std::strerror(errno) + "), so it cannot be resumed";
    return "open";
  } catch (const Error& e) {
    return e.what();
  }
}

std::vector<std::string> SurfaceIdentity::keys_in_order(const nlohmann::json& a, const nlohmann::json& b) {
  static const std::vector<std::string> first = {
      "values", "x", "y", "dataset", "samples", "subset_seed", "raw_data", "loss", "network", "model_fingerprint",
      "buffers_fingerprint", "directions_fingerprint", "precision", "hessian", "part"};
  std::set<std::string> all;
  for (const auto* j : {&a, &b})
    if (j->is_object())
      for (auto& [k, v] : j->items()) all.insert(k);
  std::vector<std::string> keys;
  for (const auto& k : first)
    if (all.erase(k)) keys.push_back(k);
  const bool data = all.erase("data") > 0;
  keys.insert(keys.end(), all.begin(), all.end());  // (alphabetical)
  if (data) keys.push_back("data");
  return keys;
}

bool SurfaceIdentity::added_later(const std::string& key) {
  return key == "data" || key == "buffers_fingerprint" || key == "network";
}

SurfaceFile::SurfaceFile(const std::string& path, const SurfaceIdentity& id,
                         const nlohmann::json& config, const mpi::Comm& comm)
    : path_(path), id_(id), comm_(comm) {
  // Rank 0 decides create vs open and, for open, whether the file matches; all ranks then act.
  std::string verdict;  // "create", "open" or an error message
  if (comm.root()) verdict = resume_verdict(path, id);
  comm.bcast(verdict);
  if (verdict != "create" && verdict != "open") throw InputError(verdict);
  created_ = verdict == "create";

  if (created_) {
    // Made under a temporary name and renamed when complete, so that a creation killed or
    // failed half-way (SIGKILL, a full disk) never leaves a file that the next run cannot open:
    // the path either does not exist or holds a whole surface. A leftover temporary of such a
    // creation is overwritten (the caller holds the surface's lock).
    // (through a link at the name: the file is made where it leads, the link stays)
    const std::string real = link_target(path);
    const std::string tmp = real + ".creating";
    // (a leftover is removed first: truncating it would write through a link of that name into
    // the file it leads to, and the rename below would make the surface that link)
    std::string cleared;
    if (comm.root()) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      if (ec) cleared = tmp + ": cannot remove this leftover of an earlier creation (" + ec.message() + ")";
    }
    comm.bcast(cleared);
    if (!cleared.empty()) throw InputError(cleared);
    file_ = h5::File(tmp, h5::File::Mode::truncate, comm.get());
    try {
      create_layout(id, config);
      file_.close();  // collective
    } catch (const std::exception& e) {
      // Some ranks may be inside a collective call that will never complete: end the job. (The
      // MPI-IO driver does not say why a write failed: a full disk is named here.)
      const std::string why = e.what() + space_note(path);
      std::error_code ec;
      // The half-made temporary goes first, also when the job ends here (any rank may remove
      // it: the caller holds the surface's lock, and the others' open handles do not matter).
      std::filesystem::remove(tmp, ec);
      if (comm.size() > 1) mpi::abort_job(why, kExitError);
      file_ = h5::File();  // (closed unchecked: the error above is the one to report)
      if (why != e.what()) throw FormatError(why);
      throw;
    }
    std::string renamed;
    if (comm.root()) {
      // (on the disk before it takes the name, and the name after, as h5::write_whole does: a
      // node crash never leaves a name holding a torn layout)
      h5::sync_to_disk(tmp);
      std::error_code ec;
      std::filesystem::rename(tmp, real, ec);
      if (ec) renamed = real + ": cannot rename " + tmp + " to it (" + ec.message() + ")";
      else h5::sync_folder_of(real);
    }
    comm.bcast(renamed);
    if (!renamed.empty()) throw InputError(renamed);
    file_ = h5::File(path, h5::File::Mode::readwrite, comm.get());
  } else {
    file_ = h5::File(path, h5::File::Mode::readwrite, comm.get());
    // The temporary of a creation killed before its rename, left beside the file: nobody's (the
    // caller holds the surface's lock)
    if (comm.root()) {
      std::error_code ec;
      std::filesystem::remove(link_target(path) + ".creating", ec);
    }
  }
  struct stat st {};
  if (comm.root() && ::stat(path.c_str(), &st) == 0) device_ = st.st_dev, inode_ = st.st_ino;
}

std::string SurfaceFile::moved_away() const {
  if (!comm_.root() || inode_ == 0) return "";
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && st.st_dev == device_ && st.st_ino == inode_) return "";
  return path_ + " no longer names the file this sweep wrote: it was moved, deleted or replaced "
                 "while the sweep ran (if moved, its points are under the new name; if deleted, "
                 "they are lost)";
}

void SurfaceFile::create_layout(const SurfaceIdentity& id, const nlohmann::json& rank_config) {
  // Every collective creation call happens on all ranks in the same order with equal values.
  // The texts are rank 0's: the ranks' own spellings of a path (./d.h5 and d.h5, or relative to
  // another working folder) give attributes and a dir_file of other sizes, on which HDF5's
  // collective metadata writes hung or left a damaged file (the sweep compares what the paths
  // hold, not how they are written).
  std::string identity_text = id.to_json().dump(), config_text = rank_config.dump(), dir_file = id.dir_file;
  comm_.bcast(identity_text);
  comm_.bcast(config_text);
  comm_.bcast(dir_file);
  const nlohmann::json config = nlohmann::json::parse(config_text);
  auto xs = id.grid.x.coordinates();
  auto xd = file_.create_dataset("xcoordinates", h5::Type::f64, {hsize_t(xs.size())});
  std::vector<double> ys;
  h5::Dataset* yd = nullptr;
  std::optional<h5::Dataset> ydset;
  if (id.grid.has_y) {
    ys = id.grid.y.coordinates();
    ydset.emplace(file_.create_dataset("ycoordinates", h5::Type::f64, {hsize_t(ys.size())}));
    yd = &*ydset;
  }
  auto dims = dims_of(id.grid);
  std::vector<h5::Dataset> values;
  for (auto& name : id.values)
    values.push_back(file_.create_dataset(name, h5::Type::f64, dims, kNotComputed));
  auto done = file_.create_dataset("done", h5::Type::u8, dims, 0.0);
  auto secs = file_.create_dataset("seconds", h5::Type::f64, dims, kNotComputed);
  auto log = file_.create_dataset("run_log", h5::Type::u8, {hsize_t(kRunLogBytes)}, 0.0);
  write_string_dataset(file_, "dir_file", dir_file);
  file_.set_attr("format", std::string("losscape-surface"));
  file_.set_attr("format_version", std::int64_t(kSurfaceFormatVersion));
  file_.set_attr("identity", identity_text);
  file_.set_attr("config", config_text);
  h5::set_version_attrs(file_);
  file_.set_attr("points_total", std::int64_t(id.grid.size()));
  file_.set_attr("dataset", id.dataset);
  file_.set_attr("loss", id.loss);
  if (config.contains("arch")) file_.set_attr("arch", config["arch"].get<std::string>());
  if (config.contains("model_file"))
    file_.set_attr("model_file", config["model_file"].get<std::string>());
  // Coordinates: rank 0 writes, everyone takes part (collective with empty selections).
  std::vector<hsize_t> all_x, all_y;
  if (comm_.root()) {
    for (hsize_t i = 0; i < xs.size(); ++i) all_x.push_back(i);
    for (hsize_t i = 0; i < ys.size(); ++i) all_y.push_back(i);
  }
  xd.write_points(h5::Type::f64, all_x, xs.data(), true);
  if (yd) yd->write_points(h5::Type::f64, all_y, ys.data(), true);
  file_.flush();
}

nlohmann::json SurfaceFile::read_identity(const std::string& path) {
  return read_identity(h5::File(path, h5::File::Mode::read), path);
}

nlohmann::json SurfaceFile::read_identity(const h5::File& f, const std::string& path) {
  if (!f.has_attr("format")) {
    if (f.exists("xcoordinates"))  // the Python reference's layout: no record of what is done
      throw FormatError(path + ": a surface in the Python reference's layout, which losscape "
                               "reads (info, plot, export) but does not resume or merge; sweep "
                               "into a new file");
    throw FormatError(path + ": not a losscape surface file (no format attribute)");
  }
  if (f.attr_string("format") != "losscape-surface")
    throw FormatError(path + ": not a losscape surface file (its format is " +
                      f.attr_string("format") + ")");
  check_version(f, path);
  nlohmann::json identity;
  try {
    identity = nlohmann::json::parse(f.attr_string("identity"));
  } catch (const nlohmann::json::exception&) {
    throw FormatError(path + ": attribute 'identity' is not JSON");
  }
  // Its grid as this version writes it, for every reader that compares it (resume, merge): a MIN
  // or MAX of -0 was written "-0" before 2026-12-06, now "0" (the same grid)
  for (const char* axis : {"x", "y"})
    if (identity.is_object() && identity.contains(axis) && identity[axis].is_string() &&
        !identity[axis].get<std::string>().empty()) try {
        identity[axis] = parse_axis(identity[axis].get<std::string>()).str();
      } catch (const InputError&) {
        // (a damaged grid: check_layout names it)
      }
  return identity;
}

void SurfaceFile::check_version(const h5::File& f, const std::string& path) {
  if (f.has_attr("format_version") && f.attr_int("format_version") > kSurfaceFormatVersion)
    throw FormatError(path + ": written by a newer losscape (surface format version " +
                      std::to_string(f.attr_int("format_version")) + "; this one reads up to " +
                      std::to_string(kSurfaceFormatVersion) + ")");
}

void SurfaceFile::check_layout(const h5::File& f, const nlohmann::json& identity,
                               const std::string& path, bool resume) {
  auto damaged = [&](const std::string& what) {
    return FormatError(path + ": " + what + " (a damaged surface file, or not one written by losscape)");
  };
  if (!identity.is_object() || !identity.contains("x") || !identity["x"].is_string() ||
      !identity.contains("values") || !identity["values"].is_array())
    throw damaged("attribute 'identity' lacks its grid or its values");
  // The entries that readers take by their type (merge, info): one of another type is named here,
  // not by a JSON type error of the first reader that names no file.
  for (const auto& [key, v] : identity.items()) {
    static const std::map<std::string, std::string> kinds = {
        {"x", "text"}, {"y", "text"}, {"dataset", "text"}, {"loss", "text"}, {"part", "text"},
        {"precision", "text"}, {"model_fingerprint", "text"}, {"buffers_fingerprint", "text"}, {"network", "text"},
        {"directions_fingerprint", "text"}, {"samples", "an integer"}, {"subset_seed", "an integer"},
        {"raw_data", "true or false"}, {"hessian", "an object"}, {"data", "an object"}};
    const auto kind = kinds.find(key);
    if (kind == kinds.end()) continue;
    const std::string& want = kind->second;
    const bool ok = want == "text"         ? v.is_string()
                    : want == "an integer" ? v.is_number_integer()
                    : want == "an object"  ? v.is_object()
                                           : v.is_boolean();
    if (!ok) throw damaged("its identity's '" + key + "' is " + shown_json(v) + ", not " + want);
  }
  Grid g;
  try {
    const auto y = identity.value("y", nlohmann::json("")).is_string()
                       ? identity.value("y", std::string())
                       : std::string("?");
    g = parse_grid(identity["x"].get<std::string>(), y);
  } catch (const InputError& e) {
    throw damaged("its identity's grid is not one (" + std::string(e.what()) + ")");
  }
  const auto part = identity.value("part", nlohmann::json("")).is_string()
                        ? identity.value("part", std::string())
                        : std::string("?");
  if (!part.empty()) {
    try {
      parse_part_text(part);
    } catch (const InputError&) {
      throw damaged("its identity's part '" + part + "' is not K/N with 1 <= K <= N");
    }
  }
  // (its settings, which info shows and merge reads: a resume finished a file whose config was
  // not JSON, and merge refused the finished file)
  if (!f.has_attr("config") ||
      !nlohmann::json::parse(f.attr_string("config"), nullptr, false).is_object())
    throw damaged("attribute 'config' is missing or not a JSON object");
  std::map<std::string, std::string> objects;  // (each dataset's object: one name each)
  auto expect = [&](const std::string& name, h5::Type type, const std::vector<hsize_t>& dims) {
    if (!f.exists(name)) throw damaged("dataset '" + name + "' is missing");
    // (a resume writes its points there: through a soft link into another dataset, through an
    // external one into another file; through a second hard link, into the other name's values)
    const std::string object = f.hard_link_object(name);
    if (object.empty()) throw damaged("'" + name + "' is a link, not a dataset of its own");
    if (const auto [it, fresh] = objects.emplace(object, name); !fresh)
      throw damaged("'" + name + "' and '" + it->second + "' are one dataset under two names (hard links)");
    auto d = f.dataset(name);
    // (for a resume the size too: a float16 copy stored new losses at half precision; a reader
    // takes any float or integer)
    bool type_ok = false;
    try {
      type_ok = resume ? d.written_as(type) : d.type() == type;
    } catch (const Error&) {
    }
    auto shape = [](const std::vector<hsize_t>& v) {
      std::string t = "(";
      for (std::size_t i = 0; i < v.size(); ++i) t += (i ? ", " : "") + std::to_string(v[i]);
      return t + ")";
    };
    if (d.dims() != dims)
      throw damaged("dataset '" + name + "' has shape " + shape(d.dims()) + ", the grid needs " +
                    shape(dims));
    if (!type_ok) throw damaged("dataset '" + name + "' is not of the type losscape writes");
    // A resume overwrites values in place, through MPI-IO, where a round killed midway leaves
    // the other points as they were: chunks (h5repack's compression) move and index their data.
    if (resume && !d.contiguous())
      throw FormatError(path + ": dataset '" + name + "' is chunked or compressed (h5repack?), "
                        "not the contiguous layout losscape resumes in place (`h5repack -f "
                        "NONE -l CONTI` makes a copy that resumes)");
  };
  const auto dims = dims_of(g);
  expect("xcoordinates", h5::Type::f64, {hsize_t(g.x.num)});
  if (g.has_y) expect("ycoordinates", h5::Type::f64, {hsize_t(g.y.num)});
  for (auto& n : identity["values"]) {
    if (!n.is_string()) throw damaged("its identity's values are not dataset names");
    expect(n.get<std::string>(), h5::Type::f64, dims);
  }
  expect("seconds", h5::Type::f64, dims);
  expect("done", h5::Type::u8, dims);
  expect("run_log", h5::Type::u8, {hsize_t(kRunLogBytes)});
  // The coordinates are those of the grid (a resume computes at the grid's).
  auto same = [](const std::vector<double>& a, const std::vector<double>& b) {
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!(std::abs(a[i] - b[i]) <= 1e-12 * std::max(1.0, std::abs(b[i])))) return false;
    return true;
  };
  if (!same(f.dataset("xcoordinates").read_doubles(), g.x.coordinates()) ||
      (g.has_y && !same(f.dataset("ycoordinates").read_doubles(), g.y.coordinates())))
    throw damaged("its coordinates are not those of its grid " + g.x.str() +
                  (g.has_y ? " x " + g.y.str() : std::string()));
  // The completion mask holds 0 (to compute) and 1 (done) only: another value is damage, which
  // a resume would otherwise take for done.
  auto done = f.dataset("done");
  std::vector<std::uint8_t> m(done.size());
  done.read(h5::Type::u8, m.data());
  for (std::size_t i = 0; i < m.size(); ++i)
    if (m[i] > 1)
      throw damaged("its completion mask 'done' holds " + std::to_string(int(m[i])) +
                    " at point " + std::to_string(i) + " (0 or 1 expected)");
}

std::vector<std::uint8_t> SurfaceFile::done_mask() const {
  auto d = file_.dataset("done");
  std::vector<std::uint8_t> m(d.size());
  d.read(h5::Type::u8, m.data());
  return m;
}

std::vector<double> SurfaceFile::values(const std::string& name) const {
  return file_.dataset(name).read_doubles();
}

int SurfaceFile::write_round(const std::vector<PointResult>& mine) {
  std::vector<hsize_t> idx;
  idx.reserve(mine.size());
  for (auto& p : mine) idx.push_back(hsize_t(p.index));
  std::vector<double> buf(mine.size());
  int mode = 0;
  for (std::size_t v = 0; v < id_.values.size(); ++v) {
    for (std::size_t i = 0; i < mine.size(); ++i) buf[i] = mine[i].values.at(v);
    mode = file_.dataset(id_.values[v]).write_points(h5::Type::f64, idx, buf.data(), true);
  }
  for (std::size_t i = 0; i < mine.size(); ++i) buf[i] = mine[i].seconds;
  file_.dataset("seconds").write_points(h5::Type::f64, idx, buf.data(), true);
  // The mask goes last: a point is marked done only once its values are in the file, on the
  // disk (a flush between them: a client's write-back cache, NFS or Lustre, may otherwise put the
  // mask on the server before the values another aggregator wrote, and a node that then crashed
  // left points marked done with -1 for values).
  file_.flush();
  std::vector<std::uint8_t> ones(mine.size(), 1);
  mode = file_.dataset("done").write_points(h5::Type::u8, idx, ones.data(), true);
  file_.flush();
  return mode;
}

void SurfaceFile::write_run_log(const nlohmann::json& log) {
  std::string text;
  if (comm_.root()) {
    // The most recent runs that fit (the dataset has a fixed size), merge entries given up
    // before runs: a loop merging into the same output every few minutes added one each time,
    // and after ~200 the sweeps' own runs were dropped. An entry that alone would not fit loses
    // its largest fields, so that the log always stays valid JSON.
    nlohmann::json fit = log;
    const std::size_t room = kRunLogBytes - 1024;
    while (fit.is_array() && fit.size() > 1 && fit.dump().size() > room) {
      const auto merge = std::find_if(fit.begin(), fit.end() - 1, [](const nlohmann::json& e) {
        return e.is_object() && e.contains("merge");
      });
      fit.erase(merge != fit.end() - 1 ? merge : fit.begin());
    }
    static const nlohmann::json left_out = "(left out: too large for the run log)";
    while (fit.dump().size() > room && fit.is_array() && !fit.empty() && fit.back().is_object()) {
      std::string largest;
      std::size_t size = 0;
      for (auto& [k, v] : fit.back().items())
        if (v != left_out && v.dump().size() > size) size = v.dump().size(), largest = k;
      if (largest.empty()) break;
      fit.back()[largest] = left_out;
    }
    text = fit.dump();
    if (text.size() >= kRunLogBytes) text = "[]";  // (not reached: a last resort that stays JSON)
  }
  std::vector<std::uint8_t> buf(kRunLogBytes, 0);
  std::memcpy(buf.data(), text.data(), text.size());
  std::vector<hsize_t> idx;
  if (comm_.root())
    for (hsize_t i = 0; i < kRunLogBytes; ++i) idx.push_back(i);
  file_.dataset("run_log").write_points(h5::Type::u8, idx, buf.data(), true);
  file_.flush();
}

nlohmann::json SurfaceFile::run_log() const {
  auto d = file_.dataset("run_log");
  std::vector<char> buf(d.size() + 1, '\0');
  d.read(h5::Type::u8, buf.data());
  std::string s(buf.data());
  if (s.empty()) return nlohmann::json::array();
  // (damaged: said by the caller, which starts a new log)
  return nlohmann::json::parse(s, nullptr, /*allow_exceptions=*/false);
}

const std::vector<double>* SurfaceData::get(const std::string& name) const {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return &values[i];
  return nullptr;
}

SurfaceData read_surface(const std::string& path, bool values) {
  SurfaceData s;
  h5::File f(path, h5::File::Mode::read);
  s.identity = SurfaceFile::read_identity(f, path);
  SurfaceFile::check_layout(f, s.identity, path);
  s.x = f.dataset("xcoordinates").read_doubles();
  if (f.exists("ycoordinates")) s.y = f.dataset("ycoordinates").read_doubles();
  for (auto& n : s.identity["values"]) s.names.push_back(n.get<std::string>());
  if (!values) return s;
  auto d = f.dataset("done");
  s.done.resize(d.size());
  d.read(h5::Type::u8, s.done.data());
  for (auto& n : s.names) s.values.push_back(f.dataset(n).read_doubles());
  return s;
}

}  // namespace losscape
