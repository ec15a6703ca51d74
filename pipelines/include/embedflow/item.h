// The unit of data that flows between stages: one file, one sentence, one segment of a recording.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "embedflow/tensor.h"

namespace embedflow {

using Json = nlohmann::json;

// What an item's payload means. Port types in stage schemas use the same names (kind_name()).
enum class Kind : uint8_t {
  None,         // nothing yet (an item that only names a file)
  Text,         // item.text: UTF-8
  File,         // item.source is a path; nothing read yet
  Audio,        // tensor f32 [channels, samples], item.sample_rate
  Spectrogram,  // tensor f32 [n_freq_or_mels, n_frames]
  Image,        // tensor u8 [height, width, 3], RGB
  ImageTensor,  // tensor f32 [3, height, width], normalised, ready for an image encoder
  Embedding,    // tensor f32 [dim]
  Tensor,       // any other tensor
  Record,       // item.record: a JSON object (scores, stats)
};

const char* kind_name(Kind k);
// Returns false when `name` is not a kind name.
bool kind_from_name(const std::string& name, Kind& out);

struct ItemError {
  std::string stage;    // stage id that failed
  std::string message;  // what went wrong, for a person
};

struct Item {
  std::string id;      // stable identifier (manifest id, relative path, "line-12")
  std::string source;  // where it came from: a file path, "inline", "lines.txt:12"
  // Position in its source's order. The engine numbers a source's items in the order they come;
  // a source that passes over entries of its own input (a filtering wrapper) may set a higher
  // value instead, so that the items it emits keep their positions in the full listing.
  uint64_t index = 0;
  // Batch stages never put items of different groups into one batch. 0 unless a source sets it
  // (jobs/ sets the journal part, so that a redone part forms the batches it formed before).
  uint64_t batch_group = 0;

  Kind kind = Kind::None;
  std::string text;
  Tensor tensor;
  int sample_rate = 0;  // for Kind::Audio (and carried on spectrograms)
  Json record;          // for Kind::Record

  // Metadata carried along: manifest columns, parent_id/start/end of segments, stage notes.
  Json meta = Json::object();

  std::shared_ptr<const ItemError> error;  // set: this item is an error record
  bool failed() const { return error != nullptr; }

  // A new item that keeps this one's identity and metadata but no payload.
  Item derive() const;
};

using ItemPtr = std::shared_ptr<const Item>;

}  // namespace embedflow
