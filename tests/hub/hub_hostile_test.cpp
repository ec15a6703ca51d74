// fetch_model against a hostile or broken hub (RawServer): every answer a real hub never gives
// must fail cleanly, or be survived, without writing anything outside the cache / --to folder.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "embedflow/hash.h"
#include "embedflow/hub/hub.h"
#include "tests/hub/hub_server.h"
#include "tests/hub/hub_test_env.h"

namespace fs = std::filesystem;
using namespace embedflow;
using namespace embedflow::test;
using hub::HubError;

namespace {

const char* kHostile = "hostile/repo";

hub::FetchOptions options_for(const RawServer& server) {
  hub::FetchOptions o;
  o.endpoint = server.endpoint();
  o.progress = ProgressMode::Off;
  o.retry_wait_s = 0.01;
  o.connect_timeout_s = 1;
  return o;
}

FakeRepo small_repo() {
  FakeRepo repo;
  repo.files = {{"config.json", "{\"hidden_size\": 4}", ""},
                {"model.safetensors", std::string(100, 'w'), ""}};
  return repo;
}

std::string repo_dir(const HubEnv& env) {
  return env.cache() + "/models--hostile--repo";
}

HubError::Kind fetch_error_kind(const hub::FetchOptions& o, std::string& message) {
  return test::fetch_error_kind(kHostile, o, message);
}

size_t count(const RawServer& s, const std::string& method, const std::string& path) {
  size_t n = 0;
  for (const auto& r : s.requests()) n += r.method == method && r.path == path;
  return n;
}

// The largest file (blob or partial download) in the repository's blobs folder.
uint64_t largest_blob(const HubEnv& env) {
  uint64_t largest = 0;
  for (const auto& p : tree(repo_dir(env) + "/blobs"))
    largest = std::max<uint64_t>(largest, fs::file_size(repo_dir(env) + "/blobs/" + p));
  return largest;
}

}  // namespace

TEST_CASE("hostile: a body longer than announced is cut at the announced size") {
  HubEnv env;
  const FakeRepo repo = small_repo();
  const std::string file_path = repo.resolve_path("model.safetensors");
  // The HEAD announces 100 bytes; the GET answers with a lying Content-Length, or with a chunked
  // body that does not end (50 MB, as the probe saw, if nobody stops it).
  for (const bool chunked : {false, true}) {
    INFO((chunked ? "chunked" : "Content-Length"));
    RawServer server([&](const RawServer::Request& req, int fd) {
      if (req.method == "GET" && req.path == file_path) {
        const std::string etag = sha256_hex(repo.files[1].content);
        Headers h = {{"ETag", "\"" + etag + "\""}};
        h.emplace_back(chunked ? "Transfer-Encoding" : "Content-Length",
                       chunked ? "chunked" : std::to_string(50u << 20));
        if (!send_all(fd, http_head(200, h))) return;
        const std::string block(64 * 1024, 'x');
        for (int i = 0; i < 800 && !server.stopping(); ++i) {
          char size[16];
          std::snprintf(size, sizeof size, "%zx\r\n", block.size());
          if (!send_all(fd, chunked ? size + block + "\r\n" : block)) return;
        }
        return;
      }
      repo.serve(req, fd);
    });
    std::string message;
    CHECK(fetch_error_kind(options_for(server), message) == HubError::Kind::Checksum);
    CHECK_THAT(message, Catch::Contains("file 'model.safetensors'") &&
                            Catch::Contains("more than the 100 bytes the hub announced") &&
                            Catch::Contains(server.endpoint() + file_path));
    CHECK(largest_blob(env) <= 100);
    for (const auto& p : tree(repo_dir(env) + "/blobs"))
      CHECK(p.find(".incomplete") == std::string::npos);
    CHECK_FALSE(fs::exists(repo_dir(env) + "/refs/main"));
    CHECK(env.outside_cache().empty());
  }
}

TEST_CASE("hostile: an API answer beyond the cap is an error, not a silent cut") {
  HubEnv env;
  FakeRepo repo = small_repo();
  for (int i = 0; i < 200; ++i) repo.files.push_back({"extra/file" + std::to_string(i), "x", ""});
  RawServer server([&](const RawServer::Request& req, int fd) { repo.serve(req, fd); });
  hub::FetchOptions o = options_for(server);
  o.max_api_bytes = 1024;
  std::string message;
  CHECK(fetch_error_kind(o, message) == HubError::Kind::Invalid);
  CHECK_THAT(message, Catch::Contains(server.endpoint() + repo.api_path()) &&
                          Catch::Contains("larger than the 1.0 KB allowed"));
  CHECK_FALSE(fs::exists(repo_dir(env)));
  CHECK(env.outside_cache().empty());
}

