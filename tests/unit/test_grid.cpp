// Tests of grid.hpp: axis parsing, numpy.linspace coordinates, [y][x] indexing, coarse-to-fine order, shortest decimals.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "losscape/error.hpp"
#include "losscape/grid.hpp"
#include "losscape/merge.hpp"
#include "losscape/sweep.hpp"
#include "test_support.hpp"

using namespace losscape;
using catch_compat::Contains;

TEST_CASE("parse_axis accepts MIN:MAX:NUM with any real bounds", "[grid]") {
  auto a = parse_axis("-1:1:51");
  CHECK(a.min == -1.0);
  CHECK(a.max == 1.0);
  CHECK(a.num == 51);
  // The reference cannot parse a 0 bound; losscape can.
  auto z = parse_axis("0:1.5:7");
  CHECK(z.min == 0.0);
  CHECK(z.max == 1.5);
  auto z2 = parse_axis("-0.5:0:3");
  CHECK(z2.min == -0.5);
  CHECK(z2.max == 0.0);
  auto neg = parse_axis("-2.5:-0.25:10");
  CHECK(neg.min == -2.5);
  CHECK(neg.max == -0.25);
  auto sci = parse_axis("-1e-2:2E-2:3");
  CHECK(sci.min == -0.01);
  CHECK(sci.max == 0.02);
  auto one = parse_axis("0.3:0.3:1");  // a single point may have MIN == MAX
  CHECK(one.num == 1);
  CHECK(one.coordinates() == std::vector<double>{0.3});
  // str() round-trips.
  auto back = parse_axis(neg.str());
  CHECK(back.min == neg.min);
  CHECK(back.max == neg.max);
  CHECK(back.num == neg.num);
}

TEST_CASE("parse_axis rejects malformed specs with the option name", "[grid]") {
  for (const char* bad : {"", "1", "-1:1", "-1:1:51:2", "a:1:5", "-1:b:5", "-1:1:x", "-1:1:2.5",
                          "-1:1:0", "-1:1:-3", "1:-1:5", "1:1:5", "nan:1:5", "-inf:1:5", "-1:1:5 ",
                          // white space before a field as after it (std::stod skips the leading)
                          " -1:1:5", "-1: 1:5", "-1:1: 5", "\t-1:1:5", "-1 :1:5"}) {
    INFO("spec '" << bad << "'");
    CHECK_THROWS_AS(parse_axis(bad, "--y"), InputError);
    CHECK_THROWS_WITH(parse_axis(bad, "--y"), Contains("--y"));
  }
  // finite bounds whose difference is not: named as an overflow, not as a step below precision
  CHECK_THROWS_WITH(parse_axis("-1e308:1e308:3", "--x"), Contains("MAX - MIN overflows a double"));
  // each field named, out of range said as such (all three were "not numbers")
  CHECK_THROWS_WITH(parse_axis("a:1:5", "--x"), Contains("MIN is not a number"));
  CHECK_THROWS_WITH(parse_axis("-1:1b:5", "--x"), Contains("MAX is not a number"));
  CHECK_THROWS_WITH(parse_axis("1e400:2e400:3", "--x"), Contains("MIN is beyond a double's range"));
  CHECK_THROWS_WITH(parse_axis("-1:1e400:3", "--x"), Contains("MAX is beyond a double's range"));
  CHECK_THROWS_WITH(parse_axis("-1:1:99999999999999999999", "--x"), Contains("NUM above 1000000000"));
  CHECK_THROWS_WITH(parse_axis("-1:1:-99999999999999999999", "--x"), Contains("NUM must be at least 1"));
}

