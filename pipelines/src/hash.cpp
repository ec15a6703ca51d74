#include "embedflow/hash.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <openssl/evp.h>

namespace embedflow {

namespace {

struct MdCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  explicit MdCtx(const EVP_MD* md = EVP_sha256()) {
    if (!ctx || EVP_DigestInit_ex(ctx, md, nullptr) != 1)
      throw std::runtime_error("OpenSSL digest init failed");
  }
  ~MdCtx() { EVP_MD_CTX_free(ctx); }
  void update(const void* d, size_t n) { EVP_DigestUpdate(ctx, d, n); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 15];
    }
    return out;
  }
};

}  // namespace

std::string sha256_hex(const void* data, size_t size) {
  MdCtx ctx;
  ctx.update(data, size);
  return ctx.hex();
}

// Streams the file into `ctx` after `prefix`; returns the hex digest.
static std::string digest_file(MdCtx& ctx, const std::string& path, const std::string& prefix) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f)
    throw std::runtime_error("cannot read " + path + ": " +
                             std::error_code(errno, std::generic_category()).message());
  ctx.update(prefix.data(), prefix.size());
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) ctx.update(buf.data(), n);
  if (std::ferror(f.get())) throw std::runtime_error("read error: " + path);
  return ctx.hex();
}

std::string sha256_file(const std::string& path) {
  MdCtx ctx;
  return digest_file(ctx, path, "");
}

std::string git_blob_sha1_file(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw std::runtime_error("cannot read " + path + ": " + ec.message());
  MdCtx ctx(EVP_sha1());
  // The header's terminating NUL is part of what git hashes.
  return digest_file(ctx, path, "blob " + std::to_string(size) + std::string(1, '\0'));
}

}  // namespace embedflow
