// Catch2's main for the unit tests (the same for Catch2 v2 and v3). A test case that checked
// nothing (one that returned early) fails instead of passing: the NoAssertions warning is always on
// (Catch2 2 takes only one --warn on its command line, which CTest gives NoTests).
#define CATCH_CONFIG_RUNNER
#include "catch_compat.hpp"

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv)) return rc;
  auto& config = session.configData();
  config.warnings = static_cast<Catch::WarnAbout::What>(config.warnings | Catch::WarnAbout::NoAssertions);
  return session.run();
}
