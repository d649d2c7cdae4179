// `losscape export`: a 2D surface as VTK XML PolyData for ParaView (see docs/plotting.md).
#include <cstdio>
#include <iostream>

#include "common.hpp"
#include "losscape/error.hpp"
#include "losscape/export.hpp"
#include "losscape/grid.hpp"

namespace losscape::cli {

void add_export(CLI::App& root, Registry& reg) {
  struct Opts {
    std::string surface, vtp;
    VtpOptions vtk;
    double zmax = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* app =
      root.add_subcommand("export", "Export a 2D surface to ParaView (VTK XML PolyData, .vtp)");
  app->add_option("surface", o->surface, "Surface file (losscape or the Python reference)")
      ->required();
  app->add_option("--vtp", o->vtp, "Output .vtp file")->required();
  app->add_option("--what", o->vtk.what,
                  "Quantity: train_loss, test_loss, train_acc, test_acc, train_err, test_err, "
                  "eig-ratio (default: train_loss; test_loss for a surface of the test split alone; "
                  "eig-ratio for a file of Hessian maps alone)");
  auto* zmax = app->add_option("--zmax", o->zmax, "Clip values above Z to Z");
  app->add_flag("--log", o->vtk.log, "z = ln(value + 0.1), after clipping");
  app->add_option("--interp", o->vtk.interp,
                  "Resample to an N×N grid (natural cubic splines; keeps the grid's values)");
  reg.push_back({app, [o, zmax]() {
    if (const int rc = refuse_several_ranks("export")) return rc;
    VtpOptions v = o->vtk;
    if (zmax->count()) v.zmax = o->zmax;
    if (v.interp < 0 || v.interp == 1) throw InputError("--interp must be 0 (off) or at least 2");
    if (o->vtp.empty()) throw UsageError("export: --vtp is empty: give the .vtp file to write");
    auto sum = export_vtp(o->surface, o->vtp, v);
    std::cout << o->vtp << ": " << sum.points << " points, " << sum.cells << " quads\n";
    if (sum.missing > sum.below_log)
      std::fprintf(stderr,
                   "losscape: warning: %zu grid %s not computed, or NaN or infinite; %s cells are "
                   "left out of %s\n",
                   sum.missing - sum.below_log, sum.missing - sum.below_log == 1 ? "point is" : "points are",
                   sum.missing - sum.below_log == 1 ? "it and its" : "they and their", o->vtp.c_str());
    if (sum.below_log > 0)
      std::fprintf(stderr,
                   "losscape: warning: %zu grid %s at or below -0.1, where --log's "
                   "ln(z + 0.1) has no value; %s cells are left out of %s\n",
                   sum.below_log, sum.below_log == 1 ? "point is" : "points are",
                   sum.below_log == 1 ? "it and its" : "they and their", o->vtp.c_str());
    // (the reference's h52vtp.py takes a zmax <= 0, its default -1, as "no clipping")
    if (v.zmax && *v.zmax <= 0 && sum.clipped > 0)
      std::fprintf(stderr,
                   "losscape: note: --zmax %s set %zu %s above it to %s (the reference's "
                   "h52vtp.py takes a zmax <= 0 as no clipping; here, leave --zmax out for none)\n",
                   shortest_decimal(*v.zmax).c_str(), sum.clipped, sum.clipped == 1 ? "value" : "values",
                   shortest_decimal(*v.zmax).c_str());
    return 0;
  }});
}

}  // namespace losscape::cli
