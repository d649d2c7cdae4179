// Tests of data.hpp: the CIFAR-10 binary and IDX readers against files written here byte by byte,
// normalization, the subset/shard rule, and every bad-input case.
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <set>

#include "losscape/data.hpp"
#include "losscape/error.hpp"
#include "test_support.hpp"

using namespace losscape;
using losscape::test::TempDir;
using losscape::test::put_be32;
using losscape::test::write_bytes;

namespace {

// Deterministic, position-dependent pixel values, so a mix-up of channels, rows or records shows.
std::uint8_t cifar_pixel(int record, int c, int y, int x) {
  return std::uint8_t((record * 37 + c * 101 + y * 7 + x * 3) % 256);
}
std::uint8_t idx_pixel(int image, int y, int x) { return std::uint8_t((image * 29 + y * 11 + x * 5) % 256); }

// One CIFAR-10 record: label byte, then 1024 R, 1024 G, 1024 B bytes, each plane row-major.
std::vector<std::uint8_t> cifar_records(int first, int count) {
  std::vector<std::uint8_t> b;
  for (int r = first; r < first + count; ++r) {
    b.push_back(std::uint8_t(r % 10));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) b.push_back(cifar_pixel(r, c, y, x));
  }
  return b;
}

std::vector<std::uint8_t> idx_images(int n, int rows = 28, int cols = 28, std::uint32_t magic = 0x803) {
  std::vector<std::uint8_t> b;
  put_be32(b, magic);
  put_be32(b, std::uint32_t(n));
  put_be32(b, std::uint32_t(rows));
  put_be32(b, std::uint32_t(cols));
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < rows; ++y)
      for (int x = 0; x < cols; ++x) b.push_back(idx_pixel(i, y, x));
  return b;
}

std::uint8_t idx_label(int i) { return std::uint8_t((i * 3 + 1) % 10); }

std::vector<std::uint8_t> idx_labels(int n, std::uint32_t magic = 0x801) {
  std::vector<std::uint8_t> b;
  put_be32(b, magic);
  put_be32(b, std::uint32_t(n));
  for (int i = 0; i < n; ++i) b.push_back(idx_label(i));
  return b;
}

void write_gz(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile g = gzopen(path.c_str(), "wb");
  REQUIRE(g != nullptr);
  REQUIRE(gzwrite(g, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(g) == Z_OK);
}

// A Fashion-MNIST-like directory: train and t10k files, gzip-compressed unless `plain`.
void write_idx_dir(const TempDir& d, int n_train, int n_test, bool plain) {
  auto put = [&](const std::string& stem, const std::vector<std::uint8_t>& b) {
    if (plain)
      write_bytes(d.file(stem), b);
    else
      write_gz(d.file(stem + ".gz"), b);
  };
  put("train-images-idx3-ubyte", idx_images(n_train));
  put("train-labels-idx1-ubyte", idx_labels(n_train));
  put("t10k-images-idx3-ubyte", idx_images(n_test));
  put("t10k-labels-idx1-ubyte", idx_labels(n_test));
}

// Runs f, which must throw E; returns the message.
template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("expected an exception");
  return {};
}

}  // namespace

TEST_CASE("CIFAR-10 binary records decode to the bytes written", "[data]") {
  TempDir d("cifar");
  write_bytes(d.file("a.bin"), cifar_records(0, 3));
  write_bytes(d.file("b.bin"), cifar_records(3, 2));
  auto raw = read_cifar10_files({d.file("a.bin"), d.file("b.bin")});
  REQUIRE(raw.pixels.sizes() == torch::IntArrayRef({5, 3, 32, 32}));
  REQUIRE(raw.pixels.scalar_type() == torch::kUInt8);
  REQUIRE(raw.labels.scalar_type() == torch::kInt64);
  auto px = raw.pixels.accessor<std::uint8_t, 4>();
  bool all_equal = true;
  for (int r = 0; r < 5; ++r) {
    CHECK(raw.labels[r].item<std::int64_t>() == r % 10);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) all_equal = all_equal && px[r][c][y][x] == cifar_pixel(r, c, y, x);
  }
  CHECK(all_equal);
}

