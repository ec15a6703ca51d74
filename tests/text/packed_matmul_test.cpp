// oneDNN's matmul primitive as the encoder packs and runs it (models/transformer/packed_matmul.h):
// u8·s8 against the exact integer GEMM, bf16 against a double-precision GEMM of the same bf16
// values, at row counts that take every split (whole blocks, tile multiples, a tail), with
// accumulation, and from two threads at once. Compiled only with libdnnl-dev, like the class.
#include <oneapi/dnnl/dnnl.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "embedflow/cpu.h"
#include "models/transformer/packed_matmul.h"

namespace {

using embedflow::models::transformer::PackedMatmul;
namespace cpu = embedflow::cpu;

float bf16_value(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Random bf16 numbers in ±[2^-4, 2^4): a sign, an exponent in range, 7 mantissa bits.
std::vector<uint16_t> random_bf16(size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> sign(0, 1), exponent(127 - 4, 127 + 3), mantissa(0, 127);
  std::vector<uint16_t> v(n);
  for (auto& b : v)
    b = static_cast<uint16_t>((sign(rng) << 15) | (exponent(rng) << 7) | mantissa(rng));
  return v;
}

}  // namespace

TEST_CASE("packed matmul: u8·s8 equals the exact integer GEMM") {
  // As an encoder would first: oneDNN at the level in effect (EMBEDFLOW_CPU).
  embedflow::models::transformer::cap_onednn_isa_at_active_level();
  const int64_t n = 80, k = 96;
  std::mt19937 rng(3);
  // Full 8-bit activations only where the products are summed exactly: what the encoder does.
  const int top = PackedMatmul::u8_products_exact() ? 255 : 127;
  INFO("activations in [0, " << top << "], level " << cpu::level_name(cpu::active_level()));
  std::uniform_int_distribution<int> u8(0, top), s8(-127, 127);
  std::vector<int8_t> w(static_cast<size_t>(n * k));
  for (auto& v : w) v = static_cast<int8_t>(s8(rng));
  // The worst case for saturating int16 pair sums: every product at its largest.
  w[0] = w[1] = 127;
  const PackedMatmul mm(PackedMatmul::Type::U8S8, w.data(), n, k);
  // One row, a tail under the tile height, a multiple of it, whole blocks of 256 rows with and
  // without the rest, and a row count again (its primitives reused).
  for (const int64_t m : {1, 7, 96, 301, 512, 7}) {
    INFO("m = " << m);
    std::vector<uint8_t> a(static_cast<size_t>(m * k));
    for (auto& v : a) v = static_cast<uint8_t>(u8(rng));
    a[0] = a[1] = static_cast<uint8_t>(top);
    std::vector<int32_t> out(static_cast<size_t>(m * n), -1);
    mm.run(a.data(), m, out.data(), false);
    int64_t wrong = 0;
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < n; ++c) {
        int64_t expect = 0;
        for (int64_t i = 0; i < k; ++i) expect += int64_t{a[r * k + i]} * w[c * k + i];
        wrong += out[r * n + c] != expect;
      }
    CHECK(wrong == 0);
  }
}

