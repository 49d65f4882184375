// SPDX-License-Identifier: Apache-2.0

#include "breaker/http/error.hpp"

#include <curl/curl.h>

#include <string>

namespace breaker::http {
namespace {

class CurlCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "curl"; }
  std::string message(int code) const override {
    return curl_easy_strerror(static_cast<CURLcode>(code));
  }
};

class CurlMultiCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "curl-multi"; }
  std::string message(int code) const override {
    return curl_multi_strerror(static_cast<CURLMcode>(code));
  }
};

}  // namespace

const std::error_category& curl_category() noexcept {
  static const CurlCategory category;
  return category;
}

const std::error_category& curl_multi_category() noexcept {
  static const CurlMultiCategory category;
  return category;
}

}  // namespace breaker::http
