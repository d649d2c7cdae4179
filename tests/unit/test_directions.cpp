// Directions: each normalization checked against its definition on a real zoo network, the
// biasbn rule, weights vs states, targets, same-dir, seed reproducibility against PyTorch's own
// generator semantics, the file layout read back, and the errors.
#include "catch_compat.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>

#include "losscape/checkpoint.hpp"
#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "test_support.hpp"

using namespace losscape;

namespace {
std::unique_ptr<Model> net(std::uint64_t seed = 1) {
  torch::manual_seed(seed);
  return make_zoo("resnet20", "cifar10");
}
double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); }
}  // namespace

TEST_CASE("filter normalization: every filter has the norm of θ's filter, biasbn zeroes ≤1-D",
          "[directions]") {
  auto m = net();
  DirectionsConfig c;
  auto d = make_directions(*m, c, "cifar10");
  auto theta = m->parameters();
  REQUIRE(d.dirs.size() == 2);
  REQUIRE(d.dirs[0].size() == theta.size());
  for (int k = 0; k < 2; ++k)
    for (std::size_t i = 0; i < theta.size(); ++i) {
      auto& dt = d.dirs[k][i].tensor;
      auto& w = theta[i].tensor;
      REQUIRE(dt.sizes() == w.sizes());
      if (w.dim() <= 1) {
        CHECK(dt.abs().max().item<float>() == 0.0f);
        continue;
      }
      for (std::int64_t f = 0; f < w.size(0); ++f)
        CHECK(rel(dt[f].norm().item<double>(), w[f].norm().item<double>()) <= 1e-5);
    }
  // Two independent Gaussian directions of a 270k-parameter network are nearly orthogonal.
  CHECK(std::abs(directions_info(d, m.get())["cosine_xy"].get<double>()) < 0.01);
}

TEST_CASE("layer, weight, dfilter, dlayer and none follow their definitions", "[directions]") {
  auto m = net();
  auto theta = m->parameters();
  auto make_raw = [&] {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    return gaussian_like(theta, gen);
  };
  auto raw = make_raw();
  for (Norm n : {Norm::layer, Norm::weight, Norm::dfilter, Norm::dlayer, Norm::none}) {
    auto d = make_raw();
    normalize(d, theta, n, /*ignore_biasbn=*/false);
    for (std::size_t i = 0; i < theta.size(); ++i) {
      auto& w = theta[i].tensor;
      auto& dt = d[i].tensor;
      if (w.dim() <= 1) {
        // Without biasbn, ≤1-D tensors take θ itself.
        CHECK(torch::equal(dt, w.detach()));
        continue;
      }
      INFO(to_string(n) << " " << theta[i].name);
      switch (n) {
        case Norm::layer: CHECK(rel(dt.norm().item<double>(), w.norm().item<double>()) <= 1e-5); break;
        case Norm::weight: CHECK(torch::allclose(dt, raw[i].tensor * w.detach())); break;
        case Norm::dfilter:
          for (std::int64_t f = 0; f < w.size(0); ++f)
            CHECK(rel(dt[f].norm().item<double>(), 1.0) <= 1e-5);
          break;
        case Norm::dlayer: CHECK(rel(dt.norm().item<double>(), 1.0) <= 1e-5); break;
        default: CHECK(torch::equal(dt, raw[i].tensor)); break;
      }
    }
  }
}

TEST_CASE("an integer or bool buffer with a dimension gets a zero direction, its draw kept",
          "[directions]") {
  // (a TorchScript model's index table or mask: no point moves it, the reference fails on it)
  TensorList theta = {{"w", torch::randn({3, 4})},
                      {"idx", torch::arange(6, torch::kLong).view({2, 3})},
                      {"mask", torch::ones({3, 3}, torch::kBool)},
                      {"v", torch::randn({2, 5})},
                      {"flags", torch::tensor({1, 0, 1, 1}, torch::kLong)},
                      {"num_batches_tracked", torch::tensor(3, torch::kLong)}};
  for (Norm n : {Norm::filter, Norm::layer, Norm::weight, Norm::dfilter, Norm::dlayer, Norm::none}) {
    INFO(to_string(n));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
    auto d = gaussian_like(theta, gen);
    auto raw_v = d[3].tensor.clone();
    normalize(d, theta, n, /*ignore_biasbn=*/false);
    CHECK(d[1].tensor.abs().max().item<float>() == 0.0f);
    CHECK(d[2].tensor.abs().max().item<float>() == 0.0f);
    // a 1-D one too (ignore none copied θ into it); a 0-d counter keeps the reference's copy
    CHECK(d[4].tensor.abs().max().item<float>() == 0.0f);
    CHECK(d[5].tensor.item<float>() == 3.0f);
    CHECK(d[0].tensor.abs().max().item<float>() > 0.0f);
    // the float tensor after them is drawn as if they were float tensors (the reference's stream)
    auto gen2 = at::make_generator<at::CPUGeneratorImpl>(9);
    TensorList all_float = {{"w", torch::randn({3, 4})}, {"a", torch::randn({2, 3})},
                            {"b", torch::randn({3, 3})}, {"v", torch::randn({2, 5})}};
    CHECK(torch::equal(gaussian_like(all_float, gen2)[3].tensor, raw_v));
  }
}

