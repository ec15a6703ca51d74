// fetch_model against the local fake hub: cache layout, reuse, resume, checksums, errors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "embedflow/hash.h"
#include "embedflow/hub/hub.h"
#include "tests/hub/hub_server.h"
#include "tests/hub/hub_test_env.h"

namespace fs = std::filesystem;
using namespace embedflow;
using namespace embedflow::test;
using hub::HubError;

namespace {

hub::FetchOptions options_for(const HubServer& server) {
  hub::FetchOptions o;
  o.endpoint = server.endpoint();
  o.progress = ProgressMode::Off;
  o.retry_wait_s = 0.01;
  return o;
}

std::set<std::string> paths_of(const hub::FetchResult& r) {
  std::set<std::string> out;
  for (const auto& f : r.files) out.insert(f.path);
  return out;
}

size_t count_requests(const HubServer& s, const std::string& method, const std::string& prefix) {
  size_t n = 0;
  for (const auto& r : s.requests())
    if (r["method"] == method && r["path"].get<std::string>().rfind(prefix, 0) == 0) ++n;
  return n;
}

}  // namespace

TEST_CASE("fetch writes huggingface_hub's cache layout: blobs by etag, relative symlinks, refs") {
  HubEnv env;
  HubServer server;
  hub::FetchResult r = hub::fetch_model(kRepo, options_for(server));

  REQUIRE(r.commit.size() == 40);
  const fs::path repo_dir = env.repo_dir();
  const fs::path snapshot = repo_dir / "snapshots" / r.commit;
  CHECK(r.dir == snapshot.string());
  CHECK(paths_of(r) == kDefaultFiles);
  CHECK(std::set<std::string>(r.skipped.begin(), r.skipped.end()) == kSkippedFiles);
  CHECK(tree(snapshot) == kDefaultFiles);
  CHECK(test::read_file((repo_dir / "refs" / "main").string()) == r.commit);

  for (const auto& path : kDefaultFiles) {
    INFO(path);
    const fs::path pointer = snapshot / path;
    REQUIRE(fs::is_symlink(pointer));
    const fs::path target = fs::read_symlink(pointer);
    CHECK(target.is_relative());
    // ../../blobs/<etag>, one more ../ per folder level of the path inside the repository.
    const size_t depth = std::count(path.begin(), path.end(), '/');
    std::string up;
    for (size_t i = 0; i < depth + 2; ++i) up += "../";
    CHECK(target.parent_path().generic_string() + "/" == up + "blobs/");
    // LFS files are named by their sha256, the others by their git blob id.
    const bool lfs =
        path.find(".safetensors") != std::string::npos || path.find(".bin") != std::string::npos;
    const std::string expected_etag =
        lfs ? sha256_file(fixture_file(path)) : git_blob_sha1(fixture_file(path));
    CHECK(target.filename().string() == expected_etag);
    CHECK(test::read_file(pointer.string()) == test::read_file(fixture_file(path)));
  }
  for (const auto& blob : tree(repo_dir / "blobs"))
    CHECK(blob.find(".incomplete") == std::string::npos);
  CHECK(r.bytes_downloaded > fs::file_size(fixture_file("model.safetensors")));
  // The pickle duplicating model.safetensors was never requested.
  CHECK(count_requests(server, "HEAD",
                       "/embedflow-test/tiny-st/resolve/" + r.commit + "/pytorch_model.bin") == 0);
}

TEST_CASE("a second fetch downloads nothing and asks only for the commit") {
  HubEnv env;
  HubServer server;
  hub::FetchResult first = hub::fetch_model(kRepo, options_for(server));
  const size_t before = server.requests().size();
  hub::FetchResult second = hub::fetch_model(kRepo, options_for(server));

  CHECK(second.commit == first.commit);
  CHECK(second.bytes_downloaded == 0);
  CHECK(paths_of(second) == kDefaultFiles);
  for (const auto& f : second.files) CHECK_FALSE(f.downloaded);
  auto requests = server.requests();
  REQUIRE(requests.size() == before + 1);
  CHECK(requests.back()["path"] == "/api/models/embedflow-test/tiny-st/revision/main");
}

