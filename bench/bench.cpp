// losscape_bench: how close a sweep comes to the machine's limit (docs/performance.md).
//
// Run under mpirun with R ranks (bench/run.sh does it for R = 1..N). In one run it measures
//   1. every rank's best forward-pass throughput T_r of the network on its share of the machine
//      (its device, or cores / ranks CPU threads), all ranks at once, at the batch size and layout
//      `--batch-size auto` / `--memory-format auto` pick (timed longer than at a sweep's
//      start-up), over the same images the sweep uses: the physical limit of a sweep;
//   2. the sweep itself (losscape::run_sweep, as `losscape sweep` runs it): wall time of the
//      evaluation phase, points/s, and the per-point overhead beyond the pure forward passes;
//   3. efficiency = points × images / (Σ_r T_r × wall): 1 means the sweep does nothing but
//      forward passes at the best rate the hardware gives.
// With --optimizations (one rank), it also measures what each evaluation setting is worth:
// batch 128 vs the chosen batch, BatchNorm folding, NCHW vs NHWC, and --precision bf16/fp16
// against fp32, with the deviation of loss and accuracy at θ*.
// With --choice-trials N, it also measures how good the start-up choice of batch size and layout
// is: with one rank, with and without the run-off of the two best; with several, made by all
// ranks timing together and by rank 0 alone (alternate trials, same run).
// With --scaling-rounds K (R >= 2 ranks), it measures the parallel efficiency within the run:
// K rounds, each a sweep on rank 0 alone (the other ranks asleep) then the same sweep on all R
// ranks; scaling = points/s on R ranks / (R × points/s on one), per round, so that the slow drifts
// of a shared machine's speed cancel out of the ratio.
// With --points-per-forward K1,K2,... (one rank), it measures what evaluating several grid points
// in one forward pass is worth (Model::forward_stacked): point-images/s for K points per forward
// against one, each at its best of a few batch sizes.
// Data: random CIFAR-10-shaped images written as a real CIFAR-10 binary file (test_batch.bin);
// model: a freshly initialised zoo network saved as a losscape checkpoint; directions: the
// sweep's default (filter-normalized, seed 123). Rank 0 appends one JSON line to --json.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <thread>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "losscape/checkpoint.hpp"
#include "losscape/data.hpp"
#include "losscape/device.hpp"
#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "losscape/grid.hpp"
#include "losscape/model.hpp"
#include "losscape/mpi.hpp"
#include "losscape/sweep.hpp"
#include "losscape/version.hpp"
#include "losscape/zoo.hpp"

namespace fs = std::filesystem;
using namespace losscape;
using namespace losscape::bench;

namespace {

struct Args {
  std::string arch = "resnet56";
  std::int64_t images = 1000;
  std::string x = "-1:1:5";
  std::string y = "-1:1:5";
  std::string device = "auto";
  std::string precision = "fp32";
  std::string batch_size = "auto";
  std::string memory_format = "auto";
  int threads = 0;
  double forward_seconds = 3;
  bool optimizations = false;
  int choice_trials = 0;
  int scaling_rounds = 0;
  std::vector<int> points_per_forward;
  std::string cuda_graphs = "auto";
  std::string cudnn_fusion = "auto";
  std::string sweep_points_per_forward = "auto";
  std::string sweep_shared_tail = "on";
  std::string work = "bench-work";
  std::string json;
  std::uint64_t seed = 1;
};

// A CIFAR-10 binary file of `n` random records (1 label byte, 3072 pixel bytes each).
void write_cifar_file(const fs::path& path, std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<unsigned char> rec(1 + 3 * 32 * 32);
  std::ofstream out(path, std::ios::binary);
  for (std::int64_t i = 0; i < n; ++i) {
    rec[0] = static_cast<unsigned char>(gen() % 10);
    for (std::size_t k = 1; k < rec.size(); ++k) rec[k] = static_cast<unsigned char>(gen() >> 56);
    out.write(reinterpret_cast<const char*>(rec.data()), std::streamsize(rec.size()));
  }
  if (!out) throw InputError(path.string() + ": cannot write the benchmark data");
}

// A surface file and the directions a sweep made beside it (sweep.cpp: <stem>.dirs.h5), so that
// the next sweep starts afresh, also for another network in the same --work folder.
void remove_surface(const fs::path& surface) {
  fs::remove(surface);
  fs::remove(fs::path(surface).replace_extension(".dirs.h5"));
}

// `model` in the given layout, and a copy of `data` with its images in the same layout.
DataSplit relaid(Model& model, const DataSplit& data, bool channels_last) {
  set_channels_last(model, channels_last);
  DataSplit d = data;
  d.images = with_layout(data.images, channels_last);
  return d;
}

// This rank's forward rate of a setting over `data` for --forward-seconds, the ranks of `comm`
// starting together after a barrier (and, on a CPU, stopping within a batch of each other), so
// that each rank's figure is taken with all the others busy, as in a sweep.
double rate_together(Model& model, const DataSplit& data, bool channels_last,
                     std::int64_t batch_size, Precision p, const Args& a, const mpi::Comm& comm,
                     bool fuse = false, const StackedState* points = nullptr) {
  const DataSplit d = relaid(model, data, channels_last);
  comm.barrier();
  return forward_rate(model, d, batch_size, p, a.forward_seconds, 0, true, points, fuse);
}

// cuDNN's autotuning on for a timing on a GPU, as the sweep runs its passes (sweep.cpp), and put
// back after it: so that the forward limit, the settings table and the points-per-forward table
// time what the sweep's passes would (a start-up choice, as choose_eval_options, runs without).
// (forward_rate's warm-up runs each batch shape once, so the autotuning itself is not timed.)
class AutotunedOnGpu {
 public:
  explicit AutotunedOnGpu(bool cuda) : was_(at::globalContext().benchmarkCuDNN()) {
    if (cuda) at::globalContext().setBenchmarkCuDNN(true);
  }
  ~AutotunedOnGpu() { at::globalContext().setBenchmarkCuDNN(was_); }
  AutotunedOnGpu(const AutotunedOnGpu&) = delete;
  AutotunedOnGpu& operator=(const AutotunedOnGpu&) = delete;

