// `losscape plot`: the figures of a surface file, rendered by gnuplot (see docs/plotting.md).
#include <algorithm>
#include <iostream>

#include "common.hpp"
#include "losscape/error.hpp"
#include "losscape/plot.hpp"

namespace losscape::cli {

void add_plot(CLI::App& root, Registry& reg) {
  struct Opts {
    std::vector<std::string> surfaces;
    PlotOptions plot;
    double vmin = 0.1, vlevel = 0.5, vmax = 10;
    std::string size = "800x600";
    std::string what, formats = "png,pdf", labels;  // comma lists, split here: CLI11 drops empty items
  };
  // A comma list whose every item is named: "a,,b" or "png," is a slip the list would hide
  auto items = [](const std::string& list, const char* flag) {
    auto out = comma_items(list);
    if (out.empty() || std::find(out.begin(), out.end(), "") != out.end())
      throw InputError(std::string(flag) + " '" + list + "': an empty item (one comma between two)");
    return out;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand(
      "plot",
      "Figures of a surface file through gnuplot: 1D curves, contour maps, heatmaps, 3D "
      "surfaces, trajectories; each with its gnuplot script and data. Several 1D surfaces: "
      "their curves drawn together");
  app->add_option("surface", o->surfaces,
                  "Surface file (losscape or the Python reference); several 1D surfaces are drawn "
                  "together, as NAME_1d_loss_acc and NAME_1d_<quantity> (a curve per file)")
      ->required();
  app->add_option("--what", o->what,
                  "Quantities: train_loss,test_loss,train_acc,test_acc,train_err,test_err,"
                  "eig-ratio or eig_ratio (default: train_loss (+train_err in 1D), +eig-ratio when present)");
  app->add_option("--formats", o->formats, "Image formats: png,pdf,svg")->capture_default_str();
  app->add_option("--out-dir,-o", o->plot.out_dir,
                  "Directory for figures, scripts and data (default: the surface file's)");
  auto* vmin = app->add_option("--vmin", o->vmin,
                               "Lowest contour level and colour value (default per quantity: "
                               "loss 0.1, accuracy/error 0, eig-ratio 0)");
  auto* vlevel = app->add_option("--vlevel", o->vlevel,
                                 "Contour spacing (loss 0.5, accuracy/error 5, eig-ratio 0.1)");
  auto* vmax = app->add_option("--vmax", o->vmax,
                               "Highest contour level, colour value and 3D clip (loss 10, "
                               "accuracy/error 100, eig-ratio 1)");
  app->add_option("--loss-max", o->plot.loss_max, "Upper end of the 1D loss axis")
      ->capture_default_str();
  app->add_flag("--log", o->plot.log, "Logarithmic loss axis / colour scale");
  app->add_option("--trajectory", o->plot.trajectory,
                  "Projection file (proj_xcoord, proj_ycoord) to draw over the contour map");
  app->add_option("--directions", o->plot.directions,
                  "PCA direction file, for the explained variance in the axis labels");
  app->add_option("--aspect", o->plot.aspect,
                  "2D figures: auto (equal axis scales unless one range is over 3 times the "
                  "other), equal (a unit of alpha as long as one of beta) or free (fill the "
                  "plot area)");
  app->add_option("--size", o->size, "Image size in pixels, WIDTHxHEIGHT (PDF: 1/100 inch)")
      ->capture_default_str();
  app->add_option("--labels", o->labels,
                  "Several surfaces: the curves' names in the keys, one per file, separated by "
                  "commas (default: the files' names)");
  // (no default shown: `compare` is several surfaces' alone, one surface's figures take its name)
  app->add_option("--name", o->plot.name,
                  "The figures' name (several surfaces: their common name, default compare; one: "
                  "instead of its file's)");
  app->add_flag("--full-resolution", o->plot.full_resolution,
                "Contour maps and 3D surfaces of every grid line (default: a grid finer than the "
                "picture is drawn on about one line per pixel)");
  reg.push_back({app, [o, app, vmin, vlevel, vmax, items]() {
    if (const int rc = refuse_several_ranks("plot")) return rc;
    PlotOptions p = o->plot;
    if (app->count("--what") > 0) p.what = items(o->what, "--what");
    p.formats = items(o->formats, "--formats");
    if (app->count("--labels") > 0) p.labels = items(o->labels, "--labels");
    if (vmin->count()) p.vmin = o->vmin;
    if (vlevel->count()) p.vlevel = o->vlevel;
    if (vmax->count()) p.vmax = o->vmax;
    p.loss_max_given = app->count("--loss-max") > 0;
    p.name_given = app->count("--name") > 0;
    auto wh = parse_size(o->size);
    p.width = wh[0];
    p.height = wh[1];
    // Each image written, and each note once, however many figures it concerns.
    auto list = [](const std::vector<Figure>& figs) {
      std::vector<std::string> said;
      for (auto& f : figs) {
        for (auto& out : f.outputs) std::cout << out << "\n";
        for (auto& note : f.notes)
          if (std::find(said.begin(), said.end(), note) == said.end()) {
            std::cerr << "losscape: note: " << note << "\n";
            said.push_back(note);
          }
      }
      std::cout.flush();
    };
    std::vector<Figure> figs;
    try {
      figs = plot_surfaces(o->surfaces, p);
    } catch (const PlotFailure& e) {
      list(e.drawn);  // (the figures gnuplot drew beside the failed ones, listed all the same)
      throw Error(e.what());
    }
    list(figs);
    std::cout << figs.size() << " figures; each has its gnuplot script (.gp) and data (.dat) "
              << "next to it\n";
    return 0;
  }});
}

}  // namespace losscape::cli
