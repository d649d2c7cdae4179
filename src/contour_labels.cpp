#include "losscape/contour_labels.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <unordered_map>

namespace losscape {

namespace {

// A piece of a contour line inside one cell, between two crossed cell edges.
struct Segment {
  std::int64_t edge[2];
  ContourPoint point[2];
};

}  // namespace

std::vector<std::vector<ContourPoint>> contour_lines(const std::vector<double>& x,
                                                     const std::vector<double>& y,
                                                     const std::vector<double>& z, double level) {
  const std::size_t nx = x.size(), ny = y.size();
  std::vector<std::vector<ContourPoint>> lines;
  if (nx < 2 || ny < 2 || z.size() != nx * ny) return lines;
  auto at = [&](std::size_t i, std::size_t j) { return z[j * nx + i]; };
  // Edge ids: 2 (j nx + i) for (i, j)-(i+1, j), 2 (j nx + i) + 1 for (i, j)-(i, j+1).
  auto h_edge = [&](std::size_t i, std::size_t j) { return std::int64_t(2 * (j * nx + i)); };
  auto v_edge = [&](std::size_t i, std::size_t j) { return std::int64_t(2 * (j * nx + i) + 1); };

  std::vector<Segment> segs;
  for (std::size_t j = 0; j + 1 < ny; ++j)
    for (std::size_t i = 0; i + 1 < nx; ++i) {
      const double c[4] = {at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)};
      if (!std::all_of(c, c + 4, [](double v) { return std::isfinite(v); })) continue;
      const ContourPoint p[4] = {{x[i], y[j]}, {x[i + 1], y[j]}, {x[i + 1], y[j + 1]}, {x[i], y[j + 1]}};
      // the cell's edges counter-clockwise from the bottom: corner k to corner k + 1
      const std::int64_t id[4] = {h_edge(i, j), v_edge(i + 1, j), h_edge(i, j + 1), v_edge(i, j)};
      std::int64_t crossed[4];
      ContourPoint where[4];
      int n = 0;
      for (int k = 0; k < 4; ++k) {
        const double a = c[k], b = c[(k + 1) % 4];
        if ((a >= level) == (b >= level)) continue;
        const double t = (level - a) / (b - a);
        const ContourPoint &pa = p[k], &pb = p[(k + 1) % 4];
        crossed[n] = id[k];
        where[n++] = {pa[0] + t * (pb[0] - pa[0]), pa[1] + t * (pb[1] - pa[1])};
      }
      if (n == 2) {
        segs.push_back({{crossed[0], crossed[1]}, {where[0], where[1]}});
      } else if (n == 4) {
        // A saddle: corners 0 and 2 on one side of the level, 1 and 3 on the other. gnuplot's
        // linear contours always join corners 0 and 2, (i, j) and (i+1, j+1): the lines cut off
        // corners 1 (edges 0, 1) and 3 (edges 2, 3). The same here, so that a label sits on a
        // line gnuplot draws (the cell mean's choice put some 5-28 px off every drawn line).
        segs.push_back({{crossed[0], crossed[1]}, {where[0], where[1]}});
        segs.push_back({{crossed[2], crossed[3]}, {where[2], where[3]}});
      }
    }

  // Join the segments at their shared edges: open lines from an end first, then the loops.
  std::unordered_map<std::int64_t, std::vector<std::size_t>> by_edge;
  for (std::size_t s = 0; s < segs.size(); ++s)
    for (auto e : segs[s].edge) by_edge[e].push_back(s);
  std::vector<bool> used(segs.size(), false);
  auto follow = [&](std::size_t s, int from) {  // the line that leaves segment s by its end 1-from
    std::vector<ContourPoint> line = {segs[s].point[from], segs[s].point[1 - from]};
    used[s] = true;
    std::int64_t edge = segs[s].edge[1 - from];
    for (;;) {
      std::size_t next = segs.size();
      for (auto t : by_edge[edge])
        if (!used[t]) next = t;
      if (next == segs.size()) break;
      used[next] = true;
      const int in = segs[next].edge[0] == edge ? 0 : 1;
      line.push_back(segs[next].point[1 - in]);
      edge = segs[next].edge[1 - in];
    }
    lines.push_back(std::move(line));
  };
  for (std::size_t s = 0; s < segs.size(); ++s)
    for (int end = 0; end < 2 && !used[s]; ++end)
      if (by_edge[segs[s].edge[end]].size() == 1) follow(s, end);
  for (std::size_t s = 0; s < segs.size(); ++s)
    if (!used[s]) follow(s, 0);
  return lines;
}

