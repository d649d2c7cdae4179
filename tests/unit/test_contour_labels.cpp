// Tests of contour_labels.hpp: contour lines of functions whose level sets are known in closed
// form (lines, circles, hyperbolas), and the placement of their labels (on their line, inside the
// frame, never overlapping each other or what must stay clear, none on short corner arcs).
#include "catch_compat.hpp"
#include <cmath>
#include <functional>

#include "losscape/contour_labels.hpp"

using namespace losscape;

namespace {

std::vector<double> axis(double lo, double hi, int n) {
  std::vector<double> a(std::size_t(n), 0);
  for (int i = 0; i < n; ++i) a[std::size_t(i)] = lo + (hi - lo) * i / (n - 1);
  return a;
}

std::vector<double> sample(const std::vector<double>& x, const std::vector<double>& y,
                           const std::function<double(double, double)>& f) {
  std::vector<double> z;
  for (double b : y)
    for (double a : x) z.push_back(f(a, b));
  return z;
}

double round_bowl(double a, double b) { return a * a + b * b; }

}  // namespace

TEST_CASE("contour lines of a plane are its straight level lines, across the grid", "[contour]") {
  auto x = axis(-1, 1, 21), y = axis(-1, 1, 11);
  auto z = sample(x, y, [](double a, double b) { return 2 * a + 0.5 * b; });
  auto lines = contour_lines(x, y, z, 0.3);
  REQUIRE(lines.size() == 1);
  const auto& l = lines[0];
  CHECK(l.size() >= 11);  // at least one point per row of cell edges (it crosses them all)
  for (auto& p : l) CHECK(2 * p[0] + 0.5 * p[1] == Approx(0.3).margin(1e-12));  // exact: linear
  // it runs from the bottom edge of the grid to the top one
  CHECK(std::min(l.front()[1], l.back()[1]) == Approx(-1));
  CHECK(std::max(l.front()[1], l.back()[1]) == Approx(1));
}

TEST_CASE("a bowl's contour line is one closed loop on its circle", "[contour]") {
  auto x = axis(-1, 1, 41), y = axis(-1, 1, 41);
  auto z = sample(x, y, round_bowl);
  auto lines = contour_lines(x, y, z, 0.25);
  REQUIRE(lines.size() == 1);
  const auto& l = lines[0];
  CHECK(l.front() == l.back());
  double worst = 0, turn = 0;
  for (std::size_t k = 0; k < l.size(); ++k) {
    worst = std::max(worst, std::abs(std::hypot(l[k][0], l[k][1]) - 0.5));
    if (k) {  // the angle swept: a full turn around the centre
      double d = std::atan2(l[k][1], l[k][0]) - std::atan2(l[k - 1][1], l[k - 1][0]);
      turn += std::remainder(d, 2 * M_PI);
    }
  }
  CHECK(worst < 2e-3);  // (linear interpolation of a quadratic over a cell of 0.05)
  CHECK(std::abs(turn) == Approx(2 * M_PI));
  // a level above the grid's corners has no line, one the grid's corners reach has four arcs
  CHECK(contour_lines(x, y, z, 2.5).empty());
  CHECK(contour_lines(x, y, z, 1.9).size() == 4);
}

