#include "losscape/error.hpp"

#include <c10/util/Exception.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <vector>

#include "losscape/terminal.hpp"

// The hierarchy is header-only; this unit keeps the vtables in one place, and one_line.

namespace losscape {

std::string one_line(const std::exception& e, std::size_t max) {
  if (dynamic_cast<const std::bad_alloc*>(&e))  // (its what() is "std::bad_alloc")
    return "out of memory (std::bad_alloc): the options ask for more than this machine has (a "
           "large grid, --batch-size, --samples or Hessian setting, or the process's ulimit -v?)";
  const auto* c10e = dynamic_cast<const c10::Error*>(&e);
  std::string m = c10e ? c10e->what_without_backtrace() : e.what();
  if (const auto plea = m.find("(Could this error message be improved?"); plea != std::string::npos)
    m.erase(plea);
  std::string out;
  for (const char c : m) {
    if (c != '\n' && c != '\r' && c != '\t' && c != ' ') out += c;
    else if (!out.empty() && out.back() != ' ') out += ' ';
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '.')) out.pop_back();
  if (out.size() > max) out = out.substr(0, max) + " ...";
  // LibTorch's allocator failing ("[enforce fail at alloc_cpu.cpp:75] ... can't allocate memory:
  // you tried to allocate N bytes"): said first, as std::bad_alloc is
  if (c10e && out.find("can't allocate memory") != std::string::npos) out = "out of memory: " + out;
  return out;
}

bool is_regular_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::string folder_problem(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto parent = fs::path(path).parent_path();
  if (parent.empty() || fs::is_directory(parent, ec)) {
    // (a read-only mount, or a folder of another user: said before any work, not after it)
    const std::string dir = parent.empty() ? "." : parent.string();
    if (!path.empty() && access(dir.c_str(), W_OK | X_OK) != 0)
      return "cannot write in " + (parent.empty() ? "the current folder" : dir) + " (" + std::strerror(errno) + ")";
    return "";
  }
  // (a/b/c.h5 with a a file: "no such folder a/b" would send the user looking for b)
  for (auto p = parent; !p.empty(); p = p.parent_path()) {
    if (fs::is_directory(p, ec)) break;
    if (fs::exists(p, ec)) return p.string() + " is not a folder";
    if (p == p.parent_path()) break;
  }
  return "no such folder " + parent.string();
}

std::string read_problem(const std::string& path, const std::string& what) {
  if (::access(path.c_str(), R_OK) == 0) return "";
  const int e = errno;
  if (e == ENOENT) return "no such " + what;
  return std::string("cannot be read (") + std::strerror(e) + ")";
}

std::string space_note(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto parent = fs::absolute(path, ec).parent_path();
  const auto space = fs::space(parent, ec);
  if (ec || space.available >= (std::uintmax_t(1) << 20)) return "";
  return " (" + parent.string() + " has " + std::to_string(space.available / 1024) +
         " KiB left: the file system is full)";
}

void check_not_special(const std::string& path, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st) || fs::is_regular_file(st)) return;
  if (fs::is_directory(st)) throw InputError(path + ": is a folder, not " + what);
  throw InputError(path + ": is not a regular file (a FIFO, socket or device); give " + what);
}

namespace {
constexpr int kCrashSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
std::string crash_message;  // written before the handlers are set, read-only while they are
struct sigaction crash_previous[std::size(kCrashSignals)];
bool crash_guarded = false;

extern "C" void on_crash(int) {
  // (async-signal-safe: write(2) and _exit(2) only)
  ssize_t ignored = ::write(STDERR_FILENO, crash_message.data(), crash_message.size());
  (void)ignored;
  ::_exit(kExitError);
}
}  // namespace

CrashGuard::CrashGuard(const std::string& message) {
  if (crash_guarded) return;
  // One alternate stack for the process's lifetime, set on this thread (a thread's own; the
  // guarded call runs on the thread that made the guard).
  static std::vector<char> alt_stack(std::size_t(1) << 18);
  stack_t ss{};
  ss.ss_sp = alt_stack.data();
  ss.ss_size = alt_stack.size();
  if (::sigaltstack(&ss, nullptr) != 0) return;  // (no guard: a crash stays a crash)
  crash_message = error_line(message) + "\n";
  struct sigaction sa{};
  sa.sa_handler = on_crash;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  for (std::size_t i = 0; i < std::size(kCrashSignals); ++i)
    ::sigaction(kCrashSignals[i], &sa, &crash_previous[i]);
  crash_guarded = outer_ = true;
}

CrashGuard::~CrashGuard() {
  if (!outer_) return;
  for (std::size_t i = 0; i < std::size(kCrashSignals); ++i)
    ::sigaction(kCrashSignals[i], &crash_previous[i], nullptr);
  crash_guarded = false;
}

}  // namespace losscape
