/* Fault injection for the failure tests (tests/cli/test_sweep_faults.py), loaded with
 * LD_PRELOAD into the ranks of a sweep: one chosen call fails on one rank, as a full disk, a
 * broken network link or a failing device would make it fail there and nowhere else.
 *   FAULT_CALL   H5Dwrite | MPI_Send | MPI_Iprobe
 *   FAULT_RANK   the world rank (OMPI_COMM_WORLD_RANK) where it fails, or "all"
 *   FAULT_AT     fail from the Nth call of that function on (counted per process), or
 *   FAULT_AFTER  fail from this many seconds after the process started.
 *   FAULT_SLEEP  instead of failing, the first chosen call sleeps this many seconds and then
 *                goes on (a process stopped at that point, as a suspended job is).
 *   FAULT_ABORT_DELAY  MPI_Abort waits this many seconds first, on every rank (a launcher slow
 *                to end the other ranks, as on a loaded node); independent of FAULT_CALL.
 * Without FAULT_CALL and FAULT_ABORT_DELAY nothing changes. Each failure (or sleep) is
 * reported on stderr with "[fault]". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sleeps `text` seconds (a whole number), through signals. */
static void sleep_seconds(const char* text) {
  struct timespec ts = {(time_t)atol(text), 0};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static double t_start;
__attribute__((constructor)) static void start(void) { t_start = seconds(); }

/* Whether this call of `fn` fails (each function has its own count). */
static int fails(const char* fn, long* count) {
  const char* call = getenv("FAULT_CALL");
  if (!call || strcmp(call, fn) != 0) return 0;
  const char* rank = getenv("OMPI_COMM_WORLD_RANK");
  const char* want = getenv("FAULT_RANK");
  if (!rank || !want || (strcmp(want, "all") != 0 && atoi(rank) != atoi(want))) return 0;
  const long n = ++*count;
  const char* at = getenv("FAULT_AT");
  const char* after = getenv("FAULT_AFTER");
  const int fail = (at && n >= atol(at)) || (after && seconds() - t_start >= atof(after));
  const char* pause = getenv("FAULT_SLEEP");
  if (fail && pause) {
    static int slept;
    if (slept++) return 0;
    fprintf(stderr, "[fault] rank %s: %s call %ld sleeps %s s\n", rank, fn, n, pause);
    fflush(stderr);
    sleep_seconds(pause);
    return 0;
  }
  if (fail) {
    fprintf(stderr, "[fault] rank %s: %s call %ld fails\n", rank, fn, n);
    fflush(stderr);
  }
  return fail;
}

herr_t H5Dwrite(hid_t dset, hid_t mem_type, hid_t mem_space, hid_t file_space, hid_t plist,
                const void* buf) {
  static long count;
  static herr_t (*real)(hid_t, hid_t, hid_t, hid_t, hid_t, const void*);
  if (!real) *(void**)&real = dlsym(RTLD_NEXT, "H5Dwrite");
  if (fails("H5Dwrite", &count)) return -1;
  return real(dset, mem_type, mem_space, file_space, plist, buf);
}

int MPI_Send(const void* buf, int n, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {
  static long count;
  if (fails("MPI_Send", &count)) return MPI_ERR_OTHER;
  return PMPI_Send(buf, n, type, dest, tag, comm);
}

int MPI_Iprobe(int source, int tag, MPI_Comm comm, int* flag, MPI_Status* status) {
  static long count;
  if (fails("MPI_Iprobe", &count)) return MPI_ERR_OTHER;
  return PMPI_Iprobe(source, tag, comm, flag, status);
}

int MPI_Abort(MPI_Comm comm, int code) {
  const char* delay = getenv("FAULT_ABORT_DELAY");
  if (delay) {
    fprintf(stderr, "[fault] MPI_Abort waits %s s\n", delay);
    fflush(stderr);
    sleep_seconds(delay);
  }
  return PMPI_Abort(comm, code);
}
