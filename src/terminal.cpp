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

std::string printable_line(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  auto escape = [&](unsigned char c) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", unsigned(c));
    out += c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : hex;
  };
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) escape(c);
      else out += char(c);
      ++i;
      continue;
    }
    // The length of a UTF-8 sequence led by c, and the range of its second byte (which rules
    // out overlong forms, surrogates and code points past U+10FFFF); 0: no lead byte.
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    bool valid = len > 0 && i + len <= n && p[i + 1] >= lo && p[i + 1] <= hi;
    for (std::size_t k = 2; valid && k < len; ++k) valid = p[i + k] >= 0x80 && p[i + k] <= 0xbf;
    if (!valid) {
      escape(c);
      ++i;
      continue;
    }
    // (control characters in UTF-8: C1, U+0080..U+009F, which terminals act on like ESC
    // sequences (U+009B is CSI), and the line and paragraph separators U+2028, U+2029)
    const bool c1 = c == 0xc2 && p[i + 1] <= 0x9f;
    const bool separator = c == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9);
    if (c1 || separator) {
      for (std::size_t k = 0; k < len; ++k) escape(p[i + k]);
      i += len;
      continue;
    }
    out.append(text, i, len);
    i += len;
  }
  return out;
}

std::string error_line(const std::string& message) {
  constexpr std::size_t kMaxBytes = 8192;  // (two paths of PATH_MAX fit, with the words around)
  std::string text = printable_line(message);
  if (text.size() > kMaxBytes) {
    std::size_t cut = kMaxBytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;  // (UTF-8)
    const std::size_t left = text.size() - cut;
    text.resize(cut);
    text += "... (" + std::to_string(left) + " more bytes)";
  }
  return "losscape: error: " + text;
}

void print_error(const std::string& message) {
  std::fprintf(stderr, "%s\n", error_line(message).c_str());
}

}  // namespace losscape
