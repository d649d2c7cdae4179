#include "losscape/torch_save.hpp"

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include "losscape/error.hpp"

namespace losscape {
namespace {

// A Python value as far as losscape cares: containers, scalars, tensors, and opaque objects.
struct Obj;
using Ref = std::shared_ptr<Obj>;
struct Obj {
  enum class Kind { none, boolean, integer, real, string, tuple, list, dict, tensor, storage, global, other };
  Kind kind = Kind::none;
  std::int64_t i = 0;
  double f = 0;
  std::string s;           ///< string value; "module.name" of a global; class of an opaque object
  std::vector<Ref> items;  ///< tuple/list elements; dict: key, value, key, value, ...
  torch::Tensor t;         ///< tensor; storage (1-d, the storage's dtype)
  /// dict: where each string key stands in `items`, built at the first SETITEM(S) (a search of
  /// the items per key made a dict of N keys cost N^2/2 comparisons: minutes for 400,000 keys).
  std::unordered_map<std::string, std::size_t> key_at;
  bool keyed = false;

  Obj() = default;
  Obj(const Obj&) = delete;
  Obj& operator=(const Obj&) = delete;
  // Nested containers are released one after the other, not recursively: a crafted pickle of
  // lists nested 200,000 deep (400 kB) overflowed the stack when each list released its items.
  ~Obj() {
    std::vector<Ref> pending = std::move(items);
    while (!pending.empty()) {
      Ref r = std::move(pending.back());
      pending.pop_back();
      if (r && r.use_count() == 1)
        for (auto& c : r->items) pending.push_back(std::move(c));
      // r, its items moved out, is released here
    }
  }
};

Ref make(Obj::Kind k) {
  auto o = std::make_shared<Obj>();
  o->kind = k;
  return o;
}
Ref make_string(std::string s) {
  auto o = make(Obj::Kind::string);
  o->s = std::move(s);
  return o;
}
Ref make_other(std::string cls) {
  auto o = make(Obj::Kind::other);
  o->s = std::move(cls);
  return o;
}

const char* kind_name(Obj::Kind k) {
  switch (k) {
    case Obj::Kind::none: return "None";
    case Obj::Kind::boolean: return "bool";
    case Obj::Kind::integer: return "int";
    case Obj::Kind::real: return "float";
    case Obj::Kind::string: return "str";
    case Obj::Kind::tuple: return "tuple";
    case Obj::Kind::list: return "list";
    case Obj::Kind::dict: return "dict";
    case Obj::Kind::tensor: return "tensor";
    case Obj::Kind::storage: return "storage";
    case Obj::Kind::global: return "class or function";
    case Obj::Kind::other: return "object";
  }
  return "?";
}

// torch.<Name>Storage (what torch.save records for a typed storage) to its dtype.
std::optional<torch::ScalarType> storage_dtype(const std::string& global) {
  static const std::map<std::string, torch::ScalarType> types = {
      {"torch.FloatStorage", torch::kFloat32},   {"torch.DoubleStorage", torch::kFloat64},
      {"torch.HalfStorage", torch::kFloat16},    {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kInt64},      {"torch.IntStorage", torch::kInt32},
      {"torch.ShortStorage", torch::kInt16},     {"torch.CharStorage", torch::kInt8},
      {"torch.ByteStorage", torch::kUInt8},      {"torch.BoolStorage", torch::kBool},
      {"torch.UntypedStorage", torch::kUInt8},   {"torch.storage.UntypedStorage", torch::kUInt8}};
  auto it = types.find(global);
  if (it == types.end()) return std::nullopt;
  return it->second;
}

// Where a storage's bytes come from: given the storage's key, dtype and element count, a 1-d
// tensor of that dtype and size (filled now, or later but before the tensors are used).
using StorageSource =
    std::function<torch::Tensor(const std::string& key, torch::ScalarType dtype, std::int64_t numel)>;

// The pickle virtual machine (https://docs.python.org/3/library/pickle.html, pickletools.py for
// the opcodes) for protocols 2 to 4, binary opcodes only, as torch.save writes them (Python 2's
// too). Globals are not imported: the few that build tensors and dicts are interpreted, every
// other class or function call yields an opaque object, so unknown parts of a checkpoint do no
// harm.
class Unpickler {
 public:
  Unpickler(std::string path, const char* data, std::size_t size, StorageSource storage)
      : path_(std::move(path)), begin_(data), p_(data), end_(data + size), source_(std::move(storage)) {}
  /// Bytes read so far (after run(): the pickle's length, up to and including STOP).
  std::size_t consumed() const { return std::size_t(p_ - begin_); }

