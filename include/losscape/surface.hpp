// The surface file: one HDF5 file per sweep, opened by all ranks with MPI-IO. Created with every
// dataset allocated in full (so a sweep afterwards changes raw data only, never HDF5 metadata,
// and a file killed at any moment opens and resumes), checked against the command on resume,
// written in collective rounds. Layout: docs/file-formats.md ("Surface files").
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "losscape/grid.hpp"
#include "losscape/h5.hpp"
#include "losscape/mpi.hpp"

namespace losscape {

/// What identifies a surface: a resumed file must agree on all of it.
struct SurfaceIdentity {
  Grid grid;
  std::vector<std::string> values;  ///< dataset names, e.g. train_loss, train_acc, test_loss...
  std::string dataset;
  std::int64_t samples = 0;
  std::uint64_t subset_seed = 0;
  bool raw = false;
  std::string loss;
  std::string model_fingerprint;
  /// Fingerprint of θ*'s buffers an evaluation reads (eval_buffers: BatchNorm statistics), which
  /// change the surface as much as the weights do. Empty in files of earlier versions (and their
  /// merges), which resume and merge without the check.
  std::string buffers_fingerprint;
  /// What the weights go through (Model::network(): the zoo architecture, or a TorchScript
  /// module's code fingerprint): the same weights in a module of other code give another
  /// surface (no two zoo networks have the same tensors, which model_fingerprint covers). Empty
  /// in files of earlier versions, which resume and merge without the check.
  std::string network;
  std::string directions_fingerprint;
  std::string dir_file;
  std::string part;  ///< "k/K" for a fan-out part file, empty for a whole surface
  nlohmann::json hessian;  ///< Hessian map settings (split, parameters, tolerance); null if none
  std::string precision = "fp32";  ///< arithmetic of the forward pass (stored only when not fp32)
  /// {split: hash of its files as read (DataSplit::fingerprint)}: a resume or a part on another
  /// copy of the data set (other labels, another version) is refused. Null in files of earlier
  /// versions, which resume and merge without the check.
  nlohmann::json data;
  nlohmann::json to_json() const;
  /// Entry `key` of an identity (to_json's form) as JSON text for messages: `absent` when it has
  /// none, but "fp32" for the precision, which an identity records only when it is not fp32.
  static std::string shown(const nlohmann::json& identity, const std::string& key,
                           const std::string& absent);
  /// What entry `key` of an identity is, for messages ("--x grid", "model (θ* fingerprint)").
  static std::string describe(const std::string& key);
  /// "its DESCRIPTION is " / "are " (the plural ones: computed values, directions, ...).
  static std::string its(const std::string& key);
  /// The keys of two identities, in the order a difference is best named in: what the user chose
  /// (values, grid, data set and subset, loss, model, directions ...) first, the data's hashes,
  /// which differ with the splits and subsets, last.
  static std::vector<std::string> keys_in_order(const nlohmann::json& a, const nlohmann::json& b);
  /// Whether entry `key` is one that files of earlier versions lack ("data",
  /// "buffers_fingerprint", "network"): compared only where both identities have it.
  static bool added_later(const std::string& key);
};
/// One computed point: its flat index ([y][x]), its values in `SurfaceIdentity::values` order,
/// and the seconds it took.
struct PointResult {
  std::int64_t index = 0;
  std::vector<double> values;
  double seconds = 0;
};

/// The longest file name a surface may have (the folders above it do not count): Open MPI's
/// MPI-IO names a file of its own after it (shared file pointers, in its session folder); from
/// ~229 characters on opening failed, above ~235 the process aborted.
inline constexpr std::size_t kMaxSurfaceName = 200;
/// Throws InputError ("--out NAME: a file name of N characters; at most 200 ...") when `out`'s
/// file name is longer: for sweep, and for merge, whose output a sweep resumes.
void check_surface_name(const std::string& out);
/// A surface value that is an accuracy in percent (train_acc, test_acc; SPLIT_acc).
bool is_accuracy_name(const std::string& name);
/// The directions a sweep makes for a surface file when it is given none: NAME.dirs.h5 beside
/// NAME.h5 (a merge of parts that made their own copies one for the merged file).
std::string default_dir_file(const std::string& surface);

/// Marker dataset values for "not computed" in the reference layout.
inline constexpr double kNotComputed = -1.0;
/// Bytes reserved for the run log (JSON text) written as raw data.
inline constexpr std::size_t kRunLogBytes = 1 << 16;

class SurfaceFile {
 public:
  /// Create (if absent) or open and validate `path`, collectively over `comm`. `config` is the
  /// effective configuration stored as provenance. Throws InputError on every rank with the same
  /// message if the file belongs to another command (grid, directions, model, data, loss).
  SurfaceFile(const std::string& path, const SurfaceIdentity& id, const nlohmann::json& config,
              const mpi::Comm& comm);
  /// Open an existing surface read-only, serially (plot, merge, info).
  static nlohmann::json read_identity(const std::string& path);
  /// The same, of a file already open (`path` names it in errors).
  static nlohmann::json read_identity(const h5::File& f, const std::string& path);
  /// Throws FormatError naming `path` unless the file holds what its identity says: a grid and
  /// part that parse, every value dataset, `seconds` and `done` in the grid's shape and type,
  /// the coordinates of the grid, and the run log. Run before a file is resumed or read; for a
  /// resume (values written in place) also each dataset's exact type and contiguous layout.
  static void check_layout(const h5::File& f, const nlohmann::json& identity,
                           const std::string& path, bool resume = false);
  /// Throws FormatError naming `path` when the file is of a newer format version than this
  /// losscape reads.
  static void check_version(const h5::File& f, const std::string& path);
  /// What the constructor would do with `path`, decided serially and read-only: "create" (no
  /// file), "open" (a file of this sweep, to resume) or the message refusing it.
  static std::string resume_verdict(const std::string& path, const SurfaceIdentity& id);
  /// The bytes a new surface of `id` takes on disk (its space is allocated at creation): the
  /// value datasets, `seconds` and `done` over the whole grid, the run log, and HDF5's metadata.
  static std::uintmax_t bytes_needed(const SurfaceIdentity& id);
  /// A size for people: "25.1 MB", "1.2 GB".
  static std::string size_text(std::uintmax_t bytes);

