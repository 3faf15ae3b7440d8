#include "sys/offload.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <exception>

namespace failover::sys {

namespace {

Result<std::pair<UniqueFd, UniqueFd>> makePipe(int read_flags) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return std::unexpected(systemError("pipe2"));
  }
  UniqueFd out(fds[0]);
  UniqueFd in(fds[1]);
  if (read_flags != 0 && ::fcntl(out.get(), F_SETFL, read_flags) != 0) {
    return std::unexpected(systemError("fcntl"));
  }
  return std::pair{std::move(in), std::move(out)};
}

// A pointer fits in one pipe write (PIPE_BUF is at least 512 bytes), so each write and read
// moves exactly one.
bool writePointer(int fd, const void* pointer) noexcept {
  for (;;) {
    const auto n = ::write(fd, &pointer, sizeof pointer);
    if (n == static_cast<ssize_t>(sizeof pointer)) {
      return true;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    return false;
  }
}

// Returns false at end of file, on EAGAIN, or an error.
bool readPointer(int fd, void*& pointer) noexcept {
  for (;;) {
    const auto n = ::read(fd, &pointer, sizeof pointer);
    if (n == static_cast<ssize_t>(sizeof pointer)) {
      return true;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    return false;
  }
}

} // namespace

Result<std::unique_ptr<Offload>> Offload::create(EventLoop& loop) {
  auto jobs = makePipe(0);
  if (!jobs) {
    return std::unexpected(jobs.error());
  }
  auto done = makePipe(O_NONBLOCK);
  if (!done) {
    return std::unexpected(done.error());
  }
  std::unique_ptr<Offload> offload(new Offload(loop, std::move(jobs->first), std::move(jobs->second),
                                               std::move(done->first), std::move(done->second)));
  if (auto added = loop.add(offload->done_out_.get(), EPOLLIN,
                            [raw = offload.get()](std::uint32_t) { raw->complete(false); });
      !added) {
    return std::unexpected(added.error());
  }
  // The thread starts with every signal blocked, whatever the caller's mask is now.
  sigset_t all;
  sigset_t before;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &before);
  try {
    offload->helper_ = std::thread([raw = offload.get()] { raw->work(); });
  } catch (const std::system_error& error) {
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    loop.remove(offload->done_out_.get());
    return fail(Errc::System, std::string("cannot start the helper thread: ") + error.what());
  }
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  return offload;
}

Offload::Offload(EventLoop& loop, UniqueFd jobs_in, UniqueFd jobs_out, UniqueFd done_in, UniqueFd done_out)
    : loop_(loop), jobs_in_(std::move(jobs_in)), jobs_out_(std::move(jobs_out)), done_in_(std::move(done_in)),
      done_out_(std::move(done_out)) {}

Offload::~Offload() {
  finish();
  // End of file on the job pipe stops the helper.
  jobs_in_.reset();
  helper_.join();
  loop_.remove(done_out_.get());
}

void Offload::post(Job job, Done done) {
  auto task = std::make_unique<Task>(Task{std::move(job), std::move(done), {}});
  if (!writePointer(jobs_in_.get(), task.get())) {
    // Cannot happen short of a broken pipe; then the job runs here rather than being lost.
    task->status = task->job();
    task->done(task->status);
    return;
  }
  (void)task.release(); // the helper owns it until it comes back on the done pipe
  ++pending_;
}

void Offload::work() noexcept {
  void* pointer = nullptr;
  while (readPointer(jobs_out_.get(), pointer)) {
    auto* task = static_cast<Task*>(pointer);
    try {
      task->status = task->job();
    } catch (const std::exception& error) {
      task->status = fail(Errc::System, error.what());
    }
    if (!writePointer(done_in_.get(), task)) {
      delete task; // the loop's end is gone: nobody waits for this completion
    }
  }
}

void Offload::complete(bool wait) {
  while (pending_ > 0) {
    void* pointer = nullptr;
    if (!readPointer(done_out_.get(), pointer)) {
      if (!wait || errno != EAGAIN) {
        return;
      }
      pollfd readable{done_out_.get(), POLLIN, 0};
      (void)::poll(&readable, 1, -1);
      continue;
    }
    std::unique_ptr<Task> task(static_cast<Task*>(pointer));
    --pending_;
    if (task->done) {
      task->done(task->status);
    }
  }
}

void Offload::finish() { complete(true); }

} // namespace failover::sys
