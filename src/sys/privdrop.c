/*
 * Privilege drop with libcap-ng. The sequence follows OpenNTPD/relayd:
 * open what needs root, then drop for good, then verify that root cannot
 * be regained.
 */
#include "config.h"

#include "sys/privdrop.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int privdrop_lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL)
		return errno ? -errno : -ENOENT;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int privdrop_prepare_dir(const char *dir, mode_t mode, uid_t uid, gid_t gid,
			 int chown_existing)
{
	struct stat st;
	int created = 0, fd, rc = 0;

	if (mkdir(dir, mode) == 0)
		created = 1;
	else if (errno != EEXIST)
		return -errno;
	/* O_NOFOLLOW + fchown: never chown through a planted symlink. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -ENOTDIR : -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	/* Mode before owner: once the directory is not ours, changing its
	 * mode would need CAP_FOWNER, which a service manager may withhold. */
	if (created && fchmod(fd, mode) < 0) { /* umask */
		rc = -errno;
		goto out;
	}
	if ((created || chown_existing) &&
	    (st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0)
		rc = -errno;
out:
	close(fd);
	return rc < 0 ? rc : created;
}

int privdrop_chown_dir(const char *dir, uid_t uid)
{
	int fd, rc = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchown(fd, uid, (gid_t)-1) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int privdrop_apply(uid_t uid, gid_t gid, int *bounding_kept)
{
	capng_flags_t flags = CAPNG_DROP_SUPP_GRP;
	int rc;

	*bounding_kept = 0;
	if (capng_get_caps_process() < 0)
		return -EPERM;
	/* capng_change_id needs CAP_SETPCAP to clear the bounding set; a
	 * systemd unit with CapabilityBoundingSet= has already cut it. */
	if (capng_have_capability(CAPNG_PERMITTED, CAP_SETPCAP))
		flags |= CAPNG_CLEAR_BOUNDING;
	else
		*bounding_kept = 1;

	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
			 CAP_NET_ADMIN) < 0)
		return -EPERM;
	rc = capng_change_id((int)uid, (int)gid, flags);
	if (rc < 0)
		return -EPERM;

	/* Verify: ids changed everywhere, no way back to root, caps as asked. */
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid || getgroups(0, NULL) != 0)
		return -EPERM;
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return -EPERM;
	if (capng_get_caps_process() < 0)
		return -EPERM;
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_PARTIAL ||
	    !capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_ADMIN) ||
	    capng_have_capability(CAPNG_PERMITTED, CAP_SETUID) ||
	    capng_have_capability(CAPNG_PERMITTED, CAP_SETGID) ||
	    capng_have_capability(CAPNG_PERMITTED, CAP_CHOWN))
		return -EPERM;
	return 0;
}

const char *privdrop_describe(char *buf, size_t len)
{
	char *caps = NULL, *bound = NULL;

	if (capng_get_caps_process() == 0) {
		caps = capng_print_caps_text(CAPNG_PRINT_BUFFER,
					     CAPNG_EFFECTIVE);
		bound = capng_print_caps_text(CAPNG_PRINT_BUFFER,
					      CAPNG_BOUNDING_SET);
	}
	snprintf(buf, len, "uid=%u gid=%u caps=%s bounding=%s",
		 (unsigned)geteuid(), (unsigned)getegid(),
		 caps && *caps ? caps : "none",
		 bound && *bound ? bound : "none");
	free(caps);
	free(bound);
	return buf;
}