TEST_CASE("coordinates follow numpy.linspace", "[grid]") {
  // numpy: step = (stop - start) / (num - 1); y = arange(num) * step + start; y[-1] = stop.
  for (const char* spec : {"-1:1:51", "-0.5:1.5:401", "0:1:7", "-1:1:2", "-3.7:0.1:13", "0.1:0.7:9"}) {
    INFO(spec);
    auto a = parse_axis(spec);
    auto c = a.coordinates();
    REQUIRE(std::int64_t(c.size()) == a.num);
    const double step = (a.max - a.min) / double(a.num - 1);
    for (std::int64_t i = 0; i + 1 < a.num; ++i) CHECK(c[std::size_t(i)] == double(i) * step + a.min);
    CHECK(c.back() == a.max);
    CHECK(c.front() == a.min);
  }
}

TEST_CASE("coordinates equal numpy.linspace bit for bit", "[grid][python]") {
  LOSSCAPE_REQUIRE_PYTHON("numpy");
  test::TempDir d("grid");
  const std::vector<std::string> specs = {"-1:1:51", "-0.5:1.5:401", "-3.7:0.1:13", "0.1:0.7:9"};
  std::string script = "import numpy as np\n";
  for (auto& s : specs) {
    auto a = parse_axis(s);
    std::ostringstream o;
    o.precision(17);
    o << "for v in np.linspace(" << a.min << ", " << a.max << ", " << a.num
      << "): print(float(v).hex())\n";
    script += o.str();
  }
  auto r = test::run_python(d, script);
  REQUIRE(r.status == 0);
  std::istringstream in(r.out);
  for (auto& s : specs) {
    INFO(s);
    for (double v : parse_axis(s).coordinates()) {
      std::string hex;
      REQUIRE(in >> hex);
      CHECK(v == std::strtod(hex.c_str(), nullptr));
    }
  }
}

TEST_CASE("a grid is stored [y][x] with flat index iy * nx + ix", "[grid]") {
  Grid g;
  g.x = parse_axis("-1:1:5");
  g.has_y = true;
  g.y = parse_axis("0:3:4");  // non-square on purpose
  CHECK(g.nx() == 5);
  CHECK(g.ny() == 4);
  CHECK(g.size() == 20);
  CHECK(g.shape() == std::vector<std::int64_t>{4, 5});
  const auto xs = g.x.coordinates(), ys = g.y.coordinates();
  for (std::int64_t iy = 0; iy < 4; ++iy)
    for (std::int64_t ix = 0; ix < 5; ++ix) {
      CHECK(g.alpha(iy * 5 + ix) == xs[std::size_t(ix)]);
      CHECK(g.beta(iy * 5 + ix) == ys[std::size_t(iy)]);
    }
  Grid line;
  line.x = parse_axis("-0.5:1.5:401");
  CHECK(line.shape() == std::vector<std::int64_t>{401});
  CHECK(line.ny() == 1);
  CHECK(line.beta(200) == 0.0);
  CHECK(line.alpha(400) == 1.5);
}

namespace {
// Largest power of two below n (at least 1): the coarsest stride.
std::int64_t top_stride(std::int64_t n) {
  std::int64_t s = 1;
  while (s * 2 < n) s *= 2;
  return s;
}
bool on_coarsest(std::int64_t i, std::int64_t n, std::int64_t top) {
  return i == n - 1 || i % top == 0;
}
}  // namespace

