#include "embedflow/jobs/spool.h"

#include <cstring>
#include <stdexcept>

namespace embedflow::jobs {

namespace {

Json header_of(const Item& item) {
  Json h = {{"id", item.id},
            {"source", item.source},
            {"index", item.index},
            {"kind", kind_name(item.kind)},
            {"sample_rate", item.sample_rate}};
  if (!item.text.empty()) h["text"] = item.text;
  if (!item.meta.empty()) h["meta"] = item.meta;
  if (!item.record.is_null()) h["record"] = item.record;
  if (item.tensor.defined()) {
    h["dtype"] = static_cast<int>(item.tensor.dtype());
    h["shape"] = item.tensor.shape();
  }
  return h;
}

}  // namespace

SpoolWriter::SpoolWriter(const std::string& path) : file_(path) {}

void SpoolWriter::append(const Item& item) {
  // CBOR keeps the header compact and exact (floats round-trip bit for bit).
  std::vector<uint8_t> header = Json::to_cbor(header_of(item));
  uint32_t hlen = static_cast<uint32_t>(header.size());
  uint64_t plen = item.tensor.defined() ? item.tensor.nbytes() : 0;
  file_.write(&hlen, sizeof hlen);
  file_.write(header.data(), header.size());
  file_.write(&plen, sizeof plen);
  if (plen) file_.write(item.tensor.raw(), plen);
  ++count_;
}

void SpoolWriter::commit() {
  file_.commit();
}

SpoolReader::SpoolReader(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) throw std::runtime_error("cannot open spool " + path);
}

SpoolReader::~SpoolReader() {
  if (file_) std::fclose(file_);
}

bool SpoolReader::next(Item& item) {
  uint32_t hlen = 0;
  size_t got = std::fread(&hlen, 1, sizeof hlen, file_);
  if (got == 0) return false;
  auto damaged = [&](const char* what) {
    return std::runtime_error("spool " + path_ + " is damaged (" + what + ")");
  };
  if (got != sizeof hlen || hlen > (64u << 20)) throw damaged("record header");
  std::vector<uint8_t> header(hlen);
  if (std::fread(header.data(), 1, hlen, file_) != hlen) throw damaged("truncated header");
  Json h = Json::from_cbor(header);
  uint64_t plen = 0;
  if (std::fread(&plen, 1, sizeof plen, file_) != sizeof plen) throw damaged("payload length");
  item = Item();
  item.id = h["id"].get<std::string>();
  item.source = h["source"].get<std::string>();
  item.index = h["index"].get<uint64_t>();
  kind_from_name(h["kind"].get<std::string>(), item.kind);
  item.sample_rate = h["sample_rate"].get<int>();
  if (h.contains("text")) item.text = h["text"].get<std::string>();
  if (h.contains("meta")) item.meta = h["meta"];
  if (h.contains("record")) item.record = h["record"];
  if (h.contains("shape")) {
    item.tensor =
        Tensor(static_cast<DType>(h["dtype"].get<int>()), h["shape"].get<std::vector<int64_t>>());
    if (item.tensor.nbytes() != plen) throw damaged("payload size does not match its shape");
    if (plen && std::fread(item.tensor.raw_mut(), 1, plen, file_) != plen)
      throw damaged("truncated payload");
  } else if (plen) {
    throw damaged("payload without a shape");
  }
  return true;
}

}  // namespace embedflow::jobs