TEST_CASE("packed matmul: bf16 · bf16 → f32 with and without accumulation, from two threads") {
  embedflow::models::transformer::cap_onednn_isa_at_active_level();
  const int64_t n = 72, k = 136;
  std::mt19937 rng(5);
  const std::vector<uint16_t> w = random_bf16(static_cast<size_t>(n * k), rng);
  std::unique_ptr<PackedMatmul> mm;
  try {
    mm = std::make_unique<PackedMatmul>(PackedMatmul::Type::Bf16, w.data(), n, k);
  } catch (const std::exception& e) {
    // oneDNN 2.6 has bf16 matmuls from AVX-512 on (its ISA follows the level in effect, capped
    // above); below that the encoder never asks for one.
    INFO(e.what());
    CHECK(cpu::active_level() < cpu::Level::Avx512);
    CHECK_FALSE(PackedMatmul::amx_here());
    CHECK_FALSE(PackedMatmul::bf16_here());
    return;
  }
  auto check = [&](int64_t m, bool accumulate, uint32_t seed) {
    std::mt19937 local(seed);
    const std::vector<uint16_t> a = random_bf16(static_cast<size_t>(m * k), local);
    std::vector<float> out(static_cast<size_t>(m * n));
    std::uniform_real_distribution<float> before(-3.0f, 3.0f);
    for (auto& v : out) v = before(local);
    const std::vector<float> initial = out;
    mm->run(a.data(), m, out.data(), accumulate);
    int64_t wrong = 0;
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < n; ++c) {
        double expect = accumulate ? initial[r * n + c] : 0.0, magnitude = 0.0;
        for (int64_t i = 0; i < k; ++i) {
          const double p = double{bf16_value(a[r * k + i])} * bf16_value(w[c * k + i]);
          expect += p;
          magnitude += std::abs(p);
        }
        // Products of bf16 values are exact in float; only the float sums round.
        wrong += std::abs(out[r * n + c] - expect) > 1e-6 * (magnitude + 1.0);
      }
    return wrong;
  };
  // One row, a multiple of the tile height with a tail, whole blocks of 256 rows with a tail.
  for (const int64_t m : {1, 33, 250, 528, 530}) {
    INFO("m = " << m);
    CHECK(check(m, false, static_cast<uint32_t>(m)) == 0);
    CHECK(check(m, true, static_cast<uint32_t>(m + 1)) == 0);
  }
  // Rows of a 530-row batch run alone, and as a batch of 3: the same bits wherever the bf16
  // matmul runs on bf16 instructions (AMX pads a tail to its tile; AVX512-BF16 sums every row
  // count alike), which is what the encoder's batch invariance stands on.
  if (PackedMatmul::bf16_here()) {
    const int64_t m = 530;
    std::mt19937 local(17);
    const std::vector<uint16_t> a = random_bf16(static_cast<size_t>(m * k), local);
    std::vector<float> batch(static_cast<size_t>(m * n));
    mm->run(a.data(), m, batch.data(), false);
    int64_t differ = 0;
    for (const int64_t r : {int64_t{0}, int64_t{15}, int64_t{255}, int64_t{256}, int64_t{527}}) {
      std::vector<float> alone(static_cast<size_t>(n)), three(static_cast<size_t>(3 * n));
      mm->run(a.data() + r * k, 1, alone.data(), false);
      mm->run(a.data() + r * k, 3, three.data(), false);
      differ += std::memcmp(alone.data(), batch.data() + r * n, sizeof(float) * n) != 0;
      differ += std::memcmp(three.data(), batch.data() + r * n, sizeof(float) * 3 * n) != 0;
    }
    CHECK(differ == 0);
  }
  // Two threads at once, each with row counts of its own and one shared: one cache of
  // primitives, one scratchpad per thread.
  int64_t wrong_a = -1, wrong_b = -1;
  std::thread ta([&] {
    wrong_a = 0;
    for (int i = 0; i < 20; ++i) wrong_a += check(40 + i % 3, i % 2 == 0, 100 + i);
  });
  std::thread tb([&] {
    wrong_b = 0;
    for (int i = 0; i < 20; ++i) wrong_b += check(41 + i % 5, i % 2 == 1, 200 + i);
  });
  ta.join();
  tb.join();
  CHECK(wrong_a == 0);
  CHECK(wrong_b == 0);
}

