#include "losscape/model.hpp"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "losscape/checkpoint.hpp"
#include "losscape/data.hpp"
#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "losscape/torch_save.hpp"
#include "losscape/zoo.hpp"

namespace losscape {

TensorSet parse_tensor_set(const std::string& s) {
  if (s == "weights") return TensorSet::weights;
  if (s == "states") return TensorSet::states;
  throw InputError("unknown direction type '" + s + "' (expected weights or states)");
}
const char* to_string(TensorSet s) { return s == TensorSet::weights ? "weights" : "states"; }

torch::Device Model::device() const {
  auto p = state();
  return p.empty() ? torch::Device(torch::kCPU) : p.front().tensor.device();
}

std::int64_t Model::parameter_count() const {
  std::int64_t n = 0;
  for (auto& p : parameters()) n += p.tensor.numel();
  return n;
}

torch::Tensor Model::forward_stacked(const torch::Tensor&, const StackedState&) {
  throw InputError(source + ": " + arch + " cannot evaluate several points per forward");
}

namespace {

// ---- zoo model: an nn::Module ----
class ZooModel : public Model {
 public:
  explicit ZooModel(std::shared_ptr<ZooNet> net) : net_(std::move(net)) {}
  TensorList parameters() const override {
    TensorList out;
    for (auto& p : net_->named_parameters(true)) out.push_back({p.key(), p.value()});
    return out;
  }
  TensorList state() const override {
    // state_dict order: per module in pre-order, its own parameters then its own buffers.
    TensorList out;
    for (auto& m : net_->named_modules("", /*include_self=*/true)) {
      std::string prefix = m.key().empty() ? "" : m.key() + ".";
      for (auto& p : m.value()->named_parameters(false)) out.push_back({prefix + p.key(), p.value()});
      for (auto& b : m.value()->named_buffers(false)) out.push_back({prefix + b.key(), b.value()});
    }
    return out;
  }
  torch::Tensor forward(const torch::Tensor& x) override { return net_->forward(x); }
  void train(bool on) override { net_->train(on); }
  void to(const torch::Device& d) override { net_->to(d); }
  std::shared_ptr<torch::nn::Module> module() override { return net_; }
  bool can_stack() const override { return net_->can_stack(); }
  torch::Tensor forward_stacked(const torch::Tensor& x, const StackedState& s) override {
    return can_stack() ? net_->forward_stacked(x, s) : Model::forward_stacked(x, s);
  }

 private:
  std::shared_ptr<ZooNet> net_;
};

// ---- TorchScript module ----
// A tensor list that takes each tensor once, under the first name it is added with.
struct OnceEach {
  TensorList list;
  std::set<const void*> seen;
  void add(const std::string& name, const torch::Tensor& t) {
    if (!t.defined() || seen.insert(t.unsafeGetTensorImpl()).second) list.push_back({name, t});
  }
};

class ScriptModel : public Model {
 public:
  explicit ScriptModel(torch::jit::Module m) : m_(std::move(m)) { use_fuser(false); }
  // A tensor shared by two modules (tied weights: `self.b = self.a`) is listed once, under its
  // first name, as PyTorch's Module.parameters() does: TorchScript lists it under each name, and
  // a Hessian over both copies was not the Hessian (its coordinates counted twice), directions
  // held a part per name for the one tensor and the parameter count was too large.
  TensorList parameters() const override {
    OnceEach out;
    for (const auto& p : m_.named_parameters(true)) out.add(p.name, p.value);
    return out.list;
  }
  TensorList state() const override {
    OnceEach out;
    for (const auto& sub : m_.named_modules()) {
      std::string prefix = sub.name.empty() ? "" : sub.name + ".";
      for (const auto& p : sub.value.named_parameters(false)) out.add(prefix + p.name, p.value);
      for (const auto& b : sub.value.named_buffers(false)) out.add(prefix + b.name, b.value);
    }
    return out.list;
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    c10::IValue out;
    try {
      // A copy: a module may change its input in place (`x.sub_(m)` to normalize), and the batch
      // is a view of the resident data set, which every later pass and point would then read
      // changed (a sweep's values depended on the order of its points). The copy costs a small
      // part of a forward; zoo networks never write their input and get the view.
      out = m_.forward({x.clone()});
    } catch (const c10::Error&) {
      throw;  // LibTorch's own (out of memory, a CUDA graph capture): their handlers need the type
    } catch (const std::exception& e) {
      // TorchScript's error is a traceback of the scripted code: its last line says what failed
      // (a shape mismatch when the model was made for other inputs).
      std::string what = e.what();
      if (what.find("out of memory") != std::string::npos) throw;  // (the batch-size scan's stop)
      while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
      const auto nl = what.rfind('\n');
      throw InputError(source + ": the TorchScript model's forward failed on a batch of shape " +
                       c10::str(x.sizes()) + ": " + (nl == std::string::npos ? what : what.substr(nl + 1)));
    }
    if (out.isTensor()) return out.toTensor();
    if (out.isTuple()) return out.toTuple()->elements().at(0).toTensor();
    throw InputError(source + ": TorchScript forward must return a tensor (the logits)");
  }
  void train(bool on) override { m_.train(on); }
  void to(const torch::Device& d) override {
    m_.to(d);
    use_fuser(d.is_cuda());
  }

