// PassGraph where it cannot record (a CPU, or a build without CUDA graphs): every call is an
// ordinary pass, with its between-batch work. The recording itself is checked on a GPU by
// bench/gpu/device-check.sh (a sweep with and without CUDA graphs gives the same surface).
#include "losscape/error.hpp"
#include "losscape/evaluate.hpp"
#include "losscape/pass_graph.hpp"
#include "test_model_support.hpp"
#include "test_support.hpp"

using namespace losscape;

TEST_CASE("cuda graphs setting: auto or off", "[pass_graph]") {
  CHECK_NOTHROW(check_cuda_graphs("auto"));
  CHECK_NOTHROW(check_cuda_graphs("off"));
  CHECK_THROWS_WITH(check_cuda_graphs("on"), "--cuda-graphs 'on': expected auto or off");
}

TEST_CASE("on a CPU a PassGraph runs every pass as an ordinary one", "[pass_graph]") {
  PassGraph g("train, 1 point per pass");
  int ordinary = 0, recording = 0;
  std::vector<std::string> events;
  g.on_event = [&](const std::string& e) { events.push_back(e); };
  const std::vector<std::int64_t> key = {1, 2, 3};
  for (int call = 0; call < 4; ++call) {
    auto sums = g.run(key, torch::kCPU, [&](bool rec) {
      ++(rec ? recording : ordinary);
      return torch::full({2, 1}, double(call));
    }, {});
    CHECK(sums[0][0].item<double>() == double(call));
  }
  CHECK(ordinary == 4);
  CHECK(recording == 0);
  CHECK(!g.recorded());
  CHECK(g.off_reason().empty());
  CHECK(events.empty());
}

TEST_CASE("evaluate with a PassGraph on a CPU gives evaluate's sums", "[pass_graph]") {
  torch::manual_seed(3);
  auto model = make_zoo("cnn_small", "fashion-mnist");
  test::scramble(*model);
  DataSplit d;
  d.images = torch::randn({10, 1, 28, 28});
  d.labels = torch::randint(0, 10, {10}, torch::kInt64);
  EvalOptions o;
  o.batch_size = 4;
  int between = 0;
  o.between_batches = [&] { ++between; };
  PassGraph g("test");
  auto plain = evaluate(*model, d, o);
  CHECK(between == 3);  // batches of 4, 4, 2
  for (int call = 0; call < 3; ++call) {
    auto s = evaluate(*model, d, o, &g);
    CHECK(s.loss_sum == plain.loss_sum);
    CHECK(s.correct == plain.correct);
    CHECK(s.count == 10);
  }
  CHECK(between == 12);
  CHECK(!g.recorded());
}
