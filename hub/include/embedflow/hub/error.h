// The one exception the hub library throws.
#pragma once

#include <stdexcept>
#include <string>

namespace embedflow::hub {

// A failure users can act on. `kind` lets callers (and tests) tell the cases apart.
class HubError : public std::runtime_error {
 public:
  enum class Kind {
    Network,       // the endpoint could not be reached, or the transfer kept failing
    NotFound,      // unknown repository, revision or file
    Unauthorized,  // private or gated repository without a valid token
    Checksum,      // the bytes received differ from the hub's sha256 / git sha1 / size
    Offline,       // HF_HUB_OFFLINE is set
    NotCached,     // a hub id that is not in the local cache
    Invalid,       // a malformed repo id, spec or server answer
    Io,            // the cache or destination folder could not be written
  };
  HubError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

}  // namespace embedflow::hub
