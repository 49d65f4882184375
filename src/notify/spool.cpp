// SPDX-License-Identifier: Apache-2.0

#include "breaker/notify/spool.hpp"
#include "breaker/notify/error.hpp"

#include "text.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace breaker::notify {
namespace {

[[noreturn]] void throw_errno(const std::string& what, const std::filesystem::path& path) {
  throw std::system_error(errno, std::generic_category(), what + " " + path.string());
}

void write_all(int fd, const char* data, std::size_t size, const std::filesystem::path& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("spool: write to", path);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void sync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("spool: open directory", dir);
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) {
    errno = saved;
    throw_errno("spool: fsync directory", dir);
  }
}

std::string read_all(int fd, const std::filesystem::path& path) {
  std::string content;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("spool: read", path);
    }
    if (n == 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
  }
  return content;
}

[[noreturn]] void corrupt(const std::filesystem::path& path, std::size_t line, const std::string& why) {
  throw std::system_error(make_error_code(errc::spool_corrupt),
                          path.string() + ":" + std::to_string(line) + ": " + why);
}

}  // namespace

Spool::Spool(std::filesystem::path dir, std::string destination, SpoolOptions options)
    : dir_(std::move(dir)), options_(options) {
  if (!detail::valid_destination_name(destination)) {
    throw std::system_error(make_error_code(errc::invalid_config),
                            "spool destination name must be 1..100 of [A-Za-z0-9._-]: '" +
                                detail::one_line(destination) + "'");
  }
  if (options_.compact_after < 1) {
    throw std::system_error(make_error_code(errc::invalid_config), "SpoolOptions::compact_after must be >= 1");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw std::system_error(ec, "spool: create directory " + dir_.string());
  path_ = dir_ / (destination + ".spool");
  const std::filesystem::path lock_path = dir_ / (destination + ".spool.lock");

  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) throw_errno("spool: open", lock_path);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int saved = errno;
    close();
    if (saved == EWOULDBLOCK) {
      throw std::system_error(make_error_code(errc::spool_locked), lock_path.string());
    }
    errno = saved;
    throw_errno("spool: lock", lock_path);
  }

  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int saved = errno;
    close();
    errno = saved;
    throw_errno("spool: open", path_);
  }
  try {
    sync_dir(dir_);  // the file's directory entry must survive a crash too
    const std::string content = read_all(fd_, path_);
    std::size_t good_length = 0;  // bytes up to the end of the last complete line
    std::size_t line_no = 0;
    std::size_t pos = 0;
    std::uint64_t max_seq = 0;
    while (pos < content.size()) {
      const std::size_t end = content.find('\n', pos);
      if (end == std::string::npos) {
        ++torn_;  // a write cut short by a crash: never acknowledged, drop it
        break;
      }
      ++line_no;
      const std::string line = content.substr(pos, end - pos);
      pos = end + 1;
      good_length = pos;
      if (line.empty()) continue;
      nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
      if (record.is_discarded() || !record.is_object()) corrupt(path_, line_no, "not a JSON object");
      try {
        const std::string op = record.at("op").get<std::string>();
        const auto seq = record.at("seq").get<std::uint64_t>();
        if (op == "add") {
          if (seq <= max_seq) corrupt(path_, line_no, "sequence numbers not increasing");
          max_seq = seq;
          Notification n;
          n.seq = seq;
          n.id = record.at("id").get<std::string>();
          n.incident = detail::incident_from_record(record.at("incident"));
          pending_.emplace(seq, line);
          recovered_.push_back(std::move(n));
        } else if (op == "done") {
          if (pending_.erase(seq) == 0) corrupt(path_, line_no, "done record for an unknown notification");
          ++done_since_compact_;
        } else {
          corrupt(path_, line_no, "unknown op '" + op + "'");
        }
      } catch (const nlohmann::json::exception& e) {
        corrupt(path_, line_no, e.what());
      } catch (const std::system_error& e) {
        if (e.code() == errc::spool_corrupt) throw;
        corrupt(path_, line_no, e.what());
      }
    }
    next_seq_ = max_seq + 1;
    std::erase_if(recovered_, [&](const Notification& n) { return pending_.count(n.seq) == 0; });
    if (torn_ > 0 && ::ftruncate(fd_, static_cast<off_t>(good_length)) != 0) {
      throw_errno("spool: truncate torn record of", path_);
    }
    if (pending_.empty() && good_length > 0) {
      if (::ftruncate(fd_, 0) != 0) throw_errno("spool: truncate", path_);
      done_since_compact_ = 0;
    } else if (done_since_compact_ > 0) {
      compact();
    }
  } catch (...) {
    close();
    throw;
  }
}

Spool::~Spool() { close(); }

Spool::Spool(Spool&& other) noexcept
    : dir_(std::move(other.dir_)),
      path_(std::move(other.path_)),
      options_(other.options_),
      fd_(std::exchange(other.fd_, -1)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      next_seq_(other.next_seq_),
      done_since_compact_(other.done_since_compact_),
      torn_(other.torn_),
      pending_(std::move(other.pending_)),
      recovered_(std::move(other.recovered_)) {}

void Spool::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // closing releases the flock
  fd_ = -1;
  lock_fd_ = -1;
}

void Spool::write_line(const std::string& line, bool sync) {
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  if (before < 0) throw_errno("spool: seek", path_);
  const std::string text = line + '\n';
  try {
    write_all(fd_, text.data(), text.size(), path_);
    if (sync && ::fdatasync(fd_) != 0) throw_errno("spool: fdatasync", path_);
  } catch (...) {
    // Cut off whatever part of the record reached the file: it was not accepted.
    if (::ftruncate(fd_, before) != 0) {
      // Nothing more we can do; the torn tail is dropped at the next open.
    }
    throw;
  }
}

void Spool::append(Notification& n) {
  nlohmann::json record;
  record["op"] = "add";
  record["seq"] = next_seq_;
  record["id"] = n.id;
  record["incident"] = detail::incident_to_record(n.incident);
  const std::string line = record.dump();
  write_line(line, true);
  n.seq = next_seq_++;
  pending_.emplace(n.seq, line);
}

void Spool::mark_done(std::uint64_t seq) {
  if (pending_.count(seq) == 0) return;
  if (pending_.size() == 1) {
    // The last pending one: an empty file says the same as add + done, and stays small.
    if (::ftruncate(fd_, 0) != 0) throw_errno("spool: truncate", path_);
    if (options_.sync_done && ::fdatasync(fd_) != 0) throw_errno("spool: fdatasync", path_);
    pending_.clear();
    done_since_compact_ = 0;
    return;
  }
  nlohmann::json record;
  record["op"] = "done";
  record["seq"] = seq;
  write_line(record.dump(), options_.sync_done);
  pending_.erase(seq);
  if (++done_since_compact_ >= options_.compact_after) compact();
}

void Spool::compact() {
  const std::filesystem::path tmp = path_.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno("spool: open", tmp);
  try {
    std::string content;
    for (const auto& entry : pending_) content += entry.second + '\n';
    write_all(fd, content.data(), content.size(), tmp);
    if (::fdatasync(fd) != 0) throw_errno("spool: fdatasync", tmp);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) throw_errno("spool: rename to", path_);
  sync_dir(dir_);
  const int new_fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (new_fd < 0) throw_errno("spool: reopen", path_);
  ::close(fd_);
  fd_ = new_fd;
  done_since_compact_ = 0;
}

}  // namespace breaker::notify
