// resolve_model_path, the cache location and listing: no network involved.
#include <catch2/catch.hpp>

#include <filesystem>

#include "embedflow/hub/hub.h"
#include "tests/hub/hub_test_env.h"

namespace fs = std::filesystem;
using namespace embedflow;
using namespace embedflow::test;
using hub::HubError;

namespace {

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";
const std::string kOldCommit = "fedcba9876543210fedcba9876543210fedcba98";

// A cache entry laid out by hand the way huggingface_hub writes it, as a user who downloaded
// the model from Python has it.
void write_python_cache(const std::string& cache) {
  const std::string repo = cache + "/models--sentence-transformers--all-MiniLM-L6-v2";
  const std::string etag = "e0b8b5b0c1c2f0e6b7a3d9c4f5e6a7b8c9d0e1f2";
  write_file(repo + "/blobs/" + etag, "{\"hidden_size\": 384}\n");
  write_file(repo + "/blobs/aa11", "old\n");
  write_file(repo + "/refs/main", kCommit);  // no newline, as huggingface_hub writes it
  write_file(repo + "/refs/refs/pr/1", kOldCommit);
  fs::create_directories(repo + "/snapshots/" + kCommit + "/1_Pooling");
  fs::create_symlink("../../blobs/" + etag, repo + "/snapshots/" + kCommit + "/config.json");
  fs::create_symlink("../../../blobs/" + etag,
                     repo + "/snapshots/" + kCommit + "/1_Pooling/config.json");
  fs::create_directories(repo + "/snapshots/" + kOldCommit);
  fs::create_symlink("../../blobs/aa11", repo + "/snapshots/" + kOldCommit + "/config.json");
  write_file(repo + "/blobs/bb22.incomplete", "half");
}

std::string resolve_error(const std::string& spec, HubError::Kind* kind = nullptr) {
  try {
    std::string p = hub::resolve_model_path(spec);
    FAIL("resolved " << spec << " to " << p);
  } catch (const HubError& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the cache folder follows huggingface_hub's variables") {
  HubEnv env;
  CHECK(hub::hub_cache_dir() == env.home() + "/hub");
  ::setenv("HF_HUB_CACHE", "/somewhere/hub-cache", 1);
  CHECK(hub::hub_cache_dir() == "/somewhere/hub-cache");
  ::unsetenv("HF_HUB_CACHE");
  ::unsetenv("HF_HOME");
  ::setenv("XDG_CACHE_HOME", "/xdg", 1);
  CHECK(hub::hub_cache_dir() == "/xdg/huggingface/hub");
  ::unsetenv("XDG_CACHE_HOME");
  CHECK(hub::hub_cache_dir() == std::string(std::getenv("HOME")) + "/.cache/huggingface/hub");

  CHECK(hub::hub_endpoint() == "https://huggingface.co");
  ::setenv("HF_ENDPOINT", "http://mirror.local:8080/", 1);
  CHECK(hub::hub_endpoint() == "http://mirror.local:8080");
  CHECK(hub::repo_folder_name("org/name") == "models--org--name");
  CHECK(hub::repo_folder_name("bert-base-uncased") == "models--bert-base-uncased");
}

TEST_CASE("model specs: org/name[@revision]") {
  auto s = hub::parse_model_spec("sentence-transformers/all-MiniLM-L6-v2");
  REQUIRE(s);
  CHECK(s->repo_id == "sentence-transformers/all-MiniLM-L6-v2");
  CHECK(s->revision.empty());
  s = hub::parse_model_spec("openai/clip-vit-base-patch32@refs/pr/1");
  REQUIRE(s);
  CHECK(s->repo_id == "openai/clip-vit-base-patch32");
  CHECK(s->revision == "refs/pr/1");
  CHECK(hub::parse_model_spec("bert-base-uncased"));
  for (const char* bad : {"", "a/b/c", "./model", "/abs/path", "models/x.safetensors/", "org/na me",
                          "org/name@", "org/-name", "org/na--me", "org/../x"})
    CHECK_FALSE(hub::parse_model_spec(bad));
}

TEST_CASE("an existing path is returned as it is") {
  HubEnv env;
  TempDir dir("hub-path");
  write_file(dir.file("model.safetensors"), "x");
  CHECK(hub::resolve_model_path(dir.path()) == dir.path());
  CHECK(hub::resolve_model_path(dir.file("model.safetensors")) == dir.file("model.safetensors"));
  HubError::Kind kind;
  CHECK_THAT(resolve_error(dir.file("missing.safetensors"), &kind),
             Catch::Contains("no such file or folder"));
  CHECK(kind == HubError::Kind::NotCached);
}

TEST_CASE("a hub id resolves to the snapshot a Python download left in the cache") {
  HubEnv env;
  write_python_cache(env.cache());
  const std::string repo = env.cache() + "/models--sentence-transformers--all-MiniLM-L6-v2";
  CHECK(hub::resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") ==
        repo + "/snapshots/" + kCommit);
  CHECK(hub::resolve_model_path("sentence-transformers/all-MiniLM-L6-v2@main") ==
        repo + "/snapshots/" + kCommit);
  CHECK(hub::resolve_model_path("sentence-transformers/all-MiniLM-L6-v2@refs/pr/1") ==
        repo + "/snapshots/" + kOldCommit);
  CHECK(hub::resolve_model_path("sentence-transformers/all-MiniLM-L6-v2@" + kOldCommit) ==
        repo + "/snapshots/" + kOldCommit);
  CHECK(test::read_file(hub::resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") +
                        "/1_Pooling/config.json") == "{\"hidden_size\": 384}\n");
  // HF_HUB_CACHE wins over HF_HOME.
  ::setenv("HF_HUB_CACHE", env.cache().c_str(), 1);
  ::setenv("HF_HOME", "/nonexistent", 1);
  CHECK(hub::resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") ==
        repo + "/snapshots/" + kCommit);
}

TEST_CASE("model_resolver: what a run identity hashes, or \"\" when it is not here") {
  HubEnv env;
  ::setenv("HF_ENDPOINT", "http://127.0.0.1:9", 1);  // would fail loudly if it were used
  const ModelResolver resolve = hub::model_resolver();
  TempDir dir("hub-resolver");
  write_file(dir.file("model.safetensors"), "x");
  CHECK(resolve(dir.file("model.safetensors")) == dir.file("model.safetensors"));
  CHECK(resolve("sentence-transformers/all-MiniLM-L6-v2").empty());  // not cached yet

  write_python_cache(env.cache());
  const std::string repo = env.cache() + "/models--sentence-transformers--all-MiniLM-L6-v2";
  CHECK(resolve("sentence-transformers/all-MiniLM-L6-v2") == repo + "/snapshots/" + kCommit);
  CHECK(resolve("sentence-transformers/all-MiniLM-L6-v2@refs/pr/1") ==
        repo + "/snapshots/" + kOldCommit);
  CHECK(resolve("sentence-transformers/all-MiniLM-L6-v2@v2.0").empty());  // revision not cached
  CHECK(resolve("").empty());
  CHECK(resolve("org/na me").empty());
  CHECK(resolve(dir.file("missing.safetensors")).empty());
}

TEST_CASE("a model that is not cached says how to fetch it, and never downloads") {
  HubEnv env;
  ::setenv("HF_ENDPOINT", "http://127.0.0.1:9", 1);  // would fail loudly if it were used
  HubError::Kind kind;
  std::string m = resolve_error("org/name", &kind);
  CHECK(kind == HubError::Kind::NotCached);
  CHECK_THAT(m, Catch::Contains("run `embedflow models fetch org/name`"));
  CHECK_THAT(m, Catch::Contains(env.cache()));

  write_python_cache(env.cache());
  m = resolve_error("sentence-transformers/all-MiniLM-L6-v2@v2.0");
  CHECK_THAT(m,
             Catch::Contains(
                 "embedflow models fetch sentence-transformers/all-MiniLM-L6-v2 --revision v2.0"));
  CHECK_THAT(m, Catch::Contains("cached: ") && Catch::Contains(kCommit.substr(0, 12) + " (main)"));

  ::setenv("HF_HUB_OFFLINE", "1", 1);
  CHECK_THAT(resolve_error("org/name"), Catch::Contains("HF_HUB_OFFLINE is set"));
}

TEST_CASE("list_cached_models reports repos, refs, files and size") {
  HubEnv env;
  CHECK(hub::list_cached_models().empty());  // no cache folder at all
  write_python_cache(env.cache());
  write_file(env.cache() + "/datasets--x--y/refs/main", kCommit);  // not a model: ignored
  auto repos = hub::list_cached_models();
  REQUIRE(repos.size() == 1);
  const auto& r = repos[0];
  CHECK(r.repo_id == "sentence-transformers/all-MiniLM-L6-v2");
  CHECK(r.size_on_disk == std::string("{\"hidden_size\": 384}\n").size() + 4);
  CHECK(r.incomplete == 1);
  REQUIRE(r.revisions.size() == 2);
  CHECK(r.revisions[0].commit == kCommit);
  CHECK(r.revisions[0].refs == std::vector<std::string>{"main"});
  CHECK(r.revisions[0].files == 2);
  CHECK(r.revisions[1].commit == kOldCommit);
  CHECK(r.revisions[1].refs == std::vector<std::string>{"refs/pr/1"});
  CHECK(r.revisions[1].files == 1);

  CHECK(hub::format_bytes(999) == "999 B");
  CHECK(hub::format_bytes(1500) == "1.5 KB");
  CHECK(hub::format_bytes(90'900'000) == "90.9 MB");
}
