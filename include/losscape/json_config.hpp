// Reading configuration files (sweep --config, train --config): the whole file as one JSON
// value, and each key with the type its setting has, so that a wrong value is an error naming
// the key instead of a silent conversion ("samples": 1.5 read as 1, "seed": -1 as 2^64 - 1).
#pragma once
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "losscape/error.hpp"

namespace losscape {

/// The JSON value in file `path`: InputError naming the file when it cannot be read (missing,
/// a folder) or is not one JSON value (a syntax error, text after the value).
nlohmann::json read_json_file(const std::string& path);

/// `v` as JSON text for a message, its strings written as they are between quotes (dump() would
/// escape a tab or a backslash, and the error line, printable_line, would escape that again).
std::string shown_json(const nlohmann::json& v);

namespace detail {

inline std::string json_kind(const nlohmann::json& v) {
  if (v.is_number_integer()) return "the integer " + v.dump();
  if (v.is_number()) return "the number " + v.dump();
  if (v.is_string()) return "the string " + shown_json(v);
  if (v.is_boolean()) return v.dump();
  if (v.is_null()) return "null";
  return v.is_array() ? "an array" : "an object";
}

template <class T>
void json_value_into(const nlohmann::json& v, T& dst, const std::string& key) {
  auto bad = [&](const std::string& want) {
    return InputError("config: '" + key + "' must be " + want + ", not " + json_kind(v));
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) throw bad("true or false");
    dst = v.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer()) throw bad("an integer");
    bool fits = false;
    if (v.is_number_unsigned()) {
      fits = v.get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<T>::max());
    } else {  // (a value made in C++ from an int is a signed integer, also when not negative)
      const std::int64_t x = v.get<std::int64_t>();
      if constexpr (std::is_signed_v<T>)
        fits = x >= std::int64_t(std::numeric_limits<T>::min()) &&
               x <= std::int64_t(std::numeric_limits<T>::max());
      else
        fits = x >= 0 && std::uint64_t(x) <= std::uint64_t(std::numeric_limits<T>::max());
    }
    if (!fits)
      throw bad(std::string(std::is_signed_v<T> ? "an integer" : "a non-negative integer") +
                " within the setting's range");
    dst = v.get<T>();
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) throw bad("a number");
    dst = v.get<T>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) throw bad("a string");
    // ("m.h5\u0000x" was cut at the NUL: another file than the text names)
    if (v.get_ref<const std::string&>().find('\0') != std::string::npos)
      throw InputError("config: '" + key + "' holds a NUL character (U+0000)");
    dst = v.get<std::string>();
  } else {  // a vector of the above
    if (!v.is_array()) throw bad("an array");
    dst.clear();
    for (std::size_t i = 0; i < v.size(); ++i) {
      typename T::value_type e{};
      json_value_into(v[i], e, key + "[" + std::to_string(i) + "]");
      dst.push_back(e);
    }
  }
}

}  // namespace detail

/// Reads key `key` of object `j`, when present and not null, into `dst` (bool, an integer type,
/// a floating-point type, std::string, or a vector of these). Throws InputError naming the key
/// (`prefix` + key, e.g. "dir.seed") when the value has another type or does not fit.
template <class T>
void config_get(const nlohmann::json& j, const char* key, T& dst, const std::string& prefix = "") {
  if (!j.contains(key) || j.at(key).is_null()) return;
  detail::json_value_into(j.at(key), dst, prefix + key);
}

}  // namespace losscape