TEST_CASE("coarse_to_fine visits every point once, corners and the coarsest level first",
          "[grid]") {
  for (auto [xs, ys] : std::vector<std::pair<const char*, const char*>>{
           {"-1:1:51", "-1:1:51"}, {"-1:1:5", "0:1:3"}, {"0:1:2", "0:1:2"}, {"-1:1:17", "-1:1:33"},
           {"-1:1:1", "-1:1:4"}, {"-1:1:401", ""}, {"-1:1:1", ""}}) {
    Grid g;
    g.x = parse_axis(xs);
    g.has_y = *ys != 0;
    if (g.has_y) g.y = parse_axis(ys);
    INFO(g.nx() << " x " << g.ny());
    auto order = coarse_to_fine(g);
    // A permutation of 0..size-1.
    REQUIRE(std::int64_t(order.size()) == g.size());
    auto sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t i = 0; i < g.size(); ++i) REQUIRE(sorted[std::size_t(i)] == i);

    // The first points are exactly the coarsest level: indices at multiples of the top stride or
    // at the last index of each axis; the corners are among them.
    const std::int64_t top = top_stride(std::max(g.nx(), g.ny()));
    std::set<std::int64_t> coarse;
    for (std::int64_t iy = 0; iy < g.ny(); ++iy)
      for (std::int64_t ix = 0; ix < g.nx(); ++ix)
        if (on_coarsest(ix, g.nx(), top) && (!g.has_y || on_coarsest(iy, g.ny(), top)))
          coarse.insert(iy * g.nx() + ix);
    std::set<std::int64_t> head(order.begin(), order.begin() + std::ptrdiff_t(coarse.size()));
    CHECK(head == coarse);
    for (std::int64_t corner : {std::int64_t(0), g.nx() - 1, (g.ny() - 1) * g.nx(), g.size() - 1})
      CHECK(head.count(corner) == 1);

    // Strides never grow along the order: every prefix is a (finer and finer) sub-grid.
    auto stride_of = [&](std::int64_t flat) {
      auto level = [&](std::int64_t i, std::int64_t n) {
        if (i == 0 || i == n - 1) return top;
        std::int64_t s = 1;
        while (s < top && i % (2 * s) == 0) s *= 2;
        return s;
      };
      std::int64_t s = level(flat % g.nx(), g.nx());
      return g.has_y ? std::min(s, level(flat / g.nx(), g.ny())) : s;
    };
    for (std::size_t k = 1; k < order.size(); ++k) CHECK(stride_of(order[k]) <= stride_of(order[k - 1]));
  }
}

TEST_CASE("coarse_to_fine centred: the sub-grids pass through theta*'s lines", "[grid]") {
  // preview_anchor: the coordinate nearest 0 when 0 lies on the axis, else index 0
  CHECK(preview_anchor(parse_axis("-1:1:51").coordinates()) == 25);
  CHECK(preview_anchor(parse_axis("-0.5:1.5:41").coordinates()) == 10);
  CHECK(preview_anchor(parse_axis("0.5:1.5:9").coordinates()) == 0);
  CHECK(preview_anchor(parse_axis("-2:-1:5").coordinates()) == 0);
  CHECK(stride_indices(51, 8, 25) == std::vector<std::size_t>{0, 1, 9, 17, 25, 33, 41, 49, 50});
  CHECK(stride_indices(9, 4) == std::vector<std::size_t>{0, 4, 8});
  CHECK(stride_indices(10, 4) == std::vector<std::size_t>{0, 4, 8, 9});

  for (auto [xs, ys] : std::vector<std::pair<const char*, const char*>>{
           {"-1:1:51", "-1:1:51"}, {"-0.5:1.5:41", ""}, {"-1:1:21", "-1:1:11"}, {"-1:1:4", "-1:1:3"}}) {
    Grid g;
    g.x = parse_axis(xs);
    g.has_y = *ys != 0;
    if (g.has_y) g.y = parse_axis(ys);
    INFO(xs << " x " << ys);
    auto order = coarse_to_fine(g, true);
    auto sorted = order;
    std::sort(sorted.begin(), sorted.end());
    REQUIRE(std::int64_t(order.size()) == g.size());
    for (std::int64_t i = 0; i < g.size(); ++i) REQUIRE(sorted[std::size_t(i)] == i);
    // θ* (the point nearest (0, 0)) comes first
    const std::int64_t ax = std::int64_t(preview_anchor(g.x.coordinates()));
    const std::int64_t ay = g.has_y ? std::int64_t(preview_anchor(g.y.coordinates())) : 0;
    CHECK(order.front() == ay * g.nx() + ax);
    // every prefix up to a whole level is the centred sub-grid of that stride
    const std::int64_t top = top_stride(std::max(g.nx(), g.ny()));
    for (std::int64_t st = top; st >= 1; st /= 2) {
      const auto lx = stride_indices(std::size_t(g.nx()), std::size_t(st), std::size_t(ax));
      const auto ly = g.has_y ? stride_indices(std::size_t(g.ny()), std::size_t(st), std::size_t(ay))
                              : std::vector<std::size_t>{0};
      std::set<std::int64_t> want;
      for (auto iy : ly)
        for (auto ix : lx) want.insert(std::int64_t(iy) * g.nx() + std::int64_t(ix));
      CHECK(std::set<std::int64_t>(order.begin(), order.begin() + std::ptrdiff_t(want.size())) == want);
    }
  }
  // an axis without 0: the centred order is the plain one
  Grid off;
  off.x = parse_axis("0.5:1.5:9");
  CHECK(coarse_to_fine(off, true) == coarse_to_fine(off));
}

