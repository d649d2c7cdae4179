// Helpers shared by the unit tests: scratch directories, writing small binary files, and calling
// the test Python (Debian's python3 with numpy/h5py) for independent reference values.
#pragma once
#include "catch_compat.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace losscape::test {

/// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("losscape-test-" + tag + "-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  REQUIRE(out.good());
}

/// Appends v as four big-endian bytes (the IDX header fields of MNIST-format files).
inline void put_be32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(std::uint8_t((v >> s) & 0xff));
}

/// Run a shell command and return its standard output and exit status.
struct CommandResult {
  int status = -1;
  std::string out;
};
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  std::size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), got);
  r.status = pclose(p);
  return r;
}

#ifdef LOSSCAPE_TEST_PYTHON
inline const char* test_python() { return LOSSCAPE_TEST_PYTHON; }
#else
inline const char* test_python() { return "/usr/bin/python3"; }
#endif

/// True when the test Python can import all of `modules` (space separated).
inline bool python_has(const std::string& modules) {
  std::string imports;
  for (std::size_t i = 0, j; i < modules.size(); i = j + 1) {
    j = modules.find(' ', i);
    if (j == std::string::npos) j = modules.size();
    imports += "import " + modules.substr(i, j - i) + ";";
  }
  return run_command(std::string(test_python()) + " -c '" + imports + "' 2>/dev/null").status == 0;
}

/// The test Python's modules are dependencies of the suite (cmake/debian-packages.txt): a test
/// case that needs them fails where they are missing, naming them, rather than pass untested.
#define LOSSCAPE_REQUIRE_PYTHON(modules)                                                   \
  do {                                                                                     \
    INFO(losscape::test::test_python() << " must import " << (modules)                     \
                                       << " (Debian: python3-torch python3-h5py python3-numpy)"); \
    REQUIRE(losscape::test::python_has(modules));                                          \
  } while (0)

/// Run a Python script (written to a file in `dir`) with the test Python; returns its stdout.
inline CommandResult run_python(const TempDir& dir, const std::string& script) {
  const std::string path = dir.file("script.py");
  {
    std::ofstream out(path);
    out << script;
  }
  return run_command(std::string(test_python()) + " " + path + " 2>&1");
}

}  // namespace losscape::test
