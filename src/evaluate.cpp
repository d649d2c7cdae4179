#include "losscape/evaluate.hpp"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>

#include "losscape/error.hpp"
#include "losscape/zoo.hpp"

namespace losscape {

LossKind parse_loss(const std::string& s) {
  if (s == "crossentropy" || s == "cross_entropy" || s == "ce") return LossKind::cross_entropy;
  if (s == "mse") return LossKind::mse;
  throw InputError("unknown loss '" + s + "' (expected crossentropy or mse)");
}
const char* to_string(LossKind k) { return k == LossKind::mse ? "mse" : "crossentropy"; }

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::fp32;
  if (s == "tf32") return Precision::tf32;
  if (s == "bf16") return Precision::bf16;
  if (s == "fp16") return Precision::fp16;
  throw InputError("unknown precision '" + s + "' (expected fp32, tf32, bf16 or fp16)");
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

EvalSums evaluate(Model& model, const DataSplit& data, const EvalOptions& opts) {
  c10::InferenceMode guard;
  model.train(false);
  const std::int64_t n = data.size();
  std::int64_t bs = opts.batch_size > 0 ? opts.batch_size : 256;
  auto dev = data.images.device();
  PrecisionGuard precision(opts.precision, dev);
  FoldBatchNorm fold(opts.fold_batchnorm);
  auto loss_acc = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(dev));
  auto correct_acc = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(dev));
  for (std::int64_t start = 0; start < n; start += bs) {
    const std::int64_t len = std::min(bs, n - start);
    auto x = data.images.narrow(0, start, len);
    auto y = data.labels.narrow(0, start, len);
    auto logits = model.forward(x);
    if (logits.dim() != 2 || logits.size(0) != len)
      throw InputError(model.source + ": forward returned shape " +
                       c10::str(logits.sizes()) + ", expected [batch, classes]");
    torch::Tensor l;
    if (opts.loss == LossKind::cross_entropy) {
      l = torch::nn::functional::cross_entropy(
          logits.to(torch::kFloat32), y,
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    } else {
      auto p = torch::softmax(logits.to(torch::kFloat32), 1);
      auto onehot = torch::one_hot(y, logits.size(1)).to(p.scalar_type());
      l = (p - onehot).pow(2).mean(1).sum();
    }
    loss_acc.add_(l.to(torch::kFloat64));
    correct_acc.add_(logits.argmax(1).eq(y).sum());
    if (opts.between_batches) opts.between_batches();
  }
  auto both = torch::stack({loss_acc, correct_acc.to(torch::kFloat64)}).to(torch::kCPU);
  EvalSums s;
  s.loss_sum = both[0].item<double>();
  s.correct = both[1].item<double>();
  s.count = double(n);
  return s;
}

namespace {

void synchronize(const torch::Tensor& x) {
  if (x.is_cuda()) torch::cuda::synchronize();
}

// Images per second of repeated forward passes on the batch `x` for about `seconds`, after one
// warm-up pass (allocations, oneDNN primitives, cuDNN autotuning).
double batch_rate(Model& model, const torch::Tensor& x, double seconds) {
  using clock = std::chrono::steady_clock;
  model.forward(x);
  synchronize(x);
  std::int64_t images = 0;
  int reps = 0;
  double el = 0;
  auto t0 = clock::now();
  do {
    model.forward(x);
    synchronize(x);
    images += x.size(0);
    ++reps;
    el = std::chrono::duration<double>(clock::now() - t0).count();
  } while (el < seconds && reps < 50);
  return double(images) / el;
}

std::vector<std::int64_t> batch_candidates(std::int64_t n, bool cuda) {
  std::vector<std::int64_t> cands;
  const std::int64_t cap = std::min<std::int64_t>(n, cuda ? 8192 : 4096);
  for (std::int64_t b = 16; b < cap; b *= 2) cands.push_back(b);
  cands.push_back(cap);
  return cands;
}

}  // namespace

