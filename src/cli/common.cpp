#include "common.hpp"

#include "losscape/device.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <utility>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "losscape/mpi.hpp"
#include "losscape/terminal.hpp"
#include "losscape/torch_save.hpp"
#include "losscape/train.hpp"
#include "losscape/version.hpp"

namespace losscape::cli {

// A seed's range, as its refusals name it (seed_check, and decimal_integers before it).
static const std::string kSeedMax = "18446744073709551615";

const CLI::Validator& seed_check() {
  static const CLI::Validator check(
      [](std::string& s) -> std::string {
        const std::string& max = kSeedMax;
        const bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
        const std::string t = digits ? s.substr(std::min(s.find_first_not_of('0'), s.size() - 1)) : s;
        if (!digits || t.size() > max.size() || (t.size() == max.size() && t > max))
          return "'" + s + "' is not a seed: an integer in 0.." + max;
        return "";
      },
      "SEED");
  return check;
}

void add_model_options(CLI::App& app, ModelOptions& o, bool required_file) {
  auto* f = app.add_option("--model-file,-m", o.file,
                           "Model: losscape .h5 checkpoint, TorchScript .pt, or torch.save state "
                           "dict (.pt/.pth, needs --arch)");
  if (required_file) f->required();
  app.add_option("--arch,-a", o.arch, "Zoo architecture (vgg9, resnet56, ...; see info --arch)");
  app.add_option("--init-seed", o.seed, "Seed of a fresh zoo network's initialization (no --model-file)")
      ->check(seed_check())
      ->capture_default_str()
      ->excludes(f);  // (a model file's weights are its own: the seed would be ignored)
}

std::unique_ptr<Model> load_model(const ModelOptions& o, const std::string& dataset,
                                  const std::string& dataset_option) {
  if (!o.file.empty()) return losscape::load_model(o.file, o.arch, dataset, dataset_option);
  if (o.arch.empty()) throw UsageError("no model: give --model-file FILE or --arch NAME");
  torch::manual_seed(o.seed);
  auto m = make_zoo(o.arch, dataset);
  m->train(false);
  return m;
}

std::string recorded_dataset(const std::string& model_file) {
  if (model_file.empty()) return "";
  if (h5::is_hdf5(model_file)) {
    h5::File f(model_file, h5::File::Mode::read);
    if (f.has_attr("format") && f.attr_string("format") == "losscape-checkpoint" &&
        f.has_attr("dataset"))
      return f.attr_string("dataset");
    return "";
  }
  // A torch.save state dict (the reference's .t7/.pth files) says nothing of its data, but its
  // first convolution takes 3 channels for CIFAR-10 and 1 for the 28×28 sets (the default).
  const std::string kind = torch_file_kind(model_file);
  if (kind != "zip" && kind != "legacy") return "";
  try {
    for (auto& [name, shape] : torch_state_dict_shapes(model_file))  // shapes only: no data read
      if (shape.size() == 4) return shape[1] == 3 ? "cifar10" : "";
  } catch (const std::exception&) {
    // unreadable: the model loading reports it
  }
  return "";
}

void default_to_recorded_dataset(const CLI::App& app, const std::string& model_file,
                                 std::string& dataset) {
  if (app.count("--dataset") > 0) return;
  if (auto r = recorded_dataset(model_file); !r.empty()) dataset = r;
}

void default_to_recorded_dataset(const CLI::App& app, const std::string& model_file,
                                 std::string& dataset, const mpi::Comm& comm, bool chosen) {
  // (no early return: a rank given --dataset skipping the broadcast hung the others in it)
  std::string r;
  if (comm.root()) {
    try {
      r = recorded_dataset(model_file);
    } catch (const std::exception&) {
      r.clear();
    }
  }
  comm.bcast(r);
  if (!r.empty() && !chosen && app.count("--dataset") == 0) dataset = r;
}

std::vector<std::string> trajectory_files(const std::vector<std::string>& given) {
  if (given.size() == 1 && std::filesystem::is_directory(given[0])) return checkpoint_files(given[0]);
  for (auto& f : given) {
    if (!std::filesystem::exists(f)) throw InputError(f + ": no such checkpoint");
    if (std::filesystem::is_directory(f))
      throw InputError(f + " is a folder: give a run folder alone, or checkpoint files");
  }
  // (a checkpoint given twice would count twice: a PCA weighted towards it, a path through it
  // twice; each file looked at once, by its device and inode, whatever the spelling of its path)
  std::map<std::pair<dev_t, ino_t>, std::string> seen;
  for (const auto& f : given) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) continue;
    const auto [first, fresh] = seen.emplace(std::make_pair(st.st_dev, st.st_ino), f);
    if (!fresh)
      throw InputError(f + (f == first->second ? " is given twice" : " is " + first->second + " again") +
                       ": each checkpoint of a trajectory once");
  }
  // One run's model_<epoch> files out of training order: a shell glob (run/model_*.h5) sorts
  // model_10 before model_2, which made the 9th checkpoint θ* and the path zig-zag. They are put
  // in epoch order, said. One folder is one folder however its path is spelled (run/ and ./run/:
  // the files were kept in the order given, and two of one epoch counted twice). Files of
  // several folders (a run continued elsewhere, a fine-tuning run after its parent) or of other
  // names keep the order given; where numbered epochs do not increase along it, a note says so.
  static const std::regex numbered(R"(model_(\d+)\.[A-Za-z0-9]+)");
  const auto folder_of = [](const std::string& f) {
    const auto parent = std::filesystem::path(f).parent_path();
    return parent.empty() ? std::filesystem::path(".") : parent;
  };
  std::vector<std::pair<std::int64_t, std::string>> by_epoch;
  bool one_folder = true;
  for (auto& f : given) {
    const std::filesystem::path p(f);
    std::smatch m;
    const std::string name = p.filename().string();
    if (!std::regex_match(name, m, numbered)) return given;
    std::error_code ec;
    if (one_folder && !std::filesystem::equivalent(folder_of(f), folder_of(given.front()), ec))
      one_folder = false;
    by_epoch.emplace_back(epoch_in_name(m[1].str(), f), f);
  }
  if (!one_folder) {
    for (std::size_t i = 1; i < by_epoch.size(); ++i)
      if (by_epoch[i].first <= by_epoch[i - 1].first) {
        std::fprintf(stderr,
                     "losscape: note: checkpoints of several folders are taken in the order given, "
                     "where %s (epoch %lld) comes after %s (epoch %lld); the last, %s, is θ*\n",
                     by_epoch[i].second.c_str(), static_cast<long long>(by_epoch[i].first),
                     by_epoch[i - 1].second.c_str(), static_cast<long long>(by_epoch[i - 1].first),
                     given.back().c_str());
        break;
      }
    return given;
  }
  const auto earlier = [](const auto& a, const auto& b) { return a.first < b.first; };
  for (std::size_t i = 0; i < by_epoch.size(); ++i)  // (model_3.h5 and model_3.t7: one epoch twice)
    for (std::size_t j = 0; j < i; ++j)
      if (by_epoch[i].first == by_epoch[j].first)
        throw InputError(by_epoch[j].second + " and " + by_epoch[i].second + " are both of epoch " +
                         std::to_string(by_epoch[i].first) + ": a trajectory would count it twice");
  if (std::is_sorted(by_epoch.begin(), by_epoch.end(), earlier)) return given;
  std::size_t first_out = 1;
  while (by_epoch[first_out].first >= by_epoch[first_out - 1].first) ++first_out;
  const std::string before = by_epoch[first_out - 1].second, after = by_epoch[first_out].second;
  std::stable_sort(by_epoch.begin(), by_epoch.end(), earlier);
  std::fprintf(stderr,
               "losscape: note: the checkpoints are taken in epoch order (as given, %s came before "
               "%s: a shell glob sorts names as text); the last, %s, is θ*\n",
               before.c_str(), after.c_str(), by_epoch.back().second.c_str());
  std::vector<std::string> out;
  for (auto& [epoch, f] : by_epoch) out.push_back(f);
  return out;
}

