// Figures of a surface file, rendered by gnuplot: 1D loss/accuracy curves, 2D contour maps
// (lines, filled), heatmaps, 3D surfaces, Hessian eigenvalue ratios and PCA trajectories.
// Every figure is written as a standalone gnuplot script plus its data file next to the images,
// so that users can restyle and re-render without losscape; losscape then runs gnuplot on it.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "losscape/error.hpp"

namespace losscape {

/// A surface file as read for plotting and export: grid coordinates, the stored quantities and
/// what is known about the run. Works on losscape's files and on the Python reference's (no
/// `done` mask and no attributes: there a stored -1 means "not computed").
struct SurfaceView {
  std::string path;
  std::vector<double> x, y;  ///< y is empty for a 1D surface
  /// Stored datasets by name (train_loss, train_acc, test_loss, test_acc, max_eig, min_eig), each
  /// of size nx (1D) or ny*nx (2D, row-major [y][x]).
  std::map<std::string, std::vector<double>> data;
  /// The `done` mask (1 = computed) when the file has one; authoritative for loss/accuracy.
  std::optional<std::vector<std::uint8_t>> done;
  std::string arch, dataset, model_file, dir_file;
  std::string loss;  ///< crossentropy or mse, when recorded
  std::string directions_fingerprint;  ///< from the identity (losscape's files), else ""
  std::string model_fingerprint;       ///< θ*'s, from the identity (losscape's files), else ""
  /// The models the directions point to (an interpolation: α = 1 at x_target), as recorded by the
  /// sweep's configuration or, with a given direction file, by that file when it is at hand.
  std::string x_target, y_target;
  std::int64_t samples = 0;

