# SPDX-License-Identifier: Apache-2.0
#
# breaker's warning flags.
#
#   BREAKER_WARNING_FLAGS  the flags, for target_compile_options(<lib> PRIVATE ...) on breaker's
#                          own libraries (PRIVATE: they never reach users' builds)
#   breaker_warnings       project-only INTERFACE target with the same flags, linked by tests,
#                          examples and benchmarks. Never installed or exported (and so never
#                          linked by an installed target, not even as $<BUILD_INTERFACE:...>,
#                          which the build-tree export would still require).
#
# BREAKER_WERROR adds -Werror (/WX).

if(MSVC)
  set(BREAKER_WARNING_FLAGS /W4 /permissive-)
  if(BREAKER_WERROR)
    list(APPEND BREAKER_WARNING_FLAGS /WX)
  endif()
else()
  set(BREAKER_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wconversion -Wshadow)
  if(BREAKER_WERROR)
    list(APPEND BREAKER_WARNING_FLAGS -Werror)
  endif()
endif()

if(NOT TARGET breaker_warnings)
  add_library(breaker_warnings INTERFACE)
  target_compile_options(breaker_warnings INTERFACE ${BREAKER_WARNING_FLAGS})
endif()
