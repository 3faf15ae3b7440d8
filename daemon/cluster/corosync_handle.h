#pragma once

#include <corosync/cpg.h>
#include <corosync/quorum.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace failover::daemon::cluster {

// Owns one Corosync client handle (cpg_handle_t, quorum_handle_t are integers, not pointers,
// so std::unique_ptr does not fit); Finalize is the library's own finalize call.
template <class Handle, cs_error_t (*Finalize)(Handle)> class CorosyncHandle {
public:
  CorosyncHandle() = default;
  explicit CorosyncHandle(Handle handle) noexcept : handle_(handle), valid_(true) {}
  CorosyncHandle(CorosyncHandle&& other) noexcept
      : handle_(other.handle_), valid_(std::exchange(other.valid_, false)) {}
  CorosyncHandle& operator=(CorosyncHandle&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = other.handle_;
      valid_ = std::exchange(other.valid_, false);
    }
    return *this;
  }
  CorosyncHandle(const CorosyncHandle&) = delete;
  CorosyncHandle& operator=(const CorosyncHandle&) = delete;
  ~CorosyncHandle() { reset(); }

  Handle get() const noexcept { return handle_; }
  explicit operator bool() const noexcept { return valid_; }
  void reset() noexcept {
    if (valid_) {
      Finalize(handle_);
      valid_ = false;
    }
  }

private:
  Handle handle_{};
  bool valid_ = false;
};

using CpgHandle = CorosyncHandle<cpg_handle_t, cpg_finalize>;
using QuorumHandle = CorosyncHandle<quorum_handle_t, quorum_finalize>;

// Connects to Corosync's CPG service in model v1, with the model's callbacks and flags, and
// `context` for cpg_context_get; or the library's error.
inline std::expected<CpgHandle, cs_error_t> openCpg(cpg_model_v1_data_t model, void* context) {
  model.model = CPG_MODEL_V1;
  cpg_handle_t handle = 0;
  if (const auto rc = cpg_model_initialize(&handle, CPG_MODEL_V1, reinterpret_cast<cpg_model_data_t*>(&model),
                                           context);
      rc != CS_OK) {
    return std::unexpected(rc);
  }
  return CpgHandle(handle);
}

// Connects to Corosync's quorum service in model v1, with the model's callbacks, and `context`
// for quorum_context_get; or the library's error.
inline std::expected<QuorumHandle, cs_error_t> openQuorum(quorum_model_v1_data_t model, void* context) {
  model.model = QUORUM_MODEL_V1;
  quorum_handle_t handle = 0;
  std::uint32_t quorum_type = 0;
  if (const auto rc = quorum_model_initialize(&handle, QUORUM_MODEL_V1,
                                              reinterpret_cast<quorum_model_data_t*>(&model), &quorum_type,
                                              context);
      rc != CS_OK) {
    return std::unexpected(rc);
  }
  return QuorumHandle(handle);
}

// A CPG group name as cpg_join wants it; names longer than CPG_MAX_NAME_LENGTH are cut, which the
// configuration rules out for the daemon's own group.
inline cpg_name cpgGroupName(std::string_view group) {
  cpg_name name{};
  name.length = static_cast<uint32_t>(std::min(group.size(), sizeof name.value));
  std::memcpy(name.value, group.data(), name.length);
  return name;
}

// Corosync's cs_error_t as text for messages ("CS_ERR_TRY_AGAIN (6)").
inline std::string describe(cs_error_t error) {
  const char* name = "unknown error";
  switch (error) {
  case CS_OK: name = "CS_OK"; break;
  case CS_ERR_LIBRARY: name = "CS_ERR_LIBRARY (is corosync running?)"; break;
  case CS_ERR_TRY_AGAIN: name = "CS_ERR_TRY_AGAIN"; break;
  case CS_ERR_INVALID_PARAM: name = "CS_ERR_INVALID_PARAM"; break;
  case CS_ERR_NO_MEMORY: name = "CS_ERR_NO_MEMORY"; break;
  case CS_ERR_BAD_HANDLE: name = "CS_ERR_BAD_HANDLE"; break;
  case CS_ERR_ACCESS: name = "CS_ERR_ACCESS"; break;
  case CS_ERR_NOT_EXIST: name = "CS_ERR_NOT_EXIST"; break;
  case CS_ERR_EXIST: name = "CS_ERR_EXIST"; break;
  case CS_ERR_QUEUE_FULL: name = "CS_ERR_QUEUE_FULL"; break;
  case CS_ERR_NOT_SUPPORTED: name = "CS_ERR_NOT_SUPPORTED"; break;
  default: break;
  }
  return std::string(name) + " (" + std::to_string(static_cast<int>(error)) + ")";
}

} // namespace failover::daemon::cluster
