#include "stages/score/cosine.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "embedflow/errors.h"
#include "embedflow/params.h"

namespace embedflow {

ScoreCosine::ScoreCosine(const Params& p) : params_(p) {
  top_k_mode_ = p.get_string("output") == "top_k";
  k_ = p.get_int("k");
  exclude_self_ = p.get_bool("exclude_self");
  block_rows_ = p.get_int("block_rows");
  print_ = p.get_bool("print");
  print_labels_ = p.get_string("print_format") == "labelled";
}

void ScoreCosine::open(const StageContext& ctx) {
  stage_id_ = ctx.stage_id;
}

Tensor ScoreCosine::Side::matrix() const {
  Tensor t(DType::F32, {rows(), dim});
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

namespace {

// A row's name in the printed matrix: its id, and the sentence it embeds when it carries one
// (the text encoders keep it); an id that is only the row's position (source.text's "0", "1",
// …) gives way to the sentence, which says more.
std::string print_label(const Item& item) {
  if (item.text.empty()) return item.id;
  if (item.id == std::to_string(item.index)) return item.text;
  return item.id + "  " + item.text;
}

}  // namespace

void ScoreCosine::consume(size_t port, const Item& item) {
  if (port > 1) throw std::logic_error("score.cosine: no input port " + std::to_string(port));
  if (port == 1) two_inputs_ = true;
  Side& side = port == 0 ? queries_ : corpus_;
  const Tensor& t = item.tensor;
  if (t.dtype() != DType::F32 || t.ndim() != 1)
    throw ItemFailure("score.cosine: expected an Embedding f32 [D], got " +
                      std::string(dtype_name(t.dtype())) + " " + t.shape_str());
  if (side.rows() == 0 && side.dim == 0) side.dim = t.dim(0);
  if (t.dim(0) != side.dim)
    throw ItemFailure("score.cosine: embedding width " + std::to_string(t.dim(0)) +
                      " differs from the " + std::to_string(side.dim) +
                      " of the first item on this input");
  const float* p = t.data<float>();
  side.values.insert(side.values.end(), p, p + t.dim(0));
  side.ids.push_back(item.id);
  side.labels.push_back(print_label(item));
  side.metas.push_back(item.meta);
}

void ScoreCosine::start() {
  started_ = true;
  const Side& corpus = two_inputs_ ? corpus_ : queries_;
  if (queries_.rows() == 0 || corpus.rows() == 0) return;
  if (queries_.dim != corpus.dim)
    throw std::runtime_error("score.cosine: queries are " + std::to_string(queries_.dim) +
                             "-d but the corpus is " + std::to_string(corpus.dim) +
                             "-d; both must come from the same embedding space");
  scorer_ = std::make_unique<CosineScorer>(corpus.matrix(), block_rows_);
  if (print_) {
    if (queries_.rows() <= 100 && corpus.rows() <= 100) {
      const Tensor m = scorer_->scores(queries_.matrix());
      // All-vs-all: the columns are the rows, whose labels are printed already.
      const std::string text =
          print_labels_
              ? format_like_torch_labelled(m, queries_.labels,
                                           two_inputs_ ? corpus.labels : std::vector<std::string>{})
              : format_like_torch(m);
      std::printf("%s\n", text.c_str());
    } else {
      std::printf("score.cosine '%s': %lld×%lld matrix not printed (print is for ≤ 100×100)\n",
                  stage_id_.c_str(), static_cast<long long>(queries_.rows()),
                  static_cast<long long>(corpus.rows()));
    }
    std::fflush(stdout);
  }
}

void ScoreCosine::fill_pending() {
  const Side& corpus = two_inputs_ ? corpus_ : queries_;
  const int64_t n = queries_.rows(), m = corpus.rows(), d = queries_.dim;
  // Queries per block. Matrix rows are output, so a block holds about 64 × block_rows of them;
  // top-k holds 256 queries × block_rows scores per corpus block, whatever the corpus size.
  const int64_t q_block = top_k_mode_
                              ? std::min<int64_t>(n, 256)
                              : std::max<int64_t>(1, std::min<int64_t>(n, block_rows_ * 64 / m));
  const int64_t q0 = next_query_, q1 = std::min(n, q0 + q_block);
  next_query_ = q1;
  Tensor q(DType::F32, {q1 - q0, d});
  std::copy(queries_.values.begin() + q0 * d, queries_.values.begin() + q1 * d, q.data<float>());

  if (!top_k_mode_) {
    auto scores = std::make_shared<Tensor>(scorer_->scores(q));
    for (int64_t r = 0; r < q1 - q0; ++r) {
      Item it;
      it.id = queries_.ids[static_cast<size_t>(q0 + r)];
      it.source = "score.cosine";
      it.meta = queries_.metas[static_cast<size_t>(q0 + r)];
      it.meta["query_index"] = q0 + r;
      it.kind = Kind::Embedding;
      it.tensor = Tensor(DType::F32, {m}, scores, scores->data<float>() + r * m);
      pending_.push_back(std::move(it));
    }
    return;
  }
  // One more candidate when the query itself may be among them: k others remain.
  auto best = scorer_->top_k(q, exclude_self_ ? k_ + 1 : k_);
  for (int64_t r = 0; r < q1 - q0; ++r) {
    const std::string& qid = queries_.ids[static_cast<size_t>(q0 + r)];
    std::vector<Neighbor>& found = best[static_cast<size_t>(r)];
    if (exclude_self_) {
      const auto self = [&](const Neighbor& nb) {
        return two_inputs_ ? corpus.ids[static_cast<size_t>(nb.index)] == qid : nb.index == q0 + r;
      };
      found.erase(std::remove_if(found.begin(), found.end(), self), found.end());
      if (static_cast<int64_t>(found.size()) > k_) found.resize(static_cast<size_t>(k_));
    }
    for (size_t rank = 0; rank < found.size(); ++rank) {
      const Neighbor& nb = found[rank];
      Item it;
      it.id = qid + "#" + std::to_string(rank + 1);
      it.source = "score.cosine";
      it.kind = Kind::Record;
      it.record = {{"query_id", qid},
                   {"corpus_id", corpus.ids[static_cast<size_t>(nb.index)]},
                   {"score", nb.score},
                   {"rank", rank + 1}};
      pending_.push_back(std::move(it));
    }
  }
}

bool ScoreCosine::next(Item& item) {
  if (!started_) start();
  while (pending_.empty()) {
    if (!scorer_ || next_query_ >= queries_.rows()) return false;
    fill_pending();
  }
  item = std::move(pending_.front());
  pending_.pop_front();
  return true;
}

std::optional<uint64_t> ScoreCosine::size_hint() const {
  const Side& corpus = two_inputs_ ? corpus_ : queries_;
  const auto n = static_cast<uint64_t>(queries_.rows());
  if (!top_k_mode_) return n;
  // With exclude_self a query among its candidates (all-vs-all: always) leaves k - 1 or k.
  if (exclude_self_) {
    if (two_inputs_) return std::nullopt;  // how many corpus items share a query's id is unknown
    return n * static_cast<uint64_t>(std::min<int64_t>(k_, corpus.rows() - 1));
  }
  return n * static_cast<uint64_t>(std::min<int64_t>(k_, corpus.rows()));
}

}  // namespace embedflow
