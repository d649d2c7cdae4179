#include "losscape/plot.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <nlohmann/json.hpp>
#include <iomanip>
#include <sstream>

#include "losscape/contour_labels.hpp"
#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "losscape/surface.hpp"
#include "losscape/terminal.hpp"
#include "losscape/trajectory.hpp"

namespace losscape {
namespace fs = std::filesystem;
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const std::vector<std::string> kStored = {"train_loss", "train_acc", "test_loss",
                                          "test_acc",   "max_eig",   "min_eig"};

// ---- reading ----

std::string try_attr_string(const h5::Location& f, const std::string& name) {
  if (!f.has_attr(name)) return "";
  try {
    return f.attr_string(name);
  } catch (const Error&) {
    return "";
  }
}

// A scalar string dataset (the reference stores `dir_file` this way); h5::Dataset has no string
// reader, so this reads it with the C API through the RAII handles.
std::string read_string_dataset(const h5::Location& f, const std::string& name) {
  h5::Dataset d = f.dataset(name);
  h5::Handle ft(H5Dget_type(d.id()), H5Tclose);
  if (!ft.valid() || H5Tget_class(ft.id()) != H5T_STRING) return "";
  h5::Handle space(H5Dget_space(d.id()), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.id()) != 1) return "";
  if (H5Tis_variable_str(ft.id()) > 0) {
    h5::Handle mt(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mt.id(), H5T_VARIABLE);
    H5Tset_cset(mt.id(), H5Tget_cset(ft.id()));  // h5py writes UTF-8; HDF5 converts no csets
    char* p = nullptr;
    if (H5Dread(d.id(), mt.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) < 0) return "";
    std::string s = p ? p : "";
    H5Dvlen_reclaim(mt.id(), space.id(), H5P_DEFAULT, &p);
    return s;
  }
  std::vector<char> buf(H5Tget_size(ft.id()) + 1, '\0');
  if (H5Dread(d.id(), ft.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0) return "";
  return std::string(buf.data());
}

std::vector<std::uint8_t> read_u8(const h5::Dataset& d) {
  std::vector<std::uint8_t> v(d.size());
  d.read(h5::Type::u8, v.data());
  return v;
}

std::string dims_str(const std::vector<hsize_t>& d) {
  std::string s = "(";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + ")";
}

bool is_error(const std::string& q) { return q == "train_err" || q == "test_err"; }
bool is_acc(const std::string& q) { return q == "train_acc" || q == "test_acc"; }
bool is_loss(const std::string& q) { return q == "train_loss" || q == "test_loss"; }
// The stored dataset behind a loss/accuracy/error quantity.
std::string source_of(const std::string& q) {
  if (q == "train_err") return "train_acc";
  if (q == "test_err") return "test_acc";
  return q;
}

// Computed-point mask of q (see quantity_values).
std::vector<bool> computed_mask(const SurfaceView& s, const std::string& q) {
  std::vector<bool> m(s.size(), false);
  if (s.done) {
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = (*s.done)[i] != 0;
    return m;
  }
  const auto& marks = reference_pending_marks(s, q == "eig-ratio" ? "max_eig" : source_of(q));
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = marks[i] != kNotComputed;
  return m;
}

// ---- text helpers ----

std::string num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  char b[40];
  // (rounded to 10 digits, a value within 5e-10 of DBL_MAX reads back as infinity: all 17)
  std::snprintf(b, sizeof b, "%.*g", std::abs(v) > 1.7e308 ? 17 : 10, v);
  return b;
}
// A value of the data files: NaN also for ±inf, which gnuplot would draw as data (a heat map's
// top colour, a spike of the 3D surface) where the figures promise a gap.
std::string value_num(double v) { return std::isfinite(v) ? num(v) : "NaN"; }
std::string short_num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}
// The fewest significant digits (3 for log-spaced levels, 6 else) that tell every two adjacent
// levels apart: log-spaced ones 1.0009 apart were five lines labelled "2.3".
int level_digits(const std::vector<double>& lv, bool log) {
  int digits = log ? 3 : 6;
  for (; digits < 17; ++digits) {
    std::string last;
    bool apart = true;
    for (std::size_t i = 0; i < lv.size() && apart; ++i) {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.*g", digits, lv[i]);
      apart = i == 0 || last != buf;
      last = buf;
    }
    if (apart) break;
  }
  return digits;
}
// lo and hi with as many digits as it takes to tell them apart (level_digits: 6 at least):
// "[1, 1]" was shown for a surface between 1 and 1 + 1e-12.
std::pair<std::string, std::string> distinct_nums(double lo, double hi) {
  const int digits = level_digits({lo, hi}, false);
  char a[40], b[40];
  std::snprintf(a, sizeof a, "%.*g", digits, lo);
  std::snprintf(b, sizeof b, "%.*g", digits, hi);
  return {a, b};
}
// Labelled tics of a logarithmic axis from lo to hi. gnuplot labels only the powers of 10: a
// range within one or two decades (a loss axis 0.5..5) got a single label. Then 1-2-5 per
// decade, or every integer multiple if that still gives fewer than 3; "" (gnuplot's own) when
// the powers of 10 alone give 3 labels or more.
std::string log_tics_cmd(const std::string& axis, double lo, double hi) {
  if (!(lo > 0) || !(hi > lo) || !std::isfinite(hi)) return "";
  auto tics = [&](std::initializer_list<int> mult) {
    std::vector<double> t;
    for (int e = int(std::floor(std::log10(lo))); e <= int(std::ceil(std::log10(hi))); ++e)
      for (int m : mult) {
        const double v = std::stod(std::to_string(m) + "e" + std::to_string(e));  // (exact decimal)
        if (v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12)) t.push_back(v);
      }
    return t;
  };
  if (tics({1}).size() >= 3) return "";
  auto t = tics({1, 2, 5});
  if (t.size() < 3) t = tics({1, 2, 3, 4, 5, 6, 7, 8, 9});
  if (t.size() < 2) return "";
  std::string s = "set " + axis + "tics (";
  for (std::size_t i = 0; i < t.size(); ++i) s += (i ? ", \"" : "\"") + short_num(t[i]) + "\" " + num(t[i]);
  return s + ")\n";
}

std::string ordinal(std::size_t n) {
  const char* suffix = "th";
  if (n % 100 < 11 || n % 100 > 13) {
    if (n % 10 == 1) suffix = "st";
    if (n % 10 == 2) suffix = "nd";
    if (n % 10 == 3) suffix = "rd";
  }
  return std::to_string(n) + suffix;
}
// A gnuplot double-quoted string; `\n` in the input becomes a line break in the output. A
// backquote is written as its octal escape: gnuplot runs `...` on a command line as a shell
// command, also inside double quotes (a surface named a`touch x`.h5 ran `touch x`).
std::string gp_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '`') {
      o += "\\140";
      continue;
    }
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o + "\"";
}

// A file name inside a comment line of a script or data file: a line break in it would end the
// comment (and make the rest a command or a data row), so it is written as \n.
std::string comment_safe(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '\n' ? std::string("\\n") : c == '\r' ? std::string("\\r") : std::string(1, c);
  return o;
}

std::string label_of(const std::string& q) {
  if (q == "train_loss") return "train loss";
  if (q == "test_loss") return "test loss";
  if (q == "train_acc") return "train accuracy (%)";
  if (q == "test_acc") return "test accuracy (%)";
  if (q == "train_err") return "train error (%)";
  if (q == "test_err") return "test error (%)";
  if (q == "eig-ratio") return "|λmin / λmax|";
  return q;
}

// The 3D view ignores margins: a title of more than two lines (a long model name broken, a
// surface in progress) would lie on the surface's far corner; the view shrinks (6 % a line) and
// the title rises into the room above it (up to 1.2 lines). At 0.92 of gnuplot's size, not 1:
// the colour bar's labels and title fit on the right (a log bar's "100000" was cut at the edge and
// its title left out).
std::string surface_title_room(const std::string& title) {
  const auto extra = double(std::count(title.begin(), title.end(), '\n')) - 1;
  if (extra <= 0) return "set view 55, 35, 0.92, 1.1\n";
  return "set view 55, 35, " + num(std::max(0.7, 0.92 - 0.06 * extra)) + ", 1.1\nset title offset 0, " +
         num(std::min(1.2, 0.4 * extra)) + "\n";
}

// splot in map view draws a multi-line title down into the plot: make room and lift it.
// Its left margin, too, leaves the y label out: at --size 400x300 the label ("2nd PC: 4.52 %")
// was cut at the picture's edge. Room for the y tic labels as gnuplot writes them (about five
// steps over [y0, y1], to the step's decimals) and the label.
std::string map_title_room(const std::string& title, double y0, double y1) {
  auto breaks = std::count(title.begin(), title.end(), '\n');
  const double span = std::abs(y1 - y0);
  const int decimals =
      span > 0 && std::isfinite(span) ? std::clamp(-int(std::floor(std::log10(span / 5))), 0, 12) : 0;
  auto chars = [decimals](double v) {
    std::ostringstream t;
    t << std::fixed << std::setprecision(decimals) << v;
    return int(t.str().size());
  };
  return "set tmargin " + std::to_string(breaks + 2) + ".5\nset title offset 0, " +
         std::to_string(breaks) + "\nset lmargin " + std::to_string(std::max(chars(y0), chars(y1)) + 5) + "\n";
}

// The suffix of a file being written, renamed away when whole: this process's own (".PID.writing"),
// so that two plots of the same figures at once (a watch loop beside a user's own plot) never
// write into, or remove, each other's temporaries.
const std::string kWriting = h5::own_suffix(".writing");

struct Levels {
  double vmin, vlevel, vmax;
  bool log_floor = false;  ///< vmin is --log's floor for a default of 0: lower values drawn at it
};
constexpr std::size_t kMaxLevels = 1000;
// How many of vmin, vmin+vlevel, ... are <= vmax.
double level_count(const Levels& l) { return std::floor((l.vmax - l.vmin) / l.vlevel + 1e-9) + 1; }
Levels levels_for(const std::string& q, const PlotOptions& o) {
  Levels l{0.1, 0.5, 10};
  if (is_acc(q) || is_error(q)) l = {0, 5, 100};
  if (q == "eig-ratio") l = {0, 0.1, 1};
  if (o.vmin) l.vmin = *o.vmin;
  if (o.vlevel) l.vlevel = *o.vlevel;
  if (o.vmax) l.vmax = *o.vmax;
  for (const auto& [given, name] : {std::pair{o.vmin, "--vmin"}, {o.vlevel, "--vlevel"}, {o.vmax, "--vmax"}})
    if (given && !std::isfinite(*given)) throw InputError(std::string("plot: ") + name + " must be finite");
  if (!(l.vlevel > 0)) throw InputError("plot: --vlevel must be > 0");
  if (!(l.vmax > l.vmin)) throw InputError("plot: --vmax must be greater than --vmin");
  // (gnuplot's colour range fails beyond these: "empty cb range", "colorbox value undefined")
  constexpr double kHuge = 1e300, kResolution = 1e-9;
  if (std::max(std::abs(l.vmin), std::abs(l.vmax)) > kHuge)
    throw InputError("plot: --vmin " + short_num(l.vmin) + " and --vmax " + short_num(l.vmax) +
                     ": levels beyond ±1e300 overflow gnuplot's colour range");
  if (l.vmax - l.vmin < kResolution * std::max(std::abs(l.vmin), std::abs(l.vmax))) {
    const auto [lo, hi] = distinct_nums(l.vmin, l.vmax);
    throw InputError("plot: --vmin " + lo + " and --vmax " + hi +
                     " differ by less than 1e-9 of their size, finer than gnuplot's colour range resolves");
  }
  if (o.log && !(l.vmin > 0)) {
    // Log scales need a positive floor; accuracy/error and eig-ratio defaults start at 0.
    if (o.vmin) throw InputError("plot: --log needs --vmin > 0");
    l.vmin = std::min(l.vlevel, l.vmax / 10);
    l.log_floor = true;
  }
  // (a tiny --vlevel would make gnuplot trace billions of contours)
  const double count = level_count(l);
  if (count > double(kMaxLevels))
    throw InputError("plot: " + short_num(l.vmin) + ":" + short_num(l.vlevel) + ":" +
                     short_num(l.vmax) + " (--vmin:--vlevel:--vmax) makes " + short_num(count) +
                     " contour levels; at most " + std::to_string(kMaxLevels) +
                     ": choose a larger --vlevel");
  return l;
}
// The contour levels vmin, vmin+vlevel, ... <= vmax; with --log the same number of levels
// spaced geometrically between vmin and vmax.
std::vector<double> level_values(const Levels& l, bool log) {
  auto n = std::int64_t(level_count(l));
  if (n < 2 && !log) return {l.vmin, l.vmax};  // a step beyond vmax: the two ends
  n = std::max<std::int64_t>(n, 2);
  std::vector<double> v;
  for (std::int64_t k = 0; k < n; ++k)
    v.push_back(log ? l.vmin * std::pow(l.vmax / l.vmin, double(k) / double(n - 1))
                    : l.vmin + double(k) * l.vlevel);
  return v;
}

// The 1D figures' grid lines: light grey dots, visible under the curves (loss and accuracy).
constexpr const char* kGridLines = "set grid xtics ytics lc rgb \"#b4b4b4\" dt 3\n";

// ---- the picture's context: title, axis labels, which grid lines are drawn ----

// The lines a figure draws: every grid line, or the lines of a coarse sub-grid (stride > 1).
struct SubGrid {
  std::size_t stride = 1;
  std::vector<std::size_t> xs, ys;  ///< indices along α and β ({0} in 1D)
  std::size_t ax = 0, ay = 0;       ///< the lines the sub-grid is counted from
  /// Index steps between the lines drawn: the stride, or a multiple of it when the grid is finer
  /// than the picture (figure_grid); the ends are drawn whatever the step.
  std::size_t step_x = 1, step_y = 1;
};

// How a surface still being computed is drawn. A coarse-to-fine sweep (grid.hpp) completes the
// sub-grids of stride 2^k first, counted from θ*'s lines (preview_anchor; files of earlier
// versions: from index 0); drawn at stride 1 it would be isolated points until its last pass is
// well under way. So: stride 1 (unknown points are gaps) while at least half of the plane is
// covered by cells whose corners are all known; otherwise the finest stride whose sub-grid (from
// either anchor) is fully known and has at least 3 lines per axis, if there is one. A finished
// surface is always drawn at stride 1. Known means computed (computed_mask), NaN or not: a point
// that diverged does not keep its sub-grid from being drawn.
SubGrid drawing_grid(const SurfaceView& s, const std::string& q, bool complete) {
  const std::size_t nx = s.nx(), ny = s.ny();
  const std::size_t cx = preview_anchor(s.x), cy = s.two_d() ? preview_anchor(s.y) : 0;
  SubGrid all{1, stride_indices(nx, 1), s.two_d() ? stride_indices(ny, 1) : std::vector<std::size_t>{0},
              cx, cy};
  if (complete) return all;
  const std::vector<bool> computed = computed_mask(s, q);
  auto ok = [&](std::size_t iy, std::size_t ix) { return bool(computed[iy * nx + ix]); };
  double covered = 0;
  for (std::size_t iy = 0; iy + 1 < std::max<std::size_t>(ny, 2); ++iy)
    for (std::size_t ix = 0; ix + 1 < nx; ++ix) {
      bool known = ok(iy, ix) && ok(iy, ix + 1);
      if (s.two_d()) known = known && ok(iy + 1, ix) && ok(iy + 1, ix + 1);
      covered += known;
    }
  double cells = double(nx - 1) * double(s.two_d() ? ny - 1 : 1);
  if (covered >= 0.5 * cells) return all;
  for (std::size_t st = 2; st / 2 < std::max(nx, ny) - 1; st *= 2) {
    bool too_few = true;  // (both sub-grids)
    for (const bool centred : {true, false}) {
      SubGrid g{st, stride_indices(nx, st, centred ? cx : 0),
                s.two_d() ? stride_indices(ny, st, centred ? cy : 0) : std::vector<std::size_t>{0},
                centred ? cx : 0, centred ? cy : 0, st, st};
      // (two lines, the ends, would draw a plane through the corners: not the surface)
      if (g.xs.size() < std::min<std::size_t>(nx, 3) || (s.two_d() && g.ys.size() < std::min<std::size_t>(ny, 3)))
        continue;
      too_few = false;
      bool known = true;
      for (std::size_t iy : g.ys)
        for (std::size_t ix : g.xs) known = known && ok(iy, ix);
      if (known) return g;
    }
    if (too_few) break;
  }
  return all;
}

