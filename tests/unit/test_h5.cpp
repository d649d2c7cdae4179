// Tests of h5.hpp's write_whole: a writer ended by a signal (Ctrl-C, scancel) leaves neither the
// output nor its temporary. Each case runs in a child process, which the signal ends.
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "losscape/h5.hpp"
#include "test_support.hpp"

using namespace losscape;
namespace fs = std::filesystem;

namespace {

// The wait status of a child that runs `body` with SIGINT, SIGTERM and SIGHUP at their default
// (the test runner catches them itself) and exits 0 after it.
int status_in_child(const std::function<void()>& body) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    for (int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, SIG_DFL);
    try {
      body();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return status;
}

}  // namespace

TEST_CASE("write_whole: a signal during the write removes the temporary, then ends the process", "[h5]") {
  const fs::path dir = fs::temp_directory_path() / ("losscape-test-h5-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "out.h5").string();
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    INFO("signal " << sig);
    const int status = status_in_child([&] {
      h5::write_whole(path, h5::own_suffix(".writing"), [&](const std::string& t) {
        std::ofstream(t) << "half a file";
        ::raise(sig);
      });
    });
    CHECK(WIFSIGNALED(status));
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == sig));
    CHECK_FALSE(fs::exists(path));
    CHECK(fs::is_empty(dir));  // (the child's own PID.writing gone)
  }
  // A write_whole inside another's write: a signal after the inner one ended still removes the
  // outer temporary (the inner one's end cleared the outer's name for the handler)
  const std::string inner = (dir / "inner.h5").string();
  int status = status_in_child([&] {
    h5::write_whole(path, h5::own_suffix(".writing"), [&](const std::string& t) {
      std::ofstream(t) << "outer";
      h5::write_whole(inner, h5::own_suffix(".writing"), [](const std::string& t2) { std::ofstream(t2) << "inner"; });
      ::raise(SIGTERM);
    });
  });
  CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM));
  CHECK_FALSE(fs::exists(path));
  CHECK(fs::exists(inner));
  fs::remove(inner);
  CHECK(fs::is_empty(dir));
  // PID 1 of a PID namespace (a container without an init) ignores a signal left at its
  // default: the handler's re-raise is dropped there, and the write went on into the removed
  // file. It ends as the signal would have (exit 128 + 15). Root only: elsewhere not seen.
  status = status_in_child([&] {
    if (::unshare(CLONE_NEWPID) != 0) ::_exit(77);
    const pid_t init = ::fork();
    if (init < 0) ::_exit(78);
    if (init == 0) {  // (PID 1 of the new namespace)
      try {
        h5::write_whole(path, h5::own_suffix(".writing"), [&](const std::string& t) {
          std::ofstream(t) << "half a file";
          ::raise(SIGTERM);
        });
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    int st = 0;
    ::waitpid(init, &st, 0);
    ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st));
  });
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    WARN("not tested as PID 1: no PID namespace of its own for this process (not root)");
  } else {
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM));
    CHECK_FALSE(fs::exists(path));
    CHECK(fs::is_empty(dir));
  }
  // A signal the process handles itself (a sweep's or training's stop) is left to it: the write
  // goes on and ends whole, and the dispositions are as they were after it.
  static volatile std::sig_atomic_t seen = 0;
  status = status_in_child([&] {
    std::signal(SIGTERM, [](int) { seen = 1; });
    h5::write_whole(path, h5::own_suffix(".writing"), [&](const std::string& t) {
      ::raise(SIGTERM);
      std::ofstream(t) << "a whole file";
    });
    struct sigaction hup {};
    ::sigaction(SIGHUP, nullptr, &hup);
    if (!seen || hup.sa_handler != SIG_DFL) ::_exit(4);
  });
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  CHECK(text == "a whole file");
  fs::remove_all(dir);
}
