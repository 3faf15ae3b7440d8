#include "sys/sandbox.h"

#include "sys/c_deleter.h"

#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <memory>

namespace failover::sys {

Result<Account> lookupAccount(const std::string& name) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (const int err = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found); err != 0) {
    return std::unexpected(systemError("looking up user '" + name + "'", err));
  }
  if (found == nullptr) {
    return fail(Errc::NotFound, "user '" + name + "' does not exist: create it (adduser --system --group " + name +
                                    "), or name another with tls-user");
  }
  if (found->pw_uid == 0) {
    return fail(Errc::InvalidArgument, "user '" + name + "' is root: the TLS service must run unprivileged");
  }
  return Account{name, found->pw_uid, found->pw_gid};
}

Status becomeAccount(const Account& account) {
  if (::setgroups(0, nullptr) < 0) {
    return std::unexpected(systemError("setgroups"));
  }
  if (::setresgid(account.gid, account.gid, account.gid) < 0) {
    return std::unexpected(systemError("setresgid(" + std::to_string(account.gid) + ")"));
  }
  if (::setresuid(account.uid, account.uid, account.uid) < 0) {
    return std::unexpected(systemError("setresuid(" + std::to_string(account.uid) + ")"));
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    return std::unexpected(systemError("prctl(PR_SET_NO_NEW_PRIVS)"));
  }
  if (::setuid(0) == 0 || ::geteuid() == 0) {
    return fail(Errc::PermissionDenied, "dropped to user '" + account.name + "' but could become root again");
  }
  return {};
}

Status confineSystemCalls(const SystemCallPolicy& policy) {
  using FilterPtr = std::unique_ptr<void, CDeleter<seccomp_release>>;
  const FilterPtr filter(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
  if (!filter) {
    return fail(Errc::System, "seccomp_init failed");
  }
  const auto check = [](int rc, const std::string& what) -> Status {
    if (rc < 0) {
      return std::unexpected(systemError("seccomp: " + what, -rc));
    }
    return {};
  };
  if (auto set = check(seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_TSYNC, 1), "TSYNC"); !set) {
    return set;
  }
  for (const auto& name : policy.allowed) {
    const int number = seccomp_syscall_resolve_name(name.c_str());
    if (number == __NR_SCMP_ERROR) {
      continue; // not a system call of this architecture or kernel
    }
    if (auto added = check(seccomp_rule_add(filter.get(), SCMP_ACT_ALLOW, number, 0), "allowing " + name); !added) {
      return added;
    }
  }
  for (const int family : policy.socket_families) {
    // socket()'s first argument, the address family, equal to this one.
    const scmp_arg_cmp family_is{0, SCMP_CMP_EQ, static_cast<scmp_datum_t>(family), 0};
    if (auto added = check(seccomp_rule_add_array(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, &family_is),
                           "allowing socket family " + std::to_string(family));
        !added) {
      return added;
    }
  }
  return check(seccomp_load(filter.get()), "loading the filter");
}

} // namespace failover::sys