TEST_CASE("fetching a tag of a cached commit writes its ref without downloading") {
  HubEnv env;
  HubServer server;
  hub::FetchResult main = hub::fetch_model(kRepo, options_for(server));
  hub::FetchOptions o = options_for(server);
  o.revision = "v1.0";
  hub::FetchResult tag = hub::fetch_model(kRepo, o);
  CHECK(tag.commit == main.commit);
  CHECK(tag.bytes_downloaded == 0);
  CHECK(test::read_file(env.repo_dir() + "/refs/v1.0") == main.commit);
  CHECK(hub::resolve_model_path(std::string(kRepo) + "@v1.0") == main.dir);

  // A commit hash needs no ref.
  o.revision = main.commit;
  CHECK(hub::fetch_model(kRepo, o).bytes_downloaded == 0);
  CHECK_FALSE(fs::exists(env.repo_dir() + "/refs/" + main.commit));
}

TEST_CASE("a transfer cut midway is resumed with an HTTP Range request") {
  HubEnv env;
  HubServer server("interrupt");
  hub::FetchResult r = hub::fetch_model(kRepo, options_for(server));

  const std::string sha = sha256_file(fixture_file("model.safetensors"));
  const auto size = fs::file_size(fixture_file("model.safetensors"));
  std::vector<std::string> ranges;
  for (const auto& q : server.requests())
    if (q["path"] == "/cdn/" + sha && q["method"] == "GET")
      ranges.push_back(q["range"].is_null() ? "" : q["range"].get<std::string>());
  // First a plain GET (cut at half), then the resume from where the bytes stopped.
  REQUIRE(ranges.size() == 2);
  CHECK(ranges[0].empty());
  CHECK(ranges[1] == "bytes=" + std::to_string(size / 2) + "-");
  const fs::path blob = env.repo_dir() + "/blobs/" + sha;
  CHECK(sha256_file(blob.string()) == sha);
  CHECK(test::read_file(r.dir + "/model.safetensors") ==
        test::read_file(fixture_file("model.safetensors")));
  CHECK_FALSE(fs::exists(blob.string() + ".incomplete"));
}

TEST_CASE("an interrupted fetch that gave up resumes in the next run") {
  HubEnv env;
  HubServer server("interrupt");
  hub::FetchOptions o = options_for(server);
  o.max_attempts = 1;
  o.include = {"model.safetensors"};
  std::string message;
  CHECK(fetch_error_kind(kRepo, o, message) == HubError::Kind::Network);
  CHECK_THAT(message, Catch::Contains("run the fetch again to resume"));

  // The cut file waits as .incomplete; the ref does not point at the half snapshot.
  const std::string sha = sha256_file(fixture_file("model.safetensors"));
  const auto size = fs::file_size(fixture_file("model.safetensors"));
  const fs::path incomplete = env.repo_dir() + "/blobs/" + sha + ".incomplete";
  REQUIRE(fs::exists(incomplete));
  CHECK(fs::file_size(incomplete) == size / 2);
  CHECK_FALSE(fs::exists(env.repo_dir() + "/refs/main"));
  CHECK_THROWS_AS(hub::resolve_model_path(kRepo), HubError);

  hub::FetchResult r = hub::fetch_model(kRepo, options_for(server));
  CHECK(sha256_file(r.dir + "/model.safetensors") == sha);
  CHECK(r.bytes_downloaded < 2 * size);  // the first half was not fetched again
  bool resumed = false;
  for (const auto& q : server.requests())
    resumed |=
        q["path"] == "/cdn/" + sha && q["range"] == "bytes=" + std::to_string(size / 2) + "-";
  CHECK(resumed);
  CHECK(hub::resolve_model_path(kRepo) == r.dir);
}

