// `embedflow models fetch` into an HF_HOME on a small tmpfs that fills up: a real ENOSPC.
// Needs root and mount(2): elsewhere the test exits with kSkippedExitCode, which CMake's
// SKIP_RETURN_CODE makes ctest report as skipped, never as passed.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <set>
#include <string>

#include "tests/hub/hub_server.h"
#include "tests/hub/hub_test_env.h"

using namespace embedflow::test;

TEST_CASE("disk full: models fetch into a full HF_HOME says so and keeps no partial blob",
          "[hub][disk_full]") {
  HubEnv env;
  SmallTmpfs disk(env.home(), 128);
  // Leave about 24 KB: the small files fit, the 57 KB model.safetensors does not.
  disk.add_filler(26 * 4096);
  HubServer server;
  ::setenv("HF_ENDPOINT", server.endpoint().c_str(), 1);
  CommandResult r = run_cli("models fetch embedflow-test/tiny-st --progress off");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output,
             Catch::Contains("No space left on device") && !Catch::Contains("cannot reach"));
  // Whatever landed under a final name is whole: blobs are byte copies of served files, and no
  // snapshot entry resolves to anything else.
  check_cache_whole(env, fixture_contents());
  // Only the filler this test put there.
  CHECK(env.outside_cache() == std::set<std::string>{"home/filler"});
}
