#include "losscape/sweep.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "losscape/device.hpp"
#include "losscape/error.hpp"
#include "losscape/hessian.hpp"
#include "losscape/json_config.hpp"
#include "losscape/lock.hpp"
#include "losscape/pass_graph.hpp"
#include "losscape/terminal.hpp"
#include "losscape/timestamp.hpp"
#include "losscape/version.hpp"

namespace losscape {

// ---------------- configuration ----------------
void to_json(nlohmann::json& j, const SweepConfig& c) {
  j = {{"model_file", c.model_file}, {"arch", c.arch}, {"init_seed", c.init_seed},
       {"directions", c.directions}, {"dir", c.dir},
       {"x", c.x},                   {"y", c.y},
       {"dataset", c.dataset},       {"data_dir", c.data_dir},
       {"splits", c.splits},         {"samples", c.samples},
       {"subset_seed", c.subset_seed}, {"raw_data", c.raw_data},
       {"loss", c.loss},             {"batch_size", c.batch_size},
       {"precision", c.precision},   {"memory_format", c.memory_format},
       {"points_per_forward", c.points_per_forward}, {"cuda_graphs", c.cuda_graphs},
       {"cudnn_fusion", c.cudnn_fusion},
       {"device", c.device},         {"threads", c.threads},
       {"data_shards", c.data_shards}, {"flush_seconds", c.flush_seconds},
       {"part", c.part},             {"out", c.out}};
  if (c.hessian)
    j.update({{"hessian", c.hessian}, {"hessian_all_params", c.hessian_all_params},
              {"hessian_batch_size", c.hessian_batch_size}, {"eig_tol", c.eig_tol},
              {"eig_max_iter", c.eig_max_iter}, {"eig_ncv", c.eig_ncv}});
  // (it changes what the sweep accepts: a stored configuration given again must do the same)
  if (c.allow_other_model) j["allow_other_model"] = true;
}

namespace {
// Unknown keys are errors: a typo in a config file must not silently fall back to a default.
// `where` names the object inside the configuration ("dir.x"), empty for the top level.
void check_keys(const nlohmann::json& o, std::initializer_list<const char*> known,
                const std::string& where) {
  if (!where.empty() && !o.is_object()) throw InputError("config: '" + where + "' must be an object");
  for (auto& [k, v] : o.items()) {
    bool ok = false;
    for (auto* n : known) ok = ok || k == n;
    if (!ok) throw InputError("config: unknown key " + shown_json(where.empty() ? k : where + "." + k));
  }
}
}  // namespace

void from_json(const nlohmann::json& j, SweepConfig& c) {
  if (!j.is_object())
    throw InputError(std::string("config: expected a JSON object of options ({\"x\": ...}), not ") +
                     (j.is_null() ? "null" : j.is_array() ? "an array" : j.type_name()));
  check_keys(j,
             {"model_file", "arch", "init_seed", "directions", "dir", "x", "y", "dataset",
              "data_dir", "splits", "samples", "subset_seed", "raw_data", "loss", "batch_size",
              "precision", "memory_format", "points_per_forward", "cuda_graphs", "cudnn_fusion",
              "device",
              "threads", "data_shards", "flush_seconds", "part", "out", "quiet",
              "progress_seconds", "allow_other_model", "hessian", "hessian_all_params",
              "hessian_batch_size", "eig_tol", "eig_max_iter", "eig_ncv"},
             "");
  auto get = [&](const char* k, auto& dst) { config_get(j, k, dst); };
  // "auto" or a number
  auto word_or_count = [&](const char* k, std::string& dst) {
    if (!j.contains(k) || j[k].is_null()) return;  // (null: absent, as for every key)
    if (j[k].is_string()) {
      dst = j[k].get<std::string>();
    } else {
      long long n = 0;
      config_get(j, k, n);
      dst = std::to_string(n);
    }
  };
  get("model_file", c.model_file);
  get("arch", c.arch);
  get("init_seed", c.init_seed);
  get("directions", c.directions);
  get("x", c.x);
  get("y", c.y);
  get("dataset", c.dataset);
  get("data_dir", c.data_dir);
  get("splits", c.splits);
  get("samples", c.samples);
  get("subset_seed", c.subset_seed);
  get("raw_data", c.raw_data);
  get("loss", c.loss);
  word_or_count("batch_size", c.batch_size);
  get("precision", c.precision);
  get("memory_format", c.memory_format);
  word_or_count("points_per_forward", c.points_per_forward);
  get("cuda_graphs", c.cuda_graphs);
  get("cudnn_fusion", c.cudnn_fusion);
  get("device", c.device);
  get("threads", c.threads);
  get("data_shards", c.data_shards);
  get("flush_seconds", c.flush_seconds);
  get("part", c.part);
  get("out", c.out);
  get("quiet", c.quiet);
  get("progress_seconds", c.progress_seconds);
  get("allow_other_model", c.allow_other_model);
  get("hessian", c.hessian);
  get("hessian_all_params", c.hessian_all_params);
  get("hessian_batch_size", c.hessian_batch_size);
  get("eig_tol", c.eig_tol);
  get("eig_max_iter", c.eig_max_iter);
  get("eig_ncv", c.eig_ncv);
  if (j.contains("dir") && !j["dir"].is_null()) {  // (null: absent, as for every key)
    auto& d = j["dir"];
    // Checked like the top level. "dims" is accepted (stored configurations have it) and
    // ignored: the grid decides.
    check_keys(d, {"type", "dims", "x", "y", "same_dir", "seed"}, "dir");
    for (auto* axis : {"x", "y"})
      if (d.contains(axis) && !d[axis].is_null()) {
        check_keys(d[axis], {"norm", "ignore", "target"}, std::string("dir.") + axis);
        // ("", the reference's spelling of none, is refused as the norm's is: write "none")
        if (d[axis].contains("ignore") && !d[axis]["ignore"].is_null() && d[axis]["ignore"] != "biasbn" &&
            d[axis]["ignore"] != "none")
          throw InputError(std::string("config: dir.") + axis + ".ignore " +
                           shown_json(d[axis]["ignore"]) + ": expected \"biasbn\" or \"none\"");
      }
    std::string word;
    if (d.contains("type") && !d["type"].is_null()) {
      config_get(d, "type", word, "dir.");
      if (word != "weights" && word != "states")  // (named by the key, as parse_tensor_set does not)
        throw InputError("config: dir.type '" + word + "': expected weights or states");
      c.dir.type = parse_tensor_set(word);
    }
    config_get(d, "dims", c.dir.dims, "dir.");
    config_get(d, "seed", c.dir.seed, "dir.");
    config_get(d, "same_dir", c.dir.same_dir, "dir.");
    auto spec = [&](const char* axis, DirectionSpec& o) {
      if (!d.contains(axis) || d[axis].is_null()) return;
      const auto& s = d[axis];
      const std::string prefix = std::string("dir.") + axis + ".";
      std::string w;
      if (s.contains("norm") && !s["norm"].is_null()) {
        config_get(s, "norm", w, prefix);
        o.norm = parse_norm(w, prefix + "norm");
      }
      if (s.contains("ignore") && !s["ignore"].is_null()) o.ignore_biasbn = s["ignore"] == "biasbn";
      config_get(s, "target", o.target, prefix);
    };
    spec("x", c.dir.x);
    spec("y", c.dir.y);
  }
}


namespace {
// Slurm's array variable `name` as a whole number (refused in one line when it is not one: a
// value atoi read as 0 or as its leading digits made a wrong part silently); nullopt if unset.
std::optional<long long> slurm_number(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  const std::string s = v;
  std::optional<long long> n;
  try {
    n = whole_number<long long>(s);
  } catch (const std::out_of_range&) {  // (said below)
  }
  if (!n || !std::isdigit((unsigned char)s[0]) || *n > (1LL << 30))
    throw InputError("--part slurm: " + std::string(name) + "='" + s + "' is not a task number");
  return n;
}
}  // namespace

std::pair<int, int> parse_part(const std::string& part, bool from_slurm) {
  if (!part.empty()) return parse_part_text(part);
  if (from_slurm) {
    const auto id = slurm_number("SLURM_ARRAY_TASK_ID"), cnt = slurm_number("SLURM_ARRAY_TASK_COUNT");
    if (!id || !cnt) throw InputError("--part slurm: SLURM_ARRAY_TASK_ID/COUNT are not set");
    const auto mn = slurm_number("SLURM_ARRAY_TASK_MIN"), mx = slurm_number("SLURM_ARRAY_TASK_MAX");
    const auto step = slurm_number("SLURM_ARRAY_TASK_STEP");
    const long long k = *id - mn.value_or(0), n = *cnt;
    auto text = [](const std::optional<long long>& v) { return v ? std::to_string(*v) : std::string("?"); };
    if ((mn && mx && *mx - *mn + 1 != n) || (step && *step != 1))
      throw InputError("--part slurm: the job array (tasks " + text(mn) + " to " + text(mx) + ", " +
                       std::to_string(n) + " of them" + (step ? ", step " + text(step) : std::string()) +
                       ") must be contiguous: submit with --array=0-" + std::to_string(n - 1));
    if (n < 1 || k < 0 || k >= n)
      throw InputError("--part slurm: array task " + std::to_string(*id) + " of " + std::to_string(n) +
                       (mn ? " (from " + std::to_string(*mn) + ")" : std::string()) +
                       " does not give a slice (the array must be contiguous)");
    return {int(k), int(n)};
  }
  return {0, 1};
}

// ---------------- the engine ----------------
namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

// Memory every rank holds per grid point (coordinates, the done mask, the visiting order, a
// part's points and the sorts making them): 32-33 bytes measured for 10^7 and 10^8 points
// (peak RSS, x86-64 Linux), with some room. A grid a typo made large is refused in one line
// rather than killed by the kernel's OOM killer without a word (or, under ulimit -v, failing
// deep inside HDF5) after a dry run that passed.
constexpr std::uint64_t kBytesPerGridPoint = 40;

// How long rank 0 of a multi-rank sweep waits, its lock found gone, for another rank's abort
// to end it (see check_still_held): Open MPI's launcher took over 0.5 s on a loaded 2-core CI
// machine; a lock deleted by hand is reported this much later.
constexpr double kAbortGraceSeconds = 10;

void check_grid_memory(const Grid& g, int ranks_on_node, const MemoryRoom& room) {
  const std::uint64_t per_rank = std::uint64_t(g.size()) * kBytesPerGridPoint;
  const std::uint64_t per_node = per_rank * std::uint64_t(std::max(ranks_on_node, 1));
  const auto text = [](std::uint64_t b) { return SurfaceFile::size_text(b); };
  const std::string why = memory_shortfall(room, per_rank, ranks_on_node, text);
  if (why.empty()) return;
  throw InputError("--x/--y: a grid of " + std::to_string(g.size()) + " points (" + g.x.str() +
                   (g.has_y ? " x " + g.y.str() : std::string()) + ") needs about " +
                   text(per_rank) + " of memory on each rank for the sweep's bookkeeping" +
                   (ranks_on_node > 1 ? " (" + text(per_node) + " for the " + std::to_string(ranks_on_node) +
                                            " ranks on this node)"
                                      : std::string()) +
                   ", and " + why +
                   "; use a coarser grid, fewer ranks per node or more memory");
}

// Message tags between group leaders and rank 0.
enum : int {
  kTagRequest = 7101,
  kTagControl = 7102,
  kTagIdle = 7103,
  kTagStop = 7104,
  kTagProgress = 7105,  // points finished so far in a block (no answer)
};
// Control messages (rank 0 -> leader) and group commands (leader -> its followers).
// kStop: the tail's results (every rank, Evaluator::finish_tail), then the final round.
enum : std::int64_t { kWork = 1, kRound = 2, kStop = 3, kEval = 4 };
// What a rank has finished: grid points (and their lowest loss), and pieces of tail points as
// fractions of a point (their results come at the end; counted so that the progress moves
// during the tail). A group leader sends one with each message to rank 0 (request, idle, stop).
struct Finished {
  double points = 0, lowest = INFINITY, pieces = 0;
  void add(const Finished& f) {
    points += f.points;
    lowest = std::fmin(lowest, f.lowest);
    pieces += f.pieces;
  }
};
static_assert(sizeof(Finished) == 3 * sizeof(double), "Finished goes as 3 MPI_DOUBLEs");
// A group command: what to do and, for kEval, the points (evaluated in one stacked pass).
struct GroupCommand {
  std::int64_t what = 0, n = 0;
  std::int64_t points[kMaxPointsPerForward] = {};
};
// `--points-per-forward`: 0 for auto, else 1 .. kMaxPointsPerForward; InputError otherwise.
int parse_points_per_forward(const std::string& s) {
  if (s == "auto") return 0;
  const std::string range = "--points-per-forward must be auto or 1 to " +
                            std::to_string(kMaxPointsPerForward) + " (got '" + s + "')";
  std::optional<int> k;
  try {
    k = whole_number<int>(s);
  } catch (const std::out_of_range&) {  // (said below)
  }
  if (!k || *k < 1 || *k > kMaxPointsPerForward) throw InputError(range);
  return *k;
}

// A group leader's command to its followers (they receive it in the follower loop).
void command_group(const mpi::Comm& group, std::int64_t what,
                   const std::vector<std::int64_t>& points = {}) {
  GroupCommand cmd;
  cmd.what = what;
  cmd.n = std::int64_t(points.size());
  std::copy(points.begin(), points.end(), cmd.points);
  group.bcast(&cmd, sizeof cmd);
}

// Everything one rank holds for evaluating points.
struct Evaluator {
  std::unique_ptr<Model> model;
  TensorList live, base;  // the model's tensors (set in place) and a copy of θ*
  Directions dirs;
  std::vector<DataSplit> data;
  EvalOptions opts;
  const Grid* grid = nullptr;
  const mpi::Comm* group = nullptr;
  std::vector<double> xs, ys;
  std::unique_ptr<HessianOperator> hessian;  // with --hessian
  EigenOptions eig;
  int points_per_pass = 1;  // K: groups of K points go in one stacked pass
  // Each grid point's position in this part's coarse-to-fine order (every point of the part,
  // done or not; -1: not in the part). A pass holds points of one chunk of K consecutive
  // positions only, each in its own place (its position mod K) in the stacked models: a point
  // always goes in the same place of the same chunk, whichever start computes it and whatever
  // was done before, so that its value does not depend on where a start began or ended (on some
  // backends it depends on its place in the pass: grouped convolutions' blocking).
  std::vector<std::int32_t> order_pos;
  static_assert(kMaxGridPoints <= std::numeric_limits<std::int32_t>::max());
  std::int64_t chunk_of(std::int64_t i) const { return order_pos[std::size_t(i)] / points_per_pass; }
  bool same_pass(std::int64_t a, std::int64_t b) const { return chunk_of(a) == chunk_of(b); }
  StackedState stacked;     // the stacked models of K points, rewritten in place
  std::vector<std::string> split_names;
  bool cuda_graphs = false;  // --cuda-graphs auto on a GPU, in a build that has them
  std::map<std::pair<std::size_t, int>, std::unique_ptr<PassGraph>> graphs;  // (split, K)
  std::vector<std::string> graph_events;  // recorded / turned off, in order
  std::function<void(const std::string& line, bool turned_off)> on_graph_event;

