// The flow-graph nodes of each stage kind, and the bookkeeping they share (executor_run.h).
#include <algorithm>
#include <map>
#include <stdexcept>

#include "executor_run.h"

namespace embedflow::detail {

namespace {

size_t concurrency_of(const StageRuntime& rt) {
  return rt.concurrency == 0 ? size_t(flow::unlimited) : static_cast<size_t>(rt.concurrency);
}

}  // namespace

void Run::fail(const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(fail_mu_);
    if (fail_message_.empty()) fail_message_ = message;
  }
  internal_stop_ = true;
}

Item Run::make_error(const Item& in, const StageRuntime& rt, const std::string& message) {
  Item e = in.derive();
  e.kind = in.kind;
  e.error = std::make_shared<ItemError>(ItemError{rt.cfg->id, message});
  return e;
}

// Bookkeeping shared by item, group and batch stages for one output item.
void Run::finish_item(StageRuntime& rt, Item& out, const Item& in) {
  if (out.failed()) {
    if (out.error->stage.empty())
      out.error = std::make_shared<ItemError>(ItemError{rt.cfg->id, out.error->message});
    ++rt.errors;
    errors_->log(out, out.error->stage, out.error->message);
    if (rt.cfg->on_error == OnError::Fail)
      fail("stage '" + rt.cfg->id + "' failed on item '" + in.id + "': " + out.error->message +
           " (on_error: fail)");
    return;
  }
  ++rt.items;
  if (out.kind == Kind::None) out.kind = rt.cfg->output;
}

flow::sender<Packet>* Run::add_source(flow::graph& g, StageRuntime& rt, bool reducer_output) {
  auto pool = std::make_unique<TokenPool>();
  pool->completed = reducer_output ? nullptr : &completed_;
  TokenPool* pool_ptr = pool.get();
  pools_.push_back(std::move(pool));

  auto* src = dynamic_cast<SourceStage*>(rt.stage.get());
  auto* red = dynamic_cast<ReduceStage*>(rt.stage.get());
  if (!reducer_output && src) {
    if (auto n = src->size_hint()) total_hint_ += *n;
  }
  auto seq = std::make_shared<uint64_t>(0);
  auto position = std::make_shared<uint64_t>(0);  // of the next item in the source's order
  auto done = std::make_shared<bool>(false);
  auto body = [this, &rt, src, red, pool_ptr, seq, position, done,
               reducer_output](tbb::flow_control& fc) -> Packet {
    Packet p;
    if (*done || hard_cancelled()) {
      fc.stop();
      return p;
    }
    Item item;
    bool got = false;
    auto t0 = Clock::now();
    if (!stopping()) {
      try {
        got = src ? src->next(item) : red->next(item);
      } catch (const std::exception& e) {
        fail("stage '" + rt.cfg->id + "': " + e.what());
        got = false;
      }
    }
    rt.add_busy(t0);
    p.seq = (*seq)++;
    if (!got) {
      *done = true;
      p.eos = true;
      p.ticket = std::make_shared<Ticket>(pool_ptr, false);
      return p;
    }
    // Numbered in the order they come, unless the source gave a later position itself (it passed
    // over entries of its input: Item::index).
    item.index = std::max(item.index, *position);
    *position = item.index + 1;
    p.batch_group = item.batch_group;
    finish_item(rt, item, item);
    p.ticket = std::make_shared<Ticket>(pool_ptr, !reducer_output);
    p.items = std::make_shared<const std::vector<ItemPtr>>(
        std::vector<ItemPtr>{std::make_shared<const Item>(std::move(item))});
    return p;
  };
  auto input = std::make_unique<flow::input_node<Packet>>(g, body);
  auto limiter =
      std::make_unique<flow::limiter_node<Packet>>(g, static_cast<size_t>(max_in_flight_));
  pool_ptr->limiter = limiter.get();
  flow::make_edge(*input, *limiter);
  inputs_.push_back(input.get());
  flow::sender<Packet>* out = limiter.get();
  nodes_.push_back(std::move(input));
  nodes_.push_back(std::move(limiter));
  return out;
}

