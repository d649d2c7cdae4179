#include "losscape/pass_graph.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "losscape/error.hpp"

#ifdef LOSSCAPE_CUDA_GRAPHS
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace losscape {

void check_cuda_graphs(const std::string& s) {
  if (s != "auto" && s != "off") throw InputError("--cuda-graphs '" + s + "': expected auto or off");
}

struct PassGraph::Impl {
  std::string name;
  std::vector<std::int64_t> key;  // the previous call's; once recorded, the recorded pass's
  bool recorded = false;
  std::string off;
#ifdef LOSSCAPE_CUDA_GRAPHS
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  torch::Tensor out;  // the sums each replay writes
#endif
};

PassGraph::PassGraph(std::string name) : impl_(std::make_unique<Impl>()) {
  impl_->name = std::move(name);
}
PassGraph::~PassGraph() = default;

bool PassGraph::recorded() const { return impl_->recorded; }
const std::string& PassGraph::off_reason() const { return impl_->off; }

#ifndef LOSSCAPE_CUDA_GRAPHS

bool PassGraph::supported() { return false; }

torch::Tensor PassGraph::run(const std::vector<std::int64_t>&, const torch::Device&,
                             const Pass& pass, const std::function<void()>&) {
  return pass(false);
}

#else

bool PassGraph::supported() { return true; }

namespace {

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// The replay's sums against the ordinary pass's: equal to 1e-5 relative (1e-5 absolute below 1),
// NaN where NaN, the same infinities. Returns "" or what differs.
std::string compare_sums(const torch::Tensor& ordinary, const torch::Tensor& replayed) {
  auto a = ordinary.to(torch::kFloat64).contiguous().view(-1);
  auto b = replayed.to(torch::kFloat64).contiguous().view(-1);
  if (a.numel() != b.numel()) return "the replay gave " + std::to_string(b.numel()) + " sums, not " +
                                     std::to_string(a.numel());
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double x = a[i].item<double>(), y = b[i].item<double>();
    const bool same = (std::isnan(x) && std::isnan(y)) || x == y ||
                      std::fabs(x - y) <= 1e-5 * std::fmax(1.0, std::fabs(x));
    if (!same) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "its replay gave %.9g where the ordinary pass gave %.9g", y, x);
      return msg;
    }
  }
  return "";
}

}  // namespace

torch::Tensor PassGraph::run(const std::vector<std::int64_t>& key, const torch::Device& device,
                             const Pass& pass, const std::function<void()>& while_waiting) {
  Impl& g = *impl_;
  if (!device.is_cuda() || !g.off.empty()) return pass(false);
  if (g.recorded) {
    if (key != g.key) return pass(false);
    g.graph->replay();  // on the current stream, after the point's in-place updates
    if (while_waiting) {
      at::cuda::CUDAEvent done;
      done.record(c10::cuda::getCurrentCUDAStream(device.index()));  // (the replay's stream)
      while (!done.query()) {
        while_waiting();
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
    return g.out;
  }
  if (key != g.key) {  // a pass seen once is not worth a recording
    g.key = key;
    return pass(false);
  }

  auto turn_off = [&](const std::string& why) {
    g.off = why;
    g.graph.reset();
    g.out = torch::Tensor();
    if (on_event) on_event("CUDA graph of the " + g.name + " pass turned off: " + why);
  };
  // The side stream must see the point's tensors, written on the current stream.
  torch::cuda::synchronize(device.index());
  auto stream = c10::cuda::getStreamFromPool(false, device.index());
  torch::Tensor ordinary, ordinary_host;
  double pass_seconds = 0;
  {
    c10::cuda::CUDAStreamGuard on_side(stream);
    auto t0 = clock_type::now();
    ordinary = pass(false);
    ordinary_host = ordinary.to(torch::kCPU);  // waits for the side stream
    pass_seconds = seconds_since(t0);
    g.graph = std::make_unique<at::cuda::CUDAGraph>();
    try {
      g.graph->capture_begin();
      try {
        g.out = pass(true);
      } catch (...) {
        try {
          g.graph->capture_end();  // ends the stream's capture and the allocator's recording
        } catch (const c10::Error&) {
        }
        throw;
      }
      g.graph->capture_end();
    } catch (const c10::Error& e) {
      turn_off("recording failed: " + one_line(e));
      return ordinary;
    }
  }
  double replay_seconds = 0;
  std::string differs;
  try {
    auto t0 = clock_type::now();
    g.graph->replay();
    auto replayed = g.out.to(torch::kCPU);
    replay_seconds = seconds_since(t0);
    differs = compare_sums(ordinary_host, replayed);
  } catch (const c10::Error& e) {
    differs = "its replay failed: " + one_line(e);
  }
  if (!differs.empty()) {
    turn_off(differs);
    return ordinary;
  }
  g.recorded = true;
  if (on_event) {
    char msg[200];
    std::snprintf(msg, sizeof msg, "CUDA graph of the %s pass recorded: replay %.4g s, ordinary pass %.4g s",
                  g.name.c_str(), replay_seconds, pass_seconds);
    on_event(msg);
  }
  return ordinary;
}

#endif

}  // namespace losscape
