#include "losscape/terminal.hpp"

#include <unistd.h>

#include <algorithm>
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

namespace {

// printable_line of the longest prefix of `text` whose printable form fits in `max` bytes, cut
// between whole pieces (a character kept, or a byte's or a control character's escapes); `used`
// gets the bytes of `text` it covers.
std::string printable_prefix(const std::string& text, std::size_t max, std::size_t* used) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  auto escaped = [](const unsigned char* b, std::size_t len) {
    std::string e;
    for (std::size_t k = 0; k < len; ++k) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", unsigned(b[k]));
      e += b[k] == '\n' ? "\\n" : b[k] == '\t' ? "\\t" : b[k] == '\r' ? "\\r" : hex;
    }
    return e;
  };
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    std::string piece;  // the printable form of text[i, i + len)
    std::size_t len = 1;
    if (c < 0x80) {
      // (a backslash doubled, so that the form is read back unambiguously: a real tab and the
      // two characters `\t` of a name do not both show as `\t`)
      piece = c < 0x20 || c == 0x7f ? escaped(p + i, 1) : c == '\\' ? "\\\\" : std::string(1, char(c));
    } else {
      // The length of a UTF-8 sequence led by c, and the range of its second byte (which rules
      // out overlong forms, surrogates and code points past U+10FFFF); 0: no lead byte.
      std::size_t seq = 0;
      unsigned char lo = 0x80, hi = 0xbf;
      if (c >= 0xc2 && c <= 0xdf) seq = 2;
      else if (c >= 0xe0 && c <= 0xef) seq = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
      else if (c >= 0xf0 && c <= 0xf4) seq = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
      bool valid = seq > 0 && i + seq <= n && p[i + 1] >= lo && p[i + 1] <= hi;
      for (std::size_t k = 2; valid && k < seq; ++k) valid = p[i + k] >= 0x80 && p[i + k] <= 0xbf;
      if (!valid) {
        piece = escaped(p + i, 1);
      } else {
        len = seq;
        // (control characters in UTF-8: C1, U+0080..U+009F, which terminals act on like ESC
        // sequences (U+009B is CSI), and the line and paragraph separators U+2028, U+2029)
        const bool c1 = c == 0xc2 && p[i + 1] <= 0x9f;
        const bool separator = c == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9);
        piece = c1 || separator ? escaped(p + i, len) : text.substr(i, len);
      }
    }
    if (out.size() + piece.size() > max) break;
    out += piece;
    i += len;
  }
  if (used) *used = i;
  return out;
}

}  // namespace

std::string printable_line(const std::string& text) {
  return printable_prefix(text, std::string::npos, nullptr);
}

std::string error_line(const std::string& message) {
  constexpr std::size_t kMaxBytes = 8192;  // (two paths of PATH_MAX fit, with the words around)
  std::size_t used = 0;
  std::string text = printable_prefix(message, kMaxBytes, &used);
  if (const std::size_t left = message.size() - used; left > 0)
    text += "... (" + std::to_string(left) + (left == 1 ? " more byte)" : " more bytes)");
  return "losscape: error: " + text;
}

void print_error(const std::string& message) {
  std::fprintf(stderr, "%s\n", error_line(message).c_str());
}

}  // namespace losscape
