#include "http.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "embedflow/hub/cache.h"
#include "embedflow/hub/error.h"
#include "support.h"

namespace embedflow::hub {

namespace fs = std::filesystem;
using Kind = HubError::Kind;

std::string Response::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

void add_header_line(const std::string& line, Response& r) {
  if (line.rfind("HTTP/", 0) == 0) {
    r.headers.clear();  // a new response (after a redirect or a 100 Continue)
  } else if (size_t colon = line.find(':'); colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    r.headers[name] = trim(line.substr(colon + 1));
  }
}

double retry_wait_s(const Response& r, double wait_s) {
  const std::string after = r.header("retry-after");
  if (!after.empty() &&
      std::all_of(after.begin(), after.end(), [](unsigned char ch) { return std::isdigit(ch); }))
    return std::max(wait_s, std::min(std::strtod(after.c_str(), nullptr), 30.0));
  return wait_s;
}

namespace {

size_t on_header(char* data, size_t size, size_t n, void* user) {
  add_header_line(std::string(data, size * n), *static_cast<Response*>(user));
  return size * n;
}

// A body kept in memory, up to a cap: past it the request fails (too_long) rather than
// silently handing a truncated answer to the JSON parser.
struct StringSink {
  Response* r = nullptr;
  uint64_t max_bytes = 0;
};

size_t on_body_to_string(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<StringSink*>(user);
  if (s->r->body.size() + size * n > s->max_bytes) {
    s->r->too_long = true;
    return 0;  // → CURLE_WRITE_ERROR
  }
  s->r->body.append(data, size * n);
  return size * n;
}

// Where the body of a file download goes: appended to the partial file when the server answers
// 200 or 206; a 200 to a Range request means the server ignored it, so start over.
struct FileSink {
  CURL* curl = nullptr;
  std::FILE* file = nullptr;
  uint64_t offset = 0;
  uint64_t written = 0;
  uint64_t limit = UINT64_MAX;  // the size the file must not exceed
  bool too_long = false;
  bool decided = false;
  bool to_file = false;
  std::string error_body;
  int write_errno = 0;
  const TransferEvents* events = nullptr;
};

size_t on_body_to_file(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<FileSink*>(user);
  size_t len = size * n;
  if (!s->decided) {
    s->decided = true;
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    s->to_file = status == 200 || status == 206;
    if (status == 200 && s->offset > 0) {
      if (::ftruncate(::fileno(s->file), 0) != 0) {
        s->write_errno = errno;
        return 0;
      }
      if (s->events->on_restart) s->events->on_restart(s->offset);
      s->offset = 0;
    }
  }
  if (!s->to_file) {
    if (s->error_body.size() < 4096) s->error_body.append(data, len);
    return len;
  }
  // A body longer than announced (a lying Content-Length, an endless chunked stream) is cut
  // here, before it fills the disk.
  if (s->offset + s->written + len > s->limit) {
    s->too_long = true;
    return 0;
  }
  if (std::fwrite(data, 1, len, s->file) != len) {
    s->write_errno = errno;
    return 0;  // → CURLE_WRITE_ERROR
  }
  s->written += len;
  if (s->events->on_bytes) s->events->on_bytes(len);
  return len;
}

std::once_flag g_curl_init;

bool is_transient(CURLcode rc) {
  switch (rc) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_COULDNT_CONNECT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

bool is_transient_status(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

// Waits between attempts, shared by requests and downloads: doubling from the policy's first
// wait up to 8 s, or the server's Retry-After (seconds) when it asks for longer, up to 30 s so a
// hostile answer cannot park the fetch.
class Backoff {
 public:
  explicit Backoff(const RetryPolicy& policy) : policy_(policy), wait_(policy.first_wait_s) {}
  int attempt() const { return attempt_; }
  bool exhausted() const { return attempt_ >= policy_.max_attempts; }
  // Says `what` (ending in "; <verb>") with the wait and the next attempt, then waits.
  void pause(const Response& r, const RetryNote& on_retry, const std::string& what) {
    const double wait = retry_wait_s(r, wait_);
    char wait_text[32];
    std::snprintf(wait_text, sizeof wait_text, "%.1f", wait);
    if (on_retry)
      on_retry(what + " in " + wait_text + " s (attempt " + std::to_string(attempt_ + 1) + "/" +
               std::to_string(policy_.max_attempts) + ")");
    std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    wait_ = std::min(wait_ * 2, 8.0);
    ++attempt_;
  }

 private:
  const RetryPolicy& policy_;
  double wait_;
  int attempt_ = 1;
};

const char* kNoNetworkHint =
    "set HF_ENDPOINT to a reachable hub or mirror, or copy the model folder by hand; offline "
    "models can be given as a path";

}  // namespace

// --- the session -----------------------------------------------------------------------------

HttpSession::HttpSession(std::string token, long connect_timeout_s, uint64_t max_body_bytes)
    : token_(std::move(token)),
      connect_timeout_s_(connect_timeout_s),
      max_body_bytes_(max_body_bytes) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  if (!curl_) throw HubError(Kind::Network, "libcurl could not be initialised");
  user_agent_ = std::string("embedflow/") + EMBEDFLOW_VERSION + "; libcurl/" +
                curl_version_info(CURLVERSION_NOW)->version;
}

HttpSession::~HttpSession() {
  curl_easy_cleanup(curl_);
}

// Redirects are followed here rather than by libcurl so the token provably stays with its
// origin: huggingface_hub (requests) drops Authorization when a redirect leaves the host, and
// the hub sends LFS files to a CDN that must never see it.
template <class Perform>
CURLcode HttpSession::follow_redirects(std::string url, bool auth, bool follow, Response& r,
                                       const Perform& perform) {
  for (int hops = 0;; ++hops) {
    CURLcode rc = perform(url, auth);
    if (!follow || rc != CURLE_OK || r.status < 300 || r.status >= 400 || r.redirect_url.empty() ||
        hops >= 10)
      return rc;
    auth = auth && url_origin(r.redirect_url) == url_origin(url);
    url = r.redirect_url;
  }
}

CURLcode HttpSession::request(const std::string& method, const std::string& url, bool auth,
                              bool follow, Response& r) {
  return follow_redirects(url, auth, follow, r, [&](const std::string& u, bool a) {
    r = Response{};
    curl_slist* headers = setup(u, a, {"Accept-Encoding: identity"});
    StringSink sink{&r, max_body_bytes_};
    if (method == "HEAD") curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
    return perform(r, headers, on_body_to_string, &sink);
  });
}

CURLcode HttpSession::download(const std::string& url, bool auth, std::FILE* file, uint64_t offset,
                               uint64_t limit, const TransferEvents& events, Response& r) {
  return follow_redirects(url, auth, true, r, [&](const std::string& u, bool a) {
    r = Response{};
    std::vector<std::string> extra;
    if (offset > 0) extra.push_back("Range: bytes=" + std::to_string(offset) + "-");
    curl_slist* headers = setup(u, a, extra);
    FileSink sink;
    sink.curl = curl_;
    sink.file = file;
    sink.offset = offset;
    sink.limit = limit;
    sink.events = &events;
    CURLcode rc = perform(r, headers, on_body_to_file, &sink);
    r.body = sink.error_body;
    r.write_errno = sink.write_errno;
    r.too_long = sink.too_long;
    return rc;
  });
}

std::string HttpSession::error(CURLcode rc) const {
  std::string detail = errbuf_;
  std::string what = curl_easy_strerror(rc);
  return detail.empty() || detail == what ? what : what + ": " + detail;
}

curl_slist* HttpSession::setup(const std::string& url, bool auth,
                               const std::vector<std::string>& extra) {
  curl_easy_reset(curl_);  // keeps the connection cache: one TCP/TLS session for many files
  errbuf_[0] = '\0';
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(curl_, CURLOPT_USERAGENT, user_agent_.c_str());
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, connect_timeout_s_);
  // A stalled transfer fails the attempt; the retry resumes it. Stalled is slower than 1 KB/s
  // for the whole window, not just silent: a server dripping a byte a second never finishes.
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, 3 * connect_timeout_s_);
  // Never resend credentials to another host (the default; said so it stays that way).
  curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl_, CURLOPT_UNRESTRICTED_AUTH, 0L);
  // Redirects are followed by hand (follow_redirects), so libcurl's own limit on where they may
  // lead does not apply: a Location of file:///etc/passwd must not become a download.
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(curl_, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
  curl_slist* headers = nullptr;
  if (auth && !token_.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
  for (const auto& h : extra) headers = curl_slist_append(headers, h.c_str());
  if (headers) curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
  return headers;
}

CURLcode HttpSession::perform(Response& r, curl_slist* headers, curl_write_callback on_body,
                              void* sink) {
  curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, sink);
  CURLcode rc = curl_easy_perform(curl_);
  finish(r, headers);
  return rc;
}

