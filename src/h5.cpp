#include "losscape/h5.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "losscape/error.hpp"
#include "losscape/version.hpp"

namespace losscape::h5 {
namespace {

// HDF5 prints an error stack for every failed call; losscape reports its own one-line errors.
// Before the library's first call, H5dont_atexit: HDF5's exit handler closes the files still in
// its ID table, and a file whose H5Fclose failed (a flush on a full disk) stays there already torn
// down, so the handler crashed (SIGSEGV after the one-line error, exit 139). Every file losscape
// opens is closed by its Handle before exit, so the handler has nothing else to do.
struct SilenceHdf5 {
  SilenceHdf5() {
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
};
void silence() { static SilenceHdf5 once; }

// The operating system's reason behind the failed call, when HDF5's error stack holds one (its
// file drivers record "errno = 28, error message = 'No space left on device'"), else "".
std::string system_cause() {
  std::string cause;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        auto& out = *static_cast<std::string*>(data);
        if (!out.empty() || e == nullptr || e->desc == nullptr) return 0;
        const std::string d = e->desc;
        const std::string key = "error message = '";
        if (const auto k = d.find(key); k != std::string::npos)
          out = d.substr(k + key.size(), d.find('\'', k + key.size()) - (k + key.size()));
        else if (const auto m = d.find("MPI_ERR_"); m != std::string::npos)
          out = d.substr(m, 120);
        return 0;
      },
      &cause);
  return cause;
}

[[noreturn]] void fail(const std::string& what) {
  const std::string cause = system_cause();
  throw FormatError(cause.empty() ? what : what + " (" + cause + ")");
}

hid_t check(hid_t id, const std::string& what) {
  if (id < 0) fail(what);
  return id;
}
void check(herr_t rc, const std::string& what, int) {
  if (rc < 0) fail(what);
}

Handle plist(hid_t cls) { return Handle(check(H5Pcreate(cls), "H5Pcreate failed"), H5Pclose); }

// ---- attributes, shared by groups, files and datasets ----
bool attr_exists(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

void attr_delete_if(hid_t obj, const std::string& name) {
  if (attr_exists(obj, name)) H5Adelete(obj, name.c_str());
}

void attr_write(hid_t obj, const std::string& where, const std::string& name, hid_t type,
                const std::vector<hsize_t>& dims, const void* data) {
  attr_delete_if(obj, name);
  Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
               H5Sclose);
  Handle a(check(H5Acreate2(obj, name.c_str(), type, space.id(), H5P_DEFAULT, H5P_DEFAULT),
                 where + ": cannot create attribute '" + name + "'"),
           H5Aclose);
  check(H5Awrite(a.id(), type, data), where + ": cannot write attribute '" + name + "'", 0);
}

Handle string_type(std::size_t len) {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.id(), len == 0 ? 1 : len);
  H5Tset_strpad(t.id(), H5T_STR_NULLTERM);
  H5Tset_cset(t.id(), H5T_CSET_UTF8);
  return t;
}

void attr_set_string(hid_t obj, const std::string& where, const std::string& name,
                     const std::string& v) {
  Handle t = string_type(v.size() + 1);
  attr_write(obj, where, name, t.id(), {}, v.c_str());
}

Handle attr_open(hid_t obj, const std::string& where, const std::string& name) {
  if (!attr_exists(obj, name)) throw FormatError(where + ": attribute '" + name + "' is missing");
  return Handle(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT),
                      where + ": cannot open attribute '" + name + "'"),
                H5Aclose);
}

