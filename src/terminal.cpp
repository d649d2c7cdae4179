#include "losscape/terminal.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace losscape {
namespace {

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_STEP_ID"})
    if (std::getenv(v)) return true;
  return false;
}

// fd 1 of the parent process (mpirun or orted) — a terminal device or not.
bool parent_stdout_is_terminal() {
  const std::string link = "/proc/" + std::to_string(getppid()) + "/fd/1";
  char target[256] = {};
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  if (n <= 0) return false;  // not readable (other user, no /proc): assume a log
  return std::strncmp(target, "/dev/pts/", 9) == 0 || std::strncmp(target, "/dev/tty", 8) == 0;
}

}  // namespace

bool stdout_is_terminal() {
  if (const char* forced = std::getenv("LOSSCAPE_PROGRESS")) {
    if (std::strcmp(forced, "bar") == 0) return true;
    if (std::strcmp(forced, "lines") == 0) return false;
  }
  if (!isatty(fileno(stdout))) return false;
  return !launched_by_mpi() || parent_stdout_is_terminal();
}

}  // namespace losscape
