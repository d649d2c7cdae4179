#include "losscape/lock.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "losscape/error.hpp"
#include "losscape/timestamp.hpp"

namespace losscape {
namespace {

std::string env(const char* n) {
  const char* v = std::getenv(n);
  return v ? v : "";
}

std::string hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// Whether process `pid` on this host is running. A zombie (dead, not yet reaped: its parent
// was killed with it, and some containers' init reaps late) still answers kill(pid, 0) but holds
// nothing; its state in /proc/PID/stat (after the command name's last ')') says so.
bool process_running(long pid) {
  if (::kill(pid_t(pid), 0) != 0 && errno == ESRCH) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return true;  // no /proc: trust kill()
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return true;
  const char state = stat[close + 2];
  return state != 'Z' && state != 'X' && state != 'x';
}

// When process `pid` on this host started (field 22 of /proc/PID/stat, in clock ticks since
// boot), as text; "" without /proc. With the pid it names one process: a pid is reused, a start
// time with it is not.
std::string process_start(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return "";
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  for (int k = 3; k <= 22 && (rest >> field); ++k)
    if (k == 22) return field;
  return "";
}

// A lock file's holder: its JSON object with "host" and "slurm_*" strings and an integer "pid"
// (keys of another type, or a file that is not such an object, count as absent).
nlohmann::json holder_of(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
  }
  nlohmann::json out = nlohmann::json::object();
  if (!j.is_object()) return out;
  for (auto& [k, v] : j.items())
    if (k == "pid" ? v.is_number_integer() : v.is_string()) out[k] = v;
  return out;
}

// Whether a lock (or the takeover mutex) names a holder of this host, whose pid can be looked at.
bool names_this_host(const nlohmann::json& holder) {
  return holder.value("host", std::string()) == hostname() && holder.value("pid", 0L) > 0;
}

// Whether the holder named by a lock (of this host) is alive: its pid runs and, where the lock
// records it, that process started when the holder did (not a later process given its pid).
bool holder_alive_here(const nlohmann::json& holder) {
  const long pid = holder.value("pid", 0L);
  if (pid <= 0 || !process_running(pid)) return false;
  const std::string started = holder.value("started", std::string());
  return started.empty() || started == process_start(pid);
}

// The whole text of open file `fd` (whatever its position).
std::string read_from_start(int fd) {
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::pread(fd, buf, sizeof buf, off_t(text.size()))) > 0;) text.append(buf, std::size_t(n));
  return text;
}

// A file's modification time (a heartbeat's, a clock probe's), in Unix seconds.
double mtime_seconds(const struct stat& st) {
  return double(st.st_mtim.tv_sec) + 1e-9 * double(st.st_mtim.tv_nsec);
}

// Seconds from a file's modification time (the last heartbeat) to `now` (fs_now).
double age_at(double now, const struct stat& st) { return now - mtime_seconds(st); }

// Who a lock file names as its holder, and since when, for messages.
std::string describe(const nlohmann::json& holder) {
  const std::string host = holder.value("host", std::string());
  const long pid = holder.value("pid", 0L);
  const std::string job = holder.value("slurm_job_id", std::string());
  std::string who = "pid " + std::to_string(pid) + " on host " + host;
  if (pid <= 0 || host.empty())
    who = "an unknown writer (the lock file holds no host and pid: being written, or not losscape's)";
  if (!job.empty()) who += " (Slurm job " + job + ")";
  const std::string since = holder.value("since", std::string());
  return since.empty() ? who : who + " since " + since;
}

}  // namespace

namespace lock_detail {

Seen look(const std::string& path) {
  Seen s;
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    s.error = errno;
    return s;
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0) {
    s.exists = true;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    s.text = read_from_start(fd);
  }
  ::close(fd);
  return s;
}

