// The fused transformer kernels (every build this CPU runs: baseline, AVX2+FMA) against plain
// double-precision formulas: GELU with std::erf, quick GELU, LayerNorm, softmax attention with a
// relative-position bias or a causal mask.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "models/transformer/kernels.h"

namespace k = embedflow::models::transformer::kernels;

namespace {

std::vector<float> random_vector(size_t n, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

namespace cpu = embedflow::cpu;

// The distinct builds the CPU levels this machine runs pick.
std::vector<const k::Kernels*> builds() {
  std::vector<const k::Kernels*> b;
  for (const cpu::Level level : cpu::runnable_levels())
    if (b.empty() || b.back() != &k::table(level)) b.push_back(&k::table(level));
  return b;
}

}  // namespace

TEST_CASE("transformer kernels: each level runs its own build, or the one below") {
  for (const cpu::Level level : cpu::runnable_levels())
    CHECK(cpu::parse_level(k::table(level).build) == std::min(level, cpu::Level::Avx512));
  CHECK(&k::table() == &k::table(cpu::active_level()));  // what the encoder uses
}

TEST_CASE("transformer kernels: bias + GELU (erf and tanh) quick GELU ReLU SiLU and none") {
  const int64_t rows = 3, n = 1000;
  auto x = random_vector(rows * n, 3.0f, 1);
  auto bias = random_vector(n, 0.5f, 2);
  for (const auto* kern : builds()) {
    INFO("kernels " << kern->build);
    for (auto act : {k::Activation::GeluErf, k::Activation::GeluTanh, k::Activation::QuickGelu,
                     k::Activation::Relu, k::Activation::Silu, k::Activation::Identity})
      for (const bool with_bias : {true, false}) {  // int8 passes no bias: its GEMM added it
        INFO("with bias " << with_bias);
        auto y = x;
        kern->bias_activation(y.data(), with_bias ? bias.data() : nullptr, rows, n, act);
        double worst = 0;
        for (int64_t i = 0; i < rows * n; ++i) {
          const double v = static_cast<double>(x[i]) + (with_bias ? bias[i % n] : 0.0f);
          double ref = 0;
          if (act == k::Activation::GeluErf) ref = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
          if (act == k::Activation::GeluTanh)
            ref = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
          if (act == k::Activation::QuickGelu) ref = v / (1 + std::exp(-1.702 * v));
          if (act == k::Activation::Relu) ref = std::max(v, 0.0);
          if (act == k::Activation::Silu) ref = v / (1 + std::exp(-v));
          if (act == k::Activation::Identity) ref = v;
          worst = std::max(worst, std::abs(ref - y[i]));
        }
        CHECK(worst < 2e-6);
      }
  }
}

TEST_CASE("transformer kernels: SwiGLU gate into a strided output") {
  const int64_t rows = 3, n = 203, ldo = 211;  // odd widths: the vector loops' tails run too
  auto y = random_vector(rows * 2 * n, 3.0f, 11);
  auto bias = random_vector(2 * n, 0.5f, 12);
  for (const auto* kern : builds()) {
    INFO("kernels " << kern->build);
    for (const bool with_bias : {true, false}) {
      INFO("with bias " << with_bias);
      std::vector<float> out(static_cast<size_t>(rows * ldo), -7.0f);
      kern->gated_activation(y.data(), with_bias ? bias.data() : nullptr, rows, n,
                             k::Activation::Silu, out.data(), ldo);
      double worst = 0;
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < n; ++i) {
          const double g = double(y[r * 2 * n + i]) + (with_bias ? bias[i] : 0.0f);
          const double v = double(y[r * 2 * n + n + i]) + (with_bias ? bias[n + i] : 0.0f);
          worst = std::max(worst, std::abs(g / (1 + std::exp(-g)) * v - out[r * ldo + i]));
        }
        for (int64_t i = n; i < ldo; ++i) CHECK(out[r * ldo + i] == -7.0f);  // padding untouched
      }
      CHECK(worst < 1e-5);
    }
  }
}

