// Helpers for unit tests that evaluate zoo networks.
#pragma once
#include <string>

#include "losscape/model.hpp"

namespace losscape::test {

/// Non-trivial BatchNorm statistics (running variances in [0.5, 2], means ~ N(0, 0.3²)) and
/// weights moved by N(0, 0.05²) noise, so that eval mode and BatchNorm folding matter.
inline void scramble(Model& m) {
  torch::NoGradGuard g;
  for (auto& t : m.state()) {
    if (t.name.find("running_var") != std::string::npos)
      t.tensor.uniform_(0.5, 2.0);
    else if (t.name.find("running_mean") != std::string::npos)
      t.tensor.normal_(0, 0.3);
    else if (t.tensor.is_floating_point())
      t.tensor.add_(torch::randn_like(t.tensor) * 0.05);
  }
}

}  // namespace losscape::test
