// `losscape eval`: loss and accuracy of a model at θ* (the value a sweep computes at (0, 0)).
#include <chrono>
#include <cmath>
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
    std::string precision = "fp32";
    std::string memory_format = "auto";
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
  app->add_option("--precision", o->precision, "fp32 | tf32 | bf16 | fp16 (forward pass)")
      ->capture_default_str();
  app->add_option("--memory-format", o->memory_format, "auto | nchw | nhwc (auto: timed)")
      ->capture_default_str();
  app->add_option("--device", o->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  app->add_option("--threads", o->threads, "CPU intra-op threads (0 = every CPU the process may use)");
  app->add_flag("--json", o->json, "Print the result as JSON");
  reg.push_back({app, [o, app]() {
    if (const int rc = refuse_several_ranks(
            "eval", "each would evaluate the whole split and print its own result"))
      return rc;
    check_subset_seed_used(o->data.subset_seed, o->data.samples, "--subset-seed");
    default_to_recorded_dataset(*app, o->model.file, o->data.dataset);
    configure_cpu_threads(o->threads, 1);
    auto dev = select_device(o->device, 0);
    EvalOptions eo;
    eo.loss = parse_loss(o->loss);
    auto model = load_model(o->model, o->data.dataset);
    auto data = load_split(o->data, dev);
    model->to(dev);
    eo.precision = parse_precision(o->precision);
    const std::int64_t fixed = parse_batch_size(o->batch);
    { PrecisionGuard check(eo.precision, dev); }  // fp16 on a CPU: the error before any timing
    auto choice = choose_eval_options(*model, data, fixed, o->memory_format, eo.precision, 2.0);
    eo.batch_size = choice.batch_size;
    data.images = with_layout(data.images, choice.channels_last);
    if (dev.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
    auto t0 = std::chrono::steady_clock::now();
    auto s = evaluate(*model, data, eo);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // The argmax of NaN or infinite logits is no measurement (as info and plot treat a surface's
    // accuracy where its loss is not finite): null, n/a, and a note (20 % was shown beside a NaN).
    const bool measured = std::isfinite(s.loss());
    const double accuracy = measured ? s.accuracy() : std::nan("");
    if (o->json) {
      nlohmann::json j = {{"loss", s.loss()},           {"accuracy", accuracy},
                          {"samples", std::int64_t(s.count)}, {"loss_kind", to_string(eo.loss)},
                          {"data", data.description},   {"model", model->source},
                          {"arch", model->arch},        {"device", describe_device(dev)},
                          {"batch_size", eo.batch_size}, {"seconds", secs},
                          {"precision", to_string(eo.precision)},
                          {"memory_format", choice.channels_last ? "nhwc" : "nchw"}};
      std::cout << j.dump(2) << "\n";
    } else {
      // (printf writes a NaN as "-nan"; a diverged model's loss of 1e36 in %f is 37 digits, cut
      // to the buffer's 31 it was a wrong number: from 1e15 on it is written with an exponent)
      char loss[32] = "nan", acc[32] = "n/a";
      if (!std::isnan(s.loss()))
        std::snprintf(loss, sizeof loss, std::fabs(s.loss()) < 1e15 ? "%.6f" : "%.6e", s.loss());
      if (measured) std::snprintf(acc, sizeof acc, "%.2f %%", accuracy);
      std::printf("model     %s (%s)\ndata      %s\ndevice    %s, batch size %lld, %s, %s\n"
                  "loss      %s (%s)\naccuracy  %s\ntime      %.2f s\n",
                  model->source.c_str(), model->arch.c_str(), data.description.c_str(),
                  describe_device(dev).c_str(), static_cast<long long>(eo.batch_size),
                  choice.channels_last ? "nhwc" : "nchw", to_string(eo.precision), loss,
                  to_string(eo.loss), acc, secs);
    }
    // (the numbers are what was asked for; that they come from a broken model is worth a word)
    if (const std::string bad = diverged_model(model->state(), model->source); !bad.empty())
      std::fprintf(stderr, "losscape: note: %s: the loss and accuracy above are those of a broken network\n",
                   bad.c_str());
    else if (!measured)
      std::fprintf(stderr, "losscape: note: %s: the loss is not finite on this data (logits that "
                   "overflow?): no accuracy is given, the argmax of such logits measures nothing\n",
                   model->source.c_str());
    return 0;
  }});
}

}  // namespace losscape::cli
