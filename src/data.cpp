#include "losscape/data.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <filesystem>
#include <random>

#include "losscape/error.hpp"
#include "losscape/model.hpp"

namespace fs = std::filesystem;

namespace losscape {

DataShape data_shape(const std::string& dataset) {
  if (dataset == "cifar10") return {3, 32, 32, 10};
  if (dataset == "fashion-mnist" || dataset == "mnist") return {1, 28, 28, 10};
  throw InputError("unknown data set '" + dataset + "' (expected cifar10, fashion-mnist or mnist)");
}

std::string default_data_dir(const std::string& dataset) {
  data_shape(dataset);
  if (dataset == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  if (dataset == "mnist") return "/usr/share/datasets/mnist";
  return "data/cifar-10-batches-bin";
}

std::pair<std::vector<double>, std::vector<double>> normalization(const std::string& dataset) {
  // CIFAR-10: the reference's constants. MNIST-like: the usual per-data-set statistics.
  if (dataset == "cifar10")
    return {{125.3 / 255, 123.0 / 255, 113.9 / 255}, {63.0 / 255, 62.1 / 255, 66.7 / 255}};
  if (dataset == "fashion-mnist") return {{0.2860}, {0.3530}};
  if (dataset == "mnist") return {{0.1307}, {0.3081}};
  data_shape(dataset);
  return {};
}

namespace {
// The names of an IDX data set's two files of a split (images, labels), without ".gz".
std::vector<std::string> idx_stems(const std::string& split) {
  const std::string prefix = split == "train" ? "train" : "t10k";
  return {prefix + "-images-idx3-ubyte", prefix + "-labels-idx1-ubyte"};
}
}  // namespace

std::vector<std::string> split_files(const std::string& dataset, const std::string& dir,
                                     const std::string& split) {
  if (split != "train" && split != "test")
    throw InputError("unknown split '" + split + "' (expected train or test" +
                     (split.find(',') != std::string::npos
                          ? std::string("; this command takes one split: sweep --splits takes "
                                        "several)")
                          : std::string(")")));
  if (dataset == "cifar10") {
    if (split == "test") return {(fs::path(dir) / "test_batch.bin").string()};
    std::vector<std::string> f;
    for (int i = 1; i <= 5; ++i)
      f.push_back((fs::path(dir) / ("data_batch_" + std::to_string(i) + ".bin")).string());
    return f;
  }
  data_shape(dataset);
  auto pick = [&](const std::string& stem) {
    fs::path plain = fs::path(dir) / stem;
    fs::path gz = fs::path(dir) / (stem + ".gz");
    for (const fs::path& p : {plain, gz}) {
      std::error_code ec;  // (a folder that cannot be read: named, not a filesystem_error)
      if (fs::exists(p, ec)) return p.string();
      if (ec) throw InputError(p.string() + ": cannot be read (" + ec.message() + ")");
    }
    throw InputError(gz.string() + ": no such file (nor " + plain.filename().string() + ") in " +
                     dir + "; set --data-dir");
  };
  const auto stems = idx_stems(split);
  return {pick(stems[0]), pick(stems[1])};
}

bool split_absent(const std::string& dataset, const std::string& dir, const std::string& split) {
  std::vector<std::string> names;
  if (dataset == "cifar10") {
    names = split_files(dataset, dir, split);
  } else {
    for (const auto& stem : idx_stems(split))
      for (const std::string ext : {"", ".gz"}) names.push_back((fs::path(dir) / (stem + ext)).string());
  }
  for (const auto& n : names) {
    std::error_code ec;
    if (fs::exists(n, ec) || ec) return false;
  }
  return true;
}

namespace {

// The bytes of a whole file; a file that is missing or cannot be read is named with the reason
// (errno's text: "Permission denied", "Is a directory"...). `what` follows "no such file".
std::vector<std::uint8_t> read_file_bytes(const std::string& file, const std::string& what = "") {
  errno = 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(file.c_str(), "rb"), &std::fclose);
  if (!f) {
    const int e = errno;
    if (e == ENOENT) throw InputError(file + ": no such file" + what);
    throw InputError(file + ": cannot be read (" + std::strerror(e) + ")");
  }
  std::vector<std::uint8_t> out;
  std::error_code ec;
  if (const auto size = fs::file_size(file, ec); !ec) out.reserve(size);
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const std::size_t got = std::fread(chunk, 1, sizeof chunk, f.get());
    out.insert(out.end(), chunk, chunk + got);
    if (got < sizeof chunk) break;
  }
  if (std::ferror(f.get()))
    throw InputError(file + ": read failed (" + std::strerror(errno) + ")");
  return out;
}

}  // namespace

