#include "losscape/evaluate.hpp"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "losscape/device.hpp"
#include "losscape/error.hpp"
#include "losscape/grid.hpp"
#include "losscape/zoo.hpp"

namespace losscape {

LossKind parse_loss(const std::string& s) {
  if (s == "crossentropy" || s == "cross_entropy" || s == "ce") return LossKind::cross_entropy;
  if (s == "mse") return LossKind::mse;
  throw InputError("--loss '" + s + "': unknown loss (expected crossentropy or mse)");
}
const char* to_string(LossKind k) { return k == LossKind::mse ? "mse" : "crossentropy"; }

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::fp32;
  if (s == "tf32") return Precision::tf32;
  if (s == "bf16") return Precision::bf16;
  if (s == "fp16") return Precision::fp16;
  throw InputError("--precision '" + s + "': unknown precision (expected fp32, tf32, bf16 or fp16)");
}
const char* to_string(Precision p) {
  switch (p) {
    case Precision::tf32: return "tf32";
    case Precision::bf16: return "bf16";
    case Precision::fp16: return "fp16";
    default: return "fp32";
  }
}

// Autocast state per device type: LibTorch 2.4 replaced the CPU/GPU pairs of functions
// (is_cpu_enabled, set_autocast_gpu_dtype, ...) by ones taking the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
static at::DeviceType autocast_type(bool gpu) { return gpu ? at::kCUDA : at::kCPU; }
bool autocast_enabled(bool gpu) { return at::autocast::is_autocast_enabled(autocast_type(gpu)); }
static void set_autocast_enabled(bool gpu, bool on) {
  at::autocast::set_autocast_enabled(autocast_type(gpu), on);
}
static at::ScalarType autocast_dtype(bool gpu) {
  return at::autocast::get_autocast_dtype(autocast_type(gpu));
}
static void set_autocast_dtype(bool gpu, at::ScalarType t) {
  at::autocast::set_autocast_dtype(autocast_type(gpu), t);
}
#else
bool autocast_enabled(bool gpu) {
  return gpu ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
static void set_autocast_enabled(bool gpu, bool on) {
  gpu ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on);
}
static at::ScalarType autocast_dtype(bool gpu) {
  return gpu ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
static void set_autocast_dtype(bool gpu, at::ScalarType t) {
  gpu ? at::autocast::set_autocast_gpu_dtype(t) : at::autocast::set_autocast_cpu_dtype(t);
}
#endif

PrecisionGuard::PrecisionGuard(Precision p, const torch::Device& device)
    : cpu_autocast_(autocast_enabled(false)),
      gpu_autocast_(autocast_enabled(true)),
      cache_(at::autocast::is_autocast_cache_enabled()),
      cpu_dtype_(autocast_dtype(false)),
      gpu_dtype_(autocast_dtype(true)),
      tf32_cublas_(at::globalContext().allowTF32CuBLAS()),
      tf32_cudnn_(at::globalContext().allowTF32CuDNN()) {
  if (p == Precision::fp16 && !device.is_cuda())
    throw InputError("--precision fp16 needs a GPU (on a CPU, bf16 is the half precision)");
  // (on a CPU it would be fp32 under another name, and the surface's identity would say tf32:
  // merge would then allow tf32's tolerance between fp32 values)
  if (p == Precision::tf32 && !device.is_cuda())
    throw InputError("--precision tf32 needs a GPU (TensorFloat-32 is a GPU arithmetic; a CPU "
                     "computes fp32)");
  // (the same for a GPU before Ampere, which has no TF32 and computes fp32 when it is allowed;
  // a capability that cannot be read is not refused)
  if (int cc = 0; p == Precision::tf32 && lacks_tf32(device, &cc))
    throw InputError("--precision tf32 needs a GPU of compute capability 8.0 or later (Ampere): " +
                     describe_device(device) + " is " + std::to_string(cc / 10) + "." +
                     std::to_string(cc % 10) + " and computes fp32 (use --precision fp32)");
  auto& ctx = at::globalContext();
  ctx.setAllowTF32CuBLAS(p == Precision::tf32);
  ctx.setAllowTF32CuDNN(p == Precision::tf32);  // PyTorch's default is on: fp32 means off
  const bool half = p == Precision::bf16 || p == Precision::fp16;
  // Weights change in place between grid points: casts of them must never be cached.
  at::autocast::set_autocast_cache_enabled(false);
  const bool gpu = device.is_cuda();
  set_autocast_enabled(gpu, half);
  if (half) set_autocast_dtype(gpu, p == Precision::fp16 ? at::kHalf : at::kBFloat16);
}

PrecisionGuard::~PrecisionGuard() {
  set_autocast_enabled(false, cpu_autocast_);
  set_autocast_enabled(true, gpu_autocast_);
  set_autocast_dtype(false, cpu_dtype_);
  set_autocast_dtype(true, gpu_dtype_);
  at::autocast::set_autocast_cache_enabled(cache_);
  at::globalContext().setAllowTF32CuBLAS(tf32_cublas_);
  at::globalContext().setAllowTF32CuDNN(tf32_cudnn_);
}

void set_channels_last(Model& model, bool on) {
  torch::NoGradGuard guard;
  const auto fmt = on ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  for (auto& t : model.state())
    if (t.tensor.dim() == 4 && !t.tensor.is_contiguous(fmt))
      t.tensor.set_data(t.tensor.contiguous(fmt));
}

torch::Tensor with_layout(const torch::Tensor& images, bool channels_last) {
  if (images.dim() != 4) return images;
  return images.contiguous(channels_last ? torch::MemoryFormat::ChannelsLast
                                         : torch::MemoryFormat::Contiguous);
}

namespace {

// The address of a tensor's data, for PassGraph keys.
std::int64_t address(const torch::Tensor& t) {
  return std::int64_t(reinterpret_cast<std::intptr_t>(t.data_ptr()));
}

// What a recorded pass depends on (PassGraph): the addresses of the data, of the model's tensors
// (and of the stacked ones), the batch size used and the options.
std::vector<std::int64_t> pass_key(const Model& model, const DataSplit& data,
                                   const EvalOptions& opts, std::int64_t batch_size,
                                   const StackedState* s) {
  std::vector<std::int64_t> key = {address(data.images), address(data.labels), data.size(),
                                   batch_size, s ? s->points : 1, int(opts.loss),
                                   int(opts.precision), opts.fold_batchnorm,
                                   opts.fuse_convolutions};
  for (const auto& t : model.state()) key.push_back(address(t.tensor));
  if (s)
    for (const auto& [name, t] : s->tensors) key.push_back(address(t));
  return key;
}

// The batch loop of evaluate() and evaluate_points(): `forward` gives the logits [N, K, classes]
// of K models for a batch; loss sums and correct counts per model stay on the device until the
// end (one host synchronisation). With `graph`, the pass may be a CUDA graph's replay.
std::vector<EvalSums> evaluate_models(
    Model& model, const DataSplit& data, const EvalOptions& opts, const StackedState* s,
    PassGraph* graph, const std::function<torch::Tensor(const torch::Tensor&)>& forward) {
  c10::InferenceMode guard;
  model.train(false);
  const int k = s ? s->points : 1;
  const std::int64_t n = data.size();
  const std::int64_t bs = opts.batch_size > 0 ? opts.batch_size : 256;
  auto dev = data.images.device();
  PrecisionGuard precision(opts.precision, dev);
  FoldBatchNorm fold(opts.fold_batchnorm);
  FuseConvolutions fuse(opts.fuse_convolutions);
  // The sums [2, K] (loss sums, correct counts) on the device.
  auto pass = [&](bool recording) {
    auto loss_acc = torch::zeros({k}, torch::TensorOptions().dtype(torch::kFloat64).device(dev));
    auto correct_acc = torch::zeros({k}, torch::TensorOptions().dtype(torch::kInt64).device(dev));
    for (std::int64_t start = 0; start < n; start += bs) {
      const std::int64_t len = std::min(bs, n - start);
      auto y = data.labels.narrow(0, start, len);
      // [N, K, C], in float32 from bf16/fp16 (autocast's), float64 kept (a TorchScript model that
      // computes in double is scored in double, as PyTorch would: it was rounded to float32)
      auto logits = forward(data.images.narrow(0, start, len));
      if (logits.scalar_type() != torch::kFloat64) logits = logits.to(torch::kFloat32);
      torch::Tensor l;
      if (opts.loss == LossKind::cross_entropy) {
        // −log softmax at the label: cross_entropy with reduction sum, per model
        l = -torch::log_softmax(logits, 2).gather(2, y.view({len, 1, 1}).expand({len, k, 1}));
        l = l.squeeze(2);
      } else {
        auto onehot = torch::one_hot(y, logits.size(2)).to(logits.scalar_type()).unsqueeze(1);
        l = (torch::softmax(logits, 2) - onehot).pow(2).mean(2);
      }
      // (summed in float64: a batch's float32 sum of finite losses of 1e36 overflowed to inf, a
      // loss that then depended on the batch size, with no accuracy)
      loss_acc.add_(l.sum(0, false, torch::kFloat64));
      correct_acc.add_(logits.argmax(2).eq(y.unsqueeze(1)).sum(0));
      if (!recording && opts.between_batches) opts.between_batches();
    }
    return torch::stack({loss_acc, correct_acc.to(torch::kFloat64)});
  };
  torch::Tensor both;
  if (graph && dev.is_cuda()) {  // (no key to compute on a CPU)
    both = graph->run(pass_key(model, data, opts, bs, s), dev, pass, opts.between_batches);
  } else {
    both = pass(false);
  }
  both = both.to(torch::kCPU);
  std::vector<EvalSums> sums(static_cast<std::size_t>(k));
  for (int i = 0; i < k; ++i) {
    sums[std::size_t(i)].loss_sum = both[0][i].item<double>();
    sums[std::size_t(i)].correct = both[1][i].item<double>();
    sums[std::size_t(i)].count = double(n);
  }
  return sums;
}

}  // namespace

DataSplit batch_share(const DataSplit& data, std::int64_t batch_size, int part, int parts) {
  if (batch_size < 1 || parts < 1 || part < 0 || part >= parts)
    throw std::invalid_argument("batch_share: part " + std::to_string(part) + " of " +
                                std::to_string(parts) + ", batch size " + std::to_string(batch_size));
  // (n + batch_size - 1 would overflow for a batch size near 2^63)
  const std::int64_t n = data.size(), batches = n / batch_size + (n % batch_size != 0);
  const std::int64_t first = batches * part / parts, end = batches * (part + 1) / parts;
  const std::int64_t start = std::min(n, first * batch_size), stop = std::min(n, end * batch_size);
  DataSplit share = data;
  share.images = data.images.narrow(0, start, stop - start);
  share.labels = data.labels.narrow(0, start, stop - start);
  return share;
}

EvalSums evaluate(Model& model, const DataSplit& data, const EvalOptions& opts, PassGraph* graph) {
  return evaluate_models(model, data, opts, nullptr, graph, [&](const torch::Tensor& x) {
    auto logits = model.forward(x);
    if (logits.dim() != 2 || logits.size(0) != x.size(0))
      throw InputError(model.source + ": forward returned shape " +
                       c10::str(logits.sizes()) + ", expected [batch, classes]");
    return logits.unsqueeze(1);
  })[0];
}

std::vector<EvalSums> evaluate_points(Model& model, const DataSplit& data,
                                      const StackedState& s, const EvalOptions& opts,
                                      PassGraph* graph) {
  return evaluate_models(model, data, opts, &s, graph,
                         [&](const torch::Tensor& x) { return model.forward_stacked(x, s); });
}

namespace {

void synchronize(const torch::Tensor& x) {
  if (x.is_cuda()) torch::cuda::synchronize(x.device().index());
}

// One forward pass of the model, or of the K models of `points` (logits [N, K, classes]).
torch::Tensor forward_of(Model& model, const torch::Tensor& x, const StackedState* points) {
  return points ? model.forward_stacked(x, *points) : model.forward(x);
}

// Images per second (point-images with `points`) of repeated forward passes on the batch `x` for
// about `seconds`, after one
// warm-up pass (allocations, oneDNN primitives, cuDNN autotuning). On a CPU, a warm-up slower
// than `floor` images/s ends the timing with the warm-up's rate: a batch whose activations no
// longer fit the allocator's cached blocks can be several times slower per image, and its
// passes take seconds (the first pass there pays only oneDNN's set-up, milliseconds, extra).
double batch_rate(Model& model, const torch::Tensor& x, double seconds, double floor = 0,
                  bool warm_up = true, const StackedState* points = nullptr) {
  using clock = std::chrono::steady_clock;
  auto forward = [&] { return forward_of(model, x, points); };
  const std::int64_t per_pass = x.size(0) * (points ? points->points : 1);  // point-images
  if (warm_up) {
    auto w0 = clock::now();
    forward();
    synchronize(x);
    const double warm =
        double(per_pass) / std::chrono::duration<double>(clock::now() - w0).count();
    if (!x.is_cuda() && warm < floor) return warm;
  }
  std::int64_t images = 0;
  int reps = 0;
  double el = 0;
  auto t0 = clock::now();
  do {
    forward();
    synchronize(x);
    images += per_pass;
    ++reps;
    el = std::chrono::duration<double>(clock::now() - t0).count();
  } while (el < seconds && reps < 20);  // 20 passes give the rate to a few percent
  return double(images) / el;
}

}  // namespace

std::vector<std::int64_t> batch_candidates(std::int64_t n, bool cuda) {
  std::vector<std::int64_t> cands;
  const std::int64_t cap = std::min<std::int64_t>(n, cuda ? 8192 : 4096);
  for (std::int64_t b = 16; b < cap; b *= 2) cands.push_back(b);
  cands.push_back(cap);
  return cands;
}

std::int64_t parse_count_or_auto(const std::string& s, const std::string& flag, std::int64_t least) {
  if (s == "auto") return 0;
  std::optional<long long> n;
  try {
    n = whole_number<long long>(s);
  } catch (const std::out_of_range&) {
    throw InputError(flag + " '" + s + "': out of the range of a 64-bit integer");
  }
  if (!n) throw InputError(flag + " '" + s + "' is neither a number nor auto");
  const std::int64_t b = *n;
  if (b < least) throw InputError(flag + " must be at least " + std::to_string(least));
  return b;
}

std::int64_t parse_batch_size(const std::string& s) { return parse_count_or_auto(s, "--batch-size", 1); }

void check_memory_format(const std::string& s) {
  if (s != "auto" && s != "nchw" && s != "nhwc")
    throw InputError("--memory-format '" + s + "': expected auto, nchw or nhwc");
}

void check_cudnn_fusion(const std::string& s) {
  if (s != "auto" && s != "on" && s != "off")
    throw InputError("--cudnn-fusion '" + s + "': expected auto, on or off");
}

namespace {

// Times one candidate, turning an exception into a state: out of memory (the candidate is too
// large: larger ones are not tried) or another failure (the choice fails, on every rank).
TimingResult guarded_timing(const std::function<double()>& time) {
  TimingResult r;
  try {
    r.rate = time();
  } catch (const c10::OutOfMemoryError& e) {
    r.state = TimingResult::out_of_memory;
    r.error = one_line(e);
  } catch (const c10::Error& e) {
    const std::string what = one_line(e);
    const bool oom = what.find("not enough memory") != std::string::npos ||
                     what.find("out of memory") != std::string::npos;
    r.state = oom ? TimingResult::out_of_memory : TimingResult::failed;
    r.error = what;
  } catch (const std::exception& e) {
    r.state = TimingResult::failed;
    r.error = one_line(e);
  }
  return r;
}

}  // namespace

namespace {

// The stop rule of the scans (batch sizes, then points per forward pass): a faster candidate is
// the new best; one more than 3 % below the best, or the second in a row below it, ends the scan.
struct Scan {
  double best = 0;
  int below = 0;  // consecutive candidates slower than the best so far
  enum Step { better, go_on, stop };
  Step next(double rate) {
    if (rate > best) {
      best = rate;
      below = 0;
      return better;
    }
    return rate < 0.97 * best || ++below == 2 ? stop : go_on;
  }
};

// Run-off of two close settings: each scan timing is a fraction of a second, and on a busy or
// noisy machine two settings within a few percent of each other swap places from one run to the
// next. `time(i, seconds)` times setting i (0 or 1); both are timed three times, alternately (who
// goes first alternates), for a third of `budget` in all. Returns the mean rates.
template <class Time>
std::array<double, 2> run_off(double budget, const Time& time) {
  const int rounds = 3;
  const double each = budget / 3 / (2 * rounds);
  std::array<double, 2> sum = {0, 0};
  for (int r = 0; r < rounds; ++r)
    for (int i : {r % 2, 1 - r % 2}) sum[std::size_t(i)] += time(i, each);
  return {sum[0] / rounds, sum[1] / rounds};
}

// The second stage of choose_eval_options with ChoiceOptions::max_points > 1: with the chosen
// layout and batch B, 2, 4, 8 ... points per forward pass on B / K images are timed as the batch
// sizes were (the same stop rule, or out of memory), then the best K against one point in a
// run-off; `best` gets the winner.
template <class Time>
void choose_points(const ChoiceOptions& o, EvalChoice& best, double per, const Time& time) {
  const bool cl = best.channels_last;
  const std::int64_t bs = best.batch_size;
  int best_k = 1;
  Scan scan{best.images_per_second};
  StackedState best_stack;  // only the best's K copies of the model are kept
  std::string line = "; points per forward: 1 " + std::to_string(std::lround(scan.best));
  for (int k = 2; k <= o.max_points; k *= 2) {
    // K copies of the model, in its layout (the chosen one). Made on every rank, they can run
    // out of memory on some only (ranks sharing a device): that is then this K's timing result,
    // combined with the others' like any other, so that every rank takes part in it.
    StackedState stack;
    const TimingResult made = guarded_timing([&] {
      stack = o.stack(k);
      return 0.0;
    });
    const auto t = time(cl, stacked_batch(bs, k), per, 0, true, &stack,
                        made.state == TimingResult::ok ? nullptr : &made);
    if (t.state == TimingResult::out_of_memory) break;
    line += ", " + std::to_string(k) + " " + std::to_string(std::lround(t.rate));
    const auto step = scan.next(t.rate);
    if (step == Scan::stop) break;
    if (step == Scan::better) {
      best_k = k;
      best_stack = std::move(stack);
    }
  }
  double best_rate = scan.best;
  if (best_k > 1 && o.runoff) {  // K points against one
    const auto rates = run_off(o.budget_seconds, [&](int i, double seconds) {
      // (no warm-up pass: both have run)
      return i == 0 ? time(cl, bs, seconds, 0, false, nullptr).rate
                    : time(cl, stacked_batch(bs, best_k), seconds, 0, false, &best_stack).rate;
    });
    line += " (run-off: 1 " + std::to_string(std::lround(rates[0])) + " vs " +
            std::to_string(best_k) + " " + std::to_string(std::lround(rates[1])) + ")";
    if (rates[0] >= rates[1]) best_k = 1;
    best_rate = rates[best_k == 1 ? 0 : 1];
  }
  best.report += line + " point-images/s";
  best.points_per_forward = best_k;
  best.images_per_second = best_rate;
}

// The stage of choose_eval_options with ChoiceOptions::try_fusion, at the chosen layout and batch
// (`x`: a batch of them): the logits of the batch with cuDNN's fused convolutions are checked
// against the separate operations' (within 1e-2 of their largest magnitude: a wrong fusion is off
// by the size of the logits, rounding by far less), on every rank; where they agree everywhere,
// the two are timed alternately as in the run-offs and the faster wins (with force_fusion they are
// used untimed). `fuse` is the setting `time` runs with; it is left at the winner.
template <class Time>
void choose_fusion(Model& model, const ChoiceOptions& o, EvalChoice& best, const torch::Tensor& x,
                   bool& fuse, const Time& time) {
  TimingResult check;
  try {
    c10::InferenceMode guard;
    PrecisionGuard precision(o.precision, x.device());
    FoldBatchNorm fold;
    torch::Tensor plain, fused;
    {
      FuseConvolutions off(false);
      plain = model.forward(x).to(torch::kFloat64);
    }
    {
      FuseConvolutions on(true);
      fused = model.forward(x).to(torch::kFloat64);
    }
    const double scale = plain.abs().max().item<double>();
    const double diff = (fused - plain).abs().max().item<double>();
    if (!(diff <= 1e-2 * scale)) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "fused logits differ by %.3g (largest logit %.3g)", diff, scale);
      throw Error(msg);
    }
  } catch (const std::exception& e) {
    check.state = TimingResult::unusable;
    check.error = one_line(e);
  }
  if (o.combine) check = o.combine(check);
  fuse = false;
  if (check.state != TimingResult::ok) {
    std::string why = check.error;
    if (why.size() > 120) why = why.substr(0, 117) + "...";
    best.report += "; cudnn fusion: not used (" + why + ")";
    return;
  }
  if (o.force_fusion) {
    fuse = best.fuse_convolutions = true;
    best.report += "; cudnn fusion: on (checked, not timed)";
    return;
  }
  const auto rates = run_off(o.budget_seconds, [&](int i, double seconds) {
    fuse = i == 1;  // (no warm-up pass: the check has run both at this batch)
    return time(best.channels_last, best.batch_size, seconds, 0, false).rate;
  });
  fuse = rates[1] > rates[0];
  best.fuse_convolutions = fuse;
  best.images_per_second = std::max(rates[0], rates[1]);
  best.report += "; cudnn fusion: off " + std::to_string(std::lround(rates[0])) + " vs on " +
                 std::to_string(std::lround(rates[1])) + " images/s";
}

}  // namespace

