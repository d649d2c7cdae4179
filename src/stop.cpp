#include "losscape/stop.hpp"

#include <csignal>
#include <initializer_list>

namespace losscape {

namespace {
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) {
  if (g_stop < 1000) g_stop = g_stop + 1;
}
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  // SIGHUP: the terminal or session is gone, a stop like the others. SIGUSR2: Open MPI's mpirun
  // passes it on to the ranks like SIGUSR1 (and a site's scripts may use either). SIGPIPE: the reader of
  // stdout went away (`| head`, a dead `tee`): ignored, so that a long run is not killed by its
  // output (its writes fail quietly) and loses nothing; stop it with one of the signals above.
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP}) sigaction(s, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}
bool stop_requested() { return g_stop != 0; }
int stop_signal_count() { return int(g_stop); }
void request_stop() {
  if (g_stop == 0) g_stop = 1;
}

}  // namespace losscape
