# Warnings apply to embedflow's own targets only; third-party headers come in as system includes.
#
# EMBEDFLOW_SANITIZE (e.g. "address,undefined" or "thread", as for -fsanitize=) instruments the
# same targets, compile and link (tools/sanitize.sh). Every own target must go through here: a
# target linking instrumented libraries without the flag fails to link against the runtime.
# Third-party libraries (libtorch, TBB, OpenCV, ...) stay uninstrumented.
set(EMBEDFLOW_SANITIZE "" CACHE STRING
  "Sanitizers for embedflow's own targets, as for -fsanitize= (address,undefined or thread)")
set(EMBEDFLOW_SANITIZE_FLAGS "")          # compile and link
set(EMBEDFLOW_SANITIZE_COMPILE_FLAGS "")  # compile only
if(EMBEDFLOW_SANITIZE)
  if(EMBEDFLOW_SANITIZE MATCHES "thread" AND EMBEDFLOW_SANITIZE MATCHES "address")
    message(FATAL_ERROR "EMBEDFLOW_SANITIZE: thread and address cannot be combined "
      "(one build each, as tools/sanitize.sh does)")
  endif()
  # Frame pointers: the sanitizers' fast unwinder needs them for whole stacks in reports.
  set(EMBEDFLOW_SANITIZE_FLAGS -fsanitize=${EMBEDFLOW_SANITIZE} -fno-omit-frame-pointer)
  if(EMBEDFLOW_SANITIZE MATCHES "undefined")
    # By default UBSan prints and continues, and the test passes: make every finding fatal.
    list(APPEND EMBEDFLOW_SANITIZE_FLAGS -fno-sanitize-recover=undefined)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC's manual: sanitizers raise the rate of false -Wmaybe-uninitialized warnings (GCC 12
    # reports them inside <regex> and <functional> here). The normal build keeps the warning.
    set(EMBEDFLOW_SANITIZE_COMPILE_FLAGS -Wno-maybe-uninitialized)
  endif()
  message(STATUS "Sanitizers for embedflow's targets: ${EMBEDFLOW_SANITIZE}")
endif()

function(embedflow_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  # Shared libraries: calls within a library may be inlined and bound locally (no interposition
  # of our own symbols is supported), as in an executable.
  target_compile_options(${target} PRIVATE -fno-semantic-interposition)
  if(EMBEDFLOW_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(EMBEDFLOW_SANITIZE_FLAGS)
    target_compile_options(${target} PRIVATE ${EMBEDFLOW_SANITIZE_FLAGS}
      ${EMBEDFLOW_SANITIZE_COMPILE_FLAGS})
    # For static libraries this is a usage requirement: whatever links them needs the runtime.
    target_link_options(${target} PUBLIC ${EMBEDFLOW_SANITIZE_FLAGS})
  endif()
endfunction()
