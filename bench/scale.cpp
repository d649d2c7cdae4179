// losscape_bench_scale: the two costs of a sweep that could grow with the number of ranks,
// measured with R ranks (docs/performance.md, "The coordinator and the writes at scale"):
//   1. the collective write rounds: SurfaceFile::write_round, the call a sweep's rounds make, on
//      a real parallel HDF5 surface of the --x/--y grid (default 1001 × 1001, the four values of
//      a train + test sweep), every rank writing --points results per round at the points a
//      sweep's ranks would have computed: blocks of 16 consecutive points of the sweep's order
//      (coarse to fine, spread over the whole grid) handed out round-robin; the round's time is
//      the slowest rank's, from a barrier to its return (flush included);
//   2. the coordinator's messages: rank 0 answers requests as a sweep's coordinator does between
//      its batches (MPI_Iprobe, a receive of 3 doubles, a send of 2 + 16 int64 values), while
//      every other rank asks, waits for the answer and asks again, for --request-seconds. Rank 0
//      does nothing else, so the figures are its cost per request (the time from the probe that
//      found a request to the return of its answer's send) and the round trip a rank sees.
// With more ranks than cores (--oversubscribe) the ranks share the cores and each figure is an
// upper bound of what a rank with a core of its own would see. Rank 0 appends one JSON line to
// --json.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "losscape/grid.hpp"
#include "losscape/mpi.hpp"
#include "losscape/surface.hpp"
#include "losscape/sweep.hpp"
#include "losscape/version.hpp"

namespace fs = std::filesystem;
using namespace losscape;
using namespace losscape::bench;