  Ref run() {
    for (;;) {
      const std::uint8_t op = u8();
      switch (op) {
        case 0x80: u8(); break;                    // PROTO
        case 0x95: le(8); break;                   // FRAME (protocol 4): only a size hint
        case '.':                                  // STOP
          if (stack_.size() != 1) fail("stack holds " + std::to_string(stack_.size()) + " values at STOP");
          return stack_.back();
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '0': pop(); break;                            // POP
        case '1': pop_mark(); break;                       // POP_MARK
        case '2': push(top()); break;                      // DUP
        case 'N': push(make(Obj::Kind::none)); break;
        case 'I': {  // INT as text (protocols 0, 1): "I01" / "I00" are True / False there
          const std::string t = line();
          if (t == "01" || t == "00") {
            auto b = make(Obj::Kind::boolean);
            b->i = t == "01";
            push(b);
          } else {
            const bool neg = !t.empty() && t[0] == '-';
            push_int(neg ? -std::int64_t(decimal(t.substr(1), "integer")) : std::int64_t(decimal(t, "integer")));
          }
        } break;
        case 0x88: case 0x89: {                            // NEWTRUE, NEWFALSE
          auto b = make(Obj::Kind::boolean);
          b->i = op == 0x88;
          push(b);
        } break;
        case 'K': push_int(u8()); break;                                   // BININT1
        case 'M': push_int(std::int64_t(le(2))); break;                    // BININT2
        case 'J': push_int(std::int32_t(std::uint32_t(le(4)))); break;     // BININT
        case 0x8a: {                                                       // LONG1
          const std::size_t n = u8();
          if (n > 8) {  // only the legacy format's magic number is this long: kept as its bytes
            push(make_other("long:" + bytes(n)));
            break;
          }
          std::uint64_t v = n ? le(n) : 0;
          if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~std::uint64_t(0) << (8 * n);  // sign
          push_int(std::int64_t(v));
        } break;
        case 'G': {                                                        // BINFLOAT (big-endian)
          std::uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | u8();
          auto o = make(Obj::Kind::real);
          std::memcpy(&o->f, &bits, sizeof bits);
          push(o);
        } break;
        case 'X': push(make_string(bytes(le(4)))); break;   // BINUNICODE
        case 0x8c: push(make_string(bytes(u8()))); break;   // SHORT_BINUNICODE
        case 0x8d: push(make_string(bytes(le(8)))); break;  // BINUNICODE8
        case 'T': push(make_string(bytes(le(4)))); break;   // BINSTRING
        case 'U': push(make_string(bytes(u8()))); break;    // SHORT_BINSTRING
        case 'B': push(make_string(bytes(le(4)))); break;   // BINBYTES
        case 'C': push(make_string(bytes(u8()))); break;    // SHORT_BINBYTES
        case 0x8e: push(make_string(bytes(le(8)))); break;  // BINBYTES8
        case ')': push(make(Obj::Kind::tuple)); break;      // EMPTY_TUPLE
        case ']': push(make(Obj::Kind::list)); break;       // EMPTY_LIST
        case '}': push(make(Obj::Kind::dict)); break;       // EMPTY_DICT
        case 0x8f: push(make_other("builtins.set")); break; // EMPTY_SET
        case 't': {                                         // TUPLE
          auto t = make(Obj::Kind::tuple);
          t->items = pop_mark();
          push(t);
        } break;
        case 0x85: case 0x86: case 0x87: {                  // TUPLE1..3
          auto t = make(Obj::Kind::tuple);
          t->items.resize(op - 0x84);
          for (auto it = t->items.rbegin(); it != t->items.rend(); ++it) *it = pop();
          push(t);
        } break;
        case 'l': {                                         // LIST
          auto l = make(Obj::Kind::list);
          l->items = pop_mark();
          push(l);
        } break;
        case 'd': {                                         // DICT
          auto d = make(Obj::Kind::dict);
          d->items = pop_mark();
          if (d->items.size() % 2) fail("DICT with an odd number of items");
          push(d);
        } break;
        case 'a': {                                         // APPEND
          auto v = pop();
          append(top(), {v});
        } break;
        case 'e': {                                         // APPENDS
          auto vs = pop_mark();
          append(top(), vs);
        } break;
        case 0x90: pop_mark(); break;                       // ADDITEMS (to a set: ignored)
        case 0x91: pop_mark(); push(make_other("builtins.frozenset")); break;  // FROZENSET
        case 's': {                                         // SETITEM
          auto v = pop();
          auto k = pop();
          set_items(top(), {k, v});
        } break;
        case 'u': {                                         // SETITEMS
          auto kv = pop_mark();
          if (kv.size() % 2) fail("SETITEMS with an odd number of items");
          set_items(top(), kv);
        } break;
        case 'q': memo_[u8()] = top(); break;               // BINPUT
        case 'r': memo_[le(4)] = top(); break;              // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;      // MEMOIZE
        case 'p': memo_[decimal(line())] = top(); break;  // PUT
        case 'h': push(memo(u8())); break;                  // BINGET
        case 'j': push(memo(le(4))); break;                 // LONG_BINGET
        case 'g': push(memo(decimal(line()))); break;   // GET
        case 'c': {                                         // GLOBAL
          auto module = line();
          auto name = line();
          auto g = make(Obj::Kind::global);
          g->s = module + "." + name;
          push(g);
        } break;
        case 0x93: {                                        // STACK_GLOBAL
          auto name = pop();
          auto module = pop();
          auto g = make(Obj::Kind::global);
          g->s = module->s + "." + name->s;
          push(g);
        } break;
        case 'R': {                                         // REDUCE: callable(*args)
          auto args = pop();
          auto callable = pop();
          push(reduce(callable, args));
        } break;
        case 0x81: {                                        // NEWOBJ: cls.__new__(cls, *args)
          pop();
          push(new_object(pop()));
        } break;
        case 0x92: {                                        // NEWOBJ_EX
          pop();
          pop();
          push(new_object(pop()));
        } break;
        case 'b': pop(); break;  // BUILD: obj.__setstate__(state); state is not needed here
        case 'Q': push(persistent_load(pop())); break;      // BINPERSID
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          // The text opcodes of pickle protocols 0 and 1 (LONG, FLOAT, STRING, UNICODE, PERSID)
          const bool old_protocol = op != 0 && std::strchr("LFSVP", op) != nullptr;
          fail(std::string("unsupported pickle opcode ") + hex +
               (old_protocol ? " ('" + std::string(1, char(op)) +
                                   "': pickle protocol 0 or 1; save it with torch.save's default "
                                   "protocol, 2 or higher)"
                             : ""));
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(path_ + ": cannot read the pickle data of this torch.save file (" + what + ")");
  }
  std::uint8_t u8() {
    if (p_ >= end_) fail("unexpected end of data");
    return static_cast<std::uint8_t>(*p_++);
  }
  std::uint64_t le(std::size_t n) {  // little-endian unsigned of n bytes
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v |= std::uint64_t(u8()) << (8 * k);
    return v;
  }
  std::string bytes(std::uint64_t n) {
    if (n > std::uint64_t(end_ - p_)) fail("unexpected end of data");
    std::string s(p_, std::size_t(n));
    p_ += n;
    return s;
  }
  std::string line() {
    const char* nl = static_cast<const char*>(std::memchr(p_, '\n', std::size_t(end_ - p_)));
    if (!nl) fail("unterminated line");
    std::string s(p_, nl);
    p_ = nl + 1;
    return s;
  }
  // A memo key or an integer written as text (`what` names it in the message).
  std::uint64_t decimal(const std::string& s, const char* what = "memo key") const {
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
      fail(std::string(what) + " '" + s.substr(0, 20) + "' is not a number (of at most 18 digits)");
    return std::stoull(s);
  }
  void push(Ref r) { stack_.push_back(std::move(r)); }
  void push_int(std::int64_t v) {
    auto o = make(Obj::Kind::integer);
    o->i = v;
    push(o);
  }
  Ref pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("stack underflow");
    Ref r = std::move(stack_.back());
    stack_.pop_back();
    return r;
  }
  Ref& top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("no MARK");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> out(stack_.begin() + std::ptrdiff_t(m), stack_.end());
    stack_.resize(m);
    return out;
  }
  Ref memo(std::uint64_t k) const {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("memo entry " + std::to_string(k) + " is missing");
    return it->second;
  }
  void append(const Ref& list, const std::vector<Ref>& values) {
    if (list->kind == Obj::Kind::list) list->items.insert(list->items.end(), values.begin(), values.end());
    // appending to an opaque object (a list subclass) loses nothing losscape needs
  }
  void set_items(const Ref& dict, const std::vector<Ref>& kv) {
    if (dict->kind != Obj::Kind::dict) return;  // an opaque mapping: not needed
    if (!dict->keyed) {  // (a DICT's items; the last of equal keys is the one Python keeps)
      for (std::size_t j = 0; j < dict->items.size(); j += 2)
        if (dict->items[j]->kind == Obj::Kind::string) dict->key_at[dict->items[j]->s] = j;
      dict->keyed = true;
    }
    for (std::size_t k = 0; k < kv.size(); k += 2) {
      if (kv[k]->kind == Obj::Kind::string) {
        const auto [at, added] = dict->key_at.try_emplace(kv[k]->s, dict->items.size());
        if (!added) {  // a key set again: its value replaced, in its place
          dict->items[at->second + 1] = kv[k + 1];
          continue;
        }
      }
      dict->items.push_back(kv[k]);
      dict->items.push_back(kv[k + 1]);
    }
  }

