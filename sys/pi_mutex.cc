#include "sys/pi_mutex.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace failover::sys {

namespace {

// The calls below fail only on misuse (an uninitialised or unowned mutex) or when the kernel
// lacks PI futexes: a bug or an unsupported kernel, so it aborts, naming the call.
void check(int error, const char* call) noexcept {
  if (error != 0) {
    std::fprintf(stderr, "failoverd: %s on a priority-inheriting mutex failed: %s\n", call, std::strerror(error));
    std::abort();
  }
}

} // namespace

PiMutex::PiMutex() noexcept : mutex_{} {
  pthread_mutexattr_t attributes;
  check(pthread_mutexattr_init(&attributes), "pthread_mutexattr_init");
  check(pthread_mutexattr_setprotocol(&attributes, PTHREAD_PRIO_INHERIT), "pthread_mutexattr_setprotocol");
  check(pthread_mutex_init(&mutex_, &attributes), "pthread_mutex_init");
  pthread_mutexattr_destroy(&attributes);
}

PiMutex::~PiMutex() { pthread_mutex_destroy(&mutex_); }

void PiMutex::lock() noexcept { check(pthread_mutex_lock(&mutex_), "pthread_mutex_lock"); }

bool PiMutex::try_lock() noexcept {
  const int error = pthread_mutex_trylock(&mutex_);
  if (error == EBUSY) {
    return false;
  }
  check(error, "pthread_mutex_trylock");
  return true;
}

void PiMutex::unlock() noexcept { check(pthread_mutex_unlock(&mutex_), "pthread_mutex_unlock"); }

} // namespace failover::sys
