// libFuzzer target for the safetensors header parser (models/safetensors.cpp). Every input must
// either parse into tensors whose byte ranges lie inside the buffer, or throw ModelError;
// anything else (a crash, an ASan report, another exception type) is a bug.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "models/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy, so ASan flags any read past the end.
  std::shared_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(copy.get(), data, size);
  try {
    auto f = embedflow::models::SafeTensorsFile::parse(
        "fuzz.safetensors", std::shared_ptr<const void>(copy, copy.get()), size);
    for (const auto& t : f->tensors()) {
      if (t.offset + t.nbytes > size || t.offset < 8) std::abort();
      // Touch the first and last byte of every tensor.
      if (t.nbytes) {
        volatile uint8_t a = f->data(t)[0], b = f->data(t)[t.nbytes - 1];
        (void)a;
        (void)b;
      }
      if (f->find(t.name) != &t) std::abort();
    }
  } catch (const embedflow::models::ModelError&) {
  }
  return 0;
}
