// The MPI layer: an RAII environment, a communicator wrapper with the few collectives losscape
// uses, the node-local rank for device binding, and error handling that brings the whole job
// down with one message (MPI_Abort) instead of hanging the other ranks.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace losscape::mpi {

/// MPI_Init_thread / MPI_Finalize. Safe to construct when MPI is already initialised.
class Environment {
 public:
  Environment(int* argc, char*** argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  bool owns_ = false;
};

bool initialized();

/// A communicator; owns it (MPI_Comm_free) unless it wraps a predefined one.
class Comm {
 public:
  Comm() : comm_(MPI_COMM_WORLD) {}
  explicit Comm(MPI_Comm c, bool owned = false) : comm_(c), owned_(owned) {}
  Comm(Comm&& o) noexcept : comm_(o.comm_), owned_(o.owned_) { o.owned_ = false; }
  Comm& operator=(Comm&& o) noexcept;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm();
  static Comm world() { return Comm(MPI_COMM_WORLD); }
  static Comm self() { return Comm(MPI_COMM_SELF); }

  MPI_Comm get() const { return comm_; }
  int rank() const;
  int size() const;
  bool root() const { return rank() == 0; }

  /// Communicator of the ranks sharing this node (MPI_Comm_split_type SHARED).
  Comm split_node() const;
  /// MPI_Comm_split; ranks that pass MPI_UNDEFINED get a Comm holding MPI_COMM_NULL.
  Comm split(int color, int key) const;

  void barrier() const;
  void bcast(std::string& s, int root = 0) const;
  void bcast(void* data, std::int64_t bytes, int root = 0) const;  ///< (any size: sent in pieces)
  double allreduce_sum(double v) const;
  void allreduce_sum(double* v, std::int64_t n) const;  ///< (any size: in pieces)
  std::int64_t allreduce_sum(std::int64_t v) const;
  std::int64_t allreduce_max(std::int64_t v) const;
  double allreduce_max(double v) const;
  /// Gather strings from all ranks to everybody.
  std::vector<std::string> allgather(const std::string& s) const;

  /// Agree on success: every rank passes its own error message ("" = ok); all ranks return the
  /// first non-empty message (lowest rank) followed by " (rank R)", or without it when every
  /// rank had that same message, so all can throw together instead of hanging.
  std::string agree(const std::string& my_error) const;

  /// Where a rank's settings differ from rank 0's: the first of rank 0's settings, in its order,
  /// that the lowest such rank has with another value or not at all, else the first it has that
  /// rank 0 has not ("" for a setting not given). Compared by name, so that a setting given on
  /// one rank only is named, not the ones after it. Collective; the same answer on every rank.
  struct Difference {
    int rank = -1;  ///< -1: every rank has rank 0's settings
    std::string name, theirs, rank0;
  };
  using Settings = std::vector<std::pair<std::string, std::string>>;  ///< (name, value as text)
  Difference first_difference(const Settings& mine) const;

 private:
  MPI_Comm comm_;
  bool owned_ = false;
};

/// Print "losscape: <message>" once and abort the whole job (MPI_Abort on MPI_COMM_WORLD),
/// after the cleanups of the live AbortCleanup objects of this rank.
[[noreturn]] void abort_job(const std::string& message, int code);

/// While alive, abort_job runs `cleanup` on this rank before it ends the job (newest first): for
/// what must not outlive a job killed from any depth, e.g. the output's lock, which the next run
/// would otherwise have to wait for. Not copyable; one per scope.
class AbortCleanup {
 public:
  explicit AbortCleanup(std::function<void()> cleanup);
  ~AbortCleanup();
  AbortCleanup(const AbortCleanup&) = delete;
  AbortCleanup& operator=(const AbortCleanup&) = delete;

 private:
  std::function<void()> cleanup_;
};

/// Throws MpiError naming the call when rc is not MPI_SUCCESS.
void check(int rc, const char* what);

}  // namespace losscape::mpi
