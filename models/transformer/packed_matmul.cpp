#include "models/transformer/packed_matmul.h"

#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
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
    // choices (fast_here, u8_products_exact) then still follow the level and oneDNN's real ISA.
    (void)dnnl_set_max_cpu_isa(static_cast<dnnl_cpu_isa_t>(kIsaAt[static_cast<int>(level)]));
  });
}

bool PackedMatmul::fast_here() {
  return cpu::active_level() >= cpu::Level::Amx &&
         has_isa(dnnl::get_effective_cpu_isa(), dnnl::cpu_isa::avx512_core_amx);
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

struct PackedMatmul::Impl {
  Type type;
  int64_t n, k;
  dnnl::memory::desc weights_md;  // the packed layout
  dnnl::memory weights;
  struct Entry {
    dnnl::matmul primitive;
    dnnl::memory::desc scratchpad;
  };
  mutable std::shared_mutex mutex;
  mutable std::unordered_map<int64_t, Entry> by_rows;  // key: m · 2 + accumulate

  dt src_type() const {
    return type == Type::F32 ? dt::f32 : type == Type::Bf16 ? dt::bf16 : dt::u8;
  }
  dt weights_type() const {
    return type == Type::F32 ? dt::f32 : type == Type::Bf16 ? dt::bf16 : dt::s8;
  }
  dt dst_type() const { return type == Type::U8S8 ? dt::s32 : dt::f32; }
  size_t src_bytes() const { return type == Type::F32 ? 4 : type == Type::Bf16 ? 2 : 1; }

  dnnl::matmul::primitive_desc describe(int64_t m, bool accumulate,
                                        const dnnl::memory::desc& w) const {
    dnnl::primitive_attr attr;
    // The caller's scratchpad (one per thread), so that threads may run one primitive at once.
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    const dnnl::memory::desc src({m, k}, src_type(), tag::ab), dst({m, n}, dst_type(), tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, w, dst), attr, cpu_engine());
  }

  const Entry& entry(int64_t m, bool accumulate) const {
    const int64_t key = m * 2 + (accumulate ? 1 : 0);
    {
      std::shared_lock lock(mutex);
      if (auto it = by_rows.find(key); it != by_rows.end()) return it->second;
    }
    const dnnl::matmul::primitive_desc pd = describe(m, accumulate, weights_md);
    Entry e{dnnl::matmul(pd), pd.scratchpad_desc()};
    std::unique_lock lock(mutex);
    return by_rows.emplace(key, std::move(e)).first->second;
  }
};

PackedMatmul::PackedMatmul(Type type, const void* weight, int64_t n, int64_t k)
    : impl_(std::make_unique<Impl>()) {
  Impl& I = *impl_;
  I.type = type;
  I.n = n;
  I.k = k;
  const dt wt = I.weights_type();
  // The layout the kernels prefer, asked for a typical row count; every later primitive is
  // created for that same layout (the weights are packed once).
  const dnnl::memory::desc any({k, n}, wt, tag::any);
  I.weights_md = I.describe(256, false, any).weights_desc();
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

void PackedMatmul::run(const void* a, int64_t m, void* out, bool accumulate) const {
  if (m <= 0) return;
  const Impl& I = *impl_;
  if (accumulate && I.type == Type::U8S8)
    throw std::logic_error("PackedMatmul: accumulate is for float results only");
  const size_t a_row = static_cast<size_t>(I.k) * I.src_bytes();
  const size_t out_row = static_cast<size_t>(I.n) * 4;  // float or int32
  const auto* a_bytes = static_cast<const uint8_t*>(a);
  auto* out_bytes = static_cast<uint8_t*>(out);
  int64_t done = 0;
  auto rows = [&](int64_t count) {
    execute(a_bytes + done * a_row, count, out_bytes + done * out_row, accumulate);
    done += count;
  };
  while (m - done >= kBlockRows) rows(kBlockRows);
  if (const int64_t whole = (m - done) / kRowStep * kRowStep; whole > 0) rows(whole);
  if (m == done) return;
  if (I.type != Type::Bf16) return rows(m - done);
  // bf16's last rows padded to a whole tile: for a few rows oneDNN leaves AMX for its
  // avx512_core_bf16 kernel, whose vdpbf16ps sums products in pairs, so a caption alone got
  // other bits than in a batch (#16).
  const int64_t tail = m - done;
  thread_local std::vector<uint8_t> a_pad, out_pad;
  a_pad.assign(static_cast<size_t>(kRowStep) * a_row, 0);
  out_pad.resize(static_cast<size_t>(kRowStep) * out_row);
  std::memcpy(a_pad.data(), a_bytes + done * a_row, static_cast<size_t>(tail) * a_row);
  if (accumulate)
    std::memcpy(out_pad.data(), out_bytes + done * out_row, static_cast<size_t>(tail) * out_row);
  execute(a_pad.data(), kRowStep, out_pad.data(), accumulate);
  std::memcpy(out_bytes + done * out_row, out_pad.data(), static_cast<size_t>(tail) * out_row);
}

void PackedMatmul::execute(const void* a, int64_t m, void* out, bool accumulate) const {
  const Impl& I = *impl_;
  const Impl::Entry& e = I.entry(m, accumulate);
  onednn::execute(
      e.primitive,
      {{DNNL_ARG_SRC,
        dnnl::memory({{m, I.k}, I.src_type(), tag::ab}, cpu_engine(), const_cast<void*>(a))},
       {DNNL_ARG_WEIGHTS, I.weights},
       {DNNL_ARG_DST, dnnl::memory({{m, I.n}, I.dst_type(), tag::ab}, cpu_engine(), out)}},
      e.scratchpad);
}

}  // namespace embedflow::models::transformer
