// `losscape eval`: loss and accuracy of a model at θ* (the value a sweep computes at (0, 0)).
#include <chrono>
#include <cstdio>
#include <iostream>

#include "common.hpp"
#include "losscape/device.hpp"
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"

namespace losscape::cli {

void add_eval(CLI::App& root, Registry& reg) {
  struct Opts {
    ModelOptions model;
    DataSpec data;
    std::string batch = "auto";
    std::string loss = "crossentropy";
    std::string device = "auto";
    int threads = 0;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("eval", "Loss and accuracy of a model on a data split");
  add_model_options(*app, o->model);
  add_data_options(*app, o->data);
  app->add_option("--batch-size,-b", o->batch, "Evaluation batch size, or auto (timed at start-up)")
      ->capture_default_str();
  app->add_option("--loss", o->loss, "crossentropy | mse")->capture_default_str();
  app->add_option("--device", o->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  app->add_option("--threads", o->threads, "CPU intra-op threads (0 = all cores)");
  app->add_flag("--json", o->json, "Print the result as JSON");
  reg.push_back({app, [o]() {
    configure_cpu_threads(o->threads, 1);
    auto dev = select_device(o->device, 0);
    EvalOptions eo;
    eo.loss = parse_loss(o->loss);
    auto model = load_model(o->model, o->data.dataset);
    auto data = load_split(o->data, dev);
    model->to(dev);
    if (o->batch == "auto") {
      eo.batch_size = choose_batch_size(*model, data, 2.0);
    } else {
      try {
        eo.batch_size = std::stoll(o->batch);
      } catch (const std::exception&) {
        throw InputError("--batch-size '" + o->batch + "' is neither a number nor auto");
      }
      if (eo.batch_size < 1) throw InputError("--batch-size must be at least 1");
    }
    auto t0 = std::chrono::steady_clock::now();
    auto s = evaluate(*model, data, eo);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o->json) {
      nlohmann::json j = {{"loss", s.loss()},           {"accuracy", s.accuracy()},
                          {"samples", std::int64_t(s.count)}, {"loss_kind", to_string(eo.loss)},
                          {"data", data.description},   {"model", model->source},
                          {"arch", model->arch},        {"device", describe_device(dev)},
                          {"batch_size", eo.batch_size}, {"seconds", secs}};
      std::cout << j.dump(2) << "\n";
    } else {
      std::printf("model     %s (%s)\ndata      %s\ndevice    %s, batch size %lld\n"
                  "loss      %.6f (%s)\naccuracy  %.2f %%\ntime      %.2f s\n",
                  model->source.c_str(), model->arch.c_str(), data.description.c_str(),
                  describe_device(dev).c_str(), static_cast<long long>(eo.batch_size), s.loss(),
                  to_string(eo.loss), s.accuracy(), secs);
    }
    return 0;
  }});
}

}  // namespace losscape::cli