flow::sender<Packet>* Run::add_map(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in) {
  size_t conc = concurrency_of(rt);
  auto* item_stage = dynamic_cast<ItemStage*>(rt.stage.get());
  auto* group_stage = dynamic_cast<GroupStage*>(rt.stage.get());
  auto body = [this, &rt, item_stage, group_stage](const Packet& in) -> Packet {
    if (in.eos || hard_cancelled()) return in;
    auto t0 = Clock::now();
    std::vector<ItemPtr> out;
    out.reserve(in.items->size());
    if (item_stage) {
      for (const ItemPtr& it : *in.items) {
        if (it->failed()) {
          out.push_back(it);
          continue;
        }
        Item o = it->derive();
        try {
          item_stage->process(*it, o);
        } catch (const RunFailure& e) {
          fail("stage '" + rt.cfg->id + "': " + e.what());
          o = make_error(*it, rt, e.what());
        } catch (const std::exception& e) {
          o = make_error(*it, rt, e.what());
        }
        ++rt.calls;
        ++rt.batch_items;
        finish_item(rt, o, *it);
        out.push_back(std::make_shared<const Item>(std::move(o)));
      }
    } else {
      std::vector<ItemPtr> good;
      for (const ItemPtr& it : *in.items) (it->failed() ? out : good).push_back(it);
      if (!good.empty()) {
        std::vector<Item> produced;
        try {
          group_stage->process(good, produced);
        } catch (const RunFailure& e) {
          fail("stage '" + rt.cfg->id + "': " + e.what());
          produced.clear();
          for (const auto& it : good) produced.push_back(make_error(*it, rt, e.what()));
        } catch (const std::exception& e) {
          produced.clear();
          for (const auto& it : good) produced.push_back(make_error(*it, rt, e.what()));
        }
        ++rt.calls;
        rt.batch_items += good.size();
        for (auto& o : produced) {
          finish_item(rt, o, *good.front());
          out.push_back(std::make_shared<const Item>(std::move(o)));
        }
      }
    }
    rt.add_busy(t0);
    return derive_packet(in, std::move(out));
  };
  auto node = std::make_unique<flow::function_node<Packet, Packet>>(g, conc, body);
  flow::make_edge(*in, *node);
  flow::sender<Packet>* out = node.get();
  nodes_.push_back(std::move(node));
  return out;
}

flow::sender<Packet>* Run::add_batch(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in) {
  using BatcherNode = flow::multifunction_node<Packet, std::tuple<BatchMsg>>;
  using ModelNode = flow::multifunction_node<BatchMsg, std::tuple<Packet>>;
  const size_t batch_size = static_cast<size_t>(rt.cfg->params.get_int("batch_size"));
  auto* stage = dynamic_cast<BatchStage*>(rt.stage.get());

  auto order =
      std::make_unique<flow::sequencer_node<Packet>>(g, [](const Packet& p) { return p.seq; });
  // Forms batches in source order (serial), so batch composition — and with it every float the
  // model computes — is the same from run to run.
  auto pending = std::make_shared<BatchMsg>();
  auto pending_items = std::make_shared<size_t>(0);
  auto batcher = std::make_unique<BatcherNode>(
      g, flow::serial,
      [pending, pending_items, batch_size](const Packet& p, BatcherNode::output_ports_type& ports) {
        auto flush = [&] {
          std::get<0>(ports).try_put(std::move(*pending));
          *pending = BatchMsg{};
          *pending_items = 0;
        };
        // Batch groups (Item::batch_group) are never mixed: a layer above that redoes a group
        // gets the very batches, and so the very floats, of a run that did it at once.
        if (!p.eos && !pending->packets.empty() &&
            pending->packets.front().batch_group != p.batch_group)
          flush();
        pending->packets.push_back(p);
        if (!p.eos)
          for (const auto& it : *p.items)
            if (!it->failed()) ++*pending_items;
        if (p.eos || *pending_items >= batch_size) flush();
      });
  size_t conc = concurrency_of(rt);
  auto model = std::make_unique<ModelNode>(
      g, conc,
      [this, &rt, stage, batch_size](const BatchMsg& msg, ModelNode::output_ports_type& ports) {
        std::vector<const Item*> good;
        for (const auto& p : msg.packets)
          if (!p.eos)
            for (const auto& it : *p.items)
              if (!it->failed()) good.push_back(it.get());
        std::map<const Item*, Item> results;
        if (!hard_cancelled()) {
          auto t0 = Clock::now();
          for (size_t start = 0; start < good.size(); start += batch_size) {
            std::vector<const Item*> chunk(
                good.begin() + static_cast<long>(start),
                good.begin() + static_cast<long>(std::min(good.size(), start + batch_size)));
            std::vector<Item> out;
            for (const Item* it : chunk) out.push_back(it->derive());
            try {
              stage->process_batch(chunk, out);
              if (out.size() != chunk.size())
                throw std::logic_error("stage returned " + std::to_string(out.size()) +
                                       " outputs for " + std::to_string(chunk.size()) + " inputs");
              ++rt.calls;
              rt.batch_items += chunk.size();
            } catch (const RunFailure& e) {
              fail("stage '" + rt.cfg->id + "': " + e.what());
              out.clear();
              for (const Item* it : chunk) out.push_back(make_error(*it, rt, e.what()));
            } catch (const std::exception& batch_error) {
              // Isolate the bad item: retry one by one so batch-mates still succeed.
              out.clear();
              for (const Item* it : chunk) {
                std::vector<Item> one{it->derive()};
                try {
                  stage->process_batch({it}, one);
                  ++rt.calls;
                  ++rt.batch_items;
                } catch (const std::exception& e) {
                  one.assign(1, make_error(*it, rt, e.what()));
                }
                out.push_back(std::move(one.at(0)));
              }
            }
            for (size_t i = 0; i < chunk.size(); ++i) {
              finish_item(rt, out[i], *chunk[i]);
              results.emplace(chunk[i], std::move(out[i]));
            }
          }
          rt.add_busy(t0);
        }
        for (const auto& p : msg.packets) {
          if (p.eos) {
            std::get<0>(ports).try_put(p);
            continue;
          }
          std::vector<ItemPtr> items;
          for (const auto& it : *p.items) {
            auto r = results.find(it.get());
            items.push_back(
                r == results.end() ? it : std::make_shared<const Item>(std::move(r->second)));
          }
          std::get<0>(ports).try_put(derive_packet(p, std::move(items)));
        }
      });
  flow::make_edge(*in, *order);
  flow::make_edge(*order, *batcher);
  flow::make_edge(flow::output_port<0>(*batcher), *model);
  flow::sender<Packet>* out = &flow::output_port<0>(*model);
  nodes_.push_back(std::move(order));
  nodes_.push_back(std::move(batcher));
  nodes_.push_back(std::move(model));
  return out;
}