TEST_CASE("hostile: a commit that is not 40 hex digits is refused before anything is written") {
  for (const std::string& commit :
       {std::string("0123456789abcdef\0"
                    "0123456789abcdef0123456",
                    40),
        std::string(""), std::string("../../../../../escape"),
        std::string("0123456789ABCDEF0123456789ABCDEF01234567"), std::string("main")}) {
    INFO(commit);
    HubEnv env;
    FakeRepo repo = small_repo();
    repo.commit = commit;
    RawServer server([&](const RawServer::Request& req, int fd) { repo.serve(req, fd); });
    std::string message;
    CHECK(fetch_error_kind(options_for(server), message) == HubError::Kind::Invalid);
    CHECK_THAT(message, Catch::Contains("unusable commit"));
    CHECK(count(server, "HEAD", repo.resolve_path("config.json")) == 0);
    CHECK_FALSE(fs::exists(repo_dir(env) + "/snapshots"));
    CHECK_FALSE(fs::exists(repo_dir(env) + "/refs"));
    CHECK(env.outside_cache().empty());
  }
}

TEST_CASE(
    "hostile: opaque ETags are reported unverified and two files sharing one never share a blob") {
  HubEnv env;
  FakeRepo repo;
  // A mirror that answers every file with the same ETag, one that is not a hash at all.
  repo.files = {{"a.json", "{\"first\": 1}", "v1"},
                {"b.json", "{\"second\": 22}", "v1"},
                {"c.txt", "third", "W/\"../../x"}};
  RawServer server([&](const RawServer::Request& req, int fd) { repo.serve(req, fd); });
  hub::FetchResult r = hub::fetch_model(kHostile, options_for(server));

  for (const auto& f : repo.files) {
    INFO(f.path);
    CHECK(test::read_file(r.dir + "/" + f.path) == f.content);
    // Named by what it is: the sha256 of the bytes received.
    CHECK(fs::read_symlink(r.dir + "/" + f.path).filename().string() == sha256_hex(f.content));
  }
  CHECK(r.unverified == std::vector<std::string>{"a.json", "b.json", "c.txt"});
  for (const auto& f : r.files) CHECK_FALSE(f.verified);
  CHECK(tree(repo_dir(env) + "/blobs").size() == 3);
  CHECK(env.outside_cache().empty());

  // --to: the same, as plain files.
  const std::string to = env.sandbox() + "/out";
  hub::FetchOptions o = options_for(server);
  o.to_dir = to;
  r = hub::fetch_model(kHostile, o);
  for (const auto& f : repo.files) CHECK(test::read_file(to + "/" + f.path) == f.content);
  CHECK(r.unverified.size() == 3);
  CHECK(env.outside_cache(to).empty());
}

TEST_CASE("hostile: 5xx, 429 and resets on the API call and on HEAD are retried") {
  HubEnv env;
  const FakeRepo repo = small_repo();
  int api_calls = 0, heads = 0;
  RawServer server([&](const RawServer::Request& req, int fd) {
    if (req.path == repo.api_path() && ++api_calls <= 3) {
      if (api_calls == 1) return send_reply(fd, req, 500, {});
      if (api_calls == 2) return send_reset(fd);
      return send_reply(fd, req, 503, {});
    }
    if (req.method == "HEAD" && req.path == repo.resolve_path("config.json") && ++heads <= 2) {
      if (heads == 1) return send_reply(fd, req, 429, {{"Retry-After", "1"}});
      return send_reply(fd, req, 502, {});
    }
    repo.serve(req, fd);
  });
  const auto start = std::chrono::steady_clock::now();
  hub::FetchResult r = hub::fetch_model(kHostile, options_for(server));
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(r.files.size() == 2);
  CHECK(api_calls == 4);
  CHECK(heads == 3);
  CHECK(took >= 1.0);  // Retry-After: 1 was honoured
  CHECK(test::read_file(r.dir + "/config.json") == repo.files[0].content);

  // Attempts are bounded: a hub that keeps failing fails the fetch with its last answer.
  RawServer down([&](const RawServer::Request& req, int fd) { send_reply(fd, req, 503, {}); });
  hub::FetchOptions o = options_for(down);
  o.max_attempts = 3;
  std::string message;
  CHECK(fetch_error_kind(o, message) == HubError::Kind::Network);
  CHECK_THAT(message, Catch::Contains("HTTP 503"));
  CHECK(down.requests().size() == 3);
  CHECK(env.outside_cache().empty());
}

