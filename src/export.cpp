#include "losscape/export.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include <unistd.h>

#include "losscape/error.hpp"
#include "losscape/grid.hpp"
#include "losscape/h5.hpp"

namespace losscape {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A value of the data (every digit: 17, quick for millions; messages use shortest_decimal).
std::string all_digits(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// Second derivatives of the natural cubic spline through (t, f): the tridiagonal system
// h[i-1] M[i-1] + 2 (h[i-1] + h[i]) M[i] + h[i] M[i+1] = 6 (d[i] - d[i-1]), M[0] = M[n-1] = 0,
// with h[i] = t[i+1] - t[i] and d[i] = (f[i+1] - f[i]) / h[i]; solved by the Thomas algorithm.
std::vector<double> spline_moments(const std::vector<double>& t, const std::vector<double>& f) {
  std::size_t n = t.size();
  std::vector<double> m(n, 0.0);
  if (n < 3) return m;
  std::vector<double> h(n - 1), d(n - 1);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    h[i] = t[i + 1] - t[i];
    d[i] = (f[i + 1] - f[i]) / h[i];
  }
  std::size_t k = n - 2;  // unknowns M[1..n-2]
  std::vector<double> diag(k), upper(k), rhs(k);
  for (std::size_t j = 0; j < k; ++j) {
    std::size_t i = j + 1;
    diag[j] = 2 * (h[i - 1] + h[i]);
    upper[j] = h[i];
    rhs[j] = 6 * (d[i] - d[i - 1]);
  }
  for (std::size_t j = 1; j < k; ++j) {  // lower[j] = h[j] (= upper[j-1])
    double w = h[j] / diag[j - 1];
    diag[j] -= w * upper[j - 1];
    rhs[j] -= w * rhs[j - 1];
  }
  m[k] = rhs[k - 1] / diag[k - 1];
  for (std::size_t j = k - 1; j-- > 0;) m[j + 1] = (rhs[j] - upper[j] * m[j + 2]) / diag[j];
  return m;
}

}  // namespace

std::vector<double> linspace(double a, double b, std::int64_t n) {
  std::vector<double> v(std::size_t(std::max<std::int64_t>(n, 0)));
  if (n == 1) v[0] = a;
  if (n < 2) return v;
  double step = (b - a) / double(n - 1);
  for (std::int64_t i = 0; i < n; ++i) v[std::size_t(i)] = a + double(i) * step;
  v.back() = b;
  return v;
}

std::vector<double> natural_spline(const std::vector<double>& t, const std::vector<double>& f,
                                   const std::vector<double>& u) {
  std::size_t n = t.size();
  if (n == 0 || f.size() != n) throw Error("natural_spline: bad input sizes");
  std::vector<double> out(u.size());
  if (n == 1) {
    std::fill(out.begin(), out.end(), f[0]);
    return out;
  }
  auto m = spline_moments(t, f);
  bool increasing = t.back() > t.front();
  for (std::size_t k = 0; k < u.size(); ++k) {
    double x = u[k];
    // interval i with x between t[i] and t[i+1] (clamped to the ends)
    std::size_t i;
    if (increasing)
      i = std::size_t(std::upper_bound(t.begin(), t.end(), x) - t.begin());
    else
      i = std::size_t(std::upper_bound(t.begin(), t.end(), x, std::greater<double>()) - t.begin());
    i = i == 0 ? 0 : i - 1;
    if (t[i] == x) {
      out[k] = f[i];  // exact at the nodes
      continue;
    }
    i = std::min(i, n - 2);
    double h = t[i + 1] - t[i];
    double s = (x - t[i]) / h, r = 1 - s;
    out[k] =
        r * f[i] + s * f[i + 1] + h * h / 6 * ((r * r * r - r) * m[i] + (s * s * s - s) * m[i + 1]);
  }
  return out;
}

