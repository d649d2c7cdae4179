// Tests of checkpoint.hpp: save/read round trip, the layout seen by h5py (docs/file-formats.md),
// loading through load_model, and clear errors for HDF5 files that are not checkpoints.
#include "losscape/checkpoint.hpp"
#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "losscape/model.hpp"
#include "test_support.hpp"

using namespace losscape;
using losscape::test::TempDir;
using catch_compat::Contains;

namespace {

// A zoo model whose every tensor differs from a fresh one, including BN running statistics and
// the int64 num_batches_tracked.
std::unique_ptr<Model> perturbed_model(const std::string& arch, const std::string& dataset) {
  torch::manual_seed(7);
  auto m = make_zoo(arch, dataset);
  torch::NoGradGuard g;
  std::int64_t k = 0;
  for (auto& t : m->state()) {
    if (t.tensor.scalar_type() == torch::kInt64)
      t.tensor.fill_(1000 + k);
    else if (t.name.find("running_var") != std::string::npos)
      t.tensor.uniform_(0.5, 2.0);
    else
      t.tensor.normal_(0.1 * double(k % 7), 0.5);
    ++k;
  }
  return m;
}

Checkpoint make_checkpoint(const Model& m) {
  Checkpoint ck;
  ck.meta = meta_for(m, "fashion-mnist");
  ck.meta.epoch = 12;
  ck.meta.train_loss = 0.25;
  ck.meta.train_acc = 91.5;
  ck.meta.test_loss = 0.375;
  ck.meta.test_acc = 89.25;
  ck.meta.config = {{"optimizer", "sgd"}, {"lr", 0.1}, {"milestones", {150, 225, 275}}};
  for (auto& t : m.state()) ck.state.push_back({t.name, t.tensor.clone()});
  ck.optimizer.push_back({"momentum.conv1.weight", torch::randn({16, 1, 3, 3})});
  return ck;
}

}  // namespace

TEST_CASE("checkpoint round trip keeps tensors, dtypes, metadata and config", "[checkpoint]") {
  TempDir d("ckpt");
  auto m = perturbed_model("cnn_small", "fashion-mnist");
  auto ck = make_checkpoint(*m);
  const auto path = d.file("model.h5");
  save_checkpoint(path, ck);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  CHECK(h5::is_hdf5(path));

  auto back = read_checkpoint(path);
  REQUIRE(back.state.size() == ck.state.size());
  for (std::size_t i = 0; i < ck.state.size(); ++i) {
    INFO(ck.state[i].name);
    CHECK(back.state[i].name == ck.state[i].name);
    CHECK(back.state[i].tensor.scalar_type() == ck.state[i].tensor.scalar_type());
    CHECK(back.state[i].tensor.sizes() == ck.state[i].tensor.sizes());
    CHECK(torch::equal(back.state[i].tensor, ck.state[i].tensor));
  }
  REQUIRE(back.optimizer.size() == 1);
  CHECK(back.optimizer[0].name == "momentum.conv1.weight");
  CHECK(torch::equal(back.optimizer[0].tensor, ck.optimizer[0].tensor));

  CHECK(back.meta.arch == "cnn_small");
  CHECK(back.meta.dataset == "fashion-mnist");
  CHECK(back.meta.input_shape == std::vector<std::int64_t>{1, 28, 28});
  CHECK(back.meta.num_classes == 10);
  CHECK(back.meta.epoch == 12);
  CHECK(back.meta.train_loss == 0.25);
  CHECK(back.meta.train_acc == 91.5);
  CHECK(back.meta.test_loss == 0.375);
  CHECK(back.meta.test_acc == 89.25);
  CHECK(back.meta.config == ck.meta.config);

  // Loading the file gives a model whose state equals what was saved.
  auto loaded = load_model(path, "", "fashion-mnist");
  CHECK(loaded->arch == "cnn_small");
  CHECK(loaded->format == "losscape-checkpoint");
  CHECK(loaded->source == path);
  auto st = loaded->state();
  REQUIRE(st.size() == ck.state.size());
  for (std::size_t i = 0; i < st.size(); ++i) CHECK(torch::equal(st[i].tensor, ck.state[i].tensor));

  CHECK_THROWS_WITH(load_model(path, "resnet20", "fashion-mnist"), Contains("cnn_small"));
  CHECK_THROWS_WITH(load_model(path, "", "cifar10"), Contains(path) && Contains("28"));
}

