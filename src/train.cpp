#include "losscape/train.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "losscape/data.hpp"
#include "losscape/device.hpp"
#include "losscape/json_config.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "losscape/h5.hpp"
#include "losscape/lock.hpp"
#include "losscape/stop.hpp"
#include "losscape/version.hpp"
#include "losscape/zoo.hpp"

namespace losscape {
namespace fs = std::filesystem;

// ---------------------------------------------------------------- configuration

void to_json(nlohmann::json& j, const TrainConfig& c) {
  j = {{"arch", c.arch},
       {"dataset", c.dataset},
       {"data_dir", c.data_dir},
       {"samples", c.samples},
       {"subset_seed", c.subset_seed},
       {"test_samples", c.test_samples},
       {"batch_size", c.batch_size},
       {"optimizer", c.optimizer},
       {"lr", c.lr},
       {"momentum", c.momentum},
       {"nesterov", c.nesterov},
       {"weight_decay", c.weight_decay},
       {"epochs", c.epochs},
       {"milestones", c.milestones},
       {"gamma", c.gamma},
       {"augment", c.augment},
       {"save_every", c.save_every},
       {"seed", c.seed},
       {"device", c.device},
       {"out", c.out}};
}

void from_json(const nlohmann::json& j, TrainConfig& c) {
  auto get = [&j](const char* key, auto& field) { config_get(j, key, field); };
  get("arch", c.arch);
  get("dataset", c.dataset);
  get("data_dir", c.data_dir);
  get("samples", c.samples);
  get("subset_seed", c.subset_seed);
  get("test_samples", c.test_samples);
  get("batch_size", c.batch_size);
  get("optimizer", c.optimizer);
  get("lr", c.lr);
  get("momentum", c.momentum);
  get("nesterov", c.nesterov);
  get("weight_decay", c.weight_decay);
  get("epochs", c.epochs);
  get("milestones", c.milestones);
  get("gamma", c.gamma);
  get("augment", c.augment);
  get("save_every", c.save_every);
  get("seed", c.seed);
  get("device", c.device);
  get("out", c.out);
}

std::vector<std::int64_t> default_milestones(std::int64_t epochs) {
  std::set<std::int64_t> ms;
  for (double f : {150.0 / 300, 225.0 / 300, 275.0 / 300}) {
    auto m = std::int64_t(std::llround(double(epochs) * f));
    if (m > 0) ms.insert(m);
  }
  return {ms.begin(), ms.end()};
}

double lr_at_epoch(const TrainConfig& c, std::int64_t epoch) {
  double lr = c.lr;
  for (auto m : c.milestones)
    if (m < epoch) lr *= c.gamma;
  return lr;
}

namespace {

// Options that may change between the runs of one training (they do not change its numbers,
// or, for epochs, only extend it).
const std::set<std::string> kMutable = {"epochs", "save_every", "device", "data_dir", "out"};

// What two configurations of one run share: without the keys a resume may change, and without
// the schedule when the run began with --epochs 0 (it takes one when resumed:
// resolve_train_config).
nlohmann::json run_defining(const TrainConfig& c, bool schedule) {
  nlohmann::json j = c;
  for (auto& key : kMutable) j.erase(key);
  if (!schedule) j.erase("milestones");
  return j;
}

// The settings' values (not whether arch and out are given), named as the user gave them: the
// flags, or with `file` (a --config file's values) the file and its keys.
// `file`: where the values come from (none: flags); `from_file`: with a file, the keys it gave
// (null: all), the others are named as their flags.
void check_values(const TrainConfig& c, const std::string& file = "",
                  const std::set<std::string>* from_file = nullptr, bool across_keys = true) {
  const std::string in = file.empty() ? "" : file + ": ";
  auto in_file = [&](const char* key) { return !file.empty() && (!from_file || from_file->count(key)); };
  auto name = [&](const char* flag, const char* key) {
    return in_file(key) ? in + "\"" + key + "\"" : std::string(flag);
  };
  if (!c.arch.empty() && !is_zoo_name(c.arch)) {
    std::string names;
    for (auto& n : zoo_names()) names += (names.empty() ? "" : ", ") + n;
    throw InputError(in + "unknown architecture '" + c.arch + "' (the zoo has " + names + ")");
  }
  try {
    data_shape(c.dataset);  // throws for an unknown data set
  } catch (const InputError& e) {
    throw InputError(in + e.what());
  }
  if (c.batch_size < 1) throw InputError(name("--batch-size", "batch_size") + " must be at least 1");
  if (c.samples < 0) throw InputError(name("--samples", "samples") + " must not be negative");
  if (c.test_samples < 0) throw InputError(name("--test-samples", "test_samples") + " must not be negative");
  if (c.epochs < 0) throw InputError(name("--epochs", "epochs") + " must not be negative");
  if (c.save_every < 1) throw InputError(name("--save-every", "save_every") + " must be at least 1");
  if (!(c.lr > 0) || !std::isfinite(c.lr))
    throw InputError(name("--lr", "lr") + " must be a positive number");
  if (!(c.weight_decay >= 0) || !std::isfinite(c.weight_decay))
    throw InputError(name("--weight-decay", "weight_decay") + " must be a number >= 0");
  // (1 or more never decays the momentum buffer: the run diverges; PyTorch takes it silently)
  if (!(c.momentum >= 0) || !(c.momentum < 1))
    throw InputError(name("--momentum", "momentum") + " must be a number in [0, 1)");
  if (!(c.gamma > 0) || !std::isfinite(c.gamma))
    throw InputError(name("--gamma", "gamma") + " must be a positive number");
  if (c.optimizer != "sgd" && c.optimizer != "adam")
    throw InputError(in + "unknown optimizer '" + c.optimizer + "' (expected sgd or adam)");
  if (across_keys && c.optimizer == "sgd" && c.nesterov && c.momentum == 0)
    throw InputError(in_file("momentum") ? in + "Nesterov momentum needs \"momentum\" > 0"
                                         : "Nesterov momentum needs --momentum > 0 (or --no-nesterov)");
  for (auto m : c.milestones)
    if (m < 1) throw InputError(name("--milestones", "milestones") + " must be epochs >= 1");
}

void validate(const TrainConfig& c) {
  if (c.arch.empty()) throw UsageError("train: no architecture given (--arch NAME; see info --list-archs)");
  if (c.out.empty()) throw InputError("train: no run folder given (--out DIR)");
  check_values(c);
}

}  // namespace

void check_train_config_file(const nlohmann::json& file_values, const nlohmann::json& given,
                             const std::string& file, const std::set<std::string>& from_file) {
  auto resolved = [](const nlohmann::json& j) {
    TrainConfig c = j.get<TrainConfig>();
    if (!j.contains("lr") && c.optimizer == "adam") c.lr = 0.001;  // as resolve_train_config
    return c;
  };
  // Each of the file's values, even one a flag replaces (the file is wrong all the same); then
  // the values that depend on each other, as the flags leave them.
  check_values(resolved(file_values), file, nullptr, /*across_keys=*/false);
  const TrainConfig c = resolved(given);
  check_values(c, file, &from_file);
  // As the flags are refused for Adam (a stored configuration records SGD's defaults: those pass)
  const TrainConfig plain;
  const char* key = c.momentum != plain.momentum ? "momentum" : "nesterov";
  if (c.optimizer == "adam" && (c.momentum != plain.momentum || c.nesterov != plain.nesterov) &&
      from_file.count(key))
    throw InputError(file + ": \"" + key + "\" is for SGD only, not for " +
                     (from_file.count("optimizer") ? "\"optimizer\": \"adam\"" : "--optimizer adam"));
}

TrainConfig stored_train_config(const nlohmann::json& config, const std::string& path) {
  // losscape train records every key; `arch` is the one no run can lack.
  if (!config.is_object() || !config.contains("arch") || !config["arch"].is_string() ||
      config["arch"].get<std::string>().empty())
    throw InputError(path + ": holds no training configuration (its config attribute is " +
                     (shown_json(config).size() > 80 ? shown_json(config).substr(0, 77) + "..." : shown_json(config)) +
                     "; a checkpoint written by losscape train records one), so its run cannot be "
                     "resumed: start a new run from it instead");
  // Every key it records, and no other: a key missing was filled with its default in silence
  // (a 2-epoch run of 300 samples went on as 300 epochs of the whole set), one unknown ignored.
  const nlohmann::json recorded = TrainConfig{};
  for (auto& [k, v] : recorded.items())
    if (!config.contains(k) || config[k].is_null())
      throw InputError(path + ": its training configuration lacks \"" + k +
                       "\" (a damaged or edited checkpoint): not resuming from it");
  for (auto& [k, v] : config.items())
    if (!recorded.contains(k))
      throw InputError(path + ": its training configuration has an unknown key " + shown_json(k) +
                       " (a damaged or edited checkpoint): not resuming from it");
  TrainConfig c;
  try {
    c = config.get<TrainConfig>();
  } catch (const std::exception& e) {
    throw InputError(path + ": its training configuration is damaged (" + e.what() +
                     "): not resuming from it");
  }
  // Its values as a --config file's, named by the file (a value edited by hand was reported as
  // a flag the user never gave: "--lr must be a positive number").
  check_values(c, path + ": config");
  return c;
}

std::string run_difference(const nlohmann::json& first, const nlohmann::json& later) {
  std::optional<TrainConfig> a, b;
  try {
    a = stored_train_config(first, "");
    b = stored_train_config(later, "");
  } catch (const Error&) {
    return "";
  }
  // (a run begun with --epochs 0 takes its schedule when resumed: milestones compared only
  // between two checkpoints that both have one)
  const bool schedule = a->epochs != 0 && b->epochs != 0;
  const nlohmann::json f = run_defining(*a, schedule), l = run_defining(*b, schedule);
  std::vector<std::string> keys = {"arch", "dataset"};  // (the telling ones first)
  for (auto it = l.begin(); it != l.end(); ++it) keys.push_back(it.key());
  for (const auto& key : keys)
    if (l.contains(key) && (!f.contains(key) || f.at(key) != l.at(key)))
      return key + " " + shown_json(l.at(key)) + ", not " + shown_json(f.value(key, nlohmann::json()));
  return "";
}

TrainConfig resolve_train_config(const nlohmann::json& given_as_is,
                                 const std::optional<TrainConfig>& stored, const std::string& config_file,
                                 const std::set<std::string>& from_file) {
  // Milestones are kept in order: the same list given in another order is the same schedule.
  nlohmann::json given = given_as_is;
  if (given.contains("milestones") && given["milestones"].is_array()) {
    auto ms = given["milestones"];
    std::sort(ms.begin(), ms.end());
    given["milestones"] = ms;
  }
  if (stored) {
    nlohmann::json s = *stored;
    // A run started with --epochs 0 (its initial checkpoint alone) has used no schedule yet: it
    // takes one when it is resumed, --milestones or else the default for the new --epochs (kept
    // as it was, no schedule, the learning rate would never decay).
    if (stored->epochs == 0) {
      if (given.contains("milestones"))
        s["milestones"] = given["milestones"];
      else if (stored->milestones.empty() && given.contains("epochs") &&
               given["epochs"].is_number_integer())
        s["milestones"] = default_milestones(given["epochs"].get<std::int64_t>());
    }
    // As the flag is written (--no-nesterov for nesterov false), or as the file's key.
    auto given_as = [&](const std::string& key) {
      const auto& a = given.at(key);
      const std::string flag = std::regex_replace(key, std::regex("_"), "-");
      return from_file.count(key) ? config_file + ": \"" + key + "\" " + shown_json(a)
             : a.is_boolean()     ? (a.get<bool>() ? "--" + flag : "--no-" + flag)
                                  : "--" + flag + " " + shown_json(a);
    };
    auto differs = [&](const std::string& key) {
      if (kMutable.count(key) || !s.contains(key)) return false;
      const auto& a = given.at(key);
      const auto& b = s.at(key);
      bool same = a == b;
      // (0.05 given as 5e-2 or 0 as 0.0 is the same; two integers are compared exactly: seeds
      // above 2^53 differ where their doubles agree)
      if (!same && a.is_number() && b.is_number() && (a.is_number_float() || b.is_number_float()))
        same = a.get<double>() == b.get<double>();
      return !same;
    };
    auto check_same = [&](const std::string& key) {
      if (differs(key))
        throw InputError(given_as(key) + " differs from the run being resumed (" + key + " " +
                         shown_json(s.at(key)) + " in " + stored->out + "); a resumed run keeps its configuration");
    };
    // The optimizer first; then SGD's options given for an Adam run are named as such (they were
    // compared with the SGD defaults an Adam run records unused: "nesterov true in RUN"). The
    // recorded values themselves, as a checkpoint's config given back with --config, pass.
    if (given.contains("optimizer")) check_same("optimizer");
    if (stored->optimizer == "adam")
      for (const char* key : {"momentum", "nesterov"})
        if (given.contains(key) && differs(key))
          throw InputError(given_as(key) + " is for SGD only: " + stored->out + " is a run of --optimizer adam");
    for (auto it = given.begin(); it != given.end(); ++it) check_same(it.key());
    for (auto& key : kMutable)
      if (given.contains(key)) s[key] = given.at(key);
    TrainConfig c = s.get<TrainConfig>();
    validate(c);
    return c;
  }
  TrainConfig c = given.get<TrainConfig>();
  if (!given.contains("lr") && c.optimizer == "adam") c.lr = 0.001;
  if (!given.contains("milestones")) c.milestones = default_milestones(c.epochs);  // (sorted)
  validate(c);
  return c;
}

// ---------------------------------------------------------------- run folder

namespace {
// The files of `dir` named as `re` says, whose first group is the epoch, in epoch order; two of
// one epoch (model_2.h5 and model_02.h5) are refused: a trajectory would count it twice.
std::vector<RunCheckpoint> numbered_files(const std::string& dir, const std::regex& re) {
  std::vector<RunCheckpoint> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  // (a folder that cannot be listed, as another user's: it was a raw "filesystem error")
  fs::directory_iterator entries(dir, ec);
  if (ec) throw InputError(dir + ": cannot be read (" + ec.message() + ")");
  for (auto& e : entries) {
    std::smatch m;
    std::string name = e.path().filename().string();
    if (!std::regex_match(name, m, re)) continue;
    // Named as a checkpoint but none (a link to a file since removed, a folder): refused, as it
    // was skipped without a word (the run's newest one: the previous epoch taken for θ*).
    if (!e.is_regular_file()) {
      std::error_code lec;
      const bool dangling = e.is_symlink() && !fs::exists(e.path(), lec);
      throw InputError(e.path().string() + ": " +
                       (dangling ? "a link to " + fs::read_symlink(e.path(), lec).string() +
                                       ", which does not exist"
                                 : std::string("not a regular file")) +
                       " (named as a checkpoint of the run: remove or rename it)");
    }
    out.push_back({epoch_in_name(m[1].str(), e.path().string()), e.path().string()});
  }
  std::sort(out.begin(), out.end(),
            [](const RunCheckpoint& a, const RunCheckpoint& b) { return a.epoch < b.epoch; });
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i].epoch == out[i - 1].epoch)
      throw InputError(dir + ": two checkpoints of epoch " + std::to_string(out[i].epoch) + " (" +
                       out[i - 1].path + ", " + out[i].path + ")");
  return out;
}
// A run of the Python reference (or of any PyTorch script saving the same way):
// model_<epoch>.t7 (or .pt / .pth) written by torch.save.
std::vector<RunCheckpoint> torch_save_checkpoints(const std::string& run_dir) {
  static const std::regex re(R"(model_(\d+)\.(t7|pt|pth))");
  return numbered_files(run_dir, re);
}
}  // namespace

