// SPDX-License-Identifier: Apache-2.0
//
// The I/O shells of the senders: each builds its payload (payloads.cpp), makes one
// attempt through breaker::http::Client and classifies the result (delivery.cpp).

#include "breaker/notify/email.hpp"
#include "breaker/notify/error.hpp"
#include "breaker/notify/pagerduty.hpp"
#include "breaker/notify/slack.hpp"
#include "breaker/notify/webhook.hpp"

#include "breaker/http/client.hpp"
#include "breaker/http/error.hpp"

#include <asio/error.hpp>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace breaker::notify {
namespace {

template <class Config>
Config validated(Config config) {
  std::string message;
  if (const auto ec = config.validate(&message)) throw std::system_error(ec, message);
  return config;
}

void require_valid(const Incident& incident) {
  std::string message;
  if (const auto ec = validate(incident, &message)) throw std::system_error(ec, message);
}

// Maps what the HTTP client threw to a delivery result.
DeliveryResult from_exception(const std::system_error& e) {
  DeliveryResult result;
  if (e.code() == asio::error::operation_aborted) {
    result.kind = DeliveryKind::cancelled;
  } else if (e.code().category() == http::curl_category()) {
    result = classify_http_delivery(static_cast<CURLcode>(e.code().value()), 0);
  } else {
    result.kind = DeliveryKind::transient;
  }
  result.detail = e.what();
  return result;
}

asio::awaitable<DeliveryResult> post_json(http::Client& client, std::string url, std::string body,
                                          const std::string& notification_id,
                                          const std::vector<std::pair<std::string, std::string>>& extra,
                                          std::chrono::milliseconds timeout) {
  http::Request request;
  request.method = http::Method::post;
  request.url = std::move(url);
  request.body = std::move(body);
  request.timeout = timeout;
  request.headers.push_back({"Content-Type", "application/json"});
  request.headers.push_back({notification_id_header, notification_id});
  for (const auto& [name, value] : extra) request.headers.push_back({name, value});
  DeliveryResult result;
  try {
    const http::Response response = co_await client.request(std::move(request));
    result = classify_http_delivery(CURLE_OK, response.status);
    if (result.kind != DeliveryKind::delivered && !response.body.empty()) {
      result.detail += ": " + response.body.substr(0, 200);
    }
  } catch (const std::system_error& e) {
    result = from_exception(e);
  } catch (const std::invalid_argument& e) {
    // The request itself is malformed (e.g. a header value): no retry can fix it.
    result.kind = DeliveryKind::permanent;
    result.detail = e.what();
  }
  co_return result;
}

}  // namespace

// --- Slack -------------------------------------------------------------------------------

SlackSender::SlackSender(http::Client& client, SlackConfig config)
    : client_(&client), config_(validated(std::move(config))) {}

asio::awaitable<DeliveryResult> SlackSender::send(const Notification& notification) { return attempt(notification); }

asio::awaitable<DeliveryResult> SlackSender::attempt(Notification notification) {
  require_valid(notification.incident);
  co_return co_await post_json(*client_, config_.webhook_url,
                               slack_payload(notification, config_).dump(), notification.id, {},
                               config_.timeout);
}

asio::awaitable<DeliveryResult> SlackSender::send(const Incident& incident) {
  return attempt(Notification{make_notification_id(), 0, incident});
}

// --- PagerDuty ---------------------------------------------------------------------------

PagerDutySender::PagerDutySender(http::Client& client, PagerDutyConfig config)
    : client_(&client), config_(validated(std::move(config))) {}

asio::awaitable<DeliveryResult> PagerDutySender::send(const Notification& notification) { return attempt(notification); }

asio::awaitable<DeliveryResult> PagerDutySender::attempt(Notification notification) {
  require_valid(notification.incident);
  co_return co_await post_json(*client_, config_.events_url,
                               pagerduty_payload(notification, config_).dump(), notification.id, {},
                               config_.timeout);
}

asio::awaitable<DeliveryResult> PagerDutySender::send(const Incident& incident) {
  return attempt(Notification{make_notification_id(), 0, incident});
}

// --- Webhook -----------------------------------------------------------------------------

WebhookSender::WebhookSender(http::Client& client, WebhookConfig config)
    : client_(&client), config_(validated(std::move(config))) {}

asio::awaitable<DeliveryResult> WebhookSender::send(const Notification& notification) { return attempt(notification); }

asio::awaitable<DeliveryResult> WebhookSender::attempt(Notification notification) {
  require_valid(notification.incident);
  co_return co_await post_json(*client_, config_.url, webhook_payload(notification).dump(),
                               notification.id, config_.headers, config_.timeout);
}

asio::awaitable<DeliveryResult> WebhookSender::send(const Incident& incident) {
  return attempt(Notification{make_notification_id(), 0, incident});
}

// --- E-mail ------------------------------------------------------------------------------

namespace {

struct EasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct ListDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};

struct Upload {
  std::string data;
  std::size_t offset = 0;
};

std::size_t read_upload(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const std::size_t room = size * count;
  const std::size_t n = std::min(room, upload->data.size() - upload->offset);
  std::memcpy(buffer, upload->data.data() + upload->offset, n);
  upload->offset += n;
  return n;
}

}  // namespace

EmailSender::EmailSender(http::Client& client, EmailConfig config)
    : client_(&client), config_(validated(std::move(config))) {}

asio::awaitable<DeliveryResult> EmailSender::send(const Notification& notification) { return attempt(notification); }

asio::awaitable<DeliveryResult> EmailSender::attempt(Notification notification) {
  require_valid(notification.incident);
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) {
    DeliveryResult failed;
    failed.kind = DeliveryKind::transient;
    failed.transport = CURLE_FAILED_INIT;
    failed.detail = "curl_easy_init failed";
    co_return failed;
  }
  std::unique_ptr<curl_slist, ListDeleter> recipients;
  for (const std::string& rcpt : config_.to) {
    curl_slist* next = curl_slist_append(recipients.get(), ("<" + rcpt + ">").c_str());
    if (next == nullptr) throw std::bad_alloc();
    (void)recipients.release();
    recipients.reset(next);
  }
  Upload upload{email_message(notification, config_, std::chrono::system_clock::now()), 0};
  const std::string from = "<" + config_.from + ">";
  CURL* h = easy.get();
  curl_easy_setopt(h, CURLOPT_URL, config_.smtp_url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, recipients.get());
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, &read_upload);
  curl_easy_setopt(h, CURLOPT_READDATA, &upload);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(upload.data.size()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.timeout.count()));
  if (!config_.username.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, config_.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, config_.password.c_str());
  }
  if (config_.require_tls) curl_easy_setopt(h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));

  const std::error_code ec = co_await client_->perform(h);
  DeliveryResult result;
  if (ec == asio::error::operation_aborted) {
    result.kind = DeliveryKind::cancelled;
    result.detail = ec.message();
    co_return result;
  }
  long reply = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply);
  if (!ec || ec.category() == http::curl_category()) {
    result = classify_smtp_delivery(static_cast<CURLcode>(ec.value()), reply);
  } else {
    // curl refused the handle (a CURLMcode): the transport is unwell, try again later.
    result.kind = DeliveryKind::transient;
    result.status = reply;
    result.detail = ec.message();
  }
  co_return result;
}

asio::awaitable<DeliveryResult> EmailSender::send(const Incident& incident) {
  return attempt(Notification{make_notification_id(), 0, incident});
}

}  // namespace breaker::notify
