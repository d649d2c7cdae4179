// Tests of torch_save.hpp against files written by PyTorch itself (the test Python): every tensor
// read back equals, value for value, what PyTorch wrote, whatever the dict layout, dtype, stride,
// storage sharing or pickle protocol.
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>

#include <fstream>
#include <random>

#include "losscape/error.hpp"
#include "losscape/torch_save.hpp"
#include "test_support.hpp"

using namespace losscape;
using catch_compat::Contains;

namespace {

// Writes the files with PyTorch; for each file also NAME.ref: per tensor a line
// "name dtype shape..." followed by its values as float64 (little-endian), the expected result.
const char* kWriter = R"PY(
import argparse, collections, struct, sys
import numpy as np, torch
out = sys.argv[1] if len(sys.argv) > 1 else OUT
g = torch.Generator().manual_seed(0)

def ref(path, tensors):
    with open(path + '.ref', 'wb') as f:
        for name, t in tensors.items():
            head = ' '.join([name, str(t.dtype).replace('torch.', '')] + [str(s) for s in t.shape])
            f.write(head.encode() + b'\n')
            f.write(t.detach().to(torch.float64).contiguous().numpy().astype('<f8').tobytes())

net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Linear(4, 5))
with torch.no_grad():
    for p in net.parameters():
        p.normal_(generator=g)
    net[1].running_mean.normal_(generator=g)
    net[1].num_batches_tracked.fill_(123456789012)
sd = net.state_dict()  # an OrderedDict with _metadata: what LibTorch 1.13 cannot read
torch.save(sd, out + '/plain.pt'); ref(out + '/plain.pt', sd)

wrapped = {'epoch': 3, 'acc': np.float64(91.5), 'args': argparse.Namespace(lr=0.1, model='x'),
           'optimizer': torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9).state_dict(),
           'state_dict': sd, 'names': ['a', 'b'], 'flags': {1, 2}, 'nothing': None}
torch.save(wrapped, out + '/wrapped.pt'); ref(out + '/wrapped.pt', sd)

base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
odd = collections.OrderedDict([
    ('t', base.t()),                      # non-contiguous view
    ('row', base[2]),                     # view at a storage offset, sharing base's storage
    ('base', base),
    ('half', torch.randn(5, generator=g).half()),
    ('double', torch.randn(2, 2, generator=g, dtype=torch.float64)),
    ('long', torch.tensor([-(2**40), -1, 0, 7])),
    ('int', torch.tensor([-5, 6], dtype=torch.int32)),
    ('byte', torch.tensor([0, 255], dtype=torch.uint8)),
    ('bool', torch.tensor([True, False, True])),
    ('empty', torch.zeros(0, 3)),
    ('scalar', torch.tensor(2.5)),
])
torch.save(odd, out + '/odd.pt'); ref(out + '/odd.pt', odd)
torch.save(odd, out + '/odd_p4.pt', pickle_protocol=4); ref(out + '/odd_p4.pt', odd)
torch.save({'module.' + k: v for k, v in sd.items()}, out + '/dp.pt')
ref(out + '/dp.pt', sd)
torch.save({'model_state_dict': sd, 'optimizer_state_dict': {}}, out + '/tutorial.pt')
ref(out + '/tutorial.pt', sd)
for name, obj, want in (('odd', odd, odd), ('wrapped', wrapped, sd)):  # the legacy format
    for p in (2, 4):
        f = out + '/%s_legacy_p%d.pt' % (name, p)
        torch.save(obj, f, _use_new_zipfile_serialization=False, pickle_protocol=p); ref(f, want)