std::int64_t parse_batch_size(const std::string& s) {
  if (s == "auto") return 0;
  std::int64_t b = 0;
  try {
    std::size_t used = 0;
    b = std::stoll(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
  } catch (const std::exception&) {
    throw InputError("--batch-size '" + s + "' is neither a number nor auto");
  }
  if (b < 1) throw InputError("--batch-size must be at least 1");
  return b;
}

void check_memory_format(const std::string& s) {
  if (s != "auto" && s != "nchw" && s != "nhwc")
    throw InputError("--memory-format '" + s + "': expected auto, nchw or nhwc");
}

EvalChoice choose_eval_options(Model& model, const DataSplit& data, std::int64_t fixed_batch,
                               const std::string& layout, Precision p, double budget_seconds) {
  EvalChoice best;
  const std::int64_t n = data.size();
  check_memory_format(layout);
  bool has4d = data.images.dim() == 4;
  if (has4d) {
    has4d = false;
    for (auto& t : model.parameters()) has4d = has4d || t.tensor.dim() == 4;
  }
  std::vector<bool> layouts;
  if (layout == "auto" && has4d)
    layouts = {false, true};
  else
    layouts = {layout == "nhwc" && has4d};
  if (n == 0 || (fixed_batch > 0 && layouts.size() == 1)) {  // nothing to choose
    best.batch_size = std::max<std::int64_t>(fixed_batch, 1);
    best.channels_last = layouts.front();
    set_channels_last(model, best.channels_last);
    return best;
  }
  auto cands = fixed_batch > 0 ? std::vector<std::int64_t>{std::min(fixed_batch, n)}
                               : batch_candidates(n, data.images.is_cuda());
  const double per = budget_seconds / double(cands.size() * layouts.size());
  model.train(false);
  for (bool cl : layouts) {
    set_channels_last(model, cl);
    auto sample = with_layout(data.images.narrow(0, 0, cands.back()), cl);
    double layout_best = 0;
    std::int64_t layout_bs = cands.front();
    {
      c10::InferenceMode guard;
      PrecisionGuard precision(p, data.images.device());
      FoldBatchNorm fold;
      for (auto b : cands) {
        double rate = batch_rate(model, sample.narrow(0, 0, b), per);
        if (rate > layout_best) {
          layout_best = rate;
          layout_bs = b;
        } else if (rate < 0.75 * layout_best) {
          // Past the best by a clear margin: larger batches only get slower (on a CPU they leave
          // the cache, and their activations are mapped and unmapped at every layer) and each
          // try costs two passes of a large batch.
          break;
        }
      }
    }
    char line[160];
    std::snprintf(line, sizeof line, "%s%s: batch %lld, %.0f images/s", best.report.empty() ? "" : "; ",
                  cl ? "nhwc" : "nchw", static_cast<long long>(layout_bs), layout_best);
    best.report += line;
    if (layout_best > best.images_per_second) {
      best.images_per_second = layout_best;
      best.batch_size = fixed_batch > 0 ? fixed_batch : layout_bs;
      best.channels_last = cl;
    }
  }
  set_channels_last(model, best.channels_last);
  return best;
}

double forward_rate(Model& model, const DataSplit& data, std::int64_t batch_size, Precision p,
                    double min_seconds, std::int64_t images, bool fold_batchnorm) {
  using clock = std::chrono::steady_clock;
  const std::int64_t n = images > 0 ? std::min(images, data.size()) : data.size();
  if (n == 0 || batch_size < 1) return 0;
  model.train(false);
  c10::InferenceMode guard;
  PrecisionGuard precision(p, data.images.device());
  FoldBatchNorm fold(fold_batchnorm);
  model.forward(data.images.narrow(0, 0, std::min(batch_size, n)));  // warm-up
  synchronize(data.images);
  std::int64_t done = 0;
  double el = 0;
  auto t0 = clock::now();
  do {
    for (std::int64_t start = 0; start < n; start += batch_size) {
      model.forward(data.images.narrow(0, start, std::min(batch_size, n - start)));
      done += std::min(batch_size, n - start);
    }
    synchronize(data.images);
    el = std::chrono::duration<double>(clock::now() - t0).count();
  } while (el < min_seconds);
  return double(done) / el;
}

}  // namespace losscape