void HttpSession::finish(Response& r, curl_slist* headers) {
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
  char* effective = nullptr;
  curl_easy_getinfo(curl_, CURLINFO_EFFECTIVE_URL, &effective);
  if (effective) r.url = effective;
  char* redirect = nullptr;
  curl_easy_getinfo(curl_, CURLINFO_REDIRECT_URL, &redirect);
  if (redirect) r.redirect_url = redirect;
  curl_slist_free_all(headers);
}

// --- errors ----------------------------------------------------------------------------------

void throw_unreachable(const std::string& endpoint, const std::string& what,
                       const std::string& curl_error) {
  throw HubError(Kind::Network, "cannot reach " + endpoint + " to fetch " + what + " (" +
                                    curl_error + "): " + kNoNetworkHint);
}

void throw_http_error(const Response& r, const RepoContext& repo, const std::string& revision,
                      const std::string& path, const std::string& url) {
  const std::string& repo_id = repo.repo_id;
  const std::string code = r.header("x-error-code");
  std::string server = r.header("x-error-message");
  if (server.empty() && !r.body.empty() && r.body.size() < 300) server = trim(r.body);
  const std::string said = server.empty() ? "" : " — the server said: " + server;
  const std::string status = " (HTTP " + std::to_string(r.status) + " from " + url + ")";
  if (code == "GatedRepo")
    throw HubError(Kind::Unauthorized, "'" + repo_id + "' is gated: accept its conditions on " +
                                           repo.endpoint + "/" + repo_id +
                                           " and set HF_TOKEN to a token of that account" + status);
  if (code == "RevisionNotFound")
    throw HubError(Kind::NotFound,
                   "revision '" + revision + "' not found in '" + repo_id + "'" + status + said);
  if (code == "EntryNotFound" || (r.status == 404 && !path.empty() && code.empty()))
    throw HubError(Kind::NotFound, "file '" + path + "' not found in '" + repo_id + "' at " +
                                       revision + status + said);
  if (r.status == 404 || r.status == 401 || code == "RepoNotFound") {
    std::string hint = repo.have_token ? "check the id, and that HF_TOKEN can read it"
                                       : "check the id; if it is private, set HF_TOKEN";
    throw HubError(
        code == "RepoNotFound" || r.status == 404 ? Kind::NotFound : Kind::Unauthorized,
        "repository '" + repo_id + "' not found on " + repo.endpoint + ": " + hint + status + said);
  }
  if (r.status == 403)
    throw HubError(Kind::Unauthorized, "access to '" + repo_id + "' refused" + status + said +
                                           (repo.have_token ? "" : "; set HF_TOKEN"));
  if (r.status >= 300 && r.status < 400 && !r.redirect_url.empty())
    // follow_redirects gave up: the chain is longer than a hub's (one hop to its CDN) by far.
    throw HubError(Kind::Network, "too many redirects fetching '" + repo_id + "'" +
                                      (path.empty() ? "" : " file '" + path + "'") + status +
                                      " (more than 10; the last pointed to " + r.redirect_url +
                                      "); check HF_ENDPOINT and any proxy in between");
  throw HubError(Kind::Network, "unexpected answer fetching '" + repo_id + "'" +
                                    (path.empty() ? "" : " file '" + path + "'") + status + said);
}