// ---- the fan-out slice (sweep.hpp) ----
namespace {
// Sets Slurm's array variables for one test and restores the environment after it.
struct SlurmArray {
  SlurmArray(const char* id, const char* count, const char* min, const char* max,
             const char* step) {
    set("SLURM_ARRAY_TASK_ID", id);
    set("SLURM_ARRAY_TASK_COUNT", count);
    set("SLURM_ARRAY_TASK_MIN", min);
    set("SLURM_ARRAY_TASK_MAX", max);
    set("SLURM_ARRAY_TASK_STEP", step);
  }
  ~SlurmArray() {
    for (auto* v : {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN",
                    "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP"})
      unsetenv(v);
  }
  static void set(const char* k, const char* v) {
    if (v) setenv(k, v, 1);
    else unsetenv(k);
  }
};
}  // namespace

TEST_CASE("parse_part: K/N and Slurm's contiguous arrays", "[grid][part]") {
  CHECK(parse_part("3/8", false) == std::make_pair(2, 8));
  CHECK(parse_part("", false) == std::make_pair(0, 1));
  CHECK_THROWS_WITH(parse_part("9/8", false), Contains("1 <= K <= N"));
  CHECK_THROWS_WITH(parse_part("3", false), Contains("expected K/N"));
  for (const char* spaced : {" 3/8", "3/ 8", "3 /8", "3/8 "})
    CHECK_THROWS_WITH(parse_part(spaced, false), Contains("expected K/N"));
  {
    SlurmArray a("5", "4", "4", "7", "1");  // --array=4-7, task 5: the second slice
    CHECK(parse_part("", true) == std::make_pair(1, 4));
  }
  {
    SlurmArray a("0", "3", "0", "2", nullptr);  // no STEP variable (older Slurm)
    CHECK(parse_part("", true) == std::make_pair(0, 3));
  }
  {
    // --array=0,2,4: task 2 would take slice 3 of 3 and slice 2 would never be computed
    SlurmArray a("2", "3", "0", "4", nullptr);
    CHECK_THROWS_WITH(parse_part("", true), Contains("must be contiguous"));
    CHECK_THROWS_WITH(parse_part("", true), Contains("--array=0-2"));
  }
  {
    SlurmArray a("2", "4", "0", "6", "2");  // --array=0-6:2
    CHECK_THROWS_WITH(parse_part("", true), Contains("step 2"));
  }
  {
    SlurmArray a(nullptr, nullptr, nullptr, nullptr, nullptr);
    CHECK_THROWS_WITH(parse_part("", true), Contains("SLURM_ARRAY_TASK_ID"));
  }
  // Values that are not task numbers are refused by name (atoi read "x" as task 0, "1abc" as 1,
  // and two 20-digit numbers as the same saturated one).
  for (const auto& [id, count, min, bad] :
       {std::tuple{"x", "2", "0", "SLURM_ARRAY_TASK_ID='x'"}, {"", "2", "0", "SLURM_ARRAY_TASK_ID=''"},
        {"1abc", "2", "0", "SLURM_ARRAY_TASK_ID='1abc'"}, {"1", "2x", "0", "SLURM_ARRAY_TASK_COUNT='2x'"},
        {"1", "2", "x", "SLURM_ARRAY_TASK_MIN='x'"}, {"1", "", "0", "SLURM_ARRAY_TASK_COUNT=''"},
        {"-1", "2", "0", "SLURM_ARRAY_TASK_ID='-1'"},
        {"99999999999999999999", "2", "99999999999999999998", "SLURM_ARRAY_TASK_ID='99999999999999999999'"}}) {
    SlurmArray a(id, count, min, nullptr, nullptr);
    CHECK_THROWS_WITH(parse_part("", true), Contains(std::string(bad) + " is not a task number"));
  }
}