TEST_CASE("bytes that differ from the advertised sha256 are rejected and nothing is kept") {
  HubEnv env;
  HubServer server("corrupt");
  for (const std::string file : {"2_Dense/pytorch_model.bin", "model.safetensors"}) {
    INFO(file);
    hub::FetchOptions o = options_for(server);
    o.include = {file};
    std::string message;
    CHECK(fetch_error_kind(kRepo, o, message) == HubError::Kind::Checksum);
    const std::string sha = sha256_file(fixture_file(file));
    CHECK_THAT(message, Catch::Contains("sha256 of the received bytes is") &&
                            Catch::Contains("the hub announced " + sha));
    CHECK_THAT(message, Catch::Contains("'embedflow-test/tiny-st' file '" + file + "'"));
    CHECK_FALSE(fs::exists(env.repo_dir() + "/blobs/" + sha));
    CHECK_FALSE(fs::exists(env.repo_dir() + "/blobs/" + sha + ".incomplete"));
  }
  // The whole model: the first LFS file fails; no weights are visible anywhere.
  std::string message;
  CHECK(fetch_error_kind(kRepo, options_for(server), message) == HubError::Kind::Checksum);
  for (const auto& path : tree(env.repo_dir() + "/snapshots")) {
    CHECK(path.find("model.safetensors") == std::string::npos);
    CHECK(path.find("pytorch_model.bin") == std::string::npos);
  }
  for (const auto& blob : tree(env.repo_dir() + "/blobs"))
    CHECK(blob.find(".incomplete") == std::string::npos);
  CHECK_FALSE(fs::exists(env.repo_dir() + "/refs/main"));
  CHECK_THROWS_AS(hub::resolve_model_path(kRepo), HubError);
}

TEST_CASE("a full disk is reported as a write error, and what was written is resumed later") {
  HubEnv env;
  HubServer server;
  hub::FetchOptions o = options_for(server);
  o.include = {"model.safetensors"};
  std::string message;
  HubError::Kind kind;
  {
    FileSizeLimit limit(16 * 1024);  // writes past 16 KB fail
    kind = fetch_error_kind(kRepo, o, message);
  }
  CHECK(kind == HubError::Kind::Io);
  const std::string sha = sha256_file(fixture_file("model.safetensors"));
  CHECK_THAT(message,
             Catch::Contains("cannot write " + env.repo_dir() + "/blobs/" + sha + ".incomplete"));
  CHECK_THAT(message, !Catch::Contains("cannot reach"));

  hub::FetchResult r = hub::fetch_model(kRepo, o);
  CHECK(sha256_file(r.dir + "/model.safetensors") == sha);
  CHECK(r.bytes_downloaded < fs::file_size(fixture_file("model.safetensors")));  // resumed
}

TEST_CASE("unknown repositories and revisions give a clear message") {
  HubEnv env;
  HubServer server;
  std::string message;
  CHECK(fetch_error_kind("embedflow-test/nope", options_for(server), message) ==
        HubError::Kind::NotFound);
  CHECK_THAT(message,
             Catch::Contains("repository 'embedflow-test/nope' not found on " + server.endpoint()));
  CHECK_THAT(message, Catch::Contains("HF_TOKEN"));

  hub::FetchOptions o = options_for(server);
  o.revision = "no-such-branch";
  CHECK(fetch_error_kind(kRepo, o, message) == HubError::Kind::NotFound);
  CHECK_THAT(message, Catch::Contains("revision 'no-such-branch' not found"));

  CHECK(fetch_error_kind("not a repo id", o, message) == HubError::Kind::Invalid);
  CHECK(fetch_error_kind("a/b/c", o, message) == HubError::Kind::Invalid);
}

