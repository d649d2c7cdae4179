// `losscape hessian`: curvature of the loss at one model — extreme and top-k Hessian eigenvalues,
// the Hutchinson trace and optionally the SLQ spectral density. Under mpirun every rank holds a
// shard of the data and each Hessian-vector product is summed over the ranks.
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common.hpp"
#include "losscape/device.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "losscape/h5.hpp"
#include "losscape/hessian.hpp"
#include "losscape/mpi.hpp"
#include "losscape/stop.hpp"
#include "losscape/terminal.hpp"
#include "losscape/version.hpp"

namespace losscape::cli {

namespace {

std::string fmt(const nlohmann::json& v) {
  if (!v.is_number()) return "n/a";
  char b[40];
  std::snprintf(b, sizeof b, "%.8g", v.get<double>());
  return b;
}

// The stages' lines of the report: the extreme eigenvalues, then whichever others were computed.
void print_stages(const nlohmann::json& j) {
  const auto& ex = j["extreme"];
  // λmax is the largest-magnitude eigenvalue unless the negative curvature dominates: then the
  // largest positive one (hessian.hpp, extreme_eigenvalues).
  const bool negative_dominates = j["max_eig"].is_number() && j["min_eig"].is_number() &&
                                  -j["min_eig"].get<double>() > j["max_eig"].get<double>();
  std::printf("λmax      %s   (%s)\n", fmt(j["max_eig"]).c_str(),
              !negative_dominates ? "largest magnitude"
              : j["max_eig"].get<double>() > 0
                  ? "largest positive; λmin has the largest magnitude"
                  : "no positive eigenvalue: λmin, of the largest magnitude");
  std::printf("λmin      %s   (most negative)\n", fmt(j["min_eig"]).c_str());
  std::printf("ratio     |λmin/λmax| = %s   (%s, %d restart%s in all of its solves, %lld Hessian-vector products)\n",
              fmt(j["eig_ratio"]).c_str(), ex["converged"].get<bool>() ? "converged" : "NOT CONVERGED",
              ex["iterations"].get<int>(), ex["iterations"].get<int>() == 1 ? "" : "s",
              (long long)ex["products"].get<std::int64_t>());
  if (j.contains("top_eigenvalues")) {
    const auto& t = j["top_eigenvalues"];
    std::string vals;
    for (auto& v : t["values"]) vals += (vals.empty() ? "" : ", ") + fmt(v);
    std::printf("top-%zu     %s   (%s)\n", t["values"].size(), vals.c_str(),
                t["converged"].get<bool>() ? "converged" : "NOT CONVERGED");
  }
  if (j.contains("trace")) {
    const auto& t = j["trace"];
    std::printf("trace     %s ± %s   (standard error, %d Rademacher probes)\n",
                fmt(t["estimate"]).c_str(), fmt(t["stderr"]).c_str(), t["probes"].get<int>());
  }
  if (j.contains("density")) {
    const auto& d = j["density"];
    std::printf("density   SLQ, %d probe(s) x %d Lanczos steps, σ = %s, %zu grid points (in the JSON)\n",
                d["probes"].get<int>(), d["steps"].get<int>(), fmt(d["sigma"]).c_str(),
                d["grid"].size());
  }
  if (j.contains("kept")) {
    std::string kept;
    for (auto& k : j["kept"]) kept += (kept.empty() ? "" : ", ") + k.get<std::string>();
    std::printf("kept      %s (from the unfinished earlier run)\n", kept.c_str());
  }
}

void print_report(const nlohmann::json& j) {
  std::printf("model     %s (%s)%s\n", j["model"].get<std::string>().c_str(), j["arch"].get<std::string>().c_str(),
              j.contains("init_seed") ? (", initialized with --init-seed " + j["init_seed"].dump()).c_str() : "");
  std::printf("data      %s, %s loss\n", j["data"].get<std::string>().c_str(),
              j["loss_kind"].get<std::string>().c_str());
  std::printf("Hessian   %lld parameters in %zu tensors (%s), batches of %lld on %s\n",
              (long long)j["parameters"]["count"].get<std::int64_t>(),
              j["parameters"]["tensors"].size(), j["parameters"]["selection"].get<std::string>().c_str(),
              (long long)j["batch_size"].get<std::int64_t>(), j["device"].get<std::string>().c_str());
  const auto& eig = j["settings"]["eigensolver"];
  std::printf("solver    ARPACK implicitly restarted Lanczos, tol %g, at most %d restart%s, ncv %s\n",
              eig["tol"].get<double>(), eig["max_iter"].get<int>(),
              eig["max_iter"].get<int>() == 1 ? "" : "s",
              eig["ncv"].get<int>() > 0 ? std::to_string(eig["ncv"].get<int>()).c_str() : "auto");
  // (a run stopped by a signal before the first stage ended has none of the stages)
  if (j.contains("extreme")) print_stages(j);
  std::printf("time      %.2f s, %lld Hessian-vector products %s\n", j["seconds"].get<double>(),
              (long long)j["products"].get<std::int64_t>(), j.contains("kept") ? "in this run" : "in all");
}

// The result at `path` when it is one of a run stopped by a signal ("complete": false) with this
// identity and these settings, as text; else "" (a note says why an unfinished one is not used).
// Never throws: rank 0 alone calls it, the others wait for its answer.
std::string unfinished_result(const std::string& path, const nlohmann::json& identity,
                              const CurvatureOptions& settings) {
  std::string why;  // why an unfinished result is not resumed
  try {
    std::ifstream in(path);
    if (!in) return "";
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("complete") || j["complete"] != false) return "";
    const auto recorded = j.find("identity");
    if (recorded == j.end() || !recorded->is_object()) {
      why = "of another computation (it records no identity)";
    } else {
      for (auto& [key, value] : identity.items())
        if (why.empty() && (!recorded->contains(key) || (*recorded)[key] != value))
          why = "of another computation (its " + key + " differs)";
    }
    if (why.empty() && (!j.contains("settings") || j["settings"] != nlohmann::json(settings)))
      why = "of another computation (its settings differ)";
    if (why.empty()) {
      if (const std::string bad = curvature_stages_problem(j, settings); !bad.empty())
        why = "that cannot be resumed (" + bad + ")";
    }
    if (why.empty()) return j.dump();
  } catch (const std::exception& e) {
    why = "that cannot be read (" + one_line(e) + ")";
  }
  std::fprintf(stderr, "losscape: note: %s holds an unfinished result %s: not resumed, "
                       "everything is computed anew\n", path.c_str(), why.c_str());
  return "";
}

}  // namespace

