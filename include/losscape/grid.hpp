// Grids of (alpha, beta): specs parsed from "MIN:MAX:NUM", coordinates as numpy.linspace, flat
// point indices in [y][x] order (index = iy * nx + ix), and a coarse-to-fine visiting order.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace losscape {

/// The most points a grid may have (an axis, or both together): every point is a full pass over
/// the data set, so more is a typo in --x/--y (which would ask for terabytes of file).
inline constexpr std::int64_t kMaxGridPoints = 1'000'000'000;

struct GridAxis {
  double min = -1, max = 1;
  std::int64_t num = 51;
  /// numpy.linspace(min, max, num).
  std::vector<double> coordinates() const;
  std::string str() const;
};
/// Parse "MIN:MAX:NUM" (any real bounds, including 0 and negatives; NUM >= 1).
GridAxis parse_axis(const std::string& s, const std::string& option = "--x");

/// A fan-out part "K/N" as {K - 1, N}; throws InputError unless 1 <= K <= N.
std::pair<int, int> parse_part_text(const std::string& part);

struct Grid {
  GridAxis x;
  bool has_y = false;
  GridAxis y;
  std::int64_t nx() const { return x.num; }
  std::int64_t ny() const { return has_y ? y.num : 1; }
  std::int64_t size() const { return nx() * ny(); }
  /// Dataset shape: {nx} for 1D, {ny, nx} for 2D.
  std::vector<std::int64_t> shape() const;
  double alpha(std::int64_t flat) const;
  double beta(std::int64_t flat) const;
};

/// The grid of --x and --y ("" for a 1D grid); InputError naming the option that does not parse.
Grid parse_grid(const std::string& x, const std::string& y);


/// All points, coarse to fine: first those whose indices are multiples of the largest power of
/// two below the grid size (including the last index of each axis), then halving the stride, so
/// that an early prefix is a usable low-resolution surface. This order defines the points of a
/// part (`sweep --part K/N`: every N-th point of it), so it never changes.
/// `centred`: the strides counted from each axis' preview_anchor instead of index 0 (the anchor
/// counts as coarsest, as the ends do, and the anchor point comes first): the order a sweep
/// visits its points in, so that θ* is the first point and every early sub-grid passes through it.
std::vector<std::int64_t> coarse_to_fine(const Grid& g, bool centred = false);

/// The points of part k of n (0-based k; n = 1: the whole grid): every n-th point of the plain
/// coarse-to-fine order from its k-th, as flat indices in that order.
std::vector<std::int64_t> part_points(const Grid& g, std::int64_t k, std::int64_t n);

/// A note for an axis whose range holds 0 strictly inside but not as one of its points (--x
/// -1:1:50): the surface then does not pass through θ*. Empty otherwise (a range that stays off 0,
/// 0.5:1.5:3, is a choice, not a slip). `option` names the axis ("--x"). Also a note for one
/// point of a range (0.5:3:1, whose MAX is not used).
std::string zero_gap_note(const GridAxis& a, const std::string& option);

/// The index of an axis' coordinate nearest 0 (θ*'s line) when 0 lies within the axis, else 0.
std::size_t preview_anchor(const std::vector<double>& coordinates);

/// Whether coordinate i of an axis is θ*'s: 0 to within 1e-6 of the axis' step, as
/// zero_gap_note counts it (--x -0.1:0.5:7 computes -1.4e-17 there); exactly 0 on one point.
bool at_origin(const std::vector<double>& coordinates, std::size_t i);

/// The indices a + k·stride of an axis of n points (a = anchor), plus its first and last index,
/// in increasing order: the lines of a coarse sub-grid.
std::vector<std::size_t> stride_indices(std::size_t n, std::size_t stride, std::size_t anchor = 0);

/// The shortest decimal that reads back as exactly `v` (9.9, not 9.9000000000000004): grid
/// specifications written for a user to copy.
std::string shortest_decimal(double v);

/// `s` read whole as a T (double, long long or int, by std::stod/stoll/stoi): nothing unless it
/// is one number from its first character to its last (empty, white space before or after it,
/// other text: nothing; std::sto* skip leading white space, so " 1" was taken where "1 " was
/// refused). Throws std::out_of_range beyond T's range (for a double, also below its smallest
/// normal value with glibc: 1e-320).
template <class T>
std::optional<T> whole_number(const std::string& s);

}  // namespace losscape
