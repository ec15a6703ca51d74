#include "models/hub.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <curl/curl.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "embedflow/hash.h"

namespace embedflow::hub {

namespace fs = std::filesystem;
using Kind = HubError::Kind;

namespace {

// --- small helpers ---------------------------------------------------------------------------

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool env_truthy(const char* name) {
  std::string v = env(name);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

std::string trim(std::string s) {
  auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && blank(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && blank(s[i])) ++i;
  return s.substr(i);
}

std::string home_dir() {
  std::string h = env("HOME");
  return h.empty() ? std::string("/tmp") : h;
}

std::string expand_user(const std::string& p) {
  if (p == "~") return home_dir();
  if (p.rfind("~/", 0) == 0) return home_dir() + p.substr(1);
  return p;
}

bool is_hex(const std::string& s, size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return std::isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

bool is_commit_hash(const std::string& s) {
  return is_hex(s, 40);
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Writes `content` to `path` through a temporary file and a rename.
void write_text_atomic(const fs::path& path, const std::string& content) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::path tmp = path;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << content;
    if (!f.flush()) throw HubError(Kind::Io, "cannot write " + tmp.string());
  }
  fs::rename(tmp, path, ec);
  if (ec) throw HubError(Kind::Io, "cannot write " + path.string() + ": " + ec.message());
}

// Percent-encoding as urllib.parse.quote: unreserved characters stay, '/' stays when asked.
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

// "scheme://host[:port]" of a URL, to resolve relative redirects.
std::string url_origin(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t path = url.find('/', scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

bool is_absolute_url(const std::string& s) {
  return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

// Paths from the server become paths on disk: refuse anything that could leave the folder.
void check_repo_path(const std::string& repo_id, const std::string& path) {
  bool bad = path.empty() || path.front() == '/' || path.find('\\') != std::string::npos ||
             path.find('\0') != std::string::npos;
  std::stringstream ss(path);
  std::string part;
  while (!bad && std::getline(ss, part, '/')) bad = part.empty() || part == "." || part == "..";
  if (bad)
    throw HubError(Kind::Invalid, repo_id + ": the hub listed an unsafe file name '" + path +
                                      "' (absolute, empty or with '..'); refusing to write it");
}

uint64_t file_size_or_zero(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

// How the hub names a file's content: sha256 for LFS files, git blob sha1 otherwise. An etag in
// another form (not the hub's) cannot be checked; "" then.
std::string content_hash(const fs::path& path, const std::string& etag) {
  if (is_hex(etag, 64)) return sha256_file(path.string());
  if (is_hex(etag, 40)) return git_blob_sha1_file(path.string());
  return "";
}

const char* hash_name(const std::string& etag) {
  return is_hex(etag, 64) ? "sha256" : "git sha1";
}

// An exclusive advisory lock on a lock file (flock, as Python's filelock uses on Unix), so two
// fetches of one model, from embedflow or huggingface_hub, do not write the same blob at once.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw HubError(Kind::Io,
                     "cannot create lock file " + path.string() + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      std::cerr << "waiting for another download holding " << path.string() << "\n";
      ::flock(fd_, LOCK_EX);
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// --- HTTP ------------------------------------------------------------------------------------

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, of the last response
  std::string body;                            // bodies of non-file requests and of errors
  std::string url;                             // the URL finally answered
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

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

// Where the body of a file download goes: appended to the .incomplete file when the server
// answers 200 or 206; a 200 to a Range request means the server ignored it, so start over.
struct FileSink {
  CURL* curl = nullptr;
  std::FILE* file = nullptr;
  uint64_t offset = 0;
  bool decided = false;
  bool to_file = false;
  std::string error_body;
  std::function<void(uint64_t)> on_bytes;
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
      if (::ftruncate(::fileno(s->file), 0) != 0) return 0;
      s->offset = 0;
      if (s->on_bytes) s->on_bytes(0);
    }
  }
  if (!s->to_file) {
    if (s->error_body.size() < 4096) s->error_body.append(data, len);
    return len;
  }
  if (std::fwrite(data, 1, len, s->file) != len) return 0;  // → CURLE_WRITE_ERROR
  if (s->on_bytes) s->on_bytes(len);
  return len;
}

std::once_flag g_curl_init;

class Http {
 public:
  Http(std::string token, long connect_timeout_s)
      : token_(std::move(token)), connect_timeout_s_(connect_timeout_s) {
    std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (!curl_) throw HubError(Kind::Network, "libcurl could not be initialised");
    user_agent_ = std::string("embedflow/") + EMBEDFLOW_VERSION + "; libcurl/" +
                  curl_version_info(CURLVERSION_NOW)->version;
  }
  ~Http() { curl_easy_cleanup(curl_); }
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;

  // A HEAD or GET whose body is kept in memory. Redirects are not followed unless asked.
  CURLcode request(const std::string& method, const std::string& url, bool auth, bool follow,
                   Response& r) {
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

  // GET appended to `file` from `offset` (a Range request when > 0).
  CURLcode download(const std::string& url, bool auth, std::FILE* file, uint64_t offset,
                    const std::function<void(uint64_t)>& on_bytes, Response& r) {
    r = Response{};
    std::vector<std::string> extra;
    if (offset > 0) extra.push_back("Range: bytes=" + std::to_string(offset) + "-");
    curl_slist* headers = setup(url, auth, extra);
    FileSink sink;
    sink.curl = curl_;
    sink.file = file;
    sink.offset = offset;
    sink.on_bytes = on_bytes;
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body_to_file);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &sink);
    CURLcode rc = curl_easy_perform(curl_);
    finish(r, headers);
    r.body = sink.error_body;
    return rc;
  }

  // curl's own words for the last failure ("Failed to connect to ... Connection refused").
  std::string error(CURLcode rc) const {
    std::string detail = errbuf_;
    std::string what = curl_easy_strerror(rc);
    return detail.empty() || detail == what ? what : what + ": " + detail;
  }

 private:
  curl_slist* setup(const std::string& url, bool auth, const std::vector<std::string>& extra) {
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

  void finish(Response& r, curl_slist* headers) {
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
    char* effective = nullptr;
    curl_easy_getinfo(curl_, CURLINFO_EFFECTIVE_URL, &effective);
    if (effective) r.url = effective;
    curl_slist_free_all(headers);
  }

  CURL* curl_ = nullptr;
  std::string token_;
  long connect_timeout_s_;
  std::string user_agent_;
  char errbuf_[CURL_ERROR_SIZE] = {};
};

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

[[noreturn]] void throw_unreachable(const std::string& endpoint, const std::string& what,
                                    const std::string& curl_error) {
  throw HubError(Kind::Network, "cannot reach " + endpoint + " to fetch " + what + " (" +
                                    curl_error + "): " + kNoNetworkHint);
}

// The hub's answer to a failed request, in words: which repository, revision or file, and what
// to do about it. `path` is "" for the repository listing.
[[noreturn]] void throw_http_error(const Response& r, const std::string& endpoint,
                                   const std::string& repo_id, const std::string& revision,
                                   const std::string& path, bool have_token,
                                   const std::string& url) {
  const std::string code = r.header("x-error-code");
  std::string server = r.header("x-error-message");
  if (server.empty() && !r.body.empty() && r.body.size() < 300) server = trim(r.body);
  const std::string said = server.empty() ? "" : " — the server said: " + server;
  const std::string status = " (HTTP " + std::to_string(r.status) + " from " + url + ")";
  if (code == "GatedRepo")
    throw HubError(Kind::Unauthorized, "'" + repo_id + "' is gated: accept its conditions on " +
                                           endpoint + "/" + repo_id +
                                           " and set HF_TOKEN to a token of that account" + status);
  if (code == "RevisionNotFound")
    throw HubError(Kind::NotFound,
                   "revision '" + revision + "' not found in '" + repo_id + "'" + status + said);
  if (code == "EntryNotFound" || (r.status == 404 && !path.empty() && code.empty()))
    throw HubError(Kind::NotFound, "file '" + path + "' not found in '" + repo_id + "' at " +
                                       revision + status + said);
  if (r.status == 404 || r.status == 401 || code == "RepoNotFound") {
    std::string hint = have_token ? "check the id, and that HF_TOKEN can read it"
                                  : "check the id; if it is private, set HF_TOKEN";
    throw HubError(
        code == "RepoNotFound" || r.status == 404 ? Kind::NotFound : Kind::Unauthorized,
        "repository '" + repo_id + "' not found on " + endpoint + ": " + hint + status + said);
  }
  if (r.status == 403)
    throw HubError(Kind::Unauthorized, "access to '" + repo_id + "' refused" + status + said +
                                           (have_token ? "" : "; set HF_TOKEN"));
  throw HubError(Kind::Network, "unexpected answer fetching '" + repo_id + "'" +
                                    (path.empty() ? "" : " file '" + path + "'") + status + said);
}

// --- progress --------------------------------------------------------------------------------

// Bytes, rate and ETA of the whole fetch: a redrawn bar on a terminal, log lines elsewhere.
class Progress {
 public:
  Progress(ProgressMode mode, uint64_t total, size_t files)
      : enabled_(mode != ProgressMode::Off),
        tty_(mode == ProgressMode::On || (mode == ProgressMode::Auto && ::isatty(2))),
        total_(total),
        files_(files),
        start_(Clock::now()),
        last_draw_(start_),
        last_log_(start_),
        last_byte_(start_) {}

  void file_start(const std::string& name, uint64_t size, uint64_t resumed_from) {
    name_ = name;
    ++index_;
    done_ += resumed_from;
    resumed_ += resumed_from;
    file_start_ = Clock::now();
    file_done_bytes_ = 0;
    if (!enabled_ || tty_) return;
    std::cerr << "fetching [" << index_ << "/" << files_ << "] " << name << " ("
              << format_bytes(size) << ")"
              << (resumed_from ? ", resuming at " + format_bytes(resumed_from) : "") << "\n";
  }

  // Bytes written to disk; `n == 0` with a restart means the server ignored a Range request.
  void add(uint64_t n) {
    done_ += n;
    file_done_bytes_ += n;
    auto now = Clock::now();
    if (n) last_byte_ = now;
    if (!enabled_) return;
    if (tty_ && now - last_draw_ > std::chrono::milliseconds(100)) {
      draw(now);
      last_draw_ = now;
    } else if (!tty_ && now - last_log_ > std::chrono::seconds(10)) {
      std::cerr << "  " << name_ << ": " << status_line(now) << "\n";
      last_log_ = now;
    }
  }

  // A planned file that needed no transfer (its blob was already there): counted as done.
  void skip(uint64_t size) {
    ++index_;
    done_ += size;
    resumed_ += size;
  }

  void rewind(uint64_t n) {
    done_ = n > done_ ? 0 : done_ - n;
    resumed_ = n > resumed_ ? 0 : resumed_ - n;
  }

  // Hashing a large file takes a moment: say so rather than look stuck.
  void checking(const std::string& what) {
    if (enabled_ && tty_) {
      label_ = what + " " + name_;
      draw(Clock::now());
      label_.clear();
    }
  }

  void file_done() {
    if (!enabled_) return;
    auto now = Clock::now();
    if (tty_) {
      draw(now);
    } else {
      double s = seconds(file_start_, std::max(file_start_, last_byte_));
      std::cerr << "  done " << name_ << ": " << format_bytes(file_done_bytes_) << " in "
                << format_duration(s)
                << (s > 0 ? " (" + format_bytes(uint64_t(file_done_bytes_ / s)) + "/s)" : "")
                << "\n";
    }
  }

  // Messages between redraws (a retry) must not be overwritten by the bar.
  void note(const std::string& message) {
    if (tty_ && enabled_) std::cerr << "\r\033[K";
    std::cerr << message << "\n";
  }

  void finish() {
    if (enabled_ && tty_ && index_ > 0) {
      draw(Clock::now());
      std::cerr << "\n";
    }
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }

  static std::string format_duration(double s) {
    long t = static_cast<long>(s + 0.5);
    char buf[32];
    if (t >= 3600)
      std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
      std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
  }

  std::string status_line(Clock::time_point now) const {
    // The rate of the transfers, not counting the checks after them.
    double transferring = seconds(start_, last_byte_);
    double rate = transferring > 0 ? double(done_ - resumed_) / transferring : 0;
    std::string out = format_bytes(done_) + " / " + format_bytes(total_) + "  " +
                      format_bytes(uint64_t(rate)) + "/s";
    if (rate > 0 && total_ > done_ && seconds(start_, now) >= 1.0)  // early rates are noise
      out += "  ETA " + format_duration(double(total_ - done_) / rate);
    return out;
  }

  void draw(Clock::time_point now) {
    constexpr int kWidth = 24;
    double frac = total_ ? std::min(1.0, double(done_) / double(total_)) : 0.0;
    int filled = static_cast<int>(frac * kWidth);
    std::string bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "]";
    const std::string& what = label_.empty() ? name_ : label_;
    std::string name = what.size() > 48 ? "…" + what.substr(what.size() - 47) : what;
    std::cerr << "\r\033[K" << bar << " " << index_ << "/" << files_ << "  " << status_line(now)
              << "  " << name << std::flush;
  }

  bool enabled_, tty_;
  uint64_t total_, done_ = 0, resumed_ = 0, file_done_bytes_ = 0;
  size_t files_, index_ = 0;
  std::string name_, label_;
  Clock::time_point start_, file_start_, last_draw_, last_log_, last_byte_;
};

// --- one file --------------------------------------------------------------------------------

// What a HEAD of `resolve/<commit>/<path>` says about a file.
struct RemoteFile {
  std::string path;
  std::string etag;      // normalised: no W/ prefix, no quotes
  std::string location;  // where to GET it (the CDN for LFS files)
  bool location_is_hub = true;
  uint64_t size = 0;
  bool size_known = false;
};

std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
  return etag;
}

struct Context {
  std::string repo_id, revision, commit, endpoint;
  bool have_token = false;
  const FetchOptions* options = nullptr;
  Http* http = nullptr;
  Progress* progress = nullptr;
};

RemoteFile head_file(Context& c, const std::string& path) {
  std::string url =
      c.endpoint + "/" + c.repo_id + "/resolve/" + quote(c.commit, false) + "/" + quote(path, true);
  Response r;
  // Relative redirects (a renamed repository) are followed here; an absolute one is the CDN
  // holding an LFS file, which is where the GET goes.
  for (int hops = 0;; ++hops) {
    CURLcode rc = c.http->request("HEAD", url, true, false, r);
    if (rc != CURLE_OK) throw_unreachable(c.endpoint, "'" + c.repo_id + "'", c.http->error(rc));
    std::string location = r.header("location");
    if (r.status >= 300 && r.status < 400 && !location.empty() && !is_absolute_url(location) &&
        hops < 10) {
      url = url_origin(url) + (location.front() == '/' ? "" : "/") + location;
      continue;
    }
    break;
  }
  if (r.status >= 400)
    throw_http_error(r, c.endpoint, c.repo_id, c.commit, path, c.have_token, url);
  RemoteFile f;
  f.path = path;
  std::string etag = r.header("x-linked-etag");
  if (etag.empty()) etag = r.header("etag");
  f.etag = normalize_etag(etag);
  if (f.etag.empty() || f.etag.find('/') != std::string::npos ||
      f.etag.find("..") != std::string::npos)
    throw HubError(Kind::Invalid, "'" + c.repo_id + "' file '" + path + "': the server sent no " +
                                      "usable ETag (X-Linked-Etag / ETag) for " + url +
                                      "; is HF_ENDPOINT a Hugging Face hub?");
  std::string size = r.header("x-linked-size");
  if (size.empty()) size = r.header("content-length");
  if (!size.empty()) {
    f.size = std::strtoull(size.c_str(), nullptr, 10);
    f.size_known = true;
  }
  std::string location = r.header("location");
  if (r.status >= 300 && r.status < 400 && !location.empty()) {
    f.location = location;
    f.location_is_hub = false;
  } else {
    f.location = url;
  }
  return f;
}

// Downloads `f` into `incomplete` (resuming what is there), checks it, renames it to `target`.
// Returns the bytes transferred.
uint64_t download_file(Context& c, const RemoteFile& f, const fs::path& incomplete,
                       const fs::path& target) {
  const FetchOptions& o = *c.options;
  std::error_code ec;
  fs::create_directories(incomplete.parent_path(), ec);
  fs::create_directories(target.parent_path(), ec);
  uint64_t transferred = 0;
  uint64_t have = file_size_or_zero(incomplete);
  if (f.size_known && have > f.size) {
    fs::remove(incomplete, ec);  // longer than the file: not ours to resume
    have = 0;
  }
  c.progress->file_start(f.path, f.size, have);
  c.progress->add(0);
  bool complete = f.size_known && have == f.size && have > 0;
  double wait = o.retry_wait_s;
  for (int attempt = 1; !complete; ++attempt) {
    have = file_size_or_zero(incomplete);
    std::FILE* file = std::fopen(incomplete.c_str(), "ab");
    if (!file)
      throw HubError(Kind::Io, "cannot write " + incomplete.string() + ": " + std::strerror(errno));
    uint64_t this_attempt = 0;
    Response r;
    CURLcode rc = c.http->download(
        f.location, f.location_is_hub, file, have,
        [&](uint64_t n) {
          if (n == 0 && this_attempt == 0 && have > 0) {  // the server ignored Range
            c.progress->rewind(have);
            have = 0;
          }
          this_attempt += n;
          c.progress->add(n);
        },
        r);
    bool flushed = std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
    std::fclose(file);
    transferred += this_attempt;
    if (!flushed) throw HubError(Kind::Io, "cannot write " + incomplete.string());
    if (rc == CURLE_OK && (r.status == 200 || r.status == 206)) {
      complete = true;
      break;
    }
    if (file_size_or_zero(incomplete) == 0) fs::remove(incomplete, ec);  // nothing to resume
    if (rc == CURLE_OK && r.status == 416) {  // our partial file does not fit the file served
      fs::remove(incomplete, ec);
    } else if (rc == CURLE_OK && !is_transient_status(r.status)) {
      throw_http_error(r, c.endpoint, c.repo_id, c.commit, f.path, c.have_token, f.location);
    } else if (rc != CURLE_OK && !is_transient(rc)) {
      throw_unreachable(c.endpoint, "'" + c.repo_id + "' file '" + f.path + "'", c.http->error(rc));
    }
    const std::string why = rc != CURLE_OK ? c.http->error(rc) : "HTTP " + std::to_string(r.status);
    const uint64_t now_have = file_size_or_zero(incomplete);
    if (attempt >= o.max_attempts)
      throw HubError(Kind::Network, "'" + c.repo_id + "' file '" + f.path + "': transfer failed " +
                                        std::to_string(attempt) + " times (last: " + why + "); " +
                                        format_bytes(now_have) + " kept in " + incomplete.string() +
                                        ", run the fetch again to resume");
    char wait_text[32];
    std::snprintf(wait_text, sizeof wait_text, "%.1f", wait);
    c.progress->note("transfer of " + f.path + " interrupted at " + format_bytes(now_have) + " (" +
                     why + "); resuming in " + wait_text + " s (attempt " +
                     std::to_string(attempt + 1) + "/" + std::to_string(o.max_attempts) + ")");
    std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    wait = std::min(wait * 2, 8.0);
  }

  // Nothing reaches the cache or the folder unless it is the file the hub announced.
  const uint64_t got = file_size_or_zero(incomplete);
  if (f.size_known && got != f.size) {
    fs::remove(incomplete, ec);
    throw HubError(Kind::Checksum, "'" + c.repo_id + "' file '" + f.path + "': received " +
                                       std::to_string(got) + " bytes, the hub announced " +
                                       std::to_string(f.size) + " (" + f.location +
                                       "); the partial file was removed, run the fetch again");
  }
  c.progress->checking(std::string("checking ") + hash_name(f.etag) + " of");
  const std::string actual = content_hash(incomplete, f.etag);
  if (!actual.empty() && actual != f.etag) {
    fs::remove(incomplete, ec);
    throw HubError(Kind::Checksum,
                   "'" + c.repo_id + "' file '" + f.path + "': " + hash_name(f.etag) +
                       " of the received bytes is " + actual + ", the hub announced " + f.etag +
                       " (" + f.location + "); the download was discarded, run the fetch again");
  }
  fs::rename(incomplete, target, ec);
  if (ec)
    throw HubError(Kind::Io, "cannot move " + incomplete.string() + " to " + target.string() +
                                 ": " + ec.message());
  // Blobs are shared read-only data: rw-r--r-- minus the umask, like huggingface_hub.
  mode_t mask = ::umask(0);
  ::umask(mask);
  fs::permissions(target, static_cast<fs::perms>(0644 & ~mask), ec);
  c.progress->file_done();
  return transferred;
}

// snapshots/<commit>/<path> → ../../blobs/<etag> (one more ../ per folder level in <path>).
void link_into_snapshot(const fs::path& blob, const fs::path& pointer) {
  std::error_code ec;
  fs::create_directories(pointer.parent_path(), ec);
  fs::remove(pointer, ec);
  // Lexical, like os.path.relpath: the cache folder can be moved or mounted elsewhere.
  fs::path relative = fs::absolute(blob).lexically_relative(fs::absolute(pointer.parent_path()));
  if (relative.empty()) relative = fs::absolute(blob);
  fs::create_symlink(relative, pointer, ec);
  if (ec)
    throw HubError(Kind::Io, "cannot create " + pointer.string() + " -> " + relative.string() +
                                 ": " + ec.message());
}

// Copies through a temporary name, so `to` is whole or absent.
void copy_file_atomic(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::path tmp = to;
  tmp += ".tmp" + std::to_string(::getpid());
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp, to, ec);
  if (ec) {
    fs::remove(tmp);
    throw HubError(Kind::Io,
                   "cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
  }
}

// --- `--to DIR`: huggingface_hub's local-dir metadata ----------------------------------------

// DIR/.cache/huggingface/download/<path>.metadata holds "commit\netag\ntimestamp\n"; a file not
// modified since its metadata was written is known without asking the server.
struct LocalMetadata {
  std::string commit, etag;
  double timestamp = 0;
};

fs::path local_meta_dir(const fs::path& dir) {
  return dir / ".cache" / "huggingface";
}

std::optional<LocalMetadata> read_local_metadata(const fs::path& dir, const std::string& path) {
  fs::path meta = local_meta_dir(dir) / "download" / (path + ".metadata");
  std::ifstream f(meta);
  LocalMetadata m;
  std::string ts;
  if (!f || !std::getline(f, m.commit) || !std::getline(f, m.etag) || !std::getline(f, ts))
    return std::nullopt;
  m.commit = trim(m.commit);
  m.etag = trim(m.etag);
  m.timestamp = std::strtod(ts.c_str(), nullptr);
  std::error_code ec;
  auto mtime = fs::last_write_time(dir / path, ec);
  if (ec) return std::nullopt;
  // file_time_type's clock is not system_clock in C++17; convert through "now" on both clocks.
  auto sys = std::chrono::system_clock::now() +
             std::chrono::duration_cast<std::chrono::system_clock::duration>(
                 mtime - fs::file_time_type::clock::now());
  double mtime_s = std::chrono::duration<double>(sys.time_since_epoch()).count();
  if (mtime_s - 1 > m.timestamp) return std::nullopt;  // edited since: check its content
  return m;
}

void write_local_metadata(const fs::path& dir, const std::string& path, const std::string& commit,
                          const std::string& etag) {
  fs::path root = local_meta_dir(dir);
  if (!fs::exists(root / ".gitignore")) write_text_atomic(root / ".gitignore", "*\n");
  double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  char ts[64];
  std::snprintf(ts, sizeof ts, "%.6f", now);
  write_text_atomic(root / "download" / (path + ".metadata"),
                    commit + "\n" + etag + "\n" + ts + "\n");
}

// --- selection -------------------------------------------------------------------------------

std::string lower_extension(const std::string& path) {
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot);
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

bool glob_match(std::string pattern, const std::string& path) {
  if (!pattern.empty() && pattern.back() == '/') pattern += '*';
  return ::fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
}

}  // namespace

// --- environment -----------------------------------------------------------------------------

std::string hub_cache_dir() {
  for (const char* name : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"})
    if (std::string v = env(name); !v.empty()) return expand_user(v);
  if (std::string home = env("HF_HOME"); !home.empty()) return expand_user(home) + "/hub";
  if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty())
    return expand_user(xdg) + "/huggingface/hub";
  return home_dir() + "/.cache/huggingface/hub";
}

std::string hub_endpoint() {
  std::string e = env("HF_ENDPOINT");
  if (e.empty()) e = "https://huggingface.co";
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

bool hub_offline() {
  return env_truthy("HF_HUB_OFFLINE") || env_truthy("TRANSFORMERS_OFFLINE");
}

std::string hub_token() {
  if (std::string t = trim(env("HF_TOKEN")); !t.empty()) return t;
  if (std::string t = trim(env("HUGGING_FACE_HUB_TOKEN")); !t.empty()) return t;
  std::string path = env("HF_TOKEN_PATH");
  if (path.empty()) {
    std::string home = env("HF_HOME");
    path = home.empty() ? home_dir() + "/.cache/huggingface/token" : expand_user(home) + "/token";
  }
  std::error_code ec;
  return fs::is_regular_file(expand_user(path), ec) ? trim(read_text(expand_user(path))) : "";
}

std::string repo_folder_name(const std::string& repo_id) {
  std::string out = "models";
  std::stringstream ss(repo_id);
  std::string part;
  while (std::getline(ss, part, '/')) out += "--" + part;
  return out;
}

namespace {

bool valid_repo_id(const std::string& id) {
  if (id.empty() || id.size() > 96 + 1 + 96) return false;
  size_t slash = id.find('/');
  if (slash != std::string::npos && id.find('/', slash + 1) != std::string::npos) return false;
  auto part_ok = [](const std::string& p) {
    if (p.empty() || p.size() > 96) return false;
    if (p.front() == '-' || p.front() == '.' || p.back() == '-' || p.back() == '.') return false;
    if (p.find("--") != std::string::npos || p.find("..") != std::string::npos) return false;
    return std::all_of(p.begin(), p.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    });
  };
  if (slash == std::string::npos) return part_ok(id);
  return part_ok(id.substr(0, slash)) && part_ok(id.substr(slash + 1));
}

}  // namespace

void check_repo_id(const std::string& repo_id) {
  if (!valid_repo_id(repo_id))
    throw HubError(Kind::Invalid, "'" + repo_id +
                                      "' is not a hub model id: expected 'org/name' (letters, "
                                      "digits, '-', '_', '.'), e.g. "
                                      "sentence-transformers/all-MiniLM-L6-v2");
}

// --- resolution ------------------------------------------------------------------------------

std::optional<ModelSpec> parse_model_spec(const std::string& spec) {
  ModelSpec s;
  size_t at = spec.find('@');
  s.repo_id = spec.substr(0, at);
  if (at != std::string::npos) {
    s.revision = spec.substr(at + 1);
    if (s.revision.empty() || s.revision.find("..") != std::string::npos ||
        s.revision.front() == '/')
      return std::nullopt;
  }
  if (!valid_repo_id(s.repo_id)) return std::nullopt;
  return s;
}

std::string resolve_model_path(const std::string& spec) {
  if (spec.empty()) throw HubError(Kind::Invalid, "empty model path");
  const std::string path = expand_user(spec);
  std::error_code ec;
  if (fs::exists(path, ec)) return path;

  auto parsed = parse_model_spec(spec);
  if (!parsed)
    throw HubError(Kind::NotCached, "model '" + spec +
                                        "': no such file or folder (a hub model is named "
                                        "org/name or org/name@revision)");
  const std::string& repo = parsed->repo_id;
  const std::string revision = parsed->revision.empty() ? "main" : parsed->revision;
  const std::string cache = hub_cache_dir();
  const fs::path repo_dir = fs::path(cache) / repo_folder_name(repo);
  const std::string fetch = "embedflow models fetch " + repo +
                            (parsed->revision.empty() ? "" : " --revision " + revision);
  const std::string todo =
      hub_offline() ? "HF_HUB_OFFLINE is set, so run `" + fetch +
                          "` where there is network and copy the cache folder, or give the "
                          "model folder's path"
                    : "run `" + fetch + "` first, or give the model folder's path";
  const std::string also_not_a_path =
      repo.find('/') == std::string::npos ? "" : " (nor is there a file or folder '" + spec + "')";

  if (!fs::is_directory(repo_dir, ec))
    throw HubError(Kind::NotCached, "model '" + spec + "' is not in the Hugging Face cache " +
                                        cache + also_not_a_path + ": " + todo);

  std::string commit;
  fs::path ref = repo_dir / "refs" / revision;
  if (fs::is_regular_file(ref, ec))
    commit = trim(read_text(ref));
  else if (is_commit_hash(revision))
    commit = revision;
  fs::path snapshot = repo_dir / "snapshots" / commit;
  if (commit.empty() || !fs::is_directory(snapshot, ec)) {
    std::string have;
    for (const auto& r : list_cached_models(cache))
      if (r.repo_id == repo)
        for (const auto& rev : r.revisions) {
          have += (have.empty() ? "" : ", ") + rev.commit.substr(0, 12);
          for (const auto& name : rev.refs) have += " (" + name + ")";
        }
    throw HubError(Kind::NotCached, "revision '" + revision + "' of '" + repo +
                                        "' is not in the cache " + repo_dir.string() +
                                        (have.empty() ? "" : " (cached: " + have + ")") + ": " +
                                        todo);
  }
  return snapshot.string();
}

// --- selection -------------------------------------------------------------------------------

std::vector<std::string> select_files(const std::vector<std::string>& repo_files,
                                      const FetchOptions& options,
                                      std::vector<std::string>* skipped) {
  // Formats embedflow never reads; folders of exported models.
  static const std::set<std::string> kForeignExt = {".onnx", ".onnx_data", ".h5",   ".msgpack",
                                                    ".ot",   ".tflite",    ".gguf", ".mlmodel"};
  static const std::set<std::string> kForeignDirs = {"onnx", "openvino", "coreml"};
  // PyTorch pickles: left out where safetensors weights sit beside them.
  static const std::set<std::string> kPickleExt = {".bin", ".pt", ".pth", ".ckpt", ".pkl"};

  std::set<std::string> dirs_with_safetensors;
  for (const auto& p : repo_files)
    if (lower_extension(p) == ".safetensors") dirs_with_safetensors.insert(parent_of(p));

  std::vector<std::string> keep;
  for (const auto& p : repo_files) {
    bool wanted;
    if (options.all_files) {
      wanted = true;
    } else if (!options.include.empty()) {
      wanted = std::any_of(options.include.begin(), options.include.end(),
                           [&](const std::string& g) { return glob_match(g, p); });
    } else {
      const std::string ext = lower_extension(p);
      bool foreign_dir = false;
      std::stringstream ss(parent_of(p));
      std::string part;
      while (std::getline(ss, part, '/')) foreign_dir = foreign_dir || kForeignDirs.count(part);
      wanted = !foreign_dir && !kForeignExt.count(ext) &&
               !(kPickleExt.count(ext) && dirs_with_safetensors.count(parent_of(p)));
    }
    if (wanted)
      keep.push_back(p);
    else if (skipped)
      skipped->push_back(p);
  }
  return keep;
}

// --- fetch -----------------------------------------------------------------------------------

FetchResult fetch_model(const std::string& repo_id, const FetchOptions& options) {
  check_repo_id(repo_id);
  if (options.revision.empty() || options.revision.find("..") != std::string::npos)
    throw HubError(Kind::Invalid, "invalid revision '" + options.revision + "'");
  if (hub_offline())
    throw HubError(Kind::Offline,
                   "HF_HUB_OFFLINE is set: fetching '" + repo_id +
                       "' needs the network; unset HF_HUB_OFFLINE, or copy the model folder "
                       "by hand and give its path");

  Context c;
  c.repo_id = repo_id;
  c.revision = options.revision;
  c.options = &options;
  c.endpoint = options.endpoint.empty() ? hub_endpoint() : options.endpoint;
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  const std::string token = options.token.empty() ? hub_token() : options.token;
  c.have_token = !token.empty();
  Http http(token, options.connect_timeout_s);
  c.http = &http;

  // The commit the revision points to now, and the files in it.
  const std::string api =
      c.endpoint + "/api/models/" + repo_id + "/revision/" + quote(options.revision, false);
  Response r;
  CURLcode rc = http.request("GET", api, true, true, r);
  if (rc != CURLE_OK) throw_unreachable(c.endpoint, "'" + repo_id + "'", http.error(rc));
  if (r.status != 200)
    throw_http_error(r, c.endpoint, repo_id, options.revision, "", c.have_token, api);
  std::vector<std::string> repo_files;
  try {
    auto info = nlohmann::json::parse(r.body);
    c.commit = info.at("sha").get<std::string>();
    for (const auto& s : info.at("siblings")) repo_files.push_back(s.at("rfilename"));
  } catch (const std::exception& e) {
    throw HubError(Kind::Invalid, "unexpected answer from " + api + " (expected JSON with 'sha' " +
                                      "and 'siblings[].rfilename'): " + e.what());
  }
  if (c.commit.empty() || c.commit.find('/') != std::string::npos ||
      c.commit.find("..") != std::string::npos)
    throw HubError(Kind::Invalid, api + " gave an unusable commit '" + c.commit + "'");
  for (const auto& p : repo_files) check_repo_path(repo_id, p);

  FetchResult result;
  result.repo_id = repo_id;
  result.commit = c.commit;
  std::vector<std::string> wanted = select_files(repo_files, options, &result.skipped);
  if (wanted.empty())
    throw HubError(Kind::NotFound,
                   "'" + repo_id + "' at " + options.revision + ": no file matches" +
                       (options.include.empty() ? "" : " the --include patterns") + " (" +
                       std::to_string(repo_files.size()) + " files in the repository)");

  const fs::path cache = options.cache_dir.empty() ? hub_cache_dir() : options.cache_dir;
  const fs::path repo_dir = cache / repo_folder_name(repo_id);
  const bool to_dir = !options.to_dir.empty();
  const fs::path out_dir =
      to_dir ? fs::path(expand_user(options.to_dir)) : repo_dir / "snapshots" / c.commit;
  result.dir = out_dir.string();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw HubError(Kind::Io, "cannot create " + out_dir.string() + ": " + ec.message());

  // Files already in place are not asked about: a commit's files never change.
  std::vector<RemoteFile> plan;
  for (const auto& p : wanted) {
    bool present = false;
    std::string etag;
    if (to_dir) {
      auto meta = read_local_metadata(out_dir, p);
      present = meta && meta->commit == c.commit;
      if (present) etag = meta->etag;
    } else {
      present = fs::exists(out_dir / p, ec);  // follows the symlink: the blob is there too
      if (present) etag = fs::read_symlink(out_dir / p, ec).filename().string();
    }
    if (present) {
      result.files.push_back({p, etag, file_size_or_zero(out_dir / p), false});
      continue;
    }
    plan.push_back(head_file(c, p));
  }

  uint64_t total = 0;
  for (const auto& f : plan) total += f.size;
  Progress progress(options.progress, total, plan.size());
  c.progress = &progress;

  for (const auto& f : plan) {
    FetchedFile done{f.path, f.etag, f.size, false};
    const fs::path blob = repo_dir / "blobs" / f.etag;
    if (to_dir) {
      const fs::path target = out_dir / f.path;
      const fs::path meta = local_meta_dir(out_dir) / "download" / f.path;
      FileLock lock(meta.string() + ".lock");
      auto old = read_local_metadata(out_dir, f.path);
      if (fs::is_regular_file(target, ec) &&
          ((old && old->etag == f.etag) || content_hash(target, f.etag) == f.etag)) {
        progress.skip(f.size);  // same content as the hub's (a fetch of another commit)
      } else if (fs::is_regular_file(blob, ec) && file_size_or_zero(blob) == f.size) {
        copy_file_atomic(blob, target);
        progress.skip(f.size);
      } else {
        fs::path incomplete = meta;
        incomplete += "." + f.etag + ".incomplete";
        result.bytes_downloaded += download_file(c, f, incomplete, target);
        done.downloaded = true;
      }
      write_local_metadata(out_dir, f.path, c.commit, f.etag);
    } else {
      const fs::path pointer = out_dir / f.path;
      FileLock lock(cache / ".locks" / repo_folder_name(repo_id) / (f.etag + ".lock"));
      if (!fs::exists(blob, ec)) {
        fs::path incomplete = blob;
        incomplete += ".incomplete";
        result.bytes_downloaded += download_file(c, f, incomplete, blob);
        done.downloaded = true;
      } else {
        progress.skip(f.size);
      }
      link_into_snapshot(blob, pointer);
    }
    result.files.push_back(done);
  }
  progress.finish();

  // The ref moves only once the snapshot is whole, so resolve_model_path never finds half a
  // model under a branch name.
  if (!to_dir && options.revision != c.commit) {
    const fs::path ref = repo_dir / "refs" / options.revision;
    if (!fs::is_regular_file(ref, ec) || trim(read_text(ref)) != c.commit)
      write_text_atomic(ref, c.commit);
  }
  std::sort(result.files.begin(), result.files.end(),
            [](const FetchedFile& a, const FetchedFile& b) { return a.path < b.path; });
  return result;
}

// --- the cache -------------------------------------------------------------------------------

std::vector<CachedRepo> list_cached_models(const std::string& cache_dir) {
  const fs::path cache = cache_dir.empty() ? hub_cache_dir() : cache_dir;
  std::vector<CachedRepo> repos;
  std::error_code ec;
  if (!fs::is_directory(cache, ec)) return repos;
  for (const auto& entry : fs::directory_iterator(cache, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind("models--", 0) != 0) continue;
    CachedRepo repo;
    repo.dir = entry.path().string();
    std::string rest = name.substr(8);
    for (size_t pos; (pos = rest.find("--")) != std::string::npos;) rest.replace(pos, 2, "/");
    repo.repo_id = rest;

    std::map<std::string, std::vector<std::string>> refs_of;  // commit → refs
    const fs::path refs = entry.path() / "refs";
    if (fs::is_directory(refs, ec))
      for (const auto& r : fs::recursive_directory_iterator(refs, ec))
        if (r.is_regular_file())
          refs_of[trim(read_text(r.path()))].push_back(
              fs::relative(r.path(), refs, ec).generic_string());

    const fs::path snapshots = entry.path() / "snapshots";
    if (fs::is_directory(snapshots, ec))
      for (const auto& s : fs::directory_iterator(snapshots, ec)) {
        if (!s.is_directory()) continue;
        CachedRevision rev;
        rev.commit = s.path().filename().string();
        rev.refs = refs_of[rev.commit];
        std::sort(rev.refs.begin(), rev.refs.end());
        for (const auto& f : fs::recursive_directory_iterator(s.path(), ec))
          if (f.is_symlink() || f.is_regular_file()) ++rev.files;
        repo.revisions.push_back(rev);
      }
    std::sort(repo.revisions.begin(), repo.revisions.end(),
              [](const CachedRevision& a, const CachedRevision& b) { return a.commit < b.commit; });

    const fs::path blobs = entry.path() / "blobs";
    if (fs::is_directory(blobs, ec))
      for (const auto& b : fs::directory_iterator(blobs, ec)) {
        if (!b.is_regular_file()) continue;
        if (b.path().extension() == ".incomplete")
          ++repo.incomplete;
        else
          repo.size_on_disk += file_size_or_zero(b.path());
      }
    repos.push_back(std::move(repo));
  }
  std::sort(repos.begin(), repos.end(),
            [](const CachedRepo& a, const CachedRepo& b) { return a.repo_id < b.repo_id; });
  return repos;
}

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  const char* units[] = {"KB", "MB", "GB", "TB", "PB"};
  double v = double(bytes);
  int u = -1;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace embedflow::hub