TEST_CASE("states include BatchNorm buffers in state-dict order, weights do not", "[directions]") {
  auto m = net();
  DirectionsConfig c;
  c.type = TensorSet::states;
  c.dims = 1;
  auto d = make_directions(*m, c, "cifar10");
  auto st = m->state();
  REQUIRE(d.names.size() == st.size());
  for (std::size_t i = 0; i < st.size(); ++i) CHECK(d.names[i] == st[i].name);
  CHECK(d.names[3] == "bn1.running_mean");
  c.type = TensorSet::weights;
  auto w = make_directions(*m, c, "cifar10");
  CHECK(w.names.size() == m->parameters().size());
  for (auto& n : w.names) CHECK(n.find("running_") == std::string::npos);
}

TEST_CASE("target direction is exactly θ(M2) − θ*, same-dir copies x, seeds reproduce",
          "[directions]") {
  test::TempDir tmp("dirs");
  auto m = net(1);
  auto m2 = net(2);
  // M2 as a losscape checkpoint, loaded by make_directions like any target model file.
  Checkpoint ck;
  ck.meta = meta_for(*m2, "cifar10");
  ck.state = m2->state();
  save_checkpoint(tmp.file("m2.h5"), ck);
  DirectionsConfig c;
  c.type = TensorSet::states;
  c.dims = 1;
  c.x.target = tmp.file("m2.h5");
  auto d = make_directions(*m, c, "cifar10");
  auto a = m->state(), b = m2->state();
  for (std::size_t i = 0; i < a.size(); ++i)
    CHECK(torch::equal(d.dirs[0][i].tensor, b[i].tensor.to(torch::kFloat32) - a[i].tensor.to(torch::kFloat32)));

  DirectionsConfig s;
  s.same_dir = true;
  auto sd = make_directions(*m, s, "cifar10");
  for (std::size_t i = 0; i < sd.dirs[0].size(); ++i)
    CHECK(torch::equal(sd.dirs[0][i].tensor, sd.dirs[1][i].tensor));

  DirectionsConfig r;
  r.seed = 42;
  at::set_num_threads(1);
  auto r1 = make_directions(*m, r, "cifar10");
  at::set_num_threads(2);
  auto r2 = make_directions(*m, r, "cifar10");
  r.seed = 43;
  auto r3 = make_directions(*m, r, "cifar10");
  bool differs = false;
  for (std::size_t i = 0; i < r1.dirs[0].size(); ++i) {
    CHECK(torch::equal(r1.dirs[0][i].tensor, r2.dirs[0][i].tensor));
    differs = differs || !torch::equal(r1.dirs[0][i].tensor, r3.dirs[0][i].tensor);
  }
  CHECK(differs);
}

