// HTTP for the hub, on libcurl: one session (connection reuse) per fetch, requests answered in
// memory, resumable file downloads with retries, and the hub's error answers as HubErrors.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <curl/curl.h>

namespace embedflow::hub {

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, of the last response
  std::string body;                            // bodies of non-file requests and of errors
  std::string url;                             // the URL finally answered
  std::string redirect_url;                    // where a 3xx points to, absolute
  int write_errno = 0;    // a download stopped because its file could not be written (disk full)
  bool too_long = false;  // more bytes came than allowed: the body cap or the announced size
  std::string header(const std::string& name) const;
};

// One line of a response's header block into `r.headers`: a status line starts a new response
// (a redirect, a 100 Continue); "Name: value" is kept with the name lower-cased and the value
// trimmed; anything else is ignored.
void add_header_line(const std::string& line, Response& r);

// The wait before retrying after `r`: `wait_s`, or the server's Retry-After (whole seconds)
// when it asks for longer, up to 30 s so a hostile answer cannot park a fetch.
double retry_wait_s(const Response& r, double wait_s);

// What a file transfer reports as it goes (a progress bar).
struct TransferEvents {
  std::function<void(uint64_t bytes)> on_bytes;      // appended to the file
  std::function<void(uint64_t kept)> on_restart;     // a Range request was ignored: `kept` dropped
  std::function<void(const std::string&)> on_retry;  // said before waiting for the next attempt
};

class HttpSession {
 public:
  // `connect_timeout_s` is also the stall timeout: slower than 1 KB/s for 3x as long fails the
  // attempt. Bodies kept in memory larger than `max_body_bytes` fail the request (too_long).
  HttpSession(std::string token, long connect_timeout_s, uint64_t max_body_bytes);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // A HEAD or GET whose body is kept in memory; `auth` sends the token. Redirects are not
  // followed unless asked; the token never follows one to another origin.
  CURLcode request(const std::string& method, const std::string& url, bool auth, bool follow,
                   Response& r);
  // GET appended to `file` from `offset` (a Range request when > 0), following redirects (the
  // token only within the origin). Stops with too_long as soon as the file would exceed `limit`.
  CURLcode download(const std::string& url, bool auth, std::FILE* file, uint64_t offset,
                    uint64_t limit, const TransferEvents& events, Response& r);
  // curl's own words for the last failure ("Failed to connect to ... Connection refused").
  std::string error(CURLcode rc) const;
  uint64_t max_body() const { return max_body_bytes_; }

 private:
  curl_slist* setup(const std::string& url, bool auth, const std::vector<std::string>& extra);
  // The transfer set up by setup(): headers into `r`, the body to `on_body(…, sink)`.
  CURLcode perform(Response& r, curl_slist* headers, curl_write_callback on_body, void* sink);
  void finish(Response& r, curl_slist* headers);
  // Runs `perform(url, auth)` for `url` and, when `follow`, for each redirect after it.
  template <class Perform>
  CURLcode follow_redirects(std::string url, bool auth, bool follow, Response& r,
                            const Perform& perform);

  CURL* curl_ = nullptr;
  std::string token_;
  long connect_timeout_s_;
  uint64_t max_body_bytes_;
  std::string user_agent_;
  char errbuf_[CURL_ERROR_SIZE] = {};
};

// Which hub and repository requests are about, for the messages of HubErrors.
struct RepoContext {
  std::string endpoint;  // without a trailing '/'
  std::string repo_id;
  bool have_token = false;
};

// The endpoint could not be reached: curl's reason and what to do offline.
[[noreturn]] void throw_unreachable(const std::string& endpoint, const std::string& what,
                                    const std::string& curl_error);

// The hub's answer to a failed request, in words: which repository, revision or file, and what
// to do about it. `path` is "" for the repository listing.
[[noreturn]] void throw_http_error(const Response& r, const RepoContext& repo,
                                   const std::string& revision, const std::string& path,
                                   const std::string& url);

struct RetryPolicy {
  int max_attempts = 5;
  double first_wait_s = 0.5;  // doubles after each attempt, capped at 8 s; a longer Retry-After
                              // from the server is honoured up to 30 s
};

using RetryNote = std::function<void(const std::string&)>;  // said before each wait

// A request answered in memory (request()), retried like downloads while the answer is
// transient: 429/5xx, a connection reset, a stall. Returns the last answer, whatever its status;
// throws HubError when the endpoint cannot be reached or the body exceeds the session's cap.
Response request_retrying(HttpSession& http, const RepoContext& repo, const std::string& method,
                          const std::string& url, bool auth, bool follow, const RetryPolicy& retry,
                          const RetryNote& on_retry);

// Downloads `url` (repository file `path`) into `partial`, appending to what it holds with
// `Range: bytes=N-`. A transfer cut midway, stalled, or answered 429/5xx is retried and resumed
// after a wait; a 416 (the partial file does not fit the file served) starts over. More bytes
// than `limit` (the size the hub announced) stop the transfer and discard the file
// (HubError(Checksum)). Returns the bytes transferred; throws HubError, leaving what was
// received in `partial` for the next run.
uint64_t download_resumable(HttpSession& http, const RepoContext& repo, const std::string& commit,
                            const std::string& path, const std::string& url, bool auth,
                            const std::filesystem::path& partial, uint64_t limit,
                            const RetryPolicy& retry, const TransferEvents& events);

// Percent-encoding as urllib.parse.quote: unreserved characters stay, '/' stays when asked.
std::string quote(const std::string& s, bool keep_slash);
// "scheme://host[:port]" of a URL, to resolve relative redirects.
std::string url_origin(const std::string& url);
bool is_absolute_url(const std::string& s);

}  // namespace embedflow::hub
