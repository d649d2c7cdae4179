#include "losscape/json_config.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace losscape {

nlohmann::json read_json_file(const std::string& path) {
  check_not_special(path, "a JSON file");
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot read config file");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());  // the whole text: nothing may follow the value
  } catch (const nlohmann::json::exception& e) {
    std::string why = e.what();  // without the library's "[json.exception.parse_error.101] "
    if (why.rfind("[json.exception.", 0) == 0 && why.find("] ") != std::string::npos)
      why.erase(0, why.find("] ") + 2);
    throw InputError(path + ": not valid JSON (" + why + ")");
  }
}

}  // namespace losscape
