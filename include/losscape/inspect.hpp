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
/// A torch.save state dict given without --arch: its format (zip or legacy), every tensor's name,
/// shape and dtype, and the zoo architectures (with the data set of their input shape) into which
/// it loads.
nlohmann::json state_dict_info(const std::string& path);
/// Both splits' sizes, image shape and class histograms of a data set.
nlohmann::json dataset_info(const std::string& dataset, const std::string& data_dir);
/// A surface file: its identity (grid, values, data, part), points done of its grid or part,
/// whether that is complete, and the runs of its run log (each entry as the sweep wrote it, with
/// its devices, settings and CUDA graph events, without the configuration). With `values`, also
/// the coordinates ("x", "y") and every value array as rows [y][x] ("values": {"train_loss":
/// ...}; −1 where not computed, null for NaN), for scripts without an HDF5 reader.
/// A surface in the Python reference's layout (no format attribute) gives "origin": "reference",
/// its grid ("grid": {"x": "MIN:MAX:NUM", "y": ...}), direction file, each value dataset's
/// computed count (values not −1) and the points with every value computed; `values` as above.
nlohmann::json surface_info(const std::string& path, bool values = false);
/// A projection file: each checkpoint's epoch, file and (x, y) in the plane, the direction file
/// and its explained variance ratio when recorded, and a 21 × 21 grid covering the path.
nlohmann::json projection_info(const std::string& path);
/// Human-readable text of one of the JSON descriptions above (and later ones: "kind" decides).
std::string render_info(const nlohmann::json& info);

}  // namespace losscape