TEST_CASE("transformer kernels: residual + bias + LayerNorm") {
  const int64_t rows = 4, n = 384;
  auto x0 = random_vector(rows * n, 1.0f, 3), y = random_vector(rows * n, 1.0f, 4);
  auto bias = random_vector(n, 0.1f, 5), gamma = random_vector(n, 1.0f, 6),
       beta = random_vector(n, 0.1f, 7);
  for (const auto* kern : builds()) {
    INFO("kernels " << kern->build);
    auto x = x0;
    kern->residual_layernorm(x.data(), y.data(), bias.data(), gamma.data(), beta.data(), rows, n,
                             1e-12f);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<double> v(n);
      double mean = 0, var = 0;
      for (int64_t i = 0; i < n; ++i) mean += v[i] = double(x0[r * n + i]) + y[r * n + i] + bias[i];
      mean /= n;
      for (int64_t i = 0; i < n; ++i) var += (v[i] - mean) * (v[i] - mean);
      var /= n;
      for (int64_t i = 0; i < n; ++i)
        CHECK(x[r * n + i] ==
              Approx((v[i] - mean) / std::sqrt(var + 1e-12) * gamma[i] + beta[i]).margin(1e-5));
    }
  }
}

TEST_CASE("transformer kernels: LayerNorm into another buffer leaves its input") {
  const int64_t rows = 3, n = 512;
  const auto x = random_vector(rows * n, 2.0f, 13);
  auto gamma = random_vector(n, 1.0f, 14), beta = random_vector(n, 0.1f, 15);
  for (const auto* kern : builds()) {
    INFO("kernels " << kern->build);
    auto in = x;
    std::vector<float> out(rows * n);
    kern->layernorm(in.data(), out.data(), gamma.data(), beta.data(), rows, n, 1e-5f);
    CHECK(in == x);
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < n; ++i) mean += x[r * n + i];
      mean /= n;
      for (int64_t i = 0; i < n; ++i) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
      var /= n;
      for (int64_t i = 0; i < n; ++i)
        CHECK(out[r * n + i] ==
              Approx((x[r * n + i] - mean) / std::sqrt(var + 1e-5) * gamma[i] + beta[i])
                  .margin(1e-5));
    }
  }
}

TEST_CASE("transformer kernels: one attention head") {
  // Head widths with a register-blocked path (32: MiniLM/BGE-small, 64: BERT-base, 128: the
  // widest block from AVX-512 up) and one without (24); lengths that leave partial blocks of 4
  // and of 8 queries (the block from AVX-512 up) and of 8 keys, and length 1.
  for (const int64_t d : {32, 64, 128, 24}) {
    for (const int64_t len : {37, 8, 1}) {
      const int64_t h = 3 * d, ld = 3 * h;  // rows of a packed [T, 3h] qkv, three heads
      auto qkv = random_vector(len * ld, 1.0f, 8);
      auto bias = random_vector(3 * h, 0.5f, 9);  // the q, k, v projection biases
      const float scale = 1.0f / std::sqrt(static_cast<float>(d));
      for (const auto* kern : builds()) {
        INFO("kernels " << kern->build << ", head width " << d << ", length " << len);
        std::vector<float> out(len * h, 0.0f), scratch(k::attention_scratch_floats(len, d));
        const float* q = qkv.data() + d;    // head 1
        const float* bq = bias.data() + d;  // head 1's slices
        kern->attention_head(q, q + h, q + 2 * h, bq, bq + h, bq + 2 * h, ld, len, d, scale, {},
                             out.data() + d, h, scratch.data());
        for (int64_t i = 0; i < len; ++i) {
          std::vector<double> s(len);
          double m = -1e300, sum = 0;
          for (int64_t j = 0; j < len; ++j) {
            double dot = 0;
            for (int64_t c = 0; c < d; ++c)
              dot += (double(q[i * ld + c]) + bq[c]) * (double(q[h + j * ld + c]) + bq[h + c]);
            s[j] = dot * scale;
            m = std::max(m, s[j]);
          }
          for (auto& v : s) sum += v = std::exp(v - m);
          for (int64_t c = 0; c < d; ++c) {
            double o = 0;
            for (int64_t j = 0; j < len; ++j)
              o += s[j] / sum * (double(q[2 * h + j * ld + c]) + bq[2 * h + c]);
            CHECK(out[i * h + d + c] == Approx(o).margin(1e-5));
          }
          CHECK(out[i * h] == 0.0f);  // other heads' columns untouched
          CHECK(out[i * h + 2 * d] == 0.0f);
        }
      }
    }
  }
}

