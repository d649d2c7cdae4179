// Catch2 main for MPI tests (openPMD-api's CatchRunner pattern): MPI is initialised around the
// whole session; every rank runs every test case, and a failure on any rank fails the process.
#define CATCH_CONFIG_RUNNER
#include "catch_compat.hpp"
#include <mpi.h>

int main(int argc, char* argv[]) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  Catch::Session session;
  int rc = session.applyCommandLine(argc, argv);
  if (rc == 0) rc = session.run();
  int worst = 0;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
