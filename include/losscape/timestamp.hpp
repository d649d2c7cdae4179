// The wall-clock time as stored in provenance attributes, run logs and lock files.
#pragma once
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>

namespace losscape {

/// The current UTC time as ISO 8601 to the second, e.g. "2026-11-29T11:49:04Z".
inline std::string utc_now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);  // thread-safe: the lock's heartbeat thread runs alongside
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// A duration for progress lines: "42s" below 90 s, "7m05s" below 90 minutes, else "3h07m";
/// rounded to the unit shown first, so that 479.6 s is "8m00s", never "7m60s". "?" for a negative
/// or non-finite one (no estimate yet).
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  char buf[64];
  if (const double s = std::round(seconds); s < 90) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else if (s < 5400) {
    const long long whole = (long long)s;
    std::snprintf(buf, sizeof buf, "%lldm%02llds", whole / 60, whole % 60);
  } else {
    const double m = std::round(seconds / 60);
    if (m >= 1e15) return "?";  // beyond what a long long holds in minutes: no estimate worth showing
    const long long minutes = (long long)m;
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", minutes / 60, minutes % 60);
  }
  return buf;
}

}  // namespace losscape
