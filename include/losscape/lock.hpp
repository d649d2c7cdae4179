// An exclusive writer lock for an output file that works on NFS and Lustre: a lock file created
// with O_CREAT|O_EXCL holding the holder's host, pid and Slurm job, kept fresh by a heartbeat
// thread. Stale locks (holder process gone on this host, same Slurm job or array requeued, or no
// heartbeat for `stale_seconds`) are taken over.
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace losscape {

class FileLock {
 public:
  /// Acquire `target` + ".lock" or throw InputError naming the holder.
  explicit FileLock(const std::string& target, double stale_seconds = 120);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  const std::string& path() const { return lock_path_; }

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