std::vector<ContourLabel> place_contour_labels(const std::vector<double>& x,
                                               const std::vector<double>& y,
                                               const std::vector<double>& z,
                                               const std::vector<double>& levels,
                                               const std::vector<std::string>& texts,
                                               const LabelFrame& f,
                                               const std::vector<KeepClear>& keep_clear) {
  struct Line {
    std::size_t level;
    std::vector<ContourPoint> px;  // in pixels
    std::vector<double> s;         // arc length at each point
  };
  if (!f.scalable()) return {};
  const double sx = f.px_per_x(), sy = f.px_per_y();
  auto label_width = [&](std::size_t level) { return double(texts[level].size()) * f.char_px + 6; };
  std::vector<Line> all;  // (only the lines long enough for a label: a noisy surface has many)
  for (std::size_t k = 0; k < levels.size(); ++k)
    for (auto& l : contour_lines(x, y, z, levels[k])) {
      Line line{k, {}, {}};
      for (auto& p : l) {
        const ContourPoint q = {(p[0] - f.x0) * sx, (p[1] - f.y0) * sy};
        line.s.push_back(line.px.empty() ? 0
                                         : line.s.back() + std::hypot(q[0] - line.px.back()[0],
                                                                      q[1] - line.px.back()[1]));
        line.px.push_back(q);
      }
      if (line.s.back() >= 3 * label_width(k)) all.push_back(std::move(line));
    }
  std::stable_sort(all.begin(), all.end(),
                   [](const Line& a, const Line& b) { return a.s.back() > b.s.back(); });

  struct Box {
    double cx, cy, hw, hh;
  };
  std::vector<Box> placed;
  for (const KeepClear& k : keep_clear)
    placed.push_back({(k.x - f.x0) * sx, (k.y - f.y0) * sy, k.half_w_px, k.half_h_px});
  std::vector<ContourLabel> out;
  const double gap = 3;  // pixels between boxes
  const double spacing = std::max(f.width_px, f.height_px);
  for (const Line& line : all) {
    const double len = line.s.back();
    const double w = label_width(line.level), h = f.line_px;
    auto point_at = [&](double s) {  // on the polyline, at arc length s
      const auto it = std::lower_bound(line.s.begin(), line.s.end(), s);
      if (it == line.s.begin()) return line.px.front();
      if (it == line.s.end()) return line.px.back();
      const std::size_t k = std::size_t(it - line.s.begin());
      const double seg = line.s[k] - line.s[k - 1];
      const double t = seg > 0 ? (s - line.s[k - 1]) / seg : 0;
      return ContourPoint{line.px[k - 1][0] + t * (line.px[k][0] - line.px[k - 1][0]),
                          line.px[k - 1][1] + t * (line.px[k][1] - line.px[k - 1][1])};
    };
    auto fits = [&](double s) {
      if (s - w / 2 < 0 || s + w / 2 > len) return false;
      const ContourPoint c = point_at(s), a = point_at(s - w / 2), b = point_at(s + w / 2);
      // fairly straight under the label: its ends at least 0.8 of its width apart
      if (std::hypot(b[0] - a[0], b[1] - a[1]) < 0.8 * w) return false;
      if (c[0] - w / 2 < 2 || c[0] + w / 2 > f.width_px - 2 || c[1] - h / 2 < 2 ||
          c[1] + h / 2 > f.height_px - 2)
        return false;
      for (const Box& o : placed)
        if (std::abs(c[0] - o.cx) < w / 2 + o.hw + gap && std::abs(c[1] - o.cy) < h / 2 + o.hh + gap)
          return false;
      return true;
    };
    const int n = std::clamp(int(len / spacing), 1, 4);
    for (int m = 0; m < n; ++m) {
      const double target = (m + 0.5) * len / n, reach = 0.5 * len / n;
      // the target, then ever farther from it on both sides, in steps of half a label
      bool done = false;
      for (int step = 0; !done && step * w / 2 <= reach; ++step)
        for (double at : {target + step * w / 2, target - step * w / 2}) {
          if (!fits(at)) continue;
          const ContourPoint c = point_at(at);
          placed.push_back({c[0], c[1], w / 2, h / 2});
          out.push_back({f.x0 + c[0] / sx, f.y0 + c[1] / sy, line.level});
          done = true;
          break;
        }
    }
  }
  return out;
}

}  // namespace losscape
