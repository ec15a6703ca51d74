// The stage wrappers through which run_job runs a pipeline (RunOptions::wrap_stage): the engine
// sees an ordinary source and ordinary writers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "embedflow/jobs/job_journal.h"
#include "embedflow/jobs/spool.h"
#include "embedflow/stage.h"

namespace embedflow::jobs {

// A source that passes over the items of other shards and those an earlier attempt completed
// (counting the latter in `done_before`), and registers the others in the journal. Every item
// keeps its position in the full listing (Item::index), and its journal part is its batch group,
// so a redone part forms the batches it formed the first time.
class JournalSource : public SourceStage {
 public:
  // `stop`: a stop request also ends a long stretch of items to pass over.
  JournalSource(std::unique_ptr<Stage> source, JobJournal& journal, const ShardSpec& shard,
                std::atomic<uint64_t>& done_before, const std::atomic<bool>* stop);
  void open(const StageContext& ctx) override { source_->open(ctx); }
  void close() override { source_->close(); }
  bool next(Item& item) override;
  std::optional<uint64_t> size_hint() const override { return source_->size_hint(); }

 private:
  std::unique_ptr<Stage> owned_;
  SourceStage* source_;
  JobJournal& journal_;
  ShardSpec shard_;
  std::atomic<uint64_t>& done_before_;
  const std::atomic<bool>* stop_;
  uint64_t position_ = 0;  // of the next item in the full listing
};

// Takes a writer's place: what the writer would be given goes into one part file per journal
// part, OUT/<job folder>/parts/<writer id>/part-<P>-a<attempt>.items, committed and reported to
// the journal when the next part begins and at the end of the stream — except the part a stop
// cut short (JobJournal::cut_part), which is dropped for the next attempt to redo. The writer
// itself runs when the outputs are assembled (assemble_outputs, merge_shards).
class SpoolingSink : public SinkStage {
 public:
  SpoolingSink(std::string parts_dir, JobJournal& journal, size_t sink_index);
  void open(const StageContext& ctx) override { cancelled_ = ctx.cancelled; }
  void write(const Item& item) override;
  void finish(bool complete) override;

 private:
  void commit_through(int64_t part);
  std::string parts_dir_;
  JobJournal& journal_;
  size_t sink_index_;
  const std::atomic<bool>* cancelled_ = nullptr;
  std::unique_ptr<SpoolWriter> spool_;
  int64_t part_ = -1;  // of the open part file
};

}  // namespace embedflow::jobs
