# The transformer core (models/transformer/: the encoder stack, its kernels, the text families,
# the vision transformers) and SentenceTransformer (sentence-transformers folders: tokenizer,
# transformer, pooling, Dense, normalisation).
target_sources(embedflow_models PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/transformer/encoder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/transformer/text_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/transformer/vision_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/sentence_transformer.cpp
)
# The kernels, one build per CPU level (torch-free, so no torch PCH): -fopenmp-simd lets
# `omp simd` vectorise without the OpenMP runtime; -fno-trapping-math lets GCC if-convert the
# clamps in exp/erf (otherwise the GELU loop stays scalar: "control flow in loop"); nothing here
# reads FP exception flags. -Wno-psabi: the baseline build passes 8-float vectors between
# inlined helpers (no ABI crossed).
embedflow_cpu_kernels(embedflow_models models/transformer/kernels_impl.h
  TABLE embedflow::models::transformer::kernels::Kernels LEVELS baseline avx2 avx512
  OPTIONS -O3 -fopenmp-simd -fno-trapping-math -Wno-psabi)

# oneDNN's row-major GEMM (dnnl_sgemm) for the transformer Linear layers: libtorch already loads this
# libdnnl (Debian's libtorch links it), and at the encoder's shapes (M ~ 850 tokens, K/N 384 and
# 1536) it measured 0-18% faster than OpenBLAS here. Optional: without libdnnl-dev's header the
# encoder uses libtorch's mm (OpenBLAS).
find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h)
find_library(DNNL_LIBRARY NAMES dnnl)
if(DNNL_INCLUDE_DIR AND DNNL_LIBRARY)
  message(STATUS "Transformer GEMMs: oneDNN (${DNNL_LIBRARY})")
  # Target-wide: transformer/linear.h's Linear differs with it, and every source including it
  # must see one definition.
  target_compile_definitions(embedflow_models PRIVATE EMBEDFLOW_HAVE_DNNL=1)
  target_include_directories(embedflow_models SYSTEM PRIVATE ${DNNL_INCLUDE_DIR})
  target_link_libraries(embedflow_models PRIVATE ${DNNL_LIBRARY})
  # Its matmul primitive, for bf16 and int8 on AMX (transformer/packed_matmul.h).
  target_sources(embedflow_models PRIVATE ${CMAKE_CURRENT_LIST_DIR}/transformer/packed_matmul.cpp)
else()
  message(STATUS "Transformer GEMMs: libtorch mm (install libdnnl-dev for oneDNN's sgemm)")
endif()