// A grid finer than the picture: every m-th of the sub-grid's lines of one axis, counted from
// its anchor line (θ*'s, kept), plus both ends; m the smallest that draws at most about `budget`
// lines. `step` is the sub-grid's step, and becomes the new one.
std::vector<std::size_t> thin_lines(const std::vector<std::size_t>& lines, std::size_t anchor,
                                    std::size_t budget, std::size_t& step) {
  if (lines.size() <= budget) return lines;
  const std::size_t m = (lines.size() - 1 + budget - 2) / (budget - 1);
  step *= m;
  std::vector<std::size_t> kept;
  for (std::size_t i : lines)
    if (i == lines.front() || i == lines.back() || (i > anchor ? i - anchor : anchor - i) % step == 0)
      kept.push_back(i);
  return kept;
}

enum class Kind { contour, contourf, heat, surface3d, trajectory };

// The lines a 2D figure of values v draws. A map or a 3D surface draws at most about one line
// per pixel of its plot area (3/4 of the picture's width and height; the 3D view's axes, drawn
// obliquely, about half its width each) unless --full-resolution: finer lines add nothing to
// see, and cost gnuplot's time and memory and the size of a PDF or SVG (a complete 1001 x 1001
// surface: 2.1 GB and 40 s for the default PNG and PDF, on 501 x 335 lines 0.37 GB and 6.7 s). The
// heatmap draws every node (one cell each, the image scaled to the plot area; cheap).
SubGrid figure_grid(const SurfaceView& s, const std::string& q, const std::vector<double>& v, Kind kind,
                    bool complete, const PlotOptions& o) {
  const SubGrid g = drawing_grid(s, q, kind == Kind::heat || complete);
  if (kind == Kind::heat || o.full_resolution) return g;
  const auto budget = [](int pixels) { return std::size_t(std::max(3, pixels)); };
  const bool oblique = kind == Kind::surface3d;
  SubGrid thin = g;
  thin.xs = thin_lines(g.xs, g.ax, budget(oblique ? o.width / 2 : 3 * o.width / 4), thin.step_x);
  thin.ys = thin_lines(g.ys, g.ay, budget(oblique ? o.width / 2 : 3 * o.height / 4), thin.step_y);
  // (a surface in progress whose computed values all lie off the lines kept: drawn whole)
  auto any_value = [&](const SubGrid& sub) {
    for (std::size_t iy : sub.ys)
      for (std::size_t ix : sub.xs)
        if (std::isfinite(v[iy * s.nx() + ix])) return true;
    return false;
  };
  return complete || any_value(thin) || !any_value(g) ? thin : g;
}

// "every 2nd α line and every β line", "every 4th grid line": the lines a sub-grid keeps.
std::string lines_phrase(std::size_t step_x, std::size_t step_y, const std::string& x,
                         const std::string& y) {
  if (step_x == step_y) return "every " + ordinal(step_x) + " grid line";
  auto one = [](std::size_t step, const std::string& axis) {
    return "every " + (step > 1 ? ordinal(step) + " " : std::string()) + axis + " line";
  };
  return one(step_x, x) + " and " + one(step_y, y);
}

// Whether a figure leaves lines out because the grid is finer than the picture.
bool thinned(const SubGrid& g) { return g.step_x > g.stride || g.step_y > g.stride; }

struct Context {
  const SurfaceView* s;
  const PlotOptions* o;
  std::string stem;
  std::string xlabel = "α", ylabel = "β";
  std::optional<ProjectedPath> traj;
  // A 2D grid of one point on an axis, drawn as a 1D curve: the curve's axis ("β" when α is the
  // fixed one) and the fixed coordinate ("β = 0"), for the titles.
  std::string line_axis = "α", line_fixed;
};

std::string basename_of(const std::string& p) { return fs::path(p).filename().string(); }

// The first column of a 1D figure's data: the curve's axis (beta for a grid of one point on α).
std::string line_column(const Context& c) { return c.line_axis == "β" ? "beta" : "alpha"; }

// A model file as titles name it: its file name, and for a training run's checkpoint (model_300.h5,
// the reference's model_300.t7), whose name is only its epoch, with the run's folder before it
// (resnet56_sgd_lr0.1_bs128_wd5e-4/model_300.h5): what tells one run's figures from another's.
std::string model_name(const std::string& file) {
  const fs::path p(file);
  const std::string name = p.filename().string(), folder = p.parent_path().filename().string();
  const auto digits = name.find_first_not_of("0123456789", 6);
  const bool checkpoint = name.rfind("model_", 0) == 0 && digits != std::string::npos && digits > 6 &&
                          name[digits] == '.' && name.find('.', digits + 1) == std::string::npos;
  return checkpoint && !folder.empty() && folder != "." && folder != ".." ? folder + "/" + name : name;
}

// Text, lines, points and the margins they need grow with pictures larger than 800x600, by the
// smaller of the two ratios: a larger --size draws the same figure with more pixels (the text
// stayed 10 points: a 2400x1800 picture's labels were a third of their size). Smaller pictures
// keep 10-point text (scaled down it would not be read). The scripts compute the same from their
// width and height (script_preamble), so that a size edited there scales too.
double picture_scale(const PlotOptions& o) {
  return std::clamp(std::min(o.width / 800.0, o.height / 600.0), 1.0, 8.0);
}

// A title line wider than the picture broken where it would overflow: first between its parts
// (" · "), then after a comma (an interpolation's ends), before a model file's "(", after a "/"
// of a long folder name. 10-point text is about 7 pixels a character (7.2 for a file name's _ =
// and digits), and a map's title is centred over its plot area, left of the picture's centre, so
// about 80 % of the width is safe (88 characters at 800x600, measured on the maps).
struct TitleBreak {
  const char* sep;
  const char* left;   // what ends the line before the break
  const char* right;  // what begins the next one
};
constexpr TitleBreak kTitleBreaks[] = {{" · ", "", ""}, {", ", ",", ""}, {" (", "", "("}, {"/", "/", ""}};