std::vector<RunCheckpoint> run_checkpoints(const std::string& run_dir) {
  static const std::regex re(R"(model_(\d+)\.h5)");
  return numbered_files(run_dir, re);
}

std::vector<std::string> checkpoint_files(const std::string& run_dir) {
  if (!fs::is_directory(run_dir)) throw InputError(run_dir + ": no such run folder");
  auto found = run_checkpoints(run_dir);
  if (!found.empty()) {
    const auto others = torch_save_checkpoints(run_dir);
    if (!others.empty())
      std::fprintf(stderr,
                   "losscape: warning: %s holds both losscape checkpoints (model_<epoch>.h5, %zu) "
                   "and torch.save files (model_<epoch>.t7/.pt/.pth, %zu, e.g. %s); using the "
                   "losscape ones (move the others to a folder of their own to use them)\n",
                   run_dir.c_str(), found.size(), others.size(), others.front().path.c_str());
  } else {
    found = torch_save_checkpoints(run_dir);
  }
  if (found.empty())
    throw InputError(run_dir + ": holds no checkpoints model_<epoch>.h5 (losscape train) or "
                               "model_<epoch>.t7/.pt/.pth (torch.save)");
  std::vector<std::string> out;
  for (auto& c : found) out.push_back(c.path);
  return out;
}