RawImages read_cifar10_files(const std::vector<std::string>& files) {
  constexpr std::int64_t kRecord = 1 + 3072;
  std::vector<std::vector<std::uint8_t>> blobs;
  std::int64_t n = 0;
  for (const auto& f : files) {
    check_not_special(f, "a CIFAR-10 batch file");
    std::vector<std::uint8_t> buf = read_file_bytes(f, " (CIFAR-10 binary version)");
    if (buf.empty()) throw FormatError(f + ": file is empty");
    if (buf.size() % kRecord != 0)
      throw FormatError(f + ": truncated record: size " + std::to_string(buf.size()) +
                        " bytes is not a multiple of the 3073-byte CIFAR-10 record");
    n += std::int64_t(buf.size()) / kRecord;
    blobs.push_back(std::move(buf));
  }
  auto pixels = torch::empty({n, 3, 32, 32}, torch::kUInt8);
  auto labels = torch::empty({n}, torch::kInt64);
  auto* px = pixels.data_ptr<std::uint8_t>();
  auto* lb = labels.data_ptr<std::int64_t>();
  std::int64_t i = 0;
  for (std::size_t b = 0; b < blobs.size(); ++b) {
    const auto& buf = blobs[b];
    for (std::int64_t r = 0; r < std::int64_t(buf.size()) / kRecord; ++r, ++i) {
      const std::uint8_t* rec = buf.data() + r * kRecord;
      if (rec[0] > 9)
        throw FormatError(files[b] + ": record " + std::to_string(r) + " has label " +
                          std::to_string(rec[0]) + ", outside 0..9");
      lb[i] = rec[0];
      std::copy(rec + 1, rec + kRecord, px + i * 3072);
    }
  }
  return {pixels, labels};
}