std::size_t attr_count(hid_t a) {
  Handle s(H5Aget_space(a), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(s.id());
  return n < 0 ? 0 : std::size_t(n);
}

std::vector<std::string> attr_get_strings(hid_t obj, const std::string& where,
                                          const std::string& name) {
  Handle a = attr_open(obj, where, name);
  Handle ft(H5Aget_type(a.id()), H5Tclose);
  if (H5Tget_class(ft.id()) != H5T_STRING)
    throw FormatError(where + ": attribute '" + name + "' is not a string");
  std::size_t n = attr_count(a.id());
  std::vector<std::string> out;
  if (H5Tis_variable_str(ft.id()) > 0) {
    Handle mt(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mt.id(), H5T_VARIABLE);
    H5Tset_cset(mt.id(), H5Tget_cset(ft.id()));
    std::vector<char*> buf(n, nullptr);
    check(H5Aread(a.id(), mt.id(), buf.data()), where + ": cannot read attribute " + name, 0);
    for (char* p : buf) out.emplace_back(p ? p : "");
    Handle s(H5Aget_space(a.id()), H5Sclose);
    H5Dvlen_reclaim(mt.id(), s.id(), H5P_DEFAULT, buf.data());
  } else {
    std::size_t len = H5Tget_size(ft.id());
    std::vector<char> buf(n * len + 1, '\0');
    check(H5Aread(a.id(), ft.id(), buf.data()), where + ": cannot read attribute " + name, 0);
    for (std::size_t i = 0; i < n; ++i) {
      const char* p = buf.data() + i * len;
      out.emplace_back(p, strnlen(p, len));
    }
  }
  return out;
}

template <typename T>
std::vector<T> attr_get_numbers(hid_t obj, const std::string& where, const std::string& name,
                                hid_t mem) {
  Handle a = attr_open(obj, where, name);
  Handle ft(H5Aget_type(a.id()), H5Tclose);
  auto cls = H5Tget_class(ft.id());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    throw FormatError(where + ": attribute '" + name + "' is not numeric");
  std::vector<T> out(attr_count(a.id()));
  check(H5Aread(a.id(), mem, out.data()), where + ": cannot read attribute " + name, 0);
  return out;
}

}  // namespace

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = H5I_INVALID_HID;
}

void disable_file_locking() {
  // The environment variable is read when the library initialises; the property list call below
  // covers files opened later in the same process.
  setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1);
  silence();
}

void sync_to_disk(const std::string& path, int flags) {
  if (const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags); fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

void sync_folder_of(const std::string& path) {
  const std::string folder = std::filesystem::path(path).parent_path().string();
  sync_to_disk(folder.empty() ? "." : folder, O_DIRECTORY);
}

namespace {
// The temporaries being written, and the child process writing them, for the signal handler
// (fixed buffers: nothing but kill, waitpid, unlink, sigprocmask, raise and _exit in a handler).
// One guard owns them at a time: the outermost RemovedOnSignal (g_owners counts them; the ones
// inside it leave them alone).
constexpr std::size_t kMaxRemoved = 8;
char g_writing[kMaxRemoved][4096];
volatile std::sig_atomic_t g_writing_count = 0;
volatile std::sig_atomic_t g_child = 0;
std::atomic<int> g_owners{0};
constexpr std::array<int, 3> kEndingSignals{SIGINT, SIGTERM, SIGHUP};

extern "C" void remove_writing_and_end(int sig) {
  // (the child first, and waited for: it must not go on writing, or make a file once removed)
  if (const pid_t child = g_child; child > 0) {
    ::kill(child, SIGKILL);
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  for (std::sig_atomic_t i = 0; i < g_writing_count; ++i) ::unlink(g_writing[i]);
  // The default action now (SA_RESETHAND), not once the handler returns: the write must not go
  // on into the removed file. A process the signal cannot end (PID 1 of a container drops a
  // signal left at its default) ends as the signal would have ended it.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
  ::raise(sig);
  ::_exit(128 + sig);
}

sigset_t ending_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (const int sig : kEndingSignals) sigaddset(&set, sig);
  return set;
}
}  // namespace

RemovedOnSignal::RemovedOnSignal(const std::vector<std::string>& paths) {
  if (g_owners.fetch_add(1) != 0) return;  // (inside another guard, or beside one)
  owner_ = true;
  std::sig_atomic_t n = 0;
  for (const auto& p : paths)
    if (std::size_t(n) < kMaxRemoved && p.size() < sizeof g_writing[0])
      std::memcpy(g_writing[n++], p.c_str(), p.size() + 1);
  g_writing_count = n;
  struct sigaction ours {};
  ours.sa_handler = remove_writing_and_end;
  ours.sa_flags = SA_RESETHAND;
  sigemptyset(&ours.sa_mask);
  for (std::size_t i = 0; i < kEndingSignals.size(); ++i) {
    struct sigaction old {};
    if (::sigaction(kEndingSignals[i], nullptr, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO))
      installed_[i] = ::sigaction(kEndingSignals[i], &ours, nullptr) == 0;
  }
}

RemovedOnSignal::~RemovedOnSignal() {
  if (owner_) {
    // (back to the default, where the handler is still ours: one installed meanwhile stays)
    for (std::size_t i = 0; i < kEndingSignals.size(); ++i) {
      struct sigaction now {};
      if (installed_[i] && ::sigaction(kEndingSignals[i], nullptr, &now) == 0 &&
          now.sa_handler == remove_writing_and_end)
        ::signal(kEndingSignals[i], SIG_DFL);
    }
    g_writing_count = 0;
    g_child = 0;
  }
  g_owners.fetch_sub(1);
}

pid_t RemovedOnSignal::fork_child() {
  // (the signals held over the fork: one in between would leave a child nobody ends)
  const sigset_t ending = ending_signals();
  sigset_t before;
  ::sigprocmask(SIG_BLOCK, &ending, &before);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // (exec keeps the mask and the handlers' dispositions go back to the default)
    for (std::size_t i = 0; i < kEndingSignals.size(); ++i)
      if (installed_[i]) ::signal(kEndingSignals[i], SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &before, nullptr);
    return 0;
  }
  if (pid > 0 && owner_) g_child = pid;
  ::sigprocmask(SIG_SETMASK, &before, nullptr);
  return pid;
}