std::string wrap_title_text(const std::string& line, double budget, std::size_t level = 0) {
  auto chars = [](const std::string& t) {  // (UTF-8: α, θ and · are one character each)
    return double(std::count_if(t.begin(), t.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
  };
  if (chars(line) <= budget || level == std::size(kTitleBreaks)) return line;
  const TitleBreak& b = kTitleBreaks[level];
  const std::string sep = b.sep;
  std::vector<std::string> parts;
  for (std::size_t at = 0;;) {
    const std::size_t next = line.find(sep, at);
    parts.push_back(line.substr(at, next == std::string::npos ? std::string::npos : next - at));
    if (next == std::string::npos) break;
    at = next + sep.size();
  }
  std::vector<std::string> lines{parts.front()};
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (chars(lines.back() + sep + parts[i]) > budget) {
      lines.back() += b.left;
      lines.push_back(b.right + parts[i]);
    } else {
      lines.back() += sep + parts[i];
    }
  }
  std::string out;
  for (auto& l : lines) out += (out.empty() ? "" : "\n") + wrap_title_text(l, budget, level + 1);
  return out;
}

std::string wrap_title_line(const std::string& line, const PlotOptions& o) {
  return wrap_title_text(line, 0.8 * o.width / picture_scale(o) / 7.2);
}

// (stride: the steps between the lines drawn of a surface in progress, α's and, when different,
// step_y β's)
std::string title_for(const Context& c, const std::string& what_label, std::size_t done,
                      std::size_t stride, std::size_t step_y = 0) {
  const SurfaceView& s = *c.s;
  std::string model = s.arch;
  if (!s.model_file.empty())
    model = model.empty() ? model_name(s.model_file) : model + " (" + model_name(s.model_file) + ")";
  if (model.empty()) model = basename_of(s.path);
  std::string line1 = model;
  if (!s.dataset.empty()) line1 += " · " + s.dataset;
  if (s.samples > 0) line1 += " (" + std::to_string(s.samples) + " samples)";
  line1 += " · " + what_label;
  if (s.loss == "mse" && what_label.find("loss") != std::string::npos) line1 += " (MSE)";
  auto range = [](const std::vector<double>& v) {
    return "[" + short_num(v.front()) + ", " + short_num(v.back()) + "]";
  };
  std::string line2;
  if (s.two_d())
    line2 = std::to_string(s.nx()) + "×" + std::to_string(s.ny()) + " grid, α ∈ " + range(s.x) +
            ", β ∈ " + range(s.y);
  else
    line2 = std::to_string(s.nx()) + " points, " + c.line_axis + " ∈ " + range(s.x) +
            (c.line_fixed.empty() ? "" : " at " + c.line_fixed);
  // An interpolation: where the end models are (a title without it reads as a random direction).
  // (two models of one file name, final.h5 in two folders: each named with its folder)
  auto named = [&](const std::string& file) {
    for (const std::string* other : {&s.model_file, &s.x_target, &s.y_target})
      if (!other->empty() && *other != file && basename_of(*other) == basename_of(file)) {
        const fs::path p(file);
        return (p.parent_path().filename() / p.filename()).string();
      }
    return model_name(file);
  };
  std::string ends;
  if (!s.x_target.empty())
    ends = "α = 0 at " + (s.model_file.empty() ? std::string("θ*") : named(s.model_file)) +
           ", α = 1 at " + named(s.x_target);
  if (!s.y_target.empty()) ends += (ends.empty() ? "" : ", ") + std::string("β = 1 at ") + named(s.y_target);
  if (!ends.empty()) line2 += "\n" + wrap_title_line(ends, *c.o);
  line1 = wrap_title_line(line1, *c.o);
  if (done < s.size()) {
    line2 += "\n" + std::to_string(done) + " of " + std::to_string(s.size()) + " points done";
    if ((step_y && step_y != stride) || stride > 1)
      line2 += ", drawn on " + lines_phrase(stride, step_y ? step_y : stride, "α", "β");
  }
  return line1 + "\n" + line2;
}

// ---- script pieces ----

struct Script {
  std::ostringstream head;  // settings
  std::ostringstream plot;  // the plot command(s), run once per format
};

// Whether a picture gnuplot wrote ends as a whole one does (PNG: its IEND chunk; PDF: %%EOF;
// SVG: </svg>): gnuplot does not report a failed write, and a full disk left a PNG cut short
// under its final name, exit 0.
// (`path` is read, `name`'s extension says the format: path is name + kWriting while it is written)
bool whole_picture(const std::string& path, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff n = std::min<std::streamoff>(size, 64);
  if (!in || n <= 0) return false;
  std::string tail(std::size_t(n), '\0');
  in.seekg(size - n);
  in.read(tail.data(), n);
  if (!in) return false;
  const auto ext = fs::path(name).extension().string();
  auto trimmed = [&tail] {
    std::string t = tail;
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
    return t;
  };
  auto ends_with = [](const std::string& s, const std::string& end) {
    return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
  };
  if (ext == ".png") return ends_with(tail, std::string("IEND\xAE\x42\x60\x82", 8));
  if (ext == ".pdf") return ends_with(trimmed(), "%%EOF");
  if (ext == ".svg") return ends_with(trimmed(), "</svg>");
  return true;
}

// Written whole under a temporary name, then renamed: a file of the same name (or a link there)
// is replaced, never written through.
void write_file(const std::string& path, const std::string& text) {
  h5::write_whole(path, kWriting, [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw InputError("plot: cannot write " + path + " (" + std::strerror(errno) + ")");
    f << text;
    f.close();
    if (!f) throw InputError("plot: cannot write " + path + (errno ? " (" + std::string(std::strerror(errno)) + ")" : ""));
  });
}

// matplotlib's viridis at ten points, the palette of every map (gnuplot interpolates linearly).
constexpr std::array<const char*, 10> kViridis = {"#440154", "#482878", "#3e4989", "#31688e",
                                                  "#26828e", "#1f9e89", "#35b779", "#6ece58",
                                                  "#b5de2b", "#fde725"};

// A palette of `bands` flat colours, one per band of a filled map: viridis at i / (bands - 1), as
// `set palette maxcolors` samples it. (gnuplot 5.4 ignores a maxcolors below the ten points of a
// `defined` palette: 2 to 8 bands were drawn in 9 colours whose edges were not the levels.)
// (`white_below`: one more band first, white, for the values below the first level)
std::string band_palette_cmd(std::size_t bands, bool white_below = false) {
  auto rgb = [](const char* hex) {
    const unsigned long c = std::strtoul(hex + 1, nullptr, 16);
    return std::array<double, 3>{double((c >> 16) & 255), double((c >> 8) & 255), double(c & 255)};
  };
  std::string s = "# one flat colour per band between contour levels\nset palette maxcolors 0\n"
                  "set palette defined (";
  if (white_below) s += "0 '#ffffff', 1 '#ffffff', ";
  const std::size_t first = white_below ? 1 : 0;
  for (std::size_t i = 0; i < bands; ++i) {
    const double t = bands > 1 ? double(i) / double(bands - 1) * double(kViridis.size() - 1) : 0.0;
    const auto k = std::min<std::size_t>(std::size_t(t), kViridis.size() - 2);
    const auto a = rgb(kViridis[k]), b = rgb(kViridis[k + 1]);
    char col[8];
    std::snprintf(col, sizeof col, "#%02x%02x%02x", int(std::lround(a[0] + (t - double(k)) * (b[0] - a[0]))),
                  int(std::lround(a[1] + (t - double(k)) * (b[1] - a[1]))),
                  int(std::lround(a[2] + (t - double(k)) * (b[2] - a[2]))));
    s += (i ? ", " : "") + std::to_string(i + first) + " '" + col + "', " + std::to_string(i + 1 + first) + " '" + col + "'";
  }
  return s + ")\n";
}

// The opening of every script: what it is, how to re-render it, the knobs a user will edit.
// (source: what the figure draws, default the surface file)
void script_preamble(std::ostream& os, const Context& c, const std::string& name,
                     const std::string& what, const std::string& columns,
                     const std::string& source = "") {
  const PlotOptions& o = *c.o;
  std::string formats;
  for (auto& f : o.formats) formats += (formats.empty() ? "" : " ") + f;
  os << "# " << comment_safe(name) << ".gp: " << what << " of " << comment_safe(source.empty() ? c.s->path : source) << "\n"
     << "# Written by `losscape plot`. Data: " << comment_safe(name) << ".dat (" << columns
     << "; NaN = not computed or computed as NaN).\n"
     << "# Restyle freely, then re-render in this directory with: gnuplot " << comment_safe(name) << ".gp\n\n"
     << "name = " << gp_str(name) << "\n"
     << "datafile = \"./\" . name . \".dat\"   # (./: a name beginning with < or | is no command)\n"
     << "formats = " << gp_str(formats) << "      # any of: png pdf svg\n"
     << "width = " << o.width << "; height = " << o.height
     << "   # pixels (PNG, SVG); the PDF is width/100 x height/100 inches\n"
     << "font_spec = \"DejaVu Sans,10\"\n"
     << "# text, lines and points grow with pictures beyond 800x600: by min(width/800, height/600),\n"
     << "# 1 to 8 (the inline contour labels were placed by losscape for the size it was given)\n"
     << "scale = width / 800.0 < height / 600.0 ? width / 800.0 : height / 600.0\n"
     << "scale = scale < 1 ? 1 : scale > 8 ? 8 : scale\n\n"
     << "set encoding utf8\n"
     << "# viridis\n"
     << "set palette defined (";
  for (std::size_t i = 0; i < kViridis.size(); ++i) os << (i ? ", " : "") << i << " '" << kViridis[i] << "'";
  os << ")\n";
}

void script_render_loop(std::ostream& os, const std::string& plot_cmd) {
  os << "\n# (losscape runs this with part = \".PID.writing\" and renames each picture when whole)\n"
     << "if (!exists(\"part\")) part = \"\"\n"
     << "do for [fmt in formats] {\n"
     << "    if (fmt eq \"png\") {\n"
     << "        set terminal pngcairo size width, height enhanced font font_spec fontscale scale "
        "linewidth scale\n"
     << "    } else {\n"
     << "        if (fmt eq \"pdf\") {\n"
     << "            set terminal pdfcairo size width/100.0, height/100.0 enhanced font font_spec "
        "fontscale scale linewidth scale\n"
     << "        } else {\n"
     << "            set terminal svg size width, height enhanced font font_spec fontscale scale "
        "linewidth scale background \"white\"\n"
     << "        }\n"
     << "    }\n"
     << "    set output \"./\" . name . \".\" . fmt . part\n";
  std::istringstream lines(plot_cmd);
  for (std::string l; std::getline(lines, l);) os << "    " << l << "\n";
  os << "    unset output\n"
     << "}\n";
}

Figure make_figure(const Context& c, const std::string& name) {
  Figure f;
  f.dir = c.o->out_dir;
  f.name = name;
  for (auto& fmt : c.o->formats) f.outputs.push_back(f.dir + "/" + name + "." + fmt);
  return f;
}

// Grid data for splot: "alpha beta value", one block per beta, rows of the given indices.
void grid_block(std::ostream& os, const SurfaceView& s, const std::vector<double>& v,
                const std::vector<std::size_t>& xs, const std::vector<std::size_t>& ys) {
  for (std::size_t iy : ys) {
    for (std::size_t ix : xs)
      os << num(s.x[ix]) << ' ' << num(s.y[iy]) << ' ' << value_num(v[iy * s.nx() + ix]) << '\n';
    os << '\n';
  }
}

std::string range_of(double a, double b, double pad = 0) {
  double lo = std::min(a, b) - pad, hi = std::max(a, b) + pad;
  return "[" + num(lo) + ":" + num(hi) + "]";
}

// The levels listed one by one: gnuplot's `levels incremental vmin, vlevel, vmax` adds vlevel up
// in floating point and drops a last level that lands a rounding error above vmax (2.1 + 3 * 0.1).
// "a,b,c": the values as num writes them (a gnuplot list)
std::string joined(const std::vector<double>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + num(v[i]);
  return s;
}

std::string levels_cmd(const std::vector<double>& lv) {
  return "set cntrparam levels discrete " + joined(lv) + "\n";
}

// Computed points whose value is NaN or infinite (a model that diverged there) are drawn like
// points not computed: the figure's note says how many, so that the two are not confused.
std::string non_finite_note(const SurfaceView& s, const std::vector<std::string>& qs,
                            const char* drawn_as) {
  std::vector<bool> bad(s.size(), false);
  std::string what;
  for (const auto& q : qs) {
    const auto m = computed_mask(s, q);
    const auto v = quantity_values(s, q);
    // (accuracy and error are NaN where their split's loss is: the loss is named there; an
    // accuracy NaN beside a finite loss, an edited file, is named itself)
    const std::string loss_q = is_acc(q) || is_error(q) ? q.substr(0, q.find('_')) + "_loss" : q;
    const auto lv = loss_q != q && has_quantity(s, loss_q) ? quantity_values(s, loss_q) : std::vector<double>{};
    bool any_loss = false, any_own = false;
    for (std::size_t i = 0; i < v.size(); ++i)
      if (m[i] && !std::isfinite(v[i])) {
        bad[i] = true;
        (loss_q == q || (!lv.empty() && !std::isfinite(lv[i])) ? any_loss : any_own) = true;
      }
    for (const auto& [any, name] : {std::pair{any_loss, label_of(loss_q)}, std::pair{any_own, label_of(q)}})
      if (any && what.find(name) == std::string::npos) what += (what.empty() ? "" : ", ") + name;
  }
  const auto n = std::size_t(std::count(bad.begin(), bad.end(), true));
  if (n == 0) return "";
  // (eig-ratio = |min_eig / max_eig|: an eigensolver that did not converge, a λmax of 0, or a
  // point whose loss is NaN, where the sweep computes no Hessian)
  const bool eig = qs.size() == 1 && qs[0] == "eig-ratio";
  return std::to_string(n) + " computed point" + (n > 1 ? "s have" : " has") +
         " a NaN or infinite value (" + what +
         (eig ? "; the eigensolver did not converge there, or λmax is 0, or the loss is not finite there, "
                "where no Hessian is computed): "
              : "; the model diverged there, e.g. BatchNorm statistics extrapolated below 0): ") +
         drawn_as + ", like points not computed";
}

// A log axis has no place for a loss of 0 or below (a closed-form or MSE surface, an edited
// file): such values are gaps in a 1D figure, said rather than dropped in silence.
std::string log_nonpositive_note(const std::vector<std::string>& names,
                                 const std::vector<std::vector<double>>& vals,
                                 const std::vector<std::size_t>& rows) {
  std::size_t n = 0;
  std::string which;
  for (std::size_t k = 0; k < names.size(); ++k) {
    if (!is_loss(names[k])) continue;
    std::size_t here = 0;
    for (std::size_t i : rows) here += std::isfinite(vals[k][i]) && vals[k][i] <= 0;
    if (here > 0) which += (which.empty() ? "" : ", ") + label_of(names[k]);
    n += here;
  }
  if (n == 0) return "";
  return std::to_string(n) + " loss value" + (n > 1 ? "s are" : " is") + " 0 or negative (" +
         which + "): the log axis cannot show " + (n > 1 ? "them" : "it") + ", gaps in the curves";
}

// A loss drawn wholly above the loss axis' top (--loss-max): the figure shows empty axes. Said,
// as the 2D maps say a surface outside their levels.
std::string above_loss_max_note(const std::vector<std::string>& names,
                                const std::vector<std::vector<double>>& vals,
                                const std::vector<std::size_t>& rows, double loss_max) {
  std::string note;
  for (std::size_t k = 0; k < names.size(); ++k) {
    if (!is_loss(names[k])) continue;
    double lo = INFINITY, hi = -INFINITY;
    for (std::size_t i : rows)
      if (std::isfinite(vals[k][i])) lo = std::min(lo, vals[k][i]), hi = std::max(hi, vals[k][i]);
    if (lo > loss_max && std::isfinite(lo))
      note += (note.empty() ? "" : "; ") + label_of(names[k]) + " lies in [" + short_num(lo) + ", " +
              short_num(hi) + "]";
  }
  if (note.empty()) return "";
  return note + ", above the loss axis (0 to --loss-max " + short_num(loss_max) +
         "): nothing of it is drawn; choose a larger --loss-max";
}

// ---- 2D figures ----

// Whether coordinates are equally spaced (up to rounding), as gnuplot's `with image` assumes.
bool evenly_spaced(const std::vector<double>& c) {
  if (c.size() < 3) return true;
  const double step = (c.back() - c.front()) / double(c.size() - 1);
  for (std::size_t i = 1; i < c.size(); ++i)
    if (std::abs(c[i] - c[i - 1] - step) > 1e-6 * std::abs(step)) return false;
  return true;
}

// Which checkpoints of a path drawn over a map get their epoch printed: about ten at a regular
// interval, the last one always, skipping labels that would sit on the previous one (training
// slows down near the end, so late checkpoints crowd).
std::vector<bool> epoch_label_marks(const SurfaceView& s, const ProjectedPath& t) {
  const std::size_t n = t.x.size();
  const std::size_t every = std::max<std::size_t>(1, (n + 9) / 10);
  const double span =
      std::max({std::abs(s.x.back() - s.x.front()), std::abs(s.y.back() - s.y.front()), 1e-12});
  std::vector<bool> mark(n, false);
  std::optional<std::size_t> last;
  auto near = [&](std::size_t a, std::size_t b) {
    return std::hypot(t.x[a] - t.x[b], t.y[a] - t.y[b]) < 0.04 * span;
  };
  for (std::size_t k = 0; k < n; ++k) {
    bool want = k % every == 0 || k + 1 == n;
    // (a checkpoint that records no epoch, -1, among ones that do: no label, not "-1")
    if (!want || (k < t.epochs.size() && t.epochs[k] < 0)) continue;
    if (last && near(k, *last)) {
      if (k + 1 != n) continue;
      mark[*last] = false;  // the final model's label wins
    }
    mark[k] = true;
    last = k;
  }
  return mark;
}

// The plot area of a contour map in pixels, estimated from the figure's size: its margins and
// colour bar take about 200 x 180 pixels at the fonts used; with equal scales, the largest area
// of the ranges' proportions inside that. Label font 8 points, ~5.5 px a character.
LabelFrame label_frame(const PlotOptions& o, std::array<double, 4> range) {
  // (in the pixels of the picture at scale 1, those of the font and margin sizes below)
  const double width = o.width / picture_scale(o), height = o.height / picture_scale(o);
  double w = std::max(width - 200.0, 0.3 * width);
  double h = std::max(height - 180.0, 0.3 * height);
  if (equal_scale(o, range)) {
    const double dx = range[1] - range[0], dy = range[3] - range[2];
    const double px = std::min(w / dx, h / dy);
    w = px * dx, h = px * dy;
  }
  return {range[0], range[1], range[2], range[3], w, h, 5.5, 12};
}

// What the contour labels of a trajectory's map keep off: the path (points every 3 pixels along
// it) and its epoch labels (gnuplot centres them 1.2, 0.8 characters right of and above their
// point: about 9 and 11 pixels).
// `mark`: epoch_label_marks of the path.
std::vector<KeepClear> path_keep_clear(const ProjectedPath& t, const std::vector<bool>& mark,
                                       const PlotOptions& o, std::array<double, 4> range) {
  const LabelFrame f = label_frame(o, range);
  std::vector<KeepClear> k;
  if (!f.scalable()) return k;
  const double sx = f.px_per_x(), sy = f.px_per_y();
  for (std::size_t i = 0; i < t.x.size(); ++i) {
    if (!std::isfinite(t.x[i]) || !std::isfinite(t.y[i])) continue;
    k.push_back({t.x[i], t.y[i], 4, 4});  // (the point's dot)
    if (i + 1 < t.x.size() && std::isfinite(t.x[i + 1]) && std::isfinite(t.y[i + 1])) {
      const double len = std::hypot((t.x[i + 1] - t.x[i]) * sx, (t.y[i + 1] - t.y[i]) * sy);
      const int steps = int(std::min(len / 3, 10000.0));
      for (int m = 1; m < steps; ++m) {
        const double a = double(m) / steps;
        k.push_back({t.x[i] + a * (t.x[i + 1] - t.x[i]), t.y[i] + a * (t.y[i + 1] - t.y[i]), 2, 2});
      }
    }
  }
  for (std::size_t i = 0; i < t.x.size(); ++i) {
    if (!mark[i]) continue;
    const std::int64_t epoch = i < t.epochs.size() ? t.epochs[i] : std::int64_t(i);
    const double half_w = 0.5 * f.char_px * double(std::to_string(epoch).size()) + 4;
    k.push_back({t.x[i] + 9 / sx, t.y[i] + 11 / sy, half_w, 8});
  }
  return k;
}


// The colour bar's (and a 3D figure's z axis') tick format when gnuplot's default of 6 digits
// would print two adjacent levels alike (levels 2e-7 apart near 1 read 1.000001 twice beside
// contour labels 1.0000008 and 1.0000012): as many digits as the contour labels. Nothing
// otherwise, and nothing on a log scale (its tics are set one by one).
std::string tick_format_cmd(const std::vector<double>& lv, bool log, bool z) {
  const int digits = level_digits(lv, log);
  if (log || digits <= 6) return "";
  const std::string f = "\"%." + std::to_string(digits) + "g\"";
  return "set format cb " + f + "\n" + (z ? "set format z " + f + "\n" : "");
}

// The contour maps' inline labels as `set label` commands: placed by place_contour_labels on
// the lines of the drawn (sub-)grid, boxed on white, off `keep_clear`.
std::string contour_label_cmds(const SurfaceView& s, const std::vector<double>& v,
                               const std::vector<std::size_t>& xs, const std::vector<std::size_t>& ys,
                               const std::vector<double>& lv, const PlotOptions& o,
                               std::array<double, 4> range,
                               const std::vector<KeepClear>& keep_clear) {
  std::vector<double> gx, gy, gz;
  for (auto i : xs) gx.push_back(s.x[i]);
  for (auto j : ys) gy.push_back(s.y[j]);
  for (auto j : ys)
    for (auto i : xs) gz.push_back(v[j * s.nx() + i]);
  std::vector<std::string> texts;
  const int digits = level_digits(lv, o.log);
  for (double t : lv) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.*g", digits, t);
    texts.emplace_back(buf);
  }
  const LabelFrame frame = label_frame(o, range);
  std::ostringstream os;
  os << "# inline contour labels, boxed on white: placed by losscape on lines long enough to carry\n"
     << "# one, where they are fairly straight, apart from each other (delete to draw none)\n"
     << "set style textbox opaque margins 0.5,0.5 noborder\n";
  int tag = 100;  // (label tags of their own: a restyled script's labels 1.. stay its own)
  for (const auto& l : place_contour_labels(gx, gy, gz, lv, texts, frame, keep_clear))
    os << "set label " << tag++ << " " << gp_str(texts[l.level]) << " at " << num(l.x) << ","
       << num(l.y) << "," << num(lv[l.level]) << " center front boxed font \",8\"\n";
  return os.str();
}

// The gnuplot command for equal axis scales (a comment when they are free): `set view equal xy`
// for splot (before `set view map`, which it would otherwise undo), `set size ratio -1` for plot.
std::string aspect_cmd(const PlotOptions& o, std::array<double, 4> range, bool splot) {
  if (!equal_scale(o, range))
    return o.aspect == "free" ? "# (axis scales free: --aspect free)\n"
                              : "# (axis scales free: one range is over " + short_num(kMaxEqualAspect) +
                                    " times the other; --aspect equal draws them equal)\n";
  return "# a unit of alpha as long as one of beta (--aspect free fills the plot area)\n" +
         std::string(splot ? "set view equal xy\n" : "set size ratio -1\n");
}