// --- retries -----------------------------------------------------------------------------------

Response request_retrying(HttpSession& http, const RepoContext& repo, const std::string& method,
                          const std::string& url, bool auth, bool follow, const RetryPolicy& retry,
                          const RetryNote& on_retry) {
  Backoff backoff(retry);
  for (;;) {
    Response r;
    CURLcode rc = http.request(method, url, auth, follow, r);
    if (r.too_long)
      throw HubError(Kind::Invalid, "the answer of " + url + " for '" + repo.repo_id +
                                        "' is larger than the " + format_bytes(http.max_body()) +
                                        " allowed for hub API answers; is HF_ENDPOINT a Hugging "
                                        "Face hub?");
    // A refused connection means nothing listens there: said at once, not after the retries.
    const bool transient = rc == CURLE_OK ? is_transient_status(r.status)
                                          : rc != CURLE_COULDNT_CONNECT && is_transient(rc);
    if (!transient && rc != CURLE_OK)
      throw_unreachable(repo.endpoint, "'" + repo.repo_id + "'", http.error(rc));
    if (!transient) return r;
    const std::string why = rc != CURLE_OK ? http.error(rc) : "HTTP " + std::to_string(r.status);
    if (backoff.exhausted()) {
      if (rc == CURLE_OK) return r;  // the caller words the hub's last answer
      throw_unreachable(repo.endpoint, "'" + repo.repo_id + "'",
                        why + ", " + std::to_string(backoff.attempt()) + " attempts");
    }
    backoff.pause(r, on_retry, method + " " + url + " failed (" + why + "); retrying");
  }
}