void add_hessian(CLI::App& root, Registry& reg) {
  struct Opts {
    ModelOptions model;
    DataSpec data;
    std::int64_t batch = 256;
    std::string loss = "crossentropy";
    std::string device = "auto";
    int threads = 0;
    bool all_params = false;
    CurvatureOptions curv;
    std::string density_points = "auto";
    std::string json;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  o->data.split = "train";  // the reference's Hessian maps use the training loss
  auto* app = root.add_subcommand(
      "hessian", "Hessian eigenvalues (extreme, top-k), trace and spectral density at one model");
  add_model_options(*app, o->model);
  add_data_options(*app, o->data);
  auto& c = o->curv;
  app->add_option("--batch-size,-b", o->batch, "Samples per double-backward pass")
      ->capture_default_str();
  app->add_option("--loss", o->loss, "crossentropy | mse")->capture_default_str();
  app->add_option("--device", o->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  app->add_option("--threads", o->threads, "CPU intra-op threads (0 = the CPUs the rank may use / the ranks sharing them)");
  app->add_flag("--all-params", o->all_params,
                "Every parameter tensor (default: tensors with >= 2 dimensions, as the reference)");
  app->add_option("--top-k,-k", c.top_k, "Largest eigenvalues to report (0: none)")
      ->capture_default_str();
  app->add_option("--eig-tol", c.eig.tol, "ARPACK relative tolerance")->capture_default_str();
  app->add_option("--eig-max-iter", c.eig.max_iter, "ARPACK restarts before giving up")
      ->capture_default_str();
  app->add_option("--eig-ncv", c.eig.ncv, "Lanczos basis size (0: min(n, max(2k+1, 20)))")
      ->capture_default_str();
  app->add_option("--trace-probes", c.trace_probes, "Hutchinson probes for the trace (0: none)")
      ->capture_default_str();
  app->add_option("--seed", c.seed, "Seed of the trace and density probes")
      ->check(seed_check())->capture_default_str();
  app->add_flag("--density", c.density, "Also the spectral density (stochastic Lanczos quadrature)");
  app->add_option("--slq-steps", c.slq_steps, "Lanczos steps per density probe")
      ->capture_default_str();
  app->add_option("--slq-probes", c.slq_probes, "Density probes")->capture_default_str();
  app->add_option("--density-points", o->density_points,
                  "Grid points of the smoothed density, or auto (a step of σ/2, at least 400)")
      ->capture_default_str();
  app->add_option("--json", o->json, "Also save the full result (density included) as JSON here");
  app->add_flag("--quiet,-q", o->quiet, "No progress messages on stderr");
  reg.push_back({app, [o, app]() {
    mpi::Environment env(nullptr, nullptr);
    // (a job's time limit or scancel: the stages finished so far are reported and saved)
    install_stop_handlers();
    auto world = mpi::Comm::world();
    default_to_recorded_dataset(*app, o->model.file, o->data.dataset, world);
    auto node = world.split_node();
    const bool root = world.root();
    configure_cpu_threads(o->threads, ranks_sharing_cpus(node));
    torch::Device dev = torch::kCPU;
    DataSpec spec = o->data;
    spec.shard = world.rank();
    spec.num_shards = world.size();
    // The data's hash is part of the identity of a --json result that a stopped run resumes,
    // and what the ranks compare (an MPMD launch with another --data-dir summed another data
    // set's products into the result, exit 0); about a second per GB read: not made otherwise.
    spec.fingerprint = !o->json.empty() || world.size() > 1;
    HessianOptions ho;
    ho.loss = parse_loss(o->loss);
    ho.batch_size = o->batch;
    ho.all_params = o->all_params;
    // Errors end every rank together: one message from rank 0 and a clean exit 1, not one line
    // per rank and MPI_Abort's report.
    std::unique_ptr<Model> model;
    DataSplit data;
    std::unique_ptr<HessianOperator> h;
    nlohmann::json j, identity, earlier;
    auto t0 = std::chrono::steady_clock::now();
    try {
      run_agreed(world, [&]() {
        // The result's path, before minutes of computing: a folder, or one in no folder.
        if (!o->json.empty()) {
          // (a whole JSON object of a result: a log.jsonl, notes beginning with a brace, a
          // config file were overwritten when a first '{' was enough; results before
          // 2026-12-03 have no "complete")
          h5::check_replaceable(o->json, "hessian --json result", [](const std::string& path) {
            std::ifstream in(path);
            const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
            return j.is_object() && j.contains("losscape_version") && j.contains("loss_kind") &&
                   j.contains("ranks");
          });
          if (const std::string why = folder_problem(o->json); !why.empty())
            throw InputError("--json " + o->json + ": " + why);
        }
        // Settings that would do nothing are refused rather than dropped (and saved in --json)
        check_subset_seed_used(o->data.subset_seed, o->data.samples, "--subset-seed");
        if (!o->curv.density)
          for (const char* flag : {"--slq-steps", "--slq-probes", "--density-points"})
            if (app->count(flag) > 0)
              throw InputError(std::string(flag) + " is for the spectral density: add --density");
        if (app->count("--seed") > 0 && o->curv.trace_probes == 0 && !o->curv.density)
          throw InputError("--seed is for the trace's and the density's probes: none are drawn "
                           "(--trace-probes 0, no --density)");
        o->curv.density_points = parse_count_or_auto(o->density_points, "--density-points", 2);
        check_curvature_options(o->curv);  // (again with the dimension, once it is known)
        dev = select_device(o->device, node.rank());
        if (o->batch < 1) throw InputError("--batch-size must be at least 1");
        model = load_model(o->model, spec.dataset);
        // (LAPACK would print its own complaints about the NaNs, and ARPACK fail without a name;
        // BatchNorm's running statistics count too, as for eval and sweep)
        if (const std::string bad = diverged_model(model->state(), model->source); !bad.empty())
          throw InputError(bad + "; the Hessian there is undefined");
        data = load_split(spec, dev);
        // What a result depends on besides the settings: a stopped run's stages are kept only
        // for the same model values, data as read, subset, loss and parameters.
        if (!o->json.empty())
          identity = {{"model_fingerprint", fingerprint(model->state())},
                      {"data", data.fingerprint},
                      {"dataset", spec.dataset},
                      {"split", spec.split},
                      {"samples", spec.samples},
                      {"subset_seed", spec.subset_seed},
                      {"raw_data", spec.raw},
                      {"loss", to_string(ho.loss)},
                      {"params", o->all_params ? "all" : "dims>=2"}};
        model->to(dev);
        model->train(false);
      });
      // Every rank must run the same computation: an MPMD launch with another model, subset or
      // setting summed another network's products into the result (exit 0), or, with another
      // --eig-tol, hung. (Paths are compared by what they hold: the model by its weights.)
      if (world.size() > 1) {
        mpi::Comm::Settings mine = {
            {"model (fingerprint of its weights)", fingerprint(model->state())},
            {"--dataset", spec.dataset},
            {"data (fingerprint of the split as read)", data.fingerprint},
            {"--split", spec.split},
            {"--samples", std::to_string(spec.samples)},
            {"--subset-seed", std::to_string(spec.subset_seed)},
            {"--raw-data", spec.raw ? "yes" : "no"},
            {"--loss", o->loss},
            {"--batch-size", std::to_string(o->batch)},
            {"--all-params", o->all_params ? "yes" : "no"},
            {"--device", o->device},
            {"--density-points", o->density_points},
            {"--json", o->json.empty() ? "" : std::filesystem::absolute(o->json).lexically_normal().string()}};
        const nlohmann::json curv = o->curv;
        for (auto& [key, value] : curv.items()) {
          if (!value.is_object()) {
            mine.emplace_back(key, value.dump());
            continue;
          }
          for (auto& [sub, v] : value.items())
            mine.emplace_back(key + " " + sub, v.dump());  // (the eigensolver's tol, max_iter, ncv)
        }
        const auto d = world.first_difference(mine);
        if (d.rank > 0)
          throw AgreedError("rank " + std::to_string(d.rank) + " runs another hessian than rank 0: its " +
                            d.name + " is " + (d.theirs.empty() ? "not given" : d.theirs) +
                            ", rank 0's " + (d.rank0.empty() ? "not given" : d.rank0) +
                            " (every rank must get the same command, files and data)");
      }
      t0 = std::chrono::steady_clock::now();
      // Its errors come after its reduction of the sample count: on every rank alike.
      run_agreed(world, [&]() {
        h = std::make_unique<HessianOperator>(*model, data, ho, &world);
        h->stop_on_signal = true;
        check_curvature_memory(o->curv, h->dim(), node.size(), memory_room());
      });
      // An unfinished result at --json (a run stopped by a signal) of the same computation:
      // its finished stages are kept. Read by rank 0 and sent to all, which must skip alike.
      run_agreed(world, [&]() {
        std::string text;
        if (root && !o->json.empty()) text = unfinished_result(o->json, identity, o->curv);
        world.bcast(text);
        if (!text.empty()) earlier = nlohmann::json::parse(text);
      });
      auto progress = [&](const std::string& stage) {
        if (root && !o->quiet) std::fprintf(stderr, "[hessian] %s\n", stage.c_str());
      };
      try {
        j = curvature_report(*h, o->curv, progress, earlier);
      } catch (const GroupEvalError& e) {
        // Every rank threw it at the same product: agree on the failed rank's message.
        throw AgreedError(world.agree(e.own() ? e.what() : ""));
      } catch (const ArpackError& e) {
        throw AgreedError(e.what());  // every rank runs the same iterations on the same vectors
      } catch (const UndefinedHessian& e) {
        throw AgreedError(e.what());  // (the loss's finiteness is agreed within the product)
      } catch (const InputError& e) {
        throw AgreedError(e.what());  // option checks (--top-k ...): the same on every rank
      }
    } catch (const AgreedError& e) {
      if (root) print_error(e.what());
      return e.exit_code();
    }
    DataSpec whole = o->data;  // described without the shard
    if (!identity.is_null()) j["identity"] = identity;
    j["model"] = model->source;
    j["arch"] = model->arch;
    // (a fresh zoo network is the one its initialization seed makes: "zoo" alone did not say which)
    if (o->model.file.empty()) j["init_seed"] = o->model.seed;
    j["data"] = world.size() > 1 ? whole.dataset + " " + whole.split + " (" +
                                       std::to_string(h->samples()) + " of " +
                                       std::to_string(data.total) + " samples over " +
                                       std::to_string(world.size()) + " ranks)"
                                 : data.description;
    j["loss_kind"] = to_string(ho.loss);
    j["parameters"]["selection"] = o->all_params ? "all parameter tensors" : "tensors with >= 2 dims";
    j["batch_size"] = o->batch;
    j["device"] = describe_device(dev);
    j["ranks"] = world.size();
    j["losscape_version"] = version;
    j["losscape_revision"] = source_revision();
    j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (root) {
      print_report(j);
      // (stopped before the first stage ended: an earlier result at that path is kept)
      if (!o->json.empty() && j.contains("extreme")) {
        h5::write_whole(o->json, h5::own_suffix(".writing"), [&](const std::string& tmp) {
          std::ofstream out(tmp);
          out << j.dump(2) << "\n";
          out.close();
          if (!out)
            throw InputError("--json " + o->json + ": cannot write" +
                             (errno ? " (" + std::string(std::strerror(errno)) + ")" : ""));
        });
        std::printf("saved     %s\n", o->json.c_str());
      }
      std::fflush(stdout);
    }
    if (!j["complete"].get<bool>()) {
      if (root)
        std::fprintf(stderr, "losscape: interrupted: stopped by a signal during the %s: %s\n",
                     j["stopped_during"].get<std::string>().c_str(),
                     !j.contains("extreme") ? "nothing was finished (run the command again)"
                     : o->json.empty()
                         ? "the stages before it are complete, in the report (run it again with "
                           "--json FILE to keep such stages when stopped)"
                         : ("the stages before it are complete, saved in " + o->json +
                            ": the same command computes the rest")
                               .c_str());
      return int(kExitIncomplete);
    }
    bool ok = j["extreme"]["converged"].get<bool>() &&
              (!j.contains("top_eigenvalues") || j["top_eigenvalues"]["converged"].get<bool>());
    // The report (with nulls and "converged": false) is out; the exit status tells scripts.
    if (!ok && root)
      std::fprintf(stderr, "losscape: error: the eigensolver did not converge within "
                           "--eig-max-iter %d restart%s (raise it or --eig-ncv, or loosen --eig-tol)\n",
                   o->curv.eig.max_iter, o->curv.eig.max_iter == 1 ? "" : "s");
    return ok ? int(kExitOk) : int(kExitError);
  }});
}

}  // namespace losscape::cli
