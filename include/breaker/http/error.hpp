// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Error categories of the HTTP component: curl's easy (`CURLcode`) and
/// multi (`CURLMcode`) result codes as `std::error_code`.

#include <curl/curl.h>

#include <system_error>

namespace breaker::http {

/// The category of `CURLcode` values (`CURLE_*`). Its messages are
/// `curl_easy_strerror`'s. Its name is "curl". One object (defined in the
/// component's library), so codes compare equal across translation units.
const std::error_category& curl_category() noexcept;

/// The category of `CURLMcode` values (`CURLM_*`), named "curl-multi".
const std::error_category& curl_multi_category() noexcept;

/// `std::error_code{code, curl_category()}`; `CURLE_OK` is the zero code.
inline std::error_code make_error_code(CURLcode code) noexcept {
  return {static_cast<int>(code), curl_category()};
}

/// `std::error_code{code, curl_multi_category()}`; `CURLM_OK` is the zero code.
inline std::error_code make_error_code(CURLMcode code) noexcept {
  return {static_cast<int>(code), curl_multi_category()};
}

}  // namespace breaker::http