  Ref new_object(const Ref& cls) {
    if (cls->kind == Obj::Kind::global && cls->s == "collections.OrderedDict") return make(Obj::Kind::dict);
    return make_other(cls->kind == Obj::Kind::global ? cls->s : std::string("?"));
  }

  static std::vector<std::int64_t> ints(const Ref& tuple, const char* what, const Unpickler& u) {
    if (tuple->kind != Obj::Kind::tuple) u.fail(std::string(what) + " is not a tuple");
    std::vector<std::int64_t> v;
    for (auto& e : tuple->items) {
      if (e->kind != Obj::Kind::integer) u.fail(std::string(what) + " holds a non-integer");
      v.push_back(e->i);
    }
    return v;
  }

  Ref reduce(const Ref& callable, const Ref& args, int depth = 0) {
    if (callable->kind != Obj::Kind::global) return make_other("?");
    const std::string& name = callable->s;
    const auto& a = args->items;
    if (name == "collections.OrderedDict") {
      auto d = make(Obj::Kind::dict);
      if (!a.empty() && a[0]->kind == Obj::Kind::list)  // OrderedDict([(k, v), ...])
        for (auto& pair : a[0]->items)  // Python 2 pickles its items as [k, v] lists
          if ((pair->kind == Obj::Kind::tuple || pair->kind == Obj::Kind::list) &&
              pair->items.size() == 2)
            set_items(d, pair->items);
      return d;
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride, ...)
      if (a.size() < 4 || a[0]->kind != Obj::Kind::storage || a[1]->kind != Obj::Kind::integer)
        fail(name + " with unexpected arguments");
      auto size = ints(a[2], "tensor size", *this), stride = ints(a[3], "tensor stride", *this);
      if (size.size() != stride.size()) fail("a tensor's size and stride differ in length");
      for (std::size_t k = 0; k < size.size(); ++k)
        if (size[k] < 0 || stride[k] < 0) fail("a tensor of negative size or stride");
      if (a[1]->i < 0) fail("a tensor at a negative storage offset");
      const torch::Tensor& storage = a[0]->t;
      std::int64_t last = a[1]->i;  // the highest element index the view reaches, for a check
      for (std::size_t k = 0; k < size.size(); ++k) {
        std::int64_t reach = 0;
        if (size[k] > 0 && (__builtin_mul_overflow(size[k] - 1, stride[k], &reach) ||
                            __builtin_add_overflow(last, reach, &last)))
          fail("a tensor whose size and stride overflow");
      }
      bool empty = false;
      for (auto s : size) empty = empty || s == 0;
      if (!empty && last >= storage.numel())
        fail("tensor reaches element " + std::to_string(last) + " of a storage of " +
             std::to_string(storage.numel()));
      auto t = make(Obj::Kind::tensor);
      t->t = torch::empty({0}, storage.options()).set_(storage.storage(), a[1]->i, size, stride);
      return t;
    }
    if (name == "torch._utils._rebuild_parameter" ||
        name == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0]->kind != Obj::Kind::tensor) fail(name + " without a tensor");
      return a[0];
    }
    if (name == "torch._tensor._rebuild_from_type_v2" || name == "torch._tensor._rebuild_from_type") {
      // (func, type, args, state): a tensor subclass; rebuild the plain tensor. (One level in
      // files torch.save writes; a crafted list holding itself recursed until the stack overflowed.)
      if (a.size() >= 3) {
        if (a[2]->kind != Obj::Kind::tuple) fail(name + " whose arguments are not a tuple");
        if (depth >= 8) fail(name + " nested more than 8 deep");
        return reduce(a[0], a[2], depth + 1);
      }
    }
    return make_other(name);
  }

  // ('storage', storage_type, key, location, numel[, view_metadata]): the storage source gives
  // its elements. Legacy files may name a view of a storage (PyTorch < 0.4): not supported.
  Ref persistent_load(const Ref& pid) {
    const auto& a = pid->items;
    if (pid->kind != Obj::Kind::tuple || a.size() < 5 || a[0]->kind != Obj::Kind::string ||
        a[0]->s != "storage" || a[1]->kind != Obj::Kind::global || a[2]->kind != Obj::Kind::string ||
        a[4]->kind != Obj::Kind::integer)
      fail("unexpected persistent id");
    if (a.size() > 5 && a[5]->kind != Obj::Kind::none)
      fail("a view of a storage (PyTorch < 0.4); load and save it again with a newer PyTorch");
    auto dtype = storage_dtype(a[1]->s);
    if (!dtype) fail("unsupported storage type " + a[1]->s);
    auto cached = storages_.find(a[2]->s);
    if (cached != storages_.end()) {
      if (cached->second->t.scalar_type() != *dtype)
        fail("storage " + a[2]->s + " named with two element types (" + a[1]->s + " and " +
             std::string(c10::toString(cached->second->t.scalar_type())) + ")");
      return cached->second;
    }
    if (a[4]->i < 0) fail("storage of " + std::to_string(a[4]->i) + " elements");
    if (!source_) fail("a storage where none can be");
    auto s = make(Obj::Kind::storage);
    s->t = source_(a[2]->s, *dtype, a[4]->i);
    storages_[a[2]->s] = s;
    return s;
  }

  std::string path_;
  const char* begin_;
  const char* p_;
  const char* end_;
  StorageSource source_;
  std::vector<Ref> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, Ref> memo_;
  std::map<std::string, Ref> storages_;
};

