// The losscape program: a thin forward to the command-line layer.
#include "common.hpp"

int main(int argc, char** argv) { return losscape::cli::run_main(argc, argv); }