 private:
  bool was_;
};

// Loss and accuracy at θ* with the given settings (for the precision deviation).
EvalSums at_theta(Model& model, const DataSplit& data, std::int64_t bs, Precision p) {
  EvalOptions o;
  o.batch_size = bs;
  o.precision = p;
  return evaluate(model, data, o);
}

nlohmann::json optimizations(Model& model, DataSplit& data, const Args& a,
                             const torch::Device& dev) {
  // Each setting's forward rate over the same images, in one process, one after another.
  nlohmann::json rows = nlohmann::json::array();
  auto rate = [&](std::int64_t bs, bool cl, Precision p, bool fold = true, bool fuse = false) {
    const AutotunedOnGpu autotuned(data.images.is_cuda());
    return forward_rate(model, relaid(model, data, cl), bs, p, a.forward_seconds, 0, fold,
                        nullptr, fuse);
  };
  auto nchw = choose_eval_options(model, data, 0, "nchw", Precision::fp32, 2.0);
  auto nhwc = choose_eval_options(model, data, 0, "nhwc", Precision::fp32, 2.0);
  const auto b128 = std::min<std::int64_t>(128, data.size());
  const double base = rate(b128, false, Precision::fp32, false);
  auto add = [&](const std::string& what, std::int64_t bs, bool cl, Precision p, double r) {
    rows.push_back({{"setting", what}, {"batch_size", bs}, {"memory_format", cl ? "nhwc" : "nchw"},
                     {"precision", to_string(p)}, {"images_per_second", r},
                     {"speedup", base > 0 ? r / base : 0}});
  };
  add("batch 128, NCHW, fp32, BN unfolded (a common default)", b128, false, Precision::fp32, base);
  add("auto batch, NCHW, fp32, BN unfolded", nchw.batch_size, false, Precision::fp32,
      rate(nchw.batch_size, false, Precision::fp32, false));
  add("auto batch, NCHW, fp32, BN folded", nchw.batch_size, false, Precision::fp32,
      rate(nchw.batch_size, false, Precision::fp32));
  add("auto batch, NHWC, fp32, BN folded", nhwc.batch_size, true, Precision::fp32,
      rate(nhwc.batch_size, true, Precision::fp32));
  const bool cl = nhwc.images_per_second > nchw.images_per_second;
  const auto bs = cl ? nhwc.batch_size : nchw.batch_size;
  const DataSplit d = relaid(model, data, cl);
  const auto ref = at_theta(model, d, bs, Precision::fp32);
  nlohmann::json dev_rows = nlohmann::json::array();
  std::vector<Precision> halves = {Precision::bf16};
  if (dev.is_cuda()) halves = {Precision::tf32, Precision::bf16, Precision::fp16};
  // (a GPU before Ampere has no TF32: losscape refuses it there)
  if (lacks_tf32(dev)) halves.erase(halves.begin());
  for (auto p : halves) {
    // each precision in the layout it runs fastest in (cuDNN's TF32 and half kernels may prefer
    // another layout than its FP32 ones)
    auto c = choose_eval_options(model, data, 0, "auto", p, 2.0);
    const bool pcl = c.channels_last;
    add(std::string("auto batch, ") + (pcl ? "NHWC" : "NCHW") + ", " + to_string(p) + ", BN folded",
        c.batch_size, pcl, p, rate(c.batch_size, pcl, p));
    if (p == Precision::tf32) {
      // cuDNN's fused convolution + ReLU (and shortcut sum) at the same setting; a failure of the
      // fused operators (no cuDNN engine for them) is the row's note instead of a rate
      std::string note;
      double fused = 0;
      try {
        fused = rate(c.batch_size, pcl, p, true, true);
      } catch (const std::exception& e) {
        note = one_line(e);
      }
      add(std::string("auto batch, ") + (pcl ? "NHWC" : "NCHW") + ", tf32, BN folded, cuDNN fusion",
          c.batch_size, pcl, p, fused);
      if (!note.empty()) rows.back()["error"] = note.substr(0, 200);
    }
    set_channels_last(model, cl);
    const auto got = at_theta(model, d, bs, p);
    dev_rows.push_back({{"precision", to_string(p)},
                        {"loss_fp32", ref.loss()},
                        {"loss", got.loss()},
                        {"loss_rel_diff", std::abs(got.loss() - ref.loss()) / std::abs(ref.loss())},
                        {"accuracy_diff_points", got.accuracy() - ref.accuracy()}});
  }
  return {{"settings", rows}, {"precision_deviation", dev_rows}};
}

// A barrier that sleeps while it waits (the ranks left out of a one-rank sweep must not spin on a
// core the sweep could use, as a blocking MPI_Barrier does).
void sleeping_barrier(const mpi::Comm& c) {
  MPI_Request req;
  MPI_Ibarrier(c.get(), &req);
  int done = 0;
  while (MPI_Test(&req, &done, MPI_STATUS_IGNORE), !done)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

// How good the start-up choice (`--batch-size auto --memory-format auto`, the sweep's 3-s budget)
// is: every candidate setting up to batch 256 is measured over the data for --forward-seconds,
// twice (in opposite orders, averaged; with several ranks all measuring at once, summed), then
// `trials` choices are made one way and `trials` the other, alternately: with one rank with and
// without the run-off of the two best, with several by all ranks together and by rank 0 alone (a
// pick above 256 is measured when first picked); each choice scores its setting's measured rate
// over the best measured rate (1 = the best setting).
nlohmann::json choice_quality(Model& model, const DataSplit& data, const Args& a, Precision p,
                              int trials, const mpi::Comm& world) {
  struct Setting {
    bool cl;
    std::int64_t bs;
    double rate = 0;
  };
  // A setting's forward rate, summed over the ranks, all measuring at once.
  auto measure = [&](bool cl, std::int64_t bs) {
    return world.allreduce_sum(rate_together(model, data, cl, bs, p, a, world));
  };
  std::vector<Setting> settings;
  const bool has4d = data.images.dim() == 4;
  for (bool cl : has4d ? std::vector<bool>{false, true} : std::vector<bool>{false})
    for (auto b : batch_candidates(data.size(), data.images.is_cuda()))
      if (b <= 256) settings.push_back({cl, b});
  for (int round = 0; round < 2; ++round)
    for (std::size_t k = 0; k < settings.size(); ++k) {
      auto& s = settings[round == 0 ? k : settings.size() - 1 - k];
      s.rate += 0.5 * measure(s.cl, s.bs);
    }
  // The measured rate of a setting; one outside the measured ones (a batch above 256, as on a
  // GPU) is measured when first picked and joins them, so that the best is over all of them.
  auto rate_of = [&](bool cl, std::int64_t bs) {
    for (auto& s : settings)
      if (s.cl == cl && s.bs == bs) return s.rate;
    settings.push_back({cl, bs, measure(cl, bs)});
    return settings.back().rate;
  };
  // One rank: with and without the run-off. Several: all ranks timing together (what a sweep
  // does) and rank 0 alone with the others asleep (what it did before 2026-11-29), both scored
  // against the rates with all ranks busy.
  const bool several = world.size() > 1;
  nlohmann::json picks = nlohmann::json::array();
  std::vector<double> rates;
  for (int t = 0; t < 2 * trials; ++t) {
    const bool first = t % 2 == 0;
    auto t0 = std::chrono::steady_clock::now();
    EvalChoice c;
    if (several && first) {
      ChoiceOptions o;
      o.precision = p;
      o.budget_seconds = 3.0;
      o.combine = combine_timings(world);
      c = choose_eval_options(model, data, o);
    } else if (several) {
      if (world.rank() == 0) c = choose_eval_options(model, data, 0, "auto", p, 3.0, true);
      sleeping_barrier(world);
    } else {
      c = choose_eval_options(model, data, 0, "auto", p, 3.0, first);
    }
    const double took = seconds_since(t0);
    std::int64_t pick[2] = {c.batch_size, c.channels_last};
    world.bcast(pick, sizeof pick);
    rates.push_back(rate_of(pick[1] != 0, pick[0]));
    const char* variant = several ? (first ? "all ranks together" : "rank 0 alone")
                                  : (first ? "with run-off" : "scan only");
    picks.push_back({{"variant", variant}, {"runoff", several || first},
                     {"memory_format", pick[1] ? "nhwc" : "nchw"}, {"batch_size", pick[0]},
                     {"seconds", took}, {"report", c.report}});
  }
  double top = 0;
  for (auto& s : settings) top = std::max(top, s.rate);
  for (std::size_t t = 0; t < picks.size(); ++t) picks[t]["score"] = rates[t] / top;
  nlohmann::json rows = nlohmann::json::array();
  for (auto& s : settings)
    rows.push_back({{"memory_format", s.cl ? "nhwc" : "nchw"}, {"batch_size", s.bs},
                    {"images_per_second", s.rate}});
  return {{"settings", rows}, {"trials", picks}};
}

// θ* and two random directions of its scale, for stacked passes (the values do not change the
// work).
struct StackSource {
  TensorList base;
  Directions dirs;
  explicit StackSource(Model& model) {
    for (auto& t : model.parameters()) base.push_back({t.name, t.tensor.clone()});
    for (int k = 0; k < 2; ++k) {
      TensorList dk;
      for (auto& t : base) dk.push_back({t.name, torch::randn_like(t.tensor) * 0.01});
      dirs.dirs.push_back(dk);
    }
  }
  /// K >= 2 points spread over the plane, stacked into one network.
  StackedState stack(const Model& model, int k) const {
    std::vector<double> alphas, betas;
    for (int i = 0; i < k; ++i) {
      alphas.push_back(-1.0 + 2.0 * i / (k - 1));
      betas.push_back(0.5 - 1.0 * i / (k - 1));
    }
    return stack_points(model, base, dirs, alphas, betas);
  }
};

// --points-per-forward: the forward rate (point-images/s) with K grid points stacked in each
// forward pass against one point per pass, in the layout and at the batch size B chosen for one
// point (`c`, best_forward_rate's). K points are timed at batches of B / K, 2B / K and B images (an image is K times the work
// and activations), in two rounds in opposite orders (averaged, as choice_quality does), and each
// K's best batch counts.
nlohmann::json stacked_points(Model& model, const DataSplit& data, const Args& a, Precision p,
                              const EvalChoice& c) {
  const DataSplit d = relaid(model, data, c.channels_last);
  const StackSource source(model);
  struct Timing {
    int k;
    std::int64_t bs;
    std::shared_ptr<StackedState> s;
    double rate = 0;
  };
  std::vector<Timing> timings = {{1, c.batch_size, nullptr}};
  for (int k : a.points_per_forward) {
    if (k < 2) continue;
    auto s = std::make_shared<StackedState>(source.stack(model, k));
    std::vector<std::int64_t> sizes;
    for (auto b : {c.batch_size / k, 2 * c.batch_size / k, c.batch_size})
      if (b >= 1 && std::find(sizes.begin(), sizes.end(), b) == sizes.end()) sizes.push_back(b);
    for (auto b : sizes) timings.push_back({k, b, s});
  }
  const AutotunedOnGpu autotuned(data.images.is_cuda());
  for (int round = 0; round < 2; ++round)
    for (std::size_t i = 0; i < timings.size(); ++i) {
      auto& t = timings[round == 0 ? i : timings.size() - 1 - i];
      t.rate += 0.5 * forward_rate(model, d, t.bs, p, a.forward_seconds / 2, 0, true, t.s.get());
    }
  nlohmann::json rows = nlohmann::json::array();
  const double one = timings[0].rate;
  for (auto& t : timings) {
    double best = 0;
    for (auto& u : timings)
      if (u.k == t.k) best = std::max(best, u.rate);
    rows.push_back({{"points", t.k}, {"batch_size", t.bs}, {"images_per_second", t.rate},
                    {"speedup", t.rate / one}, {"best_of_k", t.rate == best}});
  }
  return {{"memory_format", c.channels_last ? "nhwc" : "nchw"}, {"rows", rows}};
}

// The best forward rate of each rank, in point-images/s: the batch size, layout and grid points
// per pass (up to the sweep's 16, for a network with a stacked form and a grid of several points:
// a setting losscape supports, so part of the limit; a sweep that stacked points beat a limit of
// one point per pass, its efficiency above 1) that `--batch-size auto` / `--memory-format auto`
// choose for this rank alone (or the given ones), timed with a budget of about 5 ×
// --forward-seconds instead of the sweep's 3 s, then measured again with all ranks together
// (rate_together) — the figure returned (the maximum of many short timings is biased upwards).
// `choice` gets the setting.
double best_forward_rate(Model& model, const DataSplit& data, const Args& a, Precision p,
                         const mpi::Comm& world, EvalChoice& choice) {
  ChoiceOptions o;
  o.fixed_batch = parse_batch_size(a.batch_size);
  o.layout = a.memory_format;
  o.precision = p;
  o.budget_seconds = 5 * a.forward_seconds;
  o.try_fusion = tries_cudnn_fusion(a.cudnn_fusion, model, data.images.device(), p, false);
  o.force_fusion = a.cudnn_fusion == "on";
  const std::int64_t points = parse_grid(a.x, a.y).size();
  std::unique_ptr<StackSource> source;
  if (model.can_stack() && points > 1) {
    source = std::make_unique<StackSource>(model);
    o.max_points = int(std::min<std::int64_t>(kMaxPointsPerForward, points));
    o.stack = [&](int k) { return source->stack(model, k); };
  }
  choice = choose_eval_options(model, data, o);
  // (the K copies in the chosen layout: the model relaid first, as stacked_points does)
  const DataSplit d = relaid(model, data, choice.channels_last);
  std::unique_ptr<StackedState> stacked;
  if (choice.points_per_forward > 1)
    stacked = std::make_unique<StackedState>(source->stack(model, choice.points_per_forward));
  // As in a sweep: the choice with cuDNN's heuristic algorithms, the passes autotuned (the
  // warm-up of forward_rate runs each batch shape once, so the autotuning is not timed). The
  // switch is the process's: put back, so that the benchmark's sweep chooses as `losscape sweep`.
  const AutotunedOnGpu autotuned(data.images.is_cuda());
  return rate_together(model, d, choice.channels_last,
                       stacked ? stacked_batch(choice.batch_size, choice.points_per_forward) : choice.batch_size, p,
                       a, world, choice.fuse_convolutions, stacked.get());
}

// --scaling-rounds: the sweep `cfg` alternately on rank 0 alone and on all ranks, and the same
// for the bare forward rate (the setting the sweep on all ranks chose): how much of the loss is
// the machine's own (ranks sharing caches and memory bandwidth) rather than the sweep's.
nlohmann::json scaling_rounds(SweepConfig cfg, const mpi::Comm& world, int rounds, Model& model,
                              const DataSplit& data, const Args& a, Precision p) {
  const int size = world.size();
  const std::string out = cfg.out;
  std::int64_t batch = 0;  // the setting of the sweep on all ranks
  bool channels_last = false;
  auto sweep = [&](const mpi::Comm& comm, const std::string& file) {
    if (comm.rank() == 0) {
      remove_surface(file);
    }
    comm.barrier();
    cfg.out = file;
    auto o = run_sweep(cfg, comm);
    if (comm.size() == world.size()) {
      batch = o.batch_size;
      channels_last = o.channels_last;
    }
    return double(o.computed) / (o.seconds - o.setup_seconds);
  };
  auto forward = [&](const mpi::Comm& comm) {  // the sweep's setting, the ranks of comm together
    return rate_together(model, data, channels_last, batch, p, a, comm);
  };
  nlohmann::json rows = nlohmann::json::array();
  std::vector<double> ratios;
  mpi::Comm solo = world.split(world.rank() == 0 ? 0 : MPI_UNDEFINED, 0);
  std::vector<double> forward_ratios;
  for (int k = 0; k < rounds; ++k) {
    double one = 0, fwd_one = 0;
    if (world.rank() == 0) one = sweep(solo, out + ".one.h5");
    sleeping_barrier(world);
    const double all = sweep(world, out + ".all.h5");
    if (world.rank() == 0) fwd_one = forward(solo);
    sleeping_barrier(world);
    const double fwd_all = world.allreduce_sum(forward(world));
    if (world.rank() == 0) {
      ratios.push_back(all / (size * one));
      forward_ratios.push_back(fwd_all / (size * fwd_one));
      rows.push_back({{"one_rank_points_per_second", one},
                      {"all_ranks_points_per_second", all},
                      {"scaling", ratios.back()},
                      {"one_rank_forward_images_per_second", fwd_one},
                      {"all_ranks_forward_images_per_second", fwd_all},
                      {"forward_scaling", forward_ratios.back()}});
    }
  }
  if (world.rank() != 0) return {};
  return {{"rounds", rows},
          {"median", median(ratios)},
          {"forward_median", median(forward_ratios)},
          {"batch_size", batch},
          {"memory_format", channels_last ? "nhwc" : "nchw"},
          {"grid", cfg.y.empty() ? cfg.x : cfg.x + " x " + cfg.y}};
}

int run(const Args& a) {
  auto world = mpi::Comm::world();
  const int rank = world.rank(), size = world.size();
  // Options measured at one rank count only: said where they are not (bench/run.sh passes the
  // flags after its -- to every rank count)
  if (rank == 0) {
    auto note = [](const char* what) { std::fprintf(stderr, "losscape_bench: note: %s\n", what); };
    if (a.scaling_rounds > 0 && size == 1) note("--scaling-rounds is measured with 2 ranks or more: not with 1");
    if (a.optimizations && size > 1) note("--optimizations is measured with 1 rank: not with several");
    if (!a.points_per_forward.empty() && size > 1)
      note("--points-per-forward is measured with 1 rank: not with several");
  }
  auto node = world.split_node();
  const int threads = configure_cpu_threads(a.threads, ranks_sharing_cpus(node));
  const auto dev = select_device(a.device, node.rank());
  const fs::path work = fs::absolute(a.work);
  const auto model_file = (work / ("model_" + a.arch + ".h5")).string();
  const auto surface = (work / ("surface_" + std::to_string(size) + ".h5")).string();

  // ---- inputs: a CIFAR-10 binary file and a model checkpoint (rank 0) ----
  std::string err;
  if (rank == 0) {
    try {
      fs::create_directories(work);
      write_cifar_file(work / "test_batch.bin", a.images, a.seed);
      torch::manual_seed(a.seed);
      auto m = make_zoo(a.arch, "cifar10");
      // BatchNorm's running statistics from a few training-mode passes over random images, as
      // training would leave them: a fresh network's defaults (mean 0, variance 1) let the
      // activations grow layer by layer in eval mode, to logits that overflow fp16 (a loss of
      // 411 for ResNet-56 instead of about 2.3).
      {
        torch::NoGradGuard no_grad;
        m->train(true);
        for (int i = 0; i < 20; ++i) m->forward(torch::randn({128, 3, 32, 32}));
        m->train(false);
      }
      Checkpoint ck;
      ck.meta = meta_for(*m, "cifar10");
      ck.state = m->state();
      save_checkpoint(model_file, ck);
      remove_surface(surface);
    } catch (const std::exception& e) {
      err = e.what();
    }
  }
  err = world.agree(err);
  if (!err.empty()) throw InputError(err);

  // ---- 1. the limit: every rank's best forward rate on its share of the machine ----
  auto model = load_model(model_file, "", "cifar10");
  model->to(dev);
  DataSpec spec;
  spec.dataset = "cifar10";
  spec.data_dir = work.string();
  spec.split = "test";
  auto data = load_split(spec, dev);
  const auto prec = parse_precision(a.precision);
  world.barrier();
  EvalChoice best_setting;
  const double my_rate = best_forward_rate(*model, data, a, prec, world, best_setting);
  const double total_rate = world.allreduce_sum(my_rate);
  world.barrier();

  // ---- 2. the sweep, as `losscape sweep` runs it ----
  SweepConfig cfg;
  cfg.model_file = model_file;
  cfg.dataset = "cifar10";
  cfg.data_dir = work.string();
  cfg.splits = {"test"};
  cfg.x = a.x;
  cfg.y = a.y;
  cfg.batch_size = a.batch_size;
  cfg.precision = a.precision;
  cfg.memory_format = a.memory_format;
  cfg.cuda_graphs = a.cuda_graphs;
  cfg.cudnn_fusion = a.cudnn_fusion;
  cfg.points_per_forward = a.sweep_points_per_forward;
  cfg.share_tail = a.sweep_shared_tail == "on";
  cfg.device = a.device;
  cfg.threads = a.threads;
  cfg.out = surface;
  cfg.quiet = true;
  cfg.flush_seconds = 60;
  world.barrier();
  auto t0 = std::chrono::steady_clock::now();
  auto& cudnn = at::globalContext();
  const bool autotuned = cudnn.benchmarkCuDNN();
  auto outcome = run_sweep(cfg, world);
  // The sweep turned cuDNN's autotuning on for its passes: off again for what follows, as in a
  // fresh losscape sweep (its start-up choices), and so that later scans do not autotune each
  // candidate's shapes on the lease's time.
  cudnn.setBenchmarkCuDNN(autotuned);
  const double total_wall = seconds_since(t0);
  const double wall = outcome.seconds - outcome.setup_seconds;

  // ---- the parallel efficiency within this run (R >= 2) ----
  nlohmann::json scaling;
  if (a.scaling_rounds > 0 && size > 1) {
    // (the count each rank got above: with --threads 0 the one-rank sweep would count one rank
    // sharing the CPUs and give rank 0 every core, R times the threads of the forward it is
    // compared with)
    SweepConfig each = cfg;
    each.threads = threads;
    scaling = scaling_rounds(each, world, a.scaling_rounds, *model, data, a, prec);
  }

  // ---- 3. optimizations (one rank only: each setting alone on the machine) ----
  nlohmann::json opt;
  if (a.optimizations && size == 1) opt = optimizations(*model, data, a, dev);
  nlohmann::json stacked;
  if (!a.points_per_forward.empty() && size == 1) {
    if (!model->can_stack())
      throw InputError("--points-per-forward: " + a.arch + " has no stacked forward");
    stacked = stacked_points(*model, data, a, prec, best_setting);
  }
  nlohmann::json choice;
  if (a.choice_trials > 0)
    choice = choice_quality(*model, data, a, prec, a.choice_trials, world);

  if (rank != 0) return 0;
  const double points = double(outcome.computed);
  const double work_images = points * double(a.images);
  const double ideal = work_images / total_rate;
  nlohmann::json j = {
      {"date", utc_now()},
      {"host", host_name()},
      {"machine", machine_id()},
      {"run", std::getenv("LOSSCAPE_BENCH_RUN") ? std::getenv("LOSSCAPE_BENCH_RUN") : ""},
      {"cpu", cpu_model()},
      {"cores", std::thread::hardware_concurrency()},
      {"device", describe_device(dev)},
      {"threads_per_rank", dev.is_cuda() ? 0 : threads},
      {"losscape", version},
      {"losscape_revision", source_revision()},
      {"torch", TORCH_VERSION},
      {"mpi", mpi_library()},
      {"arch", a.arch},
      {"parameters", model->parameter_count()},
      {"images", a.images},
      {"grid", a.y.empty() ? a.x : a.x + " x " + a.y},
      {"ranks", size},
      {"precision", a.precision},
      {"batch_size", outcome.batch_size},
      {"memory_format", outcome.channels_last ? "nhwc" : "nchw"},
      {"sweep_points_per_forward", outcome.points_per_forward},
      {"sweep_shared_points", outcome.shared_points},
      {"sweep_tail_pieces", outcome.tail_pieces},
      {"cuda_graphs", outcome.cuda_graphs},
      {"cudnn_fusion", outcome.cudnn_fusion},
      {"forward_limit_cudnn_fusion", best_setting.fuse_convolutions},
      {"forward_limit_points_per_forward", best_setting.points_per_forward},
      {"cuda_graph_events", outcome.cuda_graph_events},
      {"sweep_startup_timing", outcome.startup_timing},
      {"forward_images_per_second_per_rank", total_rate / size},
      {"forward_images_per_second_total", total_rate},
      {"points", outcome.computed},
      {"sweep_wall_seconds", wall},
      {"setup_seconds", outcome.setup_seconds},
      {"command_wall_seconds", total_wall},
      {"points_per_second", points / wall},
      {"seconds_per_point_per_rank", wall * size / points},
      {"overhead_seconds_per_point", (wall - ideal) * size / points},
      {"efficiency", ideal / wall}};
  // What was asked for (the fields above are what the sweep chose): a fixed batch and an automatic
  // one give different records.
  j["requested"] = {{"batch_size", a.batch_size},
                    {"memory_format", a.memory_format},
                    {"points_per_forward", a.sweep_points_per_forward},
                    {"shared_tail", a.sweep_shared_tail},
                    {"cuda_graphs", a.cuda_graphs},
                    {"cudnn_fusion", a.cudnn_fusion},
                    {"threads", a.threads},
                    {"forward_seconds", a.forward_seconds},
                    {"seed", a.seed}};
  if (!opt.is_null()) j["optimizations"] = opt;
  if (!choice.is_null()) j["choice"] = choice;
  if (!scaling.is_null()) j["scaling_rounds"] = scaling;
  if (!stacked.is_null()) j["points_per_forward"] = stacked;
  std::printf("%s: %d rank(s), %s, %lld points x %lld images in %.2f s (+%.2f s set-up): "
              "%.3f points/s, forward limit %.0f images/s, efficiency %.3f\n",
              a.arch.c_str(), size, describe_device(dev).c_str(),
              static_cast<long long>(outcome.computed), static_cast<long long>(a.images), wall,
              outcome.setup_seconds, points / wall, total_rate, ideal / wall);
  if (!opt.is_null())
    for (auto& r : opt["settings"])
      std::printf("  %-44s %8.0f images/s  x%.2f\n", r["setting"].get<std::string>().c_str(),
                  r["images_per_second"].get<double>(), r["speedup"].get<double>());
  if (!scaling.is_null()) {
    for (auto& r : scaling["rounds"])
      std::printf("  scaling round: sweep 1 rank %.3f points/s, %d ranks %.3f: %.3f; "
                  "forward 1 rank %.0f images/s, %d ranks %.0f: %.3f\n",
                  r["one_rank_points_per_second"].get<double>(), size,
                  r["all_ranks_points_per_second"].get<double>(), r["scaling"].get<double>(),
                  r["one_rank_forward_images_per_second"].get<double>(), size,
                  r["all_ranks_forward_images_per_second"].get<double>(),
                  r["forward_scaling"].get<double>());
    std::printf("  scaling (median of %zu rounds): sweep %.3f, forward alone %.3f\n",
                scaling["rounds"].size(), scaling["median"].get<double>(),
                scaling["forward_median"].get<double>());
  }
  if (!stacked.is_null())
    for (auto& r : stacked["rows"])
      std::printf("  %2d point(s) per forward, %s batch %-5lld %8.0f point-images/s  x%.2f%s\n",
                  r["points"].get<int>(), stacked["memory_format"].get<std::string>().c_str(),
                  static_cast<long long>(r["batch_size"].get<std::int64_t>()),
                  r["images_per_second"].get<double>(), r["speedup"].get<double>(),
                  r["best_of_k"].get<bool>() ? " *" : "");
  if (!choice.is_null())
    for (auto& r : choice["trials"])
      std::printf("  choice (%s) %s batch %-5lld %.1f s  rate / best %.3f\n",
                  r["variant"].get<std::string>().c_str(),
                  r["memory_format"].get<std::string>().c_str(),
                  static_cast<long long>(r["batch_size"].get<std::int64_t>()),
                  r["seconds"].get<double>(), r["score"].get<double>());
  append_json_line(a.json, j);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tune_cpu_allocator();  // as losscape does
  mpi::Environment env(&argc, &argv);
  Args a;
  CLI::App app{"losscape_bench: sweep efficiency against the best forward throughput"};
  // A flag given twice takes its last value: bench/run.sh --quick sets some, and flags after its
  // -- may set them again.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--arch", a.arch, "Zoo network")->capture_default_str();
  app.add_option("--images", a.images, "CIFAR-shaped images per point")->capture_default_str();
  app.add_option("--x", a.x, "Grid along δ")->capture_default_str();
  app.add_option("--y", a.y, "Grid along η (empty: 1D)")->capture_default_str();
  app.add_option("--device", a.device, "auto | cpu | cuda")->capture_default_str();
  app.add_option("--precision", a.precision, "fp32 | tf32 | bf16 | fp16")->capture_default_str();
  app.add_option("--batch-size", a.batch_size, "auto or a number")->capture_default_str();
  app.add_option("--memory-format", a.memory_format, "auto | nchw | nhwc")->capture_default_str();
  app.add_option("--threads", a.threads, "CPU threads per rank (0: cores / ranks on the node)");
  app.add_option("--forward-seconds", a.forward_seconds, "Seconds of each forward-rate measurement")
      ->capture_default_str();
  app.add_flag("--optimizations", a.optimizations, "Also measure each setting's gain (1 rank)");
  app.add_option("--choice-trials", a.choice_trials,
                 "Also rate the start-up choice of batch and layout: N times with and N without "
                 "its run-off (1 rank), or N times by all ranks together and N by rank 0 alone");
  app.add_option("--scaling-rounds", a.scaling_rounds,
                 "Also measure the parallel efficiency in K rounds of a sweep on rank 0 alone then "
                 "on all ranks (2 ranks or more)");
  app.add_option("--points-per-forward", a.points_per_forward,
                 "Also measure K grid points per forward pass against one, for each K of a "
                 "comma-separated list (1 rank)")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);  // (a list, not the last)
  app.add_option("--cuda-graphs", a.cuda_graphs, "The sweep's --cuda-graphs: auto | off")
      ->capture_default_str();
  app.add_option("--cudnn-fusion", a.cudnn_fusion,
                 "The sweep's --cudnn-fusion, also for the forward limit: auto | on | off")
      ->capture_default_str();
  app.add_option("--sweep-points-per-forward", a.sweep_points_per_forward,
                 "The sweep's --points-per-forward: auto | K")
      ->capture_default_str();
  app.add_option("--sweep-shared-tail", a.sweep_shared_tail,
                 "on: the sweep's last points (a pass of K per rank) are handed out in pieces, as "
                 "losscape sweep does; off: whole, like the others")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--work", a.work, "Folder for the data, model and surface files")
      ->capture_default_str();
  app.add_option("--json", a.json, "Append the result as one JSON line to this file");
  app.add_option("--seed", a.seed, "Seed of the data and the model")->capture_default_str();
  return parse_and_run(app, argc, argv, [&a] { return run(a); }, [&a]() -> std::string {
    if (a.images < 1) return "--images must be at least 1 (got " + std::to_string(a.images) + ")";
    if (!(a.forward_seconds > 0) || !std::isfinite(a.forward_seconds))
      return "--forward-seconds must be a positive number of seconds (the forward limit is the rate over that time)";
    if (a.choice_trials < 0) return "--choice-trials must be 0 (none) or more";
    if (a.scaling_rounds < 0) return "--scaling-rounds must be 0 (none) or more";
    for (int k : a.points_per_forward)
      if (k < 1 || k > kMaxPointsPerForward)
        return "--points-per-forward: each K must be 1 to " + std::to_string(kMaxPointsPerForward) +
               ", as the sweep's --points-per-forward (got " + std::to_string(k) + ")";
    return appendable_problem(a.json);
  });
}
