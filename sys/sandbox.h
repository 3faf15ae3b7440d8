#pragma once

#include "sys/error.h"

#include <sys/types.h>

#include <string>
#include <vector>

namespace failover::sys {

// A system account a process can become (never root).
struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Looks `name` up in the user database; an account that does not exist, or is root, is an
// error naming it and saying how to create one.
Result<Account> lookupAccount(const std::string& name);

// Becomes `account` for good: no supplementary groups, real, effective and saved IDs all the
// account's (the kernel then clears every capability), PR_SET_NO_NEW_PRIVS (no exec can
// give any back). Checks that going back to root fails.
Status becomeAccount(const Account& account);

// What a confined process may still call: these system calls by name (names this kernel does
// not know are skipped), and socket() only for these address families. Anything else fails
// with EPERM.
struct SystemCallPolicy {
  std::vector<std::string> allowed;
  std::vector<int> socket_families;
};

// Installs the policy as a seccomp filter on every thread of the process (TSYNC), for good.
Status confineSystemCalls(const SystemCallPolicy& policy);

} // namespace failover::sys
