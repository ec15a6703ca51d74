# Warnings apply to embedflow's own targets only; third-party headers come in as system includes.
function(embedflow_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(EMBEDFLOW_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
