#include "losscape/grid.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <type_traits>

#include "losscape/error.hpp"

namespace losscape {

std::vector<double> GridAxis::coordinates() const {
  std::vector<double> c(static_cast<std::size_t>(num));
  if (num == 1) {
    c[0] = min;
    return c;
  }
  const double step = (max - min) / double(num - 1);
  for (std::int64_t i = 0; i < num; ++i) c[std::size_t(i)] = min + double(i) * step;
  c.back() = max;  // numpy sets the endpoint exactly
  return c;
}

// (from 15 digits: any fewer that read back give the same text at 15, %g dropping the zeros)
std::string shortest_decimal(double v) {
  for (int digits = 15; digits <= 17; ++digits) {
    std::ostringstream o;
    o.precision(digits);
    o << v;
    // (strtod, not stod: a value that reads back below DBL_MIN, 2.2250738585072e-308 at 15
    // digits, is out_of_range for stod, which leaked as "error: stod")
    if (digits == 17 || std::strtod(o.str().c_str(), nullptr) == v) return o.str();
  }
  return {};
}

template <class T>
std::optional<T> whole_number(const std::string& s) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front()))) return std::nullopt;
  std::size_t used = 0;
  T v{};
  try {
    if constexpr (std::is_same_v<T, double>)
      v = std::stod(s, &used);
    else if constexpr (std::is_same_v<T, long long>)
      v = std::stoll(s, &used);
    else
      v = std::stoi(s, &used);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
  if (used != s.size()) return std::nullopt;
  return v;
}
template std::optional<double> whole_number<double>(const std::string&);
template std::optional<long long> whole_number<long long>(const std::string&);
template std::optional<int> whole_number<int>(const std::string&);

std::string GridAxis::str() const {
  return shortest_decimal(min) + ":" + shortest_decimal(max) + ":" + std::to_string(num);
}

GridAxis parse_axis(const std::string& s, const std::string& option) {
  auto bad = [&](const std::string& why) {
    return InputError(option + " '" + s + "': " + why + " (expected MIN:MAX:NUM, e.g. -1:1:51)");
  };
  auto p1 = s.find(':');
  auto p2 = p1 == std::string::npos ? p1 : s.find(':', p1 + 1);
  if (p1 == std::string::npos || p2 == std::string::npos || s.find(':', p2 + 1) != std::string::npos)
    throw bad("needs three fields");
  GridAxis a;
  // Each field on its own: out of range is said as such (1e400 and 10^20 points were "not numbers")
  const auto number = [&](const std::string& f, const char* name) {
    std::optional<double> v;
    try {
      v = whole_number<double>(f);
    } catch (const std::out_of_range&) {  // (glibc: also a subnormal, 1e-320)
      throw bad(std::string(name) + " is beyond a double's range (or below its smallest normal value)");
    }
    if (!v) throw bad(std::string(name) + " is not a number");
    return *v;
  };
  a.min = number(s.substr(0, p1), "MIN");
  a.max = number(s.substr(p1 + 1, p2 - p1 - 1), "MAX");
  // (-0 is 0, the same grid: written "0" in a surface's identity, as any spelling of 0 is)
  if (a.min == 0) a.min = 0;
  if (a.max == 0) a.max = 0;
  const std::string f2 = s.substr(p2 + 1);
  try {
    const auto n = whole_number<long long>(f2);
    if (!n) throw bad("NUM is not an integer");
    a.num = *n;
  } catch (const std::out_of_range&) {
    a.num = f2.find('-') == std::string::npos ? kMaxGridPoints + 1 : 0;  // (said below)
  }
  if (a.num < 1) throw bad("NUM must be at least 1");
  if (a.num > kMaxGridPoints)
    throw bad("NUM above " + std::to_string(kMaxGridPoints) +
              ": every point is a full pass over the data set");
  if (!std::isfinite(a.min) || !std::isfinite(a.max)) throw bad("bounds must be finite");
  if (a.num > 1 && !(a.max > a.min)) throw bad("MAX must be greater than MIN");
  // Steps below the bounds' double precision would give repeated coordinates (points computed
  // twice, a file plot refuses): the step must clear a few ulps of the larger bound.
  if (a.num > 1) {
    const double step = (a.max - a.min) / double(a.num - 1);
    if (!std::isfinite(a.max - a.min)) throw bad("MAX - MIN overflows a double");
    const double ulp = std::max(std::fabs(a.min), std::fabs(a.max)) *
                       std::numeric_limits<double>::epsilon();
    bool repeats = !(step > 4 * ulp);
    if (!repeats && a.num <= 10'000'000) {  // (exactly, where the coordinates are affordable)
      const auto c = a.coordinates();
      for (std::size_t i = 1; i < c.size() && !repeats; ++i) repeats = !(c[i] > c[i - 1]);
    }
    if (repeats)
      throw bad("a step of " + shortest_decimal(step) +
                " is below the precision of the bounds: coordinates would repeat");
  }
  return a;
}

std::vector<std::int64_t> Grid::shape() const {
  if (has_y) return {y.num, x.num};
  return {x.num};
}

double Grid::alpha(std::int64_t flat) const {
  auto c = x.coordinates();
  return c[std::size_t(flat % nx())];
}
double Grid::beta(std::int64_t flat) const {
  if (!has_y) return 0.0;
  auto c = y.coordinates();
  return c[std::size_t(flat / nx())];
}

