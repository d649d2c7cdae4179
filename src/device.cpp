#include "losscape/device.hpp"

#include <dlfcn.h>
#include <sched.h>  // (sched_getaffinity, cpu_set_t: GNU extensions, glibc and musl alike)
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <c10/core/impl/DeviceGuardImplInterface.h>

#include "losscape/error.hpp"

namespace losscape {

torch::Device select_device(const std::string& want, int local_rank) {
  if (want == "cpu") return torch::kCPU;
  const bool cuda_ok = torch::cuda::is_available();
  const auto d = device_for(want, local_rank, cuda_ok ? int(torch::cuda::device_count()) : 0, cuda_ok);
  // The process's current CUDA device, which the calls without a device of their own use
  // (synchronizations, events, new streams): otherwise device 0 on every rank of a node, each
  // rank making a context there and timing the wrong GPU.
  if (d.is_cuda()) c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(d);
  return d;
}

torch::Device device_for(const std::string& want, int local_rank, int n, bool cuda_ok) {
  if (want == "cpu") return torch::kCPU;
  if (want == "auto") return n > 0 ? torch::Device(torch::kCUDA, local_rank % n) : torch::kCPU;
  if (want == "cuda" || want.rfind("cuda:", 0) == 0) {
    if (n == 0)
      throw InputError("--device " + want + ": no CUDA device is visible (this LibTorch " +
                       std::string(cuda_ok ? "sees none" : "has no CUDA support") + ")");
    if (want == "cuda") return torch::Device(torch::kCUDA, local_rank % n);
    const auto digits = want.substr(5);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos)
      throw InputError("--device '" + want + "': unknown device (expected auto, cpu, cuda or cuda:N)");
    const int idx = digits.size() > 6 ? n : std::stoi(digits);
    if (idx < 0 || idx >= n)
      throw InputError("--device " + want + ": only " + std::to_string(n) +
                       (n == 1 ? " device is" : " devices are") + " visible (cuda:0" +
                       (n > 1 ? " to cuda:" + std::to_string(n - 1) : std::string()) + ")");
    return torch::Device(torch::kCUDA, idx);
  }
  throw InputError("--device '" + want + "': unknown device (expected auto, cpu, cuda or cuda:N)");
}

namespace {
// The CUDA driver (libcuda.so.1, present wherever a GPU is usable), loaded at run time so that
// CPU-only builds need no CUDA, initialized, and device `ordinal` of it; nullptr when there is
// none. The driver numbers devices as CUDA does (after CUDA_VISIBLE_DEVICES), as LibTorch does.
void* cuda_driver(int ordinal, int* device) {
  void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);  // kept loaded: CUDA is in use
  if (lib == nullptr) return nullptr;
  using Init = int (*)(unsigned);
  using Get = int (*)(int*, int);
  auto init = reinterpret_cast<Init>(dlsym(lib, "cuInit"));
  auto get = reinterpret_cast<Get>(dlsym(lib, "cuDeviceGet"));
  if (init == nullptr || get == nullptr || init(0) != 0 || get(device, ordinal) != 0) return nullptr;
  return lib;
}

// A GPU's name from the CUDA driver; "" when it cannot be read.
std::string cuda_device_name(int ordinal) {
  int device = 0;
  void* lib = cuda_driver(ordinal, &device);
  if (lib == nullptr) return "";
  using Name = int (*)(char*, int, int);
  auto name = reinterpret_cast<Name>(dlsym(lib, "cuDeviceGetName"));
  char buf[256] = {};
  if (name == nullptr || name(buf, int(sizeof buf) - 1, device) != 0) return "";
  return buf;
}
}  // namespace

int cuda_compute_capability(int ordinal) {
  int device = 0;
  void* lib = cuda_driver(ordinal, &device);
  if (lib == nullptr) return -1;
  using Attribute = int (*)(int*, int, int);
  auto attribute = reinterpret_cast<Attribute>(dlsym(lib, "cuDeviceGetAttribute"));
  // (CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR and _MINOR, cuda.h)
  constexpr int kMajor = 75, kMinor = 76;
  int major = 0, minor = 0;
  if (attribute == nullptr || attribute(&major, kMajor, device) != 0 ||
      attribute(&minor, kMinor, device) != 0)
    return -1;
  return 10 * major + minor;
}

bool lacks_tf32(const torch::Device& d, int* cc) {
  const int capability = d.is_cuda() ? cuda_compute_capability(d.has_index() ? d.index() : 0) : -1;
  if (cc) *cc = capability;
  return capability >= 0 && capability < 80;
}

std::string describe_device(const torch::Device& d) {
  if (d.is_cpu()) {
    const int n = at::get_num_threads();
    return "cpu (" + std::to_string(n) + (n == 1 ? " thread)" : " threads)");
  }
  if (d.is_cuda()) {
    const auto name = cuda_device_name(d.has_index() ? d.index() : 0);
    if (!name.empty()) return d.str() + " (" + name + ")";
  }
  return d.str();
}

std::pair<std::string, int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) == 0)  // (> 1024 CPUs)
    return {"", std::max(1, int(std::thread::hardware_concurrency()))};
  std::string list;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    int last = c;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
    list += (list.empty() ? "" : ",") + std::to_string(c) + (last > c ? "-" + std::to_string(last) : "");
    c = last;
  }
  return {list, CPU_COUNT(&set)};
}

