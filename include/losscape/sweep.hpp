// The distributed sweep: rank 0 coordinates (and evaluates), handing out blocks of grid points
// coarse-to-fine on request; every rank (or group of ranks with --data-shards) evaluates points
// with θ = θ* + αδ + βη set in place on its device; all ranks write finished points collectively
// into the surface file every flush interval; signals stop it cleanly with a final flush.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "losscape/data.hpp"
#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "losscape/grid.hpp"
#include "losscape/mpi.hpp"
#include "losscape/stop.hpp"
#include "losscape/surface.hpp"

namespace losscape {

/// The most points rank 0 hands out in one block (blocks shrink from there towards the end of a
/// sweep; docs/performance.md, "The coordinator and the writes at scale"), but for a block that
/// begins inside a chunk of K points a stopped start left partly done: it goes on to the chunk's end.
inline constexpr std::int64_t kMaxBlockPoints = 16;
/// The most grid points one forward pass evaluates (--points-per-forward K: 1 .. this). (A block
/// of kMaxBlockPoints goes on to the end of the chunk of K its last point is in: up to K - 1
/// points more where it begins inside a chunk a stopped start left partly done.)
inline constexpr int kMaxPointsPerForward = 16;

/// Everything a sweep needs; filled from flags or a JSON file (same keys), stored as provenance.
struct SweepConfig {
  std::string model_file;
  std::string arch;
  std::uint64_t init_seed = 0;  ///< a fresh zoo network's initialization (arch, no model_file)
  std::string directions;  ///< direction file; empty: make them (dir_* below) into <out>.dirs.h5
  DirectionsConfig dir;    ///< used when `directions` is empty
  std::string x = "-1:1:51";
  std::string y;           ///< empty: 1D
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  std::vector<std::string> splits = {"train"};
  std::int64_t samples = 0;
  std::uint64_t subset_seed = 0;
  bool raw_data = false;
  std::string loss = "crossentropy";
  std::string batch_size = "auto";
  std::string precision = "fp32";     ///< fp32 | tf32 | bf16 | fp16 (evaluate.hpp)
  std::string memory_format = "auto"; ///< auto (timed at start-up) | nchw | nhwc
  /// Grid points per forward pass: "auto" (timed at start-up with the batch sizes, for zoo
  /// networks with a stacked form and without --hessian; else 1) or 1 .. 16: K perturbed models
  /// evaluated together on batch / K images (docs/performance.md).
  std::string points_per_forward = "auto";
  /// "auto": on a GPU, record each evaluation pass as a CUDA graph and replay it at later points
  /// (pass_graph.hpp; checked against an ordinary pass, off by itself where it fails); "off".
  std::string cuda_graphs = "auto";
  /// "auto": on a GPU, for zoo networks in fp32 or tf32, try cuDNN's fused convolution + ReLU
  /// (zoo.hpp FuseConvolutions) at start-up: checked against the separate operations, used when
  /// faster (docs/performance.md); "on": used whenever the check passes (not timed); "off".
  std::string cudnn_fusion = "auto";
  std::string device = "auto";
  int threads = 0;          ///< CPU intra-op threads per rank (0: its CPUs / the ranks sharing them)
  int data_shards = 1;      ///< ranks per group sharing one point (grid x data parallelism)
  double flush_seconds = 60;
  std::string part;         ///< "k/K": compute only the k-th of K interleaved slices (fan-out)
  std::string out = "surface.h5";
  bool quiet = false;
  double progress_seconds = 10;  ///< progress line interval in batch logs
  bool allow_other_model = false;  ///< skip the θ* fingerprint check of the direction file
  std::int64_t stop_after = 0;  ///< testing aid: stop like a signal after this many points (0: off)
  /// Benchmark aid: false hands the last points out whole like all others instead of in pieces
  /// (run_sweep); not read from or stored in configurations.
  bool share_tail = true;
  /// Check everything a run would use (configuration, model, directions, data on every rank,
  /// the surface file's resume, the lock) and print the plan; compute and write nothing. A mode,
  /// not a setting: not read from or stored in configurations.
  bool dry_run = false;
  /// With dry_run: check only that `out` is (or would become) this sweep's file (grid, values,
  /// model, directions, data), not that this job's ranks and devices could run it: no GPU, rank
  /// count or data shards needed (the fan-out's merge job checks its first part so). A mode.
  bool identity_only = false;
  // Hessian maps (hessian.hpp): λmax, λmin of the loss over the first split at every point.
  bool hessian = false;
  bool hessian_all_params = false;       ///< else only tensors with ≥ 2 dimensions
  std::int64_t hessian_batch_size = 256; ///< samples per double-backward pass
  double eig_tol = 1e-2;                 ///< ARPACK relative tolerance (the reference's)
  int eig_max_iter = 100;                ///< ARPACK restarts before a point counts as not converged
  int eig_ncv = 0;                       ///< Lanczos basis size (0: ARPACK/scipy default)
};
void to_json(nlohmann::json& j, const SweepConfig& c);
void from_json(const nlohmann::json& j, SweepConfig& c);

/// How a sweep ended.
struct SweepOutcome {
  bool complete = false;        ///< every point of the (part of the) grid is done
  bool interrupted = false;     ///< stopped by a signal (or stop_after)
  std::int64_t computed = 0;    ///< points computed by this run, all ranks
  std::int64_t total = 0;       ///< points of the grid (or part)
  int last_io_mode = 0;         ///< H5Pget_mpio_actual_io_mode of the last collective write
  double seconds = 0;
  double setup_seconds = 0;     ///< of `seconds`: before the first point (loading, timing)
  std::int64_t batch_size = 0;  ///< the evaluation batch size used
  int points_per_forward = 1;   ///< grid points per forward pass used
  /// The last points (about one pass of K per group of ranks; run_sweep), handed out in pieces
  /// (shares of whole batches) to whichever rank was free, their sums added up over the ranks at
  /// the end.
  std::int64_t shared_points = 0;
  int tail_pieces = 0;  ///< the pieces each of their passes went in (0 when none)
  std::string startup_timing;   ///< the start-up choice's timings (the run log's "startup_timing")
  bool channels_last = false;   ///< the memory layout used
  bool cuda_graphs = false;     ///< passes were recorded as CUDA graphs where they could be
  bool cudnn_fusion = false;    ///< cuDNN's fused convolutions were used
  std::vector<std::string> cuda_graph_events;  ///< "rank R: CUDA graph of ... recorded: ..."
};

/// How the ranks of `world` combine the start-up timings of batch sizes and layouts (all call in
/// the same order): the total rate, the worst state; a failure on any rank is thrown on every rank
/// as an AgreedError with that rank's message. `world` must outlive the result.
CombineTimings combine_timings(const mpi::Comm& world);

/// Whether a sweep with `--cudnn-fusion setting` tries cuDNN's fused convolutions at start-up
/// (ChoiceOptions::try_fusion): not "off", a zoo network (the fused layers are theirs) on a GPU,
/// in fp32 or tf32 (autocast has no rule for the fused operators), not with --hessian.
bool tries_cudnn_fusion(const std::string& setting, const Model& model, const torch::Device& device,
                        Precision precision, bool hessian);

/// Run the sweep on `comm` (all ranks call). Rank 0 prints progress unless quiet. Throws on
/// errors (the caller aborts the job); returns the outcome on every rank.
SweepOutcome run_sweep(const SweepConfig& cfg, const mpi::Comm& comm);


/// Parse "k/K" (1-based k) or, when empty, SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT relative
/// to SLURM_ARRAY_TASK_MIN; returns {k0, K} with 0-based k0, or {0, 1}.
/// Slurm's array must be contiguous with step 1 (SLURM_ARRAY_TASK_MAX - MIN + 1 == COUNT, no
/// SLURM_ARRAY_TASK_STEP other than 1): each task then has its own slice and none is missed.
std::pair<int, int> parse_part(const std::string& part, bool from_slurm);

/// The run log's "devices": one description per rank up to 64 ranks, else each distinct
/// description once, as "DESCRIPTION × N ranks" (a run's entry stays small at any scale).
nlohmann::json device_list(const std::vector<std::string>& per_rank);
/// The entry of `run_log` (a surface's run log) whose start-up choices a new start of the sweep
/// reuses where its command leaves them to losscape: the first run on the same kinds of devices
/// (`devices` as device_list gives them, compared without the GPU's index and the rank counts),
/// at the same precision ("fp32", ...) and with as many data shards, that recorded them all
/// (batch_size, memory_format, points_per_forward, cudnn_fusion); null when none did. Every
/// start then computes with the arithmetic of the first, so that a surface of several starts is
/// bit for bit the surface of one uninterrupted run.
nlohmann::json earlier_choices(const nlohmann::json& run_log, const nlohmann::json& devices,
                               const std::string& precision, int data_shards);
/// The run log's "cuda_graph_events" from each rank's event lines: "rank R: LINE" up to 64 ranks,
/// else each distinct line once, as "ranks 0-511,600: LINE" (or "N ranks: LINE" when the list of
/// ranks would be long).
std::vector<std::string> rank_events(const std::vector<std::vector<std::string>>& per_rank);

}  // namespace losscape