Figure figure_2d(const Context& c, const std::string& q, Kind kind) {
  const SurfaceView& s = *c.s;
  const PlotOptions& o = *c.o;
  std::vector<double> v = quantity_values(s, q);
  std::size_t done = computed_count(s, q);
  // The heatmap draws one pixel per node, so it shows partial surfaces as they are.
  const SubGrid sub = figure_grid(s, q, v, kind, done == s.size(), o);
  const std::size_t stride = sub.stride;
  const auto &xs = sub.xs, &ys = sub.ys;
  Levels l = levels_for(q, o);
  auto lv = level_values(l, o.log);
  std::string note;
  if (kind == Kind::heat && (!evenly_spaced(s.x) || !evenly_spaced(s.y)))
    note = "the grid is not evenly spaced, and a heatmap draws every point as a cell of the same "
           "size: cells sit away from their coordinates (the contour maps place them right)";
  if (kind != Kind::heat && kind != Kind::surface3d) {
    // A map with no contour level inside the data's range is blank; say why.
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (double z : v)
      if (std::isfinite(z)) lo = std::min(lo, z), hi = std::max(hi, z);
    // (a level at the smallest value alone draws nothing, nor does any level of a constant
    // surface: the contour lines pass between values below and at or above a level)
    bool any = std::any_of(lv.begin(), lv.end(), [&](double t) { return t > lo && t <= hi; });
    if (lo == hi) {
      note = label_of(q) + " is " + short_num(lo) + " at every point, so its contour maps are empty";
    } else if (lo < hi && !any) {
      const std::string where = hi < lv.front()  ? "below the contour levels "
                                : lo > lv.back() ? "above the contour levels "
                                                 : "between contour levels ";
      const auto [lo_text, hi_text] = distinct_nums(lo, hi);
      note = label_of(q) + " lies in [" + lo_text + ", " + hi_text + "], " + where +
             (o.log ? "(log-spaced) " : "") + short_num(l.vmin) + ":" + short_num(l.vlevel) +
             ":" + short_num(l.vmax) + ", so its contour maps are empty: choose --vmin/--vlevel/--vmax";
    }
  }

  std::string suffix = kind == Kind::contour     ? "2dcontour"
                       : kind == Kind::contourf  ? "2dcontourf"
                       : kind == Kind::heat      ? "2dheat"
                       : kind == Kind::surface3d ? "3dsurface"
                                                 : "2dcontour_proj";
  std::string name = c.stem + "_" + q + "_" + suffix + (o.log ? "_log" : "");
  Figure fig = make_figure(c, name);
  if (!note.empty()) fig.notes.push_back(note);
  if (const std::string bad = non_finite_note(s, {q}, "holes in the map"); !bad.empty())
    fig.notes.push_back(bad);
  if (thinned(sub))
    fig.notes.push_back("the " + std::to_string(s.nx()) + "x" + std::to_string(s.ny()) +
                        " grid is finer than the pictures: maps and 3D surfaces are drawn on "
                        "about one grid line per pixel (each .dat says which; --full-resolution "
                        "draws every line; the heatmaps and losscape export have every point)");

  std::ostringstream data;
  data << "# " << label_of(q) << " of " << comment_safe(s.path) << "\n# columns: alpha beta " << q
       << "; one block per beta, NaN = not computed or computed as NaN";
  if (thinned(sub))
    data << "; " << lines_phrase(sub.step_x, sub.step_y, "alpha", "beta")
         << " (and the last), the grid being finer than the picture"
         << (stride > 1 ? " and in progress" : "") << " (losscape plot --full-resolution: all)";
  else if (stride > 1)
    data << "; every " << ordinal(stride) << " grid line (surface in progress)";
  data << "\n";
  grid_block(data, s, v, xs, ys);
  // (the checkpoints whose epoch is printed: in the data, and kept clear of contour labels)
  const std::vector<bool> mark =
      kind == Kind::trajectory ? epoch_label_marks(s, *c.traj) : std::vector<bool>{};
  if (kind == Kind::trajectory) {
    const ProjectedPath& t = *c.traj;
    const std::size_t n = t.x.size();
    data << "\n# index 1: trajectory: x y " << (t.epochs.empty() || t.indexed ? "checkpoint (its index: the projection records no epochs)" : "epoch")
         << " labelled (1 = print the label)\n";
    for (std::size_t k = 0; k < n; ++k) {
      std::int64_t epoch = k < t.epochs.size() ? t.epochs[k] : std::int64_t(k);
      data << num(t.x[k]) << ' ' << num(t.y[k]) << ' ' << epoch << ' ' << (mark[k] ? 1 : 0) << '\n';
    }
  }
  write_file(fig.data(), data.str());

  std::ostringstream gp;
  script_preamble(gp, c, name, label_of(q), "alpha beta " + q);
  gp << "vmin = " << num(l.vmin) << "; vlevel = " << num(l.vlevel) << "; vmax = " << num(l.vmax)
     << "\n\n";
  std::string title = title_for(c, label_of(q), done, sub.step_x, sub.step_y);
  gp << "set title " << gp_str(title) << " noenhanced\n"
     << "set xlabel " << gp_str(c.xlabel) << " noenhanced\n"
     << "set ylabel " << gp_str(c.ylabel) << " noenhanced\n"
     << "set cblabel " << gp_str(label_of(q)) << " noenhanced\n"
     << tick_format_cmd(lv, o.log, kind == Kind::surface3d)
     << "unset key\n";
  double x0 = std::min(s.x.front(), s.x.back()), x1 = std::max(s.x.front(), s.x.back());
  double y0 = std::min(s.y.front(), s.y.back()), y1 = std::max(s.y.front(), s.y.back());
  if (kind == Kind::trajectory) {
    // The whole path, even where it leaves the grid, with a margin of 4 % of the range on a side
    // the path widens (a point on the frame, its label outside).
    auto widen = [](double& lo, double& hi, const std::vector<double>& path) {
      const double lo0 = lo, hi0 = hi;
      for (double t : path) lo = std::min(lo, t), hi = std::max(hi, t);
      const double pad = 0.04 * (hi - lo);
      if (lo < lo0) lo -= pad;
      if (hi > hi0) hi += pad;
    };
    const double area = (x1 - x0) * (y1 - y0);
    widen(x0, x1, c.traj->x);
    widen(y0, y1, c.traj->y);
    // (a path far outside the grid: the surface a small patch of a mostly empty map, said)
    if (area < 0.5 * (x1 - x0) * (y1 - y0)) {
      char share[16];
      std::snprintf(share, sizeof share, "%.0f", 100 * area / ((x1 - x0) * (y1 - y0)));
      fig.notes.push_back(
          "the trajectory reaches far beyond the surface's grid: the map is widened to α in [" + short_num(x0) +
          ", " + short_num(x1) + "], β in [" + short_num(y0) + ", " + short_num(y1) + "] to show it, " +
          share + " % of it the surface; sweep a grid that covers the path (losscape project --grid N prints one)");
    }
  }
  std::string plot;
  if (kind == Kind::contour || kind == Kind::trajectory) {
    gp << "set xrange " << range_of(x0, x1) << "\nset yrange " << range_of(y0, y1) << "\n"
       << aspect_cmd(o, {x0, x1, y0, y1}, true) << "set view map\n"
       << map_title_room(title, y0, y1) << "set contour base\n"
       << levels_cmd(lv)
       << "set cbrange [vmin:vmax]\n"
       << (o.log ? "set logscale cb\n" + log_tics_cmd("cb", lv.front(), lv.back()) : "")
       << contour_label_cmds(s, v, xs, ys, lv, o, {x0, x1, y0, y1},
                             kind == Kind::trajectory ? path_keep_clear(*c.traj, mark, o, {x0, x1, y0, y1})
                                                      : std::vector<KeepClear>{});
    plot = "splot datafile index 0 using 1:2:3 with lines lw 1.5 lc palette nosurface";
    if (kind == Kind::trajectory)
      plot +=
          ", \\\n"
          "      datafile index 1 using 1:2:(0) with linespoints lw 1.5 pt 7 ps 0.6 * scale "
          "lc rgb \"#d62728\" nocontours, \\\n"
          "      datafile index 1 using 1:2:(0):(column(4) > 0 ? sprintf(\"%d\", column(3)) : "
          "\"\") with labels offset char 1.2,0.8 font \",8\" tc rgb \"#d62728\" nocontours";
  } else if (kind == Kind::contourf) {
    // Filled contours: pm3d with a palette of exactly one colour per band between levels.
    // pm3d colours each sub-cell by the mean of its corners: the band edges follow the levels
    // to within a sub-cell, so sub-cells of about 4 pixels (the plot is about 3/4 of the
    // figure), at most 2^18 in all (k = 1 beyond: the grid is then finer than that anyway).
    const double cx = double(xs.size() - 1), cy = double(ys.size() - 1);
    int kx = int(std::clamp(std::ceil(0.75 * o.width / cx / 4), 1.0, 256.0));
    int ky = int(std::clamp(std::ceil(0.75 * o.height / cy / 4), 1.0, 256.0));
    while (double(kx) * ky * cx * cy > 262144.0 && (kx > 1 || ky > 1))
      kx = std::max(1, kx * 3 / 4), ky = std::max(1, ky * 3 / 4);
    gp << "set xrange " << range_of(x0, x1) << "\nset yrange " << range_of(y0, y1) << "\n"
       << aspect_cmd(o, {x0, x1, y0, y1}, true) << "set view map\n"
       << map_title_room(title, y0, y1)
       << "# each grid cell is split into kx x ky sub-cells of about 4 pixels, each coloured by\n"
       << "# the mean of its corners, so that the bands follow the contour levels\n"
       << "set pm3d at b interpolate " << kx << "," << ky << "\n"
       << "set cntrlabel onecolor\n"
       << "set contour base\n";
    // Values below the first level are white (a band of their own below vmin on the colour bar,
    // as the reference's contourf leaves them unfilled): in the first band's colour, a basin
    // below vmin read as lying between the first two levels. (Not below --log's own floor for a
    // default vmin of 0, at which lower values are drawn in every map: plotting.md, --log.)
    bool below = false;
    if (!l.log_floor)
      for (std::size_t iy : ys)
        for (std::size_t ix : xs) {
          const double z = v[iy * s.nx() + ix];  // (-inf is drawn as a gap, not below vmin)
          below = below || (std::isfinite(z) && z < lv.front());
        }
    const double low = !below ? lv.front() : o.log ? lv[0] * lv[0] / lv[1] : 2 * lv[0] - lv[1];
    gp << levels_cmd(lv) << band_palette_cmd(lv.size() - 1, below)
       << (below ? "# values below the first level: white (the band below it on the colour bar)\n" : "")
       << "set cbrange [" << num(low) << ":" << num(lv.back()) << "]\n"
       // (tics on every other band edge, from the first level, and on fewer for many bands, about
       // ten in all: 100 labels of a fine --vlevel lay on top of each other; on each edge with one
       // or two bands: a --vlevel beyond vmax - vmin, whose levels are vmin and vmax, had a tic at
       // vmin alone)
       << (o.log             ? "set logscale cb\n" + log_tics_cmd("cb", lv.front(), lv.back())
           : lv.size() <= 3 ? "set cbtics (" + joined(lv) + ")\n"
                            : "set cbtics " + num(lv.front()) + ", vlevel * " +
                                  std::to_string(std::max<std::size_t>(2, (lv.size() - 1 + 9) / 10)) + "\n");
    plot =
        "splot datafile using 1:2:3 with pm3d nocontours, \\\n"
        "      datafile using 1:2:3 with lines lc rgb \"black\" lw 0.5 nosurface";
  } else if (kind == Kind::heat) {
    double dx = s.nx() > 1 ? std::abs(s.x[1] - s.x[0]) / 2 : 0.5;
    double dy = s.ny() > 1 ? std::abs(s.y[1] - s.y[0]) / 2 : 0.5;
    gp << "set xrange " << range_of(x0, x1, dx) << "\nset yrange " << range_of(y0, y1, dy) << "\n"
       << aspect_cmd(o, {x0 - dx, x1 + dx, y0 - dy, y1 + dy}, false) << "set cbrange [vmin:vmax]\n"
       << (o.log ? "set logscale cb\n" + log_tics_cmd("cb", lv.front(), lv.back()) : "") << "set tics out\n";
    plot = "plot datafile using 1:2:3 with image";
  } else {  // 3D
    // The z axis ends at vmax only when the surface reaches it: a surface well below vmax (a
    // PCA plane's 0.6..3.8 under a default vmax of 10) was a flat sheet at the bottom of the box.
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t iy : ys)
      for (std::size_t ix : xs)
        if (std::isfinite(v[iy * s.nx() + ix])) top = std::max(top, v[iy * s.nx() + ix]);
    // (on a log axis a surface all below vmin is drawn at vmin: the box keeps vmin..vmax then)
    const bool reaches = top >= l.vmax || (o.log && top <= l.vmin);
    // (linear: gnuplot extends "*" to the next tic; log: up to the next 1, 2 or 5 of a decade)
    std::string zhi = reaches ? "vmax" : "*";
    double log_hi = l.vmax;
    if (o.log && !reaches) {
      const double d = std::pow(10.0, std::floor(std::log10(top)));  // top's decade: d <= top < 10 d
      double m = 1;
      while (m * d < top) m = m == 1 ? 2 : m == 2 ? 5 : 10;
      log_hi = std::min(m * d, l.vmax);
      zhi = num(log_hi);
    }
    gp << "set xrange " << range_of(x0, x1) << "\nset yrange " << range_of(y0, y1) << "\n"
       << "# values above vmax are drawn at vmax (and below vmin at vmin on a log scale)\n"
       << "zclip(z) = z > vmax ? vmax : " << (o.log ? "(z < vmin ? vmin : z)" : "z") << "\n"
       << "set zrange [" << (o.log ? "vmin" : "*") << ":" << zhi << "]"
       << (reaches ? "" : "  # (the surface stays below vmax)") << "\n"
       << (o.log ? log_tics_cmd("z", l.vmin, log_hi) : "")
       << "# colours as in the maps (vmin..vmax); the z axis shows the surface's own bottom\n"
       << "set cbrange [vmin:vmax]\n"
       << (o.log ? "set logscale z\nset logscale cb\n" + log_tics_cmd("cb", lv.front(), lv.back()) : "")
       << surface_title_room(title)
       << "set xyplane 0\n"
       << "set ticslevel 0\n"
       << "# (alpha's labels lower, beta's lower right: at the corners they ran into the z axis's\n"
       << "# lowest label and into each other, \"0-1\")\n"
       << "set xtics offset 0, -0.7\nset ytics offset 0.8, -0.4\n"
       << "set zlabel " << gp_str(label_of(q)) << " rotate parallel noenhanced\n"
       << "set pm3d depthorder"
       << (xs.size() <= 61 && ys.size() <= 61 ? " border lw 0.2 lc rgb \"#60000000\"" : "") << "\n"
       << "set pm3d lighting primary 0.5 specular 0.2\n"
       << "# (upper right: lower down it covered the last tick labels of the beta axis)\n"
       << "set colorbox vertical user origin 0.865, 0.42 size 0.025, 0.45\n";
    plot = "splot datafile using 1:2:(zclip($3)) with pm3d";
  }
  script_render_loop(gp, plot);
  write_file(fig.script(), gp.str());
  return fig;
}

// Whether the nodes the 3D figure of q draws (all, a coarse sub-grid of a surface in progress, or
// the lines of a grid finer than the picture) hold a finite value: gnuplot refuses to draw a 3D surface without one.
bool has_finite_node(const SurfaceView& s, const std::string& q, const PlotOptions& o) {
  std::vector<double> v = quantity_values(s, q);
  const SubGrid sub = figure_grid(s, q, v, Kind::surface3d, computed_count(s, q) == s.size(), o);
  for (std::size_t iy : sub.ys)
    for (std::size_t ix : sub.xs)
      if (std::isfinite(v[iy * s.nx() + ix])) return true;
  return false;
}

// ---- 1D figures ----

