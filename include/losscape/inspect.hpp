// `losscape info`: descriptions of models, data sets and losscape files as JSON, and their
// plain-text rendering.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "losscape/data.hpp"
#include "losscape/model.hpp"

namespace losscape {

/// Architecture, source, trainable parameter count, every state tensor's name, shape and kind.
nlohmann::json model_info(const Model& m);
/// Both splits' sizes, image shape and class histograms of a data set.
nlohmann::json dataset_info(const std::string& dataset, const std::string& data_dir);
/// A surface file: its identity (grid, values, data, part), points done of its grid or part,
/// whether that is complete, and the runs of its run log.
nlohmann::json surface_info(const std::string& path);
/// Human-readable text of one of the JSON descriptions above (and later ones: "kind" decides).
std::string render_info(const nlohmann::json& info);

}  // namespace losscape
