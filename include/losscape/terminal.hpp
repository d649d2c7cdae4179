// Whether progress output goes to a person at a terminal (a live bar) or to a log (plain lines).
// Under mpirun, Open MPI connects rank 0's stdout to a pseudo-terminal even when the job's output
// goes to a file, so isatty() alone would put carriage-return bars into batch logs.
#pragma once

namespace losscape {

/// True when stdout reaches a terminal: isatty(stdout), and under an MPI launcher also the
/// launcher's own stdout (the parent process's fd 1) is a terminal. LOSSCAPE_PROGRESS=bar|lines
/// overrides the guess.
bool stdout_is_terminal();

}  // namespace losscape
