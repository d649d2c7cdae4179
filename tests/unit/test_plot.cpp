// Tests of plot.hpp: reading surface files (losscape's with a done mask, the reference's with -1
// sentinels), the derived quantities, the data and gnuplot scripts written for every figure, and
// the images gnuplot renders from them (PNG size from the IHDR chunk, PDF and SVG headers).
#include "catch_compat.hpp"
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "losscape/plot.hpp"

namespace fs = std::filesystem;
using namespace losscape;

namespace {

struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& tag) {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("losscape-plot-" + tag + "-" + std::to_string(rd()));
    fs::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string file(const std::string& n) const { return (dir / n).string(); }
  std::string str() const { return dir.string(); }
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Closed forms of the synthetic surface (loss is a tilted bowl, accuracy falls with it).
double loss_at(double a, double b) { return 0.2 + 2 * a * a + 5 * (b - 0.1) * (b - 0.1) + 0.3 * a; }
double acc_at(double a, double b) { return 100 * std::exp(-loss_at(a, b) / 3); }

std::vector<double> linspace_(double a, double b, int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[std::size_t(i)] = n == 1 ? a : a + (b - a) * i / (n - 1);
  return v;
}

struct SurfaceSpec {
  int nx = 9, ny = 7;  // ny = 0: 1D
  double x0 = -1, x1 = 1, y0 = -0.5, y1 = 1;
  bool reference = false;  // no done mask, no attributes: -1 marks unfinished points
  bool test_split = true;
  bool eig = false;
  std::function<bool(int, int)> computed = [](int, int) { return true; };
};

// Write a surface file with losscape::h5 in the layout of the surface contract.
void write_surface(const std::string& path, const SurfaceSpec& sp) {
  h5::File f(path, h5::File::Mode::truncate);
  auto x = linspace_(sp.x0, sp.x1, sp.nx), y = linspace_(sp.y0, sp.y1, sp.ny);
  f.create_dataset("xcoordinates", h5::Type::f64, {hsize_t(sp.nx)}).write(h5::Type::f64, x.data());
  std::vector<hsize_t> shape = {hsize_t(sp.nx)};
  int rows = 1;
  if (sp.ny > 0) {
    f.create_dataset("ycoordinates", h5::Type::f64, {hsize_t(sp.ny)})
        .write(h5::Type::f64, y.data());
    shape = {hsize_t(sp.ny), hsize_t(sp.nx)};
    rows = sp.ny;
  }
  std::size_t n = std::size_t(rows * sp.nx);
  std::vector<double> tl(n), ta(n), vl(n), va(n), mx(n), mn(n);
  std::vector<std::uint8_t> done(n);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < sp.nx; ++j) {
      std::size_t k = std::size_t(i * sp.nx + j);
      double a = x[std::size_t(j)], b = sp.ny > 0 ? y[std::size_t(i)] : 0;
      bool ok = sp.computed(i, j);
      done[k] = ok;
      tl[k] = ok ? loss_at(a, b) : -1;
      ta[k] = ok ? acc_at(a, b) : -1;
      vl[k] = ok ? 1.1 * loss_at(a, b) : -1;
      va[k] = ok ? 0.9 * acc_at(a, b) : -1;
      mx[k] = ok ? 10 + a : -1;
      mn[k] = ok ? -std::abs(a * b) : -1;
    }
  auto put = [&](const char* name, const std::vector<double>& v) {
    f.create_dataset(name, h5::Type::f64, shape).write(h5::Type::f64, v.data());
  };
  put("train_loss", tl);
  put("train_acc", ta);
  if (sp.test_split) {
    put("test_loss", vl);
    put("test_acc", va);
  }
  if (sp.eig) {
    put("max_eig", mx);
    put("min_eig", mn);
  }
  if (!sp.reference) {
    f.create_dataset("done", h5::Type::u8, shape).write(h5::Type::u8, done.data());
    f.set_attr("format", std::string("losscape-surface"));
    f.set_attr("arch", std::string("resnet20_noshort"));
    f.set_attr("dataset", std::string("cifar10"));
    f.set_attr("config", std::string(R"({"model_file": "runs/a/model_300.h5", "samples": 500})"));
    f.set_attr("points_total", std::int64_t(n));
  }
}