namespace {

// Reads a whole file; one that starts with gzip's magic bytes is inflated. Several gzip members
// run together are joined, as gunzip does; zero bytes after the last member (a tape's or a
// transfer's padding) are ignored, as gunzip ignores them; other bytes after it are refused
// (zlib's gzread skipped them silently: a damaged or appended file was read as whole).
// `announced(header)`, once `header_bytes` are inflated, is the size the file's header announces
// (or throws, refusing the header): inflating stops soon after it (a small damaged or crafted .gz
// can inflate to gigabytes).
std::vector<std::uint8_t> read_maybe_gz(const std::string& file, std::size_t header_bytes,
                                        const std::function<std::uint64_t(const std::uint8_t*)>& announced) {
  check_not_special(file, "a data file");
  std::vector<std::uint8_t> in = read_file_bytes(file);
  auto gzip_at = [&](std::size_t at) {
    return in.size() >= at + 2 && in[at] == 0x1f && in[at + 1] == 0x8b;
  };
  if (!gzip_at(0)) return in;
  std::vector<std::uint8_t> out;
  std::size_t at = 0;
  while (at < in.size()) {
    if (!gzip_at(at)) {
      if (std::all_of(in.begin() + std::ptrdiff_t(at), in.end(), [](std::uint8_t b) { return b == 0; }))
        break;
      throw FormatError(file + ": " + std::to_string(in.size() - at) +
                        " bytes that are not gzip data follow the compressed data");
    }
    z_stream z{};
    if (inflateInit2(&z, 15 + 16) != Z_OK) throw Error(file + ": zlib inflateInit2 failed");
    std::size_t fed = at;  // (zlib takes at most 4 GiB at a time)
    int rc = Z_OK;
    std::uint8_t chunk[1 << 16];
    while (rc == Z_OK) {
      if (z.avail_in == 0 && fed < in.size()) {
        const std::size_t n = std::min<std::size_t>(in.size() - fed, std::size_t(1) << 30);
        z.next_in = in.data() + fed;
        z.avail_in = uInt(n);
        fed += n;
      }
      z.next_out = chunk;
      z.avail_out = sizeof chunk;
      rc = inflate(&z, Z_NO_FLUSH);
      out.insert(out.end(), chunk, chunk + (sizeof chunk - z.avail_out));
      if (out.size() >= header_bytes) {
        std::uint64_t limit = 0;
        try {  // (which may refuse the header itself)
          limit = announced(out.data());
        } catch (...) {
          inflateEnd(&z);
          throw;
        }
        // (deflate inflates at most ~1032-fold: a header announcing more than this file can
        // hold, 2^32 - 1 images in a 1 MB file, is refused at once; it set no useful limit, and
        // the 1 GB its zeros held were read)
        const std::uint64_t most = 1032 * std::uint64_t(in.size()) + sizeof chunk;
        if (limit > most) {
          inflateEnd(&z);
          throw FormatError(file + ": truncated: its header announces " + std::to_string(limit) +
                            " bytes, more than its " + std::to_string(in.size()) +
                            " bytes of gzip data can hold (a damaged or wrong file)");
        }
        if (out.size() > limit + sizeof chunk) {
          inflateEnd(&z);
          throw FormatError(file + ": its gzip data inflate to more than the " + std::to_string(limit) +
                            " bytes its header announces (a damaged or wrong file)");
        }
      }
    }
    const std::string msg = z.msg ? z.msg : "";
    const std::size_t used = z.total_in;
    inflateEnd(&z);
    if (rc == Z_BUF_ERROR)
      throw FormatError(file + ": truncated gzip data (the compressed stream ends early)");
    if (rc != Z_STREAM_END)
      throw FormatError(file + ": corrupt gzip data (" + (msg.empty() ? "zlib error " + std::to_string(rc) : msg) + ")");
    at += used;
  }
  return out;
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}

// An IDX header's magic number (images 0x803, labels 0x801); checked as soon as the header is
// inflated, so that a gzipped file in the other's place is named as such (it was refused for
// inflating beyond the size its header, read as the wrong kind, seemed to announce).
void check_idx_magic(const std::string& file, const std::uint8_t* header, std::uint32_t expected,
                     const char* kind) {
  const std::uint32_t magic = be32(header);
  if (magic == expected) return;
  char s[64];
  std::snprintf(s, sizeof s, "0x%08x (expected 0x%08x for %s)", unsigned(magic), unsigned(expected), kind);
  throw FormatError(file + ": wrong IDX magic number " + s);
}

}  // namespace

