#include "daemon/log.h"

#include "sys/pi_mutex.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace failover::daemon {

std::string_view toString(LogLevel level) {
  switch (level) {
  case LogLevel::Error:
    return "error";
  case LogLevel::Warning:
    return "warning";
  case LogLevel::Notice:
    return "notice";
  case LogLevel::Info:
    return "info";
  case LogLevel::Debug:
    return "debug";
  }
  return "notice";
}

namespace {

std::atomic<LogLevel> current_level{LogLevel::Notice};
// Shared by the agent's real-time thread and the TLS workers.
sys::PiMutex output_mutex;

int syslogPriority(LogLevel level) {
  switch (level) {
  case LogLevel::Error:
    return 3;
  case LogLevel::Warning:
    return 4;
  case LogLevel::Notice:
    return 5;
  case LogLevel::Info:
    return 6;
  case LogLevel::Debug:
    return 7;
  }
  return 5;
}

bool underJournal() {
  static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  return journal;
}

} // namespace

void setLogLevel(LogLevel level) noexcept { current_level = level; }

LogLevel logLevel() noexcept { return current_level.load(); }

bool logEnabled(LogLevel level) noexcept {
  return static_cast<int>(level) <= static_cast<int>(current_level.load());
}

void logLine(LogLevel level, std::string_view subject, std::string_view message) noexcept {
  if (!logEnabled(level)) {
    return;
  }
  try {
    std::string line;
    if (underJournal()) {
      line = "<" + std::to_string(syslogPriority(level)) + ">";
    } else {
      line = std::string(toString(level)) + ": ";
    }
    if (!subject.empty()) {
      line += "[";
      line += subject;
      line += "] ";
    }
    line += message;
    line += '\n';
    const std::lock_guard lock(output_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
  } catch (...) {
    // Logging must never take the daemon down; a line lost under memory pressure is accepted.
  }
}

} // namespace failover::daemon