TEST_CASE("unset metrics are stored as NaN and an empty config as {}", "[checkpoint]") {
  TempDir d("ckpt-nan");
  auto m = make_zoo("cnn_small", "cifar10");
  Checkpoint ck;
  ck.meta = meta_for(*m, "cifar10");
  ck.state = m->state();
  save_checkpoint(d.file("c.h5"), ck);
  auto back = read_checkpoint(d.file("c.h5"));
  CHECK(std::isnan(back.meta.test_acc));
  CHECK(back.meta.epoch == -1);
  CHECK(back.meta.config == nlohmann::json::object());
  CHECK(back.optimizer.empty());
}

TEST_CASE("the checkpoint layout as h5py sees it", "[checkpoint][python]") {
  LOSSCAPE_REQUIRE_PYTHON("h5py numpy");
  TempDir d("ckpt-h5py");
  auto m = perturbed_model("cnn_small", "fashion-mnist");
  auto ck = make_checkpoint(*m);
  save_checkpoint(d.file("model.h5"), ck);
  // Exactly what docs/file-formats.md tells a Python user to do.
  auto r = test::run_python(d, "path = '" + d.file("model.h5") + "'\n" + R"PY(
import json, h5py, numpy as np
def text(v):  # fixed-length string attributes come back as numpy.bytes_
    return v.decode() if isinstance(v, bytes) else str(v)
with h5py.File(path, 'r') as f:
    a = f.attrs
    assert text(a['format']) == 'losscape-checkpoint', a['format']
    assert int(a['format_version']) == 1
    assert text(a['arch']) == 'cnn_small'
    assert text(a['dataset']) == 'fashion-mnist'
    assert list(a['input_shape']) == [1, 28, 28]
    assert int(a['num_classes']) == 10 and int(a['epoch']) == 12
    assert float(a['test_acc']) == 89.25 and float(a['train_loss']) == 0.25
    cfg = json.loads(text(a['config']))
    assert cfg['milestones'] == [150, 225, 275] and cfg['lr'] == 0.1
    names = [text(n) for n in f['state'].attrs['names']]
    print(len(names))
    print(names[0], names[4], names[6])
    print(f['state/bn1.num_batches_tracked'].dtype, f['state/bn1.num_batches_tracked'].shape,
          int(f['state/bn1.num_batches_tracked'][()]))
    w = f['state/conv1.weight']
    print(w.dtype, w.shape)
    print(repr(float(w[3, 0, 1, 2])))
)PY");
  INFO(r.out);
  REQUIRE(r.status == 0);
  std::istringstream out(r.out);
  std::string line;
  std::getline(out, line);
  CHECK(line == std::to_string(ck.state.size()));
  std::getline(out, line);
  CHECK(line == "conv1.weight bn1.running_mean bn1.num_batches_tracked");
  std::getline(out, line);
  CHECK(line == "int64 () " + std::to_string(ck.state[6].tensor.item<std::int64_t>()));
  std::getline(out, line);
  CHECK(line == "float32 (16, 1, 3, 3)");
  std::getline(out, line);
  CHECK(std::stod(line) == double(ck.state[0].tensor[3][0][1][2].item<float>()));
}

TEST_CASE("HDF5 files that are not checkpoints give clear errors", "[checkpoint]") {
  TempDir d("not-ckpt");
  {
    h5::File f(d.file("other.h5"), h5::File::Mode::create);
    auto ds = f.create_dataset("values", h5::Type::f64, {3}, 0.0);
  }
  CHECK_THROWS_WITH(read_checkpoint(d.file("other.h5")),
                    Contains(d.file("other.h5")) && Contains("not a losscape checkpoint"));
  CHECK_THROWS_AS(read_checkpoint(d.file("other.h5")), FormatError);
  CHECK_THROWS_WITH(load_model(d.file("other.h5"), "", "cifar10"), Contains("not a losscape checkpoint"));
  {
    h5::File f(d.file("dir.h5"), h5::File::Mode::create);
    f.create_group("xdirection");
  }
  CHECK_THROWS_WITH(read_checkpoint(d.file("dir.h5")), Contains("direction file"));
  {
    h5::File f(d.file("surf.h5"), h5::File::Mode::create);
    f.create_dataset("xcoordinates", h5::Type::f64, {5}, 0.0);
  }
  CHECK_THROWS_WITH(read_checkpoint(d.file("surf.h5")), Contains("surface file"));
  CHECK_THROWS_WITH(read_checkpoint(d.file("missing.h5")), Contains(d.file("missing.h5")));
}
