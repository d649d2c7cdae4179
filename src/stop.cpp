#include "losscape/stop.hpp"

#include <csignal>

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
  for (int s : {SIGTERM, SIGINT, SIGUSR1}) sigaction(s, &sa, nullptr);
}
bool stop_requested() { return g_stop != 0; }
int stop_signal_count() { return int(g_stop); }
void request_stop() {
  if (g_stop == 0) g_stop = 1;
}

}  // namespace losscape