std::int64_t epoch_in_name(const std::string& digits, const std::string& path) {
  try {
    return std::stoll(digits);
  } catch (const std::exception&) {
    throw InputError(path + ": the epoch in its name is out of range");
  }
}

std::string checkpoint_path(const std::string& run_dir, std::int64_t epoch) {
  return (fs::path(run_dir) / ("model_" + std::to_string(epoch) + ".h5")).string();
}

// ---------------------------------------------------------------- optimizer

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& c,
                                                        const std::vector<torch::Tensor>& params) {
  if (c.optimizer == "adam")
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(c.lr).weight_decay(c.weight_decay));
  return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(c.lr)
                                                         .momentum(c.momentum)
                                                         .nesterov(c.nesterov)
                                                         .weight_decay(c.weight_decay));
}

namespace {

// Whether the epoch loop trains on a batch of `len` samples: a batch of one is skipped where the
// network cannot train on one sample (`single`: see trains_on_one_sample).
bool trained_batch(std::int64_t len, bool single) { return len >= 2 || single; }

// Whether `arch` can train on a batch of one sample: not where a batch normalization would see a
// single value per channel (VGG-9's BatchNorm1d, or a 1×1 feature map), which PyTorch refuses.
// Asked of a throwaway network (before the run's seed is set), one sample of the data.
bool trains_on_one_sample(const TrainConfig& c, const torch::Tensor& one, const torch::Device& dev) {
  auto probe = make_zoo(c.arch, c.dataset);
  probe->to(dev);
  probe->train(true);
  torch::NoGradGuard no_grad;
  try {
    probe->forward(one);
    return true;
  } catch (const c10::Error& e) {
    if (std::string(e.what()).find("value per channel") == std::string::npos) throw;
    return false;
  }
}

// LibTorch keys an optimizer's per-parameter state by the parameter's TensorImpl address: as a
// string up to LibTorch 2.x's change to the address itself (void*). Either key type works here.
using StateKey =
    std::decay_t<decltype(std::declval<const torch::optim::Optimizer&>().state())>::key_type;
template <typename Key>
Key state_key_as(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}
StateKey state_key(const torch::Tensor& p) { return state_key_as<StateKey>(p); }
}  // namespace

TensorList optimizer_state(const torch::optim::Optimizer& opt, const TensorList& params) {
  TensorList out;
  const auto& st = opt.state();
  for (auto& p : params) {
    auto it = st.find(state_key(p.tensor));
    if (it == st.end()) continue;
    if (auto* s = dynamic_cast<const torch::optim::SGDParamState*>(it->second.get())) {
      if (s->momentum_buffer().defined())
        out.push_back({"momentum_buffer." + p.name, s->momentum_buffer().detach().cpu()});
    } else if (auto* a = dynamic_cast<const torch::optim::AdamParamState*>(it->second.get())) {
      out.push_back({"step." + p.name, torch::tensor(a->step(), torch::kInt64)});
      out.push_back({"exp_avg." + p.name, a->exp_avg().detach().cpu()});
      out.push_back({"exp_avg_sq." + p.name, a->exp_avg_sq().detach().cpu()});
      if (a->max_exp_avg_sq().defined())
        out.push_back({"max_exp_avg_sq." + p.name, a->max_exp_avg_sq().detach().cpu()});
    } else {
      throw Error("optimizer_state: unsupported optimizer state");
    }
  }
  return out;
}

