# SPDX-License-Identifier: Apache-2.0
#
# cmake -DNPM=<npm> -DSOURCE_DIR=<dir with package.json + package-lock.json> -DDEST_DIR=<build dir>
#       -P npm_ci.cmake
# Installs the pinned npm packages of SOURCE_DIR into DEST_DIR/node_modules with `npm ci` (exact
# versions of the lock file). Run by the ctest fixtures of tests/ops; node_modules never lands in
# the source tree. When DEST_DIR already holds an install of the same lock file (a stamp written
# after a successful `npm ci`), it is kept: re-running the tests does not download again.
foreach(var NPM SOURCE_DIR DEST_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "npm_ci.cmake: -D${var}= is required")
  endif()
endforeach()
if(NOT EXISTS "${NPM}")
  message(FATAL_ERROR "npm not found (${NPM}): install Node.js and npm (Debian packages nodejs npm)")
endif()
set(stamp "${DEST_DIR}/installed-package-lock.json")
if(EXISTS "${stamp}" AND EXISTS "${DEST_DIR}/node_modules")
  file(SHA256 "${SOURCE_DIR}/package-lock.json" wanted)
  file(SHA256 "${stamp}" installed)
  file(SHA256 "${SOURCE_DIR}/package.json" wanted_manifest)
  file(SHA256 "${DEST_DIR}/package.json" installed_manifest)
  if(wanted STREQUAL installed AND wanted_manifest STREQUAL installed_manifest)
    message(STATUS "${DEST_DIR}: the packages of this package-lock.json are installed")
    return()
  endif()
endif()
file(REMOVE "${stamp}")
file(MAKE_DIRECTORY "${DEST_DIR}")
file(COPY "${SOURCE_DIR}/package.json" "${SOURCE_DIR}/package-lock.json" DESTINATION "${DEST_DIR}")
execute_process(
  COMMAND "${NPM}" ci --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY "${DEST_DIR}"
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "npm ci in ${DEST_DIR} failed (${result})")
endif()
file(COPY_FILE "${SOURCE_DIR}/package-lock.json" "${stamp}")
