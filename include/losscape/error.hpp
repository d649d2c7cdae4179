// losscape's exception hierarchy and process exit codes.
// Every error a user can cause is an InputError or FormatError whose message names the file and
// what is wrong; main() prints it as one line and returns the matching exit code.
#pragma once
#include <cstddef>
#include <exception>
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
/// A command line that lacks what the command needs (no model, no --out): exit code 2, like the
/// usage errors the option parser finds.
class UsageError : public InputError {
 public:
  using InputError::InputError;
};
/// A file exists but its content is not what its format requires.
class FormatError : public Error {
 public:
  using Error::Error;
};
/// A file that is no model file of any kind losscape reads (`info` names its other kinds too).
class NotModelFileError : public FormatError {
 public:
  using FormatError::FormatError;
};
/// An MPI call failed or ranks disagree.
class MpiError : public Error {
 public:
  using Error::Error;
};
/// An error every rank saw (agreed between the ranks, see run_agreed): all ranks throw it
/// together, so the job can end with MPI_Finalize and one message from rank 0 instead of
/// MPI_Abort.
class AgreedError : public InputError {
 public:
  /// `usage`: a UsageError on some rank (exit code 2, not 1).
  explicit AgreedError(const std::string& what, bool usage = false)
      : InputError(what), usage_(usage) {}
  bool usage() const { return usage_; }
  int exit_code() const { return usage_ ? kExitUsage : kExitError; }

 private:
  bool usage_;
};
/// An evaluation that the ranks of a data-shard group do together (a pass over their shards, a
/// Hessian-vector product) failed on one of them. The failure is reported within the group's own
/// reduction, so every rank of the group throws this at the same step instead of waiting in a
/// reduction the failed rank never joins. On the rank that failed, what() is its own error and
/// own() is true; on the others, what() says another rank of the group failed.
class GroupEvalError : public Error {
 public:
  GroupEvalError(const std::string& own_error)
      : Error(own_error.empty() ? "the evaluation failed on another rank of this data-shard group"
                                : own_error),
        own_(!own_error.empty()) {}
  bool own() const { return own_; }

 private:
  bool own_;
};

/// An exception's message on one line, for "losscape: error: ..." and the run log: LibTorch's
/// (c10::Error) without its C++ backtrace and its request to report the message, white space
/// (newlines of a TorchScript compiler's quoted source, of a multi-line check) collapsed to
/// single spaces, a trailing period dropped, at most `max` characters.
std::string one_line(const std::exception& e, std::size_t max = 600);

/// True when `path` names a regular file (links followed).
bool is_regular_file(const std::string& path);
/// Refuses, in an InputError naming it, an input `path` that exists but is no regular file: a
/// folder, or a FIFO, socket or device (opening a FIFO to read it blocks until some other process
/// writes to it: forever). A path that does not exist passes; its reader says so in its words.
/// `what` names the input expected, with its article ("a model file").
void check_not_special(const std::string& path, const std::string& what);
/// What keeps an output `path` from being written in its folder, for "PATH: " + it: "no such
/// folder FOLDER", "FOLDER is not a folder" (a file), or "cannot write in FOLDER (Read-only file
/// system)" (access(2)); "" when it can be written there, or `path` names none.
std::string folder_problem(const std::string& path);
/// What keeps an input `path` from being read, for "PATH: " + it: "no such WHAT" (`what`: "file",
/// "model file"), or "cannot be read (Permission denied)" (access(2): the file, or a folder on the
/// way that cannot be searched); "" when it can be read.
std::string read_problem(const std::string& path, const std::string& what);
/// Why a write to `path` may have failed when its folder's file system is (nearly) full, for
/// appending to a message: " (FOLDER has N KiB left: the file system is full)"; "" otherwise.
std::string space_note(const std::string& path);

/// While a CrashGuard lives, a crash inside a library reading an input (SIGSEGV, SIGBUS, SIGFPE,
/// SIGILL: LibTorch's recursive TorchScript parser overflows the stack on code nested 10,000
/// deep) ends the process with the one error line `message` (prepared here, shown as print_error
/// shows it) and exit code 1, instead of a core dump and exit 139 with no word of which file.
/// The handler runs on an alternate stack of its own (a stack overflow leaves none). Guards do
/// not nest: an inner one keeps the outer one's message. Not for code of our own, whose crash
/// is a bug to see as one.
class CrashGuard {
 public:
  explicit CrashGuard(const std::string& message);
  ~CrashGuard();
  CrashGuard(const CrashGuard&) = delete;
  CrashGuard& operator=(const CrashGuard&) = delete;

 private:
  bool outer_ = false;
};

}  // namespace losscape