std::vector<std::string> comma_items(const std::string& list) {
  std::vector<std::string> out;
  for (std::size_t pos = 0; !list.empty() && pos <= list.size();) {
    const auto comma = std::min(list.find(',', pos), list.size());
    out.push_back(list.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

void check_subset_seed_used(std::uint64_t subset_seed, std::int64_t samples, const std::string& name) {
  if (subset_seed != 0 && samples == 0)
    throw InputError(name + " " + std::to_string(subset_seed) + " picks which samples a subset "
                     "(--samples N) takes: with all the data it changes nothing");
}

void add_data_options(CLI::App& app, DataSpec& d, bool with_split) {
  app.add_option("--dataset,-d", d.dataset,
                 std::string("cifar10 | fashion-mnist | mnist (") + kDatasetDefault + ")");
  app.add_option("--data-dir", d.data_dir,
                 "Directory of the data files (default: Debian's location for fashion-mnist "
                 "and mnist, /usr/share/datasets/NAME; data/cifar-10-batches-bin for cifar10)");
  if (with_split)
    app.add_option("--split,--splits", d.split, "train | test")->capture_default_str();
  app.add_option("--samples,-n", d.samples,
                 "Use a deterministic subset of N samples (0 = all)")->capture_default_str();
  app.add_option("--subset-seed", d.subset_seed, "Seed of the subset rule")
      ->check(seed_check())->capture_default_str();
  app.add_flag("--raw-data", d.raw, "Skip normalization (pixels in [0, 1])");
}

// Whether an MPI launcher (mpirun, srun) started this process as a rank other than 0. Every rank
// parses the same command line, so a usage error is the same on all of them: rank 0 alone says it.
// The launcher nearest to the process speaks first: mpirun's own rank, then PMIx/PMI's (srun
// --mpi), then Slurm's task id (an outer srun's may be inherited by an inner mpirun's ranks).
bool launched_as_other_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* r = std::getenv(v)) return std::strcmp(r, "0") != 0;
  return false;
}

// Where a usage error is printed: rank 0, and under an MPMD mpirun (`mpirun -n 1 A : -n 1 B`,
// whose command lines differ) also the first rank of each other command line, with its rank
// (only rank 1's line had the error: the job exited 2 without a word). "" where it is not.
std::optional<std::string> usage_speaker() {
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  const char* app = std::getenv("OMPI_MCA_orte_app_num");
  const char* counts = std::getenv("OMPI_APP_CTX_NUM_PROCS");
  if (rank && app && counts && std::atoi(app) > 0) {
    std::istringstream in(counts);
    long first = 0, n = 0;
    for (int i = 0; i < std::atoi(app) && in >> n; ++i) first += n;
    if (std::atol(rank) != first) return std::nullopt;
    return " (rank " + std::string(rank) + ", the first of mpirun's command line " + std::to_string(std::atoi(app) + 1) + ")";
  }
  if (launched_as_other_rank()) return std::nullopt;
  return std::string();
}

void print_usage_error(const std::string& message) {
  if (const auto where = usage_speaker()) print_error(message + *where);
}

int refuse_several_ranks(const std::string& command, const std::string& why) {
  // The launcher's own count: mpirun's, PMI's, srun's for a step's tasks (not the batch
  // script's SLURM_NTASKS, which a serial command inside the allocation also sees).
  const char* size = nullptr;
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (!size) size = std::getenv(v);
  if (!size && std::getenv("SLURM_PROCID")) size = std::getenv("SLURM_STEP_NUM_TASKS");
  if (!size || std::atoi(size) <= 1) return 0;
  return usage_error(command + " is serial: run it as one process, not under mpirun/srun with " +
                     std::string(size) + " ranks (" + why + ")");
}

int usage_error(const std::string& message) {
  print_usage_error(message);
  return kExitUsage;
}

// CLI11's message for a parse error, in losscape's words where CLI11's are its internals
// ("At Most 1 required but received 2", "Could not convert: --samples = abc").
std::string parse_error_text(const CLI::ParseError& e) {
  const std::string what = e.what();
  std::smatch m;
  if (std::regex_match(what, m, std::regex(R"((\S+): At Most 1 required but received \d+)")))
    return m[1].str() + " is given more than once";
  if (std::regex_match(what, m, std::regex(R"((\S+): \d+ required \S+ missing)")))
    return m[1].str() + " needs a value";
  if (std::regex_match(what, m, std::regex(R"(Could not convert: (\S+) = (.*))")))
    return m[1].str() + ": '" + m[2].str() + "' is not a number of the kind it takes";
  if (std::regex_match(what, m, std::regex(R"((\S+): Value (.*) not in range (\S+) to (\S+))")))
    return m[1].str() + ": '" + m[2].str() + "' is not a number in " + m[3].str() + ".." +
           m[4].str();
  if (std::regex_match(what, m, std::regex(R"((\S+): (.*) not in \{(.*)\})")))
    return m[1].str() + ": '" + m[2].str() + "' is not one of " +
           std::regex_replace(m[3].str(), std::regex(","), ", ");
  // (a positional argument, by CLI11's internal name: "parts is required")
  if (std::regex_match(what, m, std::regex(R"(([a-z]\w*) is required)")))
    return "no " + m[1].str() + " given (the command's file arguments, before or after the options)";
  if (std::regex_match(what, m, std::regex(R"((\S+) excludes (\S+))")))
    return m[1].str() + " and " + m[2].str() + " do not go together";
  return what;
}

// Every whole-number option reads its value as a decimal number: CLI11 guesses the base from
// the prefix, so --samples 010 (a zero-padded `printf %03d` of a script) was 8 samples, 0x10
// was 16, and --subset-seed 08 was refused as not a number. Leading zeros are dropped; any other
// form (hex, octal prefixes, 1e3, 12x) is refused in one line.
static void decimal_integers(CLI::App& app) {
  // (a seed's refusal names its range, as seed_check's, which runs after this transform)
  for (CLI::Option* opt : app.get_options()) {
    const std::string type = opt->get_type_name();
    if (type.rfind("INT", 0) != 0 && type.rfind("UINT", 0) != 0) continue;
    const bool seed = opt->get_name().find("seed") != std::string::npos;
    opt->transform(CLI::Validator(
        [seed](std::string& v) -> std::string {
          if (v.empty()) return "";  // (refused_value says what an empty value is)
          const std::size_t digits = v[0] == '-' || v[0] == '+' ? 1 : 0;
          if (v.size() == digits || v.find_first_not_of("0123456789", digits) != std::string::npos)
            return "'" + v + (seed ? "' is not a seed: an integer in 0.." + kSeedMax
                                   : "' is not a number (a whole number in decimal digits: 10, or 010 for 10)");
          const std::size_t first = std::min(v.find_first_not_of('0', digits), v.size() - 1);
          v = v.substr(0, digits) + v.substr(first);
          return "";
        },
        "", "decimal"));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) decimal_integers(*sub);
}

// What CLI11 lets through and losscape refuses, in every option of a command: an empty value
// (an unset shell variable: `--part $PART` computed the whole grid in every task of a fan-out,
// `--x-target ''` made a random direction), an integer beyond 64 bits (CLI11 clamped
// 99999999999999999999 to 9223372036854775807 epochs). The exit code and the message, or
// nothing.
std::optional<std::pair<int, std::string>> refused_value(const CLI::App& app) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->count() == 0) continue;
    const std::string name = opt->get_name();
    // (a flag may come twice: job scripts add --quiet or --dry-run to the user's own flags)
    if (opt->get_expected_max() == 0) continue;
    const std::string type = opt->get_type_name();
    const bool is_int = type.rfind("INT", 0) == 0, is_uint = type.rfind("UINT", 0) == 0;
    for (const std::string& v : opt->results()) {
      if (v.empty() && name != "--milestones")  // ('' is "no milestones" there)
        return std::make_pair(kExitError, opt->nonpositional()
                                              ? name + " '': an empty value (an unset shell variable?): give one, "
                                                       "or leave the option out for its default"
                                              : "an empty " + name + " argument (an unset shell variable?)");
      if (is_int || is_uint) {
        errno = 0;
        char* end = nullptr;
        if (is_uint) (void)std::strtoull(v.c_str(), &end, 0);
        else (void)std::strtoll(v.c_str(), &end, 0);
        if (errno == ERANGE)
          return std::make_pair(kExitError, name + " " + v + ": out of the range of a 64-bit integer");
      }
    }
  }
  return std::nullopt;
}

