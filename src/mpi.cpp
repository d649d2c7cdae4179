#include "losscape/mpi.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "losscape/error.hpp"
#include "losscape/h5.hpp"
#include "losscape/terminal.hpp"

namespace losscape::mpi {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw MpiError(std::string(what) + " failed: " + msg);
}

bool initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  int fin = 0;
  MPI_Finalized(&fin);
  return flag && !fin;
}

Environment::Environment(int* argc, char*** argv) {
  if (initialized()) return;
  // HDF5 initialised before MPI: parallel HDF5 then does not hook its termination onto
  // MPI_Finalize (an attribute of MPI_COMM_SELF), where it closed a file whose close had failed
  // (a flush on a full disk) and crashed after the one-line error (SIGSEGV, exit 139); with
  // H5dont_atexit (h5.cpp) nothing is left for it to do, every file being closed by its Handle.
  h5::disable_file_locking();
  // Open MPI 4.1's MPI-IO queries its "lockedfile" shared-file-pointer component at every file
  // open, which formats the file's path into a 256-byte buffer: an --out whose path (folders
  // included) passed ~235 characters aborted the process ("buffer overflow detected"). losscape
  // uses no shared file pointers; a user's own setting of the variable is kept.
  setenv("OMPI_MCA_sharedfp", "^lockedfile", 0);
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  // Errors come back as codes that check() turns into exceptions.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  owns_ = true;
}

Environment::~Environment() {
  if (owns_ && initialized()) MPI_Finalize();
}

Comm& Comm::operator=(Comm&& o) noexcept {
  if (this != &o) {
    if (owned_ && initialized()) MPI_Comm_free(&comm_);
    comm_ = o.comm_;
    owned_ = o.owned_;
    o.owned_ = false;
  }
  return *this;
}

Comm::~Comm() {
  if (owned_ && initialized()) MPI_Comm_free(&comm_);
}

int Comm::rank() const {
  int r = 0;
  check(MPI_Comm_rank(comm_, &r), "MPI_Comm_rank");
  return r;
}
int Comm::size() const {
  int s = 1;
  check(MPI_Comm_size(comm_, &s), "MPI_Comm_size");
  return s;
}

Comm Comm::split_node() const {
  MPI_Comm c;
  check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &c),
        "MPI_Comm_split_type");
  return Comm(c, true);
}

Comm Comm::split(int color, int key) const {
  MPI_Comm c;
  check(MPI_Comm_split(comm_, color, key, &c), "MPI_Comm_split");
  return Comm(c, c != MPI_COMM_NULL);  // MPI_UNDEFINED: no communicator, nothing to free
}

void Comm::barrier() const { check(MPI_Barrier(comm_), "MPI_Barrier"); }

void Comm::bcast(std::string& s, int root) const {
  long long n = static_cast<long long>(s.size());
  check(MPI_Bcast(&n, 1, MPI_LONG_LONG, root, comm_), "MPI_Bcast");
  s.resize(std::size_t(n));
  if (n) check(MPI_Bcast(s.data(), int(n), MPI_CHAR, root, comm_), "MPI_Bcast");
}

// (MPI counts are int: a vector of more than 2^31 elements, or bytes, goes in pieces; a Hessian
// of 300 million parameters is 2.4 GB of float64)
constexpr std::int64_t kPiece = std::int64_t(1) << 28;

void Comm::bcast(void* data, std::int64_t bytes, int root) const {
  for (std::int64_t at = 0; at < bytes || (at == 0 && bytes == 0); at += kPiece)
    check(MPI_Bcast(static_cast<char*>(data) + at, int(std::min(kPiece, bytes - at)), MPI_BYTE, root,
                    comm_),
          "MPI_Bcast");
}

double Comm::allreduce_sum(double v) const {
  double out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce");
  return out;
}
void Comm::allreduce_sum(double* v, std::int64_t n) const {
  for (std::int64_t at = 0; at < n || (at == 0 && n == 0); at += kPiece)
    check(MPI_Allreduce(MPI_IN_PLACE, v + at, int(std::min(kPiece, n - at)), MPI_DOUBLE, MPI_SUM, comm_),
          "MPI_Allreduce");
}
std::int64_t Comm::allreduce_sum(std::int64_t v) const {
  std::int64_t out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_SUM, comm_), "MPI_Allreduce");
  return out;
}
std::int64_t Comm::allreduce_max(std::int64_t v) const {
  std::int64_t out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_MAX, comm_), "MPI_Allreduce");
  return out;
}
double Comm::allreduce_max(double v) const {
  double out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_MAX, comm_), "MPI_Allreduce");
  return out;
}