// The lower end of a logarithmic loss axis up to loss_max: below the smallest positive value
// drawn (rows of the data), or loss_max / 1000 when there is none yet. An explicit range, since
// gnuplot refuses to autoscale an axis without a single point in range ("all points y value
// undefined"), and a sweep just begun, or losses all above --loss-max, must still plot.
double log_floor_1d(const std::vector<std::vector<double>>& columns,
                    const std::vector<std::size_t>& rows, double loss_max) {
  double lo = loss_max;
  for (const auto& v : columns)
    for (std::size_t i : rows)
      if (std::isfinite(v[i]) && v[i] > 0) lo = std::min(lo, v[i]);
  return lo < loss_max ? lo / 1.25 : loss_max / 1000;
}

// A 1D figure's y axis: only the loss is drawn on a log axis with --log (the reference's
// semilogy); accuracy and error stay linear, 0..100 %.
std::string y_range_1d(const std::string& q, const PlotOptions& o, const std::vector<double>& v,
                       const std::vector<std::size_t>& rows) {
  if (is_loss(q))
    return "[" + (o.log ? num(log_floor_1d({v}, rows, o.loss_max)) : std::string("0")) + ":" +
           num(o.loss_max) + "]";
  if (is_acc(q) || is_error(q)) return "[0:100]";
  for (std::size_t i : rows)
    if (std::isfinite(v[i])) return "[0:*]";
  return "[0:1]";  // nothing to draw yet: gnuplot cannot autoscale an empty axis
}

// Rows of the 1D data: every point, or the drawn sub-grid of a surface in progress.
std::vector<std::size_t> rows_1d(const SurfaceView& s, const std::string& q, bool complete,
                                 std::size_t& stride) {
  SubGrid sub = drawing_grid(s, q, complete);
  stride = sub.stride;
  return sub.xs;
}

Figure figure_1d_loss_acc(const Context& c) {
  const SurfaceView& s = *c.s;
  const PlotOptions& o = *c.o;
  std::vector<std::string> cols;
  for (auto q : {"train_loss", "train_acc", "test_loss", "test_acc"})
    if (has_quantity(s, q)) cols.push_back(q);
  std::string main_q = cols.front();
  std::size_t done = computed_count(s, main_q), stride = 1;
  auto rows = rows_1d(s, main_q, done == s.size(), stride);
  std::string name = c.stem + "_1d_loss_acc" + (o.log ? "_log" : "");
  Figure fig = make_figure(c, name);
  if (const std::string bad = non_finite_note(s, cols, "gaps in the curves"); !bad.empty())
    fig.notes.push_back(bad);

  std::vector<std::vector<double>> vals, loss_columns;
  for (auto& q : cols) vals.push_back(quantity_values(s, q));
  for (std::size_t k = 0; k < cols.size(); ++k)
    if (is_loss(cols[k])) loss_columns.push_back(vals[k]);
  if (o.log)
    if (const std::string low = log_nonpositive_note(cols, vals, rows); !low.empty()) fig.notes.push_back(low);
  if (const std::string high = above_loss_max_note(cols, vals, rows, o.loss_max); !high.empty())
    fig.notes.push_back(high);
  std::ostringstream data;
  std::string colnames = line_column(c);
  for (auto& q : cols) colnames += " " + q;
  data << "# loss and accuracy of " << comment_safe(s.path) << "\n# columns: " << colnames
       << "; NaN = not computed or computed as NaN\n";
  for (std::size_t i : rows) {
    data << num(s.x[i]);
    for (auto& v : vals) data << ' ' << value_num(v[i]);
    data << '\n';
  }
  write_file(fig.data(), data.str());

  std::ostringstream gp;
  script_preamble(gp, c, name, "loss and accuracy", colnames);
  gp << "loss_max = " << num(o.loss_max) << "\n\n"
     << "set title " << gp_str(title_for(c, "loss and accuracy", done, stride)) << " noenhanced\n"
     << "set xlabel " << gp_str(c.xlabel) << " noenhanced\n"
     << "set xrange " << range_of(s.x.front(), s.x.back()) << "\n"
     << "set ylabel \"loss\" tc rgb \"blue\"\n"
     << "set ytics nomirror tc rgb \"blue\"\n"
     << "set yrange [" << (o.log ? num(log_floor_1d(loss_columns, rows, o.loss_max)) : "0")
     << ":loss_max]\n"
     << (o.log ? "set logscale y\n" + log_tics_cmd("y", log_floor_1d(loss_columns, rows, o.loss_max), o.loss_max) : "")
     << "set y2label \"accuracy (%)\" tc rgb \"red\"\n"
     << "set y2tics tc rgb \"red\"\n"
     << "set y2range [0:100]\n"
     << "set key below horizontal\n"
     << kGridLines;
  std::string plot = "plot ";
  for (std::size_t k = 0; k < cols.size(); ++k) {
    const std::string& q = cols[k];
    bool loss = is_loss(q);
    bool test = q.rfind("test", 0) == 0;
    if (k) plot += ", \\\n     ";
    plot += "datafile using 1:" + std::to_string(k + 2) + (loss ? " axes x1y1" : " axes x1y2") +
            " with lines lw 2 lc rgb \"" + (loss ? "blue" : "red") + "\" dt " + (test ? "2" : "1") +
            " title " + gp_str(label_of(q));
  }
  script_render_loop(gp, plot);
  write_file(fig.script(), gp.str());
  return fig;
}

Figure figure_1d(const Context& c, const std::string& q) {
  const SurfaceView& s = *c.s;
  const PlotOptions& o = *c.o;
  auto v = quantity_values(s, q);
  std::size_t done = computed_count(s, q), stride = 1;
  auto rows = rows_1d(s, q, done == s.size(), stride);
  std::string name = c.stem + "_1d_" + q + (o.log ? "_log" : "");
  Figure fig = make_figure(c, name);
  if (const std::string bad = non_finite_note(s, {q}, "gaps in the curves"); !bad.empty())
    fig.notes.push_back(bad);
  if (o.log)
    if (const std::string low = log_nonpositive_note({q}, {v}, rows); !low.empty()) fig.notes.push_back(low);
  if (const std::string high = above_loss_max_note({q}, {v}, rows, o.loss_max); !high.empty())
    fig.notes.push_back(high);
  std::ostringstream data;
  data << "# " << label_of(q) << " of " << comment_safe(s.path) << "\n# columns: " << line_column(c) << " " << q
       << "; NaN = not computed or computed as NaN\n";
  for (std::size_t i : rows) data << num(s.x[i]) << ' ' << value_num(v[i]) << '\n';
  write_file(fig.data(), data.str());

  std::ostringstream gp;
  script_preamble(gp, c, name, label_of(q), "alpha " + q);
  gp << "set title " << gp_str(title_for(c, label_of(q), done, stride)) << " noenhanced\n"
     << "set xlabel " << gp_str(c.xlabel) << " noenhanced\n"
     << "set ylabel " << gp_str(label_of(q)) << " noenhanced\n"
     << "set xrange " << range_of(s.x.front(), s.x.back()) << "\n"
     << "set yrange " << y_range_1d(q, o, v, rows) << "\n"
     << (o.log && is_loss(q) ? "set logscale y\n" + log_tics_cmd("y", log_floor_1d({v}, rows, o.loss_max), o.loss_max) : "")
     << kGridLines
     << "unset key\n";
  script_render_loop(gp, "plot datafile using 1:2 with lines lw 2 lc rgb \"blue\"");
  write_file(fig.script(), gp.str());
  return fig;
}

std::string pc_label(int k, double ratio) {
  char b[64];
  std::snprintf(b, sizeof b, "%s PC: %.2f %%", k == 0 ? "1st" : "2nd", ratio * 100);
  return b;
}

// The training loss (and error, in 1D); the test split's for a surface of the test split alone.
// A 2D grid of one point on an axis (--y 0:0:1): a line, drawn as 1D figures.
bool is_line(const SurfaceView& s) { return s.two_d() && s.size() > 1 && (s.nx() == 1 || s.ny() == 1); }

std::vector<std::string> default_what(const SurfaceView& s) {
  // (a file of Hessian maps alone, as the reference's plot_hessian_eigen writes: its ratio)
  if (!has_quantity(s, "train_loss") && !has_quantity(s, "test_loss") &&
      has_quantity(s, "eig-ratio"))
    return {"eig-ratio"};
  const std::string split = default_split(s);
  std::vector<std::string> w;
  for (const std::string& q : {split + "_loss", split + "_err"})  // (a file of the loss alone: the loss)
    if (has_quantity(s, q) && (is_loss(q) || !s.two_d() || is_line(s))) w.push_back(q);
  if (w.empty()) w.push_back(split + "_loss");  // (refused, naming what the file holds)
  if (has_quantity(s, "eig-ratio")) w.push_back("eig-ratio");
  return w;
}

// An absolute path (gnuplot is started in the figure's folder, where a relative one would not
// resolve), or "".
std::string find_program(const std::string& prog) {
  auto runnable = [](const std::string& p) {  // (a folder is "executable" too)
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
  };
  if (prog.find('/') != std::string::npos) return runnable(prog) ? fs::absolute(prog).string() : "";
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string d; std::getline(dirs, d, ':');) {
    std::string p = (d.empty() ? "." : d) + "/" + prog;
    if (runnable(p)) return fs::absolute(p).string();
  }
  return "";
}

std::string gnuplot_name(const PlotOptions& o) {
  if (!o.gnuplot.empty()) return o.gnuplot;
  const char* env = std::getenv("LOSSCAPE_GNUPLOT");
  return env && *env ? env : "gnuplot";
}

}  // namespace

// ---- public API ----

namespace {
// x_target/y_target of `s`: the sweep's "dir" settings when it made its directions, else those
// the direction file records (read only if it is a losscape direction file at hand, beside the
// surface or from the working folder; a title's detail is never an error).
void read_targets(SurfaceView& s, const nlohmann::json& cfg) {
  auto take = [&s](const nlohmann::json& dir) {
    auto target = [&dir](const char* axis) {
      return dir.is_object() && dir.contains(axis) && dir[axis].is_object() && dir[axis].contains("target") &&
                     dir[axis]["target"].is_string()
                 ? dir[axis]["target"].get<std::string>()
                 : std::string();
    };
    s.x_target = target("x");
    if (s.two_d()) s.y_target = target("y");
  };
  if (cfg.is_object() && cfg.contains("dir")) return take(cfg["dir"]);
  if (s.dir_file.empty()) return;
  for (const fs::path& p : {fs::path(s.dir_file), fs::path(s.path).parent_path() / fs::path(s.dir_file).filename()}) {
    try {
      std::error_code ec;
      if (!fs::is_regular_file(p, ec) || !h5::is_hdf5(p.string())) continue;
      const h5::File d(p.string(), h5::File::Mode::read);
      if (!d.has_attr("settings")) continue;
      return take(nlohmann::json::parse(d.attr_string("settings"), nullptr, false));
    } catch (const std::exception&) {
    }
  }
}
// An input that must be an HDF5 file: one missing ("`missing`: no such file"), a FIFO or folder,
// a file that cannot be read or in a folder that cannot be searched (permissions: it was called
// "not an HDF5 file", or a raw "filesystem error") and one of another kind are each named.
void check_hdf5_input(const std::string& path, const std::string& missing, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec) && !ec) throw InputError(missing + ": no such file");
  if (ec) {
    const std::string why = read_problem(path, "file");
    throw InputError(path + ": " + (why.empty() ? "cannot be looked at (" + ec.message() + ")" : why));
  }
  check_not_special(path, what);
  if (const std::string why = read_problem(path, "file"); !why.empty())
    throw InputError(path + ": " + why);
  if (!h5::is_hdf5(path)) throw FormatError(path + " is not an HDF5 file");
}
}  // namespace

SurfaceView read_surface_view(const std::string& path, bool values) {
  check_hdf5_input(path, "cannot open " + path, "a surface file");
  SurfaceView s;
  s.path = path;
  h5::File f(path, h5::File::Mode::read);
  // (a format attribute that is no string is named by attr_string: a file whose format could
  // not be read was drawn as one of the reference's, unchecked)
  const std::string format = f.has_attr("format") ? f.attr_string("format") : "";
  if (!format.empty() && format != "losscape-surface")
    throw FormatError(path + " is a " + format + " file, not a surface file");
  // losscape's own: its version, and its layout as for a resume (the reference's has neither;
  // one without an identity, which every surface losscape writes has, is read as the
  // reference's: its datasets' shapes checked below)
  if (!format.empty()) SurfaceFile::check_version(f, path);
  if (!format.empty() && f.has_attr("identity"))
    SurfaceFile::check_layout(f, SurfaceFile::read_identity(f, path), path);
  if (!f.exists("xcoordinates"))
    throw FormatError(path + " has no xcoordinates: not a surface file");
  for (const char* name : {"xcoordinates", "ycoordinates"})  // (a (2, 2) array read as 4 values)
    if (f.exists(name) && f.dataset(name).dims().size() != 1)
      throw FormatError(path + ": " + name + " has shape " + dims_str(f.dataset(name).dims()) +
                        "; coordinates are one-dimensional");
  s.x = f.dataset("xcoordinates").read_doubles();
  if (f.exists("ycoordinates")) s.y = f.dataset("ycoordinates").read_doubles();
  if (s.x.empty() || (f.exists("ycoordinates") && s.y.empty()))
    throw FormatError(path + ": empty coordinate arrays");
  // (losscape's own are checked by check_layout; the reference's are whatever wrote them)
  for (const auto& [c, name] : {std::pair{&s.x, "xcoordinates"}, {&s.y, "ycoordinates"}}) {
    for (std::size_t i = 0; i < c->size(); ++i)
      if (!std::isfinite((*c)[i]))
        throw FormatError(path + ": " + name + "[" + std::to_string(i) + "] is " +
                          short_num((*c)[i]) + ": coordinates must be finite");
    const double dir = c->size() > 1 ? (*c)[1] - (*c)[0] : 1;
    for (std::size_t i = 1; i < c->size(); ++i)
      if (!((*c)[i] - (*c)[i - 1] > 0 && dir > 0) && !((*c)[i] - (*c)[i - 1] < 0 && dir < 0))
        throw FormatError(path + ": " + name + " [" + std::to_string(i - 1) + "] and [" +
                          std::to_string(i) + "] are " + short_num((*c)[i - 1]) + ", " +
                          short_num((*c)[i]) + ": coordinates must increase or decrease strictly");
  }
  std::vector<hsize_t> shape =
      s.two_d() ? std::vector<hsize_t>{s.ny(), s.nx()} : std::vector<hsize_t>{s.nx()};
  // The reference declares a 2D value array (nx, ny) but fills it through its meshgrid's ravel,
  // in [y][x] order: on a grid that is not square its numbers lie as losscape's, under the
  // transposed shape (a file of the reference's, one without a format attribute, only).
  const std::vector<hsize_t> reference_shape =
      format.empty() && s.two_d() ? std::vector<hsize_t>{s.nx(), s.ny()} : shape;
  auto check_shape = [&](const h5::Dataset& d, const std::string& name) {
    if (d.dims() != shape && d.dims() != reference_shape)
      throw FormatError(path + ": " + name + " has shape " + dims_str(d.dims()) +
                        ", the grid needs " + dims_str(shape) + (s.two_d() ? " ([y][x])" : ""));
  };
  for (auto& name : kStored) {
    if (!values || !f.exists(name)) continue;
    auto d = f.dataset(name);
    check_shape(d, name);
    s.data[name] = d.read_doubles();
  }
  if (values && f.exists("done")) {
    auto d = f.dataset("done");
    check_shape(d, "done");
    s.done = read_u8(d);
  }
  s.arch = try_attr_string(f, "arch");
  s.dataset = try_attr_string(f, "dataset");
  std::string cfg = try_attr_string(f, "config");
  if (!cfg.empty()) {
    auto j = nlohmann::json::parse(cfg, nullptr, false);
    if (j.is_object()) {
      auto str = [&](const char* k) {
        return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
      };
      s.model_file = str("model_file");
      if (s.arch.empty()) s.arch = str("arch");
      if (s.dataset.empty()) s.dataset = str("dataset");
      if (j.contains("samples") && j["samples"].is_number_integer())
        s.samples = j["samples"].get<std::int64_t>();
    }
  }
  if (s.model_file.empty()) s.model_file = try_attr_string(f, "model_file");
  const auto id = nlohmann::json::parse(try_attr_string(f, "identity"), nullptr, false);
  if (id.is_object()) {
    if (s.samples == 0 && id.contains("samples") && id["samples"].is_number_integer())
      s.samples = id["samples"].get<std::int64_t>();
    if (id.contains("directions_fingerprint") && id["directions_fingerprint"].is_string())
      s.directions_fingerprint = id["directions_fingerprint"].get<std::string>();
    if (id.contains("model_fingerprint") && id["model_fingerprint"].is_string())
      s.model_fingerprint = id["model_fingerprint"].get<std::string>();
  }
  s.loss = try_attr_string(f, "loss");
  s.dir_file = try_attr_string(f, "dir_file");
  if (s.dir_file.empty() && f.exists("dir_file")) s.dir_file = read_string_dataset(f, "dir_file");
  read_targets(s, nlohmann::json::parse(cfg.empty() ? "null" : cfg, nullptr, false));
  return s;
}