TEST_CASE("a resumed start reuses the choices of the file's first run on the same kinds of devices",
          "[grid][part]") {
  auto entry = [](const nlohmann::json& devices, const std::string& precision, std::int64_t batch,
                  int shards = 1) {
    return nlohmann::json{{"start", "S" + std::to_string(batch)}, {"devices", devices},
                          {"precision", precision},  {"data_shards", shards},
                          {"batch_size", batch},     {"memory_format", "nhwc"},
                          {"points_per_forward", 4}, {"cudnn_fusion", true}};
  };
  const nlohmann::json h200x2 = {"cuda:0 (NVIDIA H200)", "cuda:1 (NVIDIA H200)"};
  nlohmann::json log = nlohmann::json::array();
  log.push_back(nlohmann::json{{"start", "no choices recorded"}, {"devices", h200x2}, {"precision", "fp32"}});
  log.push_back(entry({"cpu (2 threads)"}, "fp32", 16));
  log.push_back(entry(h200x2, "bf16", 32));
  log.push_back(entry(h200x2, "fp32", 64, 2));
  log.push_back(entry(h200x2, "fp32", 128));
  log.push_back(entry(h200x2, "fp32", 256));
  // Other GPU indices and rank counts are the same kind; the first matching run is taken.
  CHECK(earlier_choices(log, {"cuda:3 (NVIDIA H200) × 250 ranks"}, "fp32", 1)["start"] == "S128");
  CHECK(earlier_choices(log, {"cuda:0 (NVIDIA H200)"}, "bf16", 1)["start"] == "S32");
  CHECK(earlier_choices(log, h200x2, "fp32", 2)["start"] == "S64");
  CHECK(earlier_choices(log, {"cpu (2 threads)", "cpu (2 threads)"}, "fp32", 1)["start"] == "S16");
  // Another card, thread count, precision or shard count: none.
  CHECK(earlier_choices(log, {"cuda:0 (NVIDIA H100 80GB HBM3)"}, "fp32", 1).is_null());
  CHECK(earlier_choices(log, {"cpu (4 threads)"}, "fp32", 1).is_null());
  CHECK(earlier_choices(log, {"cpu (2 threads)"}, "tf32", 1).is_null());
  CHECK(earlier_choices(log, {"cpu (2 threads)"}, "fp32", 2).is_null());
  // Mixed kinds match only the same mix.
  CHECK(earlier_choices(log, {"cpu (2 threads)", "cuda:0 (NVIDIA H200)"}, "fp32", 1).is_null());
  // Entries with a choice missing or out of range are passed over.
  nlohmann::json odd = nlohmann::json::array();
  for (auto [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"batch_size", 0}, {"batch_size", "64"}, {"memory_format", "auto"},
           {"points_per_forward", 17}, {"cudnn_fusion", 1}}) {
    auto e = entry(h200x2, "fp32", 8);
    e[key] = value;
    odd.push_back(e);
  }
  CHECK(earlier_choices(odd, h200x2, "fp32", 1).is_null());
  CHECK(earlier_choices(nlohmann::json::object(), h200x2, "fp32", 1).is_null());
}

