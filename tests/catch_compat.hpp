// Catch2 for the tests, v2 (Debian 12: catch2 2.13, single header) or v3 (Debian 13 and later:
// libcatch2-dev 3.x, a library). tests/CMakeLists.txt defines LOSSCAPE_CATCH_MAJOR. The tests
// use the common subset: Approx, SECTION, GENERATE, Catch::Session, and catch_compat::Contains
// (a substring matcher: v3 renamed v2's Catch::Contains to Catch::Matchers::ContainsSubstring and
// gave the name Contains to a range matcher).
#pragma once

#include <string>

#if LOSSCAPE_CATCH_MAJOR >= 3
#include <catch2/catch_all.hpp>
using Catch::Approx;
namespace catch_compat {
inline auto Contains(const std::string& text) { return Catch::Matchers::ContainsSubstring(text); }
}  // namespace catch_compat
#else
#include <catch2/catch.hpp>
namespace catch_compat {
inline auto Contains(const std::string& text) { return Catch::Matchers::Contains(text); }
}  // namespace catch_compat
#endif