void Run::add_ordered_consumer(flow::graph& g, flow::sender<Packet>* in,
                               std::function<flow::continue_msg(const Packet&)> body) {
  auto order =
      std::make_unique<flow::sequencer_node<Packet>>(g, [](const Packet& p) { return p.seq; });
  auto node = std::make_unique<flow::function_node<Packet, flow::continue_msg>>(g, flow::serial,
                                                                                std::move(body));
  flow::make_edge(*in, *order);
  flow::make_edge(*order, *node);
  nodes_.push_back(std::move(order));
  nodes_.push_back(std::move(node));
}

void Run::consume_items(StageRuntime& rt, const Packet& p,
                        const std::function<void(const Item&)>& consume) {
  for (const auto& it : *p.items) {
    if (it->failed()) continue;
    try {
      consume(*it);
      ++rt.items;
    } catch (const RunFailure& e) {
      fail("stage '" + rt.cfg->id + "': " + e.what());
    } catch (const std::exception& e) {
      Item err = make_error(*it, rt, e.what());
      finish_item(rt, err, *it);
    }
  }
}

void Run::add_sink(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in) {
  auto* sink = dynamic_cast<SinkStage*>(rt.stage.get());
  add_ordered_consumer(g, in, [this, &rt, sink](const Packet& p) {
    if (rt.finished) return flow::continue_msg();
    auto t0 = Clock::now();
    if (p.eos) {
      rt.finished = true;
      try {
        sink->finish(!stopping());
      } catch (const std::exception& e) {
        fail("stage '" + rt.cfg->id + "': " + e.what());
      }
    } else {
      consume_items(rt, p, [sink](const Item& item) { sink->write(item); });
    }
    rt.add_busy(t0);
    return flow::continue_msg();
  });
}

void Run::add_reduce_port(flow::graph& g, StageRuntime& rt, size_t port, flow::sender<Packet>* in) {
  auto* red = dynamic_cast<ReduceStage*>(rt.stage.get());
  add_ordered_consumer(g, in, [this, &rt, red, port](const Packet& p) {
    std::lock_guard<std::mutex> lock(rt.mu);
    auto t0 = Clock::now();
    if (p.eos) {
      rt.port_done[port] = true;
      try {
        red->input_done(port);
      } catch (const std::exception& e) {
        fail("stage '" + rt.cfg->id + "': " + e.what());
      }
    } else {
      consume_items(rt, p, [red, port](const Item& item) { red->consume(port, item); });
    }
    rt.add_busy(t0);
    return flow::continue_msg();
  });
}

}  // namespace embedflow::detail