const std::vector<std::string>& plot_quantities() {
  static const std::vector<std::string> q = {"train_loss", "test_loss", "train_acc", "test_acc",
                                             "train_err",  "test_err",  "eig-ratio"};
  return q;
}

bool has_quantity(const SurfaceView& s, const std::string& q) {
  if (q == "eig-ratio") return s.data.count("max_eig") && s.data.count("min_eig");
  return s.data.count(source_of(q)) > 0;
}

std::string default_split(const SurfaceView& s) {
  return has_quantity(s, "train_loss") || !has_quantity(s, "test_loss") ? "train" : "test";
}

const std::vector<double>& reference_pending_marks(const SurfaceView& s, const std::string& name) {
  const auto mx = s.data.find("max_eig");
  const bool eig = name == "min_eig" || name == "max_eig";
  return eig && mx != s.data.end() ? mx->second : s.data.at(name);
}

std::string canonical_quantity(const std::string& q) { return q == "eig_ratio" ? "eig-ratio" : q; }

std::vector<double> quantity_values(const SurfaceView& s, const std::string& q) {
  const auto& all = plot_quantities();
  if (std::find(all.begin(), all.end(), q) == all.end()) {
    std::string list;
    for (auto& a : all) list += (list.empty() ? "" : ", ") + a;
    throw InputError("unknown quantity '" + q + "' (one of " + list + ")");
  }
  if (!has_quantity(s, q)) {
    std::string have;
    for (auto& [k, v] : s.data) have += (have.empty() ? "" : ", ") + k;
    throw InputError(
        s.path + " has no " +
        (q == "eig-ratio" ? std::string("max_eig/min_eig (run losscape sweep --hessian)") : source_of(q)) +
        " (it holds: " + (have.empty() ? "nothing" : have) + ")");
  }
  auto mask = computed_mask(s, q);
  std::vector<double> v(s.size(), kNaN);
  if (q == "eig-ratio") {
    const auto& mx = s.data.at("max_eig");
    const auto& mn = s.data.at("min_eig");
    for (std::size_t i = 0; i < v.size(); ++i)
      if (mask[i]) v[i] = mx[i] != 0 ? std::abs(mn[i] / mx[i]) : kNaN;
    return v;
  }
  const auto& src = s.data.at(source_of(q));
  // Where the split's loss is NaN or infinite the model diverged: its logits hold NaN or inf, and
  // their argmax (the stored accuracy) means nothing, so accuracy and error are NaN there too.
  const std::vector<double>* loss = nullptr;
  if (is_acc(q) || is_error(q)) {
    const auto it = s.data.find(q.substr(0, q.find('_')) + "_loss");
    if (it != s.data.end()) loss = &it->second;
  }
  for (std::size_t i = 0; i < v.size(); ++i)
    if (mask[i] && !(loss && !std::isfinite((*loss)[i]))) v[i] = is_error(q) ? 100 - src[i] : src[i];
  return v;
}

std::size_t computed_count(const SurfaceView& s, const std::string& q) {
  if (!has_quantity(s, q)) return 0;
  auto m = computed_mask(s, q);
  return std::size_t(std::count(m.begin(), m.end(), true));
}

ProjectedPath read_projected_path(const std::string& path) {
  check_hdf5_input(path, "cannot open trajectory " + path, "a projection file");
  Projection p = read_projection(path);
  if (p.x.empty()) throw FormatError(path + ": proj_xcoord and proj_ycoord are empty");
  ProjectedPath t;
  t.x = std::move(p.x);
  t.y = std::move(p.y);
  // (epochs of -1: checkpoints whose names say none, torch.save files not named model_<N>; the
  // labels then count the checkpoints from 0, as for a file without epochs, not "-1" at each)
  const bool known = std::any_of(p.epochs.begin(), p.epochs.end(), [](std::int64_t e) { return e >= 0; });
  if (p.epochs.size() == t.x.size() && known) {
    t.epochs = std::move(p.epochs);
  } else {
    t.epochs.resize(t.x.size());
    std::iota(t.epochs.begin(), t.epochs.end(), std::int64_t(0));
    t.indexed = true;
  }
  // Points that are not finite (the checkpoints of a diverged run project to NaN) are left out,
  // said in a note: gnuplot drew NaN as a gap without a word and failed on an infinity.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < t.x.size(); ++i)
    if (std::isfinite(t.x[i]) && std::isfinite(t.y[i])) {
      t.x[kept] = t.x[i];
      t.y[kept] = t.y[i];
      t.epochs[kept] = t.epochs[i];
      ++kept;
    }
  if (kept < t.x.size()) {
    if (kept == 0) throw FormatError(path + ": none of its " + std::to_string(t.x.size()) + " points is finite");
    std::fprintf(stderr, "losscape: note: %s: %zu of its %zu points are not finite (checkpoints of a diverged run?) "
                         "and are not drawn\n", printable_line(path).c_str(), t.x.size() - kept, t.x.size());
    t.x.resize(kept);
    t.y.resize(kept);
    t.epochs.resize(kept);
  }
  if (p.explained_variance_ratio && p.explained_variance_ratio->size() >= 2)
    t.variance = std::array<double, 2>{(*p.explained_variance_ratio)[0], (*p.explained_variance_ratio)[1]};
  t.dir_file = std::move(p.dir_file);
  t.directions_fingerprint = std::move(p.directions_fingerprint);
  t.model_fingerprint = std::move(p.model_fingerprint);
  if (!p.files.empty()) t.origin = p.files.back();
  t.method = std::move(p.method);
  t.orthonormal = p.orthonormal;
  return t;
}

std::optional<std::array<double, 2>> read_explained_variance(const std::string& direction_file) {
  if (!fs::exists(direction_file))
    throw InputError("cannot open direction file " + direction_file + ": no such file");
  h5::File f(direction_file, h5::File::Mode::read);
  if (!f.exists("explained_variance_ratio_")) return std::nullopt;
  auto v = f.dataset("explained_variance_ratio_").read_doubles();
  if (v.size() < 2) return std::nullopt;
  return std::array<double, 2>{v[0], v[1]};
}

bool equal_scale(const PlotOptions& o, std::array<double, 4> range) {
  const double dx = range[1] - range[0], dy = range[3] - range[2];
  if (!(dx > 0 && dy > 0 && std::isfinite(dx) && std::isfinite(dy))) return false;
  if (o.aspect == "equal") return true;
  if (o.aspect == "free") return false;
  return std::max(dx, dy) <= kMaxEqualAspect * std::min(dx, dy);
}

std::array<int, 2> parse_size(const std::string& s) {
  constexpr long kMin = 16, kMax = 20000;
  // Digits only, each side read whole (sscanf's %d wrapped 4294967396 round to 100)
  const auto x = s.find_first_of("xX");
  auto side = [&](const std::string& t) {
    if (t.empty() || t.size() > 6 || t.find_first_not_of("0123456789") != std::string::npos)
      return -1L;
    return std::stol(t);
  };
  const long w = x == std::string::npos ? -1 : side(s.substr(0, x));
  const long h = x == std::string::npos ? -1 : side(s.substr(x + 1));
  if (w < 0 || h < 0)
    throw InputError("--size: expected WIDTHxHEIGHT in pixels (e.g. 800x600), got '" + s + "'");
  if (w < kMin || h < kMin || w > kMax || h > kMax)
    throw InputError("--size " + s + ": each side must be " + std::to_string(kMin) + " to " +
                     std::to_string(kMax) + " pixels");
  return {int(w), int(h)};
}

// A 2D grid of one point on an axis (is_line) as the 1D surface along the other axis: the same
// values in the same order, the axis it runs along ("β" when α is the fixed one) and the fixed
// coordinate ("β = 0", for the titles).
struct LineView {
  SurfaceView view;
  std::string axis = "α", fixed;
};
LineView line_view(const SurfaceView& s) {
  LineView l;
  l.view = s;
  if (s.nx() == 1) {
    l.view.x = s.y;
    l.axis = "β";
    l.fixed = "α = " + short_num(s.x[0]);
  } else {
    l.fixed = "β = " + short_num(s.y[0]);
  }
  l.view.y.clear();
  return l;
}

// The options every plot checks, with the defaults filled in: the output folder (that of the
// first surface), the quantities (default_what(s), each once).
PlotOptions checked_options(const PlotOptions& opts, const SurfaceView& s) {
  PlotOptions o = opts;
  if (o.out_dir.empty()) {
    o.out_dir = fs::path(s.path).parent_path().string();
    if (o.out_dir.empty()) o.out_dir = ".";
  }
  if (o.formats.empty()) throw InputError("plot: --formats is empty");
  {  // each format once (--formats png,png rendered the picture twice and failed on its rename)
    std::vector<std::string> once;
    for (auto& fmt : o.formats) {
      if (fmt != "png" && fmt != "pdf" && fmt != "svg")
        throw InputError("plot: unknown format '" + fmt + "' (png, pdf or svg)");
      if (std::find(once.begin(), once.end(), fmt) == once.end()) once.push_back(fmt);
    }
    o.formats = once;
  }
  if (o.what.empty()) o.what = default_what(s);
  {  // each quantity once, as plot_quantities spells it (--what train_loss,train_loss drew twice)
    std::vector<std::string> once;
    for (auto& q : o.what)
      if (std::find(once.begin(), once.end(), canonical_quantity(q)) == once.end())
        once.push_back(canonical_quantity(q));
    o.what = once;
  }
  if (!(o.loss_max > 0) || !std::isfinite(o.loss_max))
    throw InputError("plot: --loss-max must be > 0 and finite");
  if (!o.aspect.empty() && o.aspect != "auto" && o.aspect != "equal" && o.aspect != "free")
    throw InputError("plot: --aspect " + o.aspect + ": expected auto, equal or free");
  return o;
}

// Options of 2D figures, refused for a surface drawn as 1D curves (naming the one that applies).
void refuse_2d_options(const PlotOptions& o, const std::string& path) {
  if (o.full_resolution)
    throw InputError("plot: --full-resolution draws every grid line of 2D figures; " + path +
                     " is drawn as 1D curves (every point, always)");
  if (!o.aspect.empty())
    throw InputError("plot: --aspect sets the axis scales of 2D figures; " + path +
                     " is drawn as 1D curves");
  if (o.vmin || o.vlevel || o.vmax)
    throw InputError(std::string("plot: ") + (o.vmin ? "--vmin" : o.vlevel ? "--vlevel" : "--vmax") +
                     " sets the levels and colours of 2D figures; " + path + " is drawn as 1D curves" +
                     " (their loss axis: --loss-max)");
}

// The output folder, made once everything has been checked (a refused plot leaves no folder
// behind). `example` is a figure's name, for the refusal of an image name.
void make_out_dir(const PlotOptions& o, const std::string& example) {
  std::error_code ec;
  // `-o fig.png` (as sweep's -o names its file) would make a folder called fig.png.
  if (const std::string type = image_type_of(o.out_dir); !type.empty() && !fs::is_directory(o.out_dir, ec))
    throw InputError("plot: --out-dir " + o.out_dir + " is the folder for the figures, not an "
                     "image: each figure is named after the surface, the quantity and the kind (" +
                     example + "." + type + "); give a folder (and --formats for the image types)");
  fs::create_directories(o.out_dir, ec);
  if (!fs::is_directory(o.out_dir))
    throw InputError("plot: cannot create output directory " + o.out_dir + " (" +
                     (fs::exists(o.out_dir) ? std::string("a file of that name exists")
                                            : ec ? ec.message() : std::string("unknown reason")) +
                     ")");
}