void load_optimizer_state(torch::optim::Optimizer& opt, const TensorList& params,
                          const TensorList& saved, const std::string& what) {
  std::map<std::string, torch::Tensor> by;
  for (auto& s : saved) by[s.name] = s.tensor;
  std::set<std::string> used;
  const bool adam = dynamic_cast<torch::optim::Adam*>(&opt) != nullptr;
  auto& st = opt.state();
  st.clear();
  auto take = [&](const std::string& key, const torch::Tensor& like) -> torch::Tensor {
    auto it = by.find(key);
    if (it == by.end()) return {};
    used.insert(key);
    if (it->second.sizes() != like.sizes())
      throw FormatError(what + ": optimizer entry " + key + " has the wrong shape");
    return it->second.to(like.device(), like.scalar_type()).clone();
  };
  for (auto& p : params) {
    if (adam) {
      auto step = by.find("step." + p.name);
      if (step == by.end()) continue;
      used.insert(step->first);
      auto s = std::make_unique<torch::optim::AdamParamState>();
      s->step(step->second.item<std::int64_t>());
      s->exp_avg(take("exp_avg." + p.name, p.tensor));
      s->exp_avg_sq(take("exp_avg_sq." + p.name, p.tensor));
      auto mx = take("max_exp_avg_sq." + p.name, p.tensor);
      if (mx.defined()) s->max_exp_avg_sq(mx);
      if (!s->exp_avg().defined() || !s->exp_avg_sq().defined())
        throw FormatError(what + ": optimizer state of " + p.name + " is incomplete");
      st[state_key(p.tensor)] = std::move(s);
    } else {
      auto buf = take("momentum_buffer." + p.name, p.tensor);
      if (!buf.defined()) continue;
      auto s = std::make_unique<torch::optim::SGDParamState>();
      s->momentum_buffer(buf);
      st[state_key(p.tensor)] = std::move(s);
    }
  }
  for (auto& s : saved)
    if (!used.count(s.name))
      throw FormatError(what + ": optimizer entry " + s.name + " matches no parameter of a " +
                        (adam ? "adam" : "sgd") + " run");
}

// ---------------------------------------------------------------- data order and augmentation

namespace {
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

EpochRandom epoch_random(std::uint64_t seed, std::int64_t epoch, std::int64_t n, int pad) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(
      splitmix64(splitmix64(seed) ^ std::uint64_t(epoch)));
  EpochRandom r;
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  r.order = torch::randperm(n, gen, i64);
  r.dy = torch::randint(0, 2 * pad + 1, {n}, gen, i64);
  r.dx = torch::randint(0, 2 * pad + 1, {n}, gen, i64);
  r.flip = torch::randint(0, 2, {n}, gen, i64).to(torch::kBool);
  return r;
}

torch::Tensor crop_flip(const torch::Tensor& batch, const torch::Tensor& dy, const torch::Tensor& dx,
                        const torch::Tensor& flip, int pad, const torch::Tensor& pad_value) {
  const auto B = batch.size(0), C = batch.size(1), H = batch.size(2), W = batch.size(3);
  const auto Hp = H + 2 * pad, Wp = W + 2 * pad;
  // Pad with the normalized value of a black pixel (torchvision pads the raw image with 0).
  auto padded = pad_value.to(batch.options()).view({1, C, 1, 1}).expand({B, C, Hp, Wp}).contiguous();
  padded.narrow(2, pad, H).narrow(3, pad, W).copy_(batch);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(batch.device());
  auto h = torch::arange(H, i64), w = torch::arange(W, i64);
  auto rows = dy.view({B, 1}) + h.view({1, H});                            // [B, H]
  auto cols = dx.view({B, 1}) + torch::where(flip.view({B, 1}), (W - 1) - w, w).view({B, W});
  auto idx = (rows.view({B, H, 1}) * Wp + cols.view({B, 1, W})).view({B, 1, H * W});
  return padded.view({B, C, Hp * Wp}).gather(2, idx.expand({B, C, H * W})).view({B, C, H, W});
}

// ---------------------------------------------------------------- training loop

nlohmann::json EpochRecord::to_json() const {
  return {{"epoch", epoch},           {"lr", lr},
          {"train_loss", train_loss}, {"train_acc", train_acc},
          {"test_loss", test_loss},   {"test_acc", test_acc},
          {"fit_loss", fit_loss},     {"fit_acc", fit_acc},
          {"seconds", seconds}};
}

namespace {

constexpr int kPad = 4;

// Keep the log lines of epochs up to `epoch` (those a resume does not replay). A torn last line
// (a killed run's) goes; a damaged line before it is kept as it is, and it and epochs with no
// line are noted (they were dropped, or left as a gap, in silence).
void truncate_log(const fs::path& log, std::int64_t epoch) {
  std::vector<std::string> keep;
  std::vector<std::int64_t> damaged;  // line numbers
  std::set<std::int64_t> epochs;
  {
    std::error_code ec;
    const bool there = fs::exists(log, ec);
    if (there && !fs::is_regular_file(log, ec))
      throw InputError(log.string() + ": is not a file (the run's training log); not resumed");
    std::ifstream in(log);
    if (there && !in)
      throw InputError(log.string() + ": cannot read the training log (" + std::strerror(errno) +
                       "); not resumed");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad())
      throw InputError(log.string() + ": cannot read the training log; not resumed");
    std::istringstream lines(text);
    std::string line;
    std::int64_t number = 0;
    while (std::getline(lines, line)) {
      ++number;
      const bool torn = lines.eof() && !text.empty() && text.back() != '\n';  // (no newline: cut off)
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object() || !j.contains("epoch") || !j["epoch"].is_number_integer()) {
        if (torn || line.empty()) continue;
        damaged.push_back(number);
        keep.push_back(line);
        continue;
      }
      const auto e = j["epoch"].get<std::int64_t>();
      if (e <= epoch) keep.push_back(line), epochs.insert(e);
    }
  }
  std::string missing;
  for (std::int64_t e = 0, shown = 0; e <= epoch; ++e)
    if (!epochs.count(e) && shown++ < 5) missing += (missing.empty() ? "" : ", ") + std::to_string(e);
  if (!damaged.empty())
    std::fprintf(stderr, "losscape: note: %s: line %lld%s is not a log entry (damaged?): kept as it is\n",
                 log.string().c_str(), static_cast<long long>(damaged.front()),
                 damaged.size() > 1 ? (" and " + std::to_string(damaged.size() - 1) + " more").c_str() : "");
  if (!missing.empty())
    std::fprintf(stderr, "losscape: note: %s has no line for epoch %s of the run resumed\n",
                 log.string().c_str(), missing.c_str());
  // Whole or not at all: a full disk must not leave a short log where the run's was.
  h5::write_whole(log.string(), ".tmp", [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::trunc);
    for (auto& l : keep) out << l << "\n";
    out.close();  // (the buffer reaches the file here: its errors too)
    if (!out) throw InputError(log.string() + ": cannot write the training log (" + tmp + ")");
  });
}

void append_log(const fs::path& log, const nlohmann::json& j) {
  std::ofstream out(log, std::ios::app);
  out << j.dump() << "\n";
  out.close();  // (a line stays in the stream's buffer until here: a full disk shows here)
  if (!out) {
    const int e = errno;
    throw InputError(log.string() + ": cannot write the training log (" + std::strerror(e) + ")" +
                     space_note(log.string()));
  }
}

class ProgressBar {
 public:
  explicit ProgressBar(bool on) : on_(on) {}
  void show(std::int64_t epoch, std::int64_t done, std::int64_t total,
            const std::function<double()>& loss) {
    if (!on_) return;
    auto now = std::chrono::steady_clock::now();
    if (done < total && std::chrono::duration<double>(now - last_).count() < 0.25) return;
    last_ = now;
    const int width = 30;
    int fill = int(double(width) * double(done) / double(std::max<std::int64_t>(total, 1)));
    std::string bar(std::size_t(fill), '=');
    if (fill < width) bar += '>' + std::string(std::size_t(width - fill - 1), ' ');
    std::printf("\r  epoch %lld [%s] %lld/%lld  loss %.4f", static_cast<long long>(epoch),
                bar.c_str(), static_cast<long long>(done), static_cast<long long>(total), loss());
    std::fflush(stdout);
  }
  void clear() {
    if (!on_) return;
    std::printf("\r%*s\r", 79, "");
    std::fflush(stdout);
  }

