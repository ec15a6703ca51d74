// The stage interfaces. A stage type is a schema (schema.h) plus a factory that builds one of the
// classes below from validated Params. Heavy work (loading a model, planning FFTs) belongs in
// open(), which the engine calls only after the whole pipeline validated.
//
// Errors, one rule for every kind (errors.h): an exception thrown while a stage handles an item
// fails that item — it becomes an error record in errors.jsonl and is passed around the later
// stages — except RunFailure, which fails the run. open() reports a bad parameter as the
// ConfigError of Params::error(key, …), located where the user wrote the value.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embedflow/item.h"
#include "embedflow/params.h"
#include "embedflow/tensor.h"

namespace embedflow {

// What a stage may know about the run it is part of.
struct StageContext {
  std::string stage_id;
  std::string pipeline_file;  // path of the pipeline YAML ("" when built in code)
  std::string output_dir;     // where errors.jsonl and run stats go
  int threads = 1;            // cores this stage may use for intra-op parallelism (libtorch)
  int concurrency = 1;        // how many process calls may run at once (0 = unlimited)
  const std::atomic<bool>* cancelled = nullptr;
  bool is_cancelled() const { return cancelled && cancelled->load(std::memory_order_relaxed); }
};

// The shape and dtype every output item's tensor has, as far as a stage knows it once open.
struct RowShape {
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual void open(const StageContext& ctx) { (void)ctx; }
  // Called after open(). The shape of every item this stage emits when it is one and known
  // (an encoder's embedding width once its model is loaded; a pass-through stage's `input`,
  // the row shape of its first input as the stage upstream declared it); nullopt otherwise.
  // The engine hands it to the writers downstream, so that a run whose input was empty still
  // writes arrays of the right shape ([0, D], not [0]).
  virtual std::optional<RowShape> output_row_shape(const std::optional<RowShape>& input) const {
    (void)input;
    return std::nullopt;
  }
  // Called after open(): what the stage runs, for the run's summary, when that is worth a line
  // (a model stage: its model, precision and whether it is batch-invariant); "" otherwise.
  virtual std::string description() const { return ""; }
  // Called once after the last item (also after a cancelled run).
  virtual void close() {}
};

class SourceStage : public Stage {
 public:
  // Fills `item` (id, source, kind, payload, meta) and returns true, or returns false at the end.
  // Called from one thread at a time. Throwing ends the run with that error (a source that can
  // skip a bad entry should emit it as a failed item instead: set item.error).
  virtual bool next(Item& item) = 0;
  // Total number of items if known cheaply (for progress and ETA).
  virtual std::optional<uint64_t> size_hint() const { return std::nullopt; }
};

// One item in, one item out. `out` arrives as in.derive() (id, source, meta); set its kind and
// payload. Throwing turns this item into an error record; other items go on. Must be
// thread-safe when the schema allows concurrency != 1.
class ItemStage : public Stage {
 public:
  virtual void process(const Item& in, Item& out) = 0;
};

// The items of one source item in, any number out: splitting a recording into segments, or
// pooling segments back into one vector. Failed items are passed around it by the engine.
class GroupStage : public Stage {
 public:
  virtual void process(const std::vector<ItemPtr>& in, std::vector<Item>& out) = 0;
};

// Batches formed by the engine (never padded with fake rows; the last one may be short).
// Fill out[i] for in[i] (out arrives as derive() copies). To fail one item without failing its
// batch-mates, set out[i].error; throwing fails the call and the engine retries item by item.
class BatchStage : public Stage {
 public:
  virtual void process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) = 0;
};

// Receives every good item in source order, from one thread. Failed items go to errors.jsonl.
// A write that throws fails that item (a shape that does not fit the stacked array); I/O that
// would fail every item (disk full) throws RunFailure.
class SinkStage : public Stage {
 public:
  virtual void write(const Item& item) = 0;
  // End of stream. complete=false after a cancellation or a failure: commit the rows written so
  // far as valid files all the same (never a half-written file); nothing complete is lost.
  virtual void finish(bool complete) = 0;
  // Called after open(), before any write(), when the stage upstream declared its row shape
  // (Stage::output_row_shape): what an empty stacked output's rows would have been.
  virtual void expect_row_shape(const RowShape& row) { (void)row; }
  // Files this sink produced (after finish).
  virtual std::vector<std::string> outputs() const { return {}; }
};

// Consumes whole input streams (one per input port, each in source order), then emits a new
// stream, like a source: cosine scoring of queries against a corpus, grouping.
class ReduceStage : public Stage {
 public:
  virtual void consume(size_t port, const Item& item) = 0;
  virtual void input_done(size_t port) { (void)port; }
  // After all inputs are done: next output item, or false at the end.
  virtual bool next(Item& item) = 0;
  virtual std::optional<uint64_t> size_hint() const { return std::nullopt; }
};

}  // namespace embedflow
