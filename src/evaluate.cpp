#include "losscape/evaluate.hpp"

#include <chrono>

#include "losscape/error.hpp"

namespace losscape {

LossKind parse_loss(const std::string& s) {
  if (s == "crossentropy" || s == "cross_entropy" || s == "ce") return LossKind::cross_entropy;
  if (s == "mse") return LossKind::mse;
  throw InputError("unknown loss '" + s + "' (expected crossentropy or mse)");
}
const char* to_string(LossKind k) { return k == LossKind::mse ? "mse" : "crossentropy"; }

EvalSums evaluate(Model& model, const DataSplit& data, const EvalOptions& opts) {
  c10::InferenceMode guard;
  model.train(false);
  const std::int64_t n = data.size();
  std::int64_t bs = opts.batch_size > 0 ? opts.batch_size : 256;
  auto dev = data.images.device();
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

std::int64_t choose_batch_size(Model& model, const DataSplit& data, double budget_seconds) {
  using clock = std::chrono::steady_clock;
  c10::InferenceMode guard;
  model.train(false);
  const std::int64_t n = data.size();
  if (n == 0) return 1;
  std::int64_t best = std::min<std::int64_t>(n, 128);
  double best_rate = 0;
  const std::int64_t cap = std::min<std::int64_t>(n, data.images.is_cuda() ? 8192 : 4096);
  std::vector<std::int64_t> cands;
  for (std::int64_t b = 16; b < cap; b *= 2) cands.push_back(b);
  cands.push_back(cap);
  const double per = budget_seconds / double(cands.size());
  for (auto b : cands) {
    auto x = data.images.narrow(0, 0, b);
    model.forward(x);  // warm-up (allocations, autotuning)
    if (x.is_cuda()) torch::cuda::synchronize();
    std::int64_t images = 0;
    auto t0 = clock::now();
    double el = 0;
    int reps = 0;
    do {
      auto out = model.forward(x);
      if (x.is_cuda()) torch::cuda::synchronize();
      images += b;
      ++reps;
      el = std::chrono::duration<double>(clock::now() - t0).count();
    } while (el < per && reps < 50);
    double rate = double(images) / el;
    if (rate > best_rate) {
      best_rate = rate;
      best = b;
    }
  }
  return best;
}

}  // namespace losscape