TEST_CASE("transformer kernels: attention with a relative-position bias and a causal mask") {
  // MPNet's bias depends on key − query only: a table by relative position, each query's row
  // read backwards from its own offset (ld = −1), as the encoder passes it.
  const int64_t d = 32, h = d, ld = 3 * h;
  for (const int64_t len : {13, 1, 40}) {
    auto qkv = random_vector(len * ld, 1.0f, 21);
    auto table = random_vector(2 * len - 1, 2.0f, 22);  // by key − query + len − 1
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    for (const bool causal : {false, true})
      for (const bool relative : {false, true}) {
        if (!causal && !relative) continue;
        k::ScoreBias sb;
        sb.causal = causal;
        if (relative) {
          sb.bias = table.data() + (len - 1);
          sb.ld = -1;
        }
        for (const auto* kern : builds()) {
          INFO("kernels " << kern->build << ", length " << len << ", causal " << causal
                          << ", relative " << relative);
          std::vector<float> out(len * h), scratch(k::attention_scratch_floats(len, d));
          const float* q = qkv.data();
          kern->attention_head(q, q + h, q + 2 * h, nullptr, nullptr, nullptr, ld, len, d, scale,
                               sb, out.data(), h, scratch.data());
          for (int64_t i = 0; i < len; ++i) {
            const int64_t keys = causal ? i + 1 : len;
            std::vector<double> s(keys);
            double m = -1e300, sum = 0;
            for (int64_t j = 0; j < keys; ++j) {
              double dot = 0;
              for (int64_t c = 0; c < d; ++c) dot += double(q[i * ld + c]) * q[h + j * ld + c];
              s[j] = dot * scale + (relative ? table[j - i + len - 1] : 0.0);
              m = std::max(m, s[j]);
            }
            for (auto& v : s) sum += v = std::exp(v - m);
            for (int64_t c = 0; c < d; ++c) {
              double o = 0;
              for (int64_t j = 0; j < keys; ++j) o += s[j] / sum * q[2 * h + j * ld + c];
              CHECK(out[i * h + c] == Approx(o).margin(1e-5));
            }
          }
        }
      }
  }
}

