// The caching CPU allocator behind every model (models/tensor_allocator.cpp): large tensors
// reuse freed blocks of about their size, stay 64-byte aligned, and small ones pass through.
#include <catch2/catch.hpp>

#include <cstdint>

#include <torch/torch.h>

#include "models/torch_runtime.h"

using embedflow::models::use_caching_tensor_allocator;

TEST_CASE("caching tensor allocator: a freed large block serves the next tensor of its size") {
  use_caching_tensor_allocator();
  use_caching_tensor_allocator();       // idempotent
  const int64_t floats = 4 << 20 >> 2;  // 4 MiB
  void* first = nullptr;
  {
    auto t = torch::empty({floats});
    first = t.data_ptr();
    CHECK(reinterpret_cast<uintptr_t>(first) % 64 == 0);
    t.fill_(3.0f);
  }
  {
    // Slightly smaller fits the same block (waste under an eighth); torch::zeros still zeroes.
    auto t = torch::zeros({floats - 1000});
    CHECK(t.data_ptr() == first);
    CHECK(t.abs().max().item<float>() == 0.0f);
    // A second tensor while the first is alive gets a block of its own.
    auto u = torch::ones({floats});
    CHECK(u.data_ptr() != first);
    CHECK(u.sum().item<double>() == Approx(static_cast<double>(floats)));
  }
  {
    // Half the size: not worth a 4 MiB block, so a new one.
    auto t = torch::empty({floats / 2});
    CHECK(t.data_ptr() != first);
  }
  // Small tensors come from c10's allocation functions and free normally.
  for (int i = 0; i < 1000; ++i) {
    auto s = torch::full({100}, static_cast<float>(i));
    REQUIRE(s[99].item<float>() == static_cast<float>(i));
  }
}