TEST_CASE("hostile: a server dripping bytes hits the stall timeout") {
  HubEnv env;
  const FakeRepo repo = small_repo();
  const std::string file_path = repo.resolve_path("model.safetensors");
  RawServer server([&](const RawServer::Request& req, int fd) {
    if (req.method == "GET" && req.path == file_path) {
      if (!send_all(fd, http_head(200, {{"Content-Length", "100"}}))) return;
      // 5 bytes a second: never silent for long, never done (the whole file takes 20 s).
      for (int i = 0; i < 100 && !server.stopping(); ++i) {
        if (!send_all(fd, "w")) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      return;
    }
    repo.serve(req, fd);
  });
  hub::FetchOptions o = options_for(server);
  o.max_attempts = 1;
  const auto start = std::chrono::steady_clock::now();
  std::string message;
  CHECK(fetch_error_kind(o, message) == HubError::Kind::Network);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(took < 8);
  CHECK_THAT(message,
             Catch::Contains("model.safetensors") && Catch::Contains("run the fetch again"));
  CHECK(env.outside_cache().empty());
}

TEST_CASE("hostile: the token never follows a redirect to another origin") {
  HubEnv env;
  const FakeRepo repo = small_repo();
  RawServer cdn([&](const RawServer::Request& req, int fd) {
    const std::string prefix = "/cdn" + repo.api_path();
    if (req.path == prefix) return send_reply(fd, req, 200, {}, repo.api_json());
    send_reply(fd, req, 200, {}, repo.files[1].content);
  });
  RawServer hub([&](const RawServer::Request& req, int fd) {
    // The API answer moved to another origin; the weights are served from there too, but only a
    // GET says so (the HEAD answers as for a small file).
    if (req.path == repo.api_path())
      return send_reply(fd, req, 302, {{"Location", cdn.endpoint() + "/cdn" + repo.api_path()}});
    if (req.method == "GET" && req.path == repo.resolve_path("model.safetensors"))
      return send_reply(fd, req, 302, {{"Location", cdn.endpoint() + "/cdn/weights"}});
    repo.serve(req, fd);
  });
  hub::FetchOptions o = options_for(hub);
  o.token = "s3cret";
  hub::FetchResult r = hub::fetch_model(kHostile, o);
  CHECK(test::read_file(r.dir + "/model.safetensors") == repo.files[1].content);
  REQUIRE(cdn.requests().size() == 2);
  for (const auto& q : cdn.requests()) CHECK(q.header("authorization").empty());
  for (const auto& q : hub.requests()) CHECK(q.header("authorization") == "Bearer s3cret");
  CHECK(env.outside_cache().empty());
}

TEST_CASE("hostile: a redirect to anything but http(s) is not followed") {
  HubEnv env;
  TempDir secret("hub-secret");
  write_file(secret.file("token"), std::string(100, 's'));  // as long as the file announced
  const FakeRepo repo = small_repo();
  RawServer server([&](const RawServer::Request& req, int fd) {
    if (req.method == "GET" && req.path == repo.resolve_path("model.safetensors"))
      return send_reply(fd, req, 302, {{"Location", "file://" + secret.file("token")}});
    repo.serve(req, fd);
  });
  std::string message;
  CHECK(fetch_error_kind(options_for(server), message) == HubError::Kind::Network);
  CHECK_THAT(message, Catch::Contains("model.safetensors") && Catch::Contains("not supported"));
  for (const auto& p : tree(repo_dir(env)))
    if (fs::is_regular_file(repo_dir(env) + "/" + p))
      CHECK(test::read_file(repo_dir(env) + "/" + p).find("sss") == std::string::npos);
  CHECK(env.outside_cache().empty());
}

TEST_CASE("hostile: revisions and file names cannot leave the cache or the --to folder") {
  HubEnv env;
  FakeRepo repo = small_repo();
  RawServer server([&](const RawServer::Request& req, int fd) { repo.serve(req, fd); });
  const std::string to = env.sandbox() + "/out";

  for (const std::string& revision :
       {env.sandbox() + "/evil", std::string("../x"), std::string("main/../../../../../x"),
        std::string("a//b"), std::string("main\n"), std::string("ma\0in", 5), std::string("")}) {
    INFO(revision);
    hub::FetchOptions o = options_for(server);
    o.revision = revision;
    std::string message;
    CHECK(fetch_error_kind(o, message) == HubError::Kind::Invalid);
    CHECK_THAT(message, Catch::Contains("invalid revision"));
    CHECK_FALSE(hub::parse_model_spec(std::string(kHostile) + "@" + revision));
  }
  CHECK(server.requests().empty());  // refused before asking

  for (const std::string name : {"../../../../../escaped", "/tmp/escaped-abs", "a/../../escaped",
                                 "a\\..\\escaped", "./x", "a//b", "ctl\x01name"}) {
    INFO(name);
    repo.files = {{"config.json", "{}", ""}, {name, "payload", ""}};
    std::string message;
    CHECK(fetch_error_kind(options_for(server), message) == HubError::Kind::Invalid);
    CHECK_THAT(message, Catch::Contains("unsafe file name"));
    hub::FetchOptions o = options_for(server);
    o.to_dir = to;
    CHECK(fetch_error_kind(o, message) == HubError::Kind::Invalid);
  }
  CHECK_FALSE(fs::exists("/tmp/escaped-abs"));
  CHECK(env.outside_cache(to).empty());
  CHECK(tree(to).empty());
}

TEST_CASE("hostile: a full disk while writing refs or metadata is an Io error naming the file") {
  HubEnv env;
  const FakeRepo repo = small_repo();
  RawServer server([&](const RawServer::Request& req, int fd) { repo.serve(req, fd); });
  hub::FetchOptions by_commit = options_for(server);
  by_commit.revision = repo.commit;
  hub::fetch_model(kHostile, by_commit);  // every blob in place; no ref yet
  const std::string to = env.sandbox() + "/out";
  hub::FetchOptions to_dir = options_for(server);
  to_dir.to_dir = to;
  hub::fetch_model(kHostile, to_dir);
  // Edited since (the metadata no longer vouches for it), yet identical: only the metadata is
  // rewritten.
  fs::last_write_time(to + "/config.json",
                      fs::file_time_type::clock::now() + std::chrono::hours(1));

  std::string ref_message, meta_message;
  HubError::Kind ref_kind, meta_kind;
  {
    FileSizeLimit limit(0);  // any write fails
    ref_kind = fetch_error_kind(options_for(server), ref_message);
    meta_kind = fetch_error_kind(to_dir, meta_message);
  }
  CHECK(ref_kind == HubError::Kind::Io);
  CHECK_THAT(ref_message, Catch::Contains(repo_dir(env) + "/refs/main"));
  CHECK(meta_kind == HubError::Kind::Io);
  CHECK_THAT(meta_message,
             Catch::Contains(to + "/.cache/huggingface/download/config.json.metadata"));
  CHECK_THAT(ref_message + meta_message, !Catch::Contains("cannot reach"));
  CHECK(env.outside_cache(to).empty());
}

TEST_CASE("hostile: a lock held by another process is waited for a bounded time") {
  HubEnv env;
  const FakeRepo repo = small_repo();
  RawServer server([&](const RawServer::Request& req, int fd) { repo.serve(req, fd); });
  const std::string etag = sha256_hex(repo.files[0].content);
  const std::string lock_path = env.cache() + "/.locks/models--hostile--repo/" + etag + ".lock";
  fs::create_directories(fs::path(lock_path).parent_path());
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX) == 0);  // another open file description: a conflicting holder
  hub::FetchOptions o = options_for(server);
  o.lock_timeout_s = 0.5;
  std::string message;
  CHECK(fetch_error_kind(o, message) == HubError::Kind::Io);
  CHECK_THAT(message, Catch::Contains("still holds the lock " + lock_path) &&
                          Catch::Contains("run the fetch again"));
  ::close(fd);
  CHECK(hub::fetch_model(kHostile, o).files.size() == 2);  // released: it goes through
  CHECK(env.outside_cache().empty());
}

