// Small helpers shared by the benchmark programs (bench.cpp, scale.cpp): what a result line says
// about the machine and when it was measured.
#pragma once
#include <mpi.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "losscape/error.hpp"
#include "losscape/mpi.hpp"

namespace losscape::bench {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

inline std::string mpi_library() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, std::size_t(len));
  return s.substr(0, s.find_first_of(",\n"));
}

/// The median of `v` (the mean of the middle two for an even count; 0 for none).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// The current UTC time as 2026-12-03T13:04:29Z.
inline std::string utc_now() {
  char b[32];
  std::time_t t = std::time(nullptr);
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return b;
}

inline std::string host_name() {
  char h[256] = {};
  gethostname(h, sizeof h - 1);
  return h;
}

/// The first 12 characters of /etc/machine-id ("" without it): tells apart machines that share
/// a host name (every lent VM is `vm`), so that the report never compares their runs.
inline std::string machine_id() {
  std::ifstream in("/etc/machine-id");
  std::string id;
  in >> id;
  return id.substr(0, 12);
}

/// Append `j` as one line to the file `path` (nothing when `path` is empty).
inline void append_json_line(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::app);
  out << j.dump() << "\n";
  if (!out) throw InputError(path + ": cannot append the result");
}

/// Why results cannot be appended to `path` ("" when they can, or no path is given): checked
/// before the benchmark runs, not after it (a run's measurements were lost to a folder that
/// does not exist).
inline std::string appendable_problem(const std::string& path) {
  if (path.empty()) return "";
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "--json " + path + ": its folder " + dir.string() + " does not exist";
  if (fs::is_directory(p, ec)) return "--json " + path + ": is a folder";
  const bool exists = fs::exists(p, ec);
  if (::access(exists ? path.c_str() : dir.c_str(), W_OK) != 0)
    return "--json " + path + ": cannot append the results (" + std::strerror(errno) + ")";
  return "";
}

/// Parse the command line, then run `run`: an error on any rank ends the whole job with its
/// message (exit 1). A usage error (CLI11's, or what `check` returns: "" when the arguments are
/// fine) ends it at once with exit 2, as losscape's, its message printed once.
template <class Run>
int parse_and_run(CLI::App& app, int argc, char** argv, Run run,
                  const std::function<std::string()>& check = {}) {
  const bool root = mpi::Comm::world().root();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    if (root) app.exit(e);
    return 2;
  }
  if (check) {
    if (const std::string why = check(); !why.empty()) {
      if (root)
        std::fprintf(stderr, "%s: error: %s\n", std::filesystem::path(argv[0]).filename().c_str(), why.c_str());
      return 2;
    }
  }
  try {
    return run();
  } catch (const std::exception& e) {
    mpi::abort_job(e.what(), 1);
  }
}

}  // namespace losscape::bench
