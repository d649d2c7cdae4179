// Thin RAII layer over the HDF5 C API: handles that close themselves, checked calls that throw
// losscape::Error naming the file and object, serial and MPI-IO file access, collective writes.
// Nothing here knows about models or sweeps.
#pragma once
#include <hdf5.h>
#include <mpi.h>

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace losscape::h5 {

/// Owns one hid_t and closes it with the right H5?close; movable, not copyable.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset();
  /// Gives up the id without closing it (the caller closes it and checks the result).
  hid_t release() {
    const hid_t id = id_;
    id_ = H5I_INVALID_HID;
    return id;
  }
  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

/// Turn off HDF5's own file locking for this process (it breaks MPI-IO on Lustre/NFS); called by
/// every open/create, so users never need HDF5_USE_FILE_LOCKING.
/// fsync of a file or (flags O_DIRECTORY) a folder, at best effort: a file system without it
/// loses only the crash-safety it would add.
void sync_to_disk(const std::string& path, int flags = 0);
/// sync_to_disk of the folder holding `path` (after a rename into it: the new entry on the disk).
void sync_folder_of(const std::string& path);
void disable_file_locking();
/// True when the file starts with the HDF5 signature.
bool is_hdf5(const std::string& path);
/// Writes `path` whole or not at all: `write(tmp)` makes the file at tmp = path + suffix (a
/// leftover of an earlier, killed attempt is removed first), which is then renamed over
/// `path`. On any failure the temporary is removed and `path` is left as it was; so on SIGINT,
/// SIGTERM or SIGHUP while it is written (Ctrl-C, scancel), where this process has not taken
/// those signals itself: the temporary is removed and the signal then ends the process.
void write_whole(const std::string& path, const std::string& suffix,
                 const std::function<void(const std::string& tmp)>& write);
/// While it lives, SIGINT, SIGTERM and SIGHUP remove `paths` (temporaries being written; 8 at
/// most) and then end the process as they would have: a Ctrl-C or scancel during a long write
/// (a direction file of a large network, a figure) left NAME.PID.writing behind. A child made by
/// fork_child (gnuplot writing them) is killed and waited for first. Signals this process handles
/// itself (a sweep's or training's stop) or ignores (a background job's SIGINT) are left to it;
/// a guard inside another one leaves the outer one's in place.
class RemovedOnSignal {
 public:
  explicit RemovedOnSignal(const std::vector<std::string>& paths);
  ~RemovedOnSignal();
  RemovedOnSignal(const RemovedOnSignal&) = delete;
  RemovedOnSignal& operator=(const RemovedOnSignal&) = delete;
  /// fork(), the child ended by the signals above while it runs; in the child (0) the signals
  /// are at their defaults again, ready for exec.
  pid_t fork_child();
  /// waitpid's status of the child `pid` once it has ended (a signal then no longer ends it).
  int wait_child(pid_t pid);

 private:
  std::array<bool, 3> installed_{};
  bool owner_ = false;
};
/// ".PID" + suffix: the temporary suffix of an output that no lock guards (directions,
/// projections, figures, exports), so that two processes writing the same name at once never
/// write into, remove or rename each other's temporaries (one of them wins whole).
std::string own_suffix(const std::string& suffix);
/// An empty regular file at `path`: what every output of losscape replaces, as if nothing were
/// there (links followed; false when there is nothing, or it cannot be read).
bool is_empty_file(const std::string& path);
/// Refuses (an InputError naming the file) to let an output replace what is at `path` unless it
/// is a `what` already (is_one true) or an empty file: a folder, a device, or a file of another
/// kind (a surface computed for hours, given to --out by mistake) is left alone.
void check_replaceable(const std::string& path, const std::string& what,
                       const std::function<bool(const std::string& path)>& is_one);

/// Element types losscape stores.
enum class Type { f32, f64, i64, u8 };
hid_t native(Type t);

class Object;
class Dataset;

/// An HDF5 group or file: the things that hold datasets, groups and attributes.
class Location {
 public:
  Location() = default;
  Location(Handle h, std::string file, std::string path)
      : h_(std::move(h)), file_(std::move(file)), path_(std::move(path)) {}
  hid_t id() const { return h_.id(); }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  /// "file.h5:/group/name", for messages.
  std::string where(const std::string& name = "") const;

  bool exists(const std::string& name) const;
  /// The object a hard link `name` (a direct member) leads to, as bytes that are equal for two
  /// names of one object (its address in the file); "" when `name` is no hard link (a soft or
  /// external link to another place or file).
  std::string hard_link_object(const std::string& name) const;
  Location group(const std::string& name) const;          // open
  Location create_group(const std::string& name) const;   // create (ordered links)
  Location require_group(const std::string& name) const;  // open or create
  /// Names of links in creation order where tracked, else name order.
  std::vector<std::string> children() const;

  Dataset dataset(const std::string& name) const;
  /// Create a contiguous dataset with all storage allocated now and filled with `fill`.
  Dataset create_dataset(const std::string& name, Type t, const std::vector<hsize_t>& dims,
                         std::optional<double> fill = std::nullopt) const;

  // attributes (on this group/file)
  bool has_attr(const std::string& name) const;
  void set_attr(const std::string& name, const std::string& value) const;
  void set_attr(const std::string& name, double value) const;
  void set_attr(const std::string& name, std::int64_t value) const;
  void set_attr(const std::string& name, const std::vector<double>& value) const;
  void set_attr(const std::string& name, const std::vector<std::int64_t>& value) const;
  void set_attr(const std::string& name, const std::vector<std::string>& value) const;
  std::string attr_string(const std::string& name) const;
  double attr_double(const std::string& name) const;
  std::int64_t attr_int(const std::string& name) const;
  std::vector<double> attr_doubles(const std::string& name) const;
  std::vector<std::int64_t> attr_ints(const std::string& name) const;
  std::vector<std::string> attr_strings(const std::string& name) const;

 protected:
  Handle h_;
  std::string file_, path_;
};

/// An open HDF5 file. Serial or, with a communicator, MPI-IO (all ranks must call together).
class File : public Location {
 public:
  enum class Mode { read, readwrite, create /* fails if it exists */, truncate };
  File() = default;
  File(const std::string& path, Mode mode, MPI_Comm comm = MPI_COMM_NULL);
  void flush() const;
  bool parallel() const { return parallel_; }
  /// Closes the file, checking H5Fclose (which writes what HDF5 still caches: a failure there
  /// on a full disk leaves a torn file): throws FormatError naming the file. Collective with MPI-IO.
  /// The destructor closes without a check (for files read, or after an error).
  void close();

 private:
  bool parallel_ = false;
};

/// Records which losscape wrote the file: the attributes `losscape_version` and
/// `losscape_revision` (the source's git revision, "unknown" outside a checkout).
void set_version_attrs(const Location& file);

/// A dataset with typed whole and partial I/O.
class Dataset {
 public:
  Dataset(Handle h, std::string where) : h_(std::move(h)), where_(std::move(where)) {}
  hid_t id() const { return h_.id(); }
  const std::string& where() const { return where_; }
  std::vector<hsize_t> dims() const;
  std::size_t size() const;
  /// The stored class/size mapped to a losscape Type (throws for other types): any float
  /// (half, quad) reads as f64, any integer wider than a byte as i64.
  Type type() const;
  /// Whether the stored type is `t` itself in size (f32 4 bytes, f64 and i64 8, u8 1).
  bool written_as(Type t) const;
  /// Whether the dataset is stored contiguously (the layout losscape writes: no chunks, filters).
  bool contiguous() const;

  void read(Type t, void* out) const;  // whole dataset, converted to t
  void write(Type t, const void* in) const;
  std::vector<double> read_doubles() const;
  std::vector<float> read_floats() const;
  std::vector<std::int64_t> read_ints() const;

  /// Write elements at flat (row-major) indices. With `collective`, every rank of the file's
  /// communicator must call, a rank with nothing to write passing an empty list; the transfer is
  /// collective MPI-IO. Memory and file types must be equal so HDF5 keeps collective mode.
  /// Returns H5Pget_mpio_actual_io_mode's answer (H5D_MPIO_NO_COLLECTIVE for serial writes).
  int write_points(Type t, const std::vector<hsize_t>& flat_index, const void* values,
                   bool collective) const;

  bool has_attr(const std::string& name) const;
  void set_attr(const std::string& name, const std::string& value) const;
  std::string attr_string(const std::string& name) const;

 private:
  Handle h_;
  std::string where_;
};

}  // namespace losscape::h5