TEST_CASE("the run log's device list stays small at any rank count", "[grid][part]") {
  std::vector<std::string> few = {"cuda:0 (NVIDIA H200)", "cuda:1 (NVIDIA H200)"};
  CHECK(device_list(few) == nlohmann::json(few));  // one per rank
  std::vector<std::string> many;
  for (int r = 0; r < 1000; ++r) many.push_back("cuda:" + std::to_string(r % 4) + " (NVIDIA H200)");
  auto d = device_list(many);
  REQUIRE(d.size() == 4);
  CHECK(d[0] == "cuda:0 (NVIDIA H200) × 250 ranks");
  CHECK(d[3] == "cuda:3 (NVIDIA H200) × 250 ranks");

  // CUDA graph events: per rank up to 64 ranks, else each line once with its ranks
  std::vector<std::vector<std::string>> two = {{"graph recorded"}, {"graph recorded", "turned off"}};
  CHECK(rank_events(two) == std::vector<std::string>{"rank 0: graph recorded",
                                                     "rank 1: graph recorded", "rank 1: turned off"});
  std::vector<std::vector<std::string>> lots(1000, {"graph recorded"});
  lots[7].push_back("turned off");
  for (int r = 0; r < 1000; r += 2) lots[std::size_t(r)].push_back("replayed");
  auto e = rank_events(lots);
  REQUIRE(e.size() == 3);
  CHECK(e[0] == "ranks 0-999: graph recorded");
  CHECK(e[1] == "500 ranks: replayed");  // every other rank: the list of ranks would be long
  CHECK(e[2] == "ranks 7: turned off");
}

TEST_CASE("zero_gap_note names an axis whose range holds 0 but not as a point", "[grid]") {
  // an even count on a symmetric range: the nearest points and the odd count that has 0
  CHECK(zero_gap_note(parse_axis("-1:1:50"), "--x") ==
        "--x -1:1:50 has no point at 0 (the nearest are -0.0204 and 0.0204): the surface does not pass "
        "through θ* itself; -1:1:51 would");
  CHECK(zero_gap_note(parse_axis("-1:1:2"), "--y") ==
        "--y -1:1:2 has no point at 0 (the nearest are -1 and 1): the surface does not pass through θ* "
        "itself; -1:1:3 would");
  // an asymmetric range: no count suggested
  CHECK(zero_gap_note(parse_axis("-1:2:3"), "--x") ==
        "--x -1:2:3 has no point at 0 (the nearest are -1 and 0.5): the surface does not pass through θ* itself");
  // 0 on the grid (also where linspace reaches it only to rounding), at an end, or off the range
  for (const char* spec : {"-1:1:51", "-1:1:3", "-1.77:10.03:21", "-0.48:2.72:21", "-0.3:0.7:11", "0:1:2",
                           "-1:0:5", "0.5:1.5:3", "-2:-1:4", "0:0:1", "0.5:0.5:1"})
    CHECK(zero_gap_note(parse_axis(spec), "--x").empty());
  // one point of a range: MIN alone (numpy.linspace(-1, 1, 1) is [-1.])
  CHECK(zero_gap_note(parse_axis("-1:1:1"), "--x") ==
        "--x -1:1:1 is the one point -1 (NUM 1 is MIN alone, as numpy.linspace: MAX is not used)");
  CHECK(parse_axis("0.5:3:1").coordinates() == std::vector<double>{0.5});
}