struct PngSize {
  bool valid = false;
  std::uint32_t width = 0, height = 0;
};
// PNG signature, then the IHDR chunk (length 13, "IHDR", width and height big-endian).
PngSize png_size(const std::string& path) {
  std::string b = slurp(path);
  PngSize s;
  if (b.size() < 24 || b.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0 || b.compare(12, 4, "IHDR") != 0)
    return s;
  auto be32 = [&](std::size_t o) {
    return std::uint32_t(std::uint8_t(b[o])) << 24 | std::uint32_t(std::uint8_t(b[o + 1])) << 16 |
           std::uint32_t(std::uint8_t(b[o + 2])) << 8 | std::uint32_t(std::uint8_t(b[o + 3]));
  };
  s.valid = true;
  s.width = be32(16);
  s.height = be32(20);
  return s;
}

void check_outputs(const std::vector<Figure>& figs, int w, int h) {
  for (auto& f : figs) {
    INFO(f.name);
    CHECK(fs::is_regular_file(f.script()));
    CHECK(fs::is_regular_file(f.data()));
    for (auto& out : f.outputs) {
      INFO(out);
      REQUIRE(fs::is_regular_file(out));
      std::string ext = fs::path(out).extension().string();
      if (ext == ".png") {
        auto s = png_size(out);
        CHECK(s.valid);
        CHECK(s.width == std::uint32_t(w));
        CHECK(s.height == std::uint32_t(h));
      } else if (ext == ".pdf") {
        CHECK(slurp(out).rfind("%PDF", 0) == 0);
      } else if (ext == ".svg") {
        std::string t = slurp(out);
        CHECK(t.rfind("<?xml", 0) == 0);
        CHECK(t.find("<svg") != std::string::npos);
        CHECK(t.find("</svg>") != std::string::npos);
      }
    }
  }
}

// gnuplot is a dependency of the suite (cmake/debian-packages.txt): the rendering checks fail
// without it rather than pass untested.
void require_gnuplot() {
  INFO("gnuplot is not installed (Debian: gnuplot-nox)");
  REQUIRE(!find_gnuplot(PlotOptions{}).empty());
}

std::vector<std::string> names(const std::vector<Figure>& figs) {
  std::vector<std::string> n;
  for (auto& f : figs) n.push_back(f.name);
  return n;
}

// Numbers of the data lines of a .dat (comments and blank lines skipped), column c.
std::vector<double> column(const std::string& dat, std::size_t c, int block = 0) {
  std::istringstream in(slurp(dat));
  std::vector<double> v;
  int blanks = 0, cur = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) {
      if (++blanks == 2) ++cur;
      continue;
    }
    blanks = 0;
    if (line[0] == '#' || cur != block) continue;
    std::istringstream ls(line);
    std::string tok;
    for (std::size_t k = 0; k <= c; ++k) ls >> tok;
    v.push_back(tok == "NaN" ? std::nan("") : std::stod(tok));
  }
  return v;
}

}  // namespace

TEST_CASE("read_surface_view reads losscape and reference layouts", "[plot]") {
  Scratch d("read");
  SurfaceSpec sp;
  sp.computed = [](int i, int j) { return i < 3 || j == 0; };
  write_surface(d.file("s.h5"), sp);
  auto s = read_surface_view(d.file("s.h5"));
  CHECK(s.two_d());
  CHECK(s.nx() == 9);
  CHECK(s.ny() == 7);
  CHECK(s.arch == "resnet20_noshort");
  CHECK(s.dataset == "cifar10");
  CHECK(s.model_file == "runs/a/model_300.h5");
  CHECK(s.samples == 500);
  REQUIRE(s.done);
  std::size_t expect_done = 3 * 9 + 4;
  CHECK(computed_count(s, "train_loss") == expect_done);

  sp.reference = true;
  write_surface(d.file("r.h5"), sp);
  auto r = read_surface_view(d.file("r.h5"));
  CHECK_FALSE(r.done);
  CHECK(r.arch.empty());
  CHECK(computed_count(r, "train_loss") == expect_done);

  // the value at (x[j], y[i]) is row i, column j
  auto v = quantity_values(r, "train_loss");
  CHECK(v[2 * 9 + 5] == Approx(loss_at(r.x[5], r.y[2])));
  CHECK(std::isnan(v[6 * 9 + 5]));
}