TEST_CASE("no network: curl's reason and what to do instead") {
  HubEnv env;
  hub::FetchOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
  o.progress = ProgressMode::Off;
  std::string message;
  CHECK(fetch_error_kind(kRepo, o, message) == HubError::Kind::Network);
  CHECK_THAT(message, Catch::Contains("cannot reach " + o.endpoint));
  CHECK_THAT(message, Catch::Contains("onnect"));  // curl: "Couldn't connect to server"
  CHECK_THAT(message, Catch::Contains("set HF_ENDPOINT"));
  CHECK_THAT(message, Catch::Contains("offline models can be given as a path"));
  CHECK_FALSE(fs::exists(env.repo_dir() + "/refs"));
}

TEST_CASE("HF_HUB_OFFLINE refuses to fetch") {
  HubEnv env;
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  std::string message;
  hub::FetchOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
  CHECK(fetch_error_kind(kRepo, o, message) == HubError::Kind::Offline);
  CHECK_THAT(message, Catch::Contains("HF_HUB_OFFLINE"));
}

TEST_CASE("HF_TOKEN is sent to the hub as a bearer token, never to the CDN") {
  HubEnv env;
  HubServer server("ok", "s3cret");
  std::string message;
  CHECK(fetch_error_kind(kRepo, options_for(server), message) == HubError::Kind::NotFound);
  CHECK_THAT(message, Catch::Contains("set HF_TOKEN"));

  ::setenv("HF_TOKEN", "s3cret", 1);
  hub::FetchResult r = hub::fetch_model(kRepo, options_for(server));
  CHECK(paths_of(r) == kDefaultFiles);
  size_t hub_requests = 0, cdn_requests = 0;
  for (const auto& q : server.requests()) {
    const std::string path = q["path"];
    if (path.rfind("/cdn/", 0) == 0) {
      ++cdn_requests;
      CHECK(q["authorization"].is_null());
    } else if (q["authorization"] == "Bearer s3cret") {
      ++hub_requests;
    }
  }
  CHECK(hub_requests >= 1 + kDefaultFiles.size());  // the API call, then a HEAD per file
  CHECK(cdn_requests == 1);                         // model.safetensors
}

TEST_CASE("the token file under HF_HOME is used when HF_TOKEN is not set") {
  HubEnv env;
  HubServer server("ok", "from-file");
  write_file(env.home() + "/token", "from-file\n");
  CHECK(hub::hub_token() == "from-file");
  CHECK(paths_of(hub::fetch_model(kRepo, options_for(server))) == kDefaultFiles);
}

TEST_CASE(
    "fetching to a folder (--to) writes plain files with huggingface_hub's local-dir metadata") {
  HubEnv env;
  HubServer server;
  TempDir out("hub-to");
  hub::FetchOptions o = options_for(server);
  o.to_dir = out.path() + "/model";
  hub::FetchResult r = hub::fetch_model(kRepo, o);
  CHECK(r.dir == o.to_dir);

  std::set<std::string> files;
  for (const auto& p : tree(o.to_dir))
    if (p.rfind(".cache/", 0) != 0) files.insert(p);
  CHECK(files == kDefaultFiles);
  for (const auto& path : kDefaultFiles) {
    INFO(path);
    CHECK_FALSE(fs::is_symlink(o.to_dir + "/" + path));
    CHECK(test::read_file(o.to_dir + "/" + path) == test::read_file(fixture_file(path)));
  }
  const std::string meta =
      test::read_file(o.to_dir + "/.cache/huggingface/download/model.safetensors.metadata");
  CHECK(meta.rfind(r.commit + "\n" + sha256_file(fixture_file("model.safetensors")) + "\n", 0) ==
        0);
  CHECK_FALSE(fs::exists(env.repo_dir()));  // the cache is not involved

  const size_t before = server.requests().size();
  hub::FetchResult again = hub::fetch_model(kRepo, o);
  CHECK(again.bytes_downloaded == 0);
  CHECK(server.requests().size() == before + 1);

  // A file edited by hand is fetched again, not trusted.
  write_file(o.to_dir + "/config.json", "{}");
  fs::last_write_time(o.to_dir + "/config.json",
                      fs::file_time_type::clock::now() + std::chrono::hours(1));
  hub::fetch_model(kRepo, o);
  CHECK(test::read_file(o.to_dir + "/config.json") == test::read_file(fixture_file("config.json")));
}

