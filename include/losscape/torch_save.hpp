// Reading files written by PyTorch's torch.save (the zip format of PyTorch >= 1.6 and the legacy
// format before it) without Python: a small unpickler for the part of pickle that state dicts and
// training checkpoints use.
// LibTorch's own torch::pickle_load cannot read state dicts: before PyTorch 2.6 its unpickler
// turns every collections.OrderedDict, which is what Module.state_dict() returns, into None
// (pytorch/pytorch#100741).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "losscape/model.hpp"

namespace losscape {

/// The named tensors of a state dict saved with torch.save, in file order, on the CPU with the
/// dtypes, shapes and strides they were saved with: the top-level dict when its values are
/// tensors, else its "state_dict" entry (the reference's checkpoints: {'state_dict': ...,
/// 'epoch': ..., 'acc': ...}) or "model_state_dict" entry. A "module." prefix left by
/// nn.DataParallel is removed. Other objects in the file (optimizer states, numbers, argparse
/// namespaces, numpy scalars) are skipped. Throws FormatError naming `path` when the file is not
/// a torch.save file (zip or legacy), is truncated, or holds no state dict.
/// `epoch`, when given, receives the integer 'epoch' entry beside the state dict (the
/// reference's model_<N>.t7 record N), or -1 when the file has none.
TensorList read_torch_state_dict(const std::string& path, std::int64_t* epoch = nullptr);

/// The names and shapes of the state dict read_torch_state_dict would return, without reading
/// the tensors' data (for a legacy file only its pickles are read): what a file is, cheaply.
/// Throws as read_torch_state_dict does, except that storages are not checked against the file.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> torch_state_dict_shapes(
    const std::string& path);

/// What a PyTorch file is, by its first bytes: "zip" (torch.save, PyTorch >= 1.6), "legacy"
/// (torch.save before, a sequence of pickles), "torchscript" (torch.jit.save: a zip holding
/// constants.pkl) or "" (none of these).
std::string torch_file_kind(const std::string& path);

}  // namespace losscape
