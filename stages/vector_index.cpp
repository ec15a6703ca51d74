// The entry point of libembedflow_vector_index.so: write.index and search.index, which run
// FAISS, loaded on demand (stages/common/stage_library.h). Their schemas are registered by
// stages/index/register.cpp without it.
#include "stages/common/stage_library.h"
#include "stages/index/search_index.h"
#include "stages/index/write_index.h"

extern "C" const embedflow::StageLibrary* embedflow_vector_index() {
  using namespace embedflow;
  static const StageLibrary library = [] {
    StageLibrary l;
    add_factory<WriteIndex>(l, write_index_schema());
    add_factory<SearchIndex>(l, search_index_schema());
    return l;
  }();
  return &library;
}