int RemovedOnSignal::wait_child(pid_t pid) {
  // (waited for without reaping, then forgotten, then reaped: the handler never kills a pid that
  // a reaped child has left free for another process)
  siginfo_t info{};
  while (::waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  if (owner_ && g_child == pid) g_child = 0;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

void write_whole(const std::string& path, const std::string& suffix,
                 const std::function<void(const std::string& tmp)>& write) {
  if (path.empty()) throw InputError("no output file named (an empty name)");
  const std::string tmp = path + suffix;
  if (const std::string why = folder_problem(path); !why.empty()) throw InputError(path + ": " + why);
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  const RemovedOnSignal removed_on_signal({tmp});
  try {
    write(tmp);
  } catch (const std::exception& e) {
    std::filesystem::remove(tmp, ec);
    // (HDF5 and streams do not say that the disk is full; a writer's own error names the file)
    const std::string what = e.what();
    if (const std::string full = space_note(path); !full.empty() && what.find(full) == std::string::npos &&
                                                   dynamic_cast<const Error*>(&e))
      throw InputError(what + full);
    throw;
  } catch (...) {
    std::filesystem::remove(tmp, ec);
    throw;
  }
  // A file replaced keeps its permissions, and its owner and group where this process may give
  // them (a 0600 or group-shared surface came out 0644 under the umask after a merge into it).
  struct stat old {};
  if (::stat(path.c_str(), &old) == 0 && S_ISREG(old.st_mode)) {
    if (::chown(tmp.c_str(), old.st_uid, old.st_gid) != 0) (void)!::chown(tmp.c_str(), uid_t(-1), old.st_gid);
    (void)!::chmod(tmp.c_str(), old.st_mode & 07777);
  }
  // On its disk before it takes the name: a node that crashes after the rename must not leave a
  // name whose data never reached the disk (an empty or short file where a whole one was).
  sync_to_disk(tmp, 0);
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    throw InputError(path + ": cannot replace it with " + tmp + " (" + why + ")");
  }
  // And the rename itself on the disk (the folder's entry): after a crash the name holds the new
  // file, not the old one (a checkpoint that a run's log already counts as saved).
  sync_folder_of(path);
}

std::string own_suffix(const std::string& suffix) { return "." + std::to_string(::getpid()) + suffix; }

bool is_empty_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == 0 &&
         !ec;
}

void check_replaceable(const std::string& path, const std::string& what,
                       const std::function<bool(const std::string& path)>& is_one) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return;
  if (!fs::is_regular_file(st))
    throw InputError(path + ": exists and is not a regular file; give a file name for the " + what);
  if (is_empty_file(path)) return;
  // (one that cannot be read was said to be "not a <what>", a valid one too)
  if (::access(path.c_str(), R_OK) != 0)
    throw InputError(path + ": exists and cannot be read (" + std::strerror(errno) + "), so it is not known " +
                     "to be a " + what + "; not replaced (remove it, or choose another output name)");
  bool one = false;
  try {
    one = is_one(path);
  } catch (const std::exception&) {
    // unreadable or damaged: not known to be one
  }
  if (!one)
    throw InputError(path + ": exists and is not a " + what +
                     "; not replaced (remove it, or choose another output name)");
}