namespace {

struct Args {
  std::string x = "-1:1:1001";
  std::string y = "-1:1:1001";
  int rounds = 5;
  std::int64_t points = 200;
  double request_seconds = 2;
  std::string work = "bench-work";
  std::string json;
};

constexpr std::int64_t kBlock = kMaxBlockPoints;  // a sweep's largest block

// The number of points of the sweep's order that `rounds` rounds of `per_rank` points on `ranks`
// ranks go through (whole blocks).
std::int64_t points_used(int rounds, std::int64_t per_rank, int ranks) {
  return std::int64_t(rounds) * ((per_rank + kBlock - 1) / kBlock) * kBlock * ranks;
}

// The flat indices written by `rank` in `round`: the sweep's order (`order`, coarse to fine from
// θ*) cut into blocks of 16, handed out round-robin over the ranks, a round's worth at a time.
std::vector<std::int64_t> round_points(const std::vector<std::int64_t>& order, std::int64_t per_rank,
                                       int ranks, int rank, int round) {
  const std::int64_t blocks = (per_rank + kBlock - 1) / kBlock;  // per rank and round
  std::vector<std::int64_t> idx;
  for (std::int64_t k = 0; k < per_rank; ++k) {
    const std::int64_t block = (std::int64_t(round) * blocks + k / kBlock) * ranks + rank;
    idx.push_back(order.at(std::size_t(block * kBlock + k % kBlock)));
  }
  return idx;
}

nlohmann::json write_rounds(const Args& a, const mpi::Comm& world) {
  const int rank = world.rank(), size = world.size();
  SurfaceIdentity id;
  id.grid = parse_grid(a.x, a.y);
  id.values = {"train_loss", "train_acc", "test_loss", "test_acc"};
  id.dataset = "cifar10";
  id.samples = 50000;
  id.loss = to_string(LossKind::cross_entropy);
  id.model_fingerprint = "losscape_bench_scale";
  id.directions_fingerprint = "losscape_bench_scale";
  const std::int64_t n = id.grid.size();
  if (points_used(a.rounds, a.points, size) > n)
    throw InputError("--rounds × --points × ranks (in blocks of 16: " +
                     std::to_string(points_used(a.rounds, a.points, size)) +
                     ") exceeds the grid's " + std::to_string(n) + " points");
  const auto order = coarse_to_fine(id.grid, true);
  const fs::path path = fs::path(a.work) / "scale.h5";
  if (rank == 0) {
    fs::create_directories(a.work);
    fs::remove(path);
  }
  world.barrier();
  auto t0 = std::chrono::steady_clock::now();
  SurfaceFile surface(path.string(), id, {{"bench", "losscape_bench_scale"}}, world);
  world.barrier();
  const double create_seconds = seconds_since(t0);

  std::mt19937_64 gen(std::uint64_t(rank) + 1);
  std::uniform_real_distribution<double> value(0, 3);
  std::vector<double> times;
  int mode = 0;
  for (int r = 0; r < a.rounds; ++r) {
    std::vector<PointResult> mine;
    for (std::int64_t i : round_points(order, a.points, size, rank, r))
      mine.push_back({i, {value(gen), value(gen), value(gen), value(gen)}, 0.3});
    world.barrier();
    t0 = std::chrono::steady_clock::now();
    mode = surface.write_round(mine);
    times.push_back(world.allreduce_max(seconds_since(t0)));
  }
  // What was written is what each rank passed: the done mask counts every point once.
  const auto mask = surface.done_mask();
  const std::int64_t done = std::count(mask.begin(), mask.end(), std::uint8_t(1));
  if (done != std::int64_t(a.rounds) * a.points * size)
    throw FormatError(path.string() + ": " + std::to_string(done) + " points marked done after " +
                      "the rounds, not " + std::to_string(std::int64_t(a.rounds) * a.points * size));
  return {{"grid_points", n},
          {"file_bytes", std::int64_t(fs::file_size(path))},
          {"create_seconds", create_seconds},
          {"points_per_rank_per_round", a.points},
          {"round_seconds", times},
          {"round_seconds_median", median(times)},
          {"round_seconds_max", *std::max_element(times.begin(), times.end())},
          {"io_mode", mode}};
}

constexpr int kTagRequest = 1, kTagDone = 2, kTagAnswer = 3;

nlohmann::json coordinator_messages(const Args& a, const mpi::Comm& world) {
  const int rank = world.rank(), size = world.size();
  if (size < 2) return nullptr;
  MPI_Comm c = world.get();
  world.barrier();
  if (rank == 0) {
    // As the sweep's serve(): probe, receive the request (3 doubles), answer a block (2 + 16).
    std::vector<std::int64_t> reply(18, 0);
    double busy = 0;
    std::int64_t served = 0;
    int done = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (done < size - 1) {
      int flag = 0;
      MPI_Status st;
      const auto t = std::chrono::steady_clock::now();
      mpi::check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, c, &flag, &st), "MPI_Iprobe");
      if (!flag) continue;
      double f[3];
      mpi::check(MPI_Recv(f, 3, MPI_DOUBLE, st.MPI_SOURCE, st.MPI_TAG, c, MPI_STATUS_IGNORE),
                 "MPI_Recv");
      if (st.MPI_TAG == kTagDone) {
        ++done;
        continue;
      }
      reply[1] = served;
      mpi::check(MPI_Send(reply.data(), int(reply.size()), MPI_INT64_T, st.MPI_SOURCE, kTagAnswer, c),
                 "MPI_Send");
      busy += seconds_since(t);
      ++served;
    }
    const double wall = seconds_since(t0);
    double trips = 0, trip_seconds = 0;
    world.allreduce_sum(&trips, 1);
    world.allreduce_sum(&trip_seconds, 1);
    return {{"requests", served},
            {"seconds", wall},
            {"requests_per_second", double(served) / wall},
            {"rank0_seconds_per_request", busy / double(served)},
            {"round_trip_seconds", trip_seconds / trips}};
  }
  double f[3] = {1, 0, 0};
  std::vector<std::int64_t> reply(18);
  double trips = 0, trip_seconds = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (seconds_since(t0) < a.request_seconds) {
    const auto t = std::chrono::steady_clock::now();
    mpi::check(MPI_Send(f, 3, MPI_DOUBLE, 0, kTagRequest, c), "MPI_Send");
    mpi::check(MPI_Recv(reply.data(), 18, MPI_INT64_T, 0, kTagAnswer, c, MPI_STATUS_IGNORE),
               "MPI_Recv");
    trip_seconds += seconds_since(t);
    trips += 1;
  }
  mpi::check(MPI_Send(f, 3, MPI_DOUBLE, 0, kTagDone, c), "MPI_Send");
  world.allreduce_sum(&trips, 1);
  world.allreduce_sum(&trip_seconds, 1);
  return nullptr;
}