// `--out=` (an unset shell variable in `--out=$OUT`): CLI11 takes it for the option without a
// value and takes the next argument instead (`--out= --quiet` wrote a file named --quiet, and
// `--out= --dry-run` ran a whole sweep into one named --dry-run): refused as `--out ''` is.
// `-o=x`: a short option's value follows it joined or after a space, so CLI11 (as getopt) read
// '=x', and a file named '=x' was written. Both only for options taking a value (`--quiet=` is
// CLI11's to read), and not where the argument is the value of the option before it.
static std::string misplaced_equals(const CLI::App& cmd, int argc, char** argv) {
  auto takes_value = [&](const std::string& name) {
    const CLI::Option* opt = cmd.get_option_no_throw(name);
    return opt && opt->get_expected_max() > 0;
  };
  bool is_value = false;  // argv[i] follows an option that takes a value, written without one
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;
    if (std::exchange(is_value, false)) continue;
    const bool long_name = a.size() > 2 && a.compare(0, 2, "--") == 0;
    const bool short_name = a.size() >= 2 && a[0] == '-' && a[1] != '-';
    if (long_name && a.find('=') == std::string::npos) {
      is_value = takes_value(a);
    } else if (short_name && a.size() == 2) {
      is_value = takes_value(a);
    } else if (short_name && a[2] == '=' && takes_value(a.substr(0, 2))) {
      return a + ": a short option's value follows it after a space or joined (" + a.substr(0, 2) + " " +
             a.substr(3) + "); '=' would be read as part of it";
    } else if (long_name && a.size() > 3 && a.find('=') == a.size() - 1 && takes_value(a.substr(0, a.size() - 1))) {
      const std::string name = a.substr(0, a.size() - 1);
      return name == "--milestones"  // ('' is "no milestones" there)
                 ? name + "=: an empty value is read as none at all (the next argument would be taken): "
                          "write --milestones '' for no milestones"
                 : name + "=: an empty value (an unset shell variable?): give one, or leave the option "
                          "out for its default";
    }
  }
  return {};
}

