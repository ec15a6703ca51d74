// The fake hub (tests/fixtures/hub/hub_server.py) as a test fixture: started on a free port of
// 127.0.0.1 when constructed, stopped when destroyed, whatever happens in between.
#pragma once

#include <string>
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

}  // namespace embedflow::test