bool is_hdf5(const std::string& path) {
  if (!is_regular_file(path)) return false;  // (a FIFO would block the read)
  std::ifstream in(path, std::ios::binary);
  char sig[8] = {};
  in.read(sig, 8);
  return in.gcount() == 8 && std::memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0;
}

hid_t native(Type t) {
  switch (t) {
    case Type::f32: return H5T_NATIVE_FLOAT;
    case Type::f64: return H5T_NATIVE_DOUBLE;
    case Type::i64: return H5T_NATIVE_INT64;
    case Type::u8: return H5T_NATIVE_UINT8;
  }
  return H5T_NATIVE_DOUBLE;
}

// ---------------- Location ----------------
std::string Location::where(const std::string& name) const {
  std::string p = path_;
  if (!name.empty()) p = (p == "/" ? "/" : p + "/") + name;
  return file_ + ":" + p;
}

std::string Location::hard_link_object(const std::string& name) const {
#if H5_VERSION_GE(1, 12, 0)
  H5L_info2_t info;
  if (H5Lget_info2(id(), name.c_str(), &info, H5P_DEFAULT) < 0 || info.type != H5L_TYPE_HARD) return "";
  return std::string(reinterpret_cast<const char*>(&info.u.token), sizeof info.u.token);
#else
  H5L_info_t info;
  if (H5Lget_info(id(), name.c_str(), &info, H5P_DEFAULT) < 0 || info.type != H5L_TYPE_HARD) return "";
  return std::string(reinterpret_cast<const char*>(&info.u.address), sizeof info.u.address);
#endif
}

bool Location::exists(const std::string& name) const {
  // Check each component so that "a/b" does not fail when "a" is missing.
  std::string partial;
  std::size_t pos = 0;
  while (pos <= name.size()) {
    std::size_t next = name.find('/', pos);
    if (next == std::string::npos) next = name.size();
    partial = name.substr(0, next);
    if (!partial.empty() && H5Lexists(id(), partial.c_str(), H5P_DEFAULT) <= 0) return false;
    pos = next + 1;
  }
  return true;
}

Location Location::group(const std::string& name) const {
  if (!exists(name)) throw FormatError(where(name) + ": group is missing");
  hid_t g = H5Gopen2(id(), name.c_str(), H5P_DEFAULT);
  check(g, where(name) + ": cannot open group");
  return Location(Handle(g, H5Gclose), file_, where(name).substr(file_.size() + 1));
}

