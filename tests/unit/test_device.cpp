// The GPU binding rule (select_device / device_for): node-local rank modulo the visible devices,
// the CPU when none is visible, and one-line refusals. The rule is checked here for machines of
// 1, 2 and 4 GPUs without any GPU; device-check.sh runs it on a real one (docs/performance.md).
#include <catch2/catch.hpp>

#include "losscape/device.hpp"
#include "losscape/error.hpp"

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
  REQUIRE(refusal("cuda:x", 0, 2, true).find("unknown device 'cuda:x'") != std::string::npos);
  REQUIRE(refusal("gpu", 0, 2, true).find("unknown device 'gpu'") != std::string::npos);
  REQUIRE(refusal("cuda:99999999", 0, 2, true).find("only 2 devices are visible") !=
          std::string::npos);
}