torch.save({'epoch': 3, 'acc': 90.0}, out + '/no_tensors.pt')
torch.save([torch.zeros(2)], out + '/list.pt')
torch.jit.save(torch.jit.script(net), out + '/script.pt')
cifar = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
torch.jit.save(torch.jit.script(cifar), out + '/script_cifar.pt')
# A state dict beside a dict of 200,000 keys (a vocabulary): the reader's dict index (a search
# per key took minutes here), in both formats.
vocab = {'w%d' % i: i for i in range(200000)}
torch.save({'vocab': vocab, 'state_dict': sd}, out + '/vocab.pt'); ref(out + '/vocab.pt', sd)
f = out + '/vocab_legacy.pt'
torch.save({'vocab': vocab, 'state_dict': sd}, f, _use_new_zipfile_serialization=False); ref(f, sd)
# A legacy file whose list of storages names its first storage twice (the second never read).
import io, pickle
buf = io.BytesIO()
torch.save({'a': torch.ones(2), 'b': torch.zeros(2)}, buf, _use_new_zipfile_serialization=False)
raw = buf.getvalue()
class Skim(pickle.Unpickler):  # reads the pickles without building their objects
    def persistent_load(self, pid): return None
    def find_class(self, module, name): return lambda *a, **k: None
s = io.BytesIO(raw)
for _ in range(4): Skim(s).load()
at = s.tell(); keys = pickle.load(s); assert len(keys) == 2
with open(out + '/dup_storage_legacy.pt', 'wb') as o:
    o.write(raw[:at] + pickle.dumps([keys[0], keys[0]], protocol=2) + s.read())
print('written')
)PY";

struct Expected {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  std::vector<double> values;
};

std::vector<Expected> read_ref(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::vector<Expected> out;
  std::string head;
  while (std::getline(in, head)) {
    std::istringstream h(head);
    Expected e;
    h >> e.name >> e.dtype;
    std::int64_t s, n = 1;
    while (h >> s) {
      e.shape.push_back(s);
      n *= s;
    }
    e.values.resize(std::size_t(n));
    in.read(reinterpret_cast<char*>(e.values.data()), std::streamsize(n * 8));
    out.push_back(std::move(e));
  }
  return out;
}

std::string dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "float32";
    case torch::kFloat64: return "float64";
    case torch::kFloat16: return "float16";
    case torch::kInt64: return "int64";
    case torch::kInt32: return "int32";
    case torch::kUInt8: return "uint8";
    case torch::kBool: return "bool";
    default: return "other";
  }
}

void check_equal(const TensorList& got, const std::vector<Expected>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO(want[i].name);
    CHECK(got[i].name == want[i].name);
    CHECK(dtype_name(got[i].tensor.scalar_type()) == want[i].dtype);
    CHECK(got[i].tensor.sizes().vec() == want[i].shape);
    auto v = got[i].tensor.to(torch::kFloat64).contiguous();
    REQUIRE(v.numel() == std::int64_t(want[i].values.size()));
    const double* p = v.data_ptr<double>();
    bool same = true;
    for (std::size_t k = 0; k < want[i].values.size(); ++k) same = same && p[k] == want[i].values[k];
    CHECK(same);
  }
}

}  // namespace