std::vector<std::int64_t> part_points(const Grid& g, std::int64_t k, std::int64_t n) {
  const auto order = coarse_to_fine(g);
  std::vector<std::int64_t> out;
  out.reserve(order.size() / std::size_t(n) + 1);
  for (std::size_t p = std::size_t(k); p < order.size(); p += std::size_t(n)) out.push_back(order[p]);
  return out;
}

std::string zero_gap_note(const GridAxis& a, const std::string& option) {
  // (one point of a range: MIN alone, as numpy.linspace; said, since a NUM of 1 for 11 looks the same)
  if (a.num == 1 && a.min != a.max) {
    return option + " " + a.str() + " is the one point " + shortest_decimal(a.min) + " (NUM 1 is MIN alone, as numpy.linspace: MAX is not used)";
  }
  if (a.num < 2 || !(a.min < 0 && 0 < a.max)) return "";
  const auto c = a.coordinates();
  const double step = (a.max - a.min) / double(a.num - 1);
  const auto above = std::find_if(c.begin(), c.end(), [](double v) { return v >= 0; });
  if (std::abs(*above) <= 1e-6 * step || std::abs(*(above - 1)) <= 1e-6 * step) return "";
  auto approx = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3g", v);
    return std::string(b);
  };
  std::string note = option + " " + a.str() + " has no point at 0 (the nearest are " + approx(*(above - 1)) +
                     " and " + approx(*above) + "): the surface does not pass through θ* itself";
  if (a.min == -a.max) {
    GridAxis odd = a;
    odd.num += 1;
    note += "; " + odd.str() + " would";
  }
  return note;
}

bool at_origin(const std::vector<double>& c, std::size_t i) {
  if (i >= c.size()) return false;
  const double step = c.size() > 1 ? std::abs(c.back() - c.front()) / double(c.size() - 1) : 0.0;
  return std::abs(c[i]) <= 1e-6 * step;
}

std::size_t preview_anchor(const std::vector<double>& c) {
  if (c.empty() || !(std::min(c.front(), c.back()) <= 0 && 0 <= std::max(c.front(), c.back()))) return 0;
  std::size_t best = 0;
  for (std::size_t i = 1; i < c.size(); ++i)
    if (std::abs(c[i]) < std::abs(c[best])) best = i;
  return best;
}

std::vector<std::size_t> stride_indices(std::size_t n, std::size_t stride, std::size_t anchor) {
  std::vector<std::size_t> v = {0};
  for (std::size_t i = anchor % stride; i < n; i += stride)
    if (i != 0) v.push_back(i);
  if (v.back() != n - 1) v.push_back(n - 1);
  return v;
}

std::vector<std::int64_t> coarse_to_fine(const Grid& g, bool centred) {
  auto level = [](std::int64_t i, std::int64_t n, std::int64_t top, std::int64_t a) {
    // The largest power-of-two stride (<= top) dividing i - a; the ends count as coarsest.
    if (i == 0 || i == n - 1 || i == a) return top;
    const std::int64_t d = i > a ? i - a : a - i;
    std::int64_t s = 1;
    while (s < top && d % (s * 2) == 0) s *= 2;
    return s;
  };
  const std::int64_t ax = centred ? std::int64_t(preview_anchor(g.x.coordinates())) : 0;
  const std::int64_t ay = centred && g.has_y ? std::int64_t(preview_anchor(g.y.coordinates())) : 0;
  std::int64_t top = 1;
  while (top * 2 < std::max(g.nx(), g.ny())) top *= 2;
  std::vector<std::pair<std::int64_t, std::int64_t>> keyed;  // (-stride, flat)
  keyed.reserve(std::size_t(g.size()));
  for (std::int64_t iy = 0; iy < g.ny(); ++iy)
    for (std::int64_t ix = 0; ix < g.nx(); ++ix) {
      std::int64_t s = std::min(level(ix, g.nx(), top, ax), g.has_y ? level(iy, g.ny(), top, ay) : top);
      if (ix == ax && iy == ay) s = 2 * top;  // the anchor point first (θ* in a centred order)
      keyed.push_back({-s, iy * g.nx() + ix});
    }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<std::int64_t> out;
  out.reserve(keyed.size());
  for (auto& k : keyed) out.push_back(k.second);
  return out;
}

Grid parse_grid(const std::string& x, const std::string& y) {
  Grid g;
  g.x = parse_axis(x, "--x");
  if (!y.empty()) {
    g.has_y = true;
    g.y = parse_axis(y, "--y");
    if (double(g.x.num) * double(g.y.num) > double(kMaxGridPoints))
      throw InputError("--x " + x + " --y " + y + ": " + std::to_string(g.x.num) + " x " +
                       std::to_string(g.y.num) + " points, above " +
                       std::to_string(kMaxGridPoints) +
                       ": every point is a full pass over the data set");
  }
  return g;
}

std::pair<int, int> parse_part_text(const std::string& part) {
  const auto slash = part.find('/');
  std::optional<int> k, n;
  try {
    if (slash != std::string::npos) {
      k = whole_number<int>(part.substr(0, slash));
      n = whole_number<int>(part.substr(slash + 1));
    }
  } catch (const std::out_of_range&) {
    throw InputError("--part '" + part + "': K and N must be at most " +
                     std::to_string(std::numeric_limits<int>::max()));
  }
  if (!k || !n) throw InputError("--part '" + part + "': expected K/N, e.g. 3/8");
  if (*n < 1 || *k < 1 || *k > *n) throw InputError("--part '" + part + "': need 1 <= K <= N");
  return {*k - 1, *n};
}

}  // namespace losscape
