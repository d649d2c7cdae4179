#include "losscape/checkpoint.hpp"

#include <cstdio>
#include <filesystem>

#include "losscape/error.hpp"
#include "losscape/data.hpp"
#include "losscape/zoo.hpp"
#include "losscape/h5.hpp"

namespace losscape {
namespace {

constexpr const char* kFormat = "losscape-checkpoint";
constexpr std::int64_t kFormatVersion = 1;

void write_group(const h5::Location& file, const std::string& group, const TensorList& tensors) {
  auto g = file.create_group(group);
  std::vector<std::string> names;
  for (auto& t : tensors) {
    auto c = t.tensor.detach().to(torch::kCPU).contiguous();
    h5::Type type = c.scalar_type() == torch::kInt64   ? h5::Type::i64
                    : c.scalar_type() == torch::kFloat64 ? h5::Type::f64
                                                         : h5::Type::f32;
    if (type == h5::Type::f32) c = c.to(torch::kFloat32);
    std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
    auto d = g.create_dataset(t.name, type, dims);
    d.write(type, c.data_ptr());
    names.push_back(t.name);
  }
  g.set_attr("names", names);
}

TensorList read_group(const h5::Location& file, const std::string& group) {
  TensorList out;
  if (!file.exists(group)) return out;
  auto g = file.group(group);
  auto names = g.has_attr("names") ? g.attr_strings("names") : g.children();
  for (auto& n : names) {
    auto d = g.dataset(n);
    auto dims = d.dims();
    std::vector<std::int64_t> shape(dims.begin(), dims.end());
    h5::Type t = d.type();
    torch::Tensor x;
    if (t == h5::Type::i64 || t == h5::Type::u8) {
      x = torch::empty(shape, torch::kInt64);
      d.read(h5::Type::i64, x.data_ptr());
    } else if (t == h5::Type::f64) {
      x = torch::empty(shape, torch::kFloat64);
      d.read(h5::Type::f64, x.data_ptr());
    } else {
      x = torch::empty(shape, torch::kFloat32);
      d.read(h5::Type::f32, x.data_ptr());
    }
    out.push_back({n, x});
  }
  return out;
}

}  // namespace

CheckpointMeta meta_for(const Model& m, const std::string& dataset) {
  CheckpointMeta meta;
  meta.arch = m.arch;
  meta.dataset = dataset;
  meta.input_shape = m.input_shape;
  meta.num_classes = m.num_classes;
  return meta;
}

void save_checkpoint(const std::string& path, const Checkpoint& ck) {
  // Whole or not at all: a write that fails (a full disk) removes its temporary.
  h5::write_whole(path, ".tmp", [&](const std::string& tmp) {
    h5::File f(tmp, h5::File::Mode::truncate);
    f.set_attr("format", std::string(kFormat));
    f.set_attr("format_version", std::int64_t(kFormatVersion));
    h5::set_version_attrs(f);
    f.set_attr("arch", ck.meta.arch);
    f.set_attr("dataset", ck.meta.dataset);
    f.set_attr("input_shape", ck.meta.input_shape);
    f.set_attr("num_classes", std::int64_t(ck.meta.num_classes));
    f.set_attr("epoch", ck.meta.epoch);
    f.set_attr("train_loss", ck.meta.train_loss);
    f.set_attr("train_acc", ck.meta.train_acc);
    f.set_attr("test_loss", ck.meta.test_loss);
    f.set_attr("test_acc", ck.meta.test_acc);
    f.set_attr("config", ck.meta.config.dump());
    if (!ck.meta.train_data_fingerprint.empty())
      f.set_attr("train_data_fingerprint", ck.meta.train_data_fingerprint);
    if (!ck.meta.test_data_fingerprint.empty())
      f.set_attr("test_data_fingerprint", ck.meta.test_data_fingerprint);
    write_group(f, "state", ck.state);
    if (!ck.optimizer.empty()) write_group(f, "optimizer", ck.optimizer);
    f.flush();
    f.close();  // (checked: what HDF5 still holds reaches the file before it is renamed)
  });
}

namespace {
CheckpointMeta read_meta(const h5::File& f, const std::string& path) {
  if (!f.has_attr("format") || f.attr_string("format") != kFormat) {
    if (f.exists("xdirection")) throw InputError(path + ": is a direction file, not a model");
    if (f.exists("train_loss") || f.exists("xcoordinates"))
      throw InputError(path + ": is a surface file, not a model");
    if (!f.has_attr("format"))
      throw FormatError(path + ": HDF5 file is not a losscape checkpoint (no format attribute)");
    throw FormatError(path + ": HDF5 file is not a losscape checkpoint (its format is '" +
                      f.attr_string("format") + "', not '" + kFormat + "')");
  }
  if (f.has_attr("format_version") && f.attr_int("format_version") > kFormatVersion)
    throw FormatError(path + ": written by a newer losscape (checkpoint format version " +
                      std::to_string(f.attr_int("format_version")) + "; this one reads up to " +
                      std::to_string(kFormatVersion) + ")");
  CheckpointMeta m;
  m.arch = f.attr_string("arch");
  if (!is_zoo_name(m.arch))
    throw FormatError(path + ": its architecture '" + m.arch + "' is not one of the zoo's");
  if (f.has_attr("dataset")) m.dataset = f.attr_string("dataset");
  try {
    if (!m.dataset.empty()) data_shape(m.dataset);
  } catch (const InputError& e) {
    throw FormatError(path + ": " + e.what());
  }
  m.input_shape = f.attr_ints("input_shape");
  m.num_classes = int(f.attr_int("num_classes"));
  m.epoch = f.attr_int("epoch");
  m.train_loss = f.attr_double("train_loss");
  m.train_acc = f.attr_double("train_acc");
  m.test_loss = f.attr_double("test_loss");
  m.test_acc = f.attr_double("test_acc");
  try {
    m.config = nlohmann::json::parse(f.attr_string("config"));
  } catch (const nlohmann::json::exception&) {
    throw FormatError(path + ": attribute 'config' is not valid JSON");
  }
  if (f.has_attr("train_data_fingerprint")) m.train_data_fingerprint = f.attr_string("train_data_fingerprint");
  if (f.has_attr("test_data_fingerprint")) m.test_data_fingerprint = f.attr_string("test_data_fingerprint");
  return m;
}
}  // namespace

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  const h5::File f(path, h5::File::Mode::read);
  return read_meta(f, path);
}

Checkpoint read_checkpoint(const std::string& path) {
  h5::File f(path, h5::File::Mode::read);
  Checkpoint ck;
  ck.meta = read_meta(f, path);
  ck.state = read_group(f, "state");
  if (ck.state.empty()) throw FormatError(path + ": checkpoint has no tensors in /state");
  ck.optimizer = read_group(f, "optimizer");
  return ck;
}

}  // namespace losscape
