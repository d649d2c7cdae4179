// Shared pieces of the command-line layer: option groups that several subcommands accept, the
// subcommand registry, and error handling. Only src/cli knows about argv.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "losscape/data.hpp"
#include "losscape/directions.hpp"
#include "losscape/model.hpp"
#include "losscape/mpi.hpp"

namespace losscape::cli {

/// A registered subcommand: its CLI11 app and what to run when it was chosen.
struct Subcommand {
  CLI::App* app = nullptr;
  std::function<int()> run;
};
using Registry = std::vector<Subcommand>;

void add_info(CLI::App& root, Registry& reg);
void add_eval(CLI::App& root, Registry& reg);
void add_plot(CLI::App& root, Registry& reg);
void add_export(CLI::App& root, Registry& reg);
void add_train(CLI::App& root, Registry& reg);
void add_project(CLI::App& root, Registry& reg);
void add_directions(CLI::App& root, Registry& reg);
void add_sweep(CLI::App& root, Registry& reg);
void add_merge(CLI::App& root, Registry& reg);
void add_hessian(CLI::App& root, Registry& reg);

/// --model-file / --arch / --seed, shared by every command that loads a model.
struct ModelOptions {
  std::string file;
  std::string arch;
  std::uint64_t seed = 0;
};
void add_model_options(CLI::App& app, ModelOptions& o, bool required_file = false);
/// A seed's check: a decimal integer in 0..2^64-1 (CLI11 would clamp a larger one to 2^64-1,
/// so different seeds would give the same numbers).
const CLI::Validator& seed_check();
/// Load o.file into o.arch (or a fresh zoo network when no file is given); `dataset_option` is
/// the command's option that chooses the data set (named in load_state's hint).
std::unique_ptr<Model> load_model(const ModelOptions& o, const std::string& dataset,
                                  const std::string& dataset_option = "--dataset");

/// The data set a model file implies: the one a losscape checkpoint records (its `dataset`
/// attribute), cifar10 for a torch.save state dict whose first convolution takes 3 channels;
/// "" for any other file (the command's default then holds).
std::string recorded_dataset(const std::string& model_file);
/// When `--dataset` was not given on `app`'s command line, the data set `model_file` implies
/// (recorded_dataset) replaces `dataset` (a checkpoint is evaluated on what it was trained on);
/// else unchanged.
void default_to_recorded_dataset(const CLI::App& app, const std::string& model_file,
                                 std::string& dataset);
/// The same under MPI: rank 0 reads the file and every rank takes its answer (one reading, one
/// answer; a file rank 0 cannot read leaves `dataset` as it is, for the model loading to report).
/// Collective on every rank, whether or not it was given a data set (`chosen`: by a --config
/// key): ranks of an MPMD launch may differ in that, and the ranks compare their settings later.
void default_to_recorded_dataset(const CLI::App& app, const std::string& model_file,
                                 std::string& dataset, const mpi::Comm& comm, bool chosen = false);

/// How every command picks the data set when --dataset is not given (for --help texts).
inline constexpr const char* kDatasetDefault =
    "default: the one a losscape checkpoint was trained on, cifar10 for a state dict whose first "
    "convolution takes 3 channels, else fashion-mnist";

/// The checkpoints of --checkpoints: a run folder's (checkpoint_files), or the files given, in
/// training order, each of which must exist.
std::vector<std::string> trajectory_files(const std::vector<std::string>& given);

/// --dataset / --data-dir / --split / --samples / --subset-seed / --raw-data.
void add_data_options(CLI::App& app, DataSpec& d, bool with_split = true);

/// Options of `losscape directions`, also accepted by `losscape sweep` when it makes directions.
struct DirectionOptions {
  int dims = 2;
  std::string type = "weights";
  std::string x_norm = "filter", x_ignore = "biasbn", y_norm = "filter", y_ignore = "biasbn";
  std::string x_target, y_target;
  bool same_dir = false;
  std::uint64_t seed = 123;
};
void add_direction_options(CLI::App& app, DirectionOptions& o);
DirectionsConfig to_config(const DirectionOptions& o);
/// The flags of add_direction_options (but --dims, which the sweep checks against its grid) that
/// were given on app's command line.
std::vector<std::string> given_direction_options(const CLI::App& app);
/// Each of those flags given on app's command line sets its own field of `c` (the rest of `c`,
/// e.g. from a config file, stays).
void override_given_direction_options(const CLI::App& app, const DirectionOptions& o,
                                      DirectionsConfig& c);
/// The items of a comma-separated list, empty ones included ("a,,b": a, "", b; "" has none), for
/// the caller to refuse by its option's name.
std::vector<std::string> comma_items(const std::string& list);
/// A subset seed other than 0 without a subset (`samples` 0: all the data) would change nothing
/// and yet count as another setting (a resume would be refused over it): refused, as `name`.
void check_subset_seed_used(std::uint64_t subset_seed, std::int64_t samples, const std::string& name);
/// Refuses a direction flag given on app's command line that `c` (the directions to be made)
/// would ignore: a y option with --same-dir (y is a copy of x), a norm or ignore option of a
/// direction that is a target (θ(target) − θ*, used as it is), --seed where every one of the
/// `dims` directions is a target.
void check_no_ignored_direction_options(const CLI::App& app, const DirectionsConfig& c, int dims);
/// The same for the values a --config `file` gives (its keys named): a y on a 1D grid, a y of its
/// own with same_dir, a target's norm, a seed where no direction is random.
void check_config_direction_values(const DirectionsConfig& c, int dims, const std::string& file);

/// A usage error: `losscape: error: MESSAGE` as one line on stderr; returns kExitUsage.
int usage_error(const std::string& message);

/// For a command that runs as one process (train, directions, project, eval, info, plot,
/// export): 0 when it does; under mpirun or srun with several ranks a usage error saying `why`
/// one process is wanted, printed by rank 0, and kExitUsage.
int refuse_several_ranks(const std::string& command,
                         const std::string& why = "each would write the same files");

/// The program entry: parse, dispatch, map exceptions to one-line errors and exit codes.
int run_main(int argc, char** argv);

}  // namespace losscape::cli
