#include "losscape/json_config.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

namespace losscape {

std::string shown_json(const nlohmann::json& v) {
  if (v.is_string()) {  // (a NUL as JSON writes it: the message's what() would end there)
    std::string out = "\"";
    for (char c : v.get<std::string>()) out += c == '\0' ? std::string("\\u0000") : std::string(1, c);
    return out + "\"";
  }
  if (v.is_array()) {
    std::string out = "[";
    for (const auto& e : v) out += (out.size() > 1 ? "," : "") + shown_json(e);
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "{";
    for (const auto& [k, e] : v.items()) out += (out.size() > 1 ? ",\"" : "\"") + k + "\":" + shown_json(e);
    return out + "}";
  }
  return v.dump();
}

nlohmann::json read_json_file(const std::string& path) {
  check_not_special(path, "a JSON file");
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot read config file");
  std::stringstream text;
  text << in.rdbuf();
  // A key given twice in one object is refused (the library keeps the last one silently: a
  // config edited by appending "x" would quietly drop the first).
  std::vector<std::set<std::string>> keys;  // of the objects open at each depth
  std::string twice;
  auto check_keys = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::object_start) keys.emplace_back();
    if (event == nlohmann::json::parse_event_t::object_end) keys.pop_back();
    if (event == nlohmann::json::parse_event_t::key && !keys.back().insert(parsed.get<std::string>()).second &&
        twice.empty())
      twice = parsed.get<std::string>();
    return true;
  };
  try {
    auto j = nlohmann::json::parse(text.str(), check_keys);  // the whole text: nothing may follow
    if (!twice.empty()) throw InputError(path + ": key \"" + twice + "\" is given twice in one object");
    return j;
  } catch (const nlohmann::json::exception& e) {
    std::string why = e.what();  // without the library's "[json.exception.parse_error.101] "
    if (why.rfind("[json.exception.", 0) == 0 && why.find("] ") != std::string::npos)
      why.erase(0, why.find("] ") + 2);
    throw InputError(path + ": not valid JSON (" + why + ")");
  }
}

}  // namespace losscape
