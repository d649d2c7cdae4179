// Tests of export.hpp: the natural cubic spline against hand-computed values, resampling that
// keeps the grid's nodes and reproduces bilinear functions, clip/log in the reference's order,
// and the point/cell structure of the .vtp (the XML itself is parsed by tests/cli/test_plot.py).
#include "catch_compat.hpp"
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

#include "losscape/error.hpp"
#include "losscape/export.hpp"
#include "losscape/h5.hpp"

namespace fs = std::filesystem;
using namespace losscape;

namespace {

struct ExportScratch {
  fs::path dir;
  ExportScratch() {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("losscape-export-" + std::to_string(rd()));
    fs::create_directories(dir);
  }
  ~ExportScratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string file(const std::string& n) const { return (dir / n).string(); }
};

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// A 2D surface file with train_loss = f(x, y) at every node, -1 (and done 0) where `hole`.
void write_grid_surface(const std::string& path, const std::vector<double>& x,
                        const std::vector<double>& y, double (*f)(double, double),
                        std::vector<std::size_t> holes = {}) {
  h5::File h(path, h5::File::Mode::truncate);
  h.create_dataset("xcoordinates", h5::Type::f64, {x.size()}).write(h5::Type::f64, x.data());
  h.create_dataset("ycoordinates", h5::Type::f64, {y.size()}).write(h5::Type::f64, y.data());
  std::vector<double> z(x.size() * y.size());
  std::vector<std::uint8_t> done(z.size(), 1);
  for (std::size_t i = 0; i < y.size(); ++i)
    for (std::size_t j = 0; j < x.size(); ++j) z[i * x.size() + j] = f(x[j], y[i]);
  for (auto k : holes) z[k] = -1, done[k] = 0;
  h.create_dataset("train_loss", h5::Type::f64, {y.size(), x.size()})
      .write(h5::Type::f64, z.data());
  h.create_dataset("done", h5::Type::u8, {y.size(), x.size()}).write(h5::Type::u8, done.data());
}

double bilinear(double x, double y) { return 2 + 0.5 * x - 0.3 * y + 0.1 * x * y; }
double narrow_bowl(double x, double y) { return 0.05 + 3 * x * x + 12 * y * y; }

}  // namespace

TEST_CASE("linspace matches numpy, ends exact", "[export]") {
  auto v = linspace(-1, 1, 5);
  CHECK(v == std::vector<double>{-1, -0.5, 0, 0.5, 1});
  auto w = linspace(0.1, 0.7, 7);
  CHECK(w.front() == 0.1);
  CHECK(w.back() == 0.7);
  CHECK(linspace(3, 4, 1) == std::vector<double>{3});
}

TEST_CASE("natural cubic spline: hand-computed values, nodes exact, lines reproduced", "[export]") {
  // Through (0,0), (1,1), (2,0): M1 = 6(-1 - 1) / (2(1 + 1)) = -3, so
  // S(0.5) = 0.5 + (0.125 - 0.5)(-3)/6 = 0.6875 and, by symmetry, S(1.5) = 0.6875.
  auto s = natural_spline({0, 1, 2}, {0, 1, 0}, {0, 0.5, 1, 1.5, 2});
  CHECK(s[0] == 0);
  CHECK(s[1] == Approx(0.6875));
  CHECK(s[2] == 1);
  CHECK(s[3] == Approx(0.6875));
  CHECK(s[4] == 0);
  // decreasing abscissae give the same curve
  auto r = natural_spline({2, 1, 0}, {0, 1, 0}, {0.5, 1.5});
  CHECK(r[0] == Approx(0.6875));
  CHECK(r[1] == Approx(0.6875));
  // a linear function is reproduced exactly between nodes (its moments are all 0)
  std::vector<double> t = {-1, -0.6, -0.2, 0.2, 0.6, 1}, f;
  for (double x : t) f.push_back(3 * x - 1);
  auto l = natural_spline(t, f, {-0.95, -0.1, 0.33, 0.99});
  CHECK(l[0] == Approx(3 * -0.95 - 1));
  CHECK(l[1] == Approx(3 * -0.1 - 1));
  CHECK(l[2] == Approx(3 * 0.33 - 1));
  CHECK(l[3] == Approx(3 * 0.99 - 1));
}

TEST_CASE("resampling keeps corners and nodes exactly and reproduces bilinear surfaces",
          "[export]") {
  ValueGrid g;
  g.x = linspace(-1, 1, 5);
  g.y = linspace(-0.5, 1, 4);  // non-square
  for (double y : g.y)
    for (double x : g.x) g.z.push_back(bilinear(x, y));
  auto r = resample_spline(g, 9);  // 9 = 2·5 − 1: every original x node is a new node
  REQUIRE(r.nx() == 9);
  REQUIRE(r.ny() == 9);
  REQUIRE(r.z.size() == 81);
  CHECK(r.x.front() == -1);
  CHECK(r.x.back() == 1);
  CHECK(r.y.front() == -0.5);
  CHECK(r.y.back() == 1);
  CHECK(r.z[0] == g.z[0]);
  CHECK(r.z[8] == g.z[4]);
  CHECK(r.z[72] == g.z[15]);
  CHECK(r.z[80] == g.z[19]);
  for (std::size_t i = 0; i < 9; ++i)
    for (std::size_t j = 0; j < 9; ++j)
      CHECK(r.z[i * 9 + j] == Approx(bilinear(r.x[j], r.y[i])).margin(1e-12));

  // a curved surface: corners exact, values in between within 1 % of the function (the natural
  // end condition, zero curvature, costs a little accuracy next to the edges)
  ValueGrid b;
  b.x = linspace(-1, 1, 11);
  b.y = linspace(-1, 1, 11);
  for (double y : b.y)
    for (double x : b.x) b.z.push_back(narrow_bowl(x, y));
  auto rb = resample_spline(b, 41);
  CHECK(rb.z[0] == b.z[0]);
  CHECK(rb.z[40] == b.z[10]);
  CHECK(rb.z[40 * 41] == b.z[110]);
  CHECK(rb.z[41 * 41 - 1] == b.z[120]);
  for (std::size_t i = 0; i < 41; ++i)
    for (std::size_t j = 0; j < 41; ++j)
      CHECK(rb.z[i * 41 + j] == Approx(narrow_bowl(rb.x[j], rb.y[i])).epsilon(0.01).margin(0.02));

  b.z[17] = std::nan("");
  CHECK_THROWS_AS(resample_spline(b, 21), InputError);
}

