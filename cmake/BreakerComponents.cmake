# SPDX-License-Identifier: Apache-2.0
#
# breaker_add_component(<name>
#   SOURCES <file>...          what the component must compile once (src/<name>/...)
#   LINK <target>...           its public link dependencies besides breaker::breaker
#   DEPENDENCIES <args>...     one find_dependency() call per entry for the package config,
#                              e.g. "CURL" or "restinio CONFIG" (arguments separated by spaces)
#   [FIND_MODULES <file>...])  Find modules under cmake/ that those calls need (installed)
#
# Makes target breaker_<name> with alias breaker::<name> (EXPORT_NAME <name>), records the
# component for the install rules and for breaker-config.cmake, where
# `find_package(breaker COMPONENTS <name>)` finds it and only its dependencies are looked for.
# Call it from src/<name>/CMakeLists.txt, one component per folder.

function(breaker_add_component name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SOURCES;LINK;DEPENDENCIES;FIND_MODULES")
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "breaker_add_component(${name}): no SOURCES")
  endif()
  set(target breaker_${name})
  add_library(${target} ${ARG_SOURCES})
  add_library(breaker::${name} ALIAS ${target})
  target_link_libraries(${target} PUBLIC breaker::breaker ${ARG_LINK})
  target_compile_options(${target} PRIVATE ${BREAKER_WARNING_FLAGS})
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${name}
    VERSION "${PROJECT_VERSION}"
    SOVERSION "${BREAKER_SOVERSION}")
  set_property(GLOBAL APPEND PROPERTY BREAKER_COMPONENTS ${name})
  set_property(GLOBAL PROPERTY BREAKER_COMPONENT_${name}_DEPENDENCIES "${ARG_DEPENDENCIES}")
  set(modules)
  foreach(module IN LISTS ARG_FIND_MODULES)
    list(APPEND modules "${PROJECT_SOURCE_DIR}/cmake/${module}")
  endforeach()
  set_property(GLOBAL APPEND PROPERTY BREAKER_COMPONENT_FIND_MODULES ${modules})
endfunction()

# The text breaker-config.cmake runs for the built components: for each, it marks the
# component found and finds its dependencies. Sets <out_var> in the caller's scope.
function(breaker_component_config_block out_var)
  get_property(components GLOBAL PROPERTY BREAKER_COMPONENTS)
  set(block "set(breaker_components core ${components})\n")
  foreach(name IN LISTS components)
    get_property(deps GLOBAL PROPERTY BREAKER_COMPONENT_${name}_DEPENDENCIES)
    string(APPEND block "set(breaker_${name}_FOUND TRUE)\n")
    foreach(dep IN LISTS deps)
      string(APPEND block "find_dependency(${dep})\n")
    endforeach()
  endforeach()
  set(${out_var} "${block}" PARENT_SCOPE)
endfunction()
