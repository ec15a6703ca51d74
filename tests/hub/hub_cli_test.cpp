// `embedflow models fetch|list|path` as a user runs them (HF_HOME and HF_ENDPOINT from the
// environment, exit codes, what is printed).
#include <catch2/catch.hpp>

#include <filesystem>

#include "embedflow/hash.h"
#include "tests/hub/hub_server.h"
#include "tests/hub/hub_test_env.h"

namespace fs = std::filesystem;
using namespace embedflow;
using namespace embedflow::test;

namespace {

std::string last_line(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1);
}

std::string snapshot_of(const HubEnv& env) {
  std::string commit = test::read_file(env.repo_dir() + "/refs/main");
  return env.repo_dir() + "/snapshots/" + commit;
}

}  // namespace

TEST_CASE("cli: models fetch fills the cache, prints the folder, and a rerun is a no-op") {
  HubEnv env;
  HubServer server;
  ::setenv("HF_ENDPOINT", server.endpoint().c_str(), 1);
  CommandResult r = run_cli("models fetch embedflow-test/tiny-st --progress off");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string snapshot = snapshot_of(env);
  CHECK(last_line(r.output) == snapshot);
  CHECK_THAT(r.output, Catch::Contains("10 files, 10 downloaded"));
  CHECK_THAT(r.output,
             Catch::Contains("left out 1 file(s) a model does not need (onnx/model.onnx)"));
  // Pickles are named, with why and how to get one anyway.
  CHECK_THAT(r.output, Catch::Contains("left out 2 PyTorch pickle/TorchScript file(s)") &&
                           Catch::Contains("2_Dense/pytorch_model.bin") &&
                           Catch::Contains("can run arbitrary code") &&
                           Catch::Contains("--include"));
  CHECK(sha256_file(snapshot + "/model.safetensors") ==
        sha256_file(fixture_file("model.safetensors")));

  CommandResult again = run_cli("models fetch embedflow-test/tiny-st --progress off");
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output,
             Catch::Contains("0 downloaded") && Catch::Contains("already up to date"));

  CommandResult path = run_cli("models path embedflow-test/tiny-st");
  CHECK(path.exit_code == 0);
  CHECK(last_line(path.output) == snapshot);
}

TEST_CASE("cli: models list shows what is cached") {
  HubEnv env;
  CommandResult empty = run_cli("models list");
  CHECK(empty.exit_code == 0);
  CHECK_THAT(empty.output, Catch::Contains("no models in the cache " + env.cache()));

  HubServer server;
  ::setenv("HF_ENDPOINT", server.endpoint().c_str(), 1);
  REQUIRE(run_cli("models fetch embedflow-test/tiny-st --progress off").exit_code == 0);
  REQUIRE(run_cli("models fetch embedflow-test/tiny-st -r v1.0 --progress off").exit_code == 0);
  const std::string commit = test::read_file(env.repo_dir() + "/refs/main");

  CommandResult list = run_cli("models list");
  INFO(list.output);
  CHECK(list.exit_code == 0);
  CHECK_THAT(list.output,
             Catch::Contains("embedflow-test/tiny-st  " + commit.substr(0, 12) + "  main,v1.0"));
  CHECK_THAT(list.output, Catch::Contains("1 model, "));

  CommandResult json = run_cli("models list --json");
  REQUIRE(json.exit_code == 0);
  auto j = nlohmann::json::parse(json.output);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["id"] == "embedflow-test/tiny-st");
  CHECK(j[0]["revisions"][0]["commit"] == commit);
  CHECK(j[0]["revisions"][0]["files"] == kDefaultFiles.size());
  uint64_t expected = 0;
  for (const auto& p : kDefaultFiles) expected += fs::file_size(fixture_file(p));
  CHECK(j[0]["size_on_disk"] == expected);
}

TEST_CASE("cli: models fetch --to writes a plain folder") {
  HubEnv env;
  HubServer server;
  TempDir out("hub-cli-to");
  ::setenv("HF_ENDPOINT", server.endpoint().c_str(), 1);
  CommandResult r =
      run_cli("models fetch embedflow-test/tiny-st --progress off --to '" + out.file("m") + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(last_line(r.output) == out.file("m"));
  CHECK(fs::is_regular_file(out.file("m/1_Pooling/config.json")));
  CHECK_FALSE(fs::is_symlink(out.file("m/model.safetensors")));
  CHECK_FALSE(fs::exists(env.repo_dir()));
}

TEST_CASE("cli: progress on draws a bar with bytes and rate") {
  HubEnv env;
  HubServer server;
  CommandResult r =
      run_cli("models fetch embedflow-test/tiny-st --progress on --endpoint " + server.endpoint());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("[########################] 10/10"));
  CHECK_THAT(r.output, Catch::Contains("KB / ") && Catch::Contains("/s"));
}

TEST_CASE("cli: files whose ETag cannot be checked are named in the report") {
  HubEnv env;
  FakeRepo repo;
  repo.files = {{"config.json", "{}", ""}, {"vocab.txt", "a\nb\n", "opaque-1"}};
  RawServer server([&](const RawServer::Request& req, int fd) { repo.serve(req, fd); });
  CommandResult r =
      run_cli("models fetch hostile/repo --progress off --endpoint " + server.endpoint());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("could not verify 1 file(s) (vocab.txt)"));
}

TEST_CASE("cli: failures exit 1 with the reason") {
  HubEnv env;
  HubServer server;
  ::setenv("HF_ENDPOINT", server.endpoint().c_str(), 1);
  CommandResult missing = run_cli("models fetch embedflow-test/nope");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Catch::Contains("error: repository 'embedflow-test/nope' not found"));

  ::setenv("HF_ENDPOINT", ("http://127.0.0.1:" + std::to_string(closed_port())).c_str(), 1);
  CommandResult offline = run_cli("models fetch embedflow-test/tiny-st");
  CHECK(offline.exit_code == 1);
  CHECK_THAT(offline.output, Catch::Contains("cannot reach") &&
                                 Catch::Contains("offline models can be given as a path"));

  CommandResult bad = run_cli("models fetch 'not/a/repo'");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Catch::Contains("is not a hub model id"));

  CommandResult not_cached = run_cli("models path embedflow-test/tiny-st");
  CHECK(not_cached.exit_code == 1);
  CHECK_THAT(not_cached.output, Catch::Contains("embedflow models fetch embedflow-test/tiny-st"));

  CommandResult usage = run_cli("models");
  CHECK(usage.exit_code == 2);
}