ValueGrid resample_spline(const ValueGrid& g, std::int64_t n) {
  if (n < 2)
    throw InputError("--interp: need at least 2 points per axis, got " + std::to_string(n));
  if (n > kMaxInterp)
    throw InputError("--interp: at most " + std::to_string(kMaxInterp) + " points per axis, got " +
                     std::to_string(n));
  if (g.nx() < 2 || g.ny() < 2) throw InputError("--interp needs a grid of at least 2×2 points");
  for (double v : g.z)
    if (!std::isfinite(v))
      throw InputError(
          "--interp needs every grid point computed and finite; this surface has "
          "missing, NaN or infinite points (export without --interp, or finish the sweep)");
  ValueGrid r;
  r.x = linspace(g.x.front(), g.x.back(), n);
  r.y = linspace(g.y.front(), g.y.back(), n);
  std::size_t N = std::size_t(n);
  // along x: every original row to N columns
  std::vector<double> rows(g.ny() * N);
  for (std::size_t iy = 0; iy < g.ny(); ++iy) {
    std::vector<double> f(g.z.begin() + std::ptrdiff_t(iy * g.nx()),
                          g.z.begin() + std::ptrdiff_t((iy + 1) * g.nx()));
    auto v = natural_spline(g.x, f, r.x);
    std::copy(v.begin(), v.end(), rows.begin() + std::ptrdiff_t(iy * N));
  }
  // along y: every new column to N rows
  r.z.assign(N * N, kNaN);
  std::vector<double> col(g.ny());
  for (std::size_t ix = 0; ix < N; ++ix) {
    for (std::size_t iy = 0; iy < g.ny(); ++iy) col[iy] = rows[iy * N + ix];
    auto v = natural_spline(g.y, col, r.y);
    for (std::size_t iy = 0; iy < N; ++iy) r.z[iy * N + ix] = v[iy];
  }
  return r;
}

namespace {
// --what, or its default: the loss of plot's default split (the test split of a file of it alone)
std::string export_quantity(const SurfaceView& s, const VtpOptions& o) {
  if (!o.what.empty()) return o.what;
  // (a file of Hessian maps alone, as the reference's plot_hessian_eigen writes: its ratio, as plot
  // draws it)
  const std::string loss = default_split(s) + "_loss";
  return !has_quantity(s, loss) && has_quantity(s, "eig-ratio") ? "eig-ratio" : loss;
}
}  // namespace

ValueGrid vtp_values(const SurfaceView& s, const VtpOptions& o) {
  if (!s.two_d())
    throw InputError(s.path + " is a 1D surface; a .vtp export needs a 2D one (--x and --y)");
  if (s.nx() < 2 && s.ny() < 2)
    throw InputError(s.path + ": its grid has a single point: a .vtp export needs 2 points or more per axis");
  if (s.nx() < 2 || s.ny() < 2)
    throw InputError(s.path + ": its grid has one point on " + (s.nx() < 2 ? "α" : "β") +
                     " (a line, without cells); a .vtp export needs 2 points or more per axis "
                     "(plot draws the line as a curve)");
  if (o.zmax && !std::isfinite(*o.zmax)) throw InputError("--zmax must be finite");
  ValueGrid g;
  g.x = s.x;
  g.y = s.y;
  g.z = quantity_values(s, canonical_quantity(export_quantity(s, o)));
  if (o.interp > 0) try {
      g = resample_spline(g, o.interp);
    } catch (const InputError& e) {  // (named by the surface: its points are what is missing)
      throw InputError(s.path + ": " + e.what());
    }
  // the reference's order: resample, clip at zmax, then ln(z + 0.1)
  for (double& z : g.z) {
    if (!std::isfinite(z)) continue;  // (left out: +inf is no value above zmax to draw at zmax)
    if (o.zmax && z > *o.zmax) z = *o.zmax, ++g.clipped;
    if (o.log && std::isfinite(z)) {
      z = std::log(z + 0.1);  // NaN or -inf for z <= -0.1: such nodes are left out
      g.below_log += !std::isfinite(z);
    }
  }
  return g;
}

