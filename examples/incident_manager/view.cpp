// SPDX-License-Identifier: Apache-2.0
#include "view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace incident_manager {

std::vector<std::string> render_rows(const std::vector<BreakerRow>& rows) {
  std::size_t width = 4;
  for (const auto& row : rows) width = std::max(width, row.name.size());
  std::vector<std::string> lines;
  lines.reserve(rows.size());
  for (const auto& row : rows) {
    std::string state = row.state;
    std::transform(state.begin(), state.end(), state.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    std::string open = "-";
    if (row.time_left_open.count() > 0) {
      open = fmt::format("{:.1f}s", static_cast<double>(row.time_left_open.count()) / 1000.0);
    }
    lines.push_back(fmt::format("{:<{}}  {:<9}  calls {:>6}  failed {:>5}  rejected {:>5}  open {}",
                                row.name, width, state, row.calls, row.failures, row.rejections,
                                open));
  }
  return lines;
}

void TerminalView::erase_block() {
  if (!in_place_ || lines_drawn_ == 0) return;
  // Up over the previous block, then clear to the end of the screen.
  out_ << fmt::format("\x1b[{}F\x1b[J", lines_drawn_);
  lines_drawn_ = 0;
}

void TerminalView::draw(const std::vector<BreakerRow>& rows, std::chrono::milliseconds elapsed) {
  erase_block();
  const auto lines = render_rows(rows);
  out_ << fmt::format("-- breakers at {:.1f}s\n", static_cast<double>(elapsed.count()) / 1000.0);
  for (const auto& line : lines) out_ << line << '\n';
  out_.flush();
  if (in_place_) lines_drawn_ = lines.size() + 1;
}

void TerminalView::log(const std::string& line) {
  erase_block();
  out_ << line << '\n';
  out_.flush();
}

}  // namespace incident_manager