 private:
  bool on_;
  std::chrono::steady_clock::time_point last_{};
};

// A run folder that does not exist can be made: its nearest existing ancestor is a writable
// folder (else InputError naming it).
void check_can_make(const fs::path& dir, const std::string& out) {
  fs::path up = fs::absolute(dir).parent_path();
  while (!up.empty() && !fs::exists(up) && up != up.root_path()) up = up.parent_path();
  if (!fs::is_directory(up))
    throw InputError(out + ": the run folder cannot be made (" + up.string() + " is not a folder)");
  if (::access(up.c_str(), W_OK) != 0)
    throw InputError(out + ": the run folder cannot be made in " + up.string() + " (" +
                     std::strerror(errno) + ")");
}

// One writer per run folder, as per surface file: a second `train` on the same --out (another
// seed, a --resume of a run still going) would mix its checkpoints and log lines into the
// first's. The lock file is the folder's name + ".lock", beside it (the folders above are made
// first where needed: a lock needs its folder), or train.lock inside an existing run folder
// whose parent cannot be written to (`--out .` in a folder of its own).
// The folders it makes above the run folder are added to `made_above`, deepest first.
// The run folder `out` as an absolute path, its name checked: its lock's takeover mutex,
// NAME.lock.takeover, must be a file name too (a longer name could be locked once, but a stale
// lock of it never taken over). A dry run checks it as well.
fs::path checked_run_folder(const std::string& out) {
  fs::path dir = fs::absolute(out).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();  // (a trailing '/')
  constexpr std::size_t kMaxRunName = 255 - std::char_traits<char>::length(".lock.takeover");
  if (const std::size_t n = dir.filename().string().size(); n > kMaxRunName)
    throw InputError("--out " + out + ": a run folder name of " + std::to_string(n) +
                     " characters; at most " + std::to_string(kMaxRunName) +
                     " (its lock file's takeover mutex, NAME.lock.takeover, must fit in a file "
                     "name's 255)");
  return dir;
}

// The first tensor of a model's state, else of its optimizer's ("optimizer state NAME"), that
// holds NaN or infinite values; "" when none (a resume's checkpoint, an epoch just trained).
std::string non_finite_state(const TensorList& state, const TensorList& optimizer) {
  if (std::string bad = non_finite_tensor(state); !bad.empty()) return bad;
  if (std::string bad = non_finite_tensor(optimizer); !bad.empty()) return "optimizer state " + bad;
  return "";
}

std::unique_ptr<FileLock> lock_run_folder(const std::string& out, std::vector<fs::path>& made_above) {
  const fs::path dir = checked_run_folder(out);
  if (fs::is_directory(dir) && ::access(dir.parent_path().c_str(), W_OK) != 0)
    return std::make_unique<FileLock>((dir / "train").string());
  if (!fs::is_directory(dir.parent_path())) {
    check_can_make(dir, out);
    std::error_code made;
    for (fs::path up = dir.parent_path(); !up.empty() && up != up.root_path() && !fs::exists(up, made);
         up = up.parent_path())
      made_above.push_back(up);
    fs::create_directories(dir.parent_path(), made);
    if (made)
      throw InputError(out + ": cannot make the folders above the run folder (" + made.message() + ")");
  }
  try {
    return std::make_unique<FileLock>(dir.string());
  } catch (const InputError& e) {
    // (a new folder where nothing can be made, e.g. in /proc, whose parent looks writable)
    if (fs::exists(dir) || FileLock::held(dir.string())) throw;
    throw InputError(out + ": cannot make the run folder (" + e.what() + ")");
  }
}

}  // namespace

std::string normal_run_folder(const std::string& out) {
  if (out.empty()) return out;
  fs::path p = fs::path(out).lexically_normal();
  if (p.filename().empty() && p.has_relative_path()) p = p.parent_path();  // (a trailing '/')
  return p.empty() ? std::string(".") : p.string();
}