// The (name, tensor) entries of a dict whose keys are strings and values tensors, if it is one.
std::optional<TensorList> as_state_dict(const Ref& d) {
  if (d->kind != Obj::Kind::dict || d->items.empty()) return std::nullopt;
  TensorList out;
  for (std::size_t k = 0; k < d->items.size(); k += 2) {
    const Ref& key = d->items[k];
    const Ref& value = d->items[k + 1];
    if (key->kind != Obj::Kind::string || value->kind != Obj::Kind::tensor) return std::nullopt;
    out.push_back({key->s, value->t});
  }
  return out;
}

// The zip format (PyTorch >= 1.6): data.pkl, and each storage in the record data/<key> as raw
// little-endian elements.
// Without `with_data` the storages are left unread (their tensors uninitialised): shapes only.
Ref read_zip(const std::string& path, bool with_data) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    throw FormatError(path + ": not a torch.save zip file (" +
                      one_line(e, 160) + ")");
  }
  if (!zip->hasRecord("data.pkl"))
    throw FormatError(path + ": zip file without data.pkl: not written by torch.save");
  // PyTorch >= 2.1 records the writer's byte order; its storages are in it. (Earlier files have
  // none and are little-endian.) Big-endian elements are swapped as torch.load swaps them.
  bool big = false;
  if (zip->hasRecord("byteorder")) {
    auto [data, bytes] = zip->getRecord("byteorder");
    const std::string order(static_cast<const char*>(data.get()), std::min<std::size_t>(bytes, 16));
    if (order != "little" && order != "big") {
      std::string shown;  // (a NUL written as \x00: the message's what() would end at it)
      for (char c : order) shown += c == '\0' ? std::string("\\x00") : std::string(1, c);
      throw FormatError(path + ": torch.save zip file of unknown byte order '" + shown + "'");
    }
    big = order == "big";
  }
  auto from_record = [&](const std::string& key, torch::ScalarType dtype, std::int64_t numel) {
    const std::string record = "data/" + key;
    if (!zip->hasRecord(record))
      throw FormatError(path + ": torch.save file without the record " + record);
    if (!with_data) return torch::empty({numel}, torch::TensorOptions().dtype(dtype));
    auto [data, bytes] = zip->getRecord(record);
    const std::size_t item = c10::elementSize(dtype);
    if (std::uint64_t(numel) > bytes / item || std::size_t(numel) * item != bytes)
      throw FormatError(path + ": record " + record + " holds " + std::to_string(bytes) +
                        " bytes, not " + std::to_string(numel) + " elements of " +
                        std::to_string(item) + " bytes");
    auto t = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
    if (bytes) std::memcpy(t.data_ptr(), data.get(), bytes);
    if (big && item > 1) {
      auto* p = static_cast<char*>(t.data_ptr());
      for (std::size_t k = 0; k < bytes; k += item) std::reverse(p + k, p + k + item);
    }
    return t;
  };
  try {
    auto [ptr, size] = zip->getRecord("data.pkl");
    return Unpickler(path, static_cast<const char*>(ptr.get()), size, from_record).run();
  } catch (const c10::Error& e) {  // a damaged archive (miniz: bad header, CRC, method)
    throw FormatError(path + ": damaged torch.save zip file (" +
                      one_line(e, 160) + ")");
  }
}

