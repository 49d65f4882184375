# SPDX-License-Identifier: Apache-2.0
#
# Installs a finished breaker build into a fresh prefix for the package tests.
#   cmake -DBUILD_DIR=<build dir> -DPREFIX=<prefix> [-DCONFIG=<config>] -P install.cmake

foreach(var BUILD_DIR PREFIX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install.cmake: -D${var}=... is required")
  endif()
endforeach()

# Start from an empty prefix so files removed from the project do not linger in it.
file(REMOVE_RECURSE "${PREFIX}")

set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "installing ${BUILD_DIR} into ${PREFIX} failed (${result})")
endif()

if(NOT EXISTS "${PREFIX}/include/breaker/breaker.hpp")
  message(FATAL_ERROR "install is missing include/breaker/breaker.hpp")
endif()
# The docs and the operations artifacts (issue 14: installed with the package), in the
# repository's layout under share/doc/breaker/.
set(_doc "${PREFIX}/share/doc/breaker")
foreach(file README.md LICENSE docs/README.md docs/00-getting-started.md docs/01-semantics.md
             docs/03-configuration.md docs/14-testing.md docs/15-operations.md
             docs/performance.md docs/performance.svg docs/reliability.md
             docs/operations/breaker.rules.yml docs/operations/breaker-dashboard.json
             examples/01_basic_call.cpp examples/incident_manager/README.md)
  if(NOT EXISTS "${_doc}/${file}")
    message(FATAL_ERROR "install is missing share/doc/breaker/${file}")
  endif()
endforeach()
# share/doc/breaker/README.md is the project's README.
file(READ "${_doc}/README.md" _readme)
if(NOT _readme MATCHES "^# breaker\n")
  message(FATAL_ERROR "share/doc/breaker/README.md is not the project's README")
endif()
# Every relative link of every installed page resolves inside the install (a link to a file
# that is not installed, or a layout that differs from the repository's, fails here). Targets
# are plain paths (letters, digits, . _ - /) with an optional #anchor: this skips code such as
# `[](const Response& r)` and absolute URLs.
file(GLOB_RECURSE _pages "${_doc}/*.md")
set(_links 0)
set(_broken "")
foreach(page IN LISTS _pages)
  file(READ "${page}" _text)
  get_filename_component(_dir "${page}" DIRECTORY)
  # (The link's "](" is replaced first: a "]" in a list element would stop CMake splitting the
  # list of matches at ";".)
  string(REPLACE "](" "<link>" _text "${_text}")
  string(REGEX MATCHALL "<link>[A-Za-z0-9_./-]+(#[^) ]*)?\\)" _found "${_text}")
  foreach(link IN LISTS _found)
    string(REGEX REPLACE "^<link>([A-Za-z0-9_./-]+).*$" "\\1" _target "${link}")
    math(EXPR _links "${_links} + 1")
    if(NOT EXISTS "${_dir}/${_target}")
      file(RELATIVE_PATH _rel "${_doc}" "${page}")
      string(APPEND _broken "\n  ${_rel}: ${_target}")
    endif()
  endforeach()
endforeach()
if(_broken)
  message(FATAL_ERROR "installed docs: links that do not resolve under share/doc/breaker:${_broken}")
endif()
if(_links LESS 100)
  message(FATAL_ERROR "installed docs: only ${_links} relative links found (the check reads nothing?)")
endif()
message(STATUS "installed docs: ${_links} relative links resolve")
file(GLOB_RECURSE config_files "${PREFIX}/*/breaker-config.cmake")
if(NOT config_files)
  message(FATAL_ERROR "install is missing breaker-config.cmake")
endif()