int ranks_sharing_cpus(const mpi::Comm& node) {
  const std::string mine = usable_cpus().first;
  const auto all = node.allgather(mine);
  return int(std::count(all.begin(), all.end(), mine));
}

int configure_cpu_threads(int threads, int ranks_sharing) {
  // (a bound far beyond any node's cores: OpenMP aborts the process when it cannot allocate
  // the threads asked for)
  constexpr int kMaxThreads = 4096;
  if (threads < 0 || threads > kMaxThreads)
    throw InputError("--threads " + std::to_string(threads) + ": expected 0 (the CPUs the rank may use / the ranks "
                     "sharing them) to " + std::to_string(kMaxThreads));
  if (threads == 0) threads = std::max(1, usable_cpus().second / std::max(1, ranks_sharing));
  at::set_num_threads(threads);
  return threads;
}

namespace {

// The first whitespace-separated number of a file (or of its line starting with `key`), in bytes
// with `scale`; nullopt if there is none (a missing file, "max", "unlimited").
std::optional<std::uint64_t> read_number(const std::filesystem::path& file, const std::string& key = "",
                                         std::uint64_t scale = 1) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (!key.empty() && line.compare(0, key.size(), key) != 0) continue;
    std::istringstream words(line.substr(key.size()));
    std::string w;
    while (words >> w)
      if (!w.empty() && std::isdigit((unsigned char)w[0])) {
        try {
          return std::uint64_t(std::stoull(w)) * scale;
        } catch (const std::exception&) {
          return std::nullopt;
        }
      }
    return std::nullopt;
  }
  return std::nullopt;
}

// The room left under the memory limits of `dir` and of every cgroup above it up to `top`
// (`limit` and `usage` name the files: v2 memory.max / memory.current, v1 memory.limit_in_bytes /
// memory.usage_in_bytes, whose "no limit" is a huge number, kept as such). The usage counts the
// page cache the cgroup's reads left (a job that read its data set: usage near the limit); its
// inactive part (`cache` in memory.stat) is reclaimed on demand, and counts as room.
std::uint64_t cgroup_room(std::filesystem::path dir, const std::filesystem::path& top,
                          const char* limit, const char* usage, const char* cache) {
  std::uint64_t room = MemoryRoom::unlimited;
  // (in a container the path /proc/self/cgroup names may be the host's: the levels that do not
  // exist are skipped, the container's own root is read)
  for (;;) {
    const auto max = read_number(dir / limit), used = read_number(dir / usage);
    if (max && used) {
      const std::uint64_t reclaimable = read_number(dir / "memory.stat", cache).value_or(0);
      const std::uint64_t in_use = *used > reclaimable ? *used - reclaimable : 0;
      room = std::min(room, *max > in_use ? *max - in_use : 0);
    }
    if (dir == top || !dir.has_relative_path() || dir.parent_path() == dir) break;
    dir = dir.parent_path();
    if (dir.string().size() < top.string().size()) break;
  }
  return room;
}

}  // namespace

std::string memory_shortfall(const MemoryRoom& room, std::uint64_t per_rank, int ranks_on_node,
                             const std::function<std::string(std::uint64_t)>& size_text) {
  const std::uint64_t per_node = per_rank * std::uint64_t(std::max(ranks_on_node, 1));
  if (per_rank > room.process)
    return "this process may map only " + size_text(room.process) + " more (ulimit -v)";
  if (per_node > room.cgroup)
    return "the job's memory limit (cgroup) leaves " + size_text(room.cgroup);
  if (per_node > room.node) return "this node has " + size_text(room.node) + " available";
  return "";
}

MemoryRoom memory_room(const std::string& root) {
  namespace fs = std::filesystem;
  MemoryRoom room;
  if (auto v = read_number(root + "/proc/meminfo", "MemAvailable:", 1024)) room.node = *v;
  std::ifstream groups(root + "/proc/self/cgroup");
  std::string line;
  while (std::getline(groups, line)) {
    // "0::/path" (v2) or "N:controller,controller:/path" (v1)
    const auto a = line.find(':'), b = line.find(':', a == std::string::npos ? a : a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = "," + line.substr(a + 1, b - a - 1) + ",";
    const std::string path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers == ",,") {
      const fs::path top = root + "/sys/fs/cgroup";
      room.cgroup = std::min(room.cgroup, cgroup_room(top.string() + path, top, "memory.max", "memory.current",
                                                      "inactive_file "));
    } else if (controllers.find(",memory,") != std::string::npos) {
      const fs::path top = root + "/sys/fs/cgroup/memory";
      room.cgroup = std::min(room.cgroup, cgroup_room(top.string() + path, top, "memory.limit_in_bytes",
                                                      "memory.usage_in_bytes", "total_inactive_file "));
    }
  }
  const auto limit = read_number(root + "/proc/self/limits", "Max address space");
  const auto size = read_number(root + "/proc/self/status", "VmSize:", 1024);
  if (limit) room.process = *limit > size.value_or(0) ? *limit - size.value_or(0) : 0;
  return room;
}

void tune_cpu_allocator() {
#if defined(__GLIBC__)
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if ((tunables && std::strstr(tunables, "malloc")) || std::getenv("MALLOC_MMAP_THRESHOLD_") ||
      std::getenv("MALLOC_TRIM_THRESHOLD_"))
    return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace losscape