Location Location::create_group(const std::string& name) const {
  Handle gcpl = plist(H5P_GROUP_CREATE);
  H5Pset_link_creation_order(gcpl.id(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  hid_t g = H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, gcpl.id(), H5P_DEFAULT);
  check(g, where(name) + ": cannot create group");
  return Location(Handle(g, H5Gclose), file_, where(name).substr(file_.size() + 1));
}

Location Location::require_group(const std::string& name) const {
  return exists(name) ? group(name) : create_group(name);
}

std::vector<std::string> Location::children() const {
  std::vector<std::string> names;
  H5_index_t order = H5_INDEX_NAME;
  {
    Handle info(H5Gget_create_plist(id()), H5Pclose);
    unsigned flags = 0;
    if (info.valid() && H5Pget_link_creation_order(info.id(), &flags) >= 0 &&
        (flags & H5P_CRT_ORDER_TRACKED))
      order = H5_INDEX_CRT_ORDER;
  }
  auto cb = [](hid_t, const char* n, const H5L_info_t*, void* op) -> herr_t {
    static_cast<std::vector<std::string>*>(op)->emplace_back(n);
    return 0;
  };
  hsize_t idx = 0;
  check(H5Literate(id(), order, H5_ITER_INC, &idx, cb, &names), where() + ": cannot list", 0);
  return names;
}

Dataset Location::dataset(const std::string& name) const {
  if (!exists(name)) throw FormatError(where(name) + ": dataset is missing");
  hid_t d = H5Dopen2(id(), name.c_str(), H5P_DEFAULT);
  check(d, where(name) + ": cannot open dataset");
  Dataset ds(Handle(d, H5Dclose), where(name));
  // A damaged or crafted file can declare a shape far beyond what it stores (chunks never
  // written): its readers would allocate all of it first (terabytes, or minutes of paging).
  // What losscape reads is written whole; even compressed, real numbers do not shrink 1000-fold.
  Handle type(H5Dget_type(d), H5Tclose);
  const double declared = double(ds.size()) * double(type.valid() ? H5Tget_size(type.id()) : 1);
  const double stored = double(H5Dget_storage_size(d));
  if (declared > 64.0 * 1024 * 1024 && stored * 1000 < declared)
    throw FormatError(where(name) + ": declares " + std::to_string(ds.size()) +
                      " elements but the file stores " + std::to_string(std::uint64_t(stored)) +
                      " bytes of them (a damaged file)");
  return ds;
}

Dataset Location::create_dataset(const std::string& name, Type t, const std::vector<hsize_t>& dims,
                                 std::optional<double> fill) const {
  Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
               H5Sclose);
  Handle dcpl = plist(H5P_DATASET_CREATE);
  // Allocate everything now: afterwards writers change raw data only, never file metadata,
  // which is what makes a file killed mid-sweep still open and resume.
  H5Pset_alloc_time(dcpl.id(), H5D_ALLOC_TIME_EARLY);
  H5Pset_layout(dcpl.id(), H5D_CONTIGUOUS);
  if (fill) {
    H5Pset_fill_time(dcpl.id(), H5D_FILL_TIME_ALLOC);
    if (t == Type::f64) {
      double v = *fill;
      H5Pset_fill_value(dcpl.id(), H5T_NATIVE_DOUBLE, &v);
    } else if (t == Type::f32) {
      float v = float(*fill);
      H5Pset_fill_value(dcpl.id(), H5T_NATIVE_FLOAT, &v);
    } else if (t == Type::i64) {
      std::int64_t v = std::int64_t(*fill);
      H5Pset_fill_value(dcpl.id(), H5T_NATIVE_INT64, &v);
    } else {
      std::uint8_t v = std::uint8_t(*fill);
      H5Pset_fill_value(dcpl.id(), H5T_NATIVE_UINT8, &v);
    }
  }
  hid_t ftype = t == Type::f32 ? H5T_IEEE_F32LE
                : t == Type::f64 ? H5T_IEEE_F64LE
                : t == Type::i64 ? H5T_STD_I64LE
                                 : H5T_STD_U8LE;
  hid_t d = H5Dcreate2(id(), name.c_str(), ftype, space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT);
  check(d, where(name) + ": cannot create dataset");
  return Dataset(Handle(d, H5Dclose), where(name));
}

bool Location::has_attr(const std::string& name) const { return attr_exists(id(), name); }
void Location::set_attr(const std::string& name, const std::string& v) const {
  attr_set_string(id(), where(), name, v);
}
void Location::set_attr(const std::string& name, double v) const {
  attr_write(id(), where(), name, H5T_NATIVE_DOUBLE, {}, &v);
}
void Location::set_attr(const std::string& name, std::int64_t v) const {
  attr_write(id(), where(), name, H5T_NATIVE_INT64, {}, &v);
}
void Location::set_attr(const std::string& name, const std::vector<double>& v) const {
  attr_write(id(), where(), name, H5T_NATIVE_DOUBLE, {hsize_t(v.size())}, v.data());
}
void Location::set_attr(const std::string& name, const std::vector<std::int64_t>& v) const {
  attr_write(id(), where(), name, H5T_NATIVE_INT64, {hsize_t(v.size())}, v.data());
}
void Location::set_attr(const std::string& name, const std::vector<std::string>& v) const {
  std::size_t len = 1;
  for (auto& s : v) len = std::max(len, s.size() + 1);
  std::vector<char> buf(len * v.size(), '\0');
  for (std::size_t i = 0; i < v.size(); ++i) std::memcpy(&buf[i * len], v[i].data(), v[i].size());
  Handle t = string_type(len);
  attr_write(id(), where(), name, t.id(), {hsize_t(v.size())}, buf.data());
}
std::string Location::attr_string(const std::string& name) const {
  auto v = attr_get_strings(id(), where(), name);
  return v.empty() ? std::string() : v.front();
}
double Location::attr_double(const std::string& name) const {
  auto v = attr_get_numbers<double>(id(), where(), name, H5T_NATIVE_DOUBLE);
  if (v.empty()) throw FormatError(where() + ": attribute '" + name + "' is empty");
  return v.front();
}
std::int64_t Location::attr_int(const std::string& name) const {
  auto v = attr_get_numbers<std::int64_t>(id(), where(), name, H5T_NATIVE_INT64);
  if (v.empty()) throw FormatError(where() + ": attribute '" + name + "' is empty");
  return v.front();
}
std::vector<double> Location::attr_doubles(const std::string& name) const {
  return attr_get_numbers<double>(id(), where(), name, H5T_NATIVE_DOUBLE);
}
std::vector<std::int64_t> Location::attr_ints(const std::string& name) const {
  return attr_get_numbers<std::int64_t>(id(), where(), name, H5T_NATIVE_INT64);
}
std::vector<std::string> Location::attr_strings(const std::string& name) const {
  return attr_get_strings(id(), where(), name);
}

