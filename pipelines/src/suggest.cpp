#include "embedflow/suggest.h"

#include <algorithm>

namespace embedflow {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> closest_names(const std::string& name,
                                       const std::vector<std::string>& candidates, size_t max) {
  std::vector<std::pair<size_t, std::string>> scored;
  size_t limit = std::max<size_t>(2, name.size() / 3);
  for (const auto& c : candidates) {
    // A candidate that contains the name ("spectrogram" for "audio.spectrogram") also counts.
    bool contains = name.size() >= 3 && c.find(name) != std::string::npos;
    // The distance is at least the difference in length: beyond the limit it need not be
    // computed (a pasted paragraph as a key would cost its length times every candidate's).
    const size_t gap = name.size() > c.size() ? name.size() - c.size() : c.size() - name.size();
    size_t d = gap > limit ? limit + 1 : edit_distance(name, c);
    if (d <= limit || contains) scored.emplace_back(contains ? std::min(d, limit) : d, c);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && out.size() < max; ++i) out.push_back(scored[i].second);
  return out;
}

std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  auto best = closest_names(name, candidates, 1);
  return best.empty() ? "" : " (did you mean '" + best[0] + "'?)";
}

}  // namespace embedflow
