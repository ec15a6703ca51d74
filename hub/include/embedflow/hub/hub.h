// Models from the Hugging Face hub, shared with Python through the standard cache: everything
// the hub library offers, for callers that use more than one part of it.
//
//   error.h     HubError, the one exception it throws
//   env.h       HF_* variables and the token, read as huggingface_hub reads them
//   cache.h     the cache layout: resolving `org/name[@rev]` to a local folder, listing it
//   resolver.h  the engine's ModelResolver for run identities
//   select.h    which files of a repository a model needs
//   fetch.h     downloading a model into the cache or a plain folder (libcurl)
//
// So a model fetched by `hf_hub_download`/`snapshot_download` is reused without a download and
// the other way round. Torch-free; depends on the engine (embedflow_core) only.
#pragma once

#include "embedflow/hub/cache.h"
#include "embedflow/hub/env.h"
#include "embedflow/hub/error.h"
#include "embedflow/hub/fetch.h"
#include "embedflow/hub/resolver.h"
#include "embedflow/hub/select.h"
