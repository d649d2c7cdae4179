// The wall-clock time as stored in provenance attributes, run logs and lock files.
#pragma once
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

}  // namespace losscape