TEST_CASE("packed matmul: oneDNN's instruction set follows the level in effect") {
  // Before any oneDNN primitive in this process (one test per process under ctest): the cap
  // takes. ctest runs this with EMBEDFLOW_CPU=avx512vnni and =baseline too (tests/text).
  embedflow::models::transformer::cap_onednn_isa_at_active_level();
  const auto isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
  INFO("level " << cpu::level_name(cpu::active_level()) << " of "
                << cpu::level_name(cpu::detected_level()) << ", oneDNN ISA 0x" << std::hex << isa);
  // oneDNN's own names for each level (dnnl_types.h).
  const unsigned expected[] = {dnnl_cpu_isa_sse41,
                               dnnl_cpu_isa_avx2,
                               dnnl_cpu_isa_avx512_core,
                               dnnl_cpu_isa_avx512_core_vnni,
                               dnnl_cpu_isa_avx512_core_bf16,
                               dnnl_cpu_isa_avx512_core_amx};
  if (cpu::active_level() < cpu::detected_level())
    CHECK(isa == expected[static_cast<int>(cpu::active_level())]);
  else if (cpu::detected_level() == cpu::Level::Amx)
    CHECK((isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx);
  CHECK(PackedMatmul::amx_here() == (cpu::active_level() == cpu::Level::Amx));
  CHECK(PackedMatmul::bf16_here() == (cpu::active_level() >= cpu::Level::Avx512Bf16));
  CHECK(PackedMatmul::u8_products_exact() == (cpu::active_level() >= cpu::Level::Avx512Vnni));
}

TEST_CASE("packed matmul: f32 epilogues (bias, residual, activation) equal the formula") {
  embedflow::models::transformer::cap_onednn_isa_at_active_level();
  using embedflow::models::transformer::kernels::Activation;
  const int64_t n = 40, k = 136;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(n * k)), bias(static_cast<size_t>(n));
  for (auto& v : w) v = uniform(rng);
  for (auto& v : bias) v = uniform(rng);
  const PackedMatmul mm(PackedMatmul::Type::F32, w.data(), n, k, bias.data());
  CHECK(mm.has_bias());
  // The activations as transformers defines them, in double.
  auto activate = [](Activation act, double x) {
    const double sigmoid_1702 = 1.0 / (1.0 + std::exp(-1.702 * x)),
                 sigmoid = 1.0 / (1.0 + std::exp(-x));
    switch (act) {
      case Activation::GeluErf:
        return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
      case Activation::GeluTanh:
        return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
      case Activation::QuickGelu:
        return x * sigmoid_1702;
      case Activation::Relu:
        return x > 0.0 ? x : 0.0;
      case Activation::Silu:
        return x * sigmoid;
      case Activation::Identity:
        break;
    }
    return x;
  };
  const int64_t m = 37;  // a multiple of the row step and a tail
  std::vector<float> a(static_cast<size_t>(m * k)), before(static_cast<size_t>(m * n));
  for (auto& v : a) v = 2.0f * uniform(rng);
  for (auto& v : before) v = 3.0f * uniform(rng);
  for (const Activation act : {Activation::Identity, Activation::GeluErf, Activation::GeluTanh,
                               Activation::QuickGelu, Activation::Relu, Activation::Silu})
    for (const bool accumulate : {false, true})
      for (const bool with_bias : {false, true}) {
        INFO("activation " << static_cast<int>(act) << ", accumulate " << accumulate << ", bias "
                           << with_bias);
        PackedMatmul::Epilogue e;
        e.accumulate = accumulate;
        e.bias = with_bias;
        e.activation = act;
        std::vector<float> out = before;
        mm.run(a.data(), m, out.data(), e);
        int64_t wrong = 0;
        for (int64_t r = 0; r < m; ++r)
          for (int64_t c = 0; c < n; ++c) {
            double sum = 0.0, magnitude = 0.0;
            for (int64_t i = 0; i < k; ++i) {
              const double p = double{a[r * k + i]} * w[c * k + i];
              sum += p;
              magnitude += std::abs(p);
            }
            if (with_bias) sum += bias[c];
            if (accumulate) sum += before[r * n + c];
            wrong += std::abs(out[r * n + c] - activate(act, sum)) > 1e-5 * (magnitude + 4.0);
          }
        CHECK(wrong == 0);
        // The rows alone, one at a time: the same bits where the f32 matmul is batch-invariant.
        if (PackedMatmul::f32_invariant_here()) {
          int64_t differ = 0;
          for (int64_t r = 0; r < m; ++r) {
            std::vector<float> row(before.begin() + r * n, before.begin() + (r + 1) * n);
            mm.run(a.data() + r * k, 1, row.data(), e);
            differ += std::memcmp(row.data(), out.data() + r * n, sizeof(float) * n) != 0;
          }
          CHECK(differ == 0);
        }
      }
  // An epilogue that asks for a bias the weights were packed without.
  const PackedMatmul bare(PackedMatmul::Type::F32, w.data(), n, k);
  CHECK_FALSE(bare.has_bias());
  PackedMatmul::Epilogue e;
  e.bias = true;
  std::vector<float> out(static_cast<size_t>(n));
  CHECK_THROWS_AS(bare.run(a.data(), 1, out.data(), e), std::logic_error);
}