// The legacy format (PyTorch < 1.6, or _use_new_zipfile_serialization=False; the reference's
// released .t7 checkpoints): consecutive pickles of the magic number, the protocol version and
// sys_info, then the object (storages as persistent ids), then the list of storage keys, then
// each storage in that order as its element count (int64, little-endian) and its raw elements.
// `bytes` is the file (without `with_data`, its start: only the pickles are read), of
// `file_size` bytes in all.
Ref read_legacy(const std::string& path, std::string_view bytes, bool with_data,
                std::uint64_t file_size) {
  const char* p = bytes.data();
  const char* const end = bytes.data() + bytes.size();
  std::map<std::string, torch::Tensor> storages;
  auto next = [&](StorageSource source) {
    Unpickler u(path, p, std::size_t(end - p), std::move(source));
    Ref r;
    try {
      r = u.run();
    } catch (const c10::Error& e) {  // (LibTorch's own checks, e.g. a shape whose size overflows)
      throw FormatError(path + ": damaged legacy torch.save file (" + one_line(e, 160) + ")");
    }
    p += u.consumed();
    return r;
  };
  // 0x1950a86a20f9469cfc6c, little-endian, as pickle's LONG1 keeps it
  static const std::string magic("long:\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 15);
  Ref m = next(nullptr);
  if (m->kind != Obj::Kind::other || m->s != magic)
    throw FormatError(path + ": not a torch.save file (a pickle without torch.save's magic number)");
  Ref version = next(nullptr);
  if (version->kind != Obj::Kind::integer || version->i != 1001)
    throw FormatError(path + ": legacy torch.save file of protocol version " +
                      (version->kind == Obj::Kind::integer ? std::to_string(version->i) : "?") +
                      ", not 1001");
  Ref sys_info = next(nullptr);
  if (sys_info->kind == Obj::Kind::dict)
    for (std::size_t k = 0; k + 1 < sys_info->items.size(); k += 2)
      if (sys_info->items[k]->kind == Obj::Kind::string && sys_info->items[k]->s == "little_endian" &&
          sys_info->items[k + 1]->kind == Obj::Kind::boolean && !sys_info->items[k + 1]->i)
        throw FormatError(path + ": written on a big-endian machine; not supported");
  std::uint64_t claimed = 0;  // bytes of the storages so far: together, within the file too
  Ref root = next([&](const std::string& key, torch::ScalarType dtype, std::int64_t numel) {
    if (std::uint64_t(numel) > (file_size - claimed) / c10::elementSize(dtype))
      throw FormatError(path + ": truncated or damaged (storage " + key + " of " + std::to_string(numel) +
                        " elements does not fit in the file" +
                        (claimed ? ", with the storages before it)" : ")"));
    claimed += std::uint64_t(numel) * c10::elementSize(dtype);
    auto t = torch::empty({numel}, torch::TensorOptions().dtype(dtype));  // filled below
    storages[key] = t;
    return t;
  });
  if (!with_data) return root;
  Ref keys = next(nullptr);
  if (keys->kind != Obj::Kind::list)
    throw FormatError(path + ": legacy torch.save file without its list of storages");
  std::set<std::string> filled;
  for (auto& k : keys->items) {
    auto it = k->kind == Obj::Kind::string ? storages.find(k->s) : storages.end();
    if (it == storages.end())
      throw FormatError(path + ": legacy torch.save file lists a storage its object does not use");
    // (a key listed twice would leave another storage unread: its tensors of uninitialised memory)
    if (!filled.insert(k->s).second)
      throw FormatError(path + ": legacy torch.save file lists storage " + k->s + " twice");
    const torch::Tensor& t = it->second;
    const std::size_t want = std::size_t(t.numel()) * t.element_size();
    if (end - p < 8) throw FormatError(path + ": truncated (storage " + k->s + " is missing)");
    std::uint64_t numel = 0;
    for (int b = 0; b < 8; ++b) numel |= std::uint64_t(static_cast<unsigned char>(p[b])) << (8 * b);
    p += 8;
    if (numel != std::uint64_t(t.numel()))
      throw FormatError(path + ": storage " + k->s + " holds " +
                        std::to_string(std::int64_t(numel)) +  // (int64 in the file: -1 is -1)
                        " elements, its tensors expect " + std::to_string(t.numel()));
    if (std::size_t(end - p) < want)
      throw FormatError(path + ": truncated (storage " + k->s + " is cut short)");
    if (want) std::memcpy(t.data_ptr(), p, want);
    p += want;
  }
  if (filled.size() != storages.size())
    throw FormatError(path + ": legacy torch.save file without the data of some storages");
  return root;
}

// The first `limit` bytes of a file (all of it when limit is 0).
std::string read_bytes(const std::string& path, std::size_t limit) {
  check_not_special(path, "a model file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open " + path);
  if (limit == 0)
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string bytes(limit, '\0');
  in.read(bytes.data(), std::streamsize(limit));
  bytes.resize(std::size_t(in.gcount()));
  return bytes;
}

// A file's format by its first bytes: "zip" (a zip archive), "legacy" (a pickle: torch.save's
// legacy sequence starts with one) or "".
std::string signature(std::istream& in) {
  char head[4] = {0, 0, 0, 0};
  in.read(head, 4);
  if (in.gcount() >= 1 && static_cast<unsigned char>(head[0]) == 0x80) return "legacy";
  if (in.gcount() == 4 && std::string(head, 4) == std::string("PK\x03\x04", 4)) return "zip";
  return "";
}

}  // namespace