TEST_CASE("IDX images and labels decode, gzip-compressed or plain", "[data]") {
  TempDir d("idx");
  const bool gz = GENERATE(false, true);
  const std::string img = d.file(gz ? "img.gz" : "img"), lab = d.file(gz ? "lab.gz" : "lab");
  if (gz) {
    write_gz(img, idx_images(4, 5, 3));
    write_gz(lab, idx_labels(4));
  } else {
    write_bytes(img, idx_images(4, 5, 3));
    write_bytes(lab, idx_labels(4));
  }
  auto images = read_idx_images(img);
  REQUIRE(images.sizes() == torch::IntArrayRef({4, 1, 5, 3}));
  auto px = images.accessor<std::uint8_t, 4>();
  bool all_equal = true;
  for (int i = 0; i < 4; ++i)
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 3; ++x) all_equal = all_equal && px[i][0][y][x] == idx_pixel(i, y, x);
  CHECK(all_equal);
  auto labels = read_idx_labels(lab);
  REQUIRE(labels.sizes() == torch::IntArrayRef({4}));
  for (int i = 0; i < 4; ++i) CHECK(labels[i].item<std::int64_t>() == idx_label(i));
}

TEST_CASE("normalization constants", "[data]") {
  // CIFAR-10: the reference's per-channel mean/std (reference-notes.md).
  auto [cm, cs] = normalization("cifar10");
  REQUIRE(cm.size() == 3);
  REQUIRE(cs.size() == 3);
  CHECK(cm[0] == 125.3 / 255);
  CHECK(cm[1] == 123.0 / 255);
  CHECK(cm[2] == 113.9 / 255);
  CHECK(cs[0] == 63.0 / 255);
  CHECK(cs[1] == 62.1 / 255);
  CHECK(cs[2] == 66.7 / 255);
  auto [fm, fs] = normalization("fashion-mnist");
  CHECK(fm == std::vector<double>{0.2860});
  CHECK(fs == std::vector<double>{0.3530});
  auto [mm, ms] = normalization("mnist");
  CHECK(mm == std::vector<double>{0.1307});
  CHECK(ms == std::vector<double>{0.3081});
  CHECK_THROWS_AS(normalization("imagenet"), InputError);
  CHECK(data_shape("cifar10").channels == 3);
  CHECK(data_shape("fashion-mnist").height == 28);
  CHECK(default_data_dir("fashion-mnist") == "/usr/share/datasets/fashion-mnist");
}

TEST_CASE("load_split normalizes CIFAR-10 per channel and concatenates the training batches",
          "[data]") {
  TempDir d("cifar-split");
  for (int b = 1; b <= 5; ++b)
    write_bytes(d.file("data_batch_" + std::to_string(b) + ".bin"), cifar_records((b - 1) * 2, 2));
  write_bytes(d.file("test_batch.bin"), cifar_records(100, 3));

  DataSpec spec;
  spec.dataset = "cifar10";
  spec.data_dir = d.str();
  spec.split = "train";
  auto split = load_split(spec);
  REQUIRE(split.size() == 10);
  CHECK(split.total == 10);
  CHECK(split.num_classes == 10);
  REQUIRE(split.images.sizes() == torch::IntArrayRef({10, 3, 32, 32}));
  CHECK(split.images.scalar_type() == torch::kFloat32);
  const double mean[] = {125.3 / 255, 123.0 / 255, 113.9 / 255}, sd[] = {63.0 / 255, 62.1 / 255, 66.7 / 255};
  auto im = split.images.accessor<float, 4>();
  double worst = 0;
  for (int r = 0; r < 10; ++r) {
    CHECK(split.labels[r].item<std::int64_t>() == r % 10);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; y += 5)
        for (int x = 0; x < 32; x += 3) {
          double want = (cifar_pixel(r, c, y, x) / 255.0 - mean[c]) / sd[c];
          worst = std::max(worst, std::abs(im[r][c][y][x] - want));
        }
  }
  CHECK(worst < 1e-5);

  spec.split = "test";
  spec.raw = true;
  auto test = load_split(spec);
  REQUIRE(test.size() == 3);
  CHECK(test.images[1][2][4][5].item<float>() == Approx(cifar_pixel(101, 2, 4, 5) / 255.0).margin(1e-7));
  CHECK(test.labels[2].item<std::int64_t>() == 102 % 10);
}

