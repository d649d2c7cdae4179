// `losscape project`: coordinates of a run's checkpoints in the plane of (PCA) directions.
#include <cstdio>
#include <filesystem>

#include "common.hpp"
#include "losscape/directions.hpp"
#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "losscape/train.hpp"
#include "losscape/trajectory.hpp"

namespace losscape::cli {

void add_project(CLI::App& root, Registry& reg) {
  struct Opts {
    std::string directions;
    std::vector<std::string> checkpoints;
    TrajectoryModel model{"", "fashion-mnist"};  // (the default shown; else the first checkpoint's)
    std::string method = "auto";
    std::string out;
    bool quiet = false;
    int grid = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand(
      "project", "Project a training run's checkpoints onto the plane of two directions");
  app->add_option("--directions,--dir-file", o->directions,
                  "Direction file (e.g. from directions --pca)")->required();
  app->add_option("--checkpoints,-c", o->checkpoints,
                  "Run folder (its model_<epoch>.h5, or model_<epoch>.t7 torch.save files, in "
                  "epoch order) or checkpoint files in training order; the last is the final "
                  "model")->required();
  app->add_option("--arch,-a", o->model.arch,
                  "Zoo architecture of torch.save checkpoints (losscape's name their own)");
  app->add_option("--dataset,-d", o->model.dataset,
                  std::string("Data set fixing that architecture's input shape (") +
                      kDatasetDefault + "; of the first checkpoint)");
  app->add_option("--method", o->method,
                  "auto: cos for orthonormal directions (PCA's), else lstsq; cos: <d, dir>/|dir| "
                  "(the reference's default; the surface's alpha and beta only for orthonormal "
                  "directions); lstsq: the least-squares coordinates in the plane")
      ->check(CLI::IsMember({"auto", "cos", "lstsq"}))
      ->capture_default_str();
  app->add_option("--out,-o", o->out, "Projection file (default: <directions>_proj_<method>.h5)");
  app->add_flag("--quiet,-q", o->quiet, "Print nothing but errors (and the --grid line)");
  app->add_option("--grid", o->grid,
                  "Also print sweep options of an N x N grid covering the path with a 15 % "
                  "margin, each axis at least 2 wide: --x MIN:MAX:N --y MIN:MAX:N (N at most 31622: "
                  "a sweep takes at most 10^9 points)")
      ->check(CLI::Range(2, 31622));  // (floor(sqrt(kMaxGridPoints)): options the sweep takes)
  reg.push_back({app, [o, app]() {
    if (const int rc = refuse_several_ranks("project")) return rc;
    const auto files = trajectory_files(o->checkpoints);
    if (!files.empty()) default_to_recorded_dataset(*app, files.front(), o->model.dataset);
    auto d = read_directions(o->directions);
    if (!o->out.empty()) h5::check_replaceable(o->out, "projection file", is_projection_file);
    // (`auto` is resolved by the projection, from the Gram of the tensors it projects on: the
    // model's floating-point ones; the direction file's own, which may store an integer buffer
    // as float, chose cos for directions the projection then found not orthonormal)
    auto p = project_trajectory(d, files, o->directions, o->model, o->method);
    const std::string& method = p.method;
    std::string out = o->out;
    if (out.empty()) {
      out = o->directions + "_proj_" + method + ".h5";
      h5::check_replaceable(out, "projection file", is_projection_file);
    }
    if (method == "cos" && p.orthonormal && !*p.orthonormal)
      std::fprintf(stderr,
                   "losscape: warning: %s: the directions are not orthonormal, so the cos "
                   "coordinates are not the alpha and beta of a surface swept with them (plot "
                   "refuses to draw them over one); --method lstsq gives those\n",
                   o->directions.c_str());
    write_projection(out, p, o->directions);
    if (!o->quiet) {
      std::printf("%zu checkpoint%s projected onto %s (%s) -> %s\n", p.x.size(),
                  p.x.size() == 1 ? "" : "s",
                  o->directions.c_str(), method.c_str(), out.c_str());
      if (p.explained_variance_ratio && p.explained_variance_ratio->size() >= 2)
        std::printf("explained variance: 1st PC %.2f %%, 2nd PC %.2f %%\n",
                    100 * (*p.explained_variance_ratio)[0], 100 * (*p.explained_variance_ratio)[1]);
      std::printf("%8s %14s %14s\n", "epoch", "x", "y");
      for (std::size_t k = 0; k < p.x.size(); ++k)
        // (a checkpoint that records no epoch: a torch.save file without "epoch" or model_N name)
        std::printf("%8s %14.6g %14.6g\n",
                    p.epochs[k] < 0 ? "-" : std::to_string(p.epochs[k]).c_str(), p.x[k], p.y[k]);
    }
    if (o->grid > 0) {
      const auto [gx, gy] = grid_covering(p, o->grid);
      if (!o->quiet) std::printf("a grid covering the path: ");
      std::printf("--x %s --y %s\n", gx.c_str(), gy.c_str());
    }
    return 0;
  }});
}

}  // namespace losscape::cli
