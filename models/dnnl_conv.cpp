// oneDNN convolution on NHWC floats with fused post-ops (dnnl_conv.h).
#include "models/dnnl_conv.h"

#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "models/onednn_util.h"

namespace embedflow::models {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

using onednn::cpu_engine;

// A primitive for one input shape and post-op combination, with the weights in its layout.
struct Prepared {
  dnnl::convolution_forward primitive;
  dnnl::memory weights;
  dnnl::memory::desc src, dst, scratchpad;
};

}  // namespace

struct DnnlConv::Impl {
  int64_t k, c, kh, kw, stride, padding, groups;
  std::vector<float> weight;  // OIHW, as given: each new shape reorders from here
  dnnl::memory bias;          // [k], the same for every shape
  mutable std::shared_mutex mutex;
  // (n, h, w, residual, relu) → its primitive.
  mutable std::map<std::tuple<int64_t, int64_t, int64_t, bool, bool>, std::shared_ptr<Prepared>>
      prepared;

  // The output's height (width) for an input's height (width); kernels are square.
  int64_t out_size(int64_t in) const { return (in + 2 * padding - kh) / stride + 1; }

  dnnl::memory::dims weight_dims() const {
    if (groups > 1) return {groups, k / groups, c / groups, kh, kw};
    return {k, c, kh, kw};
  }

  std::shared_ptr<Prepared> prepare(int64_t n, int64_t h, int64_t w, bool residual,
                                    bool relu) const {
    auto P = std::make_shared<Prepared>();
    P->src = dnnl::memory::desc({n, c, h, w}, dt::f32, tag::nhwc);
    P->dst = dnnl::memory::desc({n, k, out_size(h), out_size(w)}, dt::f32, tag::nhwc);
    const dnnl::memory::desc weights_any(weight_dims(), dt::f32, tag::any);
    dnnl::post_ops ops;
    // The residual is read where it is (a binary post-op), not copied into dst first for a sum
    // post-op: one pass over the output less per residual block.
    if (residual) ops.append_binary(dnnl::algorithm::binary_add, P->dst);
    if (relu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, P->src,
        weights_any, bias.get_desc(), P->dst, {stride, stride}, {padding, padding},
        {padding, padding});
    const dnnl::convolution_forward::primitive_desc pd(desc, attr, cpu_engine());
    P->primitive = dnnl::convolution_forward(pd);
    P->scratchpad = pd.scratchpad_desc();
    P->weights = onednn::packed_copy({weight_dims(), dt::f32, groups > 1 ? tag::goihw : tag::oihw},
                                     weight.data(), pd.weights_desc());
    return P;
  }

  std::shared_ptr<Prepared> get(int64_t n, int64_t h, int64_t w, bool residual, bool relu) const {
    const auto key = std::make_tuple(n, h, w, residual, relu);
    {
      std::shared_lock lock(mutex);
      const auto it = prepared.find(key);
      if (it != prepared.end()) return it->second;
    }
    std::shared_ptr<Prepared> made = prepare(n, h, w, residual, relu);
    std::unique_lock lock(mutex);
    return prepared.emplace(key, std::move(made)).first->second;
  }
};

DnnlConv::DnnlConv(const float* weight, const float* bias, int64_t k, int64_t c, int64_t kh,
                   int64_t kw, int64_t stride, int64_t padding, int64_t groups)
    : impl_(std::make_unique<Impl>()) {
  if (kh != kw) throw std::invalid_argument("DnnlConv: square kernels only");
  Impl& I = *impl_;
  I.k = k;
  I.c = c;
  I.kh = kh;
  I.kw = kw;
  I.stride = stride;
  I.padding = padding;
  I.groups = groups;
  I.weight.assign(weight, weight + k * (c / groups) * kh * kw);
  I.bias = dnnl::memory({{k}, dt::f32, tag::a}, cpu_engine());
  std::memcpy(I.bias.get_data_handle(), bias, static_cast<size_t>(k) * sizeof(float));
}

DnnlConv::~DnnlConv() = default;

int64_t DnnlConv::out_channels() const {
  return impl_->k;
}

int64_t DnnlConv::out_size(int64_t in) const {
  return impl_->out_size(in);
}

void DnnlConv::run(const float* x, int64_t n, int64_t h, int64_t w, const float* residual,
                   bool relu, float* y) const {
  const std::shared_ptr<Prepared> P = impl_->get(n, h, w, residual != nullptr, relu);
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, dnnl::memory(P->src, cpu_engine(), const_cast<float*>(x))},
      {DNNL_ARG_WEIGHTS, P->weights},
      {DNNL_ARG_BIAS, impl_->bias},
      {DNNL_ARG_DST, dnnl::memory(P->dst, cpu_engine(), y)}};
  if (residual)  // the binary post-op, first in the list
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                 dnnl::memory(P->dst, cpu_engine(), const_cast<float*>(residual)));
  onednn::execute(P->primitive, std::move(args), P->scratchpad);
}

}  // namespace embedflow::models