TEST_CASE("the done mask is authoritative, and without it only -1 means not computed", "[plot]") {
  Scratch d("mask");
  {
    h5::File f(d.file("s.h5"), h5::File::Mode::truncate);
    std::vector<double> x = {0, 1, 2};
    f.create_dataset("xcoordinates", h5::Type::f64, {3}).write(h5::Type::f64, x.data());
    std::vector<double> loss = {-1, 5, -0.5};  // a computed -1, an unfinished 5, a negative
    f.create_dataset("train_loss", h5::Type::f64, {3}).write(h5::Type::f64, loss.data());
    std::vector<std::uint8_t> done = {1, 0, 1};
    f.create_dataset("done", h5::Type::u8, {3}).write(h5::Type::u8, done.data());
    h5::File g(d.file("r.h5"), h5::File::Mode::truncate);
    g.create_dataset("xcoordinates", h5::Type::f64, {3}).write(h5::Type::f64, x.data());
    std::vector<double> ref = {0, -1, -0.5};  // reference: -1 unfinished, 0 and -0.5 are values
    g.create_dataset("train_loss", h5::Type::f64, {3}).write(h5::Type::f64, ref.data());
  }
  auto v = quantity_values(read_surface_view(d.file("s.h5")), "train_loss");
  CHECK(v[0] == -1);
  CHECK(std::isnan(v[1]));
  CHECK(v[2] == -0.5);
  auto r = quantity_values(read_surface_view(d.file("r.h5")), "train_loss");
  CHECK(r[0] == 0);
  CHECK(std::isnan(r[1]));
  CHECK(r[2] == -0.5);
}

TEST_CASE("derived quantities: errors and the Hessian eigenvalue ratio", "[plot]") {
  Scratch d("derived");
  SurfaceSpec sp;
  sp.eig = true;
  write_surface(d.file("s.h5"), sp);
  auto s = read_surface_view(d.file("s.h5"));
  auto err = quantity_values(s, "test_err");
  auto ratio = quantity_values(s, "eig-ratio");
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 9; ++j) {
      double a = s.x[std::size_t(j)], b = s.y[std::size_t(i)];
      std::size_t k = std::size_t(i * 9 + j);
      CHECK(err[k] == Approx(100 - 0.9 * acc_at(a, b)));
      CHECK(ratio[k] == Approx(std::abs(a * b) / (10 + a)));
    }
  CHECK_THROWS_AS(quantity_values(s, "val_loss"), InputError);
  sp.eig = false;
  sp.test_split = false;
  write_surface(d.file("t.h5"), sp);
  auto t = read_surface_view(d.file("t.h5"));
  CHECK_FALSE(has_quantity(t, "test_loss"));
  CHECK_THROWS_WITH(quantity_values(t, "test_loss"), catch_compat::Contains("has no test_loss"));
  CHECK_THROWS_WITH(quantity_values(t, "eig-ratio"), catch_compat::Contains("max_eig"));
}

TEST_CASE("parse_size", "[plot]") {
  CHECK(parse_size("800x600") == std::array<int, 2>{800, 600});
  CHECK(parse_size("64X48") == std::array<int, 2>{64, 48});
  CHECK_THROWS_AS(parse_size("800"), InputError);
  CHECK_THROWS_AS(parse_size("800x600x3"), InputError);
  CHECK_THROWS_AS(parse_size("0x600"), InputError);
}