torch::Tensor read_idx_images(const std::string& file) {
  auto buf = read_maybe_gz(file, 16, [&](const std::uint8_t* h) {
    check_idx_magic(file, h, 0x803, "images");
    std::uint64_t pixels = 0;  // (saturating: a damaged header's product can overflow)
    if (__builtin_mul_overflow(std::uint64_t(be32(h + 4)), std::uint64_t(be32(h + 8)), &pixels) ||
        __builtin_mul_overflow(pixels, std::uint64_t(be32(h + 12)), &pixels) || pixels > UINT64_MAX / 2)
      return UINT64_MAX / 2;
    return 16 + pixels;
  });
  if (buf.size() < 16) throw FormatError(file + ": too short for an IDX image header");
  check_idx_magic(file, buf.data(), 0x803, "images");
  std::int64_t n = be32(buf.data() + 4), rows = be32(buf.data() + 8), cols = be32(buf.data() + 12);
  if (rows < 1 || cols < 1 || rows > 65536 || cols > 65536)
    throw FormatError(file + ": header announces images of " + std::to_string(rows) + "x" +
                      std::to_string(cols) + " pixels");
  // compared by division: n * rows * cols of a damaged header can overflow
  if (n > std::int64_t((buf.size() - 16) / std::size_t(rows * cols)))
    throw FormatError(file + ": truncated: header announces " + std::to_string(n) + " images of " +
                      std::to_string(rows) + "x" + std::to_string(cols) + " but the file holds " +
                      std::to_string(buf.size() - 16) + " pixel bytes");
  const std::size_t need = 16 + std::size_t(n * rows * cols);
  if (buf.size() != need)  // (a header that undercounts, or files run together)
    throw FormatError(file + ": header announces " + std::to_string(n) + " images of " +
                      std::to_string(rows) + "x" + std::to_string(cols) + ", but " +
                      std::to_string(buf.size() - need) + " bytes follow them");
  auto t = torch::empty({n, 1, rows, cols}, torch::kUInt8);
  std::copy(buf.begin() + 16, buf.begin() + std::ptrdiff_t(need), t.data_ptr<std::uint8_t>());
  return t;
}

torch::Tensor read_idx_labels(const std::string& file) {
  auto buf = read_maybe_gz(file, 8, [&](const std::uint8_t* h) {
    check_idx_magic(file, h, 0x801, "labels");
    return 8 + std::uint64_t(be32(h + 4));
  });
  if (buf.size() < 8) throw FormatError(file + ": too short for an IDX label header");
  check_idx_magic(file, buf.data(), 0x801, "labels");
  std::int64_t n = be32(buf.data() + 4);
  if (buf.size() < std::size_t(8 + n))
    throw FormatError(file + ": truncated: header announces " + std::to_string(n) +
                      " labels but the file holds " + std::to_string(buf.size() - 8));
  if (buf.size() != std::size_t(8 + n))
    throw FormatError(file + ": header announces " + std::to_string(n) + " labels, but " +
                      std::to_string(buf.size() - std::size_t(8 + n)) + " bytes follow them");
  auto t = torch::empty({n}, torch::kInt64);
  auto* p = t.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint8_t v = buf[std::size_t(8 + i)];
    if (v > 9)
      throw FormatError(file + ": label " + std::to_string(i) + " is " + std::to_string(v) +
                        ", outside 0..9");
    p[i] = v;
  }
  return t;
}

std::vector<std::int64_t> select_indices(std::int64_t total, const DataSpec& spec) {
  if (spec.num_shards < 1 || spec.shard < 0 || spec.shard >= spec.num_shards)
    throw InputError("bad shard " + std::to_string(spec.shard) + " of " +
                     std::to_string(spec.num_shards));
  if (spec.samples < 0) throw InputError(spec.samples_option + " must not be negative");
  std::vector<std::int64_t> idx(static_cast<std::size_t>(total));
  for (std::int64_t i = 0; i < total; ++i) idx[std::size_t(i)] = i;
  if (spec.samples > 0 && spec.samples < total) {
    // Own Fisher-Yates over mt19937_64 (whose output is fixed by the standard), so the subset is
    // the same with every compiler and library, unlike std::shuffle's unspecified algorithm.
    std::mt19937_64 rng(spec.subset_seed);
    for (std::int64_t i = 0; i < spec.samples; ++i) {
      std::uint64_t span = std::uint64_t(total - i);
      std::int64_t j = i + std::int64_t(rng() % span);
      std::swap(idx[std::size_t(i)], idx[std::size_t(j)]);
    }
    idx.resize(std::size_t(spec.samples));
    std::sort(idx.begin(), idx.end());
  } else if (spec.samples > total) {
    throw InputError(spec.samples_option + " " + std::to_string(spec.samples) + " exceeds the " +
                     std::to_string(total) + " samples of the " + spec.split + " split");
  }
  const std::int64_t n = std::int64_t(idx.size());
  const std::int64_t lo = n * spec.shard / spec.num_shards;
  const std::int64_t hi = n * (spec.shard + 1) / spec.num_shards;
  return std::vector<std::int64_t>(idx.begin() + lo, idx.begin() + hi);
}

