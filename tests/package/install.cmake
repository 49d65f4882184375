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
# The docs and the operations artifacts (issue 14: installed with the package).
foreach(file share/doc/breaker/README.md share/doc/breaker/index.md
             share/doc/breaker/00-getting-started.md share/doc/breaker/01-semantics.md
             share/doc/breaker/03-configuration.md share/doc/breaker/14-testing.md
             share/doc/breaker/15-operations.md share/doc/breaker/performance.md
             share/doc/breaker/reliability.md
             share/doc/breaker/operations/breaker.rules.yml
             share/doc/breaker/operations/breaker-dashboard.json)
  if(NOT EXISTS "${PREFIX}/${file}")
    message(FATAL_ERROR "install is missing ${file}")
  endif()
endforeach()
# share/doc/breaker/README.md is the project's README (docs/README.md is installed as index.md).
file(READ "${PREFIX}/share/doc/breaker/README.md" _readme)
if(NOT _readme MATCHES "^# breaker\n")
  message(FATAL_ERROR "share/doc/breaker/README.md is not the project's README")
endif()
file(GLOB_RECURSE config_files "${PREFIX}/*/breaker-config.cmake")
if(NOT config_files)
  message(FATAL_ERROR "install is missing breaker-config.cmake")
endif()
