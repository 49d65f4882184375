// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The demo's compact live view: one line per breaker. On a terminal it redraws the lines in
/// place (ANSI cursor movement); otherwise it prints a block of plain lines now and then.

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace incident_manager {

/// What the view shows of one breaker.
struct BreakerRow {
  std::string name;
  std::string state;  ///< "closed", "open", "half-open", ...
  std::uint64_t calls = 0;
  std::uint64_t failures = 0;
  std::uint64_t rejections = 0;
  /// Time left until the breaker admits probes (0 unless open).
  std::chrono::milliseconds time_left_open{0};
};

/// One aligned line per row, no escape codes: "name  STATE  calls N  failed N  rejected N  open Ns".
std::vector<std::string> render_rows(const std::vector<BreakerRow>& rows);

/// Draws rows to a stream. With `redraw_in_place` (a TTY), each draw moves the cursor up over
/// the previous block and overwrites it; otherwise each draw appends a block after a header line.
/// Not thread-safe: draw from one thread.
class TerminalView {
 public:
  TerminalView(std::ostream& out, bool redraw_in_place) : out_(out), in_place_(redraw_in_place) {}

  void draw(const std::vector<BreakerRow>& rows, std::chrono::milliseconds elapsed);

  /// Prints `line` above the live block (a transition log line) without corrupting it.
  void log(const std::string& line);

 private:
  void erase_block();

  std::ostream& out_;
  bool in_place_;
  std::size_t lines_drawn_ = 0;
};

}  // namespace incident_manager
