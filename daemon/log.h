#pragma once

#include <sstream>
#include <string_view>

namespace failover::daemon {

enum class LogLevel { Error, Warning, Notice, Info, Debug };
std::string_view toString(LogLevel level);

// Lines go to stderr, which systemd sends to the journal. Under journald (JOURNAL_STREAM set)
// each line starts with a "<N>" syslog priority so the journal keeps the severity.
void setLogLevel(LogLevel level) noexcept;
LogLevel logLevel() noexcept;
bool logEnabled(LogLevel level) noexcept;
void logLine(LogLevel level, std::string_view subject, std::string_view message) noexcept;

// Log{LogLevel::Notice, "vip 198.18.1.10/24"} << "added";  one line per object, written when
// it goes out of scope. The subject says what the line is about.
class Log {
public:
  Log(LogLevel level, std::string_view subject = {}) : level_(level), subject_(subject) {}
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;
  ~Log() { logLine(level_, subject_, out_.str()); }

  template <class T> Log& operator<<(const T& value) {
    out_ << value;
    return *this;
  }

private:
  LogLevel level_;
  std::string_view subject_;
  std::ostringstream out_;
};

} // namespace failover::daemon