  bool created() const { return created_; }
  const std::string& path() const { return path_; }
  /// Rank 0: "" while `path` still names the file opened, else a message saying it was moved,
  /// deleted or replaced meanwhile (the ranks' writes went to the file they had open). Other
  /// ranks: "".
  std::string moved_away() const;
  /// The completion mask (1 = done), flat [y][x]; read on every rank.
  std::vector<std::uint8_t> done_mask() const;
  /// Value dataset `name` (one of the identity's values), flat [y][x]; read on every rank.
  std::vector<double> values(const std::string& name) const;
  /// Collective: every rank passes its finished points (possibly none). Values are written first,
  /// the done mask after, then the file is flushed. Returns the MPI-IO mode HDF5 actually used for
  /// the last write (H5D_MPIO_CONTIGUOUS_COLLECTIVE etc.), for the test that proves collectiveness.
  int write_round(const std::vector<PointResult>& mine);
  /// Collective: rank 0's `log` JSON replaces the run log (raw data, no metadata change).
  void write_run_log(const nlohmann::json& log);
  /// The run log as JSON (discarded when it is not JSON: a damaged file).
  nlohmann::json run_log() const;
  /// Collective: closes the file, checked (h5::File::close); the destructor closes unchecked.
  void close() { file_.close(); }

 private:
  /// Create every dataset and attribute of a new surface in file_ (collective).
  void create_layout(const SurfaceIdentity& id, const nlohmann::json& config);
  std::string path_;
  SurfaceIdentity id_;
  const mpi::Comm& comm_;
  h5::File file_;
  bool created_ = false;
  std::uint64_t device_ = 0, inode_ = 0;  // of the file opened (rank 0), for moved_away
};

/// Read a whole value dataset (flat [y][x]) and the done mask of a surface file, serially;
/// `values` false: the identity (checked against the file's layout), coordinates and value names
/// alone.
struct SurfaceData {
  nlohmann::json identity;
  std::vector<double> x, y;
  std::vector<std::uint8_t> done;
  std::vector<std::string> names;
  std::vector<std::vector<double>> values;
  const std::vector<double>* get(const std::string& name) const;
};
SurfaceData read_surface(const std::string& path, bool values = true);

}  // namespace losscape
