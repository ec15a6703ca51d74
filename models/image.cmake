# The shared model-loading layer (checked weight loading, inspect, TorchScript) and the image
# encoders.
target_sources(embedflow_models PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/weights.cpp
  ${CMAKE_CURRENT_LIST_DIR}/torchscript_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/torchscript_encoder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/resnet.cpp
  ${CMAKE_CURRENT_LIST_DIR}/conv_engine.cpp
  ${CMAKE_CURRENT_LIST_DIR}/conv_kernels.cpp
  ${CMAKE_CURRENT_LIST_DIR}/inspect.cpp
)
# The Winograd transforms, one build per CPU level; the filter transform beside them is
# torch-free too (no torch PCH).
embedflow_cpu_kernels(embedflow_models models/conv_kernels_impl.h
  TABLE embedflow::models::conv_kernels::Kernels LEVELS baseline avx2)
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/conv_kernels.cpp
  PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
# The engine's stem, 1x1, grouped (and strided) convolutions: oneDNN's primitive (dnnl_conv.h;
# text.cmake defines EMBEDFLOW_HAVE_DNNL and links the library for the whole target). Without
# libdnnl-dev the Winograd engine is off and "auto" means "onednn".
find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h)
find_library(DNNL_LIBRARY NAMES dnnl)
if(DNNL_INCLUDE_DIR AND DNNL_LIBRARY)
  target_sources(embedflow_models PRIVATE ${CMAKE_CURRENT_LIST_DIR}/dnnl_conv.cpp)
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/dnnl_conv.cpp
    PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
endif()