DataSplit load_split(const DataSpec& spec, const torch::Device& device) {
  DataShape shape = data_shape(spec.dataset);
  std::string dir = spec.data_dir.empty() ? default_data_dir(spec.dataset) : spec.data_dir;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw InputError(dir + (fs::is_regular_file(dir, ec) ? ": is a file" : ": is no folder") +
                     ", not the data directory of " + spec.dataset +
                     " (set --data-dir to the folder holding it)");
  if (!fs::is_directory(dir, ec))
    throw InputError(dir + ": data directory of " + spec.dataset +
                     " does not exist" +
                     (spec.dataset == "fashion-mnist" && spec.data_dir.empty()
                          ? " (apt-get install dataset-fashion-mnist, or set --data-dir)"
                          : " (set --data-dir)"));
  auto files = split_files(spec.dataset, dir, spec.split);
  RawImages raw;
  if (spec.dataset == "cifar10") {
    raw = read_cifar10_files(files);
  } else {
    raw.pixels = read_idx_images(files[0]);
    raw.labels = read_idx_labels(files[1]);
    if (raw.pixels.size(0) != raw.labels.size(0))
      throw FormatError(files[1] + ": has " + std::to_string(raw.labels.size(0)) +
                        " labels but " + files[0] + " has " + std::to_string(raw.pixels.size(0)) +
                        " images");
  }
  if (raw.pixels.size(1) != shape.channels || raw.pixels.size(2) != shape.height ||
      raw.pixels.size(3) != shape.width)
    throw FormatError(files[0] + ": images are not " + std::to_string(shape.height) + "x" +
                      std::to_string(shape.width));
  const std::int64_t total = raw.labels.size(0);
  std::string hash;
  if (spec.fingerprint) {
    std::uint64_t h = kFnvBasis;  // FNV-1a over the pixels' and labels' bytes
    for (const torch::Tensor& t : {raw.pixels.contiguous(), raw.labels.contiguous()})
      h = fnv1a64(t.data_ptr(), std::size_t(t.numel()) * t.element_size(), h);
    hash = fnv1a64_text(h);
  }
  // An empty split has no loss: its mean would be reported (and stored) as 0.
  if (total == 0) throw FormatError(files[0] + ": holds no " + spec.split + " samples");
  auto idx = select_indices(total, spec);
  auto index = torch::from_blob(idx.data(), {std::int64_t(idx.size())}, torch::kInt64).clone();
  auto images = raw.pixels.index_select(0, index).to(torch::kFloat32).div_(255.0);
  if (!spec.raw) {
    auto [mean, std] = normalization(spec.dataset);
    auto m = torch::tensor(mean, torch::kFloat64).to(torch::kFloat32).view({1, -1, 1, 1});
    auto s = torch::tensor(std, torch::kFloat64).to(torch::kFloat32).view({1, -1, 1, 1});
    images.sub_(m).div_(s);
  }
  DataSplit out;
  out.images = images.contiguous().to(device);
  out.labels = raw.labels.index_select(0, index).to(device);
  out.total = total;
  out.fingerprint = hash;
  out.num_classes = shape.classes;
  out.description = spec.dataset + " " + spec.split + " (" + std::to_string(idx.size()) + " of " +
                    std::to_string(total) + " samples" +
                    (spec.num_shards > 1 ? ", shard " + std::to_string(spec.shard + 1) + "/" +
                                               std::to_string(spec.num_shards)
                                         : std::string()) +
                    ")";
  return out;
}

}  // namespace losscape
