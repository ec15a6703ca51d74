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

namespace {

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    r->headers.clear();  // a new response (after a redirect or a 100 Continue)
  } else if (size_t colon = line.find(':'); colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    r->headers[name] = trim(line.substr(colon + 1));
  }
  return size * n;
}

size_t on_body_to_string(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() < (64u << 20)) body->append(data, size * n);
  return size * n;
}

// Where the body of a file download goes: appended to the partial file when the server answers
// 200 or 206; a 200 to a Range request means the server ignored it, so start over.
struct FileSink {
  CURL* curl = nullptr;
  std::FILE* file = nullptr;
  uint64_t offset = 0;
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
  if (std::fwrite(data, 1, len, s->file) != len) {
    s->write_errno = errno;
    return 0;  // → CURLE_WRITE_ERROR
  }
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

const char* kNoNetworkHint =
    "set HF_ENDPOINT to a reachable hub or mirror, or copy the model folder by hand; offline "
    "models can be given as a path";

}  // namespace

// --- the session -----------------------------------------------------------------------------

HttpSession::HttpSession(std::string token, long connect_timeout_s)
    : token_(std::move(token)), connect_timeout_s_(connect_timeout_s) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  if (!curl_) throw HubError(Kind::Network, "libcurl could not be initialised");
  user_agent_ = std::string("embedflow/") + EMBEDFLOW_VERSION + "; libcurl/" +
                curl_version_info(CURLVERSION_NOW)->version;
}

HttpSession::~HttpSession() {
  curl_easy_cleanup(curl_);
}

CURLcode HttpSession::request(const std::string& method, const std::string& url, bool auth,
                              bool follow, Response& r) {
  r = Response{};
  curl_slist* headers = setup(url, auth, {"Accept-Encoding: identity"});
  if (method == "HEAD") curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
  curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body_to_string);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r.body);
  CURLcode rc = curl_easy_perform(curl_);
  finish(r, headers);
  return rc;
}

CURLcode HttpSession::download(const std::string& url, bool auth, std::FILE* file, uint64_t offset,
                               const TransferEvents& events, Response& r) {
  r = Response{};
  std::vector<std::string> extra;
  if (offset > 0) extra.push_back("Range: bytes=" + std::to_string(offset) + "-");
  curl_slist* headers = setup(url, auth, extra);
  FileSink sink;
  sink.curl = curl_;
  sink.file = file;
  sink.offset = offset;
  sink.events = &events;
  curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body_to_file);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &sink);
  CURLcode rc = curl_easy_perform(curl_);
  finish(r, headers);
  r.body = sink.error_body;
  r.write_errno = sink.write_errno;
  return rc;
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
  // A stalled transfer (no byte for a while) fails the attempt; the retry resumes it.
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, 3 * connect_timeout_s_);
  curl_slist* headers = nullptr;
  if (auth && !token_.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
  for (const auto& h : extra) headers = curl_slist_append(headers, h.c_str());
  if (headers) curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
  return headers;
}

void HttpSession::finish(Response& r, curl_slist* headers) {
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
  char* effective = nullptr;
  curl_easy_getinfo(curl_, CURLINFO_EFFECTIVE_URL, &effective);
  if (effective) r.url = effective;
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
  throw HubError(Kind::Network, "unexpected answer fetching '" + repo_id + "'" +
                                    (path.empty() ? "" : " file '" + path + "'") + status + said);
}

// --- resumable downloads ---------------------------------------------------------------------

uint64_t download_resumable(HttpSession& http, const RepoContext& repo, const std::string& commit,
                            const std::string& path, const std::string& url, bool auth,
                            const fs::path& partial, const RetryPolicy& retry,
                            const TransferEvents& events) {
  uint64_t transferred = 0;
  std::error_code ec;
  double wait = retry.first_wait_s;
  for (int attempt = 1;; ++attempt) {
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
    CURLcode rc = http.download(url, auth, file, have, counted, r);
    // Durable only once whole (commit_file); here what is written must just reach the file.
    bool written = std::fflush(file) == 0;
    written = std::fclose(file) == 0 && written;
    if (!written) throw HubError(Kind::Io, "cannot write " + partial.string());
    // Our disk, not the network: what was written stays for the next run to resume.
    if (rc == CURLE_WRITE_ERROR && r.write_errno != 0)
      throw HubError(Kind::Io,
                     "cannot write " + partial.string() + ": " + std::strerror(r.write_errno));
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
    if (attempt >= retry.max_attempts)
      throw HubError(Kind::Network, "'" + repo.repo_id + "' file '" + path + "': transfer failed " +
                                        std::to_string(attempt) + " times (last: " + why + "); " +
                                        format_bytes(now_have) + " kept in " + partial.string() +
                                        ", run the fetch again to resume");
    char wait_text[32];
    std::snprintf(wait_text, sizeof wait_text, "%.1f", wait);
    if (events.on_retry)
      events.on_retry("transfer of " + path + " interrupted at " + format_bytes(now_have) + " (" +
                      why + "); resuming in " + wait_text + " s (attempt " +
                      std::to_string(attempt + 1) + "/" + std::to_string(retry.max_attempts) + ")");
    std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    wait = std::min(wait * 2, 8.0);
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