TEST_CASE("hostile: a ref write a crash left behind is not listed as a ref") {
  HubEnv env;
  const FakeRepo repo = small_repo();
  RawServer server([&](const RawServer::Request& req, int fd) { repo.serve(req, fd); });
  hub::fetch_model(kHostile, options_for(server));
  write_file(repo_dir(env) + "/refs/main.tmp-12345", repo.commit);
  write_file(repo_dir(env) + "/refs/v2.tmp-999", repo.commit);
  auto repos = hub::list_cached_models();
  REQUIRE(repos.size() == 1);
  REQUIRE(repos[0].revisions.size() == 1);
  CHECK(repos[0].revisions[0].refs == std::vector<std::string>{"main"});
  CHECK(env.outside_cache().empty());
}

TEST_CASE("hostile: pickles and TorchScript are fetched only when asked for") {
  HubEnv env;
  FakeRepo repo;
  repo.files = {{"config.json", "{}", ""},
                {"traced.pt", "PK-torchscript", ""},
                {"pytorch_model.bin", "pickle", ""},
                {"weights.pth", "pickle2", ""},
                {"last.ckpt", "pickle3", ""}};
  RawServer server([&](const RawServer::Request& req, int fd) { repo.serve(req, fd); });
  hub::FetchResult r = hub::fetch_model(kHostile, options_for(server));
  CHECK(r.files.size() == 1);
  CHECK(r.skipped ==
        std::vector<std::string>{"traced.pt", "pytorch_model.bin", "weights.pth", "last.ckpt"});
  for (const auto& p : r.skipped) CHECK(hub::loading_runs_code(p));
  CHECK_FALSE(hub::loading_runs_code("model.safetensors"));
  CHECK(count(server, "HEAD", repo.resolve_path("traced.pt")) == 0);

  hub::FetchOptions o = options_for(server);
  o.include = {"*.pt"};
  r = hub::fetch_model(kHostile, o);
  REQUIRE(r.files.size() == 1);
  CHECK(r.files[0].path == "traced.pt");
  CHECK(test::read_file(r.dir + "/traced.pt") == "PK-torchscript");
  CHECK(env.outside_cache().empty());
}