TEST_CASE("state dicts written by PyTorch read back exactly", "[torch_save][python]") {
  LOSSCAPE_REQUIRE_PYTHON("torch numpy");
  test::TempDir d("torch-save");
  auto r = test::run_python(d, "OUT = '" + d.str() + "'\n" + kWriter);
  INFO(r.out);
  REQUIRE(r.status == 0);

  for (const char* f : {"plain.pt", "wrapped.pt", "odd.pt", "odd_p4.pt", "dp.pt", "tutorial.pt",
                        "odd_legacy_p2.pt", "odd_legacy_p4.pt", "wrapped_legacy_p2.pt",
                        "wrapped_legacy_p4.pt", "vocab.pt", "vocab_legacy.pt"}) {
    INFO(f);
    check_equal(read_torch_state_dict(d.file(f)), read_ref(d.file(std::string(f) + ".ref")));
    // The shapes alone, without reading the data, are those of the full read.
    auto full = read_torch_state_dict(d.file(f));
    auto shapes = torch_state_dict_shapes(d.file(f));
    REQUIRE(shapes.size() == full.size());
    for (std::size_t i = 0; i < full.size(); ++i) {
      CHECK(shapes[i].first == full[i].name);
      CHECK(shapes[i].second == full[i].tensor.sizes().vec());
    }
  }
  // A legacy file larger than the 4 MiB read for its pickles: the shapes of the whole read.
  {
    auto big = test::run_python(d, "import torch\ntorch.save({'w': torch.zeros(3000000), "
                                   "'b': torch.ones(5)}, '" + d.file("big_legacy.pt") +
                                   "', _use_new_zipfile_serialization=False)\n");
    REQUIRE(big.status == 0);
    auto shapes = torch_state_dict_shapes(d.file("big_legacy.pt"));
    REQUIRE(shapes.size() == 2);
    CHECK((shapes[0].first == "w" && shapes[0].second == std::vector<std::int64_t>{3000000}));
    CHECK((shapes[1].first == "b" && shapes[1].second == std::vector<std::int64_t>{5}));
    CHECK(read_torch_state_dict(d.file("big_legacy.pt"))[1].tensor.sum().item<double>() == 5.0);
  }
  // The byte order PyTorch >= 2.1 records in a zip file: "little" reads as before, "big" (its
  // storages' elements byte-swapped, as a big-endian machine writes them) reads the same values,
  // anything else is refused.
  {
    auto z = test::run_python(d, "OUT = '" + d.str() + "'\n" + R"PY(
import pickle, zipfile, numpy as np
src = OUT + '/odd.pt'
zin = zipfile.ZipFile(src)
names = zin.namelist()
prefix = names[0].split('/')[0]
sizes = {}
class Anything:
    def __init__(self, *a, **k): pass
    def __setitem__(self, k, v): pass
    def __setstate__(self, state): pass
class Storages(pickle.Unpickler):
    def find_class(self, module, name):
        return name if name.endswith('Storage') else Anything
    def persistent_load(self, pid):
        sizes[pid[2]] = {'FloatStorage': 4, 'DoubleStorage': 8, 'HalfStorage': 2, 'LongStorage': 8,
                         'IntStorage': 4, 'ByteStorage': 1, 'BoolStorage': 1}[pid[1]]
Storages(zin.open(prefix + '/data.pkl')).load()
assert len(sizes) >= 8, sizes
for order in ('little', 'big', 'middle'):
    with zipfile.ZipFile(OUT + '/odd_%s.pt' % order, 'w', zipfile.ZIP_STORED) as out:
        for n in names:
            data = zin.read(n)
            key = n[len(prefix) + 1:]
            if order == 'big' and key.startswith('data/') and sizes.get(key[5:], 1) > 1:
                data = np.frombuffer(data, dtype='<u%d' % sizes[key[5:]]).byteswap().tobytes()
            out.writestr(n, data)
        out.writestr(prefix + '/byteorder', order)
)PY");
    INFO(z.out);
    REQUIRE(z.status == 0);
    for (const char* f : {"odd_little.pt", "odd_big.pt"}) {
      INFO(f);
      check_equal(read_torch_state_dict(d.file(f)), read_ref(d.file("odd.pt.ref")));
    }
    CHECK_THROWS_WITH(read_torch_state_dict(d.file("odd_middle.pt")),
                      Contains(d.file("odd_middle.pt")) && Contains("unknown byte order 'middle'"));
  }
  // A legacy file's pickles come before its storages: its shapes read without them.
  {
    std::ifstream in(d.file("wrapped_legacy_p2.pt"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t data_bytes = 64 * 4;  // more than the last storage, less than all of them
    REQUIRE(bytes.size() > data_bytes);
    std::ofstream out(d.file("cut_legacy.pt"), std::ios::binary | std::ios::trunc);
    out << bytes.substr(0, bytes.size() - data_bytes);
    out.close();
    CHECK_THROWS_WITH(read_torch_state_dict(d.file("cut_legacy.pt")),
                      Contains(d.file("cut_legacy.pt")) && Contains("truncated"));
    CHECK(torch_state_dict_shapes(d.file("cut_legacy.pt")).size() ==
          read_torch_state_dict(d.file("wrapped_legacy_p2.pt")).size());
  }
  // The BN counter keeps its int64 value beyond 32 bits; views of one storage stay consistent.
  auto plain = read_torch_state_dict(d.file("plain.pt"));
  CHECK(plain[6].name == "1.num_batches_tracked");
  CHECK(plain[6].tensor.item<std::int64_t>() == 123456789012LL);
  CHECK(plain[6].tensor.dim() == 0);
  auto odd = read_torch_state_dict(d.file("odd.pt"));
  CHECK(odd[0].tensor.stride(0) == 1);  // the transpose keeps its strides
  CHECK(odd[1].tensor.is_alias_of(odd[2].tensor));
  auto legacy = read_torch_state_dict(d.file("odd_legacy_p2.pt"));
  CHECK(legacy[0].tensor.stride(0) == 1);
  CHECK(legacy[1].tensor.is_alias_of(legacy[2].tensor));

  CHECK_THROWS_WITH(read_torch_state_dict(d.file("no_tensors.pt")),
                    Contains(d.file("no_tensors.pt")) && Contains("epoch") && Contains("not a state dict"));
  CHECK_THROWS_WITH(read_torch_state_dict(d.file("list.pt")),
                    Contains(d.file("list.pt")) && Contains("list"));
  CHECK_THROWS_AS(read_torch_state_dict(d.file("script.pt")), FormatError);
  CHECK_THROWS_WITH(read_torch_state_dict(d.file("dup_storage_legacy.pt")),
                    Contains(d.file("dup_storage_legacy.pt")) && Contains("twice"));

  // Through load_model: a TorchScript file is a TorchScript model, a state dict needs --arch.
  torch::jit::setTensorExprFuserEnabled(true);
  // (one whose forward cannot take the data set's images is refused naming the file)
  CHECK_THROWS_WITH(load_model(d.file("script.pt"), "", "cifar10"),
                    Contains(d.file("script.pt")) && Contains("fails on a batch of 2 cifar10 images"));
  auto script = load_model(d.file("script_cifar.pt"), "", "cifar10");
  CHECK(script->format == "torchscript");
  // ... whose CPU kernel fusion (LLVM; it never finished compiling a Hessian-vector product with
  // Debian 13's LibTorch 2.6) is off; a move to the CPU keeps it off.
  CHECK_FALSE(torch::jit::tensorExprFuserEnabled());
  script->to(torch::kCPU);
  CHECK_FALSE(torch::jit::tensorExprFuserEnabled());
  CHECK_THROWS_WITH(load_model(d.file("plain.pt"), "", "cifar10"), Contains("--arch"));
}

TEST_CASE("damaged torch.save files give losscape errors and never another exception or a crash",
          "[torch_save][python]") {
  LOSSCAPE_REQUIRE_PYTHON("torch numpy");
  test::TempDir d("torch-save-mutants");
  auto r = test::run_python(d, "OUT = '" + d.str() + "'\n" + kWriter);
  REQUIRE(r.status == 0);
  // Seeded mutations (random or boundary bytes at 1-4 places, or a truncation) of the legacy
  // format at pickle protocols 2 and 4 and of the zip format. An AddressSanitizer build of this
  // loop (12,000 mutants per file) found no memory error.
  std::mt19937_64 g(20261129);
  for (const char* name : {"wrapped_legacy_p2.pt", "wrapped_legacy_p4.pt", "wrapped.pt"}) {
    std::ifstream in(d.file(name), std::ios::binary);
    const std::string orig((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(orig.size() > 100);
    int read = 0, refused = 0;
    std::vector<std::string> escaped;
    for (int i = 0; i < 600; ++i) {
      std::string m = orig;
      if (g() % 4 == 0) {
        m.resize(std::size_t(g() % m.size()));
      } else {
        static const unsigned char boundary[] = {0, 1, 2, 0x10, 0x7f, 0x80, 0xff};
        for (int k = 0, n = 1 + int(g() % 4); k < n; ++k)
          m[std::size_t(g() % m.size())] = char(g() % 2 ? g() & 0xff : boundary[g() % 7]);
      }
      const std::string path = d.file("mutant.pt");
      {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << m;
      }
      try {
        read_torch_state_dict(path);
        ++read;
      } catch (const Error& e) {
        ++refused;
        if (std::string(e.what()).find(path) == std::string::npos) escaped.push_back(e.what());
      } catch (const std::exception& e) {
        escaped.push_back(e.what());
      }
    }
    INFO(name << ": " << read << " read, " << refused << " refused");
    CHECK(escaped.empty());
    if (!escaped.empty()) FAIL_CHECK("first: " << escaped.front().substr(0, 300));
    CHECK(refused > 300);  // most mutants are damaged beyond reading
  }
}

TEST_CASE("files that are not torch.save files", "[torch_save]") {
  test::TempDir d("torch-save-bad");
  test::write_bytes(d.file("junk.pt"), {'P', 'K', 3, 4, 0, 0, 1, 2, 3});
  CHECK_THROWS_WITH(read_torch_state_dict(d.file("junk.pt")),
                    Contains(d.file("junk.pt")) && Contains("not a torch.save zip file"));
  // a pickle, but not torch.save's legacy sequence: no magic number
  test::write_bytes(d.file("pickle.pt"), {0x80, 2, 'K', 5, '.'});
  CHECK_THROWS_WITH(read_torch_state_dict(d.file("pickle.pt")),
                    Contains(d.file("pickle.pt")) && Contains("magic number"));
  test::write_bytes(d.file("text.pt"), {'h', 'e', 'l', 'l', 'o'});
  CHECK_THROWS_WITH(read_torch_state_dict(d.file("text.pt")),
                    Contains(d.file("text.pt")) && Contains("not a torch.save file"));
  CHECK_THROWS_WITH(read_torch_state_dict(d.file("missing.pt")), Contains(d.file("missing.pt")));

  // A legacy file whose tensor's size x stride overflows int64 (2^62 x 2^62): refused by the
  // reader, not handed to LibTorch.
  std::vector<std::uint8_t> b = {0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a,
                                 0xa8, 0x50, 0x19, '.', 0x80, 2, 'M', 0xe9, 3, '.', 0x80, 2, '}', '.'};
  auto text = [&](const std::string& t) { b.insert(b.end(), t.begin(), t.end()); };
  auto str = [&](const std::string& t) {
    b.push_back('U');
    b.push_back(std::uint8_t(t.size()));
    text(t);
  };
  auto big = [&] {  // LONG1 of 2^62
    b.insert(b.end(), {0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x40});
  };
  text("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n((");
  str("storage");
  text("ctorch\nFloatStorage\n");
  str("0");
  str("cpu");
  text("K\x04Nt" "QK");
  b.push_back(0);  // BININT1 0: the storage offset
  text("(");
  big();
  text("K\x02t(");
  big();
  text("K\x01t\x89tR.");
  test::write_bytes(d.file("huge.pt"), b);
  CHECK_THROWS_WITH(read_torch_state_dict(d.file("huge.pt")),
                    Contains(d.file("huge.pt")) && Contains("size and stride overflow"));
}

TEST_CASE("crafted tensor-subclass rebuilds are refused, not recursed into", "[torch_save]") {
  // A legacy file whose object is _rebuild_from_type_v2(*L) with L = [G, 0, L], a list holding
  // itself (81 bytes: the unwrapping recursed until the stack overflowed), and one whose
  // arguments nest 20 deep (files torch.save writes nest one level).
  test::TempDir d("torch-save-rebuild");
  const std::string head("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19." "\x80\x02M\xe9\x03." "\x80\x02}.",
                         15 + 6 + 4);
  const std::string g = "ctorch._tensor\n_rebuild_from_type_v2\n";
  auto write = [&](const std::string& name, const std::string& object) {
    const std::string bytes = head + "\x80\x02" + object + ".";
    test::write_bytes(d.file(name), std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
    return d.file(name);
  };
  const std::string cycle = write("cycle.t7", g + "]q" + std::string(1, '\0') + "(" + g + "K" +
                                                  std::string(1, '\0') + "h" + std::string(1, '\0') + "eR");
  CHECK_THROWS_WITH(read_torch_state_dict(cycle), Contains(cycle) && Contains("not a tuple"));
  std::string nested = g;
  for (int k = 0; k < 20; ++k) nested += "(" + g + "K" + std::string(1, '\0');
  nested += ")";
  for (int k = 0; k < 20; ++k) nested += "t";
  const std::string deep = write("deep.t7", nested + "R");
  CHECK_THROWS_WITH(read_torch_state_dict(deep), Contains(deep) && Contains("nested more than 8 deep"));
}
