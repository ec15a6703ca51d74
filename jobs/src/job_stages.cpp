#include "job_stages.h"

#include <cstdio>
#include <filesystem>

#include "embedflow/errors.h"
#include "embedflow/jobs/batch_job.h"

namespace fs = std::filesystem;

namespace embedflow::jobs {

JournalSource::JournalSource(std::unique_ptr<Stage> source, JobJournal& journal,
                             const ShardSpec& shard, std::atomic<uint64_t>& done_before,
                             const std::atomic<bool>* stop)
    : owned_(std::move(source)),
      source_(dynamic_cast<SourceStage*>(owned_.get())),
      journal_(journal),
      shard_(shard),
      done_before_(done_before),
      stop_(stop) {
  if (!source_) throw std::logic_error("JournalSource wraps a source stage");
}

bool JournalSource::next(Item& item) {
  while (!(stop_ && stop_->load())) {
    item = Item();
    if (!source_->next(item)) {
      journal_.source_exhausted();
      return false;
    }
    item.index = position_++;
    if (!in_shard(item.id, shard_)) continue;
    const std::string fingerprint = item_fingerprint(item);
    if (journal_.completed(item.index, fingerprint)) {
      ++done_before_;
      continue;
    }
    journal_.add_item(item.index, item.id, fingerprint);
    item.batch_group = journal_.part_of(item.index);
    return true;
  }
  return false;
}

SpoolingSink::SpoolingSink(std::string parts_dir, JobJournal& journal, size_t sink_index)
    : parts_dir_(std::move(parts_dir)), journal_(journal), sink_index_(sink_index) {}

void SpoolingSink::write(const Item& item) {
  // The spool is this run's output: what fails to reach it fails every item alike.
  try {
    const int64_t part = static_cast<int64_t>(journal_.part_of(item.index));
    if (part != part_) {
      if (part_ >= 0) commit_through(part - 1);
      char name[64];
      std::snprintf(name, sizeof name, "part-%05lld-a%d.items", static_cast<long long>(part),
                    journal_.attempt());
      spool_ = std::make_unique<SpoolWriter>((fs::path(parts_dir_) / name).string());
      part_ = part;
    }
    spool_->append(item);
  } catch (const std::exception& e) {
    throw RunFailure(e.what());
  }
}

void SpoolingSink::finish(bool /*complete*/) {
  // A hard cancel abandoned items in flight, so the open part is left to be redone.
  if (cancelled_ && cancelled_->load()) return;
  // A stopped run drained: everything this writer was given is whole. But the part the source
  // stopped in holds only its first items, batched short by the end of the stream; it is dropped
  // (the uncommitted spool is removed) and the next attempt redoes the whole part.
  const int64_t cut = journal_.cut_part();
  if (cut < 0) {
    commit_through(INT64_MAX);
    return;
  }
  if (part_ == cut) spool_.reset();
  commit_through(cut - 1);
}

void SpoolingSink::commit_through(int64_t part) {
  if (spool_) {
    spool_->commit();
    spool_.reset();
  }
  journal_.sink_committed_through(sink_index_, part);
}

}  // namespace embedflow::jobs