TEST_CASE("load_split reads a Fashion-MNIST directory, gzip or plain", "[data]") {
  TempDir d("fmnist");
  const bool plain = GENERATE(false, true);
  write_idx_dir(d, 12, 7, plain);
  DataSpec spec;
  spec.dataset = "fashion-mnist";
  spec.data_dir = d.str();
  auto files = split_files("fashion-mnist", d.str(), "test");
  REQUIRE(files.size() == 2);
  CHECK(files[0] == d.file(plain ? "t10k-images-idx3-ubyte" : "t10k-images-idx3-ubyte.gz"));
  auto test = load_split(spec);
  REQUIRE(test.size() == 7);
  REQUIRE(test.images.sizes() == torch::IntArrayRef({7, 1, 28, 28}));
  CHECK(test.images[3][0][10][20].item<float>() ==
        Approx((idx_pixel(3, 10, 20) / 255.0 - 0.2860) / 0.3530).margin(1e-5));
  for (int i = 0; i < 7; ++i) CHECK(test.labels[i].item<std::int64_t>() == idx_label(i));
  spec.split = "train";
  CHECK(load_split(spec).size() == 12);
  spec.dataset = "mnist";  // same file names, MNIST's constants
  spec.split = "test";
  auto mn = load_split(spec);
  CHECK(mn.images[3][0][10][20].item<float>() ==
        Approx((idx_pixel(3, 10, 20) / 255.0 - 0.1307) / 0.3081).margin(1e-5));
}

TEST_CASE("load_split takes the subset and shard select_indices gives", "[data]") {
  TempDir d("subset");
  write_idx_dir(d, 3, 40, false);
  DataSpec spec;
  spec.dataset = "fashion-mnist";
  spec.data_dir = d.str();
  spec.samples = 9;
  spec.subset_seed = 5;
  spec.shard = 1;
  spec.num_shards = 2;
  auto idx = select_indices(40, spec);
  auto split = load_split(spec);
  CHECK(split.total == 40);
  REQUIRE(split.size() == std::int64_t(idx.size()));
  for (std::size_t k = 0; k < idx.size(); ++k) {
    const int i = int(idx[k]);
    CHECK(split.labels[std::int64_t(k)].item<std::int64_t>() == idx_label(i));
    CHECK(split.images[std::int64_t(k)][0][7][9].item<float>() ==
          Approx((idx_pixel(i, 7, 9) / 255.0 - 0.2860) / 0.3530).margin(1e-5));
  }
  CHECK(split.description.find("shard 2/2") != std::string::npos);
}

namespace {
// The rule as docs/data.md and data.hpp state it, written out independently of data.cpp.
std::vector<std::int64_t> documented_subset(std::int64_t total, std::int64_t samples, std::uint64_t seed) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(total));
  std::iota(v.begin(), v.end(), 0);
  std::mt19937_64 g(seed);
  for (std::int64_t i = 0; i < samples; ++i) {
    std::int64_t j = i + std::int64_t(g() % std::uint64_t(total - i));
    std::swap(v[std::size_t(i)], v[std::size_t(j)]);
  }
  v.resize(std::size_t(samples));
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace

