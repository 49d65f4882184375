# SPDX-License-Identifier: Apache-2.0
#
# FindAsio
# --------
# Finds standalone Asio (https://think-async.com/Asio/), which ships neither a CMake package nor
# a pkg-config file (e.g. Debian's libasio-dev 1.22.1).
#
# Imported target:
#   Asio::Asio        INTERFACE target: the include directory, ASIO_STANDALONE, Threads::Threads
#
# Result variables:
#   Asio_FOUND        TRUE if asio.hpp and asio/version.hpp were found
#   Asio_VERSION      e.g. 1.22.1, read from ASIO_VERSION in asio/version.hpp
#   Asio_INCLUDE_DIRS the directory that contains asio.hpp
#
# Cache variable:
#   Asio_INCLUDE_DIR  the directory that contains asio.hpp (set it, or Asio_ROOT, to pick one)

include(FindPackageHandleStandardArgs)

find_path(Asio_INCLUDE_DIR
  NAMES asio.hpp
  DOC "Directory containing the standalone Asio header asio.hpp")
mark_as_advanced(Asio_INCLUDE_DIR)

if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  # "#define ASIO_VERSION 102201 // 1.22.1": XXYYYZZ = major * 100000 + minor * 100 + patch.
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
    REGEX "^#[ \t]*define[ \t]+ASIO_VERSION[ \t]+[0-9]+")
  if(_asio_version_line MATCHES "ASIO_VERSION[ \t]+([0-9]+)")
    math(EXPR _asio_major "${CMAKE_MATCH_1} / 100000")
    math(EXPR _asio_minor "${CMAKE_MATCH_1} / 100 % 1000")
    math(EXPR _asio_patch "${CMAKE_MATCH_1} % 100")
    set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
  endif()
  unset(_asio_version_line)
  unset(_asio_major)
  unset(_asio_minor)
  unset(_asio_patch)
endif()

find_package_handle_standard_args(Asio
  REQUIRED_VARS Asio_INCLUDE_DIR
  VERSION_VAR Asio_VERSION)

if(Asio_FOUND)
  set(Asio_INCLUDE_DIRS "${Asio_INCLUDE_DIR}")
  if(NOT TARGET Asio::Asio)
    # Asio's own threads (and std::thread users) need the platform thread library.
    if(NOT TARGET Threads::Threads)
      find_package(Threads REQUIRED)
    endif()
    add_library(Asio::Asio INTERFACE IMPORTED)
    set_target_properties(Asio::Asio PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
      INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE"
      INTERFACE_LINK_LIBRARIES "Threads::Threads")
  endif()
endif()
