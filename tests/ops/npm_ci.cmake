# SPDX-License-Identifier: Apache-2.0
#
# cmake -DNPM=<npm> -DSOURCE_DIR=<dir with package.json + package-lock.json> -DDEST_DIR=<build dir>
#       -P npm_ci.cmake
# Installs the pinned npm packages of SOURCE_DIR into DEST_DIR/node_modules with `npm ci` (exact
# versions of the lock file). Run by the ctest fixtures of tests/ops; node_modules never lands in
# the source tree.
foreach(var NPM SOURCE_DIR DEST_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "npm_ci.cmake: -D${var}= is required")
  endif()
endforeach()
if(NOT EXISTS "${NPM}")
  message(FATAL_ERROR "npm not found (${NPM}): install Node.js and npm (Debian packages nodejs npm)")
endif()
file(MAKE_DIRECTORY "${DEST_DIR}")
file(COPY "${SOURCE_DIR}/package.json" "${SOURCE_DIR}/package-lock.json" DESTINATION "${DEST_DIR}")
execute_process(
  COMMAND "${NPM}" ci --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY "${DEST_DIR}"
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "npm ci in ${DEST_DIR} failed (${result})")
endif()
