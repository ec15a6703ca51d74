#include "models/transformer/packed_matmul.h"

#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "embedflow/cpu.h"
#include "models/onednn_util.h"

namespace embedflow::models::transformer {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

using onednn::cpu_engine;

bool has_isa(dnnl::cpu_isa isa, dnnl::cpu_isa wanted) {
  const auto bits = static_cast<unsigned>(isa), want = static_cast<unsigned>(wanted);
  return (bits & want) == want;
}

}  // namespace

void cap_onednn_isa_at_active_level() {
  static std::once_flag once;
  std::call_once(once, [] {
    const cpu::Level level = cpu::active_level();
    if (level == cpu::detected_level()) return;  // nothing to lower
    // oneDNN's ISA for each level of embedflow/cpu.h, in its order.
    constexpr dnnl::cpu_isa kIsaAt[cpu::kLevelCount] = {dnnl::cpu_isa::sse41,
                                                        dnnl::cpu_isa::avx2,
                                                        dnnl::cpu_isa::avx512_core,
                                                        dnnl::cpu_isa::avx512_core_vnni,
                                                        dnnl::cpu_isa::avx512_core_bf16,
                                                        dnnl::cpu_isa::all};
    // Refused once oneDNN has dispatched anything (libtorch may have): the encoder's own path
    // choices (amx_here, u8_products_exact) then still follow the level and oneDNN's real ISA.
    (void)dnnl_set_max_cpu_isa(static_cast<dnnl_cpu_isa_t>(kIsaAt[static_cast<int>(level)]));
  });
}

bool PackedMatmul::amx_here() {
  return cpu::active_level() >= cpu::Level::Amx &&
         has_isa(dnnl::get_effective_cpu_isa(), dnnl::cpu_isa::avx512_core_amx);
}

bool PackedMatmul::bf16_here() {
  return cpu::active_level() >= cpu::Level::Avx512Bf16 &&
         has_isa(dnnl::get_effective_cpu_isa(), dnnl::cpu_isa::avx512_core_bf16);
}

bool PackedMatmul::f32_invariant_here() {
  return cpu::active_level() >= cpu::Level::Avx512 &&
         has_isa(dnnl::get_effective_cpu_isa(), dnnl::cpu_isa::avx512_core);
}

bool PackedMatmul::u8_products_exact() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return cpu::active_level() >= cpu::Level::Avx512Vnni &&
         (has_isa(isa, dnnl::cpu_isa::avx512_core_vnni) ||
          has_isa(isa, dnnl::cpu_isa::avx512_core_amx));
}

namespace {

// oneDNN's eltwise algorithm (and its alpha) for an activation; Identity has none.
std::pair<dnnl::algorithm, float> eltwise_for(kernels::Activation act) {
  switch (act) {
    case kernels::Activation::GeluErf:
      return {dnnl::algorithm::eltwise_gelu_erf, 0.0f};
    case kernels::Activation::GeluTanh:
      return {dnnl::algorithm::eltwise_gelu_tanh, 0.0f};
    case kernels::Activation::QuickGelu:  // x·σ(1.702x)
      return {dnnl::algorithm::eltwise_swish, 1.702f};
    case kernels::Activation::Relu:
      return {dnnl::algorithm::eltwise_relu, 0.0f};
    case kernels::Activation::Silu:  // x·σ(x)
      return {dnnl::algorithm::eltwise_swish, 1.0f};
    case kernels::Activation::Identity:
      break;
  }
  return {dnnl::algorithm::undef, 0.0f};
}

}  // namespace

struct PackedMatmul::Impl {
  Type type;
  int64_t n, k;
  dnnl::memory::desc weights_md;  // the packed layout
  dnnl::memory weights;
  dnnl::memory bias;  // [1, n], or none
  bool amx = false;   // U8S8 or Bf16 on AMX's tiles (oneDNN's ISA, whatever the level in effect)
  struct Entry {
    dnnl::matmul primitive;
    dnnl::memory::desc scratchpad;
  };
  mutable std::shared_mutex mutex;
  mutable std::unordered_map<int64_t, Entry> by_shape;  // key: entry_key

