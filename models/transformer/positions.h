// Position schemes of the transformer families that are plain arithmetic (torch-free, so tests
// can check them directly).
#pragma once

#include <cstdint>

namespace embedflow::models::transformer {

// MPNet's bucket (T5's bidirectional scheme) of the relative position key − query: exact below
// num_buckets / 4, logarithmic up to max_distance, keys after the query in the upper half.
int64_t relative_position_bucket(int64_t relative_position, int64_t num_buckets,
                                 int64_t max_distance);

}  // namespace embedflow::models::transformer