TEST_CASE("2D figures render to PNG of the requested size, PDF and SVG", "[plot][gnuplot]") {
  require_gnuplot();
  Scratch d("2d");
  SurfaceSpec sp;
  sp.nx = 13;  // non-square, asymmetric bounds
  sp.ny = 8;
  sp.x0 = -0.5;
  sp.x1 = 1.5;
  sp.y0 = 0;
  sp.y1 = 0.25;
  sp.eig = true;
  write_surface(d.file("surf.h5"), sp);
  PlotOptions o;
  o.out_dir = d.file("fig");
  o.formats = {"png", "pdf", "svg"};
  o.width = 640;
  o.height = 480;
  o.what = {"train_loss", "test_err", "eig-ratio"};
  auto figs = plot_surface(d.file("surf.h5"), o);
  auto n = names(figs);
  for (auto want :
       {"surf_train_loss_2dcontour", "surf_train_loss_2dcontourf", "surf_train_loss_2dheat",
        "surf_train_loss_3dsurface", "surf_test_err_2dcontour", "surf_test_err_3dsurface",
        "surf_eig-ratio_2dcontour", "surf_eig-ratio_2dheat"})
    CHECK(std::find(n.begin(), n.end(), want) != n.end());
  check_outputs(figs, 640, 480);

  // the data file holds the surface's values at the grid nodes, [y][x] in blocks of x
  auto s = read_surface_view(d.file("surf.h5"));
  std::string dat = o.out_dir + "/surf_train_loss_2dcontour.dat";
  auto xs = column(dat, 0), ys = column(dat, 1), zs = column(dat, 2);
  REQUIRE(zs.size() == 13 * 8);
  for (std::size_t k = 0; k < zs.size(); ++k) CHECK(zs[k] == Approx(loss_at(xs[k], ys[k])));
  CHECK(xs[1] == Approx(s.x[1]));
  CHECK(ys[13] == Approx(s.y[1]));
  // the scripts are standalone: relative file names, contour levels, title, colour bar label
  std::string gp = slurp(o.out_dir + "/surf_train_loss_2dcontour.gp");
  CHECK(gp.find("datafile = \"./\" . name . \".dat\"") != std::string::npos);
  CHECK(gp.find("set cntrparam levels discrete 0.1,0.6,1.1,1.6,") != std::string::npos);
  CHECK(gp.find(",9.1,9.6\n") != std::string::npos);
  // inline labels placed by losscape (contour_labels.hpp), boxed, at a level's value
  CHECK(gp.find("set label 100 \"") != std::string::npos);
  CHECK(gp.find(" center front boxed font \",8\"") != std::string::npos);
  CHECK(gp.find("cntrlabel") == std::string::npos);
  // (a run's checkpoint, named by its epoch alone: with the run's folder)
  CHECK(gp.find("resnet20_noshort (a/model_300.h5) · cifar10 (500 samples) · train loss") !=
        std::string::npos);
  CHECK(gp.find("13×8 grid") != std::string::npos);
  CHECK(gp.find("set cblabel \"train loss\"") != std::string::npos);
  CHECK(gp.find("points done") == std::string::npos);
}

