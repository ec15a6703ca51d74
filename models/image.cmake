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
# conv_engine.cpp calls cblas_sgemm (ResNet's Winograd/GEMM engine): the BLAS libtorch already
# loads, found by its soname so that only the runtime package is needed (Debian alternative:
# OpenBLAS with tools/setup.sh, reference BLAS otherwise; both export CBLAS).
find_library(EMBEDFLOW_BLAS_LIBRARY NAMES libblas.so.3 blas REQUIRED)
target_link_libraries(embedflow_models PRIVATE ${EMBEDFLOW_BLAS_LIBRARY})