  // The CUDA graph of the passes over split `d` with K points per pass, or none.
  PassGraph* graph(std::size_t d, int k) {
    if (!cuda_graphs) return nullptr;
    auto& g = graphs[{d, k}];
    if (!g) {
      g = std::make_unique<PassGraph>(split_names[d] + ", " + std::to_string(k) +
                                      (k == 1 ? " point" : " points") + " per pass");
      g->on_event = [this, p = g.get()](const std::string& line) {
        graph_events.push_back(line);
        if (on_graph_event) on_graph_event(line, !p->off_reason().empty());
      };
    }
    return g.get();
  }

  // (α, β) of grid point i.
  std::pair<double, double> coords(std::int64_t i) const {
    return {xs[std::size_t(i % grid->nx())], grid->has_y ? ys[std::size_t(i / grid->nx())] : 0.0};
  }
  // Per point, per split: loss sum, correct count, sample count.
  struct Sums {
    std::vector<double> v;
    std::size_t splits;
    Sums(std::size_t points, std::size_t splits) : v(points * splits * 3), splits(splits) {}
    void store(std::size_t p, std::size_t d, const EvalSums& s) {
      double* at = &v[(p * splits + d) * 3];
      at[0] = s.loss_sum;
      at[1] = s.correct;
      at[2] = s.count;
    }
    // The points' results: per split loss and accuracy.
    std::vector<PointResult> results(const std::vector<std::int64_t>& idx) const {
      std::vector<PointResult> out(idx.size());
      for (std::size_t p = 0; p < idx.size(); ++p) {
        out[p].index = idx[p];
        for (std::size_t d = 0; d < splits; ++d) {
          const double* at = &v[(p * splits + d) * 3];
          EvalSums s{at[0], at[1], at[2]};
          out[p].values.push_back(s.loss());
          out[p].values.push_back(s.accuracy());
        }
      }
      return out;
    }
  };

  std::int64_t applied = -1;              // the grid point whose weights `live` holds, when known
  std::vector<std::int64_t> stacked_for;  // the grid points whose models `stacked` holds, if known

  // The sums of grid points `idx` over every split into `sums` (inside run_in_group): over the
  // whole splits (their passes may be CUDA graphs), or over piece `share` = (c, n) of them
  // (batch_share at the pass's batch size). The points of a group are of one chunk (order_pos),
  // each in its place; a group shorter than K (the part's last chunk, or one a stopped start
  // left partly done) goes in a whole pass of K, its empty places filled with its points (the
  // one before, the first for leading places): a point's value then does not depend on which
  // points shared its pass (the same images per batch, the same convolution shapes, the same
  // place), so that the surface of several starts is bit for bit one uninterrupted run's; and a
  // pass of k < K points, or one point per pass, would be new shapes, which cuDNN autotunes at
  // their first pass (seconds for a large network on a GPU), and another CUDA graph with its
  // own copy of the activations. A point's weights, or a
  // group's stacked models, are set only when `live` or `stacked` does not already hold them
  // (consecutive pieces of one point or pass).
  void sum_points(const std::vector<std::int64_t>& idx, Sums& sums,
                  std::optional<std::pair<int, int>> share = std::nullopt) {
    const std::size_t k = idx.size();
    auto split = [&](std::size_t d, std::int64_t batch) {
      return share ? batch_share(data[d], batch, share->first, share->second) : data[d];
    };
    if (points_per_pass <= 1) {
      for (std::size_t p = 0; p < k; ++p) {
        if (applied != idx[p]) {
          const auto [a, b] = coords(idx[p]);
          apply_directions(live, base, dirs, a, b);
          applied = idx[p];
        }
        for (std::size_t d = 0; d < data.size(); ++d)
          sums.store(p, d, evaluate(*model, split(d, opts.batch_size), opts,
                                    share ? nullptr : graph(d, 1)));
      }
      return;
    }
    // The K stacked models keep their tensors from group to group (their addresses are in a
    // recorded CUDA graph).
    std::vector<std::int64_t> whole(std::size_t(points_per_pass), -1);
    std::vector<std::size_t> place(k);
    for (std::size_t p = 0; p < k; ++p) {
      place[p] = std::size_t(order_pos[std::size_t(idx[p])] % points_per_pass);
      if (whole[place[p]] >= 0 || !same_pass(idx[p], idx[0]))
        throw std::logic_error("a pass of points of several chunks");
      whole[place[p]] = idx[p];
    }
    std::int64_t fill = whole[*std::min_element(place.begin(), place.end())];
    for (auto& w : whole) {
      if (w >= 0)
        fill = w;
      else
        w = fill;
    }
    if (stacked_for != whole) {
      std::vector<double> alphas, betas;
      for (auto i : whole) {
        const auto [a, b] = coords(i);
        alphas.push_back(a);
        betas.push_back(b);
      }
      stack_points_into(stacked, *model, base, dirs, alphas, betas);
      stacked_for = whole;
    }
    EvalOptions o = opts;
    o.batch_size = stacked_batch(opts.batch_size, points_per_pass);
    for (std::size_t d = 0; d < data.size(); ++d) {
      auto per_point = evaluate_points(*model, split(d, o.batch_size), stacked, o,
                                       share ? nullptr : graph(d, points_per_pass));
      for (std::size_t p = 0; p < k; ++p) sums.store(p, d, per_point[place[p]]);
    }
  }

  // Evaluate points `idx` (collective over the group when sharded): one at a time with K = 1,
  // else all in one stacked forward pass of K per batch (sum_points). Values: per split loss, acc.
  std::vector<PointResult> eval(const std::vector<std::int64_t>& idx) {
    auto t0 = clock_type::now();
    applied = -1;  // a grid point's weights are always set anew (as the stacked models are)
    stacked_for.clear();
    const std::size_t k = idx.size();
    Sums sums(k, data.size());
    // On a rank of a data-shard group, a failure here is agreed within the group before its
    // reduction below (GroupEvalError on every rank of the group).
    run_in_group(group, [&]() {
      injected_eval_error();
      sum_points(idx, sums);
    });
    if (group->size() > 1) group->allreduce_sum(sums.v.data(), int(sums.v.size()));
    std::vector<PointResult> results = sums.results(idx);
    if (hessian) {  // one point at a time (points_per_forward is 1 with --hessian)
      hessian->between_batches = opts.between_batches;
      // A point whose loss is not finite has no meaningful curvature, and its products would
      // be NaN, on which ARPACK breaks down: like the loss, a NaN is its result (stored, done,
      // never recomputed), not an error that would stop the sweep at every resume. The loss is
      // the group's combined one and ARPACK is deterministic, so every rank of a group takes
      // the same branch.
      ExtremeEigs e;
      e.max_eig = e.min_eig = NAN;
      if (std::isfinite(results[0].values[0])) {
        const auto before = hessian->products();
        const auto undefined = [&]() {  // NaN eigenvalues; the products the point took, all the same
          e = ExtremeEigs{};
          e.max_eig = e.min_eig = NAN;
          e.products = int(hessian->products() - before);
        };
        try {
          e = extreme_eigenvalues([this](const double* x, double* y) { hessian->apply(x, y); },
                                  hessian->dim(), eig);
        } catch (const ArpackError&) {  // a breakdown (non-finite products of a finite loss)
          undefined();
        } catch (const UndefinedHessian&) {  // (the Hessian's loss, where the sweep's was finite)
          undefined();
        }
      }
      results[0].values.insert(results[0].values.end(),
                               {e.max_eig, e.min_eig, e.converged ? 1.0 : 0.0, double(e.products)});
    }
    const double each = since(t0) / double(k);  // a stacked pass's time, shared out evenly
    for (auto& r : results) r.seconds = each;
    return results;
  }

  // ---- the sweep's last points, handed out in pieces (run_sweep's `tail`) ----
  // The tail's points go in units of one pass's points: those of one chunk (order_pos; a unit of
  // fewer than K goes as a whole pass of K filled up with its points, as in eval). Piece c of
  // `pieces` of a unit is the c-th share of whole batches of every split of this rank's data (batch_share: the batches and their sums
  // are a whole pass's). A piece is a work item of its own, numbered -(1 + u·pieces + c) for
  // piece c of unit u (grid points are >= 0). Its sums are kept here, on every rank of the group
  // that evaluated it, until every rank adds them up at the end (finish_tail).
  struct Tail {
    std::vector<std::int64_t> points;  // grid indices, unit after unit
    std::vector<std::size_t> first;    // where each unit starts in points, and points.size()
    int pieces = 1;
    Sums sums{0, 0};
    std::vector<double> done, seconds;  // per point: pieces evaluated, their time (on leaders)
    std::size_t units() const { return first.empty() ? 0 : first.size() - 1; }
  } tail;

  void set_tail(std::vector<std::int64_t> points, int pieces) {
    tail.points = std::move(points);
    tail.first.clear();
    for (std::size_t p = 0; p < tail.points.size(); ++p)
      if (p == 0 || !same_pass(tail.points[p - 1], tail.points[p])) tail.first.push_back(p);
    tail.first.push_back(tail.points.size());
    tail.pieces = pieces;
    tail.sums = Sums(tail.points.size(), data.size());
    tail.done.assign(tail.points.size(), 0);
    tail.seconds.assign(tail.points.size(), 0);
  }
  static bool is_piece(std::int64_t item) { return item < 0; }
  // The tail unit of piece `item`: its first point (an index into tail.points) and point count.
  std::pair<std::size_t, std::size_t> piece_unit(std::int64_t item) const {
    const std::size_t u = std::size_t((-item - 1) / tail.pieces);
    return {tail.first[u], tail.first[u + 1] - tail.first[u]};
  }
  std::size_t piece_points(std::int64_t item) const { return piece_unit(item).second; }

