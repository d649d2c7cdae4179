#pragma once
// Contour lines of a grid and where their value labels fit on a figure (plot's contour maps).
//
// gnuplot's own `set cntrlabel start N interval M` puts a label on every M-th point of every
// contour line, wherever that is: the short arcs that contour lines cut in a map's corners got
// labels stacked on each other. losscape computes the lines itself (marching squares, linear
// interpolation along the cell edges, as gnuplot's `cntrparam linear`) and places labels as
// matplotlib's clabel does in spirit: on lines long enough to carry one, where the line is
// fairly straight, inside the frame and apart from every other label.
#include <array>
#include <cmath>
#include <string>
#include <vector>

namespace losscape {

using ContourPoint = std::array<double, 2>;  ///< (x, y) in the grid's coordinates

/// The contour lines of `level` through the grid z (row-major, z[j * x.size() + i] at
/// (x[i], y[j]); x and y monotonic, increasing or decreasing): polylines in data coordinates,
/// closed ones ending at their first point. Cells with a non-finite corner have no line (a gap,
/// as gnuplot draws them). A saddle cell joins its corners (i, j) and (i+1, j+1), as gnuplot's do.
std::vector<std::vector<ContourPoint>> contour_lines(const std::vector<double>& x,
                                                     const std::vector<double>& y,
                                                     const std::vector<double>& z, double level);

struct ContourLabel {
  double x, y;        ///< centre of the label, in data coordinates (on the line)
  std::size_t level;  ///< index into the levels given
};

/// What the figure's frame looks like, in pixels, for the label boxes' sizes and spacing.
struct LabelFrame {
  double x0, x1, y0, y1;  ///< the plotted ranges (x0 < x1, y0 < y1)
  double width_px, height_px;  ///< of the plot area inside the frame
  double char_px = 6;    ///< width of a character of the label font
  double line_px = 13;   ///< height of a label's box
  double px_per_x() const { return width_px / (x1 - x0); }
  double px_per_y() const { return height_px / (y1 - y0); }
  /// Whether the ranges have a width and height that pixels can be scaled to.
  bool scalable() const {
    const double sx = px_per_x(), sy = px_per_y();
    return std::isfinite(sx) && std::isfinite(sy) && sx > 0 && sy > 0;
  }
};

/// A place a label must not cover: centre in data coordinates, half its width and height in pixels
/// (a trajectory drawn over the map, its epoch labels).
struct KeepClear {
  double x, y, half_w_px, half_h_px;
};

/// Label positions for the contour lines of `levels` (texts[k] is level k's label): lines at
/// least three labels long get one, long lines one per `spacing` of about the frame's size,
/// each at a fairly straight stretch, inside the frame, not overlapping any other nor `keep_clear`.
/// Longer lines are served first. Deterministic.
std::vector<ContourLabel> place_contour_labels(const std::vector<double>& x,
                                               const std::vector<double>& y,
                                               const std::vector<double>& z,
                                               const std::vector<double>& levels,
                                               const std::vector<std::string>& texts,
                                               const LabelFrame& frame,
                                               const std::vector<KeepClear>& keep_clear = {});

}  // namespace losscape