TEST_CASE("log scale and explicit levels reach the scripts", "[plot][gnuplot]") {
  require_gnuplot();
  Scratch d("log");
  write_surface(d.file("s.h5"), SurfaceSpec{});
  PlotOptions o;
  o.out_dir = d.str();
  o.formats = {"png"};
  o.width = 320;
  o.height = 240;
  o.log = true;
  o.vmin = 0.2;
  o.vlevel = 0.2;
  o.vmax = 2;
  auto figs = plot_surface(d.file("s.h5"), o);
  check_outputs(figs, 320, 240);
  REQUIRE(figs.front().name == "s_train_loss_2dcontour_log");
  std::string gp = slurp(figs.front().script());
  CHECK(gp.find("set logscale cb") != std::string::npos);
  // 10 levels between 0.2 and 2, spaced geometrically
  CHECK(gp.find("levels discrete 0.2,0.2583") != std::string::npos);
  CHECK(gp.find(",2\n") != std::string::npos);
  // a colour bar within one decade gets labels at 1, 2, 5 of each decade (gnuplot's own log
  // tics labelled the powers of 10 alone: here only "1")
  CHECK(gp.find("set cbtics (\"0.2\" 0.2, \"0.5\" 0.5, \"1\" 1, \"2\" 2)") != std::string::npos);
  // the 3D surface reaches vmax = 2: its z axis ends there
  CHECK(slurp(d.file("s_train_loss_3dsurface_log.gp")).find("set zrange [vmin:vmax]") != std::string::npos);
  // the 1D loss axis: 0.19..5 gets 0.2, 0.5, 1, 2, 5
  SurfaceSpec l;
  l.ny = 0;
  write_surface(d.file("l.h5"), l);
  // (levels are 2D figures' options: refused for a 1D surface, naming the one that applies)
  CHECK_THROWS_WITH(plot_surface(d.file("l.h5"), o), catch_compat::Contains("--loss-max"));
  o.vmin = o.vlevel = o.vmax = std::nullopt;
  plot_surface(d.file("l.h5"), o);
  for (const char* f : {"l_1d_loss_acc_log.gp", "l_1d_train_loss_log.gp"})
    CHECK(slurp(d.file(f)).find("set ytics (\"0.2\" 0.2, \"0.5\" 0.5, \"1\" 1, \"2\" 2, \"5\" 5)") !=
          std::string::npos);
  // linear, default vmax 10: the surface (0.2..6.6) stays below it, so the z axis ends at its top
  o.log = false;
  plot_surface(d.file("s.h5"), o);
  o.loss_max_given = true;  // (the 1D loss axis: refused for a 2D surface)
  CHECK_THROWS_WITH(plot_surface(d.file("s.h5"), o), catch_compat::Contains("--vmin --vlevel --vmax"));
  o.loss_max_given = false;
  CHECK(slurp(d.file("s_train_loss_3dsurface.gp")).find("set zrange [*:*]") != std::string::npos);
  o.log = true;
  o.vmin = 0;
  CHECK_THROWS_WITH(plot_surface(d.file("s.h5"), o), catch_compat::Contains("--vmin > 0"));
}

TEST_CASE("1D figures: loss and accuracy, train loss, train error", "[plot][gnuplot]") {
  require_gnuplot();
  Scratch d("1d");
  SurfaceSpec sp;
  sp.nx = 21;
  sp.ny = 0;
  sp.x0 = -0.5;
  sp.x1 = 1.5;
  write_surface(d.file("line.h5"), sp);
  PlotOptions o;
  o.out_dir = d.str();
  o.formats = {"png", "pdf", "svg"};
  o.width = 500;
  o.height = 300;
  auto figs = plot_surface(d.file("line.h5"), o);
  auto n = names(figs);
  CHECK(n ==
        std::vector<std::string>{"line_1d_loss_acc", "line_1d_train_loss", "line_1d_train_err"});
  check_outputs(figs, 500, 300);
  std::string dat = d.file("line_1d_train_err.dat");
  auto a = column(dat, 0), e = column(dat, 1);
  REQUIRE(e.size() == 21);
  for (std::size_t k = 0; k < e.size(); ++k) CHECK(e[k] == Approx(100 - acc_at(a[k], 0)));
  std::string gp = slurp(d.file("line_1d_loss_acc.gp"));
  CHECK(gp.find("axes x1y2") != std::string::npos);                 // accuracy on the right axis
  CHECK(gp.find("dt 2 title \"test loss\"") != std::string::npos);  // test dashed
  CHECK(gp.find("set y2range [0:100]") != std::string::npos);
  CHECK(gp.find("set yrange [0:loss_max]") != std::string::npos);
  CHECK(gp.find("loss_max = 5") != std::string::npos);
}

