// Checked retrieval of named weights from a safetensors file into torch tensors. A model's
// constructor takes every tensor it needs by name and shape; the loader records each problem
// instead of stopping at the first, and finish() reports them all in one ModelError, so a user
// pointing a ResNet-50 at a ResNet-18 file learns everything that is wrong at once.
//
// Includes torch: only model .cpp files include this header.
#pragma once

#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/safetensors.h"

namespace embedflow::models {

// A safetensors tensor as a torch tensor of its own dtype. Aliases the file's memory (no copy)
// when the file is a private mapping and the data is suitably aligned; otherwise copies. The
// tensor keeps the file alive. Throws ModelError for dtypes torch cannot represent.
torch::Tensor to_torch(const std::shared_ptr<SafeTensorsFile>& file, const SafeTensorInfo& info);

class WeightLoader {
 public:
  // Names are looked up as prefix + name for each prefix in order, e.g. {"", "bert."} reads
  // both the bare and the BertForPreTraining layout.
  explicit WeightLoader(std::shared_ptr<SafeTensorsFile> file,
                        std::vector<std::string> prefixes = {""});

  bool has(const std::string& name) const;
  // float32 (F16/BF16/F64 are converted). A missing, mis-shaped or non-float tensor is recorded
  // and zeros of `expected_shape` are returned, so construction can go on and find the rest.
  torch::Tensor take(const std::string& name, c10::IntArrayRef expected_shape);
  // No shape check. Floating tensors come back as float32, integer ones in their own dtype.
  // A missing tensor is recorded and an undefined tensor returned.
  torch::Tensor take_any(const std::string& name);
  // Keys matching `regex` (std::regex_match against the full key, or the key without the
  // matched prefix) may stay untaken, e.g. ".*num_batches_tracked", "fc\\..*".
  void ignore(const std::string& regex);
  // Throws ModelError("<file>: missing: …; unexpected: …; wrong shape: name expected [..] found
  // [..]") when anything was recorded or a key in the file was neither taken nor ignored.
  void finish();

  const SafeTensorsFile& file() const { return *file_; }
  const std::shared_ptr<SafeTensorsFile>& file_ptr() const { return file_; }

 private:
  const SafeTensorInfo* lookup(const std::string& name) const;

  torch::Tensor placeholder(c10::IntArrayRef expected_shape);
  // Elements of stand-ins for missing or mis-shaped tensors, at most 64 Mi (256 MB of floats).
  static constexpr int64_t kPlaceholderBudget = int64_t{1} << 26;
  int64_t placeholder_elements_ = 0;
  std::shared_ptr<SafeTensorsFile> file_;
  std::vector<std::string> prefixes_;
  std::vector<std::regex> ignored_;
  std::set<std::string> taken_;  // full keys
  std::vector<std::string> missing_;
  std::vector<std::string> wrong_shape_;
  std::vector<std::string> wrong_dtype_;
};

}  // namespace embedflow::models
