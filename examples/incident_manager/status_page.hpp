// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The status page (status_page/index.html, status.js, status.css), embedded into the demo at
/// build time (CMake reads the files into the generated status_page_files.cpp), so the demo
/// serves it without looking up any path at run time.

#include <span>
#include <string_view>

namespace incident_manager {

struct EmbeddedFile {
  std::string_view path;          ///< URL path, e.g. "/status.js" ("/" for index.html)
  std::string_view content_type;  ///< e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

/// The page's files, index.html first.
std::span<const EmbeddedFile> status_page_files() noexcept;

}  // namespace incident_manager