TEST_CASE("partial surfaces render with gaps and say how much is done", "[plot][gnuplot]") {
  require_gnuplot();
  Scratch d("partial");
  SurfaceSpec sp;
  sp.nx = 17;
  sp.ny = 9;
  sp.reference = true;  // -1 sentinels, no mask
  sp.computed = [](int i, int j) { return i < 5 || (i == 5 && j < 4); };
  write_surface(d.file("p.h5"), sp);
  PlotOptions o;
  o.out_dir = d.str();
  o.formats = {"png"};
  o.width = 400;
  o.height = 300;
  auto figs = plot_surface(d.file("p.h5"), o);
  check_outputs(figs, 400, 300);
  std::size_t done = 5 * 17 + 4;
  for (auto& f : figs)
    CHECK(slurp(f.script()).find(std::to_string(done) + " of 153 points done") !=
          std::string::npos);
  auto z = column(d.file("p_train_loss_2dheat.dat"), 2);
  REQUIRE(z.size() == 153);
  CHECK(std::count_if(z.begin(), z.end(), [](double v) { return std::isnan(v); }) ==
        std::ptrdiff_t(153 - done));

  // a coarse-to-fine sweep in progress: only every 4th grid line is done, so the contour map is
  // drawn on that sub-grid (with every point known) rather than as isolated points
  sp.computed = [](int i, int j) { return (i % 4 == 0 || i == 8) && (j % 4 == 0 || j == 16); };
  write_surface(d.file("c.h5"), sp);
  figs = plot_surface(d.file("c.h5"), o);
  check_outputs(figs, 400, 300);
  auto zc = column(d.file("c_train_loss_2dcontour.dat"), 2);
  CHECK(zc.size() == 5 * 3);
  CHECK(std::none_of(zc.begin(), zc.end(), [](double v) { return std::isnan(v); }));
  CHECK(slurp(d.file("c_train_loss_2dcontour.gp")).find("drawn on every 4th grid line") !=
        std::string::npos);

  // a sweep in progress visits sub-grids through θ*'s lines (grid.hpp's centred order): a
  // 51-point curve with the points of stride 8 from the centre done is drawn on them
  SurfaceSpec m;
  m.ny = 0;
  m.nx = 51;
  m.computed = [](int, int j) { return j == 0 || j == 50 || (j - 25) % 8 == 0; };
  write_surface(d.file("m.h5"), m);
  figs = plot_surface(d.file("m.h5"), o);
  auto am = column(d.file("m_1d_train_loss.dat"), 0);
  CHECK(am.size() == 9);
  CHECK(std::count(am.begin(), am.end(), 0.0) == 1);
  CHECK(slurp(d.file("m_1d_train_loss.gp")).find("drawn on every 8th grid line") != std::string::npos);

  // 1D with gaps
  SurfaceSpec l;
  l.ny = 0;
  l.nx = 11;
  l.computed = [](int, int j) { return j != 3 && j != 4; };
  write_surface(d.file("l.h5"), l);
  figs = plot_surface(d.file("l.h5"), o);
  check_outputs(figs, 400, 300);
  CHECK(slurp(d.file("l_1d_loss_acc.gp")).find("9 of 11 points done") != std::string::npos);
}

TEST_CASE("trajectories are drawn over the contour map with PCA axis labels", "[plot][gnuplot]") {
  require_gnuplot();
  Scratch d("traj");
  write_surface(d.file("pca.h5"), SurfaceSpec{});
  {
    h5::File p(d.file("proj.h5"), h5::File::Mode::truncate);
    std::vector<double> x = {0.9, 0.5, 0.2, 0.05, 0}, y = {-0.4, -0.1, 0.05, 0.01, 0};
    p.create_dataset("proj_xcoord", h5::Type::f64, {5}).write(h5::Type::f64, x.data());
    p.create_dataset("proj_ycoord", h5::Type::f64, {5}).write(h5::Type::f64, y.data());
    p.set_attr("epochs", std::vector<std::int64_t>{0, 10, 20, 30, 40});
    p.set_attr("explained_variance_ratio", std::vector<double>{0.832149, 0.1012});
  }
  PlotOptions o;
  o.out_dir = d.str();
  o.formats = {"png", "svg"};
  o.width = 600;
  o.height = 450;
  o.trajectory = d.file("proj.h5");
  auto figs = plot_surface(d.file("pca.h5"), o);
  check_outputs(figs, 600, 450);
  auto gp = slurp(d.file("pca_train_loss_2dcontour_proj.gp"));
  CHECK(gp.find("set xlabel \"1st PC: 83.21 %\"") != std::string::npos);
  CHECK(gp.find("set ylabel \"2nd PC: 10.12 %\"") != std::string::npos);
  CHECK(gp.find("datafile index 1") != std::string::npos);
  auto px = column(d.file("pca_train_loss_2dcontour_proj.dat"), 0, 1);
  auto ep = column(d.file("pca_train_loss_2dcontour_proj.dat"), 2, 1);
  CHECK(px == std::vector<double>{0.9, 0.5, 0.2, 0.05, 0});
  CHECK(ep == std::vector<double>{0, 10, 20, 30, 40});

  // without a variance in the projection file, --directions supplies it
  {
    h5::File p(d.file("proj2.h5"), h5::File::Mode::truncate);
    std::vector<double> x = {0.5, 0}, y = {0.5, 0};
    p.create_dataset("proj_xcoord", h5::Type::f64, {2}).write(h5::Type::f64, x.data());
    p.create_dataset("proj_ycoord", h5::Type::f64, {2}).write(h5::Type::f64, y.data());
    h5::File dir(d.file("dirs.h5"), h5::File::Mode::truncate);
    std::vector<double> evr = {0.5, 0.25};
    dir.create_dataset("explained_variance_ratio_", h5::Type::f64, {2})
        .write(h5::Type::f64, evr.data());
  }
  o.trajectory = d.file("proj2.h5");
  o.directions = d.file("dirs.h5");
  o.formats = {"png"};
  figs = plot_surface(d.file("pca.h5"), o);
  gp = slurp(d.file("pca_train_loss_2dheat.gp"));
  CHECK(gp.find("1st PC: 50.00 %") != std::string::npos);
  CHECK(gp.find("2nd PC: 25.00 %") != std::string::npos);
  // and random-direction surfaces keep α and β
  o.trajectory.clear();
  o.directions.clear();
  figs = plot_surface(d.file("pca.h5"), o);
  CHECK(slurp(d.file("pca_train_loss_2dheat.gp")).find("set xlabel \"α\"") != std::string::npos);
}

