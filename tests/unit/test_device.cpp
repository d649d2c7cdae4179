// The GPU binding rule (select_device / device_for): node-local rank modulo the visible devices,
// the CPU when none is visible, and one-line refusals. The rule is checked here for machines of
// 1, 2 and 4 GPUs without any GPU; device-check.sh runs it on a real one (docs/performance.md).
#include <catch2/catch.hpp>

#include "losscape/device.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "test_support.hpp"

#include <sys/resource.h>

#include <filesystem>
#include <fstream>

using namespace losscape;

namespace {
std::string refusal(const std::string& want, int local_rank, int visible, bool cuda_ok) {
  try {
    device_for(want, local_rank, visible, cuda_ok);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("device: auto and cuda take the node-local rank modulo the visible GPUs", "[device]") {
  for (int visible : {1, 2, 4})
    for (int rank = 0; rank < 9; ++rank)
      for (const char* want : {"auto", "cuda"}) {
        const auto d = device_for(want, rank, visible, true);
        REQUIRE(d.is_cuda());
        REQUIRE(d.index() == rank % visible);
      }
}

TEST_CASE("device: auto falls back to the CPU when no GPU is visible", "[device]") {
  REQUIRE(device_for("auto", 3, 0, true).is_cpu());
  REQUIRE(device_for("auto", 0, 0, false).is_cpu());
  REQUIRE(device_for("cpu", 5, 4, true).is_cpu());
}

TEST_CASE("device: cuda:N is that device on every rank", "[device]") {
  for (int rank = 0; rank < 4; ++rank) REQUIRE(device_for("cuda:1", rank, 2, true).index() == 1);
}

TEST_CASE("device: refusals name what is visible", "[device]") {
  REQUIRE(refusal("cuda:7", 0, 1, true) == "--device cuda:7: only 1 device is visible (cuda:0)");
  REQUIRE(refusal("cuda:4", 0, 4, true) ==
          "--device cuda:4: only 4 devices are visible (cuda:0 to cuda:3)");
  REQUIRE(refusal("cuda", 0, 0, false).find("has no CUDA support") != std::string::npos);
  REQUIRE(refusal("cuda:0", 0, 0, true).find("sees none") != std::string::npos);
  REQUIRE(refusal("cuda:x", 0, 2, true).find("--device 'cuda:x': unknown device") != std::string::npos);
  REQUIRE(refusal("gpu", 0, 2, true).find("--device 'gpu': unknown device") != std::string::npos);
  REQUIRE(refusal("cuda:99999999", 0, 2, true).find("only 2 devices are visible") !=
          std::string::npos);
}

// memory_room reads the kernel's files; here from trees written as Linux and Slurm lay them out.
namespace {
// Files under `root`: {path, contents} each.
void tree(const std::string& root, std::initializer_list<std::pair<std::string, std::string>> files) {
  for (const auto& [path, text] : files) {
    std::filesystem::create_directories(std::filesystem::path(root + path).parent_path());
    std::ofstream(root + path) << text;
  }
}
}  // namespace

TEST_CASE("device: a CPU is described with its thread count", "[device]") {
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  CHECK(describe_device(torch::Device(torch::kCPU)) == "cpu (1 thread)");
  at::set_num_threads(2);
  CHECK(describe_device(torch::Device(torch::kCPU)) == "cpu (2 threads)");
  at::set_num_threads(before);
}

TEST_CASE("device: memory_room takes MemAvailable and Slurm's cgroup v2 job limit", "[device]") {
  test::TempDir t("memroom2");
  const std::string job = "/sys/fs/cgroup/system.slice/slurmstepd.scope/job_42";
  tree(t.str(), {
      {"/proc/meminfo", "MemTotal:       263854080 kB\nMemFree:        1000 kB\nMemAvailable:   250000000 kB\n"},
      {"/proc/self/cgroup", "0::/system.slice/slurmstepd.scope/job_42/step_0/user/task_0\n"},
      {"/sys/fs/cgroup/memory.current", "5000000000\n"},  // the root has no memory.max
      {job + "/memory.max", "8589934592\n"},               // --mem=8G
      {job + "/memory.current", "3221225472\n"},  // 3 GiB, 2 of them inactive page cache
      {job + "/memory.stat", "anon 1000000\nfile 2500000000\nactive_file 300000000\ninactive_file 2147483648\n"},
      {job + "/step_0/memory.max", "max\n"},
      {job + "/step_0/memory.current", "1000000000\n"},
      {job + "/step_0/user/task_0/memory.max", "max\n"},
      {job + "/step_0/user/task_0/memory.current", "900000000\n"},
      {"/proc/self/limits", "Limit                     Soft Limit           Hard Limit           Units     \n"
                            "Max address space         unlimited            unlimited            bytes     \n"},
      {"/proc/self/status", "Name:\tlosscape\nVmPeak:\t 3000000 kB\nVmSize:\t 2000000 kB\n"},
  });
  const MemoryRoom m = memory_room(t.str());
  REQUIRE(m.node == 250000000ull * 1024);
  REQUIRE(m.cgroup == 8589934592ull - 1073741824ull);
  REQUIRE(m.process == MemoryRoom::unlimited);
}

TEST_CASE("device: memory_room reads cgroup v1 and ulimit -v", "[device]") {
  test::TempDir t("memroom1");
  const std::string job = "/sys/fs/cgroup/memory/slurm/uid_0/job_7";
  tree(t.str(), {
      {"/proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: 800 kB\n"},
      {"/proc/self/cgroup", "12:pids:/slurm/uid_0/job_7\n4:cpuacct,memory:/slurm/uid_0/job_7/step_0\n0::/\n"},
      {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n"},  // v1's "no limit"
      {"/sys/fs/cgroup/memory/memory.usage_in_bytes", "123\n"},
      {job + "/memory.limit_in_bytes", "4294967296\n"},
      {job + "/memory.usage_in_bytes", "1294967296\n"},  // 1 GB of it inactive page cache
      {job + "/memory.stat", "cache 1100000000\ninactive_file 5\ntotal_cache 1100000000\ntotal_inactive_file 1000000000\n"},
      {job + "/step_0/memory.limit_in_bytes", "9223372036854771712\n"},
      {job + "/step_0/memory.usage_in_bytes", "1\n"},
      {"/proc/self/limits", "Max address space         2147483648           unlimited            bytes\n"},
      {"/proc/self/status", "VmSize:\t 1048576 kB\n"},
  });
  const MemoryRoom m = memory_room(t.str());
  REQUIRE(m.node == 800ull * 1024);
  REQUIRE(m.cgroup == 4000000000ull);
  REQUIRE(m.process == 2147483648ull - 1073741824ull);
}

TEST_CASE("device: memory_room without the kernel's files sets no limit", "[device]") {
  test::TempDir t("memroom0");
  const MemoryRoom m = memory_room(t.str());
  REQUIRE(m.node == MemoryRoom::unlimited);
  REQUIRE(m.cgroup == MemoryRoom::unlimited);
  REQUIRE(m.process == MemoryRoom::unlimited);
  // This machine's own files: MemAvailable as the kernel states it, and ulimit -v as getrlimit.
  const MemoryRoom here = memory_room();
  REQUIRE(here.node > 0);
  REQUIRE(here.node < MemoryRoom::unlimited);
  rlimit as{};
  REQUIRE(getrlimit(RLIMIT_AS, &as) == 0);
  if (as.rlim_cur == RLIM_INFINITY) REQUIRE(here.process == MemoryRoom::unlimited);
  else REQUIRE(here.process < as.rlim_cur);
}

TEST_CASE("one_line names a failed allocation as running out of memory", "[device]") {
  // std::bad_alloc's own text is "std::bad_alloc"; LibTorch's allocator reports an enforce
  // failure with its source line (its text as WRN-56-4's --density met it): both are said to be
  // a lack of memory first, on one line.
  CHECK(losscape::one_line(std::bad_alloc()).rfind("out of memory (std::bad_alloc)", 0) == 0);
  const c10::Error torch_oom(
      "[enforce fail at alloc_cpu.cpp:75] data. DefaultCPUAllocator: can't allocate memory: you "
      "tried to allocate 108800000 bytes. Error code 12 (Cannot allocate memory)",
      "backtrace\nline 2");
  const std::string said = losscape::one_line(torch_oom);
  CHECK(said.rfind("out of memory: [enforce fail at alloc_cpu.cpp:75]", 0) == 0);
  CHECK(said.find('\n') == std::string::npos);
  // other LibTorch errors keep their own words
  const c10::Error other("shape '[4]' is invalid for input of size 6", "backtrace");
  CHECK(losscape::one_line(other) == "shape '[4]' is invalid for input of size 6");
}

// Hidden ([.]): run by CTest with LD_LIBRARY_PATH naming tests/faults/fake_libcuda.c's
// libcuda.so.1, a CUDA driver of one "Fake V100" whose compute capability FAKE_CUDA_CC sets.
TEST_CASE("tf32 is refused on a GPU before Ampere (a fake CUDA driver)", "[.fake-cuda]") {
  REQUIRE(::setenv("FAKE_CUDA_CC", "7.0", 1) == 0);
  REQUIRE(cuda_compute_capability(0) == 70);  // (else the fake driver was not loaded)
  CHECK(cuda_compute_capability(1) == -1);    // (a device the driver does not have)
  const torch::Device gpu(torch::kCUDA, 0);
  CHECK(describe_device(gpu) == "cuda:0 (Fake V100)");
  int cc = 0;
  CHECK(lacks_tf32(gpu, &cc));
  CHECK(cc == 70);
  CHECK_FALSE(lacks_tf32(torch::Device(torch::kCPU)));
  REQUIRE_THROWS_WITH(PrecisionGuard(Precision::tf32, gpu),
                      "--precision tf32 needs a GPU of compute capability 8.0 or later (Ampere): "
                      "cuda:0 (Fake V100) is 7.0 and computes fp32 (use --precision fp32)");
  CHECK_NOTHROW(PrecisionGuard(Precision::fp32, gpu));
  CHECK_NOTHROW(PrecisionGuard(Precision::bf16, gpu));  // (emulated before Ampere, as PyTorch's)
  REQUIRE(::setenv("FAKE_CUDA_CC", "8.0", 1) == 0);
  CHECK(cuda_compute_capability(0) == 80);
  CHECK_FALSE(lacks_tf32(gpu));
  CHECK_NOTHROW(PrecisionGuard(Precision::tf32, gpu));
  REQUIRE(::setenv("FAKE_CUDA_CC", "unreadable", 1) == 0);  // (the driver fails: not refused)
  CHECK(cuda_compute_capability(0) == -1);
  CHECK_NOTHROW(PrecisionGuard(Precision::tf32, gpu));
  ::unsetenv("FAKE_CUDA_CC");
}