std::vector<Figure> write_figures(const SurfaceView& s, const PlotOptions& opts) {
  const PlotOptions o = checked_options(opts, s);
  for (auto& q : o.what) quantity_values(s, q);  // unknown, missing: fail before writing
  // A 2D grid of one point on an axis (--y 0:0:1) is a line: drawn as 1D figures along the other
  // axis (`line`, the same values in the same order), the titles naming the fixed coordinate.
  const bool line = is_line(s);
  if (s.two_d() && !line && s.size() < 2)
    throw InputError(s.path + ": its grid has a single point: nothing to draw");
  if (!s.two_d() && s.nx() < 2) throw InputError(s.path + ": a 1D plot needs at least 2 points");
  // Options of the other kind of figure would be ignored: refused, naming the one that applies.
  const bool curves = !s.two_d() || line;
  if (!curves && o.loss_max_given)
    throw InputError("plot: --loss-max sets the loss axis of 1D curves; " + s.path +
                     " is a 2D surface (its levels and colours: --vmin --vlevel --vmax)");
  if (curves) refuse_2d_options(o, s.path);
  for (auto& q : o.what) levels_for(q, o);  // bad levels (after the options 1D curves refuse)
  if (line && !o.trajectory.empty())
    throw InputError("plot: --trajectory needs a 2D surface of 2 points or more per axis; " +
                     s.path + " has one point on " + (s.nx() == 1 ? "α" : "β"));

  Context c;
  c.s = &s;
  c.o = &o;
  c.stem = o.name_given ? o.name : fs::path(s.path).stem().string();
  std::optional<std::array<double, 2>> variance;
  auto refuse_cos_path = [&](bool refuse) {
    if (refuse)
      throw InputError("plot: " + o.trajectory +
                       " holds cos projections onto directions that are not orthonormal, which "
                       "are not the surface's alpha and beta: project again with --method lstsq "
                       "(or auto)");
  };
  if (!o.trajectory.empty()) {
    if (!s.two_d()) throw InputError("plot: --trajectory needs a 2D surface; " + s.path + " is 1D");
    c.traj = read_projected_path(o.trajectory);
    // cos coordinates onto directions that are not orthonormal are not the surface's α and β:
    // the path would be drawn in the wrong place.
    refuse_cos_path(c.traj->method == "cos" && c.traj->orthonormal && !*c.traj->orthonormal);
    variance = c.traj->variance;
  }
  if (!variance && !o.directions.empty()) {
    variance = read_explained_variance(o.directions);
    if (!variance)
      throw InputError(o.directions +
                       " has no explained_variance_ratio_: not a PCA direction file");
  }
  // The surface (or the projection) names its direction file as it was given, usually relative
  // to the folder the naming file was written from, which is not always the one plot runs in: so
  // relative to the naming file's folder first, then as named, then by its name next to the
  // naming file ("" when none is there).
  auto find_named = [](const std::string& named, const std::string& by) -> std::string {
    if (named.empty()) return "";
    const fs::path folder = fs::path(by).parent_path();
    std::vector<fs::path> tries;
    if (fs::path(named).is_relative()) tries.push_back(folder / named);
    tries.push_back(named);
    tries.push_back(folder / fs::path(named).filename());
    std::error_code ec;
    for (const auto& t : tries)
      if (fs::exists(t, ec)) return t.string();
    return "";
  };
  // A projection that does not record whether its directions are orthonormal (written before
  // 2026-12-02, or the reference's: cos) is judged by its direction file, else the surface's.
  if (c.traj && c.traj->method == "cos" && !c.traj->orthonormal)
    for (const auto& d : {find_named(c.traj->dir_file, o.trajectory), find_named(s.dir_file, s.path)}) {
      std::optional<bool> ortho;
      try {
        if (!d.empty() && is_directions_file(d)) ortho = orthonormal_directions(read_directions(d));
      } catch (const Error&) {
      }
      if (ortho) {
        refuse_cos_path(!*ortho);
        break;
      }
    }
  // A path drawn over the surface, or axes named after a PCA file, must be of the plane the
  // surface was computed in: a projection onto other directions lies in another plane.
  std::string traj_unchecked;
  // A direction file's fingerprint, read once per path (the plane, --directions, the
  // trajectory's file and the PCA file are often one file, of a few MB to GB).
  std::map<std::string, std::string> fingerprints;
  auto fingerprint_of = [&](const std::string& d) -> const std::string& {
    auto it = fingerprints.find(d);
    if (it == fingerprints.end())
      it = fingerprints.emplace(d, directions_fingerprint(read_directions(d))).first;
    return it->second;
  };
  // The surface's plane: its record, or (the reference's files record none) its direction file's.
  std::string plane = s.directions_fingerprint;
  if (plane.empty() && (c.traj || !o.directions.empty())) try {
      const std::string d = find_named(s.dir_file, s.path);
      if (!d.empty() && is_directions_file(d)) plane = fingerprint_of(d);
    } catch (const Error&) {
    }
  auto check_plane = [&](const std::string& dir, const std::string& what,
                         const std::string& recorded = "") {
    if (plane.empty()) return false;
    std::string fp = recorded;  // a projection's own record of its plane, else its direction file
    if (fp.empty()) {
      if (dir.empty() || !is_directions_file(dir)) return false;
      fp = fingerprint_of(dir);
    }
    if (fp != plane)
      throw InputError("plot: " + what + (dir.empty() ? std::string("other directions") : dir) +
                       ", not in the plane of " + s.path +
                       " (the directions' fingerprints differ): use the surface's directions");
    return true;
  };
  if (!o.directions.empty()) check_plane(o.directions, "--directions names other directions, ");
  if (c.traj && !check_plane(c.traj->directions_fingerprint.empty()
                                 ? find_named(c.traj->dir_file, o.trajectory)
                                 : c.traj->dir_file,
                             o.trajectory + " was projected onto the directions of ",
                             c.traj->directions_fingerprint))
  {
    auto missing = [](const std::string& named) {
      return named.empty() ? std::string("is not recorded") : named + " is not found";
    };
    traj_unchecked = "not checked that " + basename_of(o.trajectory) + " lies in this plane (" +
                     (plane.empty() ? "the surface records no directions' fingerprint and its "
                                      "direction file " + missing(s.dir_file)
                                    : "its direction file " + missing(c.traj->dir_file)) +
                     ")";
  }
  // ... and measured from the surface's θ*: a projection whose last checkpoint is another model
  // (the run went on after the surface's checkpoint) draws the whole path shifted.
  if (c.traj && !c.traj->model_fingerprint.empty() && !s.model_fingerprint.empty() &&
      c.traj->model_fingerprint != s.model_fingerprint)
    throw InputError("plot: " + o.trajectory + " measures the path from " +
                     (c.traj->origin.empty() ? std::string("another model") : c.traj->origin) +
                     ", not from the θ* of " + s.path +
                     " (the models' fingerprints differ): project the checkpoints up to the surface's model");
  // A PCA direction file tells the variance its axes explain.
  // Only of the surface's plane: a file found by its recorded name may be another PCA's (a
  // run's folder whose pca.h5 was made again), whose shares then named these axes.
  std::string other_plane;
  auto variance_of = [&](const std::string& named, const std::string& by) {
    if (variance) return;
    const std::string d = find_named(named, by);
    try {
      if (d.empty() || !h5::is_hdf5(d)) return;
      if (!plane.empty() && is_directions_file(d) && fingerprint_of(d) != plane) {
        if (other_plane.empty())
          other_plane = "the direction file " + basename_of(by) + " records, " + d +
                        ", holds other directions than the surface's (the fingerprints differ): "
                        "the axes are named α and β, not by its components";
        return;
      }
      variance = read_explained_variance(d);
    } catch (const Error&) {
    }
  };
  variance_of(s.dir_file, s.path);
  if (c.traj) variance_of(c.traj->dir_file, o.trajectory);
  if (variance) {
    c.xlabel = pc_label(0, (*variance)[0]);
    c.ylabel = pc_label(1, (*variance)[1]);
  }
  // (a surface copied without its direction file: PCA axes fell back to α, β in silence)
  std::string dir_missing;
  if (!variance && o.directions.empty() && !s.dir_file.empty() && find_named(s.dir_file, s.path).empty())
    dir_missing = "the direction file " + basename_of(s.path) + " records, " + s.dir_file +
                  ", is not found (as recorded, nor beside it): the axes are named α and β (a PCA "
                  "file's would name its components; --directions FILE gives it)";

  make_out_dir(o, c.stem + "_" + o.what.front() + "_*");
  std::vector<Figure> figs;
  LineView as_line;
  if (line) {
    as_line = line_view(s);
    if (s.nx() == 1) c.xlabel = c.ylabel;
    c.line_axis = as_line.axis;
    c.line_fixed = as_line.fixed;
    c.s = &as_line.view;
  }
  if (!c.s->two_d()) {
    const SurfaceView& s = *c.s;
    if (has_quantity(s, "train_loss") || has_quantity(s, "train_acc") ||
        has_quantity(s, "test_loss") || has_quantity(s, "test_acc"))
      figs.push_back(figure_1d_loss_acc(c));
    for (auto& q : o.what) figs.push_back(figure_1d(c, q));
  } else {
    for (auto& q : o.what) {
      figs.push_back(figure_2d(c, q, Kind::contour));
      if (q != "eig-ratio") figs.push_back(figure_2d(c, q, Kind::contourf));
      figs.push_back(figure_2d(c, q, Kind::heat));
      if (q == "eig-ratio") {
      } else if (has_finite_node(s, q, o)) {
        figs.push_back(figure_2d(c, q, Kind::surface3d));
      } else {  // gnuplot cannot draw a surface without a single point (a sweep just begun)
        figs.back().notes.push_back(label_of(q) + " has no finite value to draw yet: its 3D surface is skipped");
      }
      if (c.traj) {
        figs.push_back(figure_2d(c, q, Kind::trajectory));
        if (!traj_unchecked.empty()) figs.back().notes.push_back(traj_unchecked);
        if (c.traj->epochs.empty() || c.traj->indexed)  // (the reference's projections record none)
          figs.back().notes.push_back("the path's labels count its checkpoints from 0: " + basename_of(o.trajectory) +
                                      " records no epochs");
      }
    }
  }
  for (const std::string* note : {&dir_missing, &other_plane})
    if (!note->empty() && !variance)
      for (auto& f : figs) f.notes.push_back(*note);
  return figs;
}

// ---- several 1D surfaces in one figure ----

// One surface of a comparison, as a 1D curve.
struct Curve {
  SurfaceView view;
  std::string label, axis;  // axis: "α", or "β" for a line along β
  std::string fixed;        // a line's fixed coordinate, " (β = 0.3)", in its default label
};

// A colour per curve (matplotlib's tab10, told apart in print and by most colour-blind readers),
// then the same colours dashed.
const char* const kCurveColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr std::size_t kCurveColourCount = sizeof kCurveColours / sizeof *kCurveColours;

// The points of s whose every quantity of qs is computed.
std::size_t done_count(const SurfaceView& s, const std::vector<std::string>& qs) {
  std::size_t done = s.size();
  for (auto& q : qs) done = std::min(done, computed_count(s, q));
  return done;
}

// The data of a comparison figure: one block per curve (gnuplot's `index k`), the rows of its
// drawn points (a surface in progress: the coarse sub-grid its own figures draw), columns alpha
// and each of qs. Every value written is appended to `drawn` (per quantity), for the axes.
std::string comparison_data(const std::vector<Curve>& cs, const std::vector<std::string>& qs,
                            const std::string& what, std::vector<std::vector<double>>& drawn) {
  std::ostringstream data;
  std::string columns = "alpha";
  for (auto& q : qs) columns += " " + q;
  data << "# " << what << " of " << cs.size() << " surfaces: one block per surface (gnuplot's index k, "
       << "from 0), columns: " << columns << "; NaN = not computed or computed as NaN\n";
  drawn.assign(qs.size(), {});
  for (std::size_t k = 0; k < cs.size(); ++k) {
    const SurfaceView& s = cs[k].view;
    std::vector<std::vector<double>> vals;
    for (auto& q : qs) vals.push_back(quantity_values(s, q));
    std::size_t stride = 1;
    const auto rows = rows_1d(s, qs.front(), computed_count(s, qs.front()) == s.size(), stride);
    const std::size_t done = done_count(s, qs);
    data << (k ? "\n\n" : "") << "# index " << k << ": " << comment_safe(cs[k].label) << " (" << comment_safe(s.path) << ")";
    if (done < s.size())
      data << ", in progress: " << done << " of " << s.size() << " points done"
           << (stride > 1 ? ", every " + ordinal(stride) + " point drawn" : "");
    data << "\n";
    for (std::size_t i : rows) {
      data << num(s.x[i]);
      for (std::size_t j = 0; j < qs.size(); ++j) {
        data << ' ' << value_num(vals[j][i]);
        drawn[j].push_back(vals[j][i]);
      }
      data << '\n';
    }
  }
  return data.str();
}

// The title of a comparison figure: the quantity, the surfaces' common model and data set when
// they share them, the union of their ranges, and which are still being computed.
std::string comparison_title(const std::vector<Curve>& cs, const std::string& what_label,
                             const std::string& xlabel, std::array<double, 2> span,
                             const std::vector<std::string>& qs, const PlotOptions& o) {
  std::string line1 = what_label + " of " + std::to_string(cs.size()) + " surfaces";
  auto shared = [&](auto field) {
    for (auto& c : cs)
      if (field(c.view) != field(cs.front().view)) return std::string();
    return field(cs.front().view);
  };
  const std::string arch = shared([](const SurfaceView& s) { return s.arch; });
  const std::string dataset = shared([](const SurfaceView& s) { return s.dataset; });
  const std::string samples = shared([](const SurfaceView& s) {
    return s.samples > 0 ? std::to_string(s.samples) : std::string();
  });
  if (shared([](const SurfaceView& s) { return s.loss; }) == "mse" && what_label.find("loss") != std::string::npos)
    line1 += " (MSE)";
  if (!arch.empty()) line1 += " · " + arch;
  if (!dataset.empty()) line1 += " · " + dataset;
  if (!dataset.empty() && !samples.empty()) line1 += " (" + samples + " samples)";
  std::string line2 = xlabel + " ∈ [" + short_num(span[0]) + ", " + short_num(span[1]) + "]";
  std::string progress;
  std::size_t running = 0;
  for (auto& c : cs) {
    const std::size_t done = done_count(c.view, qs);
    if (done < c.view.size())
      ++running, progress += (progress.empty() ? "" : ", ") + c.label + ": " + std::to_string(done) +
                             " of " + std::to_string(c.view.size()) + " points";
  }
  // (one line of the title: a long list is counted instead, each surface's state is in the .dat)
  if (running > 0 && progress.size() <= 60) line2 += "\nin progress: " + progress;
  else if (running > 0)
    line2 += "\n" + std::to_string(running) + " of " + std::to_string(cs.size()) +
             " surfaces in progress (each block of the .dat says how far)";
  return wrap_title_line(line1, o) + "\n" + line2;
}