  // Evaluate piece `item` (collective over the group when sharded) and add its sums to its
  // unit's points'.
  void eval_piece(std::int64_t item) {
    auto t0 = clock_type::now();
    const auto [first, n] = piece_unit(item);
    const std::vector<std::int64_t> idx(tail.points.begin() + std::ptrdiff_t(first),
                                        tail.points.begin() + std::ptrdiff_t(first + n));
    const std::pair<int, int> share(int((-item - 1) % tail.pieces), tail.pieces);
    Sums part(n, data.size());
    run_in_group(group, [&]() {
      injected_eval_error();
      sum_points(idx, part, share);
    });
    double* sums = &tail.sums.v[first * data.size() * 3];  // Sums' layout: point, split, 3
    for (std::size_t k = 0; k < part.v.size(); ++k) sums[k] += part.v[k];
    if (group->rank() == 0) {  // counted once per group
      const double each = since(t0) / double(n);
      for (std::size_t p = first; p < first + n; ++p) {
        tail.done[p] += 1;
        tail.seconds[p] += each;
      }
    }
  }

  // Work items `items` (collective over the group when sharded): grid points (eval), or one piece
  // of a tail point, whose result comes at the end (finish_tail) and which gives none here.
  std::vector<PointResult> run(const std::vector<std::int64_t>& items) {
    if (items.size() == 1 && is_piece(items[0])) {
      eval_piece(items[0]);
      return {};
    }
    if (std::any_of(items.begin(), items.end(), is_piece))
      throw std::logic_error("a piece of a tail point among grid points");
    return eval(items);
  }

  // At the end, on every rank (collective over `all`): the tail points' sums added up over the
  // ranks, and the results of those whose pieces were all evaluated (a stop or an error can leave
  // some unfinished: they are computed again by the next run). A point's time is its pieces'.
  std::vector<PointResult> finish_tail(const mpi::Comm& all) {
    const std::size_t n = tail.points.size();
    if (n == 0) return {};
    std::vector<double> v = tail.sums.v;
    v.insert(v.end(), tail.done.begin(), tail.done.end());
    v.insert(v.end(), tail.seconds.begin(), tail.seconds.end());
    all.allreduce_sum(v.data(), int(v.size()));
    Sums total(n, data.size());
    std::copy(v.begin(), v.begin() + std::ptrdiff_t(total.v.size()), total.v.begin());
    const double* done = v.data() + total.v.size();
    const double* seconds = done + n;
    auto all_results = total.results(tail.points);
    std::vector<PointResult> results;
    for (std::size_t t = 0; t < n; ++t)
      if (done[t] == tail.pieces) {
        all_results[t].seconds = seconds[t];
        results.push_back(std::move(all_results[t]));
      }
    return results;
  }
};

// Progress display on rank 0: a live bar on a terminal, plain lines otherwise.
class Progress {
 public:
  Progress(std::int64_t total, std::int64_t done_before, bool quiet, double interval)
      : total_(total), done_(done_before), start_done_(done_before), quiet_(quiet),
        interval_(interval), tty_(stdout_is_terminal()) {}
  // The lowest loss among the points a resumed run found done (its line would otherwise say the
  // lowest of this run's points alone, beside a count of all).
  void found_done(double lowest) {
    if (lowest < best_) best_ = lowest;
  }
  void add(const Finished& f) {
    done_ += std::int64_t(f.points);
    partial_ += f.pieces;
    if (f.lowest < best_) best_ = f.lowest;
    show(false);
  }
  // The tail points complete at the end: they replace the fractions counted for their pieces.
  void settle_tail(const Finished& f) {
    partial_ = 0;
    add(f);
  }
  void show(bool final) {
    if (quiet_) return;
    double el = since(t0_);
    if (!final && since(last_) < (tty_ ? 0.5 : interval_)) return;
    const double done = double(done_) + partial_;
    // A log gets no line that repeats the last one's counts (whole points and pieces): the final
    // line, or a report of nothing new, after a line that said the same (--progress-seconds 0,
    // an interval that had just passed, the tail settled with nothing in it). The final line
    // always comes otherwise, so a log ends on the whole count.
    if (!tty_ && shown_done_ == done_ && shown_partial_ == partial_) return;
    shown_done_ = done_;
    shown_partial_ = partial_;
    last_ = clock_type::now();
    double rate = el > 0 ? (done - double(start_done_)) / el : 0;
    double eta = rate > 0 ? (double(total_) - done) / rate : NAN;
    char line[256];
    std::snprintf(line, sizeof line, "%lld/%lld points (%.1f %%), %.2f points/s, ETA %s, lowest loss %s",
                  (long long)done_, (long long)total_, total_ ? 100.0 * done / double(total_) : 100.0,
                  rate, format_duration(eta).c_str(),
                  std::isfinite(best_) ? std::to_string(best_).c_str() : "-");
    if (tty_) {
      int width = 30;
      int fill = total_ ? std::min(width, int(width * done / double(total_))) : width;
      std::printf("\r[%s%s] %s", std::string(std::size_t(fill), '#').c_str(),
                  std::string(std::size_t(width - fill), '.').c_str(), line);
      if (final) std::printf("\n");
    } else {
      std::printf("[sweep] %s\n", line);
    }
    std::fflush(stdout);
  }
  std::int64_t done() const { return done_; }

 private:
  std::int64_t total_, done_, start_done_;  // points: saved ones
  double partial_ = 0;                       // tail points' pieces finished, as fractions
  std::int64_t shown_done_ = -1;             // the counts of the last line printed
  double shown_partial_ = -1;
  bool quiet_;
  double interval_;
  bool tty_;
  double best_ = std::numeric_limits<double>::infinity();
  clock_type::time_point t0_ = clock_type::now(), last_ = clock_type::time_point{};
};

// Directions a sweep made beside its output (no --directions) and finds there again must have
// been made with the direction options of this command: otherwise resuming would go on with the
// old directions and the surface would not be the one asked for.
void check_made_with(const Directions& d, DirectionsConfig want, int dims,
                     const std::string& path) {
  want.dims = dims;
  const nlohmann::json w = want;
  // A target model named by another spelling of the same path (./m.h5, or relative to another
  // directory) is the same target. No target is not a target; and a recorded path that does not
  // resolve from here (the run was started elsewhere, the model moved) cannot be compared, so only
  // the same spelling is taken as the same target.
  auto same_target = [](const std::string& have, const std::string& requested) {
    namespace fs = std::filesystem;
    if (have == requested) return true;
    if (have.empty() || requested.empty()) return false;
    std::error_code ec1, ec2, ec3;
    if (!fs::exists(have, ec1) || !fs::exists(requested, ec2)) return false;
    const auto a = fs::weakly_canonical(have, ec1), b = fs::weakly_canonical(requested, ec3);
    return !ec1 && !ec3 && a == b;
  };
  auto same = [&](const std::string& k, const nlohmann::json& have, const nlohmann::json& v) {
    if ((k != "x" && k != "y") || !have.is_object() || !v.is_object()) return have == v;
    // A target direction is θ(target) − θ*: its norm and ignore, which files made before
    // 2026-12-02 recorded as the unused defaults, do not matter.
    auto has_target = [](const nlohmann::json& s) {
      return s.contains("target") && s["target"].is_string() && !s["target"].get<std::string>().empty();
    };
    const bool target = has_target(have) || has_target(v);
    for (auto& [f, fv] : v.items()) {
      if (target && f != "target") continue;
      const auto h = have.contains(f) ? have.at(f) : nlohmann::json();
      if (f == "target" && h.is_string() && fv.is_string()) {
        if (!same_target(h.get<std::string>(), fv.get<std::string>())) return false;
      } else if (f == "ignore" && (h == "" || h == "none") && (fv == "" || fv == "none")) {
        // (files made before 2026-12-02 record "none" as "")
      } else if (h != fv) {
        return false;
      }
    }
    return true;
  };
  std::string diff;
  for (auto& [k, v] : w.items()) {
    if (k == "dims") continue;      // follows the grid, which the surface file checks
    if (k == "y" && want.same_dir)  // y is x: its own options do not apply
      continue;
    const auto have = d.attrs.contains(k) ? d.attrs.at(k) : nlohmann::json();
    if (!same(k, have, v))
      diff += (diff.empty() ? "" : ", ") + k + " " + shown_json(have) + " (requested " + shown_json(v) + ")";
  }
  if (!diff.empty())
    throw InputError(path + " was made with other direction options: " + diff +
                     "; refusing to resume with them (pass --directions " + path +
                     " to use that file, or choose another --out)");
}

// Directions made towards a target model and found again beside the output by a resume are
// θ(target) − θ* as the target was then: the target named now must still be that model (a
// checkpoint overwritten, or another file under the same name, would go unnoticed otherwise:
// the surface would be swept towards the old one while the command names the new).
void check_targets_unchanged(const Directions& d, const Model& model, const DirectionsConfig& want,
                             const std::string& dataset, const std::string& path) {
  const DirectionSpec* spec[] = {&want.x, &want.y};
  const char* axis[] = {"x", "y"};
  for (int i = 0; i < d.dims() && i < 2; ++i) {
    const std::string& target = spec[i]->target;
    if (target.empty() || (i == 1 && want.same_dir)) continue;
    const std::string hint = "; pass --directions " + path + " instead of --" + axis[i] +
                             "-target to resume with the directions as they were made, or choose "
                             "another --out";
    TensorList now;
    try {
      now = target_direction(model, d.type, target, dataset);
    } catch (const Error& e) {
      throw InputError(path + " was made towards " + target + ", which cannot be read now (" +
                       e.what() + ")" + hint);
    }
    for (std::size_t k = 0; k < now.size() && k < d.dirs[std::size_t(i)].size(); ++k)
      if (!torch::equal(now[k].tensor, d.dirs[std::size_t(i)][k].tensor.cpu()))
        throw InputError(target + " is no longer the model " + path + " was made towards (" +
                         now[k].name + " differs): it changed since" + hint);
  }
}

// What each split of the sweep covers: its description, or with data shards what a group of
// ranks holds together (collective over `group`: every rank calls).
std::vector<std::string> split_lines(const std::vector<DataSplit>& data, const SweepConfig& cfg,
                                     const mpi::Comm& group) {
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const DataSplit& d = data[i];
    if (group.size() == 1) {
      lines.push_back(d.description);
      continue;
    }
    const std::int64_t n = d.size();
    const std::int64_t sum = group.allreduce_sum(n);
    const std::int64_t largest = group.allreduce_max(n);
    const std::int64_t smallest = -group.allreduce_max(-n);
    lines.push_back(cfg.dataset + " " + cfg.splits[i] + " (" + std::to_string(sum) + " of " +
                    std::to_string(d.total) + " samples in " + std::to_string(group.size()) +
                    " shards of " +
                    (smallest == largest ? std::to_string(largest)
                                         : std::to_string(smallest) + "-" + std::to_string(largest)) +
                    ")");
  }
  return lines;
}

void print_notes(const Directions& d) {
  for (const auto& n : d.notes) std::fprintf(stderr, "losscape: warning: %s\n", n.c_str());
}

}  // namespace

nlohmann::json device_list(const std::vector<std::string>& per_rank) {
  if (per_rank.size() <= 64) return per_rank;
  std::vector<std::pair<std::string, std::size_t>> counts;  // in order of first appearance
  for (auto& d : per_rank) {
    auto it = std::find_if(counts.begin(), counts.end(), [&](auto& c) { return c.first == d; });
    if (it == counts.end())
      counts.emplace_back(d, 1);
    else
      ++it->second;
  }
  nlohmann::json out = nlohmann::json::array();
  for (auto& [d, n] : counts) out.push_back(d + " × " + std::to_string(n) + " ranks");
  return out;
}

