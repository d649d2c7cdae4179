// `losscape merge`: the part files of a fan-out sweep (sweep --part K/N) into one surface file.
#include <cstdio>
#include <regex>

#include "common.hpp"
#include "losscape/error.hpp"
#include "losscape/merge.hpp"
#include "losscape/mpi.hpp"
#include "losscape/stop.hpp"
#include "losscape/terminal.hpp"

namespace losscape::cli {

void add_merge(CLI::App& root, Registry& reg) {
  struct Opts {
    MergeConfig cfg;
    std::string tolerance = "auto";
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand(
      "merge", "Merge the part files of a fan-out sweep (sweep --part K/N) into one surface file");
  app->add_option("parts", o->cfg.parts, "Part files (or whole surfaces) of one sweep")
      ->required();
  app->add_option("--out,-o", o->cfg.out,
                  "Merged surface file (an existing one of the same sweep is merged too)")
      ->required();
  app->add_option("--tolerance", o->tolerance,
                  "Relative difference allowed where parts overlap: auto (1e-6 in fp32, 1e-2 in "
                  "tf32, bf16 and fp16) or a number")
      ->capture_default_str();
  app->add_flag("--quiet,-q", o->quiet, "Print only problems");
  reg.push_back({app, [o]() {
    // (a merge job's time limit or scancel: stopped cleanly, see MergeStopped; before MPI_Init,
    // as for a sweep: a signal during its start-up of Open MPI's daemon killed the merge, 143)
    install_stop_handlers();
    // The merged file is written through the same MPI-IO code as a sweep's, on MPI_COMM_SELF.
    mpi::Environment env(nullptr, nullptr);
    if (mpi::Comm::world().size() > 1) {
      if (mpi::Comm::world().root())
        std::fprintf(stderr, "losscape: error: merge is serial: run it as one process, not "
                             "under mpirun/srun with several ranks\n");
      return int(kExitUsage);
    }
    // A shell glob of the parts (s.part-*.h5) takes in the direction files each part's sweep
    // made beside it (s.part-K-of-N.dirs.h5): left out, said (they were refused as "not a
    // losscape surface file", the merge undone). Named otherwise, a file is an input.
    {
      static const std::regex part_dirs(R"(.*\.part-[0-9]+-of-[0-9]+\.dirs\.h5)");
      std::vector<std::string> parts, left;
      for (auto& p : o->cfg.parts) (std::regex_match(p, part_dirs) ? left : parts).push_back(p);
      if (!left.empty() && !parts.empty()) {
        std::string names;
        for (std::size_t i = 0; i < left.size() && i < 3; ++i) names += (i ? ", " : "") + left[i];
        if (left.size() > 3) names += ", ...";
        if (!o->quiet)
          std::fprintf(stderr, "%s\n",
                       printable_line("losscape: note: " + names +
                                      (left.size() > 1 ? ": the parts' direction files (" + std::to_string(left.size()) +
                                                             "), not parts: left out"
                                                       : std::string(": a part's direction file, not a part: left out")))
                           .c_str());
        o->cfg.parts = parts;
      }
    }
    MergeReport rep;
    try {
      o->cfg.tolerance = parse_merge_tolerance(o->tolerance);
      rep = merge_surfaces(o->cfg);
    } catch (const MergeStopped& e) {
      std::fprintf(stderr, "losscape: interrupted: %s\n", e.what());
      return int(kExitIncomplete);
    } catch (const Error& e) {
      // One line and a clean MPI_Finalize (not MPI_Abort's report) for a user's mistake.
      print_error(e.what());
      return int(kExitError);
    }
    if (!o->quiet) {
      for (auto& in : rep.inputs)
        std::printf("  %s: %s, %lld of its %lld points done, %lld taken%s\n", printable_line(in.path).c_str(),
                    in.part.empty() ? "whole surface" : ("part " + in.part).c_str(),
                    (long long)in.done, (long long)in.part_total, (long long)in.added,
                    in.live ? " (still being written)" : "");
      std::printf("merged %s: %lld of %lld points", printable_line(o->cfg.out).c_str(), (long long)rep.done,
                  (long long)rep.total);
      if (rep.overlapping > 0) {
        std::printf(" (%lld points were in several inputs and agree to %g", (long long)rep.overlapping,
                    rep.tolerance);
        if (rep.eig_tolerance > 0) std::printf(", their eigenvalues to %g (--eig-tol)", rep.eig_tolerance);
        std::printf(")");
      }
      std::printf("\n");
    }
    // A part whose sweep still runs (its lock held): merged as far as it was flushed; said,
    // since a merge job started before its parts ended looks like a finished one otherwise.
    std::string live;
    int n_live = 0;
    for (auto& in : rep.inputs)
      if (in.live && ++n_live <= 3) live += (live.empty() ? "" : ", ") + printable_line(in.path);
    if (n_live > 3) live += ", ... (" + std::to_string(n_live) + " files)";
    if (n_live > 0)
      std::fprintf(stderr,
                   "losscape: note: %s %s still being written by a running sweep (%s lock is "
                   "held): merged with the points flushed so far; merge again when %s\n",
                   live.c_str(), n_live > 1 ? "are" : "is", n_live > 1 ? "their" : "its",
                   n_live > 1 ? "they have ended" : "it has ended");
    if (rep.complete()) return int(kExitOk);
    std::string where;
    for (std::size_t i = 0; i < rep.missing_alpha.size(); ++i) {
      char buf[96];
      if (rep.has_y)
        std::snprintf(buf, sizeof buf, "%s(%.6g, %.6g)", i ? ", " : "", rep.missing_alpha[i],
                      rep.missing_beta[i]);
      else
        std::snprintf(buf, sizeof buf, "%s%.6g", i ? ", " : "", rep.missing_alpha[i]);
      where += buf;
    }
    if (rep.missing.size() > rep.missing_alpha.size()) where += ", ...";
    std::string absent;
    for (std::size_t i = 0; i < rep.absent_parts.size() && i < 10; ++i) absent += (i ? ", " : "") + rep.absent_parts[i];
    if (rep.absent_parts.size() > 10) absent += ", ... (" + std::to_string(rep.absent_parts.size()) + " parts)";
    std::fprintf(stderr,
                 "losscape: %s is incomplete: %lld of %lld points are missing (%s): %s%s; run "
                 "the same `losscape sweep` without --part and with --out %s to compute them\n",
                 printable_line(o->cfg.out).c_str(), (long long)rep.missing.size(), (long long)rep.total,
                 rep.has_y ? "x, y" : "x", where.c_str(),
                 absent.empty() ? "" : ("; no file was given for part " + absent).c_str(),
                 printable_line(o->cfg.out).c_str());
    return int(kExitIncomplete);
  }});
}

}  // namespace losscape::cli