TEST_CASE("select_indices: deterministic subsets of size N whose shards partition them", "[data]") {
  DataSpec spec;
  spec.samples = 1000;
  spec.subset_seed = 42;
  auto a = select_indices(60000, spec);
  REQUIRE(a.size() == 1000);
  CHECK(std::is_sorted(a.begin(), a.end()));
  CHECK(std::set<std::int64_t>(a.begin(), a.end()).size() == 1000);
  CHECK(a.front() >= 0);
  CHECK(a.back() < 60000);
  CHECK(a == select_indices(60000, spec));  // same every time
  CHECK(a == documented_subset(60000, 1000, 42));

  DataSpec other = spec;
  other.subset_seed = 43;
  CHECK(select_indices(60000, other) != a);

  // A subset is not just a prefix: it spreads over the split.
  CHECK(a.back() > 30000);

  for (int k : {1, 2, 3, 7, 16}) {
    std::vector<std::int64_t> joined;
    std::size_t smallest = a.size(), largest = 0;
    for (int s = 0; s < k; ++s) {
      DataSpec sh = spec;
      sh.shard = s;
      sh.num_shards = k;
      auto part = select_indices(60000, sh);
      smallest = std::min(smallest, part.size());
      largest = std::max(largest, part.size());
      joined.insert(joined.end(), part.begin(), part.end());
    }
    INFO("shards: " << k);
    CHECK(joined == a);  // contiguous blocks in order: an exact partition
    CHECK(largest - smallest <= 1);
  }

  DataSpec all;
  auto every = select_indices(17, all);
  REQUIRE(every.size() == 17);
  CHECK(every.front() == 0);
  CHECK(every.back() == 16);
  all.samples = 17;  // N equal to the split: the whole split
  CHECK(select_indices(17, all) == every);
  all.num_shards = 4;
  all.shard = 3;
  CHECK(select_indices(17, all) == std::vector<std::int64_t>{12, 13, 14, 15, 16});

  DataSpec bad;
  bad.samples = 18;
  CHECK_THROWS_AS(select_indices(17, bad), InputError);
  bad.samples = -1;
  CHECK_THROWS_AS(select_indices(17, bad), InputError);
  bad.samples = 0;
  bad.num_shards = 2;
  bad.shard = 2;
  CHECK_THROWS_AS(select_indices(17, bad), InputError);
  bad.shard = -1;
  CHECK_THROWS_AS(select_indices(17, bad), InputError);
}