std::string torch_file_kind(const std::string& path) {
  if (!is_regular_file(path)) return "";  // (a FIFO would block the read)
  std::ifstream in(path, std::ios::binary);
  const std::string kind = signature(in);
  if (kind != "zip") return kind;
  try {  // TorchScript archives hold constants.pkl; torch.save files do not
    caffe2::serialize::PyTorchStreamReader zip(path);
    return zip.hasRecord("constants.pkl") ? "torchscript" : "zip";
  } catch (const c10::Error&) {
    return "zip";  // a damaged one: reading it says how
  }
}

namespace {

TensorList read_state_dict(const std::string& path, bool with_data, std::int64_t* epoch = nullptr) {
  check_not_special(path, "a model file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open " + path);
  const std::string kind = signature(in);
  in.close();
  Ref root;
  if (kind == "zip") {
    root = read_zip(path, with_data);
  } else if (kind == "legacy") {
    // Shapes only: the pickles come first, so a prefix of the file usually holds them (the
    // storages after them can be gigabytes); else, or for the data, the whole file.
    constexpr std::size_t kPrefix = 4 << 20;
    std::string bytes = read_bytes(path, with_data ? 0 : kPrefix);
    std::error_code ec;
    const std::uint64_t size = std::filesystem::file_size(path, ec);
    if (!with_data && bytes.size() == kPrefix && !ec && size > kPrefix) {
      try {
        root = read_legacy(path, bytes, false, size);
      } catch (const Error&) {
        bytes = read_bytes(path, 0);  // the pickles go on beyond the prefix
      }
    }
    if (!root) root = read_legacy(path, bytes, with_data, bytes.size());
  } else {
    throw FormatError(path + ": not a torch.save file (neither its zip format nor its legacy pickles)");
  }

  std::optional<TensorList> sd = as_state_dict(root);
  if (epoch) *epoch = -1;
  if (!sd && root->kind == Obj::Kind::dict) {
    for (const char* key : {"state_dict", "model_state_dict"})
      for (std::size_t k = 0; !sd && k < root->items.size(); k += 2)
        if (root->items[k]->kind == Obj::Kind::string && root->items[k]->s == key)
          sd = as_state_dict(root->items[k + 1]);
    for (std::size_t k = 0; sd && epoch && k < root->items.size(); k += 2)
      if (root->items[k]->kind == Obj::Kind::string && root->items[k]->s == "epoch" &&
          root->items[k + 1]->kind == Obj::Kind::integer)
        *epoch = root->items[k + 1]->i;
  }
  if (!sd) {
    // A dict of tensors but for some entries (a note, an epoch among the weights): name one.
    Ref cand = root;
    for (std::size_t k = 0; root->kind == Obj::Kind::dict && k < root->items.size(); k += 2)
      if (root->items[k]->kind == Obj::Kind::string &&
          (root->items[k]->s == "state_dict" || root->items[k]->s == "model_state_dict") &&
          root->items[k + 1]->kind == Obj::Kind::dict)
        cand = root->items[k + 1];
    // A tensor torch.load reads but without dense values to evaluate: what it is ("" for others).
    // (A state dict of these was called "not a state dict ... save model.state_dict()".)
    auto valueless = [](const Ref& v) -> std::string {
      if (v->kind != Obj::Kind::other) return "";
      if (v->s == "torch._utils._rebuild_meta_tensor_no_storage")
        return "a tensor on the meta device, which has no values (a model built with "
               "device='meta' and saved before its weights were loaded)";
      if (v->s.rfind("torch._utils._rebuild_sparse", 0) == 0)
        return "a sparse tensor; only dense tensors are read (save tensor.to_dense())";
      return "";
    };
    if (cand->kind == Obj::Kind::dict) {
      bool tensors = false;
      for (std::size_t k = 1; k < cand->items.size(); k += 2)
        tensors = tensors || cand->items[k]->kind == Obj::Kind::tensor || !valueless(cand->items[k]).empty();
      for (std::size_t k = 0; tensors && k < cand->items.size(); k += 2) {
        const Ref& key = cand->items[k];
        const Ref& value = cand->items[k + 1];
        if (key->kind != Obj::Kind::string)
          throw FormatError(path + ": its state dict has a key that is a " +
                            kind_name(key->kind) + ", not a parameter name");
        if (const std::string what = valueless(value); !what.empty())
          throw FormatError(path + ": its state dict's entry '" + key->s + "' is " + what);
        if (value->kind != Obj::Kind::tensor)
          throw FormatError(path + ": its state dict's entry '" + key->s + "' is a " +
                            (value->kind == Obj::Kind::other ? "pickled " + value->s + " object"
                                                             : std::string(kind_name(value->kind))) +
                            ", not a tensor (a state dict holds the parameters and buffers alone)");
      }
    }
    std::string what = kind_name(root->kind);
    if (root->kind == Obj::Kind::dict) {
      what = "a dict with keys";
      for (std::size_t k = 0; k < root->items.size() && k < 16; k += 2)
        what += std::string(k ? ", " : " ") +
                (root->items[k]->kind == Obj::Kind::string ? root->items[k]->s : "?");
      if (root->items.empty()) what = "an empty dict";
    } else if (root->kind == Obj::Kind::other) {
      what = "a pickled " + root->s + " object";
    }
    throw FormatError(path + ": holds " + what +
                      ", not a state dict (a dict of tensors, plain or under 'state_dict'); "
                      "save model.state_dict()");
  }
  std::map<std::string, std::string> seen;  // name -> as stored
  for (auto& t : *sd) {
    const std::string stored = t.name;
    if (t.name.rfind("module.", 0) == 0) t.name = t.name.substr(7);  // saved from DataParallel
    if (const auto [it, fresh] = seen.emplace(t.name, stored); !fresh)
      throw FormatError(path + ": holds both '" + it->second + "' and '" + stored +
                        "', one parameter with and without DataParallel's 'module.' prefix");
  }
  return *sd;
}

}  // namespace

TensorList read_torch_state_dict(const std::string& path, std::int64_t* epoch) {
  return read_state_dict(path, true, epoch);
}

std::vector<std::pair<std::string, std::vector<std::int64_t>>> torch_state_dict_shapes(
    const std::string& path) {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> out;
  for (auto& t : read_state_dict(path, false)) out.emplace_back(t.name, t.tensor.sizes().vec());
  return out;
}

}  // namespace losscape