EvalChoice choose_eval_options(Model& model, const DataSplit& data, std::int64_t fixed_batch,
                               const std::string& layout, Precision p, double budget_seconds,
                               bool runoff) {
  ChoiceOptions o;
  o.fixed_batch = fixed_batch;
  o.layout = layout;
  o.precision = p;
  o.budget_seconds = budget_seconds;
  o.runoff = runoff;
  return choose_eval_options(model, data, o);
}

EvalChoice choose_eval_options(Model& model, const DataSplit& data, const ChoiceOptions& o) {
  EvalChoice best;
  const std::int64_t n = o.max_images >= 0 ? std::min(o.max_images, data.size()) : data.size();
  check_memory_format(o.layout);
  bool has4d = data.images.dim() == 4;
  if (has4d) {
    has4d = false;
    for (auto& t : model.parameters()) has4d = has4d || t.tensor.dim() == 4;
  }
  std::vector<bool> layouts;
  if (o.layout == "auto" && has4d)
    layouts = {false, true};
  else
    layouts = {o.layout == "nhwc" && has4d};
  // The error of the model's forward on 2 images in `channels_last` ("" when it works), agreed
  // over the ranks that choose together (a failure on one is a failure on all).
  const auto failure_in = [&](bool channels_last) -> std::string {
    set_channels_last(model, channels_last);
    model.train(false);
    const TimingResult mine = guarded_timing([&] {
      c10::InferenceMode guard;
      PrecisionGuard precision(o.precision, data.images.device());
      (void)model.forward(with_layout(data.images.narrow(0, 0, std::min<std::int64_t>(2, n)), channels_last));
      return 0.0;
    });
    try {
      const TimingResult all = o.combine ? o.combine(mine) : mine;
      if (all.state != TimingResult::failed) return "";
      return all.error.empty() ? "the model's forward failed" : all.error;
    } catch (const InputError& e) {  // (a rank's failure, thrown everywhere)
      return e.what();
    }
  };
  // A model that fails in channels-last, asked for by --memory-format nhwc (auto falls back):
  // said with the option and the way out where it runs in NCHW (it failed at the first point,
  // saying "the same command resumes"); a failure in both layouts is said as it is.
  const auto nhwc_failed = [&](const std::string& e) {
    if (!failure_in(false).empty()) return InputError(e);
    return InputError(e + " (in channels-last, as --memory-format nhwc asks: use --memory-format nchw, or "
                          "auto, which falls back to NCHW)");
  };
  if (n == 0 ||
      (o.fixed_batch > 0 && layouts.size() == 1 && o.max_points <= 1 && !o.try_fusion)) {
    // nothing to choose
    best.batch_size = std::max<std::int64_t>(o.fixed_batch, 1);
    best.channels_last = layouts.front();
    // (nothing is timed: one pass of 2 images in channels-last, before the first point)
    if (best.channels_last && n > 0)
      if (const std::string e = failure_in(true); !e.empty()) throw nhwc_failed(e);
    set_channels_last(model, best.channels_last);
    return best;
  }
  auto cands = o.fixed_batch > 0 ? std::vector<std::int64_t>{std::min(o.fixed_batch, n)}
                                 : batch_candidates(n, data.images.is_cuda());
  const double per = o.budget_seconds / double(cands.size() * layouts.size());
  model.train(false);
  torch::Tensor samples[2];  // the first images in NCHW and in NHWC
  double last_local = 0;     // this rank's rate in the last timing
  bool fuse = false;         // cuDNN's fused convolutions in the timings (choose_fusion)
  // The rate of `bs` images in layout `cl` over about `seconds`, combined over the ranks that
  // time together; a failure anywhere is thrown everywhere.
  // `forced`: this rank's result without timing (a failure before it).
  auto time = [&](bool cl, std::int64_t bs, double seconds, double floor, bool warm_up = true,
                  const StackedState* points = nullptr, const TimingResult* forced = nullptr) {
    TimingResult mine = forced ? *forced : guarded_timing([&] {
      set_channels_last(model, cl);
      if (!samples[cl].defined())
        samples[cl] = with_layout(data.images.narrow(0, 0, cands.back()), cl);
      c10::InferenceMode guard;
      PrecisionGuard precision(o.precision, data.images.device());
      FoldBatchNorm fold;
      FuseConvolutions fused(fuse);
      // (a given --batch-size, or K points' share of it, may exceed the data: a pass then
      // takes all of it, as the sweep's would)
      const auto x = samples[cl].narrow(0, 0, std::min(bs, samples[cl].size(0)));
      return batch_rate(model, x, seconds, floor, warm_up, points);
    });
    last_local = mine.rate;
    TimingResult all = o.combine ? o.combine(mine) : mine;
    if (all.state == TimingResult::failed)
      throw InputError(all.error.empty() ? "timing the batch sizes failed" : all.error);
    return all;
  };
  struct Tried {
    bool cl;
    std::int64_t bs;
    double rate;
  };
  std::vector<Tried> tried;
  std::string too_large;
  for (bool cl : layouts) {
    Scan scan;
    double local_best = 0;
    std::int64_t layout_bs = 0;
    bool unusable = false;
    for (auto b : cands) {
      TimingResult t;
      try {
        t = time(cl, b, per, local_best / 3);
      } catch (const InputError& e) {
        // Channels-last tried by --memory-format auto only, after NCHW worked: a model that
        // fails in it (a TorchScript `.view()` of a convolution's output, which NHWC leaves
        // non-contiguous) is run in NCHW, as PyTorch runs it, rather than refused. (Every rank
        // throws alike: the timings are combined.)
        if (cl && layouts.size() == 1) throw nhwc_failed(e.what());
        if (!cl || layouts.size() < 2 || tried.empty()) throw;
        unusable = true;
        tried.erase(std::remove_if(tried.begin(), tried.end(), [](const Tried& t) { return t.cl; }),
                    tried.end());
        best.report += std::string(best.report.empty() ? "" : "; ") + "nhwc: unusable (" +
                       one_line(e, 160) + ")";
        break;
      }
      local_best = std::max(local_best, last_local);
      if (t.state == TimingResult::out_of_memory) {  // and so would be every larger batch
        too_large = t.error;
        break;
      }
      tried.push_back({cl, b, t.rate});
      const auto step = scan.next(t.rate);
      if (step == Scan::better) {
        layout_bs = b;
      } else if (step == Scan::stop) {
        // Past the best (clearly below it, or twice in a row): larger batches only get slower
        // (on a CPU they leave the cache, and once an activation outgrows the allocator's
        // cached blocks it is mapped and unmapped at every layer: a pass of 512 images of
        // ResNet-56 took 3 s instead of 0.6 s here), and each try costs two passes of a larger
        // batch than the last.
        break;
      }
    }
    if (unusable) continue;
    char line[160];
    if (layout_bs > 0)
      std::snprintf(line, sizeof line, "%s%s: batch %lld, %.0f images/s",
                    best.report.empty() ? "" : "; ", cl ? "nhwc" : "nchw",
                    static_cast<long long>(layout_bs), scan.best);
    else
      std::snprintf(line, sizeof line, "%s%s: no batch fits", best.report.empty() ? "" : "; ",
                    cl ? "nhwc" : "nchw");
    best.report += line;
  }
  if (tried.empty())
    throw InputError("even a batch of " + std::to_string(cands.front()) +
                     " images does not fit in memory: " + too_large);
  std::stable_sort(tried.begin(), tried.end(),
                   [](const Tried& a, const Tried& b) { return a.rate > b.rate; });
  // The two best, when within 15 %, go to a run-off, and the faster over it wins.
  if (o.runoff && tried.size() > 1 && tried[1].rate >= 0.85 * tried[0].rate) {
    const auto rates = run_off(o.budget_seconds, [&](int i, double seconds) {
      // (no warm-up pass: the scan has already run both settings)
      return time(tried[std::size_t(i)].cl, tried[std::size_t(i)].bs, seconds, 0, false).rate;
    });
    char line[200];
    std::snprintf(line, sizeof line, "; run-off: %s batch %lld %.0f vs %s batch %lld %.0f images/s",
                  tried[0].cl ? "nhwc" : "nchw", static_cast<long long>(tried[0].bs), rates[0],
                  tried[1].cl ? "nhwc" : "nchw", static_cast<long long>(tried[1].bs), rates[1]);
    best.report += line;
    tried[0].rate = rates[0];
    tried[1].rate = rates[1];
    if (tried[1].rate > tried[0].rate) std::swap(tried[0], tried[1]);
  }
  best.images_per_second = tried[0].rate;
  best.batch_size = o.fixed_batch > 0 ? o.fixed_batch : tried[0].bs;
  best.channels_last = tried[0].cl;
  set_channels_last(model, best.channels_last);
  if (o.try_fusion) {
    const auto& all = samples[best.channels_last];
    const auto x = all.narrow(0, 0, std::min(best.batch_size, all.size(0)));
    choose_fusion(model, o, best, x, fuse, time);
  }
  if (o.max_points > 1 && o.stack) choose_points(o, best, per, time);
  return best;
}

