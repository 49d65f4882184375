// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The `Sender` concept every destination meets, so `NotifierWithBreaker<Sender>` can
/// wrap any of them (and users' own).

#include "breaker/notify/delivery.hpp"
#include "breaker/notify/incident.hpp"

#include <asio/awaitable.hpp>

#include <concepts>
#include <string>

namespace breaker::http {
class Client;  // the transport (component breaker::http); senders hold a reference
}

namespace breaker::notify {

/// A destination: `send(notification)` makes one delivery attempt and returns its
/// classified result; `destination()` names it (used for the breaker name and the spool
/// file name: letters, digits, `.`, `_`, `-`).
///
/// A sender reports delivery failures as a `DeliveryResult`, never as an exception;
/// it throws only for a notification that cannot be sent at all (an invalid incident,
/// `errc::invalid_incident`) and on cancellation of the awaiting coroutine
/// (`DeliveryKind::cancelled` is returned instead where the transport reports it).
template <class S>
concept Sender = requires(S& sender, const Notification& notification) {
  { sender.send(notification) } -> std::same_as<asio::awaitable<DeliveryResult>>;
  { sender.destination() } -> std::convertible_to<std::string>;
};

/// The header every HTTP sender adds with the notification's message id, so that
/// receivers (and the tests' sinks) can drop the duplicates at-least-once delivery allows.
inline constexpr const char* notification_id_header = "X-Breaker-Notification-Id";

}  // namespace breaker::notify