// --- resumable downloads ---------------------------------------------------------------------

uint64_t download_resumable(HttpSession& http, const RepoContext& repo, const std::string& commit,
                            const std::string& path, const std::string& url, bool auth,
                            const fs::path& partial, uint64_t limit, const RetryPolicy& retry,
                            const TransferEvents& events) {
  uint64_t transferred = 0;
  std::error_code ec;
  Backoff backoff(retry);
  for (;;) {
    const uint64_t have = file_size_or_zero(partial);
    std::FILE* file = std::fopen(partial.c_str(), "ab");
    if (!file)
      throw HubError(Kind::Io, "cannot write " + partial.string() + ": " + std::strerror(errno));
    TransferEvents counted = events;
    counted.on_bytes = [&](uint64_t n) {
      transferred += n;
      if (events.on_bytes) events.on_bytes(n);
    };
    Response r;
    CURLcode rc = http.download(url, auth, file, have, limit, counted, r);
    // Durable only once whole (commit_file); here what is written must just reach the file.
    bool written = std::fflush(file) == 0;
    int write_errno = written ? 0 : errno;
    if (std::fclose(file) != 0 && written) {
      written = false;
      write_errno = errno;
    }
    if (rc == CURLE_WRITE_ERROR && r.write_errno != 0) write_errno = r.write_errno;
    if (!written)
      throw HubError(Kind::Io, "cannot write " + partial.string() + ": " +
                                   std::strerror(write_errno ? write_errno : EIO));
    // Our disk, not the network: what was written stays for the next run to resume.
    if (rc == CURLE_WRITE_ERROR && r.write_errno != 0)
      throw HubError(Kind::Io,
                     "cannot write " + partial.string() + ": " + std::strerror(r.write_errno));
    if (r.too_long) {
      fs::remove(partial, ec);
      throw HubError(Kind::Checksum, "'" + repo.repo_id + "' file '" + path +
                                         "': the server sent more than the " +
                                         std::to_string(limit) + " bytes the hub announced (" +
                                         url + "); the download was discarded");
    }
    if (rc == CURLE_OK && (r.status == 200 || r.status == 206)) return transferred;

    if (file_size_or_zero(partial) == 0) fs::remove(partial, ec);  // nothing to resume
    if (rc == CURLE_OK && r.status == 416) {  // our partial file does not fit the file served
      fs::remove(partial, ec);
    } else if (rc == CURLE_OK && !is_transient_status(r.status)) {
      throw_http_error(r, repo, commit, path, url);
    } else if (rc != CURLE_OK && !is_transient(rc)) {
      throw_unreachable(repo.endpoint, "'" + repo.repo_id + "' file '" + path + "'",
                        http.error(rc));
    }
    const std::string why = rc != CURLE_OK ? http.error(rc) : "HTTP " + std::to_string(r.status);
    const uint64_t now_have = file_size_or_zero(partial);
    if (backoff.exhausted())
      throw HubError(Kind::Network, "'" + repo.repo_id + "' file '" + path + "': transfer failed " +
                                        std::to_string(backoff.attempt()) + " times (last: " + why +
                                        "); " + format_bytes(now_have) + " kept in " +
                                        partial.string() + ", run the fetch again to resume");
    backoff.pause(r, events.on_retry,
                  "transfer of " + path + " interrupted at " + format_bytes(now_have) + " (" + why +
                      "); resuming");
  }
}

// --- URLs ------------------------------------------------------------------------------------

std::string quote(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string url_origin(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t path = url.find('/', scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

bool is_absolute_url(const std::string& s) {
  return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

}  // namespace embedflow::hub