  static int64_t entry_key(int64_t m, const Epilogue& e) {
    constexpr int64_t kActivations = 8;
    return ((m * 2 + e.accumulate) * 2 + e.bias) * kActivations +
           static_cast<int64_t>(e.activation);
  }

  dt src_type() const {
    return type == Type::F32 ? dt::f32 : type == Type::Bf16 ? dt::bf16 : dt::u8;
  }
  dt weights_type() const {
    return type == Type::F32 ? dt::f32 : type == Type::Bf16 ? dt::bf16 : dt::s8;
  }
  dt dst_type() const { return type == Type::U8S8 ? dt::s32 : dt::f32; }
  size_t src_bytes() const { return type == Type::F32 ? 4 : type == Type::Bf16 ? 2 : 1; }

  dnnl::matmul::primitive_desc describe(int64_t m, const Epilogue& e,
                                        const dnnl::memory::desc& w) const {
    dnnl::primitive_attr attr;
    // The caller's scratchpad (one per thread), so that threads may run one primitive at once.
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    // oneDNN applies the bias first, then the post-ops in order.
    dnnl::post_ops ops;
    if (e.accumulate) ops.append_sum(1.0f);
    if (const auto [alg, alpha] = eltwise_for(e.activation); alg != dnnl::algorithm::undef)
      ops.append_eltwise(1.0f, alg, alpha, 0.0f);
    attr.set_post_ops(ops);
    const dnnl::memory::desc src({m, k}, src_type(), tag::ab), dst({m, n}, dst_type(), tag::ab);
    if (e.bias)
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, w, bias.get_desc(), dst), attr,
                                          cpu_engine());
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, w, dst), attr, cpu_engine());
  }

  const Entry& entry(int64_t m, const Epilogue& e) const {
    const int64_t key = entry_key(m, e);
    {
      std::shared_lock lock(mutex);
      if (auto it = by_shape.find(key); it != by_shape.end()) return it->second;
    }
    const dnnl::matmul::primitive_desc pd = describe(m, e, weights_md);
    Entry made{dnnl::matmul(pd), pd.scratchpad_desc()};
    std::unique_lock lock(mutex);
    return by_shape.emplace(key, std::move(made)).first->second;
  }
};

PackedMatmul::PackedMatmul(Type type, const void* weight, int64_t n, int64_t k, const float* bias)
    : impl_(std::make_unique<Impl>()) {
  Impl& I = *impl_;
  I.type = type;
  I.amx =
      type != Type::F32 && has_isa(dnnl::get_effective_cpu_isa(), dnnl::cpu_isa::avx512_core_amx);
  I.n = n;
  I.k = k;
  if (bias) {
    if (type == Type::U8S8) throw std::logic_error("PackedMatmul: no bias on the u8·s8 matmul");
    I.bias = dnnl::memory({{1, n}, dt::f32, tag::ab}, cpu_engine());
    std::memcpy(I.bias.get_data_handle(), bias, static_cast<size_t>(n) * sizeof(float));
  }
  const dt wt = I.weights_type();
  // The layout the kernels prefer, asked for a typical row count; every later primitive is
  // created for that same layout (the weights are packed once).
  const dnnl::memory::desc any({k, n}, wt, tag::any);
  I.weights_md = I.describe(256, Epilogue{}, any).weights_desc();
  // W [n, k] row-major is the matmul's [k, n] weights in the transposed ("ba") layout.
  I.weights = onednn::packed_copy(dnnl::memory::desc({k, n}, wt, tag::ba), weight, I.weights_md);
}

PackedMatmul::~PackedMatmul() = default;

PackedMatmul::Type PackedMatmul::type() const {
  return impl_->type;
}