int run_main(int argc, char** argv) {
  tune_cpu_allocator();
  CLI::App app{"losscape: loss landscapes of neural networks at HPC scale"};
  app.set_version_flag("--version,-V", std::string("losscape ") + version + " (revision " +
                                             source_revision() + ")");
  app.require_subcommand(1);
  app.footer("Exit codes: 0 done, 1 error, 2 usage, 75 incomplete (resume by running again).\n"
             "Docs: docs/usage.md");
  Registry reg;
  add_info(app, reg);
  add_eval(app, reg);
  add_plot(app, reg);
  add_export(app, reg);
  add_train(app, reg);
  add_project(app, reg);
  add_directions(app, reg);
  add_sweep(app, reg);
  add_merge(app, reg);
  add_hessian(app, reg);
  // Each command's help names the page that describes it (usage.md lists them all; directions
  // is described there, its --pca in training.md).
  const std::map<std::string, std::string> pages = {
      {"plot", "plotting.md"}, {"export", "plotting.md"},  {"train", "training.md"},
      {"project", "training.md"}, {"directions", "training.md"}, {"sweep", "sweep.md"},
      {"merge", "sweep.md"},    {"hessian", "hessian.md"}};
  // (75 only where a command returns it: a signal stops sweep, train and hessian, and a merge
  // misses points or is stopped; the others end with 0, 1 or 2)
  const std::map<std::string, std::string> incomplete = {
      {"sweep", "resume by running again"}, {"train", "resume by running again"},
      {"hessian", "resume by running again"}, {"merge", "points missing, or stopped: see docs"}};
  for (auto& s : reg) {
    const auto it = pages.find(s.app->get_name());
    const auto inc = incomplete.find(s.app->get_name());
    s.app->footer("Exit codes: 0 done, 1 error, 2 usage" +
                  (inc == incomplete.end() ? std::string(".") : ", 75 incomplete (" + inc->second + ").") +
                  "\nDocs: docs/" + (it == pages.end() ? std::string("usage.md") : it->second + " and docs/usage.md"));
  }
  // A first word that is no command and no option: say so (CLI11 would ask for a command, or
  // print the general help for `losscape sweep-1d --help`).
  if (argc > 1 && argv[1][0] == '-' && std::strcmp(argv[1], "-h") != 0 &&
      std::strcmp(argv[1], "--help") != 0 && std::strcmp(argv[1], "-V") != 0 &&
      std::strcmp(argv[1], "--version") != 0)
    return usage_error(std::string(argv[1]) + ": a command comes first (losscape --help lists them)");
  if (argc > 2 && (std::strcmp(argv[1], "--version") == 0 || std::strcmp(argv[1], "-V") == 0))
    return usage_error(std::string("--version takes nothing else (not expected: ") + argv[2] + ")");
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (auto& s : reg) known = known || s.app->check_name(argv[1]);
    if (!known)
      return usage_error("'" + std::string(argv[1]) +
                         "' is not a losscape command (losscape --help lists them)");
  }
  // An argument that is not UTF-8 (a Latin-1 file name): losscape records its settings and
  // paths as JSON, which holds UTF-8 only (nlohmann's exception named no file, late, on every rank).
  for (int i = 2; i < argc; ++i) {
    try {
      (void)nlohmann::json(argv[i]).dump();
    } catch (const nlohmann::json::type_error&) {
      // (as it is: the error line shows its bytes that are not UTF-8 as \xe9, printable_line)
      print_usage_error("'" + std::string(argv[i]) + "': not UTF-8 text (losscape records its settings "
                        "and file names as JSON, which holds UTF-8 only: rename the file)");
      return kExitError;
    }
  }
  if (argc > 1)
    for (auto& s : reg)
      if (s.app->check_name(argv[1]))
        if (const std::string what = misplaced_equals(*s.app, argc, argv); !what.empty()) {
          print_usage_error(what);
          return kExitError;
        }
  decimal_integers(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e) == 0 ? kExitOk : kExitUsage;  // --help, --version
    // One line like every other error, naming where the options are described.
    std::string cmd;
    for (auto& s : reg)
      if (s.app->parsed()) cmd = " " + s.app->get_name();
    std::string what = parse_error_text(e);
    // CLI11 lists the extras backwards ("1 --init-seed"); in the order given:
    if (auto extras = app.remaining(true); dynamic_cast<const CLI::ExtrasError*>(&e) && !extras.empty())
      what = "not expected: " + CLI::detail::join(extras, " ");
    what += " (losscape" + cmd + " --help lists the options)";
    // A value the option refuses is bad input (1), as values checked after parsing are; the
    // command line's shape (unknown or repeated options, a missing value) is usage (2).
    if (dynamic_cast<const CLI::ConversionError*>(&e) || dynamic_cast<const CLI::ValidationError*>(&e)) {
      print_usage_error(what);
      return kExitError;
    }
    return usage_error(what);
  }
  for (auto& s : reg)
    if (s.app->parsed())
      if (auto refused = refused_value(*s.app)) {
        print_usage_error(refused->second);
        return refused->first;
      }
  try {
    for (auto& s : reg)
      if (s.app->parsed()) return s.run();
    return kExitUsage;
  } catch (const UsageError& e) {
    if (mpi::initialized()) mpi::abort_job(e.what(), kExitUsage);
    return usage_error(e.what());
  } catch (const Error& e) {
    const auto* agreed = dynamic_cast<const AgreedError*>(&e);
    const int code = agreed ? agreed->exit_code() : kExitError;
    if (mpi::initialized()) mpi::abort_job(e.what(), code);
    print_error(e.what());
    return code;
  } catch (const c10::Error& e) {
    const std::string msg = "LibTorch: " + one_line(e);
    if (mpi::initialized()) mpi::abort_job(msg, kExitError);
    print_error(msg);
    return kExitError;
  } catch (const std::exception& e) {
    const std::string msg = one_line(e);  // (std::bad_alloc named as running out of memory)
    if (mpi::initialized()) mpi::abort_job(msg, kExitError);
    print_error(msg);
    return kExitError;
  }
}

}  // namespace losscape::cli