VtpSummary write_vtp(const ValueGrid& g, const std::string& path, const std::string& comment) {
  std::size_t nx = g.nx(), ny = g.ny();
  // Nodes with a value get consecutive point ids; the others are left out with their cells.
  std::vector<std::int64_t> id(nx * ny, -1);
  VtpSummary sum;
  for (std::size_t i = 0; i < nx * ny; ++i) {
    if (std::isfinite(g.z[i]))
      id[i] = std::int64_t(sum.points++);
    else
      ++sum.missing;
  }
  // quads i, i+1, i+n+1, i+n (n = nx), as the reference
  std::vector<std::array<std::int64_t, 4>> quads;
  std::vector<double> avg;
  for (std::size_t iy = 0; iy + 1 < ny; ++iy)
    for (std::size_t ix = 0; ix + 1 < nx; ++ix) {
      std::size_t i = iy * nx + ix;
      std::array<std::size_t, 4> c = {i, i + 1, i + nx + 1, i + nx};
      if (id[c[0]] < 0 || id[c[1]] < 0 || id[c[2]] < 0 || id[c[3]] < 0) continue;
      quads.push_back({id[c[0]], id[c[1]], id[c[2]], id[c[3]]});
      avg.push_back((g.z[c[0]] + g.z[c[1]] + g.z[c[2]] + g.z[c[3]]) / 4);
    }
  sum.cells = quads.size();
  sum.below_log = g.below_log;
  sum.clipped = g.clipped;

  double zlo = std::numeric_limits<double>::infinity(), zhi = -zlo;
  for (double z : g.z)
    if (std::isfinite(z)) zlo = std::min(zlo, z), zhi = std::max(zhi, z);
  if (sum.points == 0) zlo = zhi = 0;
  double alo = zlo, ahi = zhi;
  if (!avg.empty()) {
    alo = *std::min_element(avg.begin(), avg.end());
    ahi = *std::max_element(avg.begin(), avg.end());
  }

  // Written beside the target and renamed when whole (write_whole): a full disk or a killed run
  // leaves no truncated .vtp for ParaView to choke on, and a Ctrl-C or scancel during a long
  // write (--interp 4001 is ~3 GB) no NAME.PID.writing behind. (Under this process's own name:
  // two exports of one file at once never write into each other's.)
  h5::write_whole(path, h5::own_suffix(".writing"), [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw InputError("export: cannot write " + path + " (" + std::strerror(errno) + ")");
    auto esc = [](std::string s) {  // "--" may not appear inside an XML comment
      for (std::size_t p; (p = s.find("--")) != std::string::npos;) s.replace(p, 2, "- -");
      return s;
    };
    f << "<?xml version=\"1.0\"?>\n";
    if (!comment.empty()) f << "<!-- " << esc(comment) << " -->\n";
    f << "<VTKFile type=\"PolyData\" version=\"1.0\" byte_order=\"LittleEndian\" "
         "header_type=\"UInt64\">\n"
      << "  <PolyData>\n"
      << "    <Piece NumberOfPoints=\"" << sum.points
      << "\" NumberOfVerts=\"0\" NumberOfLines=\"0\" NumberOfStrips=\"0\" NumberOfPolys=\""
      << sum.cells << "\">\n"
      << "      <PointData Scalars=\"zvalue\">\n"
      << "        <DataArray type=\"Float64\" Name=\"zvalue\" NumberOfComponents=\"1\" "
         "format=\"ascii\" RangeMin=\""
      << all_digits(zlo) << "\" RangeMax=\"" << all_digits(zhi) << "\">\n";
    for (std::size_t i = 0; i < nx * ny; ++i)
      if (id[i] >= 0) f << "          " << all_digits(g.z[i]) << "\n";
    f << "        </DataArray>\n"
      << "      </PointData>\n"
      << "      <CellData Scalars=\"averaged zvalue\">\n"
      << "        <DataArray type=\"Float64\" Name=\"averaged zvalue\" NumberOfComponents=\"1\" "
         "format=\"ascii\" RangeMin=\""
      << all_digits(alo) << "\" RangeMax=\"" << all_digits(ahi) << "\">\n";
    for (double a : avg) f << "          " << all_digits(a) << "\n";
    f << "        </DataArray>\n"
      << "      </CellData>\n"
      << "      <Points>\n"
      << "        <DataArray type=\"Float64\" Name=\"Points\" NumberOfComponents=\"3\" "
         "format=\"ascii\">\n";
    for (std::size_t iy = 0; iy < ny; ++iy)
      for (std::size_t ix = 0; ix < nx; ++ix)
        if (id[iy * nx + ix] >= 0)
          f << "          " << all_digits(g.x[ix]) << " " << all_digits(g.y[iy]) << " "
            << all_digits(g.z[iy * nx + ix]) << "\n";
    f << "        </DataArray>\n"
      << "      </Points>\n"
      << "      <Polys>\n"
      << "        <DataArray type=\"Int64\" Name=\"connectivity\" format=\"ascii\">\n";
    for (auto& q : quads)
      f << "          " << q[0] << " " << q[1] << " " << q[2] << " " << q[3] << "\n";
    f << "        </DataArray>\n"
      << "        <DataArray type=\"Int64\" Name=\"offsets\" format=\"ascii\">\n";
    for (std::size_t c = 0; c < quads.size(); ++c) f << "          " << 4 * (c + 1) << "\n";
    f << "        </DataArray>\n"
      << "      </Polys>\n"
      << "    </Piece>\n"
      << "  </PolyData>\n"
      << "</VTKFile>\n";
    f.close();
    if (!f) {  // (write_whole removes the temporary and adds a full disk's note)
      const int e = errno;
      throw InputError("export: cannot write " + path + (e ? " (" + std::string(std::strerror(e)) + ")" : ""));
    }
  });
  return sum;
}