TEST_CASE("the direction file round-trips and is checked against the model", "[directions]") {
  test::TempDir tmp("dirfile");
  auto m = net();
  DirectionsConfig c;
  auto d = make_directions(*m, c, "cifar10");
  write_directions(tmp.file("d.h5"), d);
  auto back = read_directions(tmp.file("d.h5"));
  REQUIRE(back.dims() == 2);
  REQUIRE(back.names == d.names);
  for (std::size_t i = 0; i < d.dirs[1].size(); ++i)
    CHECK(torch::equal(back.dirs[1][i].tensor, d.dirs[1][i].tensor));
  CHECK_NOTHROW(check_directions(back, *m, tmp.file("d.h5")));
  CHECK(is_directions_file(tmp.file("d.h5")));

  // Another architecture: a count mismatch naming both sides.
  torch::manual_seed(1);
  auto other = make_zoo("resnet20_noshort", "cifar10");
  auto again = read_directions(tmp.file("d.h5"));
  CHECK_THROWS_WITH(check_directions(again, *other, tmp.file("d.h5")),
                    catch_compat::Contains("d.h5 has") && catch_compat::Contains("resnet20_noshort has"));
  // Same architecture, other weights: the fingerprint refuses it.
  auto m2 = net(9);
  again = read_directions(tmp.file("d.h5"));
  CHECK_THROWS_WITH(check_directions(again, *m2, tmp.file("d.h5")), catch_compat::Contains("another θ*"));
  CHECK_THROWS_AS(parse_norm("filtr", "--x-norm"), InputError);
  CHECK_THROWS_WITH(read_directions(tmp.file("nope.h5")), catch_compat::Contains("nope.h5"));
  // A NaN or an infinity in a direction would make every point of a sweep NaN: refused.
  for (double bad : {std::nan(""), HUGE_VAL}) {
    auto broken = d;
    broken.dirs[1][2].tensor = d.dirs[1][2].tensor.clone();
    broken.dirs[1][2].tensor.view(-1)[3] = bad;
    write_directions(tmp.file("bad.h5"), broken);
    CHECK_THROWS_WITH(read_directions(tmp.file("bad.h5")),
                      catch_compat::Contains("bad.h5:/ydirection/2") &&
                          catch_compat::Contains("NaN or infinite"));
  }
}

TEST_CASE("directions interchange with h5py in the reference layout", "[directions][python]") {
  test::TempDir tmp("dirpy");
  auto m = net();
  DirectionsConfig c;
  c.dims = 1;
  auto d = make_directions(*m, c, "cifar10");
  write_directions(tmp.file("ours.h5"), d);
  // h5py writes a reference-style file (no attributes, datasets "0".."K-1") from ours, scaled by
  // 2; and reports the shapes it sees in ours.
  std::string py = std::string(LOSSCAPE_TEST_PYTHON) + " -c \"import h5py\n"
                   "src=h5py.File('" + tmp.file("ours.h5") + "','r'); g=src['xdirection']\n"
                   "dst=h5py.File('" + tmp.file("ref.h5") + "','w'); x=dst.create_group('xdirection')\n"
                   "for k in range(len(g)): x.create_dataset(str(k), data=2*g[str(k)][()])\n"
                   "print(len(g), ';'.join(str(tuple(g[str(k)].shape)) for k in range(len(g))))\"";
  auto r = test::run_command(py);
  REQUIRE(r.status == 0);
  std::string shapes;
  for (std::size_t i = 0; i < d.dirs[0].size(); ++i) {
    auto s = d.dirs[0][i].tensor.sizes();
    std::string t = "(";
    for (std::size_t k = 0; k < s.size(); ++k) t += std::to_string(s[k]) + (s.size() == 1 ? "," : k + 1 < s.size() ? ", " : "");
    shapes += (i ? ";" : "") + t + ")";
  }
  CHECK(r.out == std::to_string(d.dirs[0].size()) + " " + shapes + "\n");
  auto ref = read_directions(tmp.file("ref.h5"));
  CHECK(ref.names.empty());
  check_directions(ref, *m, tmp.file("ref.h5"));  // matched by position and shape
  CHECK(ref.type == TensorSet::weights);
  for (std::size_t i = 0; i < ref.dirs[0].size(); ++i)
    CHECK(torch::equal(ref.dirs[0][i].tensor, 2 * d.dirs[0][i].tensor));

  // A direction tensor stored as text is named as such, not as a failed read.
  py = std::string(LOSSCAPE_TEST_PYTHON) + " -c \"import h5py\n"
       "f=h5py.File('" + tmp.file("ref.h5") + "','a'); del f['xdirection/1']\n"
       "f['xdirection/1']='0.5'\"";
  REQUIRE(test::run_command(py).status == 0);
  CHECK_THROWS_WITH(read_directions(tmp.file("ref.h5")),
                    catch_compat::Contains("ref.h5:/xdirection/1") &&
                        catch_compat::Contains("holds text, not numbers"));
}
