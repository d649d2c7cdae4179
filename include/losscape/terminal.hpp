// Whether progress output goes to a person at a terminal (a live bar) or to a log (plain lines).
// Under mpirun, Open MPI connects rank 0's stdout to a pseudo-terminal even when the job's output
// goes to a file, so isatty() alone would put carriage-return bars into batch logs.
#pragma once
#include <string>

namespace losscape {

/// `text` as one printable line: a line break, tab or other control byte becomes an escape
/// (`\n`, `\t`, `\x1b`), so do UTF-8's control characters (C1, U+0080..U+009F, and the line
/// and paragraph separators U+2028, U+2029) byte by byte, and every byte that is not part of
/// valid UTF-8; a backslash is doubled (`\\`), so that no two texts give the same line (a
/// real tab and the two characters `\t` of a name). Error messages pass through it, so a name
/// read from a file (a state dict key "a\nb", Latin-1 bytes) neither splits the one-line error
/// nor reaches a log as invalid text.
std::string printable_line(const std::string& text);
/// "losscape: error: MESSAGE", the message as printable_line makes it, at most 8,192 bytes of it
/// (cut between whole characters and escapes), then "... (N more bytes)" for the N bytes of
/// MESSAGE left out: a name of a megabyte in a crafted file (a state dict key) does not make the
/// one-line error a megabyte long.
std::string error_line(const std::string& message);
/// Print error_line(message) on stderr.
void print_error(const std::string& message);

/// True when stdout reaches a terminal: isatty(stdout), and under an MPI launcher also the
/// launcher's own stdout (the parent process's fd 1) is a terminal. LOSSCAPE_PROGRESS=bar|lines
/// overrides the guess.
bool stdout_is_terminal();

}  // namespace losscape