  bool two_d() const { return !y.empty(); }
  std::size_t nx() const { return x.size(); }
  std::size_t ny() const { return two_d() ? y.size() : 1; }
  std::size_t size() const { return nx() * ny(); }
};

/// Read a surface file (losscape or reference layout). Throws FormatError when it is not one.
/// `values` false: the grid and what the file records of the sweep (model, directions, data
/// set, targets) without the value datasets and `done` (info, which has read those already).
SurfaceView read_surface_view(const std::string& path, bool values = true);

/// Quantities a figure or an export can show: the stored losses and accuracies, the errors
/// (100 − accuracy) and `eig-ratio` = |min_eig / max_eig| (Hessian maps).
const std::vector<std::string>& plot_quantities();
/// A quantity's name as plot_quantities spells it: `eig_ratio` (hessian's JSON key) is `eig-ratio`.
std::string canonical_quantity(const std::string& q);
/// Whether the file holds what quantity q needs.
bool has_quantity(const SurfaceView& s, const std::string& q);
/// The split whose quantities a file's default figures (and export) show: "train", or "test" for
/// a file of the test split alone.
std::string default_split(const SurfaceView& s);
/// Values of q at every grid point ([y][x]), NaN where not computed. Throws InputError naming the
/// file when q is unknown or its data is not in the file.
std::vector<double> quantity_values(const SurfaceView& s, const std::string& q);
/// In a file without a done mask (the Python reference's layout), the values whose −1 marks
/// dataset `name`'s points not computed: its own, but max_eig's for min_eig and max_eig (the
/// reference's plot_hessian_eigen starts min_eig at +1, max_eig at −1).
const std::vector<double>& reference_pending_marks(const SurfaceView& s, const std::string& name);
/// How many grid points of q are computed (a computed value may still be NaN).
std::size_t computed_count(const SurfaceView& s, const std::string& q);

/// A PCA trajectory: checkpoints projected onto the two principal directions.
struct ProjectedPath {
  std::vector<double> x, y;                       ///< proj_xcoord, proj_ycoord
  std::vector<std::int64_t> epochs;               ///< the `epochs` attribute, or empty
  /// `epochs` holds the checkpoints' indices from 0 (the projection records no epochs): a point
  /// left out (not finite) keeps the others' numbers
  bool indexed = false;
  std::optional<std::array<double, 2>> variance;  ///< `explained_variance_ratio` attribute
  std::string dir_file;  ///< `dir_file` attribute: the PCA direction file, when recorded
  std::string directions_fingerprint;  ///< `directions_fingerprint` attribute, when recorded
  std::string model_fingerprint;  ///< `model_fingerprint` attribute (the origin's), when recorded
  std::string origin;             ///< the last of the `checkpoints` attribute, when recorded
  std::string method;                  ///< `proj_method` attribute ("cos" when not recorded)
  std::optional<bool> orthonormal;     ///< `orthonormal` attribute, when recorded
};
ProjectedPath read_projected_path(const std::string& path);
/// `explained_variance_ratio_` of a PCA direction file, or nothing when the file lacks it.
std::optional<std::array<double, 2>> read_explained_variance(const std::string& direction_file);

struct PlotOptions {
  /// Quantities to draw (plot_quantities()); empty = train_loss,train_err (1D) or train_loss
  /// (2D), plus eig-ratio when the file has Hessian maps.
  std::vector<std::string> what;
  std::vector<std::string> formats = {"png", "pdf"};  ///< png, pdf, svg
  std::string out_dir;                                ///< default: the surface file's directory
  /// Contour levels vmin:vlevel:vmax, also the colour range; unset = per quantity defaults
  /// (loss 0.1:0.5:10, accuracy/error 0:5:100, eig-ratio 0:0.1:1).
  std::optional<double> vmin, vlevel, vmax;
  double loss_max = 5;            ///< 1D loss axis upper end
  bool loss_max_given = false;    ///< --loss-max was given (refused for a 2D surface)
  bool log = false;               ///< logarithmic value axis / colour scale
  std::string trajectory;         ///< projection file to draw over the contour map
  std::string directions;         ///< PCA direction file, for the explained variance in axis labels
  /// Scale of the maps' axes (contour maps, heatmap, trajectory; not the 3D view): "equal" (a
  /// unit of α as long as one of β: the shape of the basin as it is), "free" (the plot area
  /// filled), "" or "auto" = equal unless one axis's range is more than kMaxEqualAspect times the
  /// other's.
  std::string aspect;
  int width = 800, height = 600;  ///< pixels for PNG and SVG; PDF gets width/100 × height/100 in
  /// Draw every grid line in the contour maps and 3D surfaces; without it a grid finer than the
  /// picture is drawn on about one line per pixel of the plot area (the heatmap always has all).
  bool full_resolution = false;
  /// Several surfaces drawn together (write_comparison): the curves' names in the keys (default:
  /// the files' names) and the figures' common name.
  std::vector<std::string> labels;
  std::string name = "compare";
  bool name_given = false;  ///< --name was given: one surface's figures are named by it, not its file
  /// gnuplot program; empty = $LOSSCAPE_GNUPLOT if set, else `gnuplot` on PATH.
  std::string gnuplot;
};

/// --aspect auto draws equal axis scales up to this ratio of the α and β ranges.
constexpr double kMaxEqualAspect = 3;
/// Whether a 2D figure of ranges {x0, x1, y0, y1} is drawn with equal axis scales (o.aspect).
bool equal_scale(const PlotOptions& o, std::array<double, 4> range);

/// Parse "800x600".
std::array<int, 2> parse_size(const std::string& s);

/// One figure: `dir/name.gp` renders `dir/name.dat` into `dir/name.<format>`.
struct Figure {
  std::string dir, name;
  std::vector<std::string> outputs;  ///< full paths of the images the script writes
  /// Hints for the user (why a contour map is empty, holes, a grid drawn thinned...); several
  /// figures may carry the same one (`losscape plot` prints each once).
  std::vector<std::string> notes;
  std::string script() const { return dir + "/" + name + ".gp"; }
  std::string data() const { return dir + "/" + name + ".dat"; }
};

/// Write the data and script of every figure of `s` (no rendering).
std::vector<Figure> write_figures(const SurfaceView& s, const PlotOptions& o);
/// Write the data and script of the figures of several 1D surfaces (or lines) drawn together in
/// o.out_dir (default: the first one's folder), NAME = o.name: NAME_1d_loss_acc, every surface's
/// loss and accuracy in the colours of one (the reference's plot_1d_loss_err_repeat, for random
/// directions drawn repeatedly), and NAME_1d_<q> for each quantity, a curve per surface in a
/// colour of its own named in the key (o.labels, default the files' names). A 2D surface is
/// refused.
std::vector<Figure> write_comparison(const std::vector<SurfaceView>& surfaces, const PlotOptions& o);
/// The image type a name's extension says, in any case ("png", "pdf" or "svg"), or "": an image's
/// name given for plot's folder or export's VTK file is a slip, refused.
std::string image_type_of(const std::string& path);
/// The gnuplot executable to run (absolute path), or "" when it cannot be found.
std::string find_gnuplot(const PlotOptions& o);
/// Run gnuplot on the figure's script in the figure's directory; throws Error naming the script
/// when gnuplot fails or an expected image is missing.
void render_figure(const Figure& f, const std::string& gnuplot);
/// gnuplot failed on some figures and drew the others (`drawn`, for the caller to list as it
/// lists a whole plot's); the message names the failed scripts and the count drawn.
class PlotFailure : public Error {
 public:
  PlotFailure(const std::string& message, std::vector<Figure> drawn_figures)
      : Error(message), drawn(std::move(drawn_figures)) {}
  std::vector<Figure> drawn;
};
/// Everything `losscape plot` does: read, write all data and scripts (of one surface's figures,
/// or of several surfaces' comparison), then render them all. When gnuplot is missing the data
/// and scripts are still written, then InputError is thrown naming the Debian package gnuplot-nox;
/// when it fails on some figures, PlotFailure.
std::vector<Figure> plot_surfaces(const std::vector<std::string>& files, const PlotOptions& o);
/// plot_surfaces of one file.
std::vector<Figure> plot_surface(const std::string& surface_file, const PlotOptions& o);

}  // namespace losscape