double forward_rate(Model& model, const DataSplit& data, std::int64_t batch_size, Precision p,
                    double min_seconds, std::int64_t images, bool fold_batchnorm,
                    const StackedState* points, bool fuse_convolutions) {
  using clock = std::chrono::steady_clock;
  const std::int64_t n = images > 0 ? std::min(images, data.size()) : data.size();
  if (n == 0 || batch_size < 1) return 0;
  model.train(false);
  c10::InferenceMode guard;
  PrecisionGuard precision(p, data.images.device());
  FoldBatchNorm fold(fold_batchnorm);
  FuseConvolutions fuse(fuse_convolutions);
  // Warm-up: every batch shape of a pass, the last (shorter) one too, so that on a GPU cuDNN's
  // autotuning of each new shape stays out of the timing
  forward_of(model, data.images.narrow(0, 0, std::min(batch_size, n)), points);
  if (n > batch_size && n % batch_size != 0)
    forward_of(model, data.images.narrow(0, 0, n % batch_size), points);
  synchronize(data.images);
  // Batches in turn over the images, the clock read after every batch on a CPU (so that ranks
  // measuring together stop together) and after every full pass on a GPU (one sync per pass).
  const bool gpu = data.images.is_cuda();
  std::int64_t done = 0, start = 0;
  double el = 0;
  auto t0 = clock::now();
  while (true) {
    const std::int64_t len = std::min(batch_size, n - start);
    forward_of(model, data.images.narrow(0, start, len), points);
    done += len;
    start = start + len < n ? start + len : 0;
    if (gpu && start != 0) continue;
    synchronize(data.images);
    el = std::chrono::duration<double>(clock::now() - t0).count();
    if (el >= min_seconds) break;
  }
  return double(done) * (points ? points->points : 1) / el;
}

