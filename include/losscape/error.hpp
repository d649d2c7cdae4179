// losscape's exception hierarchy and process exit codes.
// Every error a user can cause is an InputError or FormatError whose message names the file and
// what is wrong; main() prints it as one line and returns the matching exit code.
#pragma once
#include <stdexcept>
#include <string>

namespace losscape {

/// Exit codes of the losscape program (documented in docs/usage.md).
enum ExitCode : int {
  kExitOk = 0,          ///< finished: everything asked for is computed
  kExitError = 1,       ///< failed: bad input, I/O or runtime error
  kExitUsage = 2,       ///< command-line usage error
  kExitIncomplete = 75, ///< stopped early by a signal: the output is valid, run again to resume
};

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// Bad user input: a missing file, a wrong option value, a mismatch between files.
class InputError : public Error {
 public:
  using Error::Error;
};
/// A file exists but its content is not what its format requires.
class FormatError : public Error {
 public:
  using Error::Error;
};
/// An MPI call failed or ranks disagree.
class MpiError : public Error {
 public:
  using Error::Error;
};

}  // namespace losscape