TEST_CASE(
    "fetching to a folder (--to) copies blobs already in the cache instead of downloading them") {
  HubEnv env;
  HubServer server;
  hub::fetch_model(kRepo, options_for(server));
  TempDir out("hub-to");
  hub::FetchOptions o = options_for(server);
  o.to_dir = out.path();
  hub::FetchResult r = hub::fetch_model(kRepo, o);
  CHECK(r.bytes_downloaded == 0);
  CHECK(count_requests(server, "GET", "/cdn/") == 1);  // from the first (cache) fetch only
  CHECK(test::read_file(out.file("model.safetensors")) ==
        test::read_file(fixture_file("model.safetensors")));
}

TEST_CASE("include globs and all_files choose the files") {
  HubEnv env;
  HubServer server;
  hub::FetchOptions o = options_for(server);
  o.include = {"*.json"};
  hub::FetchResult r = hub::fetch_model(kRepo, o);
  CHECK(paths_of(r) == std::set<std::string>{"1_Pooling/config.json", "2_Dense/config.json",
                                             "config.json", "modules.json",
                                             "sentence_bert_config.json", "special_tokens_map.json",
                                             "tokenizer_config.json"});
  o.include = {"nothing-*"};
  std::string message;
  CHECK(fetch_error_kind(kRepo, o, message) == HubError::Kind::NotFound);
  CHECK_THAT(message, Catch::Contains("--include"));

  o.include.clear();
  o.all_files = true;
  r = hub::fetch_model(kRepo, o);
  std::set<std::string> all = kDefaultFiles;
  all.insert(kSkippedFiles.begin(), kSkippedFiles.end());
  CHECK(paths_of(r) == all);
  CHECK(r.skipped.empty());
}

TEST_CASE("select_files keeps what a model needs") {
  const std::vector<std::string> repo = {".gitattributes",
                                         "config.json",
                                         "model.safetensors",
                                         "pytorch_model.bin",
                                         "tf_model.h5",
                                         "flax_model.msgpack",
                                         "rust_model.ot",
                                         "onnx/model.onnx",
                                         "onnx/config.json",
                                         "openvino/openvino_model.xml",
                                         "openvino/openvino_model.bin",
                                         "1_Pooling/config.json",
                                         "2_Dense/pytorch_model.bin",
                                         "0_CLIPModel/model.safetensors",
                                         "0_CLIPModel/pytorch_model.bin",
                                         "tokenizer.json"};
  hub::FetchOptions o;
  std::vector<std::string> skipped;
  auto kept = hub::select_files(repo, o, &skipped);
  CHECK(kept == std::vector<std::string>{".gitattributes", "config.json", "model.safetensors",
                                         "1_Pooling/config.json", "0_CLIPModel/model.safetensors",
                                         "tokenizer.json"});
  CHECK(kept.size() + skipped.size() == repo.size());

  // Pickles only when asked for, even as the only weights: loading one can run code.
  CHECK(hub::select_files({"config.json", "pytorch_model.bin", "model.onnx", "traced.pt"}, o) ==
        std::vector<std::string>{"config.json"});

  o.include = {"onnx/", "*.h5"};
  CHECK(hub::select_files(repo, o) ==
        std::vector<std::string>{"tf_model.h5", "onnx/model.onnx", "onnx/config.json"});
  o.include = {"*.json"};  // '*' crosses folders, as in huggingface_hub's allow_patterns
  CHECK(hub::select_files(repo, o).size() == 4);
}