nlohmann::json earlier_choices(const nlohmann::json& run_log, const nlohmann::json& devices,
                               const std::string& precision, int data_shards) {
  // The kinds of devices of a run: "cuda:3 (NVIDIA H200) × 250 ranks" is "cuda (NVIDIA H200)".
  auto kinds = [](const nlohmann::json& list) {
    std::set<std::string> out;
    if (!list.is_array()) return out;
    static const std::regex ranks(R"( × \d+ ranks$)"), index(R"(^cuda:\d+)");
    for (const auto& d : list)
      if (d.is_string()) out.insert(std::regex_replace(std::regex_replace(d.get<std::string>(), ranks, ""),
                                                       index, "cuda"));
    return out;
  };
  const std::set<std::string> mine = kinds(devices);
  if (!run_log.is_array() || mine.empty()) return nullptr;
  for (const auto& r : run_log) {
    if (!r.is_object()) continue;
    auto integer = [&](const char* key, std::int64_t least, std::int64_t most) {
      const auto it = r.find(key);
      return it != r.end() && it->is_number_integer() && it->get<std::int64_t>() >= least &&
             it->get<std::int64_t>() <= most;
    };
    auto text = [&](const char* key) {
      const auto it = r.find(key);
      return it != r.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    const auto fusion = r.find("cudnn_fusion");
    const auto shards = r.find("data_shards");
    if (integer("batch_size", 1, std::numeric_limits<std::int64_t>::max()) &&
        (text("memory_format") == "nchw" || text("memory_format") == "nhwc") &&
        integer("points_per_forward", 1, kMaxPointsPerForward) && fusion != r.end() &&
        fusion->is_boolean() && text("precision") == precision && shards != r.end() &&
        *shards == data_shards && r.contains("devices") && kinds(r["devices"]) == mine)
      return r;
  }
  return nullptr;
}

std::vector<std::string> rank_events(const std::vector<std::vector<std::string>>& per_rank) {
  std::vector<std::string> out;
  if (per_rank.size() <= 64) {
    for (std::size_t r = 0; r < per_rank.size(); ++r)
      for (auto& line : per_rank[r]) out.push_back("rank " + std::to_string(r) + ": " + line);
    return out;
  }
  std::vector<std::pair<std::string, std::vector<std::size_t>>> groups;  // by first appearance
  for (std::size_t r = 0; r < per_rank.size(); ++r)
    for (auto& line : per_rank[r]) {
      auto it = std::find_if(groups.begin(), groups.end(), [&](auto& g) { return g.first == line; });
      if (it == groups.end()) groups.push_back({line, {r}});
      else it->second.push_back(r);
    }
  for (auto& [line, ranks] : groups) {
    std::string list;  // "0-499,512-999", or only the count when that is long
    for (std::size_t i = 0; i < ranks.size();) {
      std::size_t j = i;
      while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
      list += (list.empty() ? "" : ",") + std::to_string(ranks[i]) +
              (j > i ? "-" + std::to_string(ranks[j]) : "");
      i = j + 1;
    }
    out.push_back((list.size() > 80 ? std::to_string(ranks.size()) + " ranks" : "ranks " + list) +
                  ": " + line);
  }
  return out;
}

namespace {

// The eigensolver settings of --hessian.
EigenOptions eigen_options(const SweepConfig& c) {
  EigenOptions e;
  e.tol = c.eig_tol;
  e.max_iter = c.eig_max_iter;
  e.ncv = c.eig_ncv;
  return e;
}

}  // namespace

bool tries_cudnn_fusion(const std::string& setting, const Model& model, const torch::Device& device,
                        Precision precision, bool hessian) {
  return setting != "off" && device.is_cuda() && !hessian && is_zoo_name(model.arch) &&
         (precision == Precision::fp32 || precision == Precision::tf32);
}

CombineTimings combine_timings(const mpi::Comm& world) {
  return [&world](const TimingResult& mine) {
    TimingResult all;
    all.rate = world.allreduce_sum(mine.rate);
    all.state = int(world.allreduce_max(std::int64_t(mine.state)));
    if (all.state == TimingResult::failed) throw AgreedError(world.agree(mine.error));
    if (all.state != TimingResult::ok) all.error = world.agree(mine.error);
    return all;
  };
}

namespace {
// What an error that ends a job of several ranks from one of them adds to its message: which
// rank, and that what the surface holds is kept.
std::string aborted_on(int rank, const std::string& out) {
  return " (rank " + std::to_string(rank) + "; the job is ended: the same command resumes from the points " + out +
         " holds)";
}
}  // namespace

SweepOutcome run_sweep(const SweepConfig& cfg, const mpi::Comm& world) {
  const auto t_start = clock_type::now();
  SweepOutcome out;
  const int rank = world.rank(), size = world.size();
  if (cfg.identity_only && !cfg.dry_run)
    throw AgreedError("--identity-only is a kind of --dry-run: give both");
  // (an identity check needs none of the run's ranks, groups or devices)
  const int G = cfg.identity_only ? 1 : cfg.data_shards;
  if (cfg.data_shards < 1) throw AgreedError("--data-shards must be at least 1");
  if (size % G != 0)
    throw AgreedError("--data-shards " + std::to_string(G) + " must divide the number of ranks (" +
                     std::to_string(size) + ")");
  mpi::Comm node = world.split_node();
  mpi::Comm group = world.split(rank / G, rank % G);
  const bool leader = group.rank() == 0;
  const int n_groups = size / G;

  // ---- set-up, with errors agreed across ranks so that nobody hangs ----
  Grid grid;
  int part_k = 0, part_n = 1;  // the slice of the grid (--part)
  Evaluator ev;
  std::unique_ptr<FileLock> lock;
  // A job aborted from any depth (a surface whose creation failed among them) lets the lock go:
  // rank 0 its own; another rank, which ends rank 0 by the abort without its cleanups, rank 0's
  // (`lock_token`, broadcast once taken; a rerun from another node was refused for the lock's
  // stale time).
  std::string lock_token;
  const std::string lock_target = std::filesystem::absolute(cfg.out).string();
  mpi::AbortCleanup release_lock([&] {
    if (lock)
      lock.reset();
    else if (!lock_token.empty())
      FileLock::release_for(lock_target, lock_token);
  });
  std::unique_ptr<SurfaceFile> surface;
  struct stat out_before {};  // (rank 0: the surface file as found, for one found complete)
  out_before.st_mtim.tv_sec = -1;
  std::vector<std::string> value_names;
  std::string dir_file = cfg.directions;
  nlohmann::json effective = cfg;
  torch::Device device = torch::kCPU;
  auto agreed = [&](const std::function<void()>& step) { run_agreed(world, step); };
  // (a collective: outside the agreed steps, where a rank that failed first would skip it)
  const int cpu_sharers = ranks_sharing_cpus(node);

  agreed([&] {
    grid = parse_grid(cfg.x, cfg.y);
    // The grid decides, whatever the config said (and a y direction's settings are kept only
    // when there are two: a config's "dims": 1 on a 2D grid lost them from the record)
    DirectionsConfig dims_fixed = cfg.dir;
    dims_fixed.dims = grid.has_y ? 2 : 1;
    effective["dir"] = dims_fixed;
    // With a direction file, the direction options do not apply (the file records its own
    // settings): the configuration leaves them out rather than list defaults never used.
    if (!cfg.directions.empty()) effective.erase("dir");
    std::tie(part_k, part_n) = parse_part(cfg.part == "slurm" ? "" : cfg.part, cfg.part == "slurm");
    // (legal: a fan-out of more parts than points; said, since a wrong N looks the same)
    if (rank == 0 && part_k >= grid.size())
      std::fprintf(stderr, "losscape: note: part %d/%d of a grid of %lld points holds no point (more "
                           "parts than points)\n",
                   part_k + 1, part_n, static_cast<long long>(grid.size()));
    // (not with --identity-only: this process's memory is not the run's nodes', e.g. a login
    // node's ulimit at a fan-out's submit)
    if (!cfg.identity_only) check_grid_memory(grid, node.size(), memory_room());
    if (cfg.out.empty()) throw InputError("--out: no surface file named (an empty name)");
    check_surface_name(cfg.out);
    if (cfg.splits.empty()) throw InputError("--splits: give train, test or both");
    for (auto& s : cfg.splits) {
      if (s.empty()) throw InputError("--splits: an empty name between commas (give train, test or train,test)");
      if (s != "train" && s != "test") throw InputError("--splits: unknown split '" + s + "'");
      if (std::count(cfg.splits.begin(), cfg.splits.end(), s) > 1)
        throw InputError("--splits: '" + s + "' is given twice");
      value_names.push_back(s + "_loss");
      value_names.push_back(s + "_acc");
    }
    if (cfg.hessian) {
      for (auto* n : {"max_eig", "min_eig", "eig_converged", "hvp_count"}) value_names.push_back(n);
      check_eigen_options(eigen_options(cfg));
      if (cfg.hessian_batch_size < 1) throw InputError("--hessian-batch-size must be at least 1");
    }
    parse_loss(cfg.loss);
    parse_precision(cfg.precision);
    try {  // (named by the option: the CLI names a --config file's key instead)
      data_shape(cfg.dataset);
    } catch (const InputError& e) {
      throw InputError(std::string("--dataset: ") + e.what());
    }
    if (cfg.model_file.empty() && cfg.arch.empty())
      throw UsageError("sweep: no model: give --model-file FILE (with --arch for a state dict), "
                       "or --arch NAME for a fresh zoo network (in a --config file: \"model_file\", \"arch\")");
    if (!grid.has_y && cfg.directions.empty() && !cfg.dir.y.target.empty())
      throw InputError("--y-target (dir.y.target) " + cfg.dir.y.target +
                       " makes a second direction: a 2D grid needs --y MIN:MAX:NUM");
    // (a NaN would never be reached: no write round before the last)
    if (!(cfg.flush_seconds > 0) || !std::isfinite(cfg.flush_seconds))
      throw InputError("--flush-seconds must be a positive number of seconds");
    if (cfg.stop_after < 0)
      throw InputError("--stop-after must be a number of points >= 0 (0: no limit)");
    if (!(cfg.progress_seconds >= 0) || !std::isfinite(cfg.progress_seconds))
      throw InputError("--progress-seconds must be a number of seconds >= 0 (0: a line at every "
                       "report)");
    // (taken at the start-up choice; checked here with the other settings, so that a dry run of
    // the identity alone, which stops before that, refuses them too; --hessian: nchw)
    parse_batch_size(cfg.batch_size);
    if (!cfg.hessian) check_memory_format(cfg.memory_format);
    if (!cfg.identity_only) device = select_device(cfg.device, node.rank());
    if (device.is_cpu()) configure_cpu_threads(cfg.threads, cpu_sharers);
    // (fp16 or tf32 on a CPU: refused before anything is written; a surface file made first
    // recorded the precision and refused the corrected command as another sweep)
    if (!cfg.identity_only) PrecisionGuard check_precision(parse_precision(cfg.precision), device);
    if (cfg.model_file.empty()) {
      torch::manual_seed(cfg.init_seed);
      ev.model = make_zoo(cfg.arch, cfg.dataset);
    } else {
      ev.model = load_model(cfg.model_file, cfg.arch, cfg.dataset);
      // Every point around a diverged checkpoint would be NaN: thousands of passes for nothing
      // (directions made here refuse it too, a given direction file did not).
      if (const std::string bad = diverged_model(ev.model->state(), ev.model->source); !bad.empty())
        throw InputError(bad + "; every point of a sweep around it would be NaN");
    }
    check_cuda_graphs(cfg.cuda_graphs);
    check_cudnn_fusion(cfg.cudnn_fusion);
    const int k = parse_points_per_forward(cfg.points_per_forward);
    if (k > 1 && cfg.hessian)
      throw InputError("--points-per-forward > 1 and --hessian: the Hessian maps take one point "
                       "at a time");
    if (k > 1 && !ev.model->can_stack())
      throw InputError("--points-per-forward: " + ev.model->arch +
                       " cannot evaluate several points per forward (zoo networks cnn_small, "
                       "vgg9, resnet*, wrn* can)");
  });

  // Ranks given another --out, or one with --directions and one without, are refused before the
  // lock and the directions (the settings, data, model and directions are compared below, once
  // read): a rank of another --out looked for its own NAME.dirs.h5, which rank 0 had not made
  // ("no such file (rank 1)"), and the one rank 0 made was left behind. A --directions file is
  // compared by what it holds (its fingerprint, below): per-node copies at other paths are fine.
  // The paths are compared as bytes (a folder's name need not be UTF-8, which JSON is).
  auto refuse_other_sweep = [](int rank, const std::string& name, const std::string& theirs,
                               const std::string& rank0) {
    if (rank > 0)
      throw AgreedError("rank " + std::to_string(rank) + " runs another sweep than rank 0: its " + name + " is " +
                        theirs + ", rank 0's " + rank0 + " (every rank must get the same command, files and data)");
  };
  if (size > 1) {
    const auto d = world.first_difference(
        {{"--out", std::filesystem::absolute(cfg.out).lexically_normal().string()},
         {"--directions", cfg.directions.empty() ? "not given" : "given"}});
    auto shown = [&](const std::string& v) { return d.name == "--out" ? "\"" + v + "\"" : v; };
    refuse_other_sweep(d.rank, d.name, shown(d.theirs), shown(d.rank0));
  }

  // The lock, before anything is written beside the output (directions made by the sweep).
  agreed([&] {
    if (rank == 0) {
      refuse_hard_linked(cfg.out);
      lock = std::make_unique<FileLock>(cfg.out);
    }
    if (cfg.dry_run) lock.reset();  // only asked whether another job writes the file
  });
  if (lock) lock_token = lock->token();
  if (size > 1) world.bcast(lock_token);  // (for release_lock on the other ranks)

  // The data (each rank its shard with --data-shards), before anything is written: a missing or
  // damaged data set leaves no directions or surface file behind.
  agreed([&] {
    for (auto& s : cfg.splits) {
      DataSpec spec;
      spec.dataset = cfg.dataset;
      spec.data_dir = cfg.data_dir;
      spec.split = s;
      spec.samples = cfg.samples;
      spec.subset_seed = cfg.subset_seed;
      spec.raw = cfg.raw_data;
      spec.shard = group.rank();
      spec.num_shards = G;
      spec.fingerprint = true;  // (compared across the ranks below, and kept in the identity)
      ev.data.push_back(load_split(spec, device));
    }
  });

  // Directions: read a given file, or make them on rank 0 (beside the output) and share. A dry
  // run makes missing ones in memory only (every rank the same: they are seeded).
  bool dirs_made_here = false;
  // Sweeps whose --out differ but for the extension (c.h5, c.hdf5) make the same NAME.dirs.h5:
  // its own lock, held until the surface file is open, keeps two from making it at once (the
  // second is refused, naming the first).
  std::unique_ptr<FileLock> dir_lock;
  mpi::AbortCleanup release_dir_lock([&dir_lock] { dir_lock.reset(); });
  if (dir_file.empty()) {
    dir_file = default_dir_file(cfg.out);
    agreed([&] {
      if (rank == 0 && !cfg.dry_run) dir_lock = std::make_unique<FileLock>(dir_file);
    });
    std::error_code ec;
    dirs_made_here = !std::filesystem::exists(dir_file, ec);
    world.bcast(&dirs_made_here, sizeof dirs_made_here);  // rank 0's view of the file
    agreed([&] {
      if (!dirs_made_here) return;
      DirectionsConfig dc = cfg.dir;
      dc.dims = grid.has_y ? 2 : 1;
      if (cfg.dry_run) {
        ev.dirs = make_directions(*ev.model, dc, cfg.dataset);
        if (rank == 0) print_notes(ev.dirs);
      } else if (rank == 0) {
        Directions made = make_directions(*ev.model, dc, cfg.dataset);
        if (cfg.model_file.empty()) made.attrs["init_seed"] = cfg.init_seed;  // θ* of a fresh network
        print_notes(made);
        write_directions(dir_file, made);
      }
    });
  }
  agreed([&] {
    if (cfg.dry_run && dirs_made_here) return;
    ev.dirs = read_directions(dir_file);
    if (cfg.directions.empty()) check_made_with(ev.dirs, cfg.dir, grid.has_y ? 2 : 1, dir_file);
    check_directions(ev.dirs, *ev.model, dir_file, !cfg.allow_other_model);
    if (cfg.directions.empty() && !dirs_made_here)
      check_targets_unchanged(ev.dirs, *ev.model, cfg.dir, cfg.dataset, dir_file);
    if (grid.has_y && ev.dirs.dims() < 2)
      throw InputError(dir_file + " holds one direction; a 2D sweep (--y) needs two");
    // (a file of two directions made for a 1D interpolation without --dims 1: its y is unused)
    if (!grid.has_y && ev.dirs.dims() > 1 && rank == 0)
      std::fprintf(stderr, "losscape: note: %s holds two directions; a 1D sweep (no --y) follows x alone\n",
                   dir_file.c_str());
  });
  // (dir_lock is held until the surface file is open: a refused run removes the directions it
  // made, which another sweep, to c.hdf5 beside c.h5, must not have read meanwhile)
  // Directions this run wrote are removed again when it is refused before its surface file is
  // open (the file is another sweep's, or not a surface; a rank disagrees): a NAME.dirs.h5 left
  // beside a refused --out would decide the next run's directions, or litter a run folder.
  bool keep_made_dirs = !dirs_made_here || cfg.dry_run;
  auto drop_made_dirs = [&keep_made_dirs, &dir_file, rank] {
    if (!keep_made_dirs && rank == 0) {
      std::error_code ec;
      std::filesystem::remove(dir_file, ec);
    }
    keep_made_dirs = true;
  };
  mpi::AbortCleanup drop_made_dirs_on_abort(drop_made_dirs);
  struct AtExit {
    std::function<void()> f;
    ~AtExit() { f(); }
  } drop_made_dirs_on_error{drop_made_dirs};
  effective["directions"] = dir_file;
  effective["arch"] = ev.model->arch;
  // The Hessian's size, before the surface file is made: a model without parameters to take it
  // over, or an --eig-ncv beyond it, leaves no file behind.
  agreed([&] {
    if (!cfg.hessian) return;
    std::int64_t n = 0;
    for (const auto& p : HessianOperator::selected_parameters(*ev.model, cfg.hessian_all_params))
      n += p.tensor.numel();
    if (cfg.eig_ncv > n)
      throw InputError("--eig-ncv " + std::to_string(cfg.eig_ncv) + " exceeds the " +
                       std::to_string(n) + " parameters of the Hessian");
    CurvatureOptions at_points;  // (λmax and λmin alone at every point)
    at_points.eig = eigen_options(cfg);
    at_points.top_k = at_points.trace_probes = 0;
    if (!cfg.identity_only) check_curvature_memory(at_points, n, node.size(), memory_room());
  });

  // The surface file and its lock.
  SurfaceIdentity id;
  id.grid = grid;
  id.values = value_names;
  id.dataset = cfg.dataset;
  id.samples = cfg.samples;
  id.subset_seed = cfg.subset_seed;
  id.raw = cfg.raw_data;
  id.loss = to_string(parse_loss(cfg.loss));
  id.precision = to_string(parse_precision(cfg.precision));
  id.model_fingerprint = fingerprint(ev.model->parameters());
  id.buffers_fingerprint = fingerprint(eval_buffers(*ev.model));
  id.network = ev.model->network();
  id.directions_fingerprint = directions_fingerprint(ev.dirs);
  id.dir_file = dir_file;
  id.part = part_n > 1 ? std::to_string(part_k + 1) + "/" + std::to_string(part_n) : "";
  id.data = nlohmann::json::object();
  for (std::size_t i = 0; i < cfg.splits.size(); ++i) id.data[cfg.splits[i]] = ev.data[i].fingerprint;
  if (cfg.hessian)
    id.hessian = {{"split", cfg.splits.front()},
                  {"params", cfg.hessian_all_params ? "all" : "dims>=2"},
                  {"tol", cfg.eig_tol + 0.0}};  // (+ 0.0: a -0 given is recorded as 0, as a resume compares)
  // Every rank must run this same sweep into the same file: an MPMD launch with other flags, a
  // relative path from another working folder, a node-local --out or data or model file of the
  // same name would otherwise hang in the collective file open or mix values of different
  // sweeps into one "complete" file. Compared: the settings, the identity (model and directions
  // fingerprints), the data as read, and the lock file rank 0 holds (--out above).
  if (size > 1) {  // (nothing here throws before the collectives; the verdict is rank 0's)
    // What each rank runs, in the order differences are reported (the lock last; --out was
    // compared above).
    nlohmann::json mine = nlohmann::json::array();
    auto add = [&mine](const std::string& what, const nlohmann::json& value) { mine.push_back({what, value}); };
    // (modes, not settings, so not in the configuration; each takes its own collective path)
    add("--dry-run", cfg.dry_run);
    add("--identity-only", cfg.identity_only);
    add("--stop-after", cfg.stop_after);
    add("hessian", cfg.hessian);  // (before its settings, which a sweep without it has none of)
    // The kind of device --device auto found: the start-up choice times other candidates (and
    // cuDNN fusion) on a GPU than on a CPU, in collectives every rank must make alike.
    add("kind of device", device.is_cuda() ? "a GPU" : "the CPU");
    for (auto& [key, value] : effective.items())
      if (key != "directions" && key != "data_dir" && key != "model_file" && key != "out" && key != "config" &&
          key != "hessian")
        add(key, value);
    add("part of the grid", id.part);
    add("model (fingerprint of its weights)", id.model_fingerprint);
    add("model's BatchNorm statistics (fingerprint of its buffers)", id.buffers_fingerprint);
    add("network (architecture or TorchScript code)", id.network);
    add("directions (fingerprint)", id.directions_fingerprint);
    for (std::size_t i = 0; i < ev.data.size(); ++i)
      add(cfg.splits[i] + " data as read", std::to_string(ev.data[i].total) + " samples, " + ev.data[i].fingerprint);
    if (!cfg.dry_run) {
      const auto seen = lock_detail::look(lock_file_of(cfg.out));
      add("lock", seen.exists ? seen.text : "(none)");
    }
    mpi::Comm::Settings settings;
    for (const auto& e : mine) settings.emplace_back(e[0].get<std::string>(), e[1].dump());
    const auto d = world.first_difference(settings);
    if (d.rank > 0 && d.name == "lock")
      throw AgreedError("rank " + std::to_string(d.rank) + " does not see the lock file rank 0 holds beside " +
                        cfg.out + ": --out must be on a file system that every rank shares (not a node's own /tmp)");
    // (the values as dump() writes them, compared exactly, shown with their strings as they are:
    // the error line escapes them once)
    auto shown = [](const std::string& dumped) {
      if (dumped.empty()) return std::string("not given");  // (a setting the other rank has not)
      const auto j = nlohmann::json::parse(dumped, nullptr, false);
      return j.is_discarded() ? dumped : shown_json(j);
    };
    refuse_other_sweep(d.rank, d.name, shown(d.theirs), shown(d.rank0));
  }
  // A dry run asks what would become of the file (read-only, rank 0) and how much of this part
  // of the grid it already holds.
  std::string dry_verdict;
  std::int64_t dry_done = 0;
  // This part's points (p % part_n == part_k), counted without a loop over a huge grid.
  const std::int64_t part_total = grid.size() / part_n + (part_k < grid.size() % part_n);
  // The dry run's plan, on rank 0 (collective: the data lines).
  auto print_plan = [&](const std::string& devices) {
    const std::vector<std::string> data_lines = split_lines(ev.data, cfg, group);
    if (rank == 0) {
      std::printf("%s of losscape sweep %s: nothing computed, nothing written\n",
                  cfg.identity_only ? "identity check" : "dry run", version);
      const std::string done_text =
          std::to_string(dry_done) + " of " + std::to_string(part_total) + " points done";
      std::printf("surface     %s: %s\n", cfg.out.c_str(),
                  (dry_verdict == "create"
                       ? "would be created (up to " + SurfaceFile::size_text(SurfaceFile::bytes_needed(id)) + ")"
                   : dry_done == part_total
                       ? "complete: " + done_text + " (a run would compute nothing and leave it as it is)"
                       : "would be resumed: " + done_text)
                      .c_str());
      std::printf("grid        %s %s%s%s, %lld points%s; %lld to compute\n",
                  grid.has_y ? "2D" : "1D", grid.x.str().c_str(), grid.has_y ? " x " : "",
                  grid.has_y ? grid.y.str().c_str() : "", (long long)part_total,
                  part_n > 1 ? (" (part " + id.part + " of the grid)").c_str() : "",
                  (long long)(part_total - dry_done));
      std::printf("model       %s (%s), fingerprint %s\n", ev.model->arch.c_str(),
                  cfg.model_file.empty() ? ("fresh, --init-seed " + std::to_string(cfg.init_seed)).c_str()
                                         : cfg.model_file.c_str(),
                  id.model_fingerprint.c_str());
      std::printf("directions  %s: %s (%d, %s)\n", dir_file.c_str(),
                  dirs_made_here ? "would be made" : "read", ev.dirs.dims(), to_string(ev.dirs.type));
      for (auto& line : data_lines) std::printf("data        %s\n", line.c_str());
      if (cfg.identity_only)
        std::printf("ranks       not checked (--identity-only: the run's devices, ranks and data shards)\n");
      else
        std::printf("ranks       %d%s on %s\n", size,
                    G > 1 ? (" in groups of " + std::to_string(G) + " (data shards)").c_str() : "",
                    devices.c_str());
      std::printf("effective configuration: %s\n", effective.dump().c_str());
      std::fflush(stdout);
    }
  };
  if (cfg.dry_run) {
    agreed([&] {
      if (rank != 0) return;
      dry_verdict = SurfaceFile::resume_verdict(cfg.out, id);
      if (dry_verdict == "open") {
        auto s = read_surface(cfg.out);
        for (std::int64_t i : part_points(grid, part_k, part_n)) dry_done += s.done[std::size_t(i)] ? 1 : 0;
      }
    });
    world.bcast(dry_verdict);  // as the constructor does: every rank refuses with rank 0's reason
    if (dry_verdict != "create" && dry_verdict != "open") throw AgreedError(dry_verdict);
    if (cfg.identity_only) {  // (no device, ranks or data shards of the run's were checked)
      print_plan("");
      out.complete = true;
      return out;
    }
  } else {
    // (HDF5 marks a file opened for writing in its superblock, and clears the mark on closing: a
    // file found complete is left byte for byte as it was, and given back its times, which
    // rsync and make go by)
    if (rank == 0 && ::stat(cfg.out.c_str(), &out_before) != 0) out_before.st_mtim.tv_sec = -1;
    try {
      surface = std::make_unique<SurfaceFile>(cfg.out, id, effective, world);
      keep_made_dirs = true;
      dir_lock.reset();
    } catch (const InputError& e) {
      lock.reset();
      throw AgreedError(e.what());  // the verdict was broadcast: every rank throws it
    }
  }

  // From here on the surface file is open on every rank, and closing it is collective: an error
  // that reached some ranks only (a failed write, a lost connection, out of memory) must not
  // unwind into the file's destructor, where those ranks would wait for the others forever
  // (who wait for them in a collective call of their own). Errors every rank shares are
  // AgreedErrors and unwind normally; any other ends the whole job here, with its message.
  try {
    // Device-resident model, θ*, directions and data.
    agreed([&] {
      ev.model->to(device);
      ev.model->train(false);
      auto set = ev.dirs.type;
      ev.live = ev.model->tensors(set);
      for (auto& t : ev.live) ev.base.push_back({t.name, t.tensor.detach().clone()});
      for (auto& list : ev.dirs.dirs)
        for (auto& t : list) t.tensor = t.tensor.to(device);
      ev.opts.loss = parse_loss(cfg.loss);
    });
    // The Hessian of the loss over the first split (its own step: the constructor is collective
    // over the group, so it must not run after another step failed on some rank).
    agreed([&] {
      if (!cfg.hessian) return;
      HessianOptions ho;
      ho.loss = ev.opts.loss;
      ho.batch_size = cfg.hessian_batch_size;
      ho.all_params = cfg.hessian_all_params;
      ev.hessian = std::make_unique<HessianOperator>(*ev.model, ev.data.front(), ho, &group);
      ev.eig = eigen_options(cfg);
    });
    ev.grid = &grid;
    ev.group = &group;
    ev.xs = grid.x.coordinates();
    if (grid.has_y) ev.ys = grid.y.coordinates();

    // Batch size and memory layout: all ranks time the candidates (or take the given ones) at once,
    // each on its share of the machine as in the sweep, and choose by the total rate; everybody
    // uses rank 0's choice (the same on every rank), so that results do not depend on which rank
    // computed a point.
    ev.opts.precision = parse_precision(cfg.precision);
    // batch size, channels-last, points per forward, cuDNN's fused convolutions
    std::int64_t choice[4] = {0, 0, 1, 0};
    std::string choice_report;
    ChoiceOptions co;
    const int fixed_points = parse_points_per_forward(cfg.points_per_forward);  // 0: auto
    agreed([&] {  // everything that can fail on some ranks only, before the collective timings
      co.fixed_batch = parse_batch_size(cfg.batch_size);
      // The Hessian's products flatten the parameters: they stay in the default layout.
      co.layout = cfg.hessian ? "nchw" : cfg.memory_format;  // (checked in the set-up)
      co.precision = ev.opts.precision;
      co.budget_seconds = co.layout == "auto" ? 3.0 : 2.0;
      if (fixed_points == 0 && !cfg.hessian && ev.model->can_stack()) {
        // K copies of θ* for the timings (the points' values do not change the work).
        // (at most the part's points: a pass of more would repeat its last point to fill up)
        co.max_points = int(std::min<std::int64_t>(kMaxPointsPerForward, part_total));
        co.stack = [&ev](int k) {
          return stack_points(*ev.model, ev.base, ev.dirs, std::vector<double>(std::size_t(k), 0.0),
                              std::vector<double>(std::size_t(k), 0.0));
        };
      }
      co.try_fusion = tries_cudnn_fusion(cfg.cudnn_fusion, *ev.model, device, ev.opts.precision,
                                         cfg.hessian);
      co.force_fusion = cfg.cudnn_fusion == "on";
      PrecisionGuard check(ev.opts.precision, device);  // fp16 on a CPU fails here, on every rank
    });
    // A grid that misses θ*, said once the command is known to run (not beside an error, nor
    // for a file already complete).
    auto note_grid = [&] {
      if (rank == 0)
        for (const auto& note : {zero_gap_note(grid.x, "--x"), grid.has_y ? zero_gap_note(grid.y, "--y") : ""})
          if (!note.empty()) std::fprintf(stderr, "losscape: note: %s\n", note.c_str());
    };
    // A dry run stops here: every check is done, the timings and the points are the run's.
    if (cfg.dry_run) {
      if (dry_done < part_total) note_grid();
      print_plan(device_list(world.allgather(describe_device(device))).dump());
      out.complete = true;
      return out;
    }
    // What is done: a surface already complete (a chain's spare task, a command run twice) has
    // nothing to time or compute, and its file is left as it is (no run-log entry).
    const auto mask = surface->done_mask();
    const std::vector<std::int64_t> part = part_points(grid, part_k, part_n);  // (once: a sort of the grid)
    const auto part_total = std::int64_t(part.size());
    std::int64_t part_done = 0;
    for (std::int64_t i : part) part_done += mask[std::size_t(i)] ? 1 : 0;
    if (part_done == part_total) {
      out.total = part_total;
      out.complete = true;
      out.seconds = since(t_start);
      if (rank == 0 && !cfg.quiet) {
        std::printf("complete: %s: %lld of %lld points done (nothing to compute, %.1f s)\n", cfg.out.c_str(),
                    (long long)part_done, (long long)part_total, out.seconds);
        std::fflush(stdout);
      }
      world.barrier();
      surface.reset();
      if (rank == 0 && out_before.st_mtim.tv_sec >= 0) {
        const timespec times[2] = {out_before.st_atim, out_before.st_mtim};
        ::utimensat(AT_FDCWD, cfg.out.c_str(), times, 0);
      }
      lock.reset();
      return out;
    }
    note_grid();
    // (the progress line's lowest loss counts the points a resumed run found done; every rank
    // reads, as the mask)
    double lowest_done = INFINITY;
    if (part_done > 0) {
      const auto first = surface->values(value_names.front());
      for (std::int64_t i : part)
        if (mask[std::size_t(i)] && std::isfinite(first[std::size_t(i)]))
          lowest_done = std::fmin(lowest_done, first[std::size_t(i)]);
    }
    co.max_images = -world.allreduce_max(-ev.data.front().size());  // the same candidates
    co.combine = combine_timings(world);
    // The file's run log (every rank reads it) and this run's devices. An earlier start on the
    // same kinds of devices made the choices this command leaves open: they are taken as they
    // were, untimed, so that every point of the surface is computed with the same arithmetic.
    nlohmann::json run_log = surface->run_log();
    if (!run_log.is_array()) {
      // (its points are whole: only the record of earlier starts is lost, and with it the
      // choices a resume would take from it, which are then made again, timed)
      if (world.root())
        std::fprintf(stderr,
                     "losscape: note: %s: its run log is %s, not the list of earlier starts that "
                     "losscape writes (damaged?): a new log is begun, and the batch size and "
                     "layout are chosen again rather than taken from the earlier runs\n",
                     cfg.out.c_str(), run_log.is_discarded() ? "not JSON" : "another JSON value");
      run_log = nlohmann::json::array();
    }
    // The eigensolver's iteration cap and Krylov size are not part of a Hessian map's identity
    // (a resume may change them: a cap too low for some points), but a point's values depend on
    // them: a resume that changes them is said, so that a file of two settings is known as one.
    if (cfg.hessian && part_done > 0 && rank == 0)
      for (auto it = run_log.rbegin(); it != run_log.rend(); ++it) {
        if (!it->is_object() || !it->contains("config") || !(*it)["config"].is_object()) continue;
        const auto& was = (*it)["config"];
        std::string changed;
        for (auto [key, flag, now] : {std::tuple{"eig_max_iter", "--eig-max-iter", std::int64_t(cfg.eig_max_iter)},
                                      std::tuple{"eig_ncv", "--eig-ncv", std::int64_t(cfg.eig_ncv)}})
          if (was.contains(key) && was[key].is_number_integer() && was[key].get<std::int64_t>() != now)
            changed += std::string(changed.empty() ? "" : ", ") + flag + " " + std::to_string(now) + ", not " +
                       std::to_string(was[key].get<std::int64_t>());
        if (!changed.empty())
          std::fprintf(stderr,
                       "losscape: note: %s: %s as in the file's last run: its points come from both "
                       "settings (each run's are in its run log)\n",
                       cfg.out.c_str(), changed.c_str());
        break;
      }
    const nlohmann::json devices = device_list(world.allgather(describe_device(device)));
    const nlohmann::json earlier = earlier_choices(run_log, devices, to_string(ev.opts.precision), G);
    int reused_points = 0, reused_fusion = -1;
    std::string reused;  // what was taken, for the report
    if (!earlier.is_null()) {
      if (co.fixed_batch == 0) {
        co.fixed_batch = earlier["batch_size"].get<std::int64_t>();
        reused += ", batch " + std::to_string(co.fixed_batch);
      }
      if (co.layout == "auto") {
        co.layout = earlier["memory_format"].get<std::string>();
        reused += ", " + co.layout;
      }
      if (fixed_points == 0 && co.max_points > 1) {
        co.max_points = 1;
        reused_points = earlier["points_per_forward"].get<int>();
        reused += ", " + std::to_string(reused_points) + " point" + (reused_points == 1 ? "" : "s") +
                  " per forward";
      }
      if (cfg.cudnn_fusion == "auto" && co.try_fusion) {
        co.try_fusion = false;
        reused_fusion = earlier["cudnn_fusion"].get<bool>() ? 1 : 0;
        reused += std::string(", fused convolutions ") + (reused_fusion ? "on" : "off");
      }
    }
    agreed([&] {
      auto c = choose_eval_options(*ev.model, ev.data.front(), co);
      choice[0] = c.batch_size;
      choice[1] = c.channels_last;
      choice[2] = fixed_points > 0 ? fixed_points : reused_points > 0 ? reused_points : c.points_per_forward;
      choice[3] = reused_fusion >= 0 ? reused_fusion : c.fuse_convolutions;
      choice_report = c.report;
      if (!reused.empty())
        choice_report = "as this file's run of " + earlier.value("start", std::string("?")) + " (" +
                        reused.substr(2) + ": the same devices and precision)" +
                        (choice_report.empty() ? "" : "; " + choice_report);
    });
    world.bcast(choice, sizeof choice);
    // A stop signalled during the set-up to some ranks but not rank 0 (a kill of one rank's pid)
    // stops every rank before its first point: rank 0 would otherwise start a first pass before
    // their stop message came (up to K points, minutes on a large model).
    if (world.allreduce_max(std::int64_t(stop_requested())) != 0) request_stop();
    ev.opts.batch_size = choice[0];
    ev.opts.fuse_convolutions = choice[3] != 0;
    const int points_per_forward = int(choice[2]);
    ev.points_per_pass = points_per_forward;
    const bool channels_last = choice[1] != 0;
    set_channels_last(*ev.model, channels_last);
    for (std::size_t i = 0; i < ev.live.size(); ++i) {
      // θ*, δ and η in the layout of the tensor they are added into (one fused pass per point).
      const auto fmt = ev.live[i].tensor.dim() == 4 && channels_last ? torch::MemoryFormat::ChannelsLast
                                                                     : torch::MemoryFormat::Contiguous;
      ev.base[i].tensor = ev.base[i].tensor.contiguous(fmt);
      for (auto& list : ev.dirs.dirs) list[i].tensor = list[i].tensor.contiguous(fmt);
    }
    for (auto& d : ev.data) d.images = with_layout(d.images, channels_last);
    if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);  // fixed shapes: autotune
    ev.split_names = cfg.splits;
    ev.cuda_graphs = cfg.cuda_graphs == "auto" && device.is_cuda() && PassGraph::supported();
    ev.on_graph_event = [&](const std::string& line, bool turned_off) {
      // Rank 0 says what happened to its graphs; another rank only when one was turned off.
      if (rank == 0 && !cfg.quiet) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
      } else if (rank != 0 && turned_off) {
        std::fprintf(stderr, "rank %d: %s\n", rank, line.c_str());
      }
    };

    // Points to compute: not done, in this part (every N-th point of the coarse-to-fine order),
    // visited coarse to fine from θ*'s lines (grid.hpp), so that an early stop leaves a preview
    // through the model itself. Passes go by chunks of that order (Evaluator::order_pos).
    std::deque<std::int64_t> todo;
    {
      std::vector<bool> mine(std::size_t(grid.size()), false);
      for (std::int64_t i : part) mine[std::size_t(i)] = true;
      ev.order_pos.assign(std::size_t(grid.size()), -1);
      std::int32_t pos = 0;
      for (std::int64_t i : coarse_to_fine(grid, true))
        if (mine[std::size_t(i)]) {
          ev.order_pos[std::size_t(i)] = pos++;
          if (!mask[std::size_t(i)]) todo.push_back(i);
        }
    }
    out.total = part_total;
    // The last passes would leave ranks idle at the end, each waiting for the others' last
    // pass: the last min(todo, groups) passes (chunks) are handed out in pieces instead
    // (Evaluator::eval_piece), each a share of whole batches of the pass, to whichever rank asks
    // first, so that all ranks finish within about a piece of each other; their sums are added up
    // over the ranks at the end (finish_tail). Pieces: as many as the batches of the largest split
    // (at the batch size of one point per pass, so at most that at any K; a smaller split's share
    // can be empty), at most 8, on the rank with the fewest (none when that is one). The part's
    // last chunk, when shorter than K, does not count (it goes with the groups' last whole
    // passes, as one more of the tail's). Not with Hessians (their products need a group's whole data), and
    // not when --stop-after would stop before the tail. Every rank computes the same list.
    // --stop-after N with fewer than N points to compute is no limit (and the tail is shared).
    const bool stop_after_limits = cfg.stop_after > 0 && cfg.stop_after < std::int64_t(todo.size());
    if (cfg.share_tail && n_groups > 1 && !ev.hessian && !stop_after_limits) {
      std::int64_t batches = 0;
      const std::int64_t bs = std::max<std::int64_t>(1, ev.opts.batch_size);
      for (const auto& d : ev.data) batches = std::max(batches, d.size() / bs + (d.size() % bs != 0));
      const int pieces = int(std::min<std::int64_t>(8, -world.allreduce_max(-batches)));
      if (pieces > 1) {
        std::size_t start = todo.size();
        for (int passes = 0; start > 0 && passes < n_groups;) {
          const std::size_t end = start;
          while (start > 0 && ev.same_pass(todo[start - 1], todo[end - 1])) --start;
          passes += end < todo.size() || end - start == std::size_t(points_per_forward);
        }
        ev.set_tail(std::vector<std::int64_t>(todo.begin() + std::ptrdiff_t(start), todo.end()), pieces);
        todo.resize(start);
        for (std::int64_t i = 0; i < std::int64_t(ev.tail.units()) * pieces; ++i)
          todo.push_back(-1 - i);
      }
    }
    const std::vector<std::int64_t>& shared = ev.tail.points;
    // The pieces are the last items of todo and go out in order: those not handed out yet.
    const std::int64_t tail_total = std::int64_t(ev.tail.units()) * ev.tail.pieces;
    auto tail_left = [&]() { return std::min(std::int64_t(todo.size()), tail_total); };
    // What rank 0 still has to hand out, in evaluations: passes of K points, and the pieces.
    auto evals_left = [&]() {
      const std::int64_t points = std::int64_t(todo.size()) - tail_left();
      return (points + points_per_forward - 1) / points_per_forward + tail_left();
    };
    out.shared_points = std::int64_t(shared.size());
    out.tail_pieces = shared.empty() ? 0 : ev.tail.pieces;

    // Run log entry for this run (raw data in the file, see surface.hpp).
    nlohmann::json this_run = {{"start", utc_now_iso()},
                               {"ranks", size},
                               {"data_shards", G},
                               {"devices", devices},
                               {"batch_size", ev.opts.batch_size},
                               {"memory_format", channels_last ? "nhwc" : "nchw"},
                               {"precision", to_string(ev.opts.precision)},
                               {"points_per_forward", points_per_forward},
                               {"cuda_graphs", ev.cuda_graphs},
                               {"cudnn_fusion", ev.opts.fuse_convolutions},
                               {"points_done_before", part_done},
                               {"shared_points", out.shared_points},
                               {"startup_timing", choice_report},
                               {"losscape_version", version},
                               {"losscape_revision", source_revision()},
                               {"config", effective}};
    // A job stopped or suspended on another host longer than the lock's stale time can find its
    // lock taken over by another job that writes the file now: then nothing more is written (the
    // file is not even closed, whose metadata this job may hold stale); the points since the last
    // round are recomputed by whoever resumes. (Rank 0 holds the lock; its abort ends every rank.)
    // A rank that fails lets rank 0's lock go (release_lock) before its MPI_Abort ends this
    // rank, which on a busy node can take seconds: under several ranks a lock found gone is
    // looked at again after that grace, so that the job ends with that rank's error alone and
    // not with a second one blaming a deletion.
    auto check_still_held = [&]() {
      if (lock)
        if (const std::string why = size > 1 ? lock->lost(kAbortGraceSeconds) : lock->lost();
            !why.empty())
          mpi::abort_job(cfg.out + ": this sweep no longer holds the file: " + why +
                             "; stopping without writing its points since the last round",
                         1);
    };
    auto write_log = [&](const std::string& status) {
      check_still_held();  // (the final entry too: it would replace the new holder's run log)
      nlohmann::json entry = this_run;
      entry["end"] = utc_now_iso();
      entry["status"] = status;
      entry["points_computed"] = out.computed;
      nlohmann::json log = run_log;
      log.push_back(entry);
      // (write_run_log keeps the most recent runs that fit, and shortens an entry too large
      // alone: the configuration is also printed at the start of the run)
      surface->write_run_log(log);
    };
    write_log("running");

    std::string splits_text;
    for (const auto& line : split_lines(ev.data, cfg, group))
      splits_text += (splits_text.empty() ? "" : ", ") + line;
    if (rank == 0 && !cfg.quiet) {
      // (a part's own points, and the grid's: "part 1/3 of its 15 points, 5 points (0 done)")
      const std::string part_text =
          part_n > 1 ? "part " + id.part + " of its " + std::to_string(grid.size()) + " points, "
                     : std::string();
      std::printf("losscape sweep %s: %s grid %s%s%s, %s%lld points (%lld done), %s on %s, %d rank(s)%s, "
                  "batch size %lld, %s, %s\n",
                  version, grid.has_y ? "2D" : "1D", grid.x.str().c_str(),
                  grid.has_y ? " x " : "", grid.has_y ? grid.y.str().c_str() : "",
                  part_text.c_str(), (long long)part_total, (long long)part_done, splits_text.c_str(),
                  describe_device(device).c_str(), size,
                  G > 1 ? (" in groups of " + std::to_string(G)).c_str() : "",
                  (long long)ev.opts.batch_size, channels_last ? "nhwc" : "nchw",
                  to_string(ev.opts.precision));
      if (points_per_forward > 1) {
        const std::int64_t each = stacked_batch(ev.opts.batch_size, points_per_forward);
        std::printf("%d points per forward pass, %lld images of each point (%lld in a pass)\n",
                    points_per_forward, (long long)each, (long long)(each * points_per_forward));
      }
      if (device.is_cuda())
        std::printf("CUDA graphs: %s\n",
                    ev.cuda_graphs ? "on (each pass recorded at its second point, checked, replayed)"
                    : cfg.cuda_graphs == "off" ? "off (--cuda-graphs off)"
                                               : "off (not in this build: LOSSCAPE_CUDA_GRAPHS)");
      if (device.is_cuda())
        std::printf("cuDNN fusion: %s\n",
                    ev.opts.fuse_convolutions ? "on (convolution, bias, shortcut sum and ReLU in one call)"
                    : cfg.cudnn_fusion == "off" ? "off (--cudnn-fusion off)"
                    : co.try_fusion             ? "off (slower or not usable: see the start-up timing)"
                                                : "off (zoo networks in fp32 or tf32 only, "
                                                  "without --hessian)");
      if (!shared.empty() && points_per_forward == 1)
        std::printf("the last %lld point%s: handed out in %d pieces each (shares of whole "
                    "batches), to whichever rank is free\n",
                    (long long)shared.size(), shared.size() == 1 ? "" : "s", ev.tail.pieces);
      else if (!shared.empty())
        std::printf("the last %lld points (%lld pass%s of up to %d): handed out in %d pieces per "
                    "pass (shares of whole batches), to whichever rank is free\n",
                    (long long)shared.size(), (long long)ev.tail.units(),
                    ev.tail.units() == 1 ? "" : "es", points_per_forward, ev.tail.pieces);
      if (!choice_report.empty()) std::printf("start-up timing: %s\n", choice_report.c_str());
      std::printf("effective configuration: %s\n", effective.dump().c_str());
      if (ev.hessian)
        std::printf("Hessian maps: λmax, λmin of the %s loss over %lld parameters (%s) by ARPACK, "
                    "tol %g, at most %d restart%s\n",
                    cfg.splits.front().c_str(), (long long)ev.hessian->dim(),
                    cfg.hessian_all_params ? "all tensors" : "tensors with >= 2 dims", cfg.eig_tol,
                    cfg.eig_max_iter, cfg.eig_max_iter == 1 ? "" : "s");
      std::fflush(stdout);
    }
    out.batch_size = ev.opts.batch_size;
    out.points_per_forward = points_per_forward;
    out.startup_timing = choice_report;
    out.channels_last = channels_last;
    out.cuda_graphs = ev.cuda_graphs;
    out.cudnn_fusion = ev.opts.fuse_convolutions;
    world.barrier();
    out.setup_seconds = since(t_start);

    std::vector<PointResult> pending;
    auto round = [&]() {
      check_still_held();
      out.last_io_mode = surface->write_round(pending);
      pending.clear();
    };
    auto min_loss_of = [](const PointResult& r) { return r.values.empty() ? NAN : r.values[0]; };
    std::int64_t computed_here = 0;
    // A rank's own evaluation failed (a device error, say). Nobody outside its data-shard group
    // is inside a call with it, and its group learns of it in its reduction (GroupEvalError), so
    // the sweep stops as on a signal: a final round saves what every rank has computed, and then
    // every rank ends with this error (exit 1).
    std::string eval_error;
    // Points this rank computed (a group's leader, or rank 0 for the tail) join the next round;
    // returns how many and the lowest loss among them.
    auto keep = [&](std::vector<PointResult> results) {
      Finished f;
      for (auto& r : results) {
        f.lowest = std::fmin(f.lowest, min_loss_of(r));
        pending.push_back(std::move(r));
      }
      computed_here += std::int64_t(results.size());
      f.points = double(results.size());
      return f;
    };
    // A group leader evaluates the next items of a queue with its followers: the next grid
    // points of one chunk (a pass), or one piece of the tail (which gives no result yet).
    auto eval_next = [&](std::deque<std::int64_t>& q) {
      std::vector<std::int64_t> items;
      while (!q.empty()) {
        const std::int64_t next = q.front();
        if (!items.empty() && (Evaluator::is_piece(next) || !ev.same_pass(items[0], next))) break;
        items.push_back(next);
        q.pop_front();
        if (Evaluator::is_piece(next)) break;
      }
      command_group(group, kEval, items);
      Finished f = keep(ev.run(items));
      if (items.size() == 1 && Evaluator::is_piece(items[0]))
        f.pieces = double(ev.piece_points(items[0])) / ev.tail.pieces;
      return f;
    };
    // eval_next, with a failure of this rank's own evaluation recorded in eval_error instead of
    // thrown (the queue dropped, nullopt returned: the caller stops the sweep); see eval_error.
    auto eval_or_record = [&](std::deque<std::int64_t>& q) -> std::optional<Finished> {
      try {
        return eval_next(q);
      } catch (const GroupEvalError& e) {  // this rank's or another of its data-shard group
        if (e.own()) eval_error = e.what();
      } catch (const MpiError&) {
        throw;
      } catch (const std::exception& e) {
        if (G > 1) throw;  // not the evaluation's: the group was not told
        eval_error = one_line(e);
      }
      q.clear();
      return std::nullopt;
    };
    // The tail points' results, on every rank at the end (collective): rank 0 keeps those whose
    // pieces were all evaluated for the final round.
    auto finish_tail = [&]() {
      auto results = ev.finish_tail(world);
      if (rank == 0) return keep(std::move(results));
      return Finished{};
    };

    if (!leader) {
      // ---- follower of a data-shard group: do what the leader says ----
      bool stop_sent = false;
      for (;;) {
        GroupCommand cmd;
        group.bcast(&cmd, sizeof cmd);
        if (cmd.what == kEval) {
          try {
            ev.run(std::vector<std::int64_t>(cmd.points, cmd.points + cmd.n));
          } catch (const GroupEvalError& e) {
            // The group's leader got it too and stops the sweep; this rank waits for the final
            // round like the rest of its group, with its own error to report at the end.
            if (e.own()) eval_error = e.what();
          }
          if (stop_requested() && !stop_sent) {
            // Signalled alone (a kill of this rank's pid): rank 0 stops everyone, as for a
            // leader's stop; the leader then tells this rank to take part in the final round.
            Finished none;
            mpi::check(MPI_Send(&none, 3, MPI_DOUBLE, 0, kTagStop, world.get()), "MPI_Send");
            stop_sent = true;
          }
        } else if (cmd.what == kRound) {
          round();
        } else {
          finish_tail();
          round();
          break;
        }
      }
    } else if (rank != 0) {
      // ---- group leader: ask rank 0 for blocks, evaluate, join rounds ----
      std::deque<std::int64_t> queue;
      bool requested = false, no_more = false, idle_sent = false, stop_sent = false;
      std::int64_t left_after = 0;  // passes and pieces rank 0 had left after this rank's block
      Finished since_sent;  // reported with the next message
      auto last_sent = clock_type::now();
      auto send = [&](int tag) {
        mpi::check(MPI_Send(&since_sent, 3, MPI_DOUBLE, 0, tag, world.get()), "MPI_Send");
        since_sent = Finished{};
        last_sent = clock_type::now();
      };
      // Within a block, what is finished goes to rank 0 at the end of a pass that ends a second or
      // more after the last message (every pass with --progress-seconds 0), so that the progress
      // counts it before the block's end: a block can be 16 points, and early in a sweep rank 0
      // would otherwise count its own points alone.
      const double report_every = std::min(1.0, cfg.progress_seconds / 2);
      // Receive one control message; true when it says stop.
      auto handle = [&](const MPI_Status& st) {
        int count = 0;
        MPI_Get_count(&st, MPI_INT64_T, &count);
        std::vector<std::int64_t> msg(std::size_t(std::max(count, 1)));
        mpi::check(MPI_Recv(msg.data(), count, MPI_INT64_T, 0, kTagControl, world.get(),
                            MPI_STATUS_IGNORE),
                   "MPI_Recv");
        if (msg[0] == kWork) {  // kWork, the evaluations left after this block, the block
          requested = false;
          if (count <= 2) no_more = true;
          if (count >= 2) left_after = msg[1];
          queue.insert(queue.end(), msg.begin() + std::min(count, 2), msg.begin() + count);
        } else if (msg[0] == kRound) {
          command_group(group, kRound);
          round();
        } else {
          return true;
        }
        return false;
      };
      for (bool stop = false; !stop;) {
        MPI_Status st;
        for (int flag = 1; flag && !stop;) {
          mpi::check(MPI_Iprobe(0, kTagControl, world.get(), &flag, &st), "MPI_Iprobe");
          if (flag) stop = handle(st);
        }
        if (stop) break;
        if (stop_requested() && !stop_sent) {
          send(kTagStop);  // finish nothing more; rank 0 answers with the stop
          stop_sent = true;
        }
        if (queue.empty() || stop_sent) {
          if (!stop_sent && !no_more && !requested) {
            send(kTagRequest);
            requested = true;
          } else if (!stop_sent && no_more && !idle_sent) {
            send(kTagIdle);
            idle_sent = true;
          }
          // Nothing to compute until rank 0 says something: wait for it.
          mpi::check(MPI_Probe(0, kTagControl, world.get(), &st), "MPI_Probe");
          stop = handle(st);
          continue;
        }
        // Ask for the next block before computing the last pass of this one, so as never to
        // wait for rank 0 (which answers between its own batches). Not near the end (fewer than
        // two passes or pieces per group left): one held there in advance may be one that another
        // rank, idle already, would have computed, and the sweep would end a pass or piece later
        // on this rank; asking when the queue is empty costs at most one of rank 0's batches.
        if (!no_more && !requested && queue.size() <= std::size_t(points_per_forward) &&
            left_after >= 2 * std::int64_t(n_groups)) {
          send(kTagRequest);
          requested = true;
        }
        if (const auto r = eval_or_record(queue)) {
          since_sent.add(*r);
          // (Not when a request goes next anyway; a request sent ahead leaves the block's last
          // pass to be reported here.)
          const bool request_next = queue.empty() && !requested;
          if (!request_next && since(last_sent) >= report_every) send(kTagProgress);
        } else {
          send(kTagStop);
          stop_sent = true;
        }
      }
      // What it finished since its last message, written in the final round: counted by rank 0's
      // last progress line (it drains this after the round).
      if (since_sent.points > 0) send(kTagProgress);
      command_group(group, kStop);
      finish_tail();
      round();
    } else {
      // ---- rank 0: coordinator and evaluator ----
      Progress progress(part_total, part_done, cfg.quiet, cfg.progress_seconds);
      progress.found_done(lowest_done);
      std::deque<std::int64_t> mine;
      int idle = 0;
      bool stop = false;
      auto last_round = clock_type::now();
      auto next_item = [&]() {
        const std::int64_t item = todo.front();
        todo.pop_front();
        return item;
      };
      // --stop-after N: no more than N points are handed out (to the others and to rank 0 itself),
      // so that exactly N are done when the last of them is reported (counting the reports
      // alone, blocks handed out meanwhile overshot by up to a block per rank).
      std::int64_t handed = 0;
      auto quota = [&]() -> std::int64_t {
        return stop_after_limits ? std::max<std::int64_t>(0, cfg.stop_after - handed)
                                 : std::numeric_limits<std::int64_t>::max();
      };
      auto take_block = [&]() {
        // Guided self-scheduling: a share of what is left (in points, a tail pass's pieces
        // counting as its K points), so blocks shrink towards the end and a slow rank never holds
        // many points; capped so that results flow into rounds steadily. Whole chunks (passes):
        // a block ending inside one would leave two passes of fewer than K points where one
        // would do; only --stop-after's quota cuts one. The tail's pieces go one at a time.
        const int pieces = ev.tail.pieces;
        const std::int64_t left = std::int64_t(todo.size()) - tail_left() +
                                  (tail_left() + pieces - 1) / pieces * points_per_forward;
        std::int64_t n = std::clamp<std::int64_t>(left / (4 * n_groups), 1, kMaxBlockPoints);
        n = std::max<std::int64_t>(points_per_forward, n / points_per_forward * points_per_forward);
        n = std::min(n, quota());
        std::vector<std::int64_t> block;
        if (n == 0) return block;
        while (!todo.empty() && !Evaluator::is_piece(todo.front()) &&
               (std::int64_t(block.size()) < n ||
                (ev.same_pass(block.back(), todo.front()) && std::int64_t(block.size()) < quota())))
          block.push_back(next_item());
        if (block.empty() && !todo.empty()) block.push_back(next_item());  // a piece
        handed += std::int64_t(block.size());
        return block;
      };
      auto reached_stop_after = [&]() {
        return cfg.stop_after > 0 && progress.done() - part_done >= cfg.stop_after;
      };
      auto serve = [&]() {
        for (;;) {
          int flag = 0;
          MPI_Status st;
          mpi::check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, world.get(), &flag, &st), "MPI_Iprobe");
          if (!flag) break;
          Finished f;
          mpi::check(MPI_Recv(&f, 3, MPI_DOUBLE, st.MPI_SOURCE, st.MPI_TAG, world.get(),
                              MPI_STATUS_IGNORE),
                     "MPI_Recv");
          progress.add(f);  // a stop also reports finished points
          if (st.MPI_TAG == kTagStop) {
            stop = true;
            continue;
          }
          // Checked here too, not only between rank 0's own points: a point of rank 0's can take
          // longer than many of the others' (a Hessian point, a slow device), and no block may be
          // handed out after a signal or once --stop-after is reached.
          if (stop_requested() || reached_stop_after()) stop = true;
          if (st.MPI_TAG == kTagProgress) continue;
          if (st.MPI_TAG == kTagIdle) {
            ++idle;
            continue;
          }
          std::vector<std::int64_t> reply = {kWork, 0};
          if (!stop) {
            auto b = take_block();
            reply.insert(reply.end(), b.begin(), b.end());
            reply[1] = evals_left();
          }
          mpi::check(MPI_Send(reply.data(), int(reply.size()), MPI_INT64_T, st.MPI_SOURCE,
                              kTagControl, world.get()),
                     "MPI_Send");
        }
      };
      auto broadcast_control = [&](std::int64_t what) {
        for (int g = 1; g < n_groups; ++g) {
          std::int64_t m = what;
          mpi::check(MPI_Send(&m, 1, MPI_INT64_T, g * G, kTagControl, world.get()), "MPI_Send");
        }
        command_group(group, what);
      };
      ev.opts.between_batches = serve;
      for (;;) {
        serve();
        if (stop_requested() || reached_stop_after()) stop = true;
        const bool finished = todo.empty() && mine.empty() && idle == n_groups - 1;
        if (stop || finished) {
          ev.opts.between_batches = nullptr;
          broadcast_control(kStop);
          progress.settle_tail(finish_tail());
          round();
          break;
        }
        if (since(last_round) >= cfg.flush_seconds) {
          broadcast_control(kRound);
          round();
          last_round = clock_type::now();
        }
        if (mine.empty() && !todo.empty()) {
          // Alone, rank 0 takes blocks; with others it takes one point at a time, since it also
          // serves their requests (between its batches) and must never sit on unstarted points.
          if (n_groups == 1) {
            auto b = take_block();
            mine.insert(mine.end(), b.begin(), b.end());
          } else if (Evaluator::is_piece(todo.front())) {
            mine.push_back(next_item());
          } else {
            while (!todo.empty() && !Evaluator::is_piece(todo.front()) && quota() > 0 &&
                   (mine.empty() || ev.same_pass(mine.front(), todo.front()))) {
              mine.push_back(next_item());
              ++handed;
            }
          }
        }
        if (!mine.empty()) {
          if (const auto r = eval_or_record(mine))
            progress.add(*r);
          else
            stop = true;
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
      }
      // Messages sent before the final round (a request racing the stop, a leader's last passes)
      // are drained here: the points they report were written in that round. Their tail pieces
      // are not counted again: the settled tail's points replaced every piece.
      for (;;) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, world.get(), &flag, &st);
        if (!flag) break;
        Finished f;
        MPI_Recv(&f, 3, MPI_DOUBLE, st.MPI_SOURCE, st.MPI_TAG, world.get(), MPI_STATUS_IGNORE);
        f.pieces = 0;
        progress.add(f);
      }
      progress.show(true);
    }

    // ---- the end: count, log, exit status ----
    const std::string failed = world.agree(eval_error);
    out.computed = world.allreduce_sum(leader ? computed_here : std::int64_t(0));
    auto final_mask = surface->done_mask();
    std::int64_t done_now = 0;
    for (std::int64_t i : part) done_now += final_mask[std::size_t(i)] ? 1 : 0;
    out.complete = done_now == part_total;
    out.interrupted = !out.complete;
    out.seconds = since(t_start);
    {
      // What became of the CUDA graphs, on every rank (the run log's "cuda_graph_events").
      std::string mine;
      for (const auto& e : ev.graph_events) mine += e + "\n";
      std::vector<std::vector<std::string>> per_rank;
      for (auto& text : world.allgather(mine)) {
        std::istringstream lines(text);
        per_rank.emplace_back();
        for (std::string line; std::getline(lines, line);) per_rank.back().push_back(line);
      }
      out.cuda_graph_events = rank_events(per_rank);
    }
    if (!out.cuda_graph_events.empty()) this_run["cuda_graph_events"] = out.cuda_graph_events;
    if (!failed.empty()) this_run["error"] = failed;
    write_log(!failed.empty() ? "failed" : out.complete ? "complete" : "interrupted");
    world.barrier();
    std::string moved = surface->moved_away();
    world.bcast(moved);
    if (rank == 0 && !cfg.quiet && moved.empty()) {
      std::printf("%s %s: %lld of %lld points done (%lld computed now, %.1f s)\n",
                  !failed.empty() ? "stopped by an error:"
                  : out.complete  ? "complete:"
                                  : "interrupted:",
                  cfg.out.c_str(), (long long)done_now, (long long)part_total,
                  (long long)out.computed, out.seconds);
      if (!out.complete && failed.empty()) std::printf("run the same command again to resume\n");
      std::fflush(stdout);
    } else if (rank == 0 && moved.empty() && failed.empty() && !out.complete) {
      // --quiet leaves out progress, not an unfinished result: one line for the job's log.
      std::fprintf(stderr,
                   "losscape: interrupted: %s: %lld of %lld points done (%lld computed now); run the "
                   "same command again to resume\n",
                   cfg.out.c_str(), (long long)done_now, (long long)part_total, (long long)out.computed);
    }
    surface.reset();
    lock.reset();
    if (!moved.empty()) throw AgreedError(moved);
    if (!failed.empty())
      throw AgreedError(failed + "; the points computed until then are in " + cfg.out +
                        " (the same command resumes)");
    return out;
  } catch (const AgreedError&) {
    throw;
  } catch (const c10::Error& e) {
    if (size == 1) throw;
    // (release_lock lets rank 0's lock go, whichever rank aborts)
    mpi::abort_job("LibTorch: " + one_line(e) + aborted_on(rank, cfg.out), kExitError);
  } catch (const std::exception& e) {
    if (size == 1) throw;  // alone: the file closes normally on the way out
    // (an MPI call that failed, "MPI_Send failed: MPI_ERR_OTHER", named neither rank nor file)
    mpi::abort_job(e.what() + aborted_on(rank, cfg.out), kExitError);
  }
}

}  // namespace losscape
