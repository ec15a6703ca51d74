# Everything comes from Debian 12 packages (tools/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(TBB REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
find_package(Torch REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(PNG REQUIRED)  # write.png (stages/io/png_encode.h)
pkg_check_modules(FFTW3F REQUIRED IMPORTED_TARGET fftw3f)
pkg_check_modules(SNDFILE REQUIRED IMPORTED_TARGET sndfile)
pkg_check_modules(SOXR REQUIRED IMPORTED_TARGET soxr)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
# The tokenizers match patterns on code points (hf_regex.cpp), in PCRE2's UTF-32 library.
pkg_check_modules(PCRE2_32 REQUIRED IMPORTED_TARGET libpcre2-32)
# libsentencepiece checks the engine's .model reader in tokenizer_tests only: it exports its own
# protobuf-lite, which crashes a process that also loads libtorch's libprotobuf.
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
pkg_check_modules(CURL IMPORTED_TARGET libcurl)

# The interpreter that has Debian's torch/torchvision/torchaudio (fixtures and benchmarks only).
find_program(EMBEDFLOW_REFERENCE_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)

# FAISS (libfaiss-dev: a static, position-independent libfaiss.a) for the vector index stages;
# its imported target links OpenMP::OpenMP_CXX, BLAS and LAPACK, so OpenMP is found first. Only
# libembedflow_vector_index.so links it (stages/CMakeLists.txt).
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(faiss REQUIRED)
