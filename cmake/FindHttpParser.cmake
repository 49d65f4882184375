# SPDX-License-Identifier: Apache-2.0
#
# FindHttpParser
# --------------
# Finds the http_parser C library (https://github.com/nodejs/http-parser; Debian
# libhttp-parser-dev), which restinio 0.6 needs and which ships no CMake package.
#
# Imported target:
#   HttpParser::HttpParser   the library and the directory that contains http_parser.h
#
# Result variables:
#   HttpParser_FOUND         TRUE if http_parser.h and the library were found
#
# Cache variables (set them, or HttpParser_ROOT, to pick one):
#   HttpParser_INCLUDE_DIR   the directory that contains http_parser.h
#   HttpParser_LIBRARY       the http_parser library

include(FindPackageHandleStandardArgs)

find_path(HttpParser_INCLUDE_DIR NAMES http_parser.h DOC "Directory containing http_parser.h")
find_library(HttpParser_LIBRARY NAMES http_parser DOC "The http_parser library")
mark_as_advanced(HttpParser_INCLUDE_DIR HttpParser_LIBRARY)

find_package_handle_standard_args(HttpParser
  REQUIRED_VARS HttpParser_LIBRARY HttpParser_INCLUDE_DIR)

if(HttpParser_FOUND AND NOT TARGET HttpParser::HttpParser)
  add_library(HttpParser::HttpParser UNKNOWN IMPORTED)
  set_target_properties(HttpParser::HttpParser PROPERTIES
    IMPORTED_LOCATION "${HttpParser_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${HttpParser_INCLUDE_DIR}")
endif()