std::vector<std::string> Comm::allgather(const std::string& s) const {
  int n = int(s.size());
  std::vector<int> lens(size());
  check(MPI_Allgather(&n, 1, MPI_INT, lens.data(), 1, MPI_INT, comm_), "MPI_Allgather");
  std::vector<int> displs(size(), 0);
  int total = 0;
  for (int i = 0; i < size(); ++i) {
    displs[i] = total;
    total += lens[i];
  }
  std::string all(std::size_t(total), '\0');
  check(MPI_Allgatherv(s.data(), n, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR,
                       comm_),
        "MPI_Allgatherv");
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(all.substr(displs[i], lens[i]));
  return out;
}

namespace {
// Settings as one string: each name and value preceded by its length.
std::string pack(const Comm::Settings& s) {
  std::string out;
  for (const auto& [k, v] : s)
    out += std::to_string(k.size()) + ":" + k + std::to_string(v.size()) + ":" + v;
  return out;
}
Comm::Settings unpack(const std::string& text) {
  Comm::Settings s;
  std::size_t at = 0;
  auto field = [&](std::string& out) {
    const auto colon = text.find(':', at);
    if (colon == std::string::npos) return false;
    const auto n = std::stoul(text.substr(at, colon - at));
    out = text.substr(colon + 1, n);
    at = colon + 1 + n;
    return true;
  };
  std::string k, v;
  while (at < text.size() && field(k) && field(v)) s.emplace_back(k, v);
  return s;
}
}  // namespace

Comm::Difference Comm::first_difference(const Settings& mine) const {
  const auto all = allgather(pack(mine));
  Difference d;
  for (int r = 1; root() && r < int(all.size()) && d.rank < 0; ++r) {
    auto theirs = unpack(all[std::size_t(r)]);
    for (const auto& [k, v] : mine) {
      auto it = std::find_if(theirs.begin(), theirs.end(), [&](const auto& e) { return e.first == k; });
      if (it == theirs.end() || it->second != v) {
        d = {r, k, it == theirs.end() ? "" : it->second, v};
        break;
      }
      theirs.erase(it);
    }
    if (d.rank < 0 && !theirs.empty()) d = {r, theirs.front().first, theirs.front().second, ""};
  }
  std::string answer = d.rank < 0 ? "" : pack({{std::to_string(d.rank), d.name}, {d.theirs, d.rank0}});
  bcast(answer);
  if (answer.empty()) return {};
  const auto u = unpack(answer);
  return {std::stoi(u.at(0).first), u.at(0).second, u.at(1).first, u.at(1).second};
}

std::string Comm::agree(const std::string& my_error) const {
  auto all = allgather(my_error);
  for (int r = 0; r < int(all.size()); ++r) {
    if (all[r].empty()) continue;
    // Every rank failed alike (a bad file, an option): naming one rank would mislead.
    if (std::all_of(all.begin(), all.end(), [&](const std::string& e) { return e == all[r]; }))
      return all[r];
    return all[r] + " (rank " + std::to_string(r) + ")";
  }
  return {};
}

namespace {
std::vector<std::function<void()>*>& cleanups() {
  static std::vector<std::function<void()>*> live;
  return live;
}
}  // namespace

AbortCleanup::AbortCleanup(std::function<void()> cleanup) : cleanup_(std::move(cleanup)) {
  cleanups().push_back(&cleanup_);
}
AbortCleanup::~AbortCleanup() {
  auto& live = cleanups();
  live.erase(std::remove(live.begin(), live.end(), &cleanup_), live.end());
}

void abort_job(const std::string& message, int code) {
  print_error(message);
  std::fflush(stderr);
  auto live = cleanups();  // (a cleanup must not unregister one under our feet)
  for (auto it = live.rbegin(); it != live.rend(); ++it) try {
      (**it)();
    } catch (...) {
    }
  if (initialized()) {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  }
  std::_Exit(code);
}

}  // namespace losscape::mpi