TEST_CASE("a saddle's hyperbola branches and a hole in the grid", "[contour]") {
  auto x = axis(-1, 1, 16), y = axis(1, -1, 9);  // (a decreasing axis, as the reference's files)
  auto z = sample(x, y, [](double a, double b) { return a * b; });
  auto lines = contour_lines(x, y, z, 0.1);
  REQUIRE(lines.size() == 2);  // a b = 0.1: one branch in each of two quadrants
  for (auto& l : lines)
    for (auto& p : l) CHECK(p[0] * p[1] == Approx(0.1).margin(1e-12));  // exact: bilinear cells
  CHECK(lines[0].front()[0] * lines[1].front()[0] < 0);

  // a saddle cell (corners 0 and 0.1 low, 1 and 1 high) is joined as gnuplot joins it: corners
  // (i, j) and (i+1, j+1) together, the lines cutting off the two others (gnuplot 5.4's
  // `set table` of this cell at 0.3: (1, 0.778)-(0.3, 0) and (0.778, 1)-(0, 0.3))
  {
    const std::vector<double> u = {0, 1};
    auto cell = contour_lines(u, u, {0, 1, 1, 0.1}, 0.3);
    REQUIRE(cell.size() == 2);
    auto is = [](const std::vector<ContourPoint>& l, ContourPoint a, ContourPoint b) {
      auto near = [](ContourPoint p, ContourPoint q) {
        return std::abs(p[0] - q[0]) < 1e-3 && std::abs(p[1] - q[1]) < 1e-3;
      };
      return l.size() == 2 && ((near(l[0], a) && near(l[1], b)) || (near(l[0], b) && near(l[1], a)));
    };
    const double c = 0.2 / 0.9;  // where 1 -> 0.1 crosses 0.3
    CHECK((is(cell[0], {1, 1 - c}, {0.3, 0}) || is(cell[1], {1, 1 - c}, {0.3, 0})));
    CHECK((is(cell[0], {1 - c, 1}, {0, 0.3}) || is(cell[1], {1 - c, 1}, {0, 0.3})));
  }

  // a NaN node (a diverged point) leaves its four cells without a line: the line breaks there
  auto plane = sample(x, y, [](double a, double) { return a; });
  REQUIRE(contour_lines(x, y, plane, 0.05).size() == 1);
  plane[4 * 16 + 8] = std::nan("");  // the node at x[8] = 0.067, y[4] = 0
  CHECK(contour_lines(x, y, plane, 0.05).size() == 2);
}

TEST_CASE("contour labels sit on their lines, inside the frame, apart", "[contour]") {
  auto x = axis(-1, 1, 41), y = axis(-1, 1, 41);
  auto z = sample(x, y, round_bowl);
  std::vector<double> levels;
  std::vector<std::string> texts;
  for (int k = 0; k < 20; ++k) {
    levels.push_back(0.1 + 0.1 * k);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%g", levels.back());
    texts.push_back(buf);
  }
  LabelFrame f{-1, 1, -1, 1, 440, 300};
  std::vector<KeepClear> clear = {{0.0, 0.0, 30, 30}};  // e.g. a path's label at the centre
  auto labels = place_contour_labels(x, y, z, levels, texts, f, clear);
  REQUIRE(labels.size() >= 10);
  std::vector<bool> has(levels.size(), false);
  auto px = [&](double v, double lo, double hi, double size) { return (v - lo) / (hi - lo) * size; };
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto& l = labels[i];
    has[l.level] = true;
    CHECK(round_bowl(l.x, l.y) == Approx(levels[l.level]).margin(3e-3));  // on its own circle
    const double w = texts[l.level].size() * f.char_px + 6, cx = px(l.x, f.x0, f.x1, f.width_px),
                 cy = px(l.y, f.y0, f.y1, f.height_px);
    CHECK(cx - w / 2 >= 0);
    CHECK(cx + w / 2 <= f.width_px);
    CHECK(cy - f.line_px / 2 >= 0);
    CHECK(cy + f.line_px / 2 <= f.height_px);
    CHECK((std::abs(cx - 220) >= w / 2 + 30 || std::abs(cy - 150) >= f.line_px / 2 + 30));
    for (std::size_t j = 0; j < i; ++j) {
      const auto& m = labels[j];
      const double wm = texts[m.level].size() * f.char_px + 6;
      const bool apart = std::abs(cx - px(m.x, f.x0, f.x1, f.width_px)) >= (w + wm) / 2 ||
                         std::abs(cy - px(m.y, f.y0, f.y1, f.height_px)) >= f.line_px;
      CHECK(apart);
    }
  }
  // the circles wholly inside the frame each have a label; radius > 1 cuts arcs in the corners
  // (levels 1.1 .. 2.0) that are too short for one from 1.7 on (gnuplot stacked labels there)
  for (std::size_t k = 0; k < 8; ++k) CHECK(has[k]);
  for (std::size_t k = 16; k < levels.size(); ++k) CHECK_FALSE(has[k]);
  // deterministic
  auto again = place_contour_labels(x, y, z, levels, texts, f, clear);
  REQUIRE(again.size() == labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) CHECK(again[i].x == labels[i].x);
}