void injected_eval_error() {
  static const char* spec = std::getenv("LOSSCAPE_TEST_EVAL_ERROR");
  static long count = 0;
  if (!spec) return;
  int r = -1;
  long n = 0;
  const int rank = mpi::initialized() ? mpi::Comm::world().rank() : 0;
  if (std::sscanf(spec, "%d:%ld", &r, &n) == 2 && r == rank && ++count == n)
    throw Error("injected evaluation error (LOSSCAPE_TEST_EVAL_ERROR)");
}

void run_in_group(const mpi::Comm* group, const std::function<void()>& local) {
  if (!group || group->size() == 1) return local();
  std::string mine;
  try {
    local();
  } catch (const MpiError&) {
    throw;
  } catch (const GroupEvalError&) {
    throw;  // a nested group step already agreed on it
  } catch (const std::exception& e) {
    mine = one_line(e);
    if (mine.empty()) mine = "evaluation failed";
  }
  if (group->allreduce_sum(std::int64_t(mine.empty() ? 0 : 1)) > 0) throw GroupEvalError(mine);
}

void run_agreed(const mpi::Comm& comm, const std::function<void()>& step) {
  std::string err;
  bool usage = false;
  try {
    step();
  } catch (const AgreedError&) {
    throw;  // already the same on every rank
  } catch (const std::exception& e) {
    err = one_line(e);
    usage = dynamic_cast<const UsageError*>(&e) != nullptr;
  }
  const bool failed = !err.empty();
  err = comm.agree(err);
  if (err.empty()) return;
  // The exit code is that of the error agreed on, the lowest failed rank's (Comm::agree).
  const std::int64_t none = comm.size();
  const std::int64_t first = -comm.allreduce_max(-(failed ? std::int64_t(comm.rank()) : none));
  const std::int64_t first_usage = -comm.allreduce_max(-(usage ? std::int64_t(comm.rank()) : none));
  throw AgreedError(err, first_usage == first);
}

}  // namespace losscape