 private:
  // TorchScript's TensorExpr fuser compiles fused kernels after the first runs; on CPU it does so
  // through LLVM, and with Debian 13's LibTorch 2.6 that compilation never finished for the
  // double backward of a Hessian-vector product (a small tanh network: over 15 minutes in
  // LLVMCodeGen instead of 0.15 s). Fusion is kept where it pays, on GPU (CUDA code generation).
  static void use_fuser(bool on) { torch::jit::setTensorExprFuserEnabled(on); }
  mutable torch::jit::Module m_;
};

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream o;
  o << t.sizes();
  return o.str();
}

// What keeps `values` from loading into `model` by name: missing and unexpected names, shapes.
// BatchNorm's num_batches_tracked came with PyTorch 0.4.1; like PyTorch's load_state_dict for
// older state dicts, a missing one is no problem (load_state takes it as 0; evaluation never
// reads it).
std::vector<std::string> state_problems(const Model& model, const TensorList& values) {
  std::map<std::string, const torch::Tensor*> by_name;
  for (auto& v : values) by_name[v.name] = &v.tensor;
  std::vector<std::string> problems;
  std::map<std::string, bool> used;
  for (auto& t : model.state()) {
    auto it = by_name.find(t.name);
    if (it == by_name.end() && is_counter(t.name)) continue;
    if (it == by_name.end()) {
      problems.push_back("missing " + t.name);
      continue;
    }
    used[t.name] = true;
    if (it->second->sizes() != t.tensor.sizes())
      problems.push_back(t.name + " has shape " + shape_str(*it->second) + ", " + model.arch +
                         " expects " + shape_str(t.tensor));
  }
  for (auto& v : values)
    if (!used.count(v.name)) problems.push_back("unexpected " + v.name);
  return problems;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> matching_zoo_archs(const TensorList& values) {
  // The data set whose images have the channels of the first convolution.
  std::string dataset;
  for (auto& v : values)
    if (v.tensor.dim() == 4) {
      dataset = v.tensor.size(1) == 3 ? "cifar10" : v.tensor.size(1) == 1 ? "fashion-mnist" : "";
      break;
    }
  std::vector<std::pair<std::string, std::string>> out;
  if (dataset.empty()) return out;
  torch::NoGradGuard guard;
  for (auto& arch : zoo_names()) {
    auto m = make_zoo(arch, dataset);
    if (state_problems(*m, values).empty()) out.emplace_back(arch, dataset);
  }
  return out;
}

void load_state(Model& model, const TensorList& values, const std::string& what,
                const std::string& dataset_option) {
  auto problems = state_problems(model, values);
  if (!problems.empty()) {
    std::string msg = what + " does not match architecture " + model.arch + " (" +
                      std::to_string(problems.size()) +
                      (problems.size() == 1 ? " difference): " : " differences): ");
    for (std::size_t i = 0; i < problems.size() && i < 5; ++i)
      msg += (i ? "; " : "") + problems[i];
    if (problems.size() > 5) msg += "; ...";
    // The usual cause: a network of another data set (a CIFAR-10 file read as Fashion-MNIST's).
    for (auto& v : values)
      if (v.tensor.dim() == 4) {
        const auto c = v.tensor.size(1);
        if (!model.input_shape.empty() && c != model.input_shape[0] && (c == 1 || c == 3))
          msg += " (the file's network takes " + std::to_string(c) + "-channel images: give " + dataset_option + " " +
                 (c == 3 ? "cifar10" : "fashion-mnist or mnist") + ")";
        break;
      }
    throw InputError(msg);
  }
  std::map<std::string, const torch::Tensor*> by_name;
  for (auto& v : values) by_name[v.name] = &v.tensor;
  torch::NoGradGuard guard;
  for (auto& t : model.state()) {
    auto it = by_name.find(t.name);
    if (it != by_name.end())
      t.tensor.copy_(*it->second);
    else
      t.tensor.zero_();  // a missing num_batches_tracked (see above)
  }
}

std::unique_ptr<Model> make_zoo(const std::string& arch, const std::string& dataset) {
  DataShape s = data_shape(dataset);
  auto m = std::make_unique<ZooModel>(make_zoo_model(arch, s.channels, s.height, s.width, s.classes));
  m->arch = arch;
  m->source = "zoo";
  m->format = "zoo";
  m->input_shape = {s.channels, s.height, s.width};
  m->num_classes = s.classes;
  return m;
}

std::unique_ptr<Model> load_model(const std::string& path, const std::string& arch,
                                  const std::string& dataset, const std::string& dataset_option) {
  {
    check_not_special(path, "a model file");
    // (a folder on the way that cannot be searched: "cannot be read", not "no such file")
    if (const std::string why = read_problem(path, "model file"); !why.empty())
      throw InputError(path + ": " + why);
  }
  std::unique_ptr<Model> model;
  if (h5::is_hdf5(path)) {
    Checkpoint ck = read_checkpoint(path);
    if (!arch.empty() && arch != ck.meta.arch)
      throw InputError(path + ": checkpoint holds architecture " + ck.meta.arch + ", not " + arch);
    DataShape s = data_shape(dataset);
    if (!ck.meta.input_shape.empty() && ck.meta.input_shape.size() != 3)
      throw FormatError(path + ": attribute input_shape has " +
                        std::to_string(ck.meta.input_shape.size()) +
                        (ck.meta.input_shape.size() == 1 ? " value" : " values") + ", not 3 (channels, height, width)");
    if (!ck.meta.input_shape.empty() &&
        (ck.meta.input_shape[0] != s.channels || ck.meta.input_shape[1] != s.height ||
         ck.meta.input_shape[2] != s.width))
      throw InputError(path + ": model was made for " + std::to_string(ck.meta.input_shape[0]) +
                       "x" + std::to_string(ck.meta.input_shape[1]) + "x" +
                       std::to_string(ck.meta.input_shape[2]) + " inputs, data set " + dataset +
                       " has " + std::to_string(s.channels) + "x" + std::to_string(s.height) +
                       "x" + std::to_string(s.width));
    model = make_zoo(ck.meta.arch, dataset);
    load_state(*model, ck.state, path, dataset_option);
    model->format = "losscape-checkpoint";
  } else {
    // "zip" (torch.save), "torchscript", "legacy" (torch.save before PyTorch 1.6) or ""
    const std::string kind = torch_file_kind(path);
    if (kind.empty()) {
      // torch.save's legacy format pickled with protocol 0 or 1: its magic number as text
      std::ifstream in(path, std::ios::binary);
      std::string head(26, '\0');
      in.read(head.data(), std::streamsize(head.size()));
      if (head == "L119547037146038801333356L")
        throw FormatError(path + ": a torch.save file pickled with protocol 0 or 1, which losscape "
                                 "does not read; save it again with torch.save's default protocol");
      throw NotModelFileError(path + ": not a model file (expected a losscape HDF5 checkpoint, a "
                                     "TorchScript module or a torch.save file)");
    }
    std::string jit_error;
    if (kind != "legacy") {  // any zip: LibTorch decides whether it is a module
      try {
        auto m = [&] {
          // (its parser and compiler recurse: code nested 10,000 deep overflowed the stack)
          CrashGuard guard(path + ": damaged or crafted TorchScript file: LibTorch crashed loading "
                                  "it (code or data nested too deep?)");
          return torch::jit::load(path, torch::kCPU);
        }();
        // LibTorch does not check that a tensor's record holds its elements: a truncated
        // record was read past its end by the first operation on the tensor (a crash).
        // (in 128 bits: an offset near 2^63 wrapped around and passed, reading before the
        // storage)
        std::string code_fingerprint;
        std::set<const c10::StorageImpl*> storages;
        unsigned __int128 declared = 0;  // the bytes the distinct storages claim
        auto check = [&](const std::string& name, const torch::Tensor& t) {
          if (!t.defined() || t.numel() == 0) return;
          __int128 last = t.storage_offset();
          bool negative = last < 0;
          for (std::int64_t d = 0; d < t.dim(); ++d) {
            negative = negative || t.stride(d) < 0;
            last += __int128(t.size(d) - 1) * t.stride(d);
          }
          const unsigned __int128 needed = negative ? 0 : (unsigned __int128)(last + 1) * t.element_size();
          const bool empty = !t.has_storage() || t.storage().data_ptr().get() == nullptr;
          auto shown = [](unsigned __int128 v) {
            return v > std::numeric_limits<std::uint64_t>::max() ? std::string("more than 2^64")
                                                                : std::to_string(std::uint64_t(v));
          };
          if (negative)
            throw FormatError(path + ": damaged TorchScript file: tensor " + name +
                              " has a negative storage offset or stride");
          if (empty || t.storage().nbytes() < needed)
            throw FormatError(path + ": damaged TorchScript file: the record of tensor " + name +
                              " holds " +
                              (empty ? std::string("no data")
                                     : std::to_string(t.storage().nbytes()) + " bytes") +
                              ", its shape needs " + shown(needed) + " bytes");
          if (storages.insert(t.storage().unsafeGetStorageImpl()).second) declared += t.storage().nbytes();
        };
        for (const auto& p : m.named_parameters(true)) check(p.name, p.value);
        for (const auto& b : m.named_buffers(true)) check(b.name, b.value);
        // LibTorch 1.13 gives a storage the size its tensors declare, whatever its record holds
        // (a record cut short was read past its end: garbage values or a crash). The records of
        // the module's tensors (data/N) must hold at least what its distinct storages claim.
        {
          caffe2::serialize::PyTorchStreamReader zip(path);
          unsigned __int128 recorded = 0;
          auto records = zip.getAllRecords();
          std::sort(records.begin(), records.end());
          std::uint64_t code = kFnvBasis;  // the module's code: its code/*.py records, by name
          for (const auto& r : records) {
            if (r.rfind("data/", 0) == 0) recorded += std::get<1>(zip.getRecord(r));
            if (r.rfind("code/", 0) == 0 && r.size() > 3 && r.compare(r.size() - 3, 3, ".py") == 0) {
              const auto [bytes, size] = zip.getRecord(r);
              code = fnv1a64(r.c_str(), r.size() + 1, code);
              code = fnv1a64(bytes.get(), size, code);
            }
          }
          if (recorded < declared)
            throw FormatError(path + ": damaged TorchScript file: its tensor records (data/) hold " +
                              std::to_string(std::uint64_t(recorded)) + " bytes, its parameters and buffers need " +
                              std::to_string(std::uint64_t(declared)));
          code_fingerprint = fnv1a64_text(code);
        }
        // The module is its own architecture: another name would be recorded as its
        // architecture in every file (a stored configuration gives "torchscript" back).
        if (!arch.empty() && arch != "torchscript")
          throw InputError(path + " is a TorchScript module, its own architecture: --arch " +
                           arch + " does not apply (drop it)");
        model = std::make_unique<ScriptModel>(std::move(m));
        model->arch = "torchscript";
        model->format = "torchscript";
        model->code_fingerprint = code_fingerprint;
        DataShape s = data_shape(dataset);
        model->input_shape = {s.channels, s.height, s.width};
        model->num_classes = s.classes;
      } catch (const Error&) {
        throw;  // (ours: a damaged record)
      } catch (const std::exception& e) {
        // c10::Error, or the TorchScript compiler's ErrorReport (its code does not compile).
        // One line: LibTorch's message can quote the module's source over many.
        jit_error = one_line(e, 300);
      }
    }
    if (!model) {
      TensorList values;
      try {
        values = read_torch_state_dict(path);
      } catch (const FormatError&) {
        // A TorchScript archive that LibTorch refused is better explained by LibTorch's reason.
        if (kind == "torchscript")
          throw FormatError(path + ": TorchScript module that LibTorch cannot load (" +
                            jit_error + ")");
        throw;
      }
      if (arch.empty()) {
        std::string hint;
        for (auto& [a, d] : matching_zoo_archs(values)) hint += (hint.empty() ? "" : ", ") + a;
        throw InputError(path + ": is a state dict; name its architecture with --arch (" +
                         (hint.empty() ? "no zoo architecture has its tensors"
                                       : "its tensors are those of " + hint) + ")");
      }
      model = make_zoo(arch, dataset);
      load_state(*model, values, path, dataset_option);
      model->format = "state_dict";
    }
  }
  model->source = path;
  model->train(false);
  if (model->format == "torchscript") {
    // Its code is its own: a module whose output is not one logit per class failed later, in
    // the loss, in LibTorch's words (fewer), or computed another loss silently (more). Ask once.
    const auto& in = model->input_shape;
    const std::string batch = "a batch of 2 " + dataset + " images [2, " +
                              std::to_string(in[0]) + ", " + std::to_string(in[1]) + ", " +
                              std::to_string(in[2]) + "]";
    torch::Tensor out;
    // Its state before the probe: a module whose forward changes it in eval mode (torch.jit.trace
    // of a network in training mode records BatchNorm's batch statistics and their update, which
    // train(false) cannot undo) evaluated with batch statistics, its loss depending on the batch
    // size, and the probe itself moved θ*'s running statistics.
    std::vector<torch::Tensor> before;
    for (const auto& t : model->state()) before.push_back(t.tensor.detach().clone());
    try {
      torch::NoGradGuard no_grad;
      out = model->forward(torch::zeros({2, in[0], in[1], in[2]}));
    } catch (const std::exception& e) {
      throw FormatError(path + ": the TorchScript module fails on " + batch + " (" +
                        one_line(e, 300) + ")");
    }
    const TensorList after = model->state();
    for (std::size_t i = 0; i < after.size() && i < before.size(); ++i) {
      const auto& a = before[i];
      const auto& b = after[i].tensor;
      const bool same = a.sizes() == b.sizes() &&
                        (at::isFloatingType(a.scalar_type())
                             ? (a == b).logical_or(a.isnan().logical_and(b.isnan())).all().item<bool>()
                             : torch::equal(a, b));
      if (!same)
        throw InputError(path + ": the TorchScript module changes its " + after[i].name +
                         " in a forward pass in eval mode (traced in training mode? torch.jit.trace "
                         "records BatchNorm's mode: trace after model.eval(), or use torch.jit.script)");
    }
    if (out.dim() != 2 || out.size(0) != 2 || out.size(1) != model->num_classes) {
      std::string got;
      for (auto d : out.sizes()) got += (got.empty() ? "" : ", ") + std::to_string(d);
      throw InputError(path + ": the TorchScript module returns [" + got + "] for " + batch +
                       "; losscape needs [2, " + std::to_string(model->num_classes) +
                       "], one logit per class");
    }
  }
  return model;
}

std::string non_finite_tensor(const TensorList& list) {
  for (const auto& t : list)
    if (at::isFloatingType(t.tensor.scalar_type()) && !torch::isfinite(t.tensor).all().item<bool>())
      return t.name;
  return "";
}

std::string diverged_model(const TensorList& list, const std::string& file) {
  if (const std::string bad = non_finite_tensor(list); !bad.empty())
    return file + ": " + bad + " holds NaN or infinite values (a diverged checkpoint?)";
  // A BatchNorm variance below 0 (a damaged or edited file: training never makes one) makes
  // every evaluation NaN, sqrt(var + eps) of a negative number, as NaN statistics do.
  const std::string var = "running_var";
  for (const auto& t : list)
    if (t.name.size() >= var.size() && t.name.compare(t.name.size() - var.size(), var.size(), var) == 0 &&
        at::isFloatingType(t.tensor.scalar_type()) && (t.tensor < 0).any().item<bool>())
      return file + ": " + t.name + " holds negative values, a variance's (a damaged checkpoint?)";
  return "";
}

std::uint64_t fnv1a64(const void* bytes, std::size_t n, std::uint64_t h) {
  const auto* b = static_cast<const unsigned char*>(bytes);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

std::string fnv1a64_text(std::uint64_t h) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string fingerprint(const TensorList& tensors) {
  std::uint64_t h = kFnvBasis;
  for (auto& t : tensors) {
    h = fnv1a64(t.name.data(), t.name.size(), h);
    for (auto s : t.tensor.sizes()) h = fnv1a64(&s, sizeof s, h);
    auto c = t.tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    h = fnv1a64(c.data_ptr(), std::size_t(c.numel()) * sizeof(float), h);
  }
  return fnv1a64_text(h);
}

bool is_counter(const std::string& name) {
  static const std::string counter = ".num_batches_tracked";  // (or the whole name: a bare BatchNorm)
  return name == counter.substr(1) || (name.size() > counter.size() &&
                                       name.compare(name.size() - counter.size(), counter.size(), counter) == 0);
}

TensorList eval_buffers(const Model& m) {
  std::set<std::string> params;
  for (const auto& t : m.parameters()) params.insert(t.name);
  TensorList out;
  for (auto& t : m.state())
    if (!params.count(t.name) && !is_counter(t.name)) out.push_back(std::move(t));
  return out;
}

}  // namespace losscape
