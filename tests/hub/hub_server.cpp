#include "tests/hub/hub_server.h"

#include "embedflow/hash.h"

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace embedflow::test {

HubServer::HubServer(const std::string& mode, const std::string& token) : dir_("hub-server") {
  const std::string script = source_path("tests/fixtures/hub/hub_server.py");
  const std::string port_file = dir_.file("port");
  const std::string log = dir_.file("requests.jsonl");
  std::vector<std::string> args = {
      EMBEDFLOW_REFERENCE_PYTHON, script, "--port-file", port_file, "--log", log, "--mode", mode};
  if (!token.empty()) args.insert(args.end(), {"--token", token});

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive a crashed test
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream f(port_file);
    if (f >> port_ && port_ > 0) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("hub_server.py exited before listening (status " +
                               std::to_string(status) + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  throw std::runtime_error("hub_server.py did not write its port file within 20 s");
}

HubServer::~HubServer() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
}

std::vector<nlohmann::json> HubServer::requests() const {
  std::vector<nlohmann::json> out;
  std::ifstream f(dir_.file("requests.jsonl"));
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("cannot bind a local socket");
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

}  // namespace embedflow::test

// --- RawServer ---------------------------------------------------------------------------------

namespace embedflow::test {

std::string RawServer::Request::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

RawServer::RawServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("RawServer: cannot listen on 127.0.0.1");
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

RawServer::~RawServer() {
  stop_ = true;
  accept_thread_.join();
  for (auto& t : connections_) t.join();
  ::close(listen_fd_);
}

std::vector<RawServer::Request> RawServer::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

void RawServer::serve(int fd) {
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536 && !stop_) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    head.append(buf, static_cast<size_t>(n));
  }
  Request req;
  std::istringstream lines(head.substr(0, head.find("\r\n\r\n")));
  std::string line;
  if (std::getline(lines, line)) {
    std::istringstream first(line);
    first >> req.method >> req.path;
  }
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    size_t value = line.find_first_not_of(' ', colon + 1);
    req.headers[name] = value == std::string::npos ? "" : line.substr(value);
  }
  if (!req.method.empty()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(req);
    }
    handler_(req, fd);
  }
  // A send_reset() answer must not say goodbye with a FIN first.
  linger l{};
  socklen_t len = sizeof l;
  const bool reset = ::getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len) == 0 && l.l_onoff;
  if (!reset) ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

bool send_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string http_head(int status, const Headers& headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  return out + "Connection: close\r\n\r\n";
}

void send_reply(int fd, const RawServer::Request& req, int status, const Headers& headers,
                const std::string& body) {
  Headers all = headers;
  bool has_length = false;
  for (const auto& h : headers) has_length = has_length || h.first == "Content-Length";
  if (!has_length) all.emplace_back("Content-Length", std::to_string(body.size()));
  send_all(fd, http_head(status, all) + (req.method == "HEAD" ? "" : body));
}

void send_reset(int fd) {
  linger l{1, 0};  // closing with a zero linger sends RST
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

// --- FakeRepo ----------------------------------------------------------------------------------

std::string FakeRepo::api_path(const std::string& revision) const {
  return "/api/models/" + id + "/revision/" + revision;
}

std::string FakeRepo::resolve_path(const std::string& path) const {
  return "/" + id + "/resolve/" + commit + "/" + path;
}

std::string FakeRepo::api_json() const {
  nlohmann::json siblings = nlohmann::json::array();
  for (const auto& f : files) siblings.push_back({{"rfilename", f.path}});
  return nlohmann::json{{"id", id}, {"sha", commit}, {"siblings", siblings}}.dump();
}

bool FakeRepo::serve(const RawServer::Request& req, int fd) const {
  if (req.path.rfind("/api/models/" + id + "/revision/", 0) == 0) {
    send_reply(fd, req, 200, {{"Content-Type", "application/json"}}, api_json());
    return true;
  }
  for (const auto& f : files)
    if (req.path == resolve_path(f.path)) {
      const std::string etag = f.etag.empty() ? sha256_hex(f.content) : f.etag;
      send_reply(fd, req, 200, {{"ETag", "\"" + etag + "\""}, {"X-Repo-Commit", commit}},
                 f.content);
      return true;
    }
  return false;
}

}  // namespace embedflow::test
