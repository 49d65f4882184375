// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `Spool`: the optional on-disk log of one destination's accepted, not yet finished
/// notifications, so a process restart loses none.
///
/// Format: the append-only file `<dir>/<destination>.spool`, one JSON object per line
/// (written and read with nlohmann-json): `{"op":"add","seq":N,"id":...,"incident":{...}}`
/// when a notification is accepted, `{"op":"done","seq":N}` when it was delivered or
/// finished otherwise (permanent failure, dropped by the overflow rule). An `add` is
/// written and `fdatasync`ed before the notification counts as accepted; a `done` is
/// written without a sync (unless `SpoolOptions::sync_done`): if it is lost in a crash
/// the notification is sent again, which at-least-once delivery allows (receivers drop
/// it by its message id). A process that dies mid-write leaves a torn last line: it is
/// dropped when the spool is opened (and counted in `torn_records()`).

#include "breaker/notify/incident.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace breaker::notify {

/// Settings of a `Spool`.
struct SpoolOptions {
  /// Also `fdatasync` each `done` record (fewer re-sends after a crash, one more sync per
  /// notification).
  bool sync_done = false;
  /// Rewrite the file with only the pending records once this many `done` records have
  /// accumulated while some are still pending (when none is pending the file is simply
  /// truncated). Range >= 1.
  std::size_t compact_after = 1024;
};

/// The spool of one destination.
///
/// Opening takes an exclusive `flock` on `<dir>/<destination>.spool.lock` for the
/// spool's lifetime: a second spool on the same destination (in this or another process)
/// fails with `errc::spool_locked` instead of interleaving records.
///
/// Thread safety: none; `NotifierWithBreaker` serialises its calls. Errors: every I/O
/// failure throws `std::system_error` with the `errno` code and the file name; nothing
/// is then accepted.
class Spool {
 public:
  /// Opens (creating `dir` and the file if needed) and reads the destination's spool.
  /// \throws std::system_error(errc::invalid_config) for a destination that is not
  ///   1..100 of `[A-Za-z0-9._-]`; `errc::spool_locked`; `errc::spool_corrupt` naming the
  ///   file and line of a bad record that is not the torn last one; I/O errors.
  Spool(std::filesystem::path dir, std::string destination, SpoolOptions options = {});
  ~Spool();
  Spool(Spool&& other) noexcept;
  Spool& operator=(Spool&&) = delete;
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  /// The notifications accepted and not finished when the spool was opened, in `seq`
  /// order (what a restarted notifier must replay).
  const std::vector<Notification>& recovered() const noexcept { return recovered_; }
  /// Torn (incomplete) last records dropped when opening.
  std::size_t torn_records() const noexcept { return torn_; }
  /// Notifications accepted and not yet finished.
  std::size_t pending() const noexcept { return pending_.size(); }
  /// The file.
  const std::filesystem::path& path() const noexcept { return path_; }

  /// Accepts `n`: gives it the next `seq`, appends its `add` record and syncs it.
  /// Returns only once the record is on disk. \throws std::system_error on I/O errors
  /// (then `n` is not accepted and the file is unchanged, the partial write cut off).
  void append(Notification& n);

  /// Records that notification `seq` is finished. Unknown or already finished: no effect.
  /// \throws std::system_error on I/O errors.
  void mark_done(std::uint64_t seq);

  /// Rewrites the file with only the pending records (temporary file, sync, rename, sync
  /// of the directory): a crash at any point leaves the old or the new file.
  void compact();

 private:
  void write_line(const std::string& line, bool sync);
  void close() noexcept;

  std::filesystem::path dir_;
  std::filesystem::path path_;
  SpoolOptions options_;
  int fd_ = -1;
  int lock_fd_ = -1;
  std::uint64_t next_seq_ = 1;
  std::size_t done_since_compact_ = 0;
  std::size_t torn_ = 0;
  std::map<std::uint64_t, std::string> pending_;  // seq -> its add record line
  std::vector<Notification> recovered_;
};

}  // namespace breaker::notify
