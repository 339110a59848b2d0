/*
 * Privilege drop for conduitd: after every privileged socket is open the
 * daemon switches to its own user and keeps CAP_NET_ADMIN only, which it
 * needs for later ruleset commits on the netlink socket it already holds.
 * Privilege only ever decreases.
 */
#ifndef CONDUIT_SYS_PRIVDROP_H
#define CONDUIT_SYS_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/* Looks up user; 0, -ENOENT when it does not exist, other -errno. */
int privdrop_lookup(const char *user, uid_t *uid, gid_t *gid);

/*
 * Makes sure dir exists (created with mode, parents not created) and, when
 * created or when chown_existing is set, is owned by uid:gid. Refuses a
 * path that is not a directory or is a symlink. 1 when it was created, 0
 * when it existed, or -errno.
 */
int privdrop_prepare_dir(const char *dir, mode_t mode, uid_t uid, gid_t gid,
			 int chown_existing);
/* Gives an existing directory (not a symlink) to uid, keeping its group:
 * the last step before the drop for runtime directories root filled. */
int privdrop_chown_dir(const char *dir, uid_t uid);

/*
 * Switches to uid:gid with no supplementary groups, keeping only
 * CAP_NET_ADMIN (effective + permitted; inheritable and ambient empty).
 * The bounding set is cleared when the process may (CAP_SETPCAP); under a
 * service manager that already restricts it, it is left as given and
 * *bounding_kept is set. Afterwards the result is verified: a failure to
 * regain root counts as success. 0 or -errno (the caller must exit).
 */
int privdrop_apply(uid_t uid, gid_t gid, int *bounding_kept);

/* "uid=999 gid=995 caps=net_admin" for the log. */
const char *privdrop_describe(char *buf, size_t len);

#endif
