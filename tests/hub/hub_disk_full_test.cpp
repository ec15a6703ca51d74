// `embedflow models fetch` into an HF_HOME on a small tmpfs that fills up: a real ENOSPC.
// Needs root and mount(2): elsewhere the test exits with kSkipped, which CMake's
// SKIP_RETURN_CODE makes ctest report as skipped, never as passed.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "tests/hub/hub_server.h"
#include "tests/hub/hub_test_env.h"

namespace fs = std::filesystem;
using namespace embedflow;
using namespace embedflow::test;

namespace {

constexpr int kSkipped = 77;

[[noreturn]] void skip(const std::string& why) {
  std::fprintf(stderr, "SKIPPED: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(kSkipped);
}

}  // namespace

TEST_CASE("disk full: models fetch into a full HF_HOME says so and keeps no partial blob",
          "[hub][disk_full]") {
  HubEnv env;
  if (::geteuid() != 0) skip("mounting a tmpfs needs root");
  if (::mount("tmpfs", env.home().c_str(), "tmpfs", 0, "size=128k") != 0)
    skip("cannot mount a tmpfs at " + env.home() + ": " + std::strerror(errno));
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{env.home()};
  // Leave about 24 KB: the small files fit, the 57 KB model.safetensors does not.
  {
    const int fd = ::open((env.home() + "/filler").c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    const std::string block(4096, 'x');
    for (int i = 0; i < 26; ++i) REQUIRE(::write(fd, block.data(), block.size()) == 4096);
    ::close(fd);
  }
  HubServer server;
  ::setenv("HF_ENDPOINT", server.endpoint().c_str(), 1);
  CommandResult r = run_cli("models fetch embedflow-test/tiny-st --progress off");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output,
             Catch::Contains("No space left on device") && !Catch::Contains("cannot reach"));
  // Whatever landed under a final name is whole: blobs are byte copies of served files, and no
  // snapshot entry resolves to anything else.
  std::set<std::string> served;
  for (const auto& e : fs::recursive_directory_iterator(fixture_file("")))
    if (e.is_regular_file()) served.insert(read_file(e.path().string()));
  const std::string weights = read_file(fixture_file("model.safetensors"));
  const fs::path blobs = fs::path(env.repo_dir()) / "blobs";
  for (const auto& rel : tree(blobs)) {
    if (rel.find(".incomplete") != std::string::npos || rel.find(".lock") != std::string::npos)
      continue;
    INFO("blob " << rel);
    CHECK(served.count(read_file((blobs / rel).string())) == 1);
  }
  const fs::path snapshots = fs::path(env.repo_dir()) / "snapshots";
  if (fs::exists(snapshots))
    for (const auto& snap : fs::directory_iterator(snapshots)) {
      const fs::path model = snap.path() / "model.safetensors";
      if (fs::exists(model)) CHECK(read_file(model.string()) == weights);
    }
  // Only the filler this test put there.
  CHECK(env.outside_cache() == std::set<std::string>{"home/filler"});
}