TEST_CASE("missing gnuplot: a clear error, data and scripts still written", "[plot]") {
  Scratch d("nognuplot");
  write_surface(d.file("s.h5"), SurfaceSpec{});
  PlotOptions o;
  o.out_dir = d.str();
  o.gnuplot = "/nonexistent/gnuplot";
  CHECK_THROWS_WITH(plot_surface(d.file("s.h5"), o), catch_compat::Contains("gnuplot-nox"));
  for (auto n : {"s_train_loss_2dcontour", "s_train_loss_2dcontourf", "s_train_loss_2dheat",
                 "s_train_loss_3dsurface"}) {
    CHECK(fs::is_regular_file(d.file(std::string(n) + ".gp")));
    CHECK(fs::is_regular_file(d.file(std::string(n) + ".dat")));
    CHECK_FALSE(fs::exists(d.file(std::string(n) + ".png")));
  }
}

TEST_CASE("a failing gnuplot is reported with the script's name", "[plot]") {
  Scratch d("badgnuplot");
  write_surface(d.file("s.h5"), SurfaceSpec{});
  PlotOptions o;
  o.out_dir = d.str();
  o.gnuplot = "/bin/false";
  CHECK_THROWS_WITH(plot_surface(d.file("s.h5"), o), catch_compat::Contains("s_train_loss_2dcontour.gp") &&
                                                         catch_compat::Contains("exit status 1"));
}

TEST_CASE("plot input errors", "[plot]") {
  Scratch d("errors");
  PlotOptions o;
  o.out_dir = d.str();
  CHECK_THROWS_AS(plot_surface(d.file("missing.h5"), o), InputError);
  {
    h5::File f(d.file("dirs.h5"), h5::File::Mode::truncate);
    f.set_attr("format", std::string("losscape-directions"));
  }
  CHECK_THROWS_WITH(read_surface_view(d.file("dirs.h5")), catch_compat::Contains("not a surface"));
  write_surface(d.file("s.h5"), SurfaceSpec{});
  o.formats = {"jpg"};
  CHECK_THROWS_WITH(plot_surface(d.file("s.h5"), o), catch_compat::Contains("jpg"));
  o.formats = {"png"};
  o.what = {"test_acc", "nonsense"};
  CHECK_THROWS_WITH(plot_surface(d.file("s.h5"), o), catch_compat::Contains("nonsense"));
  o.what = {};
  o.trajectory = d.file("s.h5");
  CHECK_THROWS_WITH(plot_surface(d.file("s.h5"), o), catch_compat::Contains("proj_xcoord"));
}
