// Tests of timestamp.hpp: the UTC time stamp's form and the progress lines' durations.
#include <cmath>
#include <regex>
#include <string>

#include "losscape/timestamp.hpp"
#include "test_support.hpp"

using namespace losscape;

TEST_CASE("utc_now_iso is ISO 8601 to the second in UTC", "[timestamp]") {
  CHECK(std::regex_match(utc_now_iso(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
}

TEST_CASE("format_duration: seconds, minutes and seconds, hours and minutes", "[timestamp]") {
  CHECK(format_duration(0) == "0s");
  CHECK(format_duration(42.4) == "42s");
  CHECK(format_duration(89.4) == "89s");
  CHECK(format_duration(89.6) == "1m30s");  // rounded first, then split
  CHECK(format_duration(425) == "7m05s");
  CHECK(format_duration(3600) == "60m00s");
  CHECK(format_duration(5400) == "1h30m");
  CHECK(format_duration(11220) == "3h07m");
  CHECK(format_duration(100 * 3600.0) == "100h00m");
}

TEST_CASE("format_duration carries a rounded-up remainder into the next unit", "[timestamp]") {
  // 479.6 s is 8 minutes: "7m60s" was printed when the minutes were floored and the seconds'
  // remainder rounded on its own
  CHECK(format_duration(479.6) == "8m00s");
  CHECK(format_duration(659.7) == "11m00s");
  CHECK(format_duration(3599.5) == "60m00s");
  CHECK(format_duration(7199.0) == "2h00m");  // 119.98 minutes
  CHECK(format_duration(5399.6) == "1h30m");
  // every value of a range: the seconds field is 00..59, the minutes field of hours 00..59
  for (double s = 90; s < 20000; s += 0.37) {
    const std::string d = format_duration(s);
    const auto unit = d.find(s < 5399.5 ? 'm' : 'h');
    REQUIRE(unit != std::string::npos);
    const int field = std::stoi(d.substr(unit + 1, 2));
    INFO(s << " s -> " << d);
    CHECK(field >= 0);
    CHECK(field <= 59);
    // and the value shown is the duration to within half its last unit
    const double whole = std::stod(d.substr(0, unit));
    const double shown = s < 5399.5 ? whole * 60 + field : (whole * 60 + field) * 60;
    CHECK(std::abs(shown - s) <= (s < 5399.5 ? 0.5 : 30.0));
  }
}

TEST_CASE("format_duration: no estimate is a question mark", "[timestamp]") {
  CHECK(format_duration(-1) == "?");
  CHECK(format_duration(NAN) == "?");
  CHECK(format_duration(INFINITY) == "?");
  CHECK(format_duration(1e300) == "?");
}