std::vector<Figure> write_comparison(const std::vector<SurfaceView>& surfaces, const PlotOptions& opts) {
  if (surfaces.size() < 2) throw Error("write_comparison: needs two surfaces or more");
  if (!opts.labels.empty() && opts.labels.size() != surfaces.size())
    throw InputError("plot: --labels names " + std::to_string(opts.labels.size()) +
                     (opts.labels.size() == 1 ? " curve" : " curves") + " for " +
                     std::to_string(surfaces.size()) + " surfaces (one per file, separated by "
                     "commas; none may be empty)");
  for (std::size_t k = 0; k < opts.labels.size(); ++k)
    if (opts.labels[k].empty() || std::any_of(opts.labels[k].begin(), opts.labels[k].end(),
                                              [](unsigned char ch) { return ch < 0x20; }))
      throw InputError("plot: --labels: label " + std::to_string(k + 1) + " '" + opts.labels[k] +
                       "' is " + (opts.labels[k].empty() ? "empty" : "not one line of text"));
  {  // (the same file twice would draw one curve twice, under one name)
    std::set<std::string> seen;
    for (auto& s : surfaces) {
      std::error_code ec;
      const auto real = fs::weakly_canonical(s.path, ec);
      if (!seen.insert(ec ? s.path : real.string()).second)
        throw InputError("plot: " + s.path + " is given twice");
    }
  }
  if (!opts.trajectory.empty() || !opts.directions.empty())
    throw InputError(std::string("plot: ") + (opts.trajectory.empty() ? "--directions" : "--trajectory") +
                     " applies to the figures of one 2D surface; several surfaces are drawn "
                     "together as 1D curves");
  std::vector<Curve> cs;
  for (std::size_t k = 0; k < surfaces.size(); ++k) {
    const SurfaceView& s = surfaces[k];
    if (s.size() < 2) throw InputError(s.path + ": its grid has a single point: nothing to draw");
    if (s.two_d() && !is_line(s))
      throw InputError("plot: several surfaces are drawn together as 1D curves; " + s.path +
                       " is a 2D surface (plot it alone)");
    refuse_2d_options(opts, s.path);
    Curve c;
    if (is_line(s)) {
      LineView l = line_view(s);
      c.view = std::move(l.view);
      c.axis = l.axis;
      c.fixed = " (" + l.fixed + ")";
    } else {
      c.view = s;
      c.axis = "α";
    }
    c.label = opts.labels.empty() ? comment_safe(fs::path(s.path).stem().string()) + c.fixed : opts.labels[k];
    cs.push_back(std::move(c));
  }
  if (opts.labels.empty()) {  // (run1/surface.h5 and run2/surface.h5: their paths)
    std::set<std::string> seen;
    bool unique = true;
    for (auto& c : cs) unique = seen.insert(c.label).second && unique;
    if (!unique)
      for (auto& c : cs)
        c.label = comment_safe((fs::path(c.view.path).parent_path() / fs::path(c.view.path).stem()).string()) + c.fixed;
  }
  PlotOptions o = checked_options(opts, cs.front().view);
  auto every_has = [&](const std::string& q) {
    return std::all_of(cs.begin(), cs.end(), [&](const Curve& c) { return has_quantity(c.view, q); });
  };
  if (opts.what.empty()) {  // (the first surface's defaults that every surface has)
    std::vector<std::string> common;
    for (auto& q : o.what)
      if (every_has(q)) common.push_back(q);
    // none (a surface of train and test, then one of test alone): the test split's, if all have it
    if (common.empty() && every_has("test_loss")) common = {"test_loss", "test_err"};
    if (common.empty()) common.push_back(o.what.front());  // (refused below, naming a file without it)
    o.what = common;
  }
  for (auto& q : o.what)
    for (auto& c : cs) quantity_values(c.view, q);  // (unknown or missing: refused before writing)
  std::string xlabel = cs.front().axis;
  for (auto& c : cs)
    if (c.axis != xlabel) xlabel = "α, β";
  make_out_dir(o, o.name + "_1d_" + o.what.front());

  Context ctx;
  ctx.s = &cs.front().view;
  ctx.o = &o;
  double lo = cs.front().view.x.front(), hi = lo;
  for (auto& c : cs)
    for (double x : {c.view.x.front(), c.view.x.back()}) lo = std::min(lo, x), hi = std::max(hi, x);
  auto notes_of = [&](Figure& fig, const std::vector<std::string>& qs, const char* where) {
    for (auto& c : cs) {
      if (const std::string bad = non_finite_note(c.view, qs, where); !bad.empty())
        fig.notes.push_back(c.view.path + ": " + bad);
      std::vector<std::vector<double>> vals;
      for (auto& q : qs) vals.push_back(quantity_values(c.view, q));
      std::vector<std::size_t> rows(c.view.size());
      std::iota(rows.begin(), rows.end(), std::size_t(0));
      if (const std::string high = above_loss_max_note(qs, vals, rows, o.loss_max); !high.empty())
        fig.notes.push_back(c.view.path + ": " + high);
      if (!o.log) continue;
      if (const std::string low = log_nonpositive_note(qs, vals, rows); !low.empty())
        fig.notes.push_back(c.view.path + ": " + low);
    }
  };
  // Losses of two kinds on one axis: drawn (the user asked), but said.
  // (the reference's files record none)
  std::set<std::string> recorded;
  for (auto& c : cs)
    if (!c.view.loss.empty()) recorded.insert(c.view.loss);
  std::string kinds;
  if (recorded.size() > 1)
    for (auto& c : cs)
      if (!c.view.loss.empty()) kinds += (kinds.empty() ? "" : ", ") + c.view.path + " " + c.view.loss;
  const std::string kinds_note = kinds.empty() ? "" : "the surfaces' losses are of different kinds (" + kinds + "): one loss axis holds them all";
  std::string sources = std::to_string(cs.size()) + " surfaces:";
  for (auto& c : cs) sources += " " + c.view.path;
  std::vector<Figure> figs;

  // Every surface's loss and accuracy, as the reference's plot_1d_loss_err_repeat (for directions
  // drawn again and again), but each surface in its colour (the reference draws them all blue and
  // red: two models could not be told apart): the loss thick on the left axis, the accuracy thin
  // on the right, train solid and test dashed; the key names each surface, then the four kinds.
  std::vector<std::string> cols;
  for (auto q : {"train_loss", "train_acc", "test_loss", "test_acc"})
    if (every_has(q)) cols.push_back(q);
  if (!cols.empty()) {
    const std::string name = o.name + "_1d_loss_acc" + (o.log ? "_log" : "");
    Figure fig = make_figure(ctx, name);
    notes_of(fig, cols, "gaps in the curves");
    if (!kinds_note.empty()) fig.notes.push_back(kinds_note);
    if (cs.size() > kCurveColourCount)
      fig.notes.push_back(std::to_string(cs.size()) + " surfaces: in " + name + " the colours of the first " +
                          std::to_string(kCurveColourCount) + " come again (its dash patterns tell train from "
                          "test); the figures of each quantity dash them");
    std::vector<std::vector<double>> drawn;
    write_file(fig.data(), comparison_data(cs, cols, "loss and accuracy", drawn));
    std::vector<std::vector<double>> losses;
    for (std::size_t j = 0; j < cols.size(); ++j)
      if (is_loss(cols[j])) losses.push_back(drawn[j]);
    std::vector<std::size_t> rows(losses.empty() ? 0 : losses.front().size());
    std::iota(rows.begin(), rows.end(), std::size_t(0));
    const double floor = log_floor_1d(losses, rows, o.loss_max);
    std::string columns = "alpha";
    for (auto& q : cols) columns += " " + q;
    std::ostringstream gp;
    script_preamble(gp, ctx, name, "loss and accuracy", columns + ", one block per surface", sources);
    gp << "loss_max = " << num(o.loss_max) << "\n\n"
       << "set title " << gp_str(comparison_title(cs, "loss and accuracy", xlabel, {lo, hi}, cols, o)) << " noenhanced\n"
       << "set xlabel " << gp_str(xlabel) << " noenhanced\n"
       << "set xrange " << range_of(lo, hi) << "\n"
       << "set ylabel \"loss (thick lines)\"\n"
       << "set ytics nomirror\n"
       << "set yrange [" << (o.log ? num(floor) : "0") << ":loss_max]\n"
       << (o.log ? "set logscale y\n" + log_tics_cmd("y", floor, o.loss_max) : "")
       // (surfaces of the loss alone: no accuracy axis)
       << (std::any_of(cols.begin(), cols.end(), [](const std::string& q) { return is_acc(q); })
               ? "set y2label \"accuracy (%) (thin lines)\"\nset y2tics\nset y2range [0:100]\n"
               : "")
       << "set key below horizontal noenhanced\n"
       << kGridLines;
    std::string plot = "plot ";
    for (std::size_t k = 0; k < cs.size(); ++k)
      for (std::size_t j = 0; j < cols.size(); ++j) {
        const bool loss = is_loss(cols[j]), test = cols[j].rfind("test", 0) == 0;
        if (k || j) plot += ", \\\n     ";
        plot += "datafile index " + std::to_string(k) + " using 1:" + std::to_string(j + 2) +
                (loss ? " axes x1y1 with lines lw 2" : " axes x1y2 with lines lw 1") + " lc rgb \"" +
                kCurveColours[k % kCurveColourCount] + "\" dt " + (test ? "2" : "1") + " notitle";
      }
    // (the key's entries: lines of no points, NaN)
    for (std::size_t k = 0; k < cs.size(); ++k)
      plot += std::string(", \\\n     NaN with lines lw 2 lc rgb \"") + kCurveColours[k % kCurveColourCount] +
              "\" title " + gp_str(cs[k].label);
    for (auto& q : cols)
      plot += std::string(", \\\n     NaN with lines lw ") + (is_loss(q) ? "2" : "1") +
              " lc rgb \"#505050\" dt " + (q.rfind("test", 0) == 0 ? "2" : "1") + " title " +
              gp_str(label_of(q));
    script_render_loop(gp, plot);
    write_file(fig.script(), gp.str());
    figs.push_back(std::move(fig));
  }

  // Each quantity: one curve per surface, in a colour of its own, named in the key.
  for (auto& q : o.what) {
    const std::string name = o.name + "_1d_" + q + (o.log ? "_log" : "");
    Figure fig = make_figure(ctx, name);
    notes_of(fig, {q}, "gaps in the curves");
    if (!kinds_note.empty() && is_loss(q)) fig.notes.push_back(kinds_note);
    std::vector<std::vector<double>> drawn;
    write_file(fig.data(), comparison_data(cs, {q}, label_of(q), drawn));
    std::vector<std::size_t> rows(drawn.front().size());
    std::iota(rows.begin(), rows.end(), std::size_t(0));
    std::ostringstream gp;
    script_preamble(gp, ctx, name, label_of(q), "alpha " + q + ", one block per surface", sources);
    gp << "set title " << gp_str(comparison_title(cs, label_of(q), xlabel, {lo, hi}, {q}, o)) << " noenhanced\n"
       << "set xlabel " << gp_str(xlabel) << " noenhanced\n"
       << "set ylabel " << gp_str(label_of(q)) << " noenhanced\n"
       << "set xrange " << range_of(lo, hi) << "\n"
       << "set yrange " << y_range_1d(q, o, drawn.front(), rows) << "\n"
       << (o.log && is_loss(q) ? "set logscale y\n" + log_tics_cmd("y", log_floor_1d(drawn, rows, o.loss_max), o.loss_max) : "")
       << kGridLines
       << "set key below horizontal noenhanced\n";
    std::string plot = "plot ";
    for (std::size_t k = 0; k < cs.size(); ++k) {
      if (k) plot += ", \\\n     ";
      plot += "datafile index " + std::to_string(k) + " using 1:2 with lines lw 2 lc rgb \"" +
              kCurveColours[k % kCurveColourCount] + "\" dt " + std::to_string(k / kCurveColourCount % 5 + 1) +
              " title " + gp_str(cs[k].label);
    }
    script_render_loop(gp, plot);
    write_file(fig.script(), gp.str());
    figs.push_back(std::move(fig));
  }
  return figs;
}

std::string image_type_of(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));  // (x.PNG too)
  return ext == ".png" || ext == ".pdf" || ext == ".svg" ? ext.substr(1) : "";
}

std::string find_gnuplot(const PlotOptions& o) { return find_program(gnuplot_name(o)); }

void render_figure(const Figure& f, const std::string& gnuplot) {
  // gnuplot runs in the figure's directory so the script's relative file names work there, as
  // they will for a user re-rendering it. Its stderr is collected for the error message.
  int pipe_fd[2];
  if (pipe(pipe_fd) != 0) throw Error("plot: pipe failed: " + std::string(std::strerror(errno)));
  // (./: gnuplot runs a file name beginning with '<' as a command)
  std::string script = "./" + f.name + ".gp";
  const std::string part = "part='" + kWriting + "'";
  std::error_code ec;
  for (auto& out : f.outputs) fs::remove(out + kWriting, ec);  // (a killed run's of this pid)
  // Ctrl-C or scancel while gnuplot draws: gnuplot is ended and its temporaries removed (it went
  // on drawing into NAME.png.PID.writing after losscape had gone)
  std::vector<std::string> parts;
  for (auto& out : f.outputs) parts.push_back(out + kWriting);
  h5::RemovedOnSignal removed_on_signal(parts);
  pid_t pid = removed_on_signal.fork_child();
  if (pid < 0) throw Error("plot: fork failed: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    close(pipe_fd[0]);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
    }
    dup2(pipe_fd[1], 2);
    if (chdir(f.dir.c_str()) != 0) _exit(126);
    execl(gnuplot.c_str(), gnuplot.c_str(), "-e", part.c_str(), script.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fd[1]);
  std::string err;
  char buf[4096];
  for (ssize_t n; (n = read(pipe_fd[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    err.append(buf, std::size_t(n));
  }
  close(pipe_fd[0]);
  const int status = removed_on_signal.wait_child(pid);
  auto last_line = [&]() {
    std::string e = err;
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
    auto p = e.find_last_of('\n');
    return p == std::string::npos ? e : e.substr(p + 1);
  };
  auto remove_parts = [&]() {
    for (auto& out : f.outputs) fs::remove(out + kWriting, ec);
  };
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    remove_parts();
    // (a crash or a kill of gnuplot is most often memory: a 1001 x 1001 map's filled contours
    // take ~2 GB in gnuplot, a failed allocation there ends in SIGSEGV)
    const int sig = WIFEXITED(status) ? 0 : WTERMSIG(status);
    std::string why = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                        : "killed by signal " + std::to_string(sig);
    if (sig == SIGSEGV || sig == SIGKILL || sig == SIGABRT || sig == SIGBUS)
      why += "; out of memory? a large grid takes gnuplot gigabytes: fewer --what and --formats at "
             "once, or more memory";
    std::string tail = last_line();
    throw Error("gnuplot failed on " + f.script() + " (" + why + ")" +
                (tail.empty() ? "" : ": " + tail));
  }
  for (auto& out : f.outputs) {
    if (!fs::exists(out + kWriting, ec) || fs::file_size(out + kWriting, ec) == 0) {
      const std::string space = space_note(out);
      remove_parts();
      throw Error("gnuplot ran " + f.script() + " but did not write " + out +
                  (err.empty() ? "" : ": " + last_line()) + space);
    }
    if (!whole_picture(out + kWriting, out)) {
      const std::string space = space_note(out);
      const std::string bytes = std::to_string(fs::file_size(out + kWriting, ec));
      remove_parts();
      throw Error("gnuplot ran " + f.script() + " but wrote " + out + " cut short (" + bytes +
                  " bytes, not a whole picture)" + space);
    }
  }
  for (auto& out : f.outputs) {
    fs::rename(out + kWriting, out, ec);
    if (ec) {
      const std::string why = ec.message();
      remove_parts();
      throw Error("plot: cannot replace " + out + " (" + why + ")");
    }
  }
}

std::vector<Figure> plot_surfaces(const std::vector<std::string>& files, const PlotOptions& o) {
  if (files.empty()) throw InputError("plot: no surface file given");
  if (files.size() == 1 && !o.labels.empty())
    throw InputError("plot: --labels names the curves of several surfaces drawn together; one is given");
  // (a plain name: the figures go to --out-dir; `gnuplot NAME.gp` would run a name beginning
  // with < as a command)
  const bool plain = !o.name.empty() && o.name[0] != '.' && o.name[0] != '-' &&
                     std::all_of(o.name.begin(), o.name.end(), [](unsigned char ch) {
                       return std::isalnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == '+';
                     });
  if (!plain)
    throw InputError("plot: --name '" + o.name + "': expected a plain file name (letters, "
                     "digits, _ - . +, not beginning with . or -; the figures go to --out-dir)");
  std::vector<SurfaceView> ss;
  for (auto& f : files) ss.push_back(read_surface_view(f));
  auto figs = ss.size() == 1 ? write_figures(ss.front(), o) : write_comparison(ss, o);
  std::string gp = find_gnuplot(o);
  if (gp.empty()) {
    std::string dir = figs.empty() ? o.out_dir : figs.front().dir;
    throw InputError("gnuplot not found ('" + gnuplot_name(o) +
                     "'): install it with `apt-get install gnuplot-nox` (Debian package "
                     "gnuplot-nox); the data and scripts are written in " +
                     dir + ", render them there with `gnuplot NAME.gp`");
  }
  // Every figure is tried: one gnuplot failure (often memory, on the largest figure) leaves the
  // others drawn; the error names the failed ones and the drawn count, and an earlier plot's
  // picture left beside a failed figure's new script and data (they no longer match it).
  std::string first;
  std::vector<std::string> also, stale;
  std::vector<Figure> drawn;
  for (auto& f : figs) {
    try {
      render_figure(f, gp);
      drawn.push_back(f);
    } catch (const Error& e) {
      if (first.empty())
        first = e.what();
      else
        also.push_back(f.name + ".gp");
      std::error_code ec;
      for (auto& out : f.outputs)
        if (fs::exists(out, ec)) stale.push_back(fs::path(out).filename().string());
    }
  }
  if (first.empty()) return figs;
  auto list = [](const std::vector<std::string>& v) {
    std::string t;
    for (std::size_t i = 0; i < v.size(); ++i) t += (i ? ", " : "") + v[i];
    return t;
  };
  const std::size_t failed = 1 + also.size();
  std::string msg = first;
  if (!also.empty()) msg += "; also failed: " + list(also);
  if (figs.size() > 1) msg += "; " + std::to_string(figs.size() - failed) + " of " + std::to_string(figs.size()) + " figures drawn";
  if (!stale.empty())
    msg += "; " + list(stale) + (stale.size() == 1 ? " is" : " are") +
           " an earlier plot's, not of the new script and data beside " + (stale.size() == 1 ? "it" : "them");
  throw PlotFailure(msg, std::move(drawn));
}

std::vector<Figure> plot_surface(const std::string& surface_file, const PlotOptions& o) {
  return plot_surfaces({surface_file}, o);
}

}  // namespace losscape