TEST_CASE("vtp values: clip at zmax, then ln(z + 0.1)", "[export]") {
  ExportScratch d;
  auto x = linspace(-1, 1, 6), y = linspace(0, 1, 4);
  write_grid_surface(d.file("s.h5"), x, y, narrow_bowl);
  auto s = read_surface_view(d.file("s.h5"));
  VtpOptions o;
  o.zmax = 2;
  o.log = true;
  auto g = vtp_values(s, o);
  REQUIRE(g.z.size() == 24);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 6; ++j)
      CHECK(g.z[i * 6 + j] == Approx(std::log(std::min(narrow_bowl(x[j], y[i]), 2.0) + 0.1)));

  // 1D surfaces cannot be exported
  {
    h5::File h(d.file("line.h5"), h5::File::Mode::truncate);
    h.create_dataset("xcoordinates", h5::Type::f64, {6}).write(h5::Type::f64, x.data());
    h.create_dataset("train_loss", h5::Type::f64, {6}).write(h5::Type::f64, x.data());
  }
  CHECK_THROWS_WITH(export_vtp(d.file("line.h5"), d.file("l.vtp"), VtpOptions{}),
                    catch_compat::Contains("1D"));
}

TEST_CASE("write_vtp: one point per node, one quad per cell, quads i, i+1, i+n+1, i+n",
          "[export]") {
  ExportScratch d;
  auto x = linspace(-1, 1, 5), y = linspace(-1, 0, 3);
  write_grid_surface(d.file("s.h5"), x, y, narrow_bowl);
  auto sum = export_vtp(d.file("s.h5"), d.file("s.vtp"), VtpOptions{});
  CHECK(sum.points == 15);
  CHECK(sum.cells == 8);
  CHECK(sum.missing == 0);
  std::string t = read_text(d.file("s.vtp"));
  CHECK(t.find("NumberOfPoints=\"15\"") != std::string::npos);
  CHECK(t.find("NumberOfPolys=\"8\"") != std::string::npos);
  CHECK(t.find("Name=\"zvalue\"") != std::string::npos);
  CHECK(t.find("Name=\"averaged zvalue\"") != std::string::npos);
  CHECK(t.find("          0 1 6 5\n") != std::string::npos);    // first quad
  CHECK(t.find("          8 9 14 13\n") != std::string::npos);  // last quad
  CHECK(t.find("          32\n") != std::string::npos);         // last offset
  // written aside (under this process's own name), renamed
  const std::string writing = "." + std::to_string(::getpid()) + ".writing";
  CHECK_FALSE(std::filesystem::exists(d.file("s.vtp" + writing)));

  // A file that cannot be written: an error naming it, nothing left behind, an old file kept.
  CHECK_THROWS_WITH(export_vtp(d.file("s.h5"), d.file("nofolder/s.vtp"), VtpOptions{}),
                    catch_compat::Contains(d.file("nofolder/s.vtp") + ": no such folder"));
  std::filesystem::create_directory(d.file("dir.vtp"));  // a directory where the file should go
  CHECK_THROWS_WITH(export_vtp(d.file("s.h5"), d.file("dir.vtp"), VtpOptions{}),
                    catch_compat::Contains(d.file("dir.vtp") + ": exists and is not a regular file"));
  CHECK_FALSE(std::filesystem::exists(d.file("dir.vtp" + writing)));
  // nor a file of another kind: the surface itself given as the output
  const auto before = read_text(d.file("s.h5"));
  CHECK_THROWS_WITH(export_vtp(d.file("s.h5"), d.file("s.h5"), VtpOptions{}),
                    catch_compat::Contains(d.file("s.h5") + ": exists and is not a VTK file"));
  CHECK(read_text(d.file("s.h5")) == before);

  // a partial surface: the missing node and the cells touching it are left out
  write_grid_surface(d.file("p.h5"), x, y, narrow_bowl, {7});  // row 1, column 2: touches 4 cells
  auto p = export_vtp(d.file("p.h5"), d.file("p.vtp"), VtpOptions{});
  CHECK(p.points == 14);
  CHECK(p.cells == 4);
  CHECK(p.missing == 1);
  VtpOptions interp;
  interp.interp = 9;
  CHECK_THROWS_AS(export_vtp(d.file("p.h5"), d.file("q.vtp"), interp), InputError);
  auto r = export_vtp(d.file("s.h5"), d.file("r.vtp"), interp);
  CHECK(r.points == 81);
  CHECK(r.cells == 64);
}
