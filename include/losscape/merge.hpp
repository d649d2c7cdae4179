// Merging the part files of a fan-out sweep (`losscape sweep --part K/N`, one job-array task per
// part) into one surface file. The inputs must be slices of one sweep (same grid, values,
// directions, model, data set, samples, loss); a point computed in several inputs must agree;
// points computed nowhere are reported and left undone, so that `losscape sweep` with the same
// command (without --part) resumes the merged file and fills them.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "losscape/error.hpp"

namespace losscape {

struct MergeConfig {
  std::vector<std::string> parts;  ///< surface files: parts of one sweep, or whole surfaces of it
  std::string out;                 ///< merged surface; an existing one of the same sweep is an input too
  /// Relative difference allowed where inputs overlap; < 0 ("auto"): merge_tolerance of the
  /// sweep's precision.
  double tolerance = -1;
};
/// The default --tolerance for a sweep of `precision`: 1e-6 in fp32 (also for files older than
/// --precision, ""), 1e-2 in tf32, bf16 and fp16, whose values move with the batch size and the
/// kernels chosen by ~1e-4 (loss) and a few images' accuracy (docs/performance.md).
double merge_tolerance(const std::string& precision);
/// `--tolerance`: "auto" (-1) or a number >= 0; InputError otherwise.
double parse_merge_tolerance(const std::string& s);
void to_json(nlohmann::json& j, const MergeConfig& c);
void from_json(const nlohmann::json& j, MergeConfig& c);

/// What one input contributed.
struct MergeInput {
  std::string path;
  std::string part;             ///< "k/N", or "" for a whole surface
  std::int64_t done = 0;        ///< points done in this input
  std::int64_t part_total = 0;  ///< points of its slice (the grid for a whole surface)
  std::int64_t added = 0;       ///< points first provided by this input (in argument order)
  bool live = false;  ///< its lock was held by a live writer when it was read (a sweep running)
};

struct MergeReport {
  std::int64_t total = 0;        ///< points of the grid
  std::int64_t done = 0;         ///< points done in the merged file
  std::int64_t overlapping = 0;  ///< points done in more than one input (they agreed)
  double tolerance = 0;          ///< the relative tolerance they agreed to
  double eig_tolerance = 0;      ///< a Hessian map's eigenvalues': their --eig-tol when larger; else 0
  std::vector<MergeInput> inputs;
  std::vector<std::int64_t> missing;       ///< flat [y][x] indices done in no input
  std::vector<std::string> absent_parts;   ///< "k/N" slices of which no input was given
  bool has_y = false;                      ///< a 2D grid
  std::vector<double> missing_alpha, missing_beta;  ///< coordinates of the first missing points
  bool complete() const { return missing.empty(); }
};

/// A stop signal (stop.hpp: Slurm's time limit, scancel, Ctrl-C) arrived before the merged file
/// was renamed over the output: the output is as it was, its lock and temporary file are gone.
class MergeStopped : public Error {
 public:
  using Error::Error;
};

/// Merge `cfg.parts` into `cfg.out` (serial; no MPI rank count needed beyond 1). Throws
/// InputError naming the file on a mismatch between inputs or a disagreement at a point; the
/// output is then left as it was. The merged file is written beside the output and renamed over
/// it, under the output's writer lock. With stop handlers installed, a stop signal is honoured
/// between inputs and before the rename (MergeStopped).
MergeReport merge_surfaces(const MergeConfig& cfg);

}  // namespace losscape
