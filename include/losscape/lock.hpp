// An exclusive writer lock for an output file that works on NFS and Lustre: a lock file created
// with O_CREAT|O_EXCL holding the holder's host, pid (and the process's start time) and Slurm
// job, kept fresh by a heartbeat thread. A holder alive on this host is never taken over, even
// stopped (no heartbeat). Stale locks are taken over: the holder's process is gone on this host
// (or its pid now names a later process), it is an earlier
// start of the same Slurm job (requeued), another task of the same job array whose heartbeat has
// stopped (a chain's task killed at its limit; one that still beats is waited for, then
// refused), or there was no heartbeat for `stale_seconds`. A holder whose lock was taken over
// (stopped on another host that long) stops beating and learns it from lost().
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include <sys/types.h>

namespace losscape {

namespace lock_detail {
/// A lock file as read once: its text, identity and last heartbeat from one open file.
struct Seen {
  bool exists = false;
  int error = 0;  ///< errno of the open that failed (exists false)
  std::string text;
  dev_t dev = 0;
  ino_t ino = 0;
  long long mtime_ns = 0;  ///< the last heartbeat
};
Seen look(const std::string& path);
/// The file system's clock where `near` is (Unix seconds): the modification time of a file
/// created in its folder (.losscape-clock.HOST.PID) and removed at once, which an NFS server sets
/// with its own clock, as it does a heartbeat's; this host's clock where no file can be created
/// there, or, with `only_own_folder`, where the folder is another user's (a read-only look
/// writes nothing there). The age of a lock is measured on it, so a node whose clock runs ahead
/// of the server's does not take a live holder's lock for stale, nor one behind keep a dead
/// holder's for ever.
double fs_now(const std::string& near, bool only_own_folder = false);
/// Remove the lock file at `path` if it is still the one `seen` (judged stale), atomically
/// against other starters doing the same; true when it was. A lock that replaced it meanwhile
/// (another starter's takeover) is left in place. Removals take turns under a takeover mutex,
/// `path` + ".takeover" (held for a look and an unlink; one left by a process gone from this
/// host, or older than 10 s, is removed).
/// When the mutex cannot be made (a read-only folder), `why` (if given) gets the reason.
bool remove_if_unchanged(const std::string& path, const Seen& seen, std::string* why = nullptr);
}  // namespace lock_detail

/// Where a symbolic link at `path` leads (through chains of links, also to a file that does not
/// exist yet: `ln -s /scratch/me/s.h5 s.h5` before the first run); `path` when it is no link. A
/// surface is read, locked, created and merged there (the link stays).
std::string link_target(const std::string& path);
/// The lock file of `target`: link_target(target) + ".lock".
std::string lock_file_of(const std::string& target);

/// Throw InputError when `target` (through symbolic links) is a file with more than one hard
/// link: a run writing it under another name takes that name's lock, not this one, and both
/// would write the file (a surface's resume, merge's output). Nothing when it does not exist.
void refuse_hard_linked(const std::string& target);

class FileLock {
 public:
  /// Acquire `target` + ".lock" or throw InputError naming the holder.
  explicit FileLock(const std::string& target, double stale_seconds = 120);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  const std::string& path() const { return lock_path_; }
  /// Whether a live writer holds `target`'s lock: its process runs (a holder on this host) or
  /// its heartbeat is younger than `stale_seconds` (a holder elsewhere). A read-only look but for
  /// the clock probe of fs_now, made only in a folder of this user.
  static bool held(const std::string& target, double stale_seconds = 120);
  /// "" while the lock file is still this holder's; else what became of it (another holder's
  /// lock, or none). A holder stopped or suspended on another host for longer than the stale
  /// time can find its lock taken over by another job, which now writes the target: the holder
  /// must write nothing more to it. One read of the lock file, and a second one
  /// `gone_recheck_seconds` later when it is not there (an NFS client can fail an open for a
  /// moment; the sweep waits longer under several ranks, sweep.cpp's kAbortGraceSeconds).
  std::string lost(double gone_recheck_seconds = 0.5) const;
  /// What this holder wrote into the lock file (its host, pid and start): for release_for.
  const std::string& token() const { return token_; }
  /// Removes `target`'s lock where it still holds `token` (another process's lock, given by
  /// token()): another rank of an MPI job that is aborting lets go of rank 0's lock, which
  /// rank 0, ended by the abort, cannot (a rerun from another node was refused for minutes).
  static void release_for(const std::string& target, const std::string& token);

 private:
  void heartbeat();
  std::string lock_path_;
  std::string token_;
  std::thread beat_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace losscape
