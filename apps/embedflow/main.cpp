#include <cstdio>

#include "stages/builtin.h"

int main() {
  embedflow::Registry reg;
  embedflow::register_builtin_stages(reg);
  std::printf("embedflow %s\n", EMBEDFLOW_VERSION);
  return 0;
}
