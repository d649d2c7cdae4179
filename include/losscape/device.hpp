// Device selection and binding: one GPU per rank by node-local rank (CUDA_VISIBLE_DEVICES, as set
// by Slurm, is respected by CUDA itself), CPU when there is none; CPU thread counts.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "losscape/mpi.hpp"

namespace losscape {

/// want: "auto" | "cpu" | "cuda" | "cuda:N". For auto/cuda, device = local_rank % visible GPUs.
/// Throws InputError when cuda is asked for and none is visible. A CUDA device becomes the
/// calling thread's current device.
torch::Device select_device(const std::string& want, int local_rank = 0);
/// select_device's rule for `visible` CUDA devices (what CUDA reports after CUDA_VISIBLE_DEVICES);
/// `cuda_ok`: whether this LibTorch has CUDA at all (for the message when none is visible).
torch::Device device_for(const std::string& want, int local_rank, int visible, bool cuda_ok);
/// Human-readable description ("cpu (2 threads)", "cuda:0 (NVIDIA H200)").
std::string describe_device(const torch::Device& d);
/// A CUDA device's compute capability as 10 × major + minor (70 for a V100, 80 for an A100, 90
/// for an H100), from the CUDA driver (loaded at run time, as for its name); -1 where it cannot
/// be read (no driver: a CPU-only machine).
int cuda_compute_capability(int ordinal);
/// Whether `d` is a GPU known to have no TensorFloat-32: compute capability below 8.0 (Ampere),
/// which computes fp32 where TF32 is allowed; its capability in `cc` when given. False for a CPU
/// and where the capability cannot be read.
bool lacks_tf32(const torch::Device& d, int* cc = nullptr);
/// The CPUs this process may run on (its affinity mask: a Slurm job's cpuset, taskset, an MPI
/// launcher's binding) as a list like "0-3,8", and their number; every online CPU ("") where the
/// mask cannot be read.
std::pair<std::string, int> usable_cpus();
/// How many ranks of `node` may run on exactly the CPUs this one may: all of them when none is
/// bound (`--bind-to none`, a shared cpuset), 1 where the launcher gave each rank cores of its
/// own. Collective over `node`.
int ranks_sharing_cpus(const mpi::Comm& node);
/// Intra-op threads for CPU work: `threads` if > 0, else the CPUs this process may run on /
/// ranks_sharing (at least 1). (All the node's cores, as hardware_concurrency() counts them,
/// started 128 threads per rank of a job given 4 cores of a shared node.)
int configure_cpu_threads(int threads, int ranks_sharing);
/// glibc's malloc hands blocks above a dynamic threshold back to the kernel at every free, so a
/// forward pass on a CPU maps, faults in and unmaps its activations at every layer. A fixed
/// 32 MB mmap threshold (glibc's maximum) and a 1 GB trim threshold keep them in the heap: up to
/// 4.6x faster evaluation of ResNet-56 at batch 128 (docs/performance.md). Called first thing
/// by the programs; does nothing when the user tunes malloc (GLIBC_TUNABLES, MALLOC_*_).
void tune_cpu_allocator();

/// How much more memory this process can take, in bytes, by what limits it; `unlimited` where a
/// limit is absent or cannot be read (never a refusal for want of a file).
struct MemoryRoom {
  static constexpr std::uint64_t unlimited = UINT64_MAX;
  std::uint64_t node = unlimited;     ///< MemAvailable of /proc/meminfo: the whole node's
  std::uint64_t cgroup = unlimited;   ///< the tightest enclosing cgroup's memory limit minus its
                                      ///< usage but inactive page cache (v2 memory.max, v1
                                      ///< memory.limit_in_bytes: Slurm's --mem, a container's
                                      ///< limit); shared by its processes
  std::uint64_t process = unlimited;  ///< RLIMIT_AS (ulimit -v) minus the process's VmSize
};
/// Reads /proc/meminfo, /proc/self/{cgroup,status,limits} and /sys/fs/cgroup; `root` is put in
/// front of those paths (tests give a tree of their own).
MemoryRoom memory_room(const std::string& root = "");
/// Why `per_rank` more bytes on each of the `ranks_on_node` ranks of this node do not fit `room`
/// ("" when they do): "this process may map only 1.41 GB more (ulimit -v)", "the job's memory
/// limit (cgroup) leaves ...", "this node has ... available", with sizes by `size_text`.
std::string memory_shortfall(const MemoryRoom& room, std::uint64_t per_rank, int ranks_on_node,
                             const std::function<std::string(std::uint64_t)>& size_text);

}  // namespace losscape