namespace {
// A VTK XML file (ours or another's), which --vtp may replace.
bool is_vtk_xml(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(1 << 16, '\0');
  in.read(head.data(), std::streamsize(head.size()));
  head.resize(std::size_t(in.gcount()));
  // (its root element: any XML file began with <?xml, a ParaView state or an SVG picture too)
  std::size_t at = 0;
  if (head.rfind("<?xml", 0) == 0) {
    at = head.find("?>");
    if (at == std::string::npos) return false;
    at += 2;
  }
  // (and the comments before it: ours names the surface)
  for (;;) {
    at = head.find_first_not_of(" \t\r\n", at);
    if (at == std::string::npos || head.compare(at, 4, "<!--") != 0) break;
    at = head.find("-->", at + 4);
    if (at == std::string::npos) return false;
    at += 3;
  }
  return at != std::string::npos && head.compare(at, 8, "<VTKFile") == 0;
}
}  // namespace

VtpSummary export_vtp(const std::string& surface_file, const std::string& vtp_file,
                      const VtpOptions& opts) {
  // (an image's name for the XML file: a slip, as plot refuses it)
  if (const std::string type = image_type_of(vtp_file); !type.empty())
    throw InputError("export: --vtp " + vtp_file + ": a " + type +
                     " image's name for a VTK XML file (name it .vtp; pictures come from plot)");
  h5::check_replaceable(vtp_file, "VTK file", is_vtk_xml);
  SurfaceView s = read_surface_view(surface_file);
  // (the input first, then the output's folder, before the work: --interp 4001 computes a while)
  if (const std::string why = folder_problem(vtp_file); !why.empty())
    throw InputError("export: " + vtp_file + ": " + why);
  VtpOptions o = opts;
  o.what = export_quantity(s, o);
  ValueGrid g = vtp_values(s, o);
  if (std::none_of(g.z.begin(), g.z.end(), [](double z) { return std::isfinite(z); }))
    throw InputError(
        "export: " + surface_file + ": no grid point has a value to export" +
        (g.below_log == 0 ? " (" + o.what + " is not computed, or NaN or infinite, everywhere)"
         : o.zmax && *o.zmax <= -0.1
             ? " (--zmax " + shortest_decimal(*o.zmax) +
                   " clips every value to that or less, and --log's ln(z + 0.1) needs z > -0.1)"
             : " (--log's ln(z + 0.1) needs z > -0.1)") +
        "; nothing written");
  // Points without a cell (a part file's slice, a sweep still coarse, every other row NaN): a
  // .vtp of no quads, which ParaView shows as nothing.
  bool cell = false;
  const std::size_t nx = g.nx();
  for (std::size_t i = 0; !cell && i + nx < g.z.size(); ++i)
    cell = (i + 1) % nx != 0 && std::isfinite(g.z[i]) && std::isfinite(g.z[i + 1]) &&
           std::isfinite(g.z[i + nx]) && std::isfinite(g.z[i + nx + 1]);
  if (!cell)
    throw InputError("export: " + surface_file + ": no grid cell has a value at all four corners (" +
                     std::to_string(std::count_if(g.z.begin(), g.z.end(), [](double z) { return std::isfinite(z); })) +
                     " of " + std::to_string(g.z.size()) + " points have one: a part file, or a sweep "
                     "still running, or values NaN, infinite" + (o.log ? " or at or below -0.1" : "") +
                     " in between), so a .vtp would show nothing; nothing written");
  std::string comment = "losscape export: " + o.what + " of " + surface_file;
  if (o.interp > 0)
    comment += ", resampled to " + std::to_string(o.interp) + "x" + std::to_string(o.interp) +
               " (natural cubic splines)";
  if (o.zmax) comment += ", clipped at " + shortest_decimal(*o.zmax);
  if (o.log) comment += ", z = ln(value + 0.1)";
  return write_vtp(g, vtp_file, comment);
}

}  // namespace losscape
