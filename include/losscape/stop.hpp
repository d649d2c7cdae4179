// Stop requests from the batch system: SIGTERM, SIGINT, SIGUSR1 and SIGHUP (Slurm's time-limit
// warning, `scancel`, Ctrl-C, a closed terminal) set a flag that long-running commands poll at safe points — the sweep after
// the current grid point, training after the current epoch — to save their work and exit with
// kExitIncomplete (error.hpp).
#pragma once

namespace losscape {

/// Install the handlers for SIGTERM, SIGINT, SIGUSR1 and SIGHUP, and ignore SIGPIPE (a reader of
/// stdout that went away must not kill a run) (idempotent).
void install_stop_handlers();
/// A stop signal arrived (or request_stop() was called).
bool stop_requested();
/// How many stop signals arrived: a second one asks for an immediate stop.
int stop_signal_count();
void request_stop();

}  // namespace losscape
