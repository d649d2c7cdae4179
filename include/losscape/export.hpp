// Export of a 2D surface to ParaView: VTK XML PolyData (.vtp) as the reference's h52vtp writes
// it (one point per grid node, point data `zvalue`, cell data `averaged zvalue`, one quad per
// grid cell), with clipping, a log scale and smooth resampling to a finer grid.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "losscape/plot.hpp"

namespace losscape {

/// The most nodes per axis --interp makes (16 million points, about 1 GB to write).
constexpr std::int64_t kMaxInterp = 4001;

struct VtpOptions {
  std::string what;  ///< any of plot_quantities(); "": train_loss (test_loss for a file of the test split alone)
  std::optional<double> zmax;       ///< values above are set to zmax (before the log)
  bool log = false;                 ///< z = ln(z + 0.1), as the reference
  std::int64_t interp = 0;          ///< > 1: resample to interp × interp nodes first
};

/// A regular grid of values, row-major [y][x]; NaN = no value.
struct ValueGrid {
  std::vector<double> x, y, z;
  std::size_t below_log = 0;  ///< values --log left without one (ln of z + 0.1 <= 0)
  std::size_t clipped = 0;    ///< values above --zmax, set to it
  std::size_t nx() const { return x.size(); }
  std::size_t ny() const { return y.size(); }
};

/// numpy.linspace(a, b, n), with both ends exact.
std::vector<double> linspace(double a, double b, std::int64_t n);
/// Natural cubic spline through (t[i], f[i]) evaluated at u (t strictly monotonic, either way);
/// returns f[i] exactly where u == t[i].
std::vector<double> natural_spline(const std::vector<double>& t, const std::vector<double>& f,
                                   const std::vector<double>& u);
/// Resample g to n × n nodes over the same bounds: a natural cubic spline along x through each
/// row, then along y through each new column (C2, exact at the original nodes, so the corners
/// keep their values; linear functions are reproduced exactly). g must have no NaN.
ValueGrid resample_spline(const ValueGrid& g, std::int64_t n);

/// The grid that goes into the .vtp for `s`: the quantity, resampled, clipped, log-scaled (in
/// the reference's order). Throws InputError for a 1D surface, for --interp on a surface with
/// points missing or above kMaxInterp, or for a --zmax that is not finite.
ValueGrid vtp_values(const SurfaceView& s, const VtpOptions& o);

struct VtpSummary {
  std::size_t points = 0, cells = 0;
  std::size_t missing = 0;    ///< grid nodes left out (not computed, NaN, or below_log)
  std::size_t below_log = 0;  ///< of them, those whose value --log could not take
  std::size_t clipped = 0;    ///< values above --zmax, set to it
};
/// Write g as VTK XML PolyData. Nodes without a value are left out with the cells that touch
/// them; a complete grid gives nx·ny points and (nx−1)(ny−1) quads.
VtpSummary write_vtp(const ValueGrid& g, const std::string& path, const std::string& comment = "");
/// Everything `losscape export --vtp` does; throws InputError, writing nothing, when no node
/// would have a value or no cell all four corners.
VtpSummary export_vtp(const std::string& surface_file, const std::string& vtp_file,
                      const VtpOptions& o);

}  // namespace losscape
