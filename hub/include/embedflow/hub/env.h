// The environment variables huggingface_hub reads, read the same way.
#pragma once

#include <string>

namespace embedflow::hub {

std::string hub_cache_dir();  // HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > HF_HOME/hub >
                              // XDG_CACHE_HOME/huggingface/hub > ~/.cache/huggingface/hub
std::string hub_endpoint();   // HF_ENDPOINT without a trailing '/', default https://huggingface.co
bool hub_offline();           // HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is 1/true/yes/on
std::string hub_token();      // HF_TOKEN, else the file HF_TOKEN_PATH or $HF_HOME/token; "" if none

}  // namespace embedflow::hub