TEST_CASE("bad data files give errors naming the file", "[data]") {
  TempDir d("bad");
  using catch_compat::Contains;

  SECTION("missing CIFAR-10 file") {
    auto f = d.file("data_batch_1.bin");
    CHECK_THAT(error_of<InputError>([&] { read_cifar10_files({f}); }), Contains(f));
  }
  SECTION("truncated CIFAR-10 record") {
    auto f = d.file("test_batch.bin");
    auto b = cifar_records(0, 2);
    b.resize(b.size() - 100);
    write_bytes(f, b);
    auto msg = error_of<FormatError>([&] { read_cifar10_files({f}); });
    CHECK_THAT(msg, Contains(f));
    CHECK_THAT(msg, Contains("truncated"));
  }
  SECTION("empty CIFAR-10 file") {
    auto f = d.file("test_batch.bin");
    write_bytes(f, {});
    CHECK_THAT(error_of<FormatError>([&] { read_cifar10_files({f}); }), Contains(f));
  }
  SECTION("CIFAR-10 label out of range") {
    auto f = d.file("test_batch.bin");
    auto b = cifar_records(0, 3);
    b[2 * 3073] = 10;  // label byte of record 2
    write_bytes(f, b);
    auto msg = error_of<FormatError>([&] { read_cifar10_files({f}); });
    CHECK_THAT(msg, Contains(f));
    CHECK_THAT(msg, Contains("record 2"));
    CHECK_THAT(msg, Contains("label 10"));
  }
  SECTION("missing IDX file") {
    auto f = d.file("t10k-images-idx3-ubyte.gz");
    CHECK_THAT(error_of<InputError>([&] { read_idx_images(f); }), Contains(f));
    CHECK_THAT(error_of<InputError>([&] { read_idx_labels(f); }), Contains(f));
  }
  SECTION("wrong IDX magic") {
    auto img = d.file("img.gz"), lab = d.file("lab");
    write_gz(img, idx_images(2, 28, 28, 0x801));  // a label magic on an image file
    write_bytes(lab, idx_labels(2, 0x803));
    auto m1 = error_of<FormatError>([&] { read_idx_images(img); });
    CHECK_THAT(m1, Contains(img));
    CHECK_THAT(m1, Contains("magic"));
    CHECK_THAT(m1, Contains("0x00000801"));
    auto m2 = error_of<FormatError>([&] { read_idx_labels(lab); });
    CHECK_THAT(m2, Contains(lab));
    CHECK_THAT(m2, Contains("magic"));
    // A gzipped images file in the labels' place inflates far beyond the size its header, read
    // as labels, seems to announce: the magic number is named first (not "inflate to more").
    auto swapped = d.file("t10k-labels-idx1-ubyte.gz");
    write_gz(swapped, idx_images(200));
    CHECK_THAT(error_of<FormatError>([&] { read_idx_labels(swapped); }),
               Contains(swapped + ": wrong IDX magic number 0x00000803 (expected 0x00000801 for labels)"));
  }
  SECTION("truncated IDX files") {
    auto img = d.file("img.gz"), lab = d.file("lab"), tiny = d.file("tiny");
    auto b = idx_images(3);
    b.resize(b.size() - 1);
    write_gz(img, b);
    auto l = idx_labels(5);
    l.resize(l.size() - 2);
    write_bytes(lab, l);
    write_bytes(tiny, {0, 0, 8});
    CHECK_THAT(error_of<FormatError>([&] { read_idx_images(img); }), Contains(img) && Contains("truncated"));
    CHECK_THAT(error_of<FormatError>([&] { read_idx_labels(lab); }), Contains(lab) && Contains("truncated"));
    CHECK_THAT(error_of<FormatError>([&] { read_idx_images(tiny); }), Contains(tiny));
    CHECK_THAT(error_of<FormatError>([&] { read_idx_labels(tiny); }), Contains(tiny));
  }
  SECTION("damaged gzip files") {
    // gzip's own bytes, made by zlib here: a whole member, then damaged copies of it
    const auto plain = idx_labels(6);
    auto whole = d.file("whole.gz");
    write_gz(whole, plain);
    std::ifstream in(whole, std::ios::binary);
    const std::vector<std::uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(read_idx_labels(whole).size(0) == 6);

    auto trailing = d.file("trailing.gz");  // (gzread skipped bytes after the member)
    auto b = gz;
    for (std::uint8_t x : {'j', 'u', 'n', 'k'}) b.push_back(x);
    write_bytes(trailing, b);
    CHECK_THAT(error_of<FormatError>([&] { read_idx_labels(trailing); }),
               Contains(trailing) && Contains("4 bytes that are not gzip data"));

    auto padded = d.file("padded.gz");  // zero bytes after the member: gunzip ignores them
    b = gz;
    b.insert(b.end(), 512, 0);
    write_bytes(padded, b);
    CHECK(read_idx_labels(padded).size(0) == 6);
    b.push_back(1);  // ... but not a non-zero byte among them
    write_bytes(padded, b);
    CHECK_THAT(error_of<FormatError>([&] { read_idx_labels(padded); }),
               Contains(padded) && Contains("513 bytes that are not gzip data"));

    auto cut = d.file("cut.gz");
    write_bytes(cut, std::vector<std::uint8_t>(gz.begin(), gz.end() - 6));
    CHECK_THAT(error_of<FormatError>([&] { read_idx_labels(cut); }),
               Contains(cut) && Contains("truncated gzip data"));

    auto crc = d.file("crc.gz");  // the CRC-32 of the trailer changed
    b = gz;
    b[b.size() - 8] ^= 0xff;
    write_bytes(crc, b);
    CHECK_THAT(error_of<FormatError>([&] { read_idx_labels(crc); }),
               Contains(crc) && Contains("corrupt gzip data"));

    auto two = d.file("two.gz");  // two members are one stream, as gunzip reads them: 6 + 6 labels
    b = gz;
    b.insert(b.end(), gz.begin(), gz.end());
    write_bytes(two, b);
    CHECK_THAT(error_of<FormatError>([&] { read_idx_labels(two); }),
               Contains(two) && Contains(std::to_string(plain.size()) + " bytes follow them"));

    // 6 labels and 64 MiB of zeros after them, 64 kB compressed: refused once the inflated
    // data pass the header's size by a chunk, not inflated whole (a crafted one can be TiBs)
    auto bomb = d.file("bomb.gz");
    b = plain;
    b.resize(b.size() + (std::size_t(64) << 20), 0);
    write_gz(bomb, b);
    CHECK(std::filesystem::file_size(bomb) < (std::size_t(1) << 20));
    CHECK_THAT(error_of<FormatError>([&] { read_idx_labels(bomb); }),
               Contains(bomb) && Contains("inflate to more than the 14 bytes its header announces"));

    // ... and a header announcing more than its gzip data can hold (deflate inflates at most
    // ~1032-fold): 2^32 - 1 labels in a file of a few kB is refused before inflating, not
    // inflated up to what the zeros hold (1 GB from 1 MB set no useful limit)
    auto liar = d.file("liar.gz");
    b = plain;
    for (int k = 4; k < 8; ++k) b[std::size_t(k)] = 0xff;
    b.resize(b.size() + (std::size_t(1) << 20), 0);
    write_gz(liar, b);
    CHECK_THAT(error_of<FormatError>([&] { read_idx_labels(liar); }),
               Contains(liar) && Contains("truncated: its header announces 4294967303 bytes, more than its") &&
                   Contains("bytes of gzip data can hold"));
  }
  SECTION("IDX headers whose counts overflow or are zero") {
    // 0xffffffff images of 0xffff x 0xffff: n * rows * cols wraps around 2^64 to a small number
    auto img = d.file("huge");
    auto b = idx_images(2, 3, 3);
    for (int k = 4; k < 8; ++k) b[std::size_t(k)] = 0xff;
    b[8] = b[12] = 0;
    b[9] = b[13] = 0;
    b[10] = b[11] = b[14] = b[15] = 0xff;
    write_bytes(img, b);
    CHECK_THAT(error_of<FormatError>([&] { read_idx_images(img); }), Contains(img) && Contains("truncated"));
    auto zero = d.file("zero");
    write_bytes(zero, idx_images(2, 0, 3));
    CHECK_THAT(error_of<FormatError>([&] { read_idx_images(zero); }), Contains(zero) && Contains("0x3"));
  }
  SECTION("IDX label out of range") {
    auto lab = d.file("lab.gz");
    auto l = idx_labels(4);
    l[8 + 2] = 200;
    write_gz(lab, l);
    auto msg = error_of<FormatError>([&] { read_idx_labels(lab); });
    CHECK_THAT(msg, Contains(lab));
    CHECK_THAT(msg, Contains("200"));
  }
  SECTION("image and label counts differ") {
    write_idx_dir(d, 2, 3, true);
    write_bytes(d.file("t10k-labels-idx1-ubyte"), idx_labels(4));
    DataSpec spec;
    spec.data_dir = d.str();
    CHECK_THAT(error_of<FormatError>([&] { load_split(spec); }),
               Contains(d.file("t10k-labels-idx1-ubyte")));
  }
  SECTION("missing data directory and missing split files") {
    DataSpec spec;
    spec.dataset = "cifar10";
    spec.data_dir = d.file("nowhere");
    CHECK_THAT(error_of<InputError>([&] { load_split(spec); }), Contains(spec.data_dir));
    spec.data_dir = d.str();
    CHECK_THAT(error_of<InputError>([&] { load_split(spec); }), Contains(d.file("test_batch.bin")));
    spec.dataset = "fashion-mnist";
    CHECK_THAT(error_of<InputError>([&] { load_split(spec); }), Contains("t10k-images-idx3-ubyte"));
  }
  SECTION("unknown data set or split") {
    DataSpec spec;
    spec.dataset = "imagenet";
    CHECK_THAT(error_of<InputError>([&] { load_split(spec); }), Contains("imagenet"));
    CHECK_THROWS_AS(split_files("mnist", d.str(), "validation"), InputError);
  }
}
