#include "losscape/inspect.hpp"

#include <iomanip>
#include <set>
#include <sstream>

namespace losscape {

nlohmann::json model_info(const Model& m) {
  nlohmann::json j;
  j["kind"] = "model";
  j["arch"] = m.arch;
  j["source"] = m.source;
  j["format"] = m.format;
  j["input_shape"] = m.input_shape;
  j["num_classes"] = m.num_classes;
  j["parameters"] = m.parameter_count();
  std::set<std::string> params;
  for (auto& p : m.parameters()) params.insert(p.name);
  j["tensors"] = nlohmann::json::array();
  for (auto& t : m.state())
    j["tensors"].push_back({{"name", t.name},
                            {"shape", t.tensor.sizes().vec()},
                            {"kind", params.count(t.name) ? "parameter" : "buffer"}});
  j["fingerprint"] = fingerprint(m.parameters());
  return j;
}

nlohmann::json dataset_info(const std::string& dataset, const std::string& data_dir) {
  nlohmann::json j;
  j["kind"] = "dataset";
  j["dataset"] = dataset;
  j["data_dir"] = data_dir.empty() ? default_data_dir(dataset) : data_dir;
  auto shape = data_shape(dataset);
  j["image_shape"] = {shape.channels, shape.height, shape.width};
  j["num_classes"] = shape.classes;
  for (const char* split : {"train", "test"}) {
    DataSpec spec;
    spec.dataset = dataset;
    spec.data_dir = data_dir;
    spec.split = split;
    auto d = load_split(spec);
    auto hist = torch::bincount(d.labels, {}, shape.classes);
    std::vector<std::int64_t> h(hist.data_ptr<std::int64_t>(), hist.data_ptr<std::int64_t>() + hist.numel());
    j["splits"][split] = {{"samples", d.size()},
                          {"files", split_files(dataset, j["data_dir"], split)},
                          {"class_histogram", h},
                          {"mean", d.images.mean().item<double>()},
                          {"std", d.images.std().item<double>()}};
  }
  return j;
}

namespace {
std::string shape_text(const nlohmann::json& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i].get<long long>());
  return out + "]";
}
}  // namespace

std::string render_info(const nlohmann::json& j) {
  std::ostringstream o;
  const std::string kind = j.value("kind", "");
  if (kind == "model") {
    o << "model        " << j["source"].get<std::string>() << " (" << j["format"].get<std::string>() << ")\n"
      << "architecture " << j["arch"].get<std::string>() << "\n"
      << "input        " << shape_text(j["input_shape"]) << ", " << j["num_classes"] << " classes\n"
      << "parameters   " << j["parameters"] << " trainable\n"
      << "fingerprint  " << j["fingerprint"].get<std::string>() << "\n"
      << "tensors      " << j["tensors"].size() << " (state-dict order)\n";
    for (auto& t : j["tensors"])
      o << "  " << std::left << std::setw(44) << t["name"].get<std::string>() << std::setw(22)
        << shape_text(t["shape"]) << t["kind"].get<std::string>() << "\n";
  } else if (kind == "dataset") {
    o << "data set     " << j["dataset"].get<std::string>() << " in " << j["data_dir"].get<std::string>() << "\n"
      << "images       " << shape_text(j["image_shape"]) << ", " << j["num_classes"] << " classes\n";
    for (auto& [split, s] : j["splits"].items()) {
      o << split << ": " << s["samples"] << " samples, normalized mean " << std::setprecision(4)
        << s["mean"].get<double>() << " std " << s["std"].get<double>() << "\n  classes:";
      for (auto& c : s["class_histogram"]) o << " " << c;
      o << "\n";
    }
  } else if (kind == "directions") {
    o << "directions   " << j.value("file", std::string()) << ": " << j["dims"] << " direction(s) over "
      << j["type"].get<std::string>() << "\n"
      << "settings     " << j["settings"].dump() << "\n"
      << "fingerprint  " << j["model_fingerprint"].get<std::string>() << " (of the model's θ*)\n";
    if (j.contains("cosine_xy"))
      o << "cos(x, y)    " << std::setprecision(4) << j["cosine_xy"].get<double>() << "\n";
    if (j.contains("explained_variance_ratio"))
      o << "PCA          explained variance ratio " << j["explained_variance_ratio"].dump() << "\n";
    for (auto& [axis, arr] : j["tensors"].items()) {
      o << axis << ":\n  " << std::left << std::setw(6) << "#" << std::setw(40) << "name"
        << std::setw(22) << "shape" << std::setw(12) << "norm" << "norm/|θ|\n";
      for (auto& t : arr) {
        o << "  " << std::setw(6) << t["index"].get<long long>() << std::setw(40)
          << t["name"].get<std::string>() << std::setw(22) << shape_text(t["shape"]) << std::setw(12)
          << std::setprecision(5) << t["norm"].get<double>();
        if (t.contains("ratio")) o << std::setprecision(5) << t["ratio"].get<double>();
        o << "\n";
      }
    }
  } else {
    o << j.dump(2) << "\n";
  }
  return o.str();
}

}  // namespace losscape
