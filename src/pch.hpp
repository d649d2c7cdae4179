// Precompiled header: the heavy third-party includes every translation unit pays for.
#pragma once
#include <torch/torch.h>
#include <torch/script.h>
#include <nlohmann/json.hpp>
#include <hdf5.h>
#include <mpi.h>
#include <string>
#include <vector>
#include <memory>