int run(const Args& a) {
  auto world = mpi::Comm::world();
  const auto writes = write_rounds(a, world);
  const auto messages = coordinator_messages(a, world);
  if (world.rank() != 0) return 0;
  const int size = world.size();
  nlohmann::json j = {{"date", utc_now()},
                      {"host", host_name()},
                      {"cpu", cpu_model()},
                      {"cores", std::thread::hardware_concurrency()},
                      {"losscape", version},
                      {"losscape_revision", source_revision()},
                      {"mpi", mpi_library()},
                      {"ranks", size},
                      {"grid", a.y.empty() ? a.x : a.x + " x " + a.y},
                      {"write_rounds", writes},
                      {"coordinator", messages}};
  std::printf("%d rank(s) on %u cores, grid %s (%lld points, file %.1f MB, created in %.3f s)\n",
              size, std::thread::hardware_concurrency(), j["grid"].get<std::string>().c_str(),
              static_cast<long long>(writes["grid_points"].get<std::int64_t>()),
              double(writes["file_bytes"].get<std::int64_t>()) / 1e6,
              writes["create_seconds"].get<double>());
  std::printf("  write round, %lld points per rank: median %.4f s, slowest %.4f s (%d rounds)\n",
              static_cast<long long>(a.points), writes["round_seconds_median"].get<double>(),
              writes["round_seconds_max"].get<double>(), a.rounds);
  if (!messages.is_null())
    std::printf("  coordinator: %.0f requests/s served from %d ranks, %.1f us of rank 0 each, "
                "round trip %.1f us\n",
                messages["requests_per_second"].get<double>(), size - 1,
                messages["rank0_seconds_per_request"].get<double>() * 1e6,
                messages["round_trip_seconds"].get<double>() * 1e6);
  append_json_line(a.json, j);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mpi::Environment env(&argc, &argv);
  Args a;
  CLI::App app{"losscape_bench_scale: write rounds and coordinator messages with R ranks"};
  app.add_option("--x", a.x, "Grid along δ")->capture_default_str();
  app.add_option("--y", a.y, "Grid along η (empty: 1D)")->capture_default_str();
  app.add_option("--rounds", a.rounds, "Write rounds")->capture_default_str();
  app.add_option("--points", a.points, "Results per rank per round")->capture_default_str();
  app.add_option("--request-seconds", a.request_seconds,
                 "Seconds each rank other than 0 sends requests")
      ->capture_default_str();
  app.add_option("--work", a.work, "Folder for the surface file")->capture_default_str();
  app.add_option("--json", a.json, "Append the result as one JSON line to this file");
  // (CLI11's PositiveNumber said "Value 0 not in range 0.000000 to 1797693134862315708...")
  return parse_and_run(app, argc, argv, [&a] { return run(a); }, [&a]() -> std::string {
    if (a.rounds < 1) return "--rounds must be at least 1 (got " + std::to_string(a.rounds) + ")";
    if (a.points < 1) return "--points must be at least 1 (got " + std::to_string(a.points) + ")";
    if (!(a.request_seconds > 0) || !std::isfinite(a.request_seconds))
      return "--request-seconds must be a positive number of seconds";
    return appendable_problem(a.json);
  });
}