TrainResult train(const TrainConfig& cfg_in, const TrainOptions& opts) {
  TrainConfig cfg = cfg_in;
  cfg.out = normal_run_folder(cfg.out);
  validate(cfg);
  const fs::path dir(cfg.out);
  // The folders made above the run folder for its lock go again if the run stops on bad input
  // before it writes anything (they are then empty; the lock, declared after, is gone first).
  struct MadeAbove {
    std::vector<fs::path> dirs;
    ~MadeAbove() {
      std::error_code ec;
      for (auto& d : dirs) fs::remove(d, ec);  // (an rmdir: a folder holding anything stays)
    }
  } made_above;
  std::unique_ptr<FileLock> lock;
  if (!opts.dry_run) lock = lock_run_folder(cfg.out, made_above.dirs);
  else {
    // (the name a run would refuse, and a run that writes the folder now: the dry run said
    // "would be resumed" where the run itself is refused. A look at the lock, which is only
    // taken, and then let go, when held: the constructor's error names the holder.)
    const fs::path d = checked_run_folder(cfg.out);
    for (const fs::path& target : {d, d / "train"})
      if (FileLock::held(target.string())) FileLock taken(target.string());
  }
  auto existing = run_checkpoints(cfg.out);
  // A folder of torch.save checkpoints (a run of the reference) is another run too: a new one
  // in it would interleave two trajectories, which directions --pca and project then mix.
  if (existing.empty())
    if (const auto others = torch_save_checkpoints(cfg.out); !others.empty())
      throw InputError(cfg.out + " holds a run of torch.save checkpoints (" +
                       fs::path(others.front().path).filename().string() + " .. " +
                       fs::path(others.back().path).filename().string() + ")" +
                       (opts.resume ? ", which losscape train cannot resume" : "") +
                       "; choose another --out");

  // Refuse to touch another run unless resuming it; resume from the newest checkpoint.
  std::optional<Checkpoint> resume_from;
  std::string resume_path;
  std::string schedule_note;  // (said once the run is known to go on, with the other notes)
  if (!existing.empty()) {
    if (!opts.resume)
      throw InputError(cfg.out + " already holds a training run (" +
                       fs::path(existing.front().path).filename().string() +
                       (existing.size() > 1 ? " .. " + fs::path(existing.back().path).filename().string() : "") +
                       "); use --resume to continue it, or choose another --out");
    resume_path = existing.back().path;
    resume_from = read_checkpoint(resume_path);
    // The file's name and its recorded epoch must agree: resuming from a copied or damaged file
    // whose epoch is smaller would write over the run's finished checkpoints and log.
    if (resume_from->meta.epoch != existing.back().epoch)
      throw FormatError(resume_path + ": records epoch " + std::to_string(resume_from->meta.epoch) +
                        " but is named for epoch " + std::to_string(existing.back().epoch) +
                        " (a copied or damaged checkpoint): not resuming from it");
    // NaN weights or momentum (a diverged epoch, a damaged file) make every later epoch NaN:
    // the run went on, its log's losses null and its checkpoints NaN, without a word.
    if (const std::string bad = non_finite_state(resume_from->state, resume_from->optimizer); !bad.empty())
      throw FormatError(resume_path + ": " + bad +
                        " holds NaN or infinite values (a diverged epoch or a damaged "
                        "checkpoint): not resuming from it");
    TrainConfig stored = stored_train_config(resume_from->meta.config, resume_path);
    const nlohmann::json a = run_defining(cfg, stored.epochs != 0), b = run_defining(stored, stored.epochs != 0);
    if (a != b)
      throw InputError(resume_path + ": holds a run with another configuration (" + shown_json(b) +
                       "), not " + shown_json(a));
    // The first checkpoint's run must be this one: a checkpoint copied in from another run (of
    // another network: the run went on as that one, its log and first checkpoints another's) is
    // named. (A first checkpoint that cannot be read does not stop a resume from the newest.)
    if (existing.size() > 1) {
      const std::string& first = existing.front().path;
      nlohmann::json first_config;
      try {
        first_config = read_checkpoint_meta(first).config;
      } catch (const Error&) {
      }
      if (const std::string diff = run_difference(first_config, resume_from->meta.config); !diff.empty())
        throw FormatError(resume_path + ": is of another run than " + first + " (" + diff +
                          "): the run folder mixes two runs (a checkpoint copied in?); not resuming from it");
    }
    // A run extended with a larger --epochs keeps its schedule: one started with the default
    // milestones of its old --epochs (a short trial run: --epochs 1 gives [1]) decays early and
    // never again, unlike a run of the new length. Legal (the schedule is part of the run), said.
    if (stored.epochs > 0 && cfg.epochs > stored.epochs &&
        stored.milestones == default_milestones(stored.epochs) &&
        cfg.milestones != default_milestones(cfg.epochs)) {
      auto list = [](const std::vector<std::int64_t>& v) {
        std::string text;
        for (auto m : v) text += (text.empty() ? "" : ",") + std::to_string(m);
        return text;
      };
      schedule_note = cfg.out + " keeps its milestones " + list(cfg.milestones) +
                      " (the default for its --epochs " + std::to_string(stored.epochs) + "), not --epochs " +
                      std::to_string(cfg.epochs) + "'s " + list(default_milestones(cfg.epochs)) +
                      ": a resumed run keeps its schedule";
    }
  }

  // Everything that can fail on bad input happens before the folder is written to. (the log
  // here too: checked at its first write, its error came after the run's header and notes)
  if (std::error_code ec; fs::is_directory(dir / "log.jsonl", ec))
    throw InputError((dir / "log.jsonl").string() + ": is not a file (the run's training log)" +
                     (resume_from ? "; not resumed" : "; remove it"));
  if (fs::exists(dir) && !fs::is_directory(dir))
    throw InputError(cfg.out + ": exists and is not a folder (the run folder of --out)");
  if (!fs::exists(dir)) check_can_make(dir, cfg.out);
  torch::Device dev = select_device(cfg.device, 0);
  DataSpec train_spec;
  train_spec.dataset = cfg.dataset;
  train_spec.data_dir = cfg.data_dir;
  train_spec.split = "train";
  train_spec.samples = cfg.samples;
  train_spec.subset_seed = cfg.subset_seed;
  train_spec.fingerprint = true;  // (recorded in the checkpoints; a resume must train on the same)
  DataSpec test_spec = train_spec;
  test_spec.split = "test";
  test_spec.samples = cfg.test_samples;
  test_spec.samples_option = "--test-samples";
  DataSplit train_data = load_split(train_spec, dev);
  DataSplit test_data = load_split(test_spec, dev);
  // A resume on other data (--data-dir is not part of the run: the data may move) went on
  // silently, one run trained on two data sets. Compared where the checkpoint records it.
  if (resume_from)
    for (const auto& [split, recorded, now] :
         {std::tuple{"train", resume_from->meta.train_data_fingerprint, train_data.fingerprint},
          std::tuple{"test", resume_from->meta.test_data_fingerprint, test_data.fingerprint}})
      if (!recorded.empty() && recorded != now)
        throw InputError(resume_path + ": was trained on another " + cfg.dataset + " " + split + " split (" +
                         recorded + ") than the one in " + (cfg.data_dir.empty() ? "the default data folder" : cfg.data_dir) +
                         " (" + now + "); a resumed run keeps its data");

  // One-sample batches: every one with --batch-size 1, the last of an epoch when B divides N - 1.
  const std::int64_t n = train_data.size(), bs = cfg.batch_size;
  bool single = true;
  if (bs == 1 || n % bs == 1) single = trains_on_one_sample(cfg, train_data.images.narrow(0, 0, 1), dev);
  if (!single && (bs == 1 || n == 1))
    throw InputError((bs == 1 ? std::string("--batch-size 1") : std::string("--samples 1")) + ": " +
                     cfg.arch + " cannot train on batches of one sample (a batch normalization "
                     "would see one value per channel); use 2 or more");

  torch::manual_seed(cfg.seed);  // the reference initialization draws from the global generator
  auto model = make_zoo(cfg.arch, cfg.dataset);  // reference_init applied by the zoo
  std::int64_t start = 0;
  if (resume_from) {
    load_state(*model, resume_from->state, resume_path);
    start = resume_from->meta.epoch;
  }
  model->to(dev);
  const TensorList params = model->parameters();
  std::vector<torch::Tensor> ptensors;
  for (auto& p : params) ptensors.push_back(p.tensor);
  auto opt = make_optimizer(cfg, ptensors);
  if (resume_from) {
    // After a first epoch an optimizer with state (Adam, SGD with momentum) has some for every
    // parameter: a checkpoint without any (its /optimizer group deleted, or written by another
    // tool) would silently restart the momentum from zero, a run unlike the one resumed.
    const bool has_state = cfg.optimizer == "adam" || cfg.momentum != 0;
    if (start > 0 && has_state && resume_from->optimizer.empty())
      throw FormatError(resume_path + ": no optimizer state (/optimizer) in a checkpoint of epoch " +
                        std::to_string(start) + " of an " + cfg.optimizer +
                        (cfg.optimizer == "sgd" ? " run with momentum" : " run") +
                        ": resumed, its momentum would restart from zero");
    load_optimizer_state(*opt, params, resume_from->optimizer, resume_path);
  }
  resume_from.reset();

  auto [mean, stdv] = normalization(cfg.dataset);
  std::vector<float> padv;
  for (std::size_t c = 0; c < mean.size(); ++c)
    padv.push_back((0.0f - float(mean[c])) / float(stdv[c]));  // as load_split normalizes 0
  const torch::Tensor pad_value = torch::tensor(padv, torch::kFloat32).to(dev);

  EvalOptions eo;
  eo.batch_size = dev.is_cuda() ? 1024 : 256;
  // A second stop signal during an epoch's measurement (over a large test set it takes long)
  // gives the epoch up at the next batch, as during its training: the job must go now.
  struct SecondSignal {};
  if (opts.stop_on_signal)
    eo.between_batches = [] {
      if (stop_signal_count() >= 2) throw SecondSignal{};
    };
  const fs::path log = dir / "log.jsonl";
  const nlohmann::json cfg_json = cfg;

  auto save = [&](std::int64_t epoch, const EpochRecord& r) {
    Checkpoint ck;
    ck.meta = meta_for(*model, cfg.dataset);
    ck.meta.epoch = epoch;
    ck.meta.train_loss = r.train_loss;
    ck.meta.train_acc = r.train_acc;
    ck.meta.test_loss = r.test_loss;
    ck.meta.test_acc = r.test_acc;
    ck.meta.config = cfg_json;
    ck.meta.train_data_fingerprint = train_data.fingerprint;
    ck.meta.test_data_fingerprint = test_data.fingerprint;
    ck.state = model->state();
    ck.optimizer = optimizer_state(*opt, params);
    auto path = checkpoint_path(cfg.out, epoch);
    save_checkpoint(path, ck);
    return path;
  };
  auto measure = [&](EpochRecord& r) {
    auto tr = evaluate(*model, train_data, eo);
    auto te = evaluate(*model, test_data, eo);
    r.train_loss = tr.loss();
    r.train_acc = tr.accuracy();
    r.test_loss = te.loss();
    r.test_acc = te.accuracy();
  };
  auto print = [&](const EpochRecord& r) {
    if (opts.quiet) return;
    std::printf("epoch %4lld/%lld  lr %.4g  train loss %.4f acc %6.2f %%  test loss %.4f acc "
                "%6.2f %%  %.1f s\n",
                static_cast<long long>(r.epoch), static_cast<long long>(cfg.epochs), r.lr,
                r.train_loss, r.train_acc, r.test_loss, r.test_acc, r.seconds);
    std::fflush(stdout);
  };

  TrainResult result;
  auto given_up = [&](std::int64_t epoch) {
    if (!opts.quiet)
      std::printf("stopped by a second signal during epoch %lld, which is given up; run again "
                  "with --resume to continue from the newest checkpoint\n",
                  static_cast<long long>(epoch));
    result.stopped = true;
  };
  result.start_epoch = start;
  result.last_epoch = start;
  if (!schedule_note.empty() && start < cfg.epochs)
    std::fprintf(stderr, "losscape: note: %s\n", schedule_note.c_str());
  // (a large-batch recipe, 8192, on a subset smaller than that: legal, but not what it says)
  if (bs > n && start < cfg.epochs)
    std::fprintf(stderr,
                 "losscape: note: --batch-size %lld is more than the %lld training samples: every "
                 "step is one full batch of %lld, one step per epoch\n",
                 static_cast<long long>(bs), static_cast<long long>(n), static_cast<long long>(n));
  // (legal: a later --resume --epochs may reach them; said, since a typo looks the same. The
  // rate drops after a milestone's epoch, so one at --epochs has no effect either; the default
  // schedule has one there for a few epochs, on purpose (round(epochs * 11/12)), and is not noted.)
  // Every such milestone in one note, without a flag's name: they can come from a --config
  // file or the run resumed.
  if (start < cfg.epochs && cfg.milestones != default_milestones(cfg.epochs)) {
    std::string late;
    std::size_t n_late = 0;
    bool beyond = false, at = false;
    for (auto m : cfg.milestones)
      if (m >= cfg.epochs) {
        late += (late.empty() ? "" : ", ") + std::to_string(m);
        ++n_late, beyond |= m > cfg.epochs, at |= m == cfg.epochs;
      }
    if (n_late > 0)
      std::fprintf(stderr,
                   "losscape: note: milestone%s %s %s %s the last epoch (--epochs %lld): the learning "
                   "rate drops after a milestone's epoch, so only if a --resume trains further\n",
                   n_late > 1 ? "s" : "", late.c_str(), n_late > 1 ? "are" : "is",
                   at && beyond ? "at or beyond" : at ? "at" : "beyond", static_cast<long long>(cfg.epochs));
  }
  if (opts.dry_run) {
    // As the epoch loop counts them (trained_batch).
    std::int64_t batches = 0;
    for (std::int64_t s = 0; s < n; s += bs) batches += trained_batch(std::min(bs, n - s), single);
    std::printf("dry run of losscape train %s: nothing trained, nothing written\n", version);
    std::printf("run folder  %s: %s\n", cfg.out.c_str(),
                resume_path.empty()
                    ? "would be started"
                    : ("would be resumed from " + resume_path + " (epoch " + std::to_string(start) + ")")
                          .c_str());
    if (start >= cfg.epochs)
      std::printf(start == cfg.epochs ? "epochs      none to run: the run is complete (epoch %lld of %lld)\n"
                                      : "epochs      none to run: the run is at epoch %lld, past --epochs %lld\n",
                  static_cast<long long>(start), static_cast<long long>(cfg.epochs));
    else
      std::printf("epochs      %lld to run (%lld .. %lld), %lld batch%s of up to %lld images each per epoch\n",
                  static_cast<long long>(cfg.epochs - start), static_cast<long long>(start + 1),
                  static_cast<long long>(cfg.epochs), static_cast<long long>(batches),
                  batches == 1 ? "" : "es", static_cast<long long>(std::min(bs, n)));
    std::printf("model       %s, %lld parameters, on %s\n", cfg.arch.c_str(),
                static_cast<long long>(model->parameter_count()), describe_device(dev).c_str());
    std::printf("data        %s; %s\n", train_data.description.c_str(), test_data.description.c_str());
    std::printf("configuration: %s\n", cfg_json.dump().c_str());
    std::fflush(stdout);
    return result;
  }
  result.last_checkpoint = resume_path;
  if (start == 0 && resume_path.empty()) {  // (before the header: a failure is the only output)
    std::error_code made;
    fs::create_directories(dir, made);
    if (made)
      throw InputError(cfg.out + ": cannot make the run folder (" + made.message() + ")");
  }
  if (!opts.quiet) {
    std::printf("train %s on %s, %lld training / %lld test samples, %s, %lld parameters\n",
                cfg.arch.c_str(), cfg.dataset.c_str(), static_cast<long long>(train_data.size()),
                static_cast<long long>(test_data.size()), describe_device(dev).c_str(),
                static_cast<long long>(model->parameter_count()));
    if (!resume_path.empty()) std::printf("resuming %s at epoch %lld\n", resume_path.c_str(),
                               static_cast<long long>(start));
    std::fflush(stdout);
  }

  if (start == 0 && !resume_path.empty()) {
    truncate_log(log, 0);
  } else if (start == 0) {
    auto t0 = std::chrono::steady_clock::now();
    EpochRecord r;
    r.epoch = 0;
    r.lr = lr_at_epoch(cfg, 1);
    try {
      measure(r);
    } catch (const SecondSignal&) {
      // (nothing written yet: the folder is as made)
      if (!opts.quiet)
        std::printf("stopped by a second signal during epoch 0's measurement; nothing is saved: "
                    "run the same command again to start the run\n");
      result.stopped = true;
      return result;
    }
    // (no batch fitted yet: no running average; null in log.jsonl)
    r.fit_loss = r.fit_acc = std::numeric_limits<double>::quiet_NaN();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // A log without checkpoints (they were deleted, or a run was killed before its first one) is
    // another run's record: kept aside as log.jsonl.old, not overwritten in silence.
    if (std::error_code ec; fs::file_size(log, ec) > 0 && !ec) {
      fs::path old = dir / "log.jsonl.old";  // (an earlier one kept: log.jsonl.old.2, .3 ...)
      for (int k = 2; fs::exists(fs::symlink_status(old, ec)); ++k) old = dir / ("log.jsonl.old." + std::to_string(k));
      fs::rename(log, old, ec);
      if (ec) throw InputError(log.string() + ": cannot keep it aside as " + old.string() + " (" + ec.message() + ")");
      std::fprintf(stderr, "losscape: note: %s holds a log but no checkpoint: the log is kept as %s\n",
                   cfg.out.c_str(), old.string().c_str());
    }
    {
      std::ofstream(log, std::ios::trunc);
    }
    // The log line first, then the checkpoint: a run killed between the two resumes from the
    // checkpoint before, which cuts the log back to it and writes the line again.
    auto j = r.to_json();
    j["checkpoint"] = fs::path(checkpoint_path(cfg.out, 0)).filename().string();
    append_log(log, j);
    result.last_checkpoint = save(0, r);
    print(r);
  } else {
    truncate_log(log, start);
  }

  // (a new run of --epochs 0 has just written its initial checkpoint: that was its work)
  if (start >= cfg.epochs && !(start == 0 && resume_path.empty()) && !opts.quiet)
    std::printf(start == cfg.epochs ? "run %s is complete (epoch %lld of %lld); nothing to do\n"
                                    : "run %s is at epoch %lld, past --epochs %lld; nothing to do\n",
                cfg.out.c_str(), static_cast<long long>(start), static_cast<long long>(cfg.epochs));

  const std::int64_t batches = n / bs + (n % bs != 0);  // (n + bs - 1 overflows for a huge bs)
  ProgressBar bar(opts.progress);
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(dev);

  std::int64_t saved = start;  // the newest epoch with a checkpoint
  for (std::int64_t epoch = start + 1; epoch <= cfg.epochs; ++epoch) {
    // A stop asked for before this epoch began (during the start-up or epoch 0's measurement)
    // with the epoch before on disk: stopping now loses nothing, another epoch would only cost
    // time the job may not have.
    if (opts.stop_on_signal && stop_requested() && saved == epoch - 1) {
      if (!opts.quiet)
        std::printf("stopped by a signal before epoch %lld of %lld (epoch %lld is saved); run "
                    "again with --resume to continue\n",
                    static_cast<long long>(epoch), static_cast<long long>(cfg.epochs),
                    static_cast<long long>(saved));
      result.stopped = true;
      break;
    }
    auto t0 = std::chrono::steady_clock::now();
    EpochRecord r;
    r.epoch = epoch;
    r.lr = lr_at_epoch(cfg, epoch);
    for (auto& g : opt->param_groups()) g.options().set_lr(r.lr);

    EpochRandom rnd = epoch_random(cfg.seed, epoch, n, kPad);
    auto order = rnd.order.to(dev), dy = rnd.dy.to(dev), dx = rnd.dx.to(dev),
         flip = rnd.flip.to(dev);
    auto loss_sum = torch::zeros({}, f64), correct = torch::zeros({}, f64);
    std::int64_t seen = 0;
    model->train(true);
    for (std::int64_t b = 0; b < batches; ++b) {
      const std::int64_t s = b * bs, len = std::min(bs, n - s);
      if (!trained_batch(len, single)) continue;
      auto idx = order.narrow(0, s, len);
      auto x = train_data.images.index_select(0, idx);
      auto y = train_data.labels.index_select(0, idx);
      if (cfg.augment)
        x = crop_flip(x, dy.narrow(0, s, len), dx.narrow(0, s, len), flip.narrow(0, s, len), kPad,
                      pad_value);
      opt->zero_grad();
      auto logits = model->forward(x);
      auto loss = torch::nn::functional::cross_entropy(logits, y);
      loss.backward();
      opt->step();
      {
        torch::NoGradGuard ng;
        loss_sum.add_(loss.detach().to(torch::kFloat64) * double(len));
        correct.add_(logits.argmax(1).eq(y).sum().to(torch::kFloat64));
      }
      seen += len;
      bar.show(epoch, b + 1, batches,
               [&] { return loss_sum.item<double>() / double(std::max<std::int64_t>(seen, 1)); });
      if (opts.stop_on_signal && stop_signal_count() >= 2) break;
    }
    bar.clear();
    if (opts.stop_on_signal && stop_signal_count() >= 2) {
      // A second signal: no time to finish the epoch; it is given up, not half-saved.
      given_up(epoch);
      break;
    }
    auto fit = torch::stack({loss_sum, correct}).cpu();
    r.fit_loss = fit[0].item<double>() / double(std::max<std::int64_t>(seen, 1));
    r.fit_acc = 100.0 * fit[1].item<double>() / double(std::max<std::int64_t>(seen, 1));
    // A diverged epoch (NaN or infinite weights or optimizer state, a learning rate too large)
    // stops the run: every later epoch would be NaN too, and a job of 300 epochs went on writing
    // NaN checkpoints (which --resume refuses) and ended as done. Nothing of the epoch is kept.
    if (const std::string bad = non_finite_state(model->state(), optimizer_state(*opt, params)); !bad.empty()) {
      char loss[32] = "NaN";
      if (!std::isnan(r.fit_loss)) std::snprintf(loss, sizeof loss, "%.4g", r.fit_loss);
      throw Error("train: epoch " + std::to_string(epoch) + " diverged: " + bad +
                  " holds NaN or infinite values after it (training loss " + loss +
                  "; a new run with a smaller --lr?); nothing of it is saved, the newest checkpoint is " +
                  fs::path(checkpoint_path(cfg.out, saved)).filename().string() + " (epoch " +
                  std::to_string(saved) + ")");
    }
    try {
      measure(r);
    } catch (const SecondSignal&) {
      given_up(epoch);
      break;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto j = r.to_json();
    const bool stopping = opts.stop_on_signal && stop_requested() && epoch < cfg.epochs;
    const bool saving = epoch % cfg.save_every == 0 || epoch == cfg.epochs || stopping;
    if (saving) j["checkpoint"] = fs::path(checkpoint_path(cfg.out, epoch)).filename().string();
    append_log(log, j);  // (before the checkpoint, as for epoch 0)
    if (saving) result.last_checkpoint = save(epoch, r), saved = epoch;
    print(r);
    result.epochs.push_back(r);
    result.last_epoch = epoch;
    if (opts.on_epoch && !opts.on_epoch(r)) break;
    if (stopping) {
      if (!opts.quiet)
        std::printf("stopped by a signal after epoch %lld of %lld (checkpoint saved); run again "
                    "with --resume to continue\n",
                    static_cast<long long>(epoch), static_cast<long long>(cfg.epochs));
      result.stopped = true;
      break;
    }
  }
  return result;
}

}  // namespace losscape
