#pragma once

namespace failover::sys {

// A std::unique_ptr deleter that calls a C library's own free function:
//   using SslPtr = std::unique_ptr<SSL, sys::CDeleter<SSL_free>>;
template <auto FreeFn> struct CDeleter {
  template <class T> void operator()(T* object) const noexcept { FreeFn(object); }
};

} // namespace failover::sys
