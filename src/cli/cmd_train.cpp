// `losscape train`: flags (or a JSON config) → TrainConfig → losscape::train.
#include <unistd.h>

#include <fstream>

#include "common.hpp"
#include "losscape/json_config.hpp"
#include "losscape/checkpoint.hpp"
#include "losscape/device.hpp"
#include "losscape/error.hpp"
#include "losscape/grid.hpp"
#include "losscape/terminal.hpp"
#include "losscape/stop.hpp"
#include "losscape/train.hpp"

namespace losscape::cli {

void add_train(CLI::App& root, Registry& reg) {
  struct Opts {
    TrainConfig c;  // holds the flag values; only flags given explicitly reach the config
    std::string milestones;
    std::string config_file;
    bool no_nesterov = false, no_augment = false;
    bool resume = false, quiet = false, dry_run = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand(
      "train", "Train a zoo network with the reference recipe into a run folder of checkpoints");
  app->add_option("--arch,-a", o->c.arch, "Zoo architecture (vgg9, resnet56, ...; see info --list-archs)");
  app->add_option("--dataset,-d", o->c.dataset, "cifar10 | fashion-mnist | mnist")
      ->capture_default_str();
  app->add_option("--data-dir", o->c.data_dir, "Directory of the data files");
  app->add_option("--samples,-n", o->c.samples, "Train on a deterministic subset of N samples (0 = all)");
  app->add_option("--subset-seed", o->c.subset_seed, "Seed of the subset rule")
      ->check(seed_check());
  app->add_option("--test-samples", o->c.test_samples,
                  "Evaluate each epoch on a subset of N test samples (0 = all)");
  app->add_option("--batch-size,-b", o->c.batch_size, "Training batch size")->capture_default_str();
  app->add_option("--optimizer", o->c.optimizer, "sgd | adam")->capture_default_str();
  app->add_option("--lr", o->c.lr, "Initial learning rate (default 0.1; 0.001 for adam)");
  app->add_option("--momentum", o->c.momentum, "SGD momentum")->capture_default_str();
  app->add_flag("--no-nesterov", o->no_nesterov, "Plain (heavy-ball) momentum instead of Nesterov");
  app->add_option("--weight-decay,--wd", o->c.weight_decay, "L2 weight decay")
      ->capture_default_str();
  app->add_option("--epochs,-e", o->c.epochs, "Epochs")->capture_default_str();
  app->add_option("--milestones", o->milestones,
                  "Comma-separated epochs after which lr *= gamma (default 150,225,275 scaled to "
                  "--epochs)");
  app->add_option("--gamma", o->c.gamma, "Learning-rate factor at each milestone")
      ->capture_default_str();
  app->add_flag("--no-augment", o->no_augment, "No random crop and flip");
  app->add_option("--save-every", o->c.save_every, "Checkpoint every N epochs (and the last)")
      ->capture_default_str();
  app->add_option("--seed", o->c.seed, "Seed of initialization, order and augmentation")
      ->check(seed_check())
      ->capture_default_str();
  app->add_option("--device", o->c.device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  app->add_option("--threads", o->threads, "CPU intra-op threads (0 = every CPU the process may use)");
  app->add_option("--config", o->config_file, "JSON file of options (keys as in a checkpoint's "
                                              "config); flags override it");
  app->add_flag("--resume", o->resume, "Continue the run in --out from its newest checkpoint");
  app->add_flag("--quiet,-q", o->quiet, "No per-epoch lines");
  app->add_flag("--dry-run", o->dry_run,
                "Check the configuration, the run folder (resume), the data and the model, print "
                "the plan, and stop: nothing is trained or written");
  app->add_option("--out,-o", o->c.out,
                  "Run folder (model_<epoch>.h5, log.jsonl); required unless the config has \"out\"");

  reg.push_back({app, [o, app]() {
    if (const int rc = refuse_several_ranks("train")) return rc;
    // A stop signal (Slurm's time-limit warning, scancel, Ctrl-C) finishes the epoch, saves a
    // checkpoint and exits 75; a second one gives up the epoch in progress.
    install_stop_handlers();
    nlohmann::json given = nlohmann::json::object();
    if (!o->config_file.empty()) {
      given = read_json_file(o->config_file);
      // The keys of a checkpoint's config, nothing else: a typo must not train with a default.
      const nlohmann::json known = TrainConfig{};
      if (!given.is_object()) throw InputError(o->config_file + ": expected a JSON object");
      for (auto& [k, v] : given.items())
        if (!known.contains(k)) throw InputError(o->config_file + ": unknown key " + shown_json(k));
      // A key whose value is null counts as absent (the default, or on a resume the run's own
      // value), as in sweep --config: taken as given, null became the default for another reason
      // (lr 0.1 for adam, the 300-epoch milestones) or replaced a resumed run's epochs with 300.
      for (auto it = given.begin(); it != given.end();) it = it->is_null() ? given.erase(it) : std::next(it);
      try {
        (void)given.get<TrainConfig>();
      } catch (const nlohmann::json::exception& e) {
        throw InputError(o->config_file + ": " + e.what());
      } catch (const InputError& e) {  // a value of the wrong type, named
        throw InputError(o->config_file + ": " + e.what());
      }
    }
    const nlohmann::json file_values = given;
    // The keys the file gives that no flag replaces: a resume's conflict names them by the file.
    std::set<std::string> from_file;
    for (auto& [k, v] : given.items()) from_file.insert(k);
    const nlohmann::json all = o->c;
    auto flag = [&](const char* opt, const char* key) {
      if (app->count(opt) > 0) {
        given[key] = all.at(key);
        from_file.erase(key);
      }
    };
    flag("--arch", "arch");
    flag("--dataset", "dataset");
    flag("--data-dir", "data_dir");
    flag("--samples", "samples");
    flag("--subset-seed", "subset_seed");
    flag("--test-samples", "test_samples");
    flag("--batch-size", "batch_size");
    flag("--optimizer", "optimizer");
    flag("--lr", "lr");
    flag("--momentum", "momentum");
    flag("--weight-decay", "weight_decay");
    flag("--epochs", "epochs");
    flag("--gamma", "gamma");
    flag("--save-every", "save_every");
    flag("--seed", "seed");
    flag("--device", "device");
    if (app->count("--out") > 0) {
      given["out"] = o->c.out;
      from_file.erase("out");
    }
    const std::string out = normal_run_folder(
        given.contains("out") && given["out"].is_string() ? given["out"].get<std::string>() : "");
    if (out.empty()) throw UsageError("train: give --out RUN_FOLDER (or \"out\" in --config)");
    given["out"] = out;
    if (o->no_nesterov) {
      given["nesterov"] = false;
      from_file.erase("nesterov");
    }
    if (o->no_augment) {
      given["augment"] = false;
      from_file.erase("augment");
    }
    if (app->count("--milestones") > 0) {
      std::vector<std::int64_t> ms;
      for (const auto& item : comma_items(o->milestones)) {
        if (item.empty())  // (",," or a trailing comma: a milestone left out by mistake)
          throw InputError("--milestones '" + o->milestones + "': an empty entry (give epochs like "
                           "150,225,275, or '' for none)");
        std::optional<long long> m;
        try {
          m = whole_number<long long>(item);
        } catch (const std::out_of_range&) {  // (said below)
        }
        if (!m) throw InputError("--milestones '" + o->milestones + "': expected epochs like 150,225,275");
        ms.push_back(*m);
      }
      given["milestones"] = ms;
      from_file.erase("milestones");
    }

    // The file's values, then with the flags that override them (a file's "momentum": 0 with
    // --no-nesterov is a valid plain SGD), each named as where it came from.
    if (!o->config_file.empty()) check_train_config_file(file_values, given, o->config_file, from_file);

    configure_cpu_threads(o->threads, 1);
    std::optional<TrainConfig> stored;
    if (o->resume) {
      // (--out naming a checkpoint, not its folder: the run was taken for a new one, and the
      // error was that no --arch was given)
      if (std::error_code ec; std::filesystem::exists(out, ec) && !std::filesystem::is_directory(out, ec))
        throw InputError(out + ": exists and is not a folder (--resume --out names the run folder)");
      auto cks = run_checkpoints(out);
      if (cks.empty() && !given.contains("arch"))
        throw UsageError("train --resume: " + out + " holds no checkpoint to resume (model_<epoch>.h5), " +
                         "and a new run there needs --arch NAME (see info --list-archs)");
      if (!cks.empty()) {
        TrainConfig s = stored_train_config(read_checkpoint(cks.back().path).meta.config,
                                            cks.back().path);
        s.out = out;
        stored = s;
      }
    }
    TrainConfig cfg = resolve_train_config(given, stored, o->config_file, from_file);
    if (given.contains("subset_seed") && cfg.test_samples == 0)  // (a stored run's is its own)
      check_subset_seed_used(cfg.subset_seed, cfg.samples,
                             app->count("--subset-seed") ? "--subset-seed" : o->config_file + ": subset_seed");
    // Adam has no momentum of SGD's kind: given for it, these options would be recorded unused.
    // (A value refused, 1, as from a --config file and as --eig-tol without --hessian.)
    // (on a resume without --optimizer, the run's: named as such)
    if (cfg.optimizer == "adam")
      for (const char* opt : {"--momentum", "--no-nesterov"})
        if (app->count(opt) > 0)
          throw InputError(std::string(opt) + " is for SGD only" +
                           (stored && app->count("--optimizer") == 0 ? ": " + out + " is a run of --optimizer adam"
                                                                     : ", not for --optimizer adam"));
    TrainOptions to;
    to.resume = o->resume;
    to.quiet = o->quiet;
    to.progress = !o->quiet && stdout_is_terminal();
    to.stop_on_signal = true;
    to.dry_run = o->dry_run;
    // A device refused names where it came from: the file's key, or the run's recorded device on
    // a resume (it said --device, a flag the user had not given).
    auto r = [&] {
      try {
        return train(cfg, to);
      } catch (const InputError& e) {
        const std::string m = e.what(), flag = "--device";
        if (m.rfind(flag + " ", 0) != 0 || app->count(flag) > 0) throw;
        const std::string rest = m.substr(flag.size());  // (the value and the reason)
        if (from_file.count("device")) throw InputError(o->config_file + ": \"device\"" + rest);
        if (stored && !given.contains("device"))
          throw InputError(out + ": the run's recorded \"device\"" + rest +
                           "; pass --device to resume it on another");
        throw;
      }
    }();
    if (!o->quiet && !r.last_checkpoint.empty())
      std::printf("last checkpoint %s\n", r.last_checkpoint.c_str());
    return r.stopped ? int(kExitIncomplete) : int(kExitOk);
  }});
}

}  // namespace losscape::cli
