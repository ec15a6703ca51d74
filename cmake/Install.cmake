# `cmake --install build --prefix P`: the CLI, every own shared library (the on-demand stage
# libraries beside libembedflow_stages_common.so, where stages/common/stage_library.h looks for
# them), the public headers, the Python module, and a CMake package:
#
#   P/bin/embedflow
#   P/lib/libembedflow_*.so                      RUNPATH $ORIGIN
#   P/lib/python3/dist-packages/embedflow*.so     (EMBEDFLOW_PYTHON_INSTALL_DIR)
#   P/include/embedflow/… models/… stages/…      the include paths of the build tree
#   P/lib/cmake/embedflow/embedflowConfig.cmake  find_package(embedflow) → embedflow::embedflow
#
# Included from the top-level CMakeLists.txt after every library target exists.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(EMBEDFLOW_PYTHON_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/python3/dist-packages" CACHE STRING
  "Where cmake --install puts the Python module, relative to the prefix")

# Every embedflow_* shared library of the project's own folders: a library another helper adds
# is installed and exported without an edit here.
function(embedflow_collect_libraries dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  set(found "")
  foreach(t ${targets})
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "SHARED_LIBRARY" AND t MATCHES "^embedflow_")
      list(APPEND found ${t})
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub ${subdirs})
    if(NOT sub MATCHES "/(tests|bench|examples|python)$")
      embedflow_collect_libraries(${sub} sub_found)
      list(APPEND found ${sub_found})
    endif()
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()
embedflow_collect_libraries(${CMAKE_SOURCE_DIR} EMBEDFLOW_INSTALLED_LIBRARIES)

# The targets' include folders are source folders; installed, they are P/include.
foreach(lib ${EMBEDFLOW_INSTALLED_LIBRARIES})
  get_target_property(dirs ${lib} INTERFACE_INCLUDE_DIRECTORIES)
  set(wrapped "")
  if(dirs)
    foreach(d ${dirs})
      list(APPEND wrapped "$<BUILD_INTERFACE:${d}>")
    endforeach()
  endif()
  list(APPEND wrapped "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  set_target_properties(${lib} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${wrapped}"
    INSTALL_RPATH "$ORIGIN")
endforeach()

# embedflow::embedflow: the C++ API (models/sentence_transformer.h, the engine, the stages).
add_library(embedflow_package INTERFACE)
set_target_properties(embedflow_package PROPERTIES EXPORT_NAME embedflow)
target_link_libraries(embedflow_package INTERFACE embedflow_core embedflow_models
  embedflow_model_files embedflow_tokenizers embedflow_builtin embedflow_stages_common
  embedflow_hub)
add_library(embedflow::embedflow ALIAS embedflow_package)

install(TARGETS ${EMBEDFLOW_INSTALLED_LIBRARIES} embedflow_package EXPORT embedflowTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})

file(RELATIVE_PATH bin_to_lib /${CMAKE_INSTALL_BINDIR} /${CMAKE_INSTALL_LIBDIR})
set_target_properties(embedflow PROPERTIES INSTALL_RPATH "$ORIGIN/${bin_to_lib}")
install(TARGETS embedflow RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

if(TARGET embedflow_python)
  file(RELATIVE_PATH module_to_lib /${EMBEDFLOW_PYTHON_INSTALL_DIR} /${CMAKE_INSTALL_LIBDIR})
  set_target_properties(embedflow_python PROPERTIES INSTALL_RPATH "$ORIGIN/${module_to_lib}")
  install(TARGETS embedflow_python LIBRARY DESTINATION ${EMBEDFLOW_PYTHON_INSTALL_DIR})
endif()

# Headers keep the paths the sources include them by.
foreach(dir pipelines/include hub/include jobs/include regression/include)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.h")
endforeach()
foreach(dir models stages)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/${dir} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.h" PATTERN "*.inc")
endforeach()

set(EMBEDFLOW_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/embedflow)
install(EXPORT embedflowTargets NAMESPACE embedflow:: DESTINATION ${EMBEDFLOW_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/embedflowConfig.cmake.in
  ${CMAKE_BINARY_DIR}/embedflowConfig.cmake INSTALL_DESTINATION ${EMBEDFLOW_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/embedflowConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/embedflowConfig.cmake
  ${CMAKE_BINARY_DIR}/embedflowConfigVersion.cmake DESTINATION ${EMBEDFLOW_CMAKE_DIR})