TEST_CASE("transformer kernels: 7- and 8-bit row quantisation and int32 dequantisation") {
  std::mt19937 rng(7);
  std::normal_distribution<float> n01;
  const int64_t rows = 5, kk = 67, n = 9;
  std::vector<float> x(rows * kk);
  for (auto& v : x) v = 3.0f * n01(rng) + 0.5f;
  for (int64_t i = 0; i < kk; ++i) x[2 * kk + i] = std::abs(x[2 * kk + i]);  // all positive
  for (int64_t i = 0; i < kk; ++i) x[3 * kk + i] = 0.0f;                     // all zero
  std::vector<int8_t> w(n * kk);
  std::uniform_int_distribution<int> s8(-127, 127);
  for (auto& v : w) v = static_cast<int8_t>(s8(rng));
  std::vector<float> col_scale(n), bias(n), col_scaled_sum(n);
  for (int64_t c = 0; c < n; ++c) {
    col_scale[c] = 0.01f * static_cast<float>(c + 1);
    bias[c] = 0.1f * static_cast<float>(c);
    int32_t sum = 0;
    for (int64_t i = 0; i < kk; ++i) sum += w[c * kk + i];
    col_scaled_sum[c] = col_scale[c] * static_cast<float>(sum);
  }
  for (const auto* kern : builds())
    for (const int32_t levels : {127, 255}) {
      INFO(kern->build << ", levels " << levels);
      std::vector<uint8_t> q(rows * kk);
      std::vector<float> scale(rows);
      std::vector<int32_t> zero(rows);
      kern->quantize_rows_u8(x.data(), rows, kk, levels, q.data(), scale.data(), zero.data());
      for (int64_t r = 0; r < rows; ++r) {
        CHECK(zero[r] >= 0);
        CHECK(zero[r] <= levels);
        // The row's range spans the levels: its maximum lands on the top (within the zero
        // point's rounding), and the minimum of a row with negatives on 0.
        if (r != 3)
          CHECK(*std::max_element(q.begin() + r * kk, q.begin() + (r + 1) * kk) >= levels - 1);
        if (r != 2 && r != 3)
          CHECK(*std::min_element(q.begin() + r * kk, q.begin() + (r + 1) * kk) <= 1);
        for (int64_t i = 0; i < kk; ++i) {
          CHECK(q[r * kk + i] <= levels);
          // (q - zero) · scale reproduces x within half a step (and the zero point's rounding).
          const float back = static_cast<float>(q[r * kk + i] - zero[r]) * scale[r];
          CHECK(std::abs(back - x[r * kk + i]) <= scale[r] * 1.001f);
        }
      }
      // The int32 GEMM of the quantised rows, done here by hand, dequantised.
      std::vector<int32_t> acc(rows * n, 0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < n; ++c)
          for (int64_t i = 0; i < kk; ++i) acc[r * n + c] += q[r * kk + i] * w[c * kk + i];
      std::vector<float> out(rows * n);
      kern->dequantize_rows(acc.data(), n, rows, n, scale.data(), zero.data(), col_scale.data(),
                            col_scaled_sum.data(), bias.data(), out.data(), n);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < n; ++c) {
          double expect = bias[c];
          for (int64_t i = 0; i < kk; ++i)
            expect += static_cast<double>(q[r * kk + i] - zero[r]) * scale[r] * w[c * kk + i] *
                      col_scale[c];
          CHECK(out[r * n + c] == Approx(expect).margin(1e-4));
        }
      // A block of columns (as one attention head's slice is taken), into a narrower buffer.
      const int64_t c0 = 2, nc = 4;
      std::vector<float> part(rows * nc, -1.0f);
      kern->dequantize_rows(acc.data() + c0, n, rows, nc, scale.data(), zero.data(),
                            col_scale.data() + c0, col_scaled_sum.data() + c0, bias.data() + c0,
                            part.data(), nc);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < nc; ++c) CHECK(part[r * nc + c] == out[r * n + c0 + c]);
    }
}

TEST_CASE("transformer kernels: rounding to bfloat16 is to nearest, ties to even") {
  // Independent expectation: the nearest bf16 (8 significant bits) found by comparing the two
  // candidates that truncation and truncation + 1 ulp give, in double.
  auto bits_of = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
  };
  auto float_of = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  };
  std::vector<float> x = {0.0f,
                          -0.0f,
                          1.0f,
                          1.00390625f /* 1 + 2^-8: a tie, to 1 */,
                          1.01171875f /* 1 + 3·2^-8: a tie, up to even */,
                          3.14159265f,
                          -2.71828183f,
                          1e-30f,
                          6.5e4f,
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()};
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-100.0f, 100.0f);
  for (int i = 0; i < 200; ++i) x.push_back(u(rng));
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  const int64_t n = static_cast<int64_t>(x.size());
  for (const auto* kern : builds()) {
    INFO(kern->build);
    std::vector<uint16_t> bits(n);
    std::vector<float> rounded(n);
    kern->round_to_bf16(x.data(), n, bits.data(), rounded.data());
    for (int64_t i = 0; i < n; ++i) {
      INFO("x = " << x[i]);
      CHECK(bits_of(rounded[i]) == static_cast<uint32_t>(bits[i]) << 16);
      if (std::isnan(x[i])) {
        CHECK(std::isnan(rounded[i]));
        continue;
      }
      const uint32_t down = bits_of(x[i]) & 0xFFFF0000u;
      const double lo = float_of(down), hi = float_of(down + 0x10000u), v = x[i];
      const double d_lo = std::abs(v - lo), d_hi = std::abs(v - hi);
      const double expect = d_lo < d_hi ? lo : d_hi < d_lo ? hi : ((down >> 16) & 1u) ? hi : lo;
      CHECK(static_cast<double>(rounded[i]) == expect);
    }
    // Either output alone.
    std::vector<uint16_t> only_bits(n);
    kern->round_to_bf16(x.data(), n, only_bits.data(), nullptr);
    CHECK(only_bits == bits);
  }
}