TEST_CASE("hostile: a download answered 500 every time fails naming the file, nothing installed") {
  HubEnv env;
  const FakeRepo repo = small_repo();
  size_t gets = 0;
  RawServer server([&](const RawServer::Request& req, int fd) {
    if (req.method == "GET" && req.path == repo.resolve_path("model.safetensors")) {
      ++gets;
      return send_reply(fd, req, 500, {}, "internal error");
    }
    repo.serve(req, fd);
  });
  hub::FetchOptions o = options_for(server);
  o.max_attempts = 3;
  std::string message;
  CHECK(fetch_error_kind(o, message) == HubError::Kind::Network);
  CHECK_THAT(message, Catch::Contains("model.safetensors") && Catch::Contains("500"));
  CHECK(gets == 3);  // retried, and bounded
  // The error body is not the file: nothing of it is in a blob or a snapshot.
  for (const auto& p : tree(repo_dir(env)))
    if (fs::is_regular_file(repo_dir(env) + "/" + p))
      CHECK(test::read_file(repo_dir(env) + "/" + p).find("internal error") == std::string::npos);
  CHECK(env.outside_cache().empty());
}

TEST_CASE("hostile: an endless chain of redirects is cut, not followed forever") {
  HubEnv env;
  const FakeRepo repo = small_repo();
  std::atomic<size_t> hops{0};
  RawServer server([&](const RawServer::Request& req, int fd) {
    if (req.method == "GET" && req.path.rfind("/loop/", 0) == 0) {
      const size_t n = ++hops;
      return send_reply(fd, req, 302, {{"Location", "/loop/" + std::to_string(n)}});
    }
    if (req.method == "GET" && req.path == repo.resolve_path("model.safetensors"))
      return send_reply(fd, req, 302, {{"Location", "/loop/0"}});
    repo.serve(req, fd);
  });
  hub::FetchOptions o = options_for(server);
  o.max_attempts = 2;
  const auto start = std::chrono::steady_clock::now();
  std::string message;
  CHECK(fetch_error_kind(o, message) == HubError::Kind::Network);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(message);
  CHECK_THAT(message,
             Catch::Contains("model.safetensors") && Catch::Contains("too many redirects"));
  CHECK(hops.load() <= 2 * 11);  // at most ten hops an attempt
  CHECK(took < 10);
  CHECK(env.outside_cache().empty());
}
