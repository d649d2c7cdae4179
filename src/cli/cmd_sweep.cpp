// `losscape sweep`: the distributed loss-surface sweep (run under mpirun/srun).
#include <cctype>
#include <cstdio>
#include <cstring>
#include <functional>
#include <fstream>
#include <tuple>

#include "common.hpp"
#include "losscape/json_config.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "losscape/mpi.hpp"
#include "losscape/sweep.hpp"
#include "losscape/terminal.hpp"

namespace losscape::cli {

// The settings that are a flag and a --config key of the same name (the flag's, with _ for -).
#define LOSSCAPE_SWEEP_SETTINGS(X) \
  X("--model-file", model_file) \
  X("--arch", arch) \
  X("--init-seed", init_seed) \
  X("--directions", directions) \
  X("--x", x) \
  X("--y", y) \
  X("--dataset", dataset) \
  X("--data-dir", data_dir) \
  X("--samples", samples) \
  X("--subset-seed", subset_seed) \
  X("--raw-data", raw_data) \
  X("--loss", loss) \
  X("--batch-size", batch_size) \
  X("--precision", precision) \
  X("--memory-format", memory_format) \
  X("--points-per-forward", points_per_forward) \
  X("--cuda-graphs", cuda_graphs) \
  X("--cudnn-fusion", cudnn_fusion) \
  X("--device", device) \
  X("--threads", threads) \
  X("--data-shards", data_shards) \
  X("--flush-seconds", flush_seconds) \
  X("--part", part) \
  X("--out", out) \
  X("--quiet", quiet) \
  X("--progress-seconds", progress_seconds) \
  X("--allow-other-model", allow_other_model) \
  X("--stop-after", stop_after) \
  X("--dry-run", dry_run) \
  X("--identity-only", identity_only) \
  X("--hessian", hessian) \
  X("--hessian-all-params", hessian_all_params) \
  X("--hessian-batch-size", hessian_batch_size) \
  X("--eig-tol", eig_tol) \
  X("--eig-max-iter", eig_max_iter) \
  X("--eig-ncv", eig_ncv)

// An error about a setting the --config file gave (not a flag) names the file and key, not the
// flag the user did not type: "--samples must not be negative" becomes
// "sweep.json: \"samples\" must not be negative".
std::string name_config_settings(const std::string& message, const std::string& file,
                                 const std::function<bool(const char*)>& given) {
  if (file.empty()) return message;
#define LOSSCAPE_KEY(flag, member)                                                                      \
  if (const std::size_t n = std::strlen(flag);                                                          \
      message.compare(0, n, flag) == 0 && !given(flag) &&                                               \
      (message.size() == n || !(std::isalnum((unsigned char)message[n]) || message[n] == '-' ||          \
                                message[n] == '/')))                                                   \
    return file + ": \"" + #member + "\"" + message.substr(n);
  LOSSCAPE_SWEEP_SETTINGS(LOSSCAPE_KEY)
#undef LOSSCAPE_KEY
  // (--splits is not among the settings above: its flag is one text, the key a list)
  if (message.rfind("--splits:", 0) == 0 && !given("--splits"))
    return file + ": \"splits\"" + message.substr(std::strlen("--splits"));
  return message;
}

// The settings of the Hessian maps, as a flag and as a --config key: refused without --hessian
// (or "hessian": true), which they would not change.
constexpr std::pair<const char*, const char*> kHessianSettings[] = {
    {"--hessian-all-params", "hessian_all_params"},
    {"--hessian-batch-size", "hessian_batch_size"},
    {"--eig-tol", "eig_tol"},
    {"--eig-max-iter", "eig_max_iter"},
    {"--eig-ncv", "eig_ncv"}};

void add_sweep(CLI::App& root, Registry& reg) {
  struct Opts {
    SweepConfig cfg;
    DirectionOptions dir;
    std::string config_file;
    std::string splits = "train";
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand(
      "sweep", "Evaluate loss and accuracy on a 1D/2D grid of perturbed models (MPI)");
  auto& c = o->cfg;
  app->add_option("--config", o->config_file,
                  "JSON file with the same keys (flags given on the command line override it)");
  auto* model_file = app->add_option("--model-file,-m", c.model_file, "Model file (see losscape eval)");
  app->add_option("--arch,-a", c.arch,
                  "Zoo architecture: of a state dict, or alone a fresh network (--init-seed)");
  app->add_option("--init-seed", c.init_seed, "Seed of a fresh zoo network's initialization")
      ->check(seed_check())
      ->capture_default_str()
      ->excludes(model_file);
  app->add_option("--directions", c.directions,
                  "Direction file; without it directions are made (options of `losscape "
                  "directions`) into NAME.dirs.h5 beside the surface NAME.h5");
  add_direction_options(*app, o->dir);
  // A sweep takes the count from its grid: no default to show (directions' 2 is not this one's)
  app->get_option("--dims")
      ->default_str("")
      ->description("1 or 2 directions: the grid's (1D: 1, with --y: 2); given, it must agree");
  app->add_option("--x", c.x, "Grid along δ: MIN:MAX:NUM")->capture_default_str();
  app->add_option("--y", c.y, "Grid along η: MIN:MAX:NUM (2D)");
  app->add_option("--dataset,-d", c.dataset,
                  std::string("cifar10 | fashion-mnist | mnist (") + kDatasetDefault + ")");
  app->add_option("--data-dir", c.data_dir, "Directory of the data files");
  app->add_option("--splits,--split", o->splits, "train, test or train,test")->capture_default_str();
  app->add_option("--samples,-n", c.samples, "Deterministic subset of N samples (0 = all)");
  app->add_option("--subset-seed", c.subset_seed, "Seed of the subset rule")
      ->check(seed_check());
  app->add_flag("--raw-data", c.raw_data, "Skip normalization");
  app->add_option("--loss", c.loss, "crossentropy | mse")->capture_default_str();
  app->add_option("--batch-size,-b", c.batch_size, "Evaluation batch size or auto")
      ->capture_default_str();
  app->add_option("--precision", c.precision,
                  "fp32 | tf32 | bf16 | fp16: arithmetic of the forward pass (docs/performance.md)")
      ->capture_default_str();
  app->add_option("--memory-format", c.memory_format,
                  "auto | nchw | nhwc: layout of images and convolution weights (auto: timed)")
      ->capture_default_str();
  app->add_option("--points-per-forward", c.points_per_forward,
                  "Grid points evaluated together in one forward pass: auto (timed at start-up) or "
                  "1 to 16 (docs/performance.md)")
      ->capture_default_str();
  app->add_option("--cuda-graphs", c.cuda_graphs,
                  "auto | off: replay each evaluation pass as a CUDA graph on a GPU "
                  "(docs/performance.md)")
      ->capture_default_str();
  app->add_option("--cudnn-fusion", c.cudnn_fusion,
                  "auto | on | off: on a GPU, check cuDNN's fused convolution + ReLU at start-up "
                  "and use it when it agrees and is faster (on: whenever it agrees) "
                  "(docs/performance.md)")
      ->capture_default_str();
  app->add_option("--device", c.device, "auto | cpu | cuda | cuda:N (auto, cuda: one GPU per rank by node-local rank)")->capture_default_str();
  app->add_option("--threads", c.threads, "CPU threads per rank (0: the CPUs the rank may use / the ranks sharing them)");
  app->add_option("--data-shards", c.data_shards,
                  "Ranks per group sharing each point, each holding 1/G of the data")
      ->capture_default_str();
  app->add_option("--flush-seconds", c.flush_seconds, "Seconds between collective write rounds")
      ->capture_default_str();
  app->add_option("--part", c.part,
                  "Compute only slice K/N of the grid (fan-out; each part its own --out), or "
                  "'slurm' to take it from SLURM_ARRAY_TASK_ID, _MIN and _COUNT");
  app->add_option("--out,-o", c.out, "Surface file (created, or resumed if it exists)")
      ->capture_default_str();
  app->add_flag("--quiet,-q", c.quiet, "No progress output");
  app->add_option("--progress-seconds", c.progress_seconds, "Progress line interval in batch logs")
      ->capture_default_str();
  app->add_flag("--allow-other-model", c.allow_other_model,
                "Use a direction file made for another θ* (skips the fingerprint check)");
  app->add_flag("--dry-run", c.dry_run,
                "Check the configuration, model, directions, data (on every rank) and the "
                "surface file, print the plan, and stop: nothing is computed or written");
  app->add_flag("--identity-only", c.identity_only,
                "With --dry-run: check only that --out is (or would become) this sweep's file "
                "(grid, values, model, directions, data), not the run's devices, ranks or data "
                "shards");
  app->add_option("--stop-after", c.stop_after,
                  "Testing aid: stop as if signalled after N points (0, the default: no limit)");
  app->add_flag("--hessian", c.hessian,
                "Also compute the Hessian's extreme eigenvalues (max_eig, min_eig) at every point "
                "(docs/hessian.md)");
  app->add_flag("--hessian-all-params", c.hessian_all_params,
                "Hessian over every parameter tensor (default: those with >= 2 dimensions)");
  app->add_option("--hessian-batch-size", c.hessian_batch_size,
                  "Samples per double-backward pass of a Hessian-vector product")
      ->capture_default_str();
  app->add_option("--eig-tol", c.eig_tol, "ARPACK relative tolerance of the eigenvalues")
      ->capture_default_str();
  app->add_option("--eig-max-iter", c.eig_max_iter,
                  "ARPACK restarts before a point is recorded as not converged")
      ->capture_default_str();
  app->add_option("--eig-ncv", c.eig_ncv, "Lanczos basis size (0: min(n, 20))")
      ->capture_default_str();
  reg.push_back({app, [o, app]() {
    // Before MPI_Init and the model load: a job's stop signal arriving during start-up must
    // stop the sweep cleanly (exit 75), not kill it with the signal's default action.
    install_stop_handlers();
    mpi::Environment env(nullptr, nullptr);
    SweepConfig cfg;
    bool config_dataset = false;  // the config file names the data set
    std::vector<std::string> config_hessian_keys;  // the Hessian settings the config file gives
    bool config_dir_set = false;  // the config's "dir" makes other directions than the defaults
    // The configuration, from the file and the flags: the same on every rank, and an error in it
    // (or a config file one node cannot read) ends every rank with one message.
    auto assemble = [&] {
      if (!o->config_file.empty()) {
        nlohmann::json j = read_json_file(o->config_file);
        try {
          cfg = j.get<SweepConfig>();
          // (null counts as absent: the data set the checkpoint records)
          config_dataset = j.is_object() && j.contains("dataset") && !j["dataset"].is_null();
          // A "dir" that makes other directions than the defaults, beside a direction file: one
          // of the two is a slip (the flags are refused alike; "dims" follows the grid anyway).
          if (j.is_object() && j.contains("dir") && !j["dir"].is_null()) {
            DirectionsConfig given = cfg.dir;
            given.dims = DirectionsConfig{}.dims;  // (compared with both directions' settings)
            config_dir_set = nlohmann::json(given) != nlohmann::json(DirectionsConfig{});
          }
          // (a sweep's stored configuration records both when it made its directions: they are
          // the file beside its "out", found there again and checked against "dir")
          if (config_dir_set && !cfg.directions.empty() && !cfg.out.empty() &&
              cfg.directions == default_dir_file(cfg.out))
            cfg.directions.clear();
          if (config_dir_set && !cfg.directions.empty())
            throw InputError("\"dir\" sets how directions are made, but \"directions\" (" +
                             cfg.directions + ") gives them: drop one of the two");
          for (const auto& [flag, key] : kHessianSettings)
            if (j.is_object() && j.contains(key) && !j[key].is_null())
              config_hessian_keys.push_back(key);
        } catch (const nlohmann::json::exception& e) {
          throw InputError(o->config_file + ": " + e.what());
        } catch (const InputError& e) {  // unknown keys, bad values
          throw InputError(o->config_file + ": " + e.what());
        }
      }
      // Flags given explicitly override the file.
      auto given = [&](const char* name) { return app->count(name) > 0; };
      const SweepConfig& f = o->cfg;
#define LOSSCAPE_TAKE(flag, member) \
    if (o->config_file.empty() || given(flag)) cfg.member = f.member;
      LOSSCAPE_SWEEP_SETTINGS(LOSSCAPE_TAKE)
#undef LOSSCAPE_TAKE
      if (o->config_file.empty() || given("--splits"))
        cfg.splits = comma_items(o->splits);  // empty names too (refused)
      // Direction options: each flag given overrides its own field of the config's "dir".
      const auto dir_flags = given_direction_options(*app);
      if (!dir_flags.empty() && !cfg.directions.empty())
        throw InputError(dir_flags.front() + " makes directions, but --directions " + cfg.directions +
                         " gives them: drop one of the two");
      // (the config's "dir", a target among them, was dropped in silence for the flag's file)
      if (config_dir_set && given("--directions"))
        throw InputError("--directions " + cfg.directions + " gives the directions, but \"dir\" of " +
                         o->config_file + " sets how to make them: drop one of the two");
      if (o->config_file.empty()) {
        cfg.dir = to_config(o->dir);
      } else if (!dir_flags.empty()) {
        override_given_direction_options(*app, o->dir, cfg.dir);
      }
      if (given("--dims") && o->dir.dims != (cfg.y.empty() ? 1 : 2))
        throw InputError("--dims " + std::to_string(o->dir.dims) + " disagrees with the grid: " +
                         (cfg.y.empty() ? "1D (no --y) takes 1 direction"
                                        : "2D (--y) takes 2 directions"));
      if (cfg.y.empty())
        for (const auto& flag : dir_flags)
          if (flag == "--y-norm" || flag == "--y-ignore" || flag == "--same-dir")
            throw InputError(flag + " is about the second direction: a 2D grid needs --y MIN:MAX:NUM");
      check_subset_seed_used(cfg.subset_seed, cfg.samples,
                             given("--subset-seed") ? "--subset-seed" : o->config_file + ": subset_seed");
      const int dims = cfg.y.empty() ? 1 : 2;
      check_no_ignored_direction_options(*app, cfg.dir, dims);
      if (!o->config_file.empty()) {
        check_config_direction_values(cfg.dir, dims, o->config_file);
        // (each named where it came from: the flags may not give both, so one is the file's)
        if (!cfg.model_file.empty() && cfg.init_seed != 0)
          throw InputError((given("--init-seed") ? "--init-seed " : o->config_file + ": init_seed ") +
                           std::to_string(cfg.init_seed) + " is for a fresh zoo network, but the model file " +
                           cfg.model_file + (given("--model-file") ? "" : " (" + o->config_file + ": model_file)") +
                           " gives θ*: drop one of the two");
      }
      if (!cfg.hessian)
        for (const auto& [flag, key] : kHessianSettings)
          if (given(flag))
            throw InputError(std::string(flag) + " is for the Hessian maps: add --hessian");
      if (!cfg.hessian && !config_hessian_keys.empty())
        throw InputError(o->config_file + ": " + config_hessian_keys.front() +
                         " is for the Hessian maps: add \"hessian\": true (or --hessian)");
    };
    auto named = [&](const std::string& message) {
      const std::string m =
          name_config_settings(message, o->config_file, [&](const char* flag) { return app->count(flag) > 0; });
      // A target model of the file's "dir" that cannot be read: named by the file and key too
      // ("nonexist.h5: no such model file" did not say where the name came from)
      if (m == message && !o->config_file.empty())
        for (auto [axis, flag, target] : {std::tuple{"x", "--x-target", cfg.dir.x.target},
                                          std::tuple{"y", "--y-target", cfg.dir.y.target}})
          if (!target.empty() && !app->count(flag) && message.rfind(target + ": ", 0) == 0)
            return o->config_file + ": dir." + axis + ".target: " + message;
      return m;
    };
    try {
      run_agreed(mpi::Comm::world(), assemble);
      default_to_recorded_dataset(*app, cfg.model_file, cfg.dataset, mpi::Comm::world(), config_dataset);
      auto result = run_sweep(cfg, mpi::Comm::world());
      return result.complete ? int(kExitOk) : int(kExitIncomplete);
    } catch (const AgreedError& e) {
      // Every rank has the same error: one message, clean MPI_Finalize, exit 1 (2: usage).
      if (mpi::Comm::world().root())
        print_error(named(e.what()));
      return e.exit_code();
    } catch (const c10::Error& e) {
      mpi::abort_job("LibTorch: " + one_line(e), kExitError);
    } catch (const std::exception& e) {
      // One rank failed alone (I/O, out of memory...): the others may be waiting on it, so the
      // whole job is brought down rather than left to hang.
      mpi::abort_job(named(e.what()), kExitError);
    }
  }});
}

}  // namespace losscape::cli