// Row counts the primitives are made for: blocks of kBlockRows, then a multiple of kRowStep
// (AMX's tile height), then fewer than kRowStep rows. Batches of every size then need at most
// kBlockRows / kRowStep + kRowStep primitives per accumulate mode (each JIT-compiles its kernels
// once, ~0.2 ms and ~66 KiB), where one primitive per row count would compile kernels for every
// new batch size and keep them all. Splitting, not padding: a padded tail measured 8-10% off
// int8 MiniLM. For F32 and for bf16's whole tiles a row's sums do not depend on which of these
// primitives computed it; bf16's last rows are padded to a tile (run).
constexpr int64_t kBlockRows = 256, kRowStep = 16;

bool PackedMatmul::on_amx() const {
  return impl_->amx;
}

bool PackedMatmul::has_bias() const {
  return static_cast<bool>(impl_->bias);
}

void PackedMatmul::run(const void* a, int64_t m, void* out, bool accumulate) const {
  Epilogue e;
  e.accumulate = accumulate;
  run(a, m, out, e);
}

void PackedMatmul::run(const void* a, int64_t m, void* out, const Epilogue& epilogue) const {
  if (m <= 0) return;
  const Impl& I = *impl_;
  if (I.type == Type::U8S8 &&
      (epilogue.accumulate || epilogue.activation != kernels::Activation::Identity))
    throw std::logic_error("PackedMatmul: epilogues are for float results only");
  if (epilogue.bias && !I.bias)
    throw std::logic_error("PackedMatmul: a bias epilogue on weights given without a bias");
  const bool accumulate = epilogue.accumulate;
  const size_t a_row = static_cast<size_t>(I.k) * I.src_bytes();
  const size_t out_row = static_cast<size_t>(I.n) * 4;  // float or int32
  const auto* a_bytes = static_cast<const uint8_t*>(a);
  auto* out_bytes = static_cast<uint8_t*>(out);
  int64_t done = 0;
  auto rows = [&](int64_t count) {
    execute(a_bytes + done * a_row, count, out_bytes + done * out_row, epilogue);
    done += count;
  };
  while (m - done >= kBlockRows) rows(kBlockRows);
  if (const int64_t whole = (m - done) / kRowStep * kRowStep; whole > 0) rows(whole);
  if (m == done) return;
  if (I.type != Type::Bf16 || !I.amx) return rows(m - done);
  // bf16's last rows padded to a whole tile on AMX: for a few rows oneDNN leaves AMX for its
  // avx512_core_bf16 kernel, whose vdpbf16ps sums products in pairs, so a caption alone got
  // other bits than in a batch (#16). Without AMX every row count runs that kernel.
  const int64_t tail = m - done;
  thread_local std::vector<uint8_t> a_pad, out_pad;
  a_pad.assign(static_cast<size_t>(kRowStep) * a_row, 0);
  out_pad.resize(static_cast<size_t>(kRowStep) * out_row);
  std::memcpy(a_pad.data(), a_bytes + done * a_row, static_cast<size_t>(tail) * a_row);
  if (accumulate)
    std::memcpy(out_pad.data(), out_bytes + done * out_row, static_cast<size_t>(tail) * out_row);
  execute(a_pad.data(), kRowStep, out_pad.data(), epilogue);
  std::memcpy(out_bytes + done * out_row, out_pad.data(), static_cast<size_t>(tail) * out_row);
}

void PackedMatmul::execute(const void* a, int64_t m, void* out, const Epilogue& epilogue) const {
  const Impl& I = *impl_;
  const Impl::Entry& e = I.entry(m, epilogue);
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC,
       dnnl::memory({{m, I.k}, I.src_type(), tag::ab}, cpu_engine(), const_cast<void*>(a))},
      {DNNL_ARG_WEIGHTS, I.weights},
      {DNNL_ARG_DST, dnnl::memory({{m, I.n}, I.dst_type(), tag::ab}, cpu_engine(), out)}};
  if (epilogue.bias) args.emplace(DNNL_ARG_BIAS, I.bias);
  onednn::execute(e.primitive, std::move(args), e.scratchpad);
}

}  // namespace embedflow::models::transformer
