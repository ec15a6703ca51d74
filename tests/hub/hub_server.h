// The fake hub (tests/fixtures/hub/hub_server.py) as a test fixture: started on a free port of
// 127.0.0.1 when constructed, stopped when destroyed, whatever happens in between.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>
#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"

namespace embedflow::test {

class HubServer {
 public:
  // mode: "ok", "interrupt" or "corrupt"; token: required bearer token ("" = none).
  explicit HubServer(const std::string& mode = "ok", const std::string& token = "");
  ~HubServer();
  HubServer(const HubServer&) = delete;
  HubServer& operator=(const HubServer&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Every request served so far: {method, path, range, authorization}.
  std::vector<nlohmann::json> requests() const;

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// A port on 127.0.0.1 nothing listens on (bound, then closed).
int closed_port();

// A scriptable HTTP/1.1 server on a thread of the test, for the answers a real hub (and
// hub_server.py) never gives: lying lengths, endless chunked bodies, slow drips, resets, 5xx,
// redirects to another origin, opaque ETags, odd commits and file names. Each connection carries
// one request; the handler writes the raw answer and the connection is closed after it.
class RawServer {
 public:
  struct Request {
    std::string method;
    std::string path;                            // as sent (percent-encoded)
    std::map<std::string, std::string> headers;  // lower-case names
    std::string header(const std::string& name) const;
  };
  using Handler = std::function<void(const Request&, int fd)>;

  explicit RawServer(Handler handler);
  ~RawServer();  // waits for handlers, which see stopping() and must return soon
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Request> requests() const;
  bool stopping() const { return stop_; }

 private:
  void serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::vector<std::thread> connections_;
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// Writes all of `data`; false once the peer is gone.
bool send_all(int fd, const std::string& data);
// The status line and headers of an answer (plus "Connection: close"), ready for a body.
std::string http_head(int status, const Headers& headers);
// A whole answer with a true Content-Length; HEAD answers get the headers only.
void send_reply(int fd, const RawServer::Request& req, int status, const Headers& headers,
                const std::string& body = "");
// Closes the connection with a TCP reset instead of an answer.
void send_reset(int fd);

// A repository as the hub serves it, for RawServer handlers: the API answer, and per file a HEAD
// and GET of /<id>/resolve/<rev>/<path> (ETag, Content-Length, X-Repo-Commit).
struct FakeRepo {
  struct File {
    std::string path;
    std::string content;
    std::string etag;  // sent as ETag: "<etag>"; "" = the sha256 of the content (as for LFS)
  };
  std::string id = "hostile/repo";
  std::string commit = "0123456789abcdef0123456789abcdef01234567";
  std::vector<File> files;

  std::string api_path(const std::string& revision = "main") const;
  std::string resolve_path(const std::string& path) const;  // at `commit`
  std::string api_json() const;
  // Answers the API (any revision) and resolve requests for the files; false for other paths.
  bool serve(const RawServer::Request& req, int fd) const;
};

}  // namespace embedflow::test