double fs_now(const std::string& near, bool only_own_folder) {
  namespace fs = std::filesystem;
  // (named after the folder, not `near`: a name of 200 characters and a long host name would
  // pass NAME_MAX)
  const fs::path folder = fs::path(near).parent_path().empty() ? fs::path(".") : fs::path(near).parent_path();
  struct stat fst {};
  if (only_own_folder && (::stat(folder.c_str(), &fst) != 0 || fst.st_uid != ::geteuid()))
    return double(std::time(nullptr));
  const std::string probe =
      (folder / (".losscape-clock." + hostname() + "." + std::to_string(long(getpid())))).string();
  for (int tries = 0; tries < 2; ++tries) {
    const int fd = ::open(probe.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno != EEXIST) break;
      ::unlink(probe.c_str());  // (left by a killed process of this pid)
      continue;
    }
    struct stat st {};
    const bool ok = ::fstat(fd, &st) == 0;
    ::close(fd);
    ::unlink(probe.c_str());
    if (ok) return mtime_seconds(st);
  }
  return double(std::time(nullptr));
}

namespace {

// How long a takeover may hold the takeover mutex before another starter counts it as dead (its
// work is a look and an unlink: microseconds, or a moment on a slow network file system).
constexpr double kTakeoverStaleSeconds = 10;

// flock(LOCK_EX | LOCK_NB) on `fd`: 1 locked, 0 held by another open file (its holder's process
// is alive), -1 where the file system has no flock (Lustre mounted `noflock`).
int try_flock(int fd) {
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return 1;
  return errno == EWOULDBLOCK ? 0 : -1;
}

// Whether open file `fd` is the one at `path` (not one removed, or replaced, since it was opened).
bool is_at(int fd, const std::string& path) {
  struct stat a {}, b {};
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

// How long a starter waits for the takeover mutex in all before it gives up, naming its holder.
constexpr double kTakeoverWaitSeconds = 60;

// Create the takeover mutex `mutex`: >= 0, its descriptor; -1 where it exists; -2 on an error,
// with the reason in `why`. With hard links (`links`) it is written under this process's own
// name `mine`, flocked and then linked into place (link, like O_EXCL, fails where the name
// exists), so that it never appears empty or unlocked; `links` is set false where the file system
// has none (a FAT or SMB file system), and the mutex is then created in place with O_EXCL.
int create_mutex(const std::string& mutex, const std::string& mine, const std::string& token,
                 bool& links, std::string* why) {
  auto fail = [&](const std::string& what, int e) {
    if (why) *why = what + " (" + std::string(strerror(e)) + ")";
    return -2;
  };
  auto write_token = [&](int fd) {
    const ssize_t w = ::write(fd, token.data(), token.size());
    return w == ssize_t(token.size()) ? 0 : w < 0 ? errno : ENOSPC;  // (short: the disk is full)
  };
  if (links) {
    ::unlink(mine.c_str());  // (a killed earlier process's with this pid and start time)
    const int fd = ::open(mine.c_str(), O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
      const int e = errno;
      return fail("cannot create " + mutex, e);
    }
    const int locked = try_flock(fd);
    const int written = write_token(fd);
    if (locked == 0 || written != 0) {  // (locked by another: a process of the same name)
      ::close(fd);
      ::unlink(mine.c_str());
      return fail("cannot write " + mutex, locked == 0 ? EBUSY : written);
    }
    // (over NFS a link whose reply was lost can fail although it was made: the link count says)
    const int linked = ::link(mine.c_str(), mutex.c_str());
    const int e = errno;
    struct stat st {};
    if (linked == 0 || (::fstat(fd, &st) == 0 && st.st_nlink == 2 && is_at(fd, mutex))) {
      ::unlink(mine.c_str());
      return fd;
    }
    ::close(fd);
    ::unlink(mine.c_str());
    if (e == EEXIST) return -1;
    if (e != EPERM && e != EOPNOTSUPP && e != ENOSYS) return fail("cannot create " + mutex, e);
    links = false;
  }
  const int fd = ::open(mutex.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int e = errno;
    return e == EEXIST ? -1 : fail("cannot create " + mutex, e);
  }
  // A starter that looks at the empty file holds its flock for a moment.
  for (int tries = 0; tries < 50 && try_flock(fd) == 0; ++tries)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (const int e = write_token(fd); e != 0) {
    ::unlink(mutex.c_str());
    ::close(fd);
    return fail("cannot write " + mutex, e);
  }
  return fd;
}

// The takeover mutex `mutex`, held: an open descriptor of it, flocked where the file system can
// (create_mutex). One that is there is waited for while its holder works. It is taken over when
// it names a process gone from this host, or is older than kTakeoverStaleSeconds, or has stayed
// unchanged that long while this starter waited (a holder of another host, or one whose clock
// differs, died inside): in place, by the starter that gets its flock (the kernel let go of the
// dead holder's) and finds it still at its name, which writes itself into it; so two starters
// that find a dead mutex at once cannot both get in (a dead mutex removed by name, as before
// 2026-12-05, let in about one round of 900 of six starters at once). Where flock is not to be
// had (Lustre `noflock`) it is removed by name as before. One whose holder holds its flock is
// never taken: after kTakeoverWaitSeconds (a stopped holder) the starter gives up. -1 when it
// cannot be created (the folder went away, or is read-only) or was not let go, with the reason
// in `why`: the caller then takes over nothing.
int take_mutex(const std::string& mutex, const std::string& token, std::string* why) {
  const long pid = long(getpid());
  // (in the folder, named without the output's name: NAME.lock.takeover.HOST.PID.START passed
  // NAME_MAX with a long output name and host name, and no stale lock could then be taken over)
  const std::filesystem::path folder = std::filesystem::path(mutex).parent_path();
  const std::string mine = (folder / (".losscape-takeover." + hostname() + "." + std::to_string(pid) +
                                      "." + process_start(pid))).string();
  bool links = true;
  std::string judged;  // the mutex last looked at (inode and text), and since when
  const double fs_began = fs_now(mutex);  // (the file system's clock: one reading, then steady)
  const auto began = std::chrono::steady_clock::now();
  auto judged_since = began;
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  for (;;) {
    if (const int fd = create_mutex(mutex, mine, token, links, why); fd != -1) return fd < 0 ? -1 : fd;
    int other = ::open(mutex.c_str(), O_RDWR | O_CLOEXEC);
    if (other < 0 && errno == EACCES) other = ::open(mutex.c_str(), O_RDONLY | O_CLOEXEC);  // (another user's)
    if (other < 0 && errno != ENOENT) {  // (ENOENT: let go meanwhile, or a dangling link)
      const int e = errno;
      if (why) *why = "cannot read " + mutex + " (" + std::string(strerror(e)) + ")";
      return -1;
    }
    nlohmann::json holder;
    if (other >= 0) {
      const int locked = try_flock(other);
      if (is_at(other, mutex)) {
        const std::string text = read_from_start(other);
        struct stat st {};
        ::fstat(other, &st);
        const std::string seen = std::to_string(st.st_ino) + " " + text;
        if (seen != judged) {
          judged = seen;
          judged_since = std::chrono::steady_clock::now();
        }
        holder = holder_of(text);
        const bool dead_here = names_this_host(holder) && !holder_alive_here(holder);
        if (locked != 0 && (dead_here || seconds_since(judged_since) > kTakeoverStaleSeconds ||
                            age_at(fs_began + seconds_since(began), st) > kTakeoverStaleSeconds)) {
          if (locked == 1 && ::ftruncate(other, 0) == 0 &&
              ::pwrite(other, token.data(), token.size(), 0) == ssize_t(token.size()))
            return other;  // taken over in place
          ::unlink(mutex.c_str());  // no flock here (or another user's): removed by name
        }
      }
      ::close(other);
    }
    if (seconds_since(began) > kTakeoverWaitSeconds) {
      if (why)
        *why = mutex + " was not let go for " + std::to_string(int(kTakeoverWaitSeconds)) + " s (" +
               (holder.value("pid", 0L) > 0 ? "held by pid " + std::to_string(holder.value("pid", 0L)) +
                                                  " on host " + holder.value("host", std::string("?"))
                                            : std::string("its holder unknown")) + ")";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Let go of the takeover mutex `fd` (take_mutex): removed while still flocked, if it is still
// this starter's, so that a starter waiting for the flock finds it gone.
void release_mutex(int fd, const std::string& mutex, const std::string& token) {
  if (is_at(fd, mutex) && read_from_start(fd) == token) ::unlink(mutex.c_str());
  ::close(fd);
}

}  // namespace

bool remove_if_unchanged(const std::string& path, const Seen& seen, std::string* why) {
  // Several starters may judge the same stale lock at once. Unlinking by name would let a slow
  // one remove the fresh lock that a faster one had just created in its place, and both would
  // write the file; moving the lock aside and putting a fresh one back (as before 2026-12-05)
  // left a moment without a lock file, in which a third starter created its own. So removals
  // take turns: under a takeover mutex (PATH.takeover) the lock is looked at again and removed
  // only if it is still the one judged (inode, time and text: a fresh lock can reuse the freed
  // inode, not its time or its text, which names its holder). A fresh lock is created only where
  // none is (O_EXCL) and removed only by its own holder, so it cannot replace the judged one
  // between that look and the unlink.
  const std::string mutex = path + ".takeover";
  const std::string token = nlohmann::json{{"host", hostname()},
                                           {"pid", long(getpid())},
                                           {"started", process_start(long(getpid()))}}
                                .dump();
  const int held = take_mutex(mutex, token, why);
  if (held < 0) return false;
  const Seen now = look(path);
  const bool same = now.exists && now.dev == seen.dev && now.ino == seen.ino &&
                    now.mtime_ns == seen.mtime_ns && now.text == seen.text;
  const bool removed = same && ::unlink(path.c_str()) == 0;
  release_mutex(held, mutex, token);
  return removed;
}

}  // namespace lock_detail

namespace {

// The heartbeat's period; another task of the same array takes a lock over once the
// heartbeat has stopped for more than two periods, and waits at most kArrayWaitSeconds for that.
constexpr double kBeatSeconds = 20;
constexpr double kArrayTakeoverSeconds = 2 * kBeatSeconds + 5;
constexpr double kArrayWaitSeconds = kArrayTakeoverSeconds + 10;

}  // namespace

// A symbolic link at `target` is followed (to its final file), so that a sweep of the link and
// one of the file itself share one lock; a folder reached through links is the same folder
// either way, and so is the lock file in it.
std::string link_target(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_symlink(path, ec)) return path;
  if (const auto real = fs::canonical(path, ec); !ec) return real.string();
  fs::path p = path;  // a dangling link: follow it by hand (at most 40 links, as the kernel)
  for (int i = 0; i < 40 && fs::is_symlink(p, ec); ++i) {
    const fs::path to = fs::read_symlink(p, ec);
    if (ec) break;
    p = to.is_absolute() ? to : p.parent_path() / to;
  }
  return p.lexically_normal().string();
}

std::string lock_file_of(const std::string& target) { return link_target(target) + ".lock"; }

void refuse_hard_linked(const std::string& target) {
  const std::string real = link_target(target);
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink < 2) return;
  throw InputError(target + (real != target ? " (a link to " + real + ")" : "") + ": the file has " +
                   std::to_string(st.st_nlink) +
                   " hard links (names): a run writing it under another name would not see this run's lock (" +
                   lock_file_of(target) + ") and both would write it; write a copy (cp " + target +
                   " NEW.h5), or remove the other names");
}

FileLock::FileLock(const std::string& target, double stale_seconds) : lock_path_(lock_file_of(target)) {
  nlohmann::json me = {{"host", hostname()},
                       {"pid", long(getpid())},
                       {"started", process_start(long(getpid()))},
                       {"slurm_job_id", env("SLURM_JOB_ID")},
                       {"slurm_array_job_id", env("SLURM_ARRAY_JOB_ID")},
                       {"slurm_restart_count", env("SLURM_RESTART_COUNT")},
                       {"since", utc_now_iso()}};
  token_ = me.dump();
  double waited = 0;  // for another task of this array to let go (below)
  std::string why_not;  // why a stale lock could not be removed, when known
  for (int attempt = 0; attempt < 3; ++attempt) {
    int fd = ::open(lock_path_.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd >= 0) {
      ssize_t w = ::write(fd, token_.data(), token_.size());
      const int write_errno = w < 0 ? errno : ENOSPC;  // a short write: the disk filled up
      const bool synced = ::fsync(fd) == 0;
      const int sync_errno = errno;
      ::close(fd);
      if (w != ssize_t(token_.size()) || !synced) {
        ::unlink(lock_path_.c_str());  // an empty lock would refuse the next run for minutes
        throw InputError(lock_path_ + ": cannot write lock file (" +
                         std::string(strerror(w != ssize_t(token_.size()) ? write_errno
                                                                          : sync_errno)) + ")");
      }
      beat_ = std::thread([this] { heartbeat(); });
      return;
    }
    if (errno != EEXIST) {
      const int e = errno;
      // (a link to a file in a folder that does not exist: that folder is named)
      const std::string real = link_target(target);
      if (const std::string why = folder_problem(real); (e == ENOENT || e == ENOTDIR) && !why.empty())
        throw InputError(target + (real != target ? " (a link to " + real + ")" : "") + ": " + why);
      throw InputError(lock_path_ + ": cannot create lock file (" + std::string(strerror(e)) + ")");
    }
    // (a folder or FIFO of that name is no holder's: it would be taken for one, forever)
    check_not_special(lock_path_, "the lock file of " + target + " (remove it)");
    // Someone holds it, or held it and died: decide whether it is stale.
    const lock_detail::Seen seen = lock_detail::look(lock_path_);
    if (!seen.exists) {
      // A lock that cannot be read (another user's, under umask 077) may be live: its holder
      // is unknown, so it is neither stale nor taken over; a link to nothing is no holder's.
      struct stat st {};
      if (seen.error == EACCES && ::stat(lock_path_.c_str(), &st) == 0)
        throw InputError(target + " is locked by a lock file this user cannot read (" + lock_path_ +
                         ": " + strerror(EACCES) + "; heartbeat " +
                         std::to_string(long(age_at(lock_detail::fs_now(lock_path_), st))) +
                         " s ago): another user's run may be writing it; delete the lock only if "
                         "no run of " + target + " is left");
      if (seen.error == ENOENT && ::lstat(lock_path_.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
        throw InputError(lock_path_ + ": the lock file of " + target +
                         " is a symbolic link to a file that does not exist (remove it)");
      if (seen.error != ENOENT)
        throw InputError(lock_path_ + ": cannot read the lock file (" + strerror(seen.error) + ")");
      continue;  // gone meanwhile: try again
    }
    const nlohmann::json holder = holder_of(seen.text);
    const double age = lock_detail::fs_now(lock_path_) - 1e-9 * double(seen.mtime_ns);
    bool stale = age > stale_seconds;
    const long pid = holder.value("pid", 0L);
    // A lock without a holder (its writer died between creating and writing it, or a disk
    // full) is stale once a writer would long have finished.
    if (pid <= 0 && age > 5) stale = true;
    // A holder alive on this host holds it (our own pid cannot be another holder's: a pid
    // reused, or another pid namespace), however old its heartbeat: a process stopped
    // (SIGSTOP, a suspended job) does not beat. Only a lock that does not record its holder's
    // start time (another tool's) falls back to the heartbeat's age.
    bool alive_here = false;
    if (names_this_host(holder)) {
      alive_here = pid != long(getpid()) && holder_alive_here(holder);
      if (!alive_here) stale = true;
      else if (!holder.value("started", std::string()).empty()) stale = false;
    }
    const std::string job = holder.value("slurm_job_id", std::string());
    const std::string array = holder.value("slurm_array_job_id", std::string());
    // An earlier start of this very job (requeued; SLURM_RESTART_COUNT differs) is gone,
    // whatever its pid seems to say now. A run of the same start is a second, concurrent run
    // in the job: it holds the lock unless it is gone from this host or its heartbeat stopped.
    if (!job.empty() && job == env("SLURM_JOB_ID") &&
        holder.value("slurm_restart_count", std::string("?")) != env("SLURM_RESTART_COUNT"))
      stale = true;
    // Another task of this array: the task before this one in a chain (--array=1-N%1), which
    // was killed at its time limit, once its heartbeat has stopped (two beats missed); while
    // the heartbeat goes on, a task running at the same time (an array without %1, or the
    // task before still ending on another node): wait for it a while, then refuse.
    const bool same_array = !array.empty() && array == env("SLURM_ARRAY_JOB_ID");
    if (same_array && !alive_here && !stale) {
      if (age > kArrayTakeoverSeconds) {
        stale = true;
      } else if (waited < kArrayWaitSeconds) {
        std::this_thread::sleep_for(std::chrono::seconds(5));
        waited += 5;
        --attempt;
        continue;
      }
    }
    if (!stale) {
      throw InputError(target + " is being written by " + describe(holder) + " (lock file " +
                       lock_path_ +
                       ", heartbeat " + std::to_string(long(age)) + " s ago; " +
                       (same_array ? "another task of array job " + array +
                                         " runs at the same time: run a chain one task at a "
                                         "time, --array=1-N%1"
                                   : std::string("delete it only if that job is gone")) +
                       ")");
    }
    // (without the takeover mutex, after a minute's wait or an error: no use trying again)
    if (!lock_detail::remove_if_unchanged(lock_path_, seen, &why_not) && !why_not.empty()) break;
  }
  throw InputError(lock_path_ + ": could not take over the stale lock" +
                   (why_not.empty() ? std::string() : " (" + why_not + ")"));
}

bool FileLock::held(const std::string& target, double stale_seconds) {
  const std::string path = lock_file_of(target);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const nlohmann::json holder = holder_of(ss.str());
  if (names_this_host(holder)) return holder_alive_here(holder);
  // elsewhere: as long as the lock itself counts it as held (it might beat late on a slow file
  // system)
  return age_at(lock_detail::fs_now(path, true), st) <= stale_seconds;
}

std::string FileLock::lost(double gone_recheck_seconds) const {
  lock_detail::Seen now = lock_detail::look(lock_path_);
  if (!now.exists) {  // a second look: an NFS client can fail an open for a moment
    std::this_thread::sleep_for(std::chrono::duration<double>(gone_recheck_seconds));
    now = lock_detail::look(lock_path_);
  }
  if (!now.exists) return "its lock file " + lock_path_ + " is gone (deleted while this job ran)";
  if (now.text == token_) return "";
  return "its lock file " + lock_path_ + " now names " + describe(holder_of(now.text)) +
         " (it took the lock over as stale: this job had no heartbeat for longer than the stale "
         "time, stopped or suspended)";
}

void FileLock::heartbeat() {
  std::unique_lock<std::mutex> lk(m_);
  while (!cv_.wait_for(lk, std::chrono::seconds(int(kBeatSeconds)), [this] { return stop_; })) {
    // A lock taken over while this process was stopped is another holder's now: never touched.
    const lock_detail::Seen now = lock_detail::look(lock_path_);
    if (now.exists && now.text != token_) break;
    if (now.exists) ::utime(lock_path_.c_str(), nullptr);
  }
}

void FileLock::release_for(const std::string& target, const std::string& token) {
  const std::string path = lock_file_of(target);
  const auto seen = lock_detail::look(path);
  if (!seen.exists || seen.text != token) return;
  std::string why;
  lock_detail::remove_if_unchanged(path, seen, &why);
}

FileLock::~FileLock() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (beat_.joinable()) beat_.join();
  // Remove only our own lock, and under the takeover mutex, as a takeover removes a stale one: a
  // starter that judged this lock stale (its holder suspended for minutes, now resumed and
  // ending) and took it over between a look and an unlink by name would lose its fresh lock.
  // Where the mutex cannot be made (a full disk or quota: its token is not written) and none is
  // there, no takeover can be under way, as a takeover needs it: the lock is removed by name, as
  // before (a sweep ended by a full disk left its lock, refusing the next run for minutes). One
  // whose holder did not let go for a minute is left, to be taken over as stale.
  const auto seen = lock_detail::look(lock_path_);
  if (!seen.exists || seen.text != token_) return;
  std::string why;
  if (lock_detail::remove_if_unchanged(lock_path_, seen, &why) || why.empty()) return;
  struct stat st {};
  if (::lstat((lock_path_ + ".takeover").c_str(), &st) != 0 && errno == ENOENT &&
      lock_detail::look(lock_path_).text == token_)
    ::unlink(lock_path_.c_str());
}

}  // namespace losscape
