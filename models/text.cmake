# The text encoders: BERT (sentence-transformers folders) and the public TextEncoder API.
target_sources(embedflow_models PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/bert.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bert_kernels_generic.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bert_kernels_avx2.cpp
  ${CMAKE_CURRENT_LIST_DIR}/text_encoder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/similarity.cpp
)
# The kernels are torch-free: no torch PCH; -fopenmp-simd lets `omp simd` vectorise without the
# OpenMP runtime; -fno-trapping-math lets GCC if-convert the clamps in exp/erf (otherwise the
# GELU loop stays scalar: "control flow in loop"); nothing here reads FP exception flags.
# -Wno-psabi: the baseline build passes 8-float vectors between inlined helpers (no ABI crossed).
# The AVX2 build is chosen at run time only on CPUs that have AVX2 and FMA.
set_source_files_properties(
  ${CMAKE_CURRENT_LIST_DIR}/bert_kernels_generic.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bert_kernels_avx2.cpp
  PROPERTIES SKIP_PRECOMPILE_HEADERS ON COMPILE_OPTIONS "-O3;-fopenmp-simd;-fno-trapping-math;-Wno-psabi")
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/bert_kernels_avx2.cpp
  PROPERTIES COMPILE_OPTIONS "-O3;-fopenmp-simd;-fno-trapping-math;-mavx2;-mfma")
