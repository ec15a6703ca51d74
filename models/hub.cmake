# Hugging Face hub client (fetch into / resolve from the shared cache). Torch-free, so stages and
# the CLI use it without linking libtorch.
if(NOT TARGET PkgConfig::CURL)
  message(FATAL_ERROR "libcurl not found: install libcurl4-openssl-dev (embedflow_hub needs it)")
endif()
add_library(embedflow_hub STATIC ${CMAKE_CURRENT_LIST_DIR}/hub.cpp)
target_include_directories(embedflow_hub PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(embedflow_hub PUBLIC embedflow_core PRIVATE PkgConfig::CURL)
embedflow_target_defaults(embedflow_hub)