// ---------------- File ----------------
File::File(const std::string& path, Mode mode, MPI_Comm comm) {
  disable_file_locking();
  Handle fapl = plist(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
  H5Pset_file_locking(fapl.id(), false, true);
#endif
  if (comm != MPI_COMM_NULL) {
    check(H5Pset_fapl_mpio(fapl.id(), comm, MPI_INFO_NULL), path + ": cannot set MPI-IO", 0);
    parallel_ = true;
  }
  hid_t f = H5I_INVALID_HID;
  switch (mode) {
    case Mode::read:
    case Mode::readwrite: {
      check_not_special(path, "an HDF5 file");
      if (mode == Mode::read || !parallel_) {
        if (const std::string why = read_problem(path, "file"); !why.empty())
          throw InputError(path + ": " + why);
      }
      f = H5Fopen(path.c_str(), mode == Mode::read ? H5F_ACC_RDONLY : H5F_ACC_RDWR, fapl.id());
      if (f < 0) {
        if (!is_hdf5(path)) throw FormatError(path + ": not an HDF5 file");
        throw FormatError(path + ": cannot open HDF5 file" +
                          std::string(mode == Mode::read ? "" : " for writing") +
                          " (damaged or truncated: libhdf5 cannot read its structure" +
                          (mode == Mode::read ? ")" : "; or not writable)"));
      }
      break;
    }
    case Mode::create:
    case Mode::truncate: {
      Handle fcpl = plist(H5P_FILE_CREATE);
      H5Pset_link_creation_order(fcpl.id(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
      // Root attributes in the 1.8 object header, which moves them to dense storage when one is
      // larger than 64 KiB (a PCA's settings and a projection's checkpoint list of a long run
      // with long paths: "cannot create attribute" after the whole PCA). h5py does the same.
      H5Pset_attr_creation_order(fcpl.id(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
      f = H5Fcreate(path.c_str(), mode == Mode::create ? H5F_ACC_EXCL : H5F_ACC_TRUNC, fcpl.id(),
                    fapl.id());
      if (f < 0) throw InputError(path + ": cannot create HDF5 file (exists or not writable)");
      break;
    }
  }
  h_ = Handle(f, H5Fclose);
  file_ = path;
  path_ = "/";
}

void File::close() {
  if (!h_.valid()) return;
  check(H5Fclose(h_.release()), file_ + ": closing the HDF5 file failed", 0);
}

void File::flush() const {
  check(H5Fflush(id(), H5F_SCOPE_GLOBAL), file_ + ": flush failed", 0);
}

// ---------------- Dataset ----------------
std::vector<hsize_t> Dataset::dims() const {
  Handle s(H5Dget_space(id()), H5Sclose);
  int n = H5Sget_simple_extent_ndims(s.id());
  std::vector<hsize_t> d(n > 0 ? n : 0);
  if (n > 0) H5Sget_simple_extent_dims(s.id(), d.data(), nullptr);
  return d;
}

std::size_t Dataset::size() const {
  // (a crafted shape's product can wrap around to a small count, past every size check, and a
  // read of that many elements would walk its chunks for ever)
  std::size_t n = 1;
  for (auto d : dims())
    if (__builtin_mul_overflow(n, std::size_t(d), &n))
      throw FormatError(where_ + ": declares a shape of more than 2^64 elements (a damaged file)");
  return n;
}

Type Dataset::type() const {
  Handle t(H5Dget_type(id()), H5Tclose);
  auto cls = H5Tget_class(t.id());
  auto sz = H5Tget_size(t.id());
  if (cls == H5T_FLOAT) return sz == 4 ? Type::f32 : Type::f64;
  if (cls == H5T_INTEGER) return sz == 1 ? Type::u8 : Type::i64;
  throw FormatError(where_ + ": unsupported element type (expected float or integer)");
}

bool Dataset::written_as(Type t) const {
  Handle ft(H5Dget_type(id()), H5Tclose);
  if (!ft.valid()) return false;
  const H5T_class_t c = H5Tget_class(ft.id());
  const std::size_t sz = H5Tget_size(ft.id());
  switch (t) {
    case Type::f32: return c == H5T_FLOAT && sz == 4;
    case Type::f64: return c == H5T_FLOAT && sz == 8;
    case Type::i64: return c == H5T_INTEGER && sz == 8;
    case Type::u8: return c == H5T_INTEGER && sz == 1;
  }
  return false;
}

bool Dataset::contiguous() const {
  Handle dcpl(H5Dget_create_plist(id()), H5Pclose);
  return dcpl.valid() && H5Pget_layout(dcpl.id()) == H5D_CONTIGUOUS;
}

void Dataset::read(Type t, void* out) const {
  {  // numbers are read as numbers; say so when the file holds something else
    Handle ft(H5Dget_type(id()), H5Tclose);
    const H5T_class_t c = ft.valid() ? H5Tget_class(ft.id()) : H5T_NO_CLASS;
    if (c == H5T_STRING) throw FormatError(where_ + ": holds text, not numbers");
    if (c == H5T_COMPOUND || c == H5T_VLEN || c == H5T_ARRAY || c == H5T_REFERENCE ||
        c == H5T_OPAQUE)
      throw FormatError(where_ + ": holds records or references, not numbers");
  }
  check(H5Dread(id(), native(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, out), where_ + ": read failed", 0);
}
void Dataset::write(Type t, const void* in) const {
  check(H5Dwrite(id(), native(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, in), where_ + ": write failed",
        0);
}
std::vector<double> Dataset::read_doubles() const {
  std::vector<double> v(size());
  read(Type::f64, v.data());
  return v;
}
std::vector<float> Dataset::read_floats() const {
  std::vector<float> v(size());
  read(Type::f32, v.data());
  return v;
}
std::vector<std::int64_t> Dataset::read_ints() const {
  std::vector<std::int64_t> v(size());
  read(Type::i64, v.data());
  return v;
}

int Dataset::write_points(Type t, const std::vector<hsize_t>& flat, const void* values,
                          bool collective) const {
  auto d = dims();
  const int rank = int(d.size());
  Handle fspace(H5Dget_space(id()), H5Sclose);
  hsize_t n = flat.size();
  Handle mspace(H5Screate_simple(1, &n, nullptr), H5Sclose);
  if (n == 0) {
    H5Sselect_none(fspace.id());
    H5Sselect_none(mspace.id());
  } else {
    std::vector<hsize_t> coords(n * std::max(rank, 1));
    for (hsize_t i = 0; i < n; ++i) {
      hsize_t rem = flat[i];
      for (int k = rank - 1; k >= 0; --k) {
        coords[i * rank + k] = rem % d[k];
        rem /= d[k];
      }
    }
    check(H5Sselect_elements(fspace.id(), H5S_SELECT_SET, n, coords.data()),
          where_ + ": bad point selection", 0);
  }
  Handle dxpl = plist(H5P_DATASET_XFER);
  if (collective) H5Pset_dxpl_mpio(dxpl.id(), H5FD_MPIO_COLLECTIVE);
  static const double dummy = 0;
  check(H5Dwrite(id(), native(t), mspace.id(), fspace.id(), dxpl.id(), n ? values : &dummy),
        where_ + ": write failed", 0);
  H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
  if (collective) H5Pget_mpio_actual_io_mode(dxpl.id(), &mode);
  return int(mode);
}

bool Dataset::has_attr(const std::string& name) const { return attr_exists(id(), name); }
void Dataset::set_attr(const std::string& name, const std::string& v) const {
  attr_set_string(id(), where_, name, v);
}
std::string Dataset::attr_string(const std::string& name) const {
  auto v = attr_get_strings(id(), where_, name);
  return v.empty() ? std::string() : v.front();
}

void set_version_attrs(const Location& file) {
  file.set_attr("losscape_version", std::string(version));
  file.set_attr("losscape_revision", std::string(source_revision()));
}

}  // namespace losscape::h5