TEST_CASE("shortest_decimal: reads back exactly, with the fewest significant digits", "[grid]") {
  CHECK(shortest_decimal(9.9) == "9.9");
  CHECK(shortest_decimal(0.1 + 0.2) == "0.30000000000000004");
  CHECK(shortest_decimal(-1e-7) == "-1e-07");
  CHECK(shortest_decimal(0) == "0");
  CHECK(shortest_decimal(1e6) == "1000000");  // (%.15g: as grid specifications always were written)
  // near the smallest normal double: 15 digits read back below it (stod threw out_of_range)
  for (const double v : {std::numeric_limits<double>::min(), std::numeric_limits<double>::denorm_min(),
                         -std::numeric_limits<double>::min()})
    CHECK(std::strtod(shortest_decimal(v).c_str(), nullptr) == v);
  CHECK(shortest_decimal(std::numeric_limits<double>::min()) == "2.2250738585072014e-308");
  // The significant digits of a decimal text: no sign, point, exponent, leading or trailing zeros.
  auto significant = [](const std::string& t) {
    std::string d;
    for (char ch : t.substr(0, t.find_first_of("eE")))
      if (std::isdigit(static_cast<unsigned char>(ch))) d += ch;
    d.erase(0, d.find_first_not_of('0'));
    d.erase(d.find_last_not_of('0') + 1);
    return d.size();
  };
  // Against an independent search from 1 digit up, over values of every scale and precision.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> mant(-10, 10);
  std::uniform_int_distribution<int> exp10(-300, 300), round_to(1, 17);
  for (int i = 0; i < 20000; ++i) {
    char b[48];
    std::snprintf(b, sizeof b, "%.*g", round_to(rng), mant(rng) * std::pow(10.0, exp10(rng)));
    const double v = std::strtod(b, nullptr);
    std::size_t fewest = 0;
    for (int d = 1; d <= 17 && !fewest; ++d) {
      std::snprintf(b, sizeof b, "%.*g", d, v);
      if (std::strtod(b, nullptr) == v) fewest = significant(b);
    }
    const std::string t = shortest_decimal(v);
    INFO(t << " for " << b);
    REQUIRE(std::strtod(t.c_str(), nullptr) == v);
    REQUIRE(significant(t) == fewest);
  }
}

TEST_CASE("whole_number: one number from the first character to the last, or nothing", "[grid]") {
  CHECK(whole_number<long long>("12") == 12);
  CHECK(whole_number<long long>("-3") == -3);
  CHECK(whole_number<int>("007") == 7);  // (decimal: the CLI's whole numbers read so too)
  CHECK(whole_number<double>("-0.25") == -0.25);
  CHECK(whole_number<double>("1e3") == 1000.0);
  // white space before or after, other text, an empty text: nothing (std::stoll took " 12")
  for (const char* t : {"", " 12", "12 ", "\t12", "12x", "x12", "1e3", "0x10", "1.5", "--1"}) {
    INFO("'" << t << "'");
    CHECK_FALSE(whole_number<long long>(t));
    CHECK_FALSE(whole_number<int>(t));
  }
  for (const char* t : {"", " 1", "1 ", "1,5", "one", "1e", "--1"}) {
    INFO("'" << t << "'");
    CHECK_FALSE(whole_number<double>(t));
  }
  // beyond the type's range: said as such, by std::out_of_range, not as "no number"
  CHECK_THROWS_AS(whole_number<int>("2147483648"), std::out_of_range);
  CHECK(whole_number<int>("2147483647") == 2147483647);
  CHECK_THROWS_AS(whole_number<long long>("9223372036854775808"), std::out_of_range);
  CHECK_THROWS_AS(whole_number<double>("1e400"), std::out_of_range);
}

TEST_CASE("merge --tolerance: auto or one number >= 0, nothing else", "[merge]") {
  CHECK(parse_merge_tolerance("auto") == -1);
  CHECK(parse_merge_tolerance("1e-6") == 1e-6);
  CHECK(parse_merge_tolerance("0") == 0);
  for (const char* t : {"", " 1e-6", "1e-6 ", "abc", "-1", "nan", "inf", "1e400", "1e-6x"}) {
    INFO("'" << t << "'");
    CHECK_THROWS_WITH(parse_merge_tolerance(t), Contains("--tolerance must be auto or a number >= 0 (got '" +
                                                         std::string(t) + "')"));
  }
}
