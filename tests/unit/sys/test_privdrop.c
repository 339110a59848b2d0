/*
 * Privilege drop, run in a forked child because it cannot be undone: after
 * privdrop_apply the process has the target ids, no supplementary groups,
 * CAP_NET_ADMIN only, an empty bounding set when it had CAP_SETPCAP, and
 * cannot get root back.
 */
#include <criterion/criterion.h>
#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/privdrop.h"

#define NOBODY 65534

/* Runs fn in a child; returns its exit status (0 = all checks held). */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	int st;

	cr_assert(pid >= 0);
	if (pid == 0)
		_exit(fn());
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int drop_full(void)
{
	int kept;

	if (geteuid() != 0)
		return 77;
	if (privdrop_apply(NOBODY, NOBODY, &kept) < 0)
		return 1;
	if (getuid() != NOBODY || geteuid() != NOBODY || getgid() != NOBODY)
		return 2;
	if (getgroups(0, NULL) != 0)
		return 3;
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
		return 4;
	capng_get_caps_process();
	if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_ADMIN) ||
	    !capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN))
		return 5;
	if (capng_have_capability(CAPNG_PERMITTED, CAP_SYS_ADMIN) ||
	    capng_have_capability(CAPNG_PERMITTED, CAP_SETUID) ||
	    capng_have_capability(CAPNG_PERMITTED, CAP_DAC_OVERRIDE) ||
	    capng_have_capability(CAPNG_INHERITABLE, CAP_NET_ADMIN))
		return 6;
	if (kept)
		return 7; /* root had CAP_SETPCAP: the bounding set goes */
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			return 8;
	return 0;
}

Test(privdrop, keeps_only_net_admin_and_cannot_return)
{
	int rc = in_child(drop_full);

	if (rc == 77)
		cr_skip_test("needs root");
	cr_expect_eq(rc, 0, "check %d failed", rc);
}

/* As under systemd's CapabilityBoundingSet= without CAP_SETPCAP. */
static int drop_restricted_bounding(void)
{
	int kept;

	if (geteuid() != 0)
		return 77;
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (c != CAP_NET_ADMIN && c != CAP_SETUID && c != CAP_SETGID &&
		    c != CAP_CHOWN && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
		    errno != EINVAL)
			return 10;
	capng_get_caps_process();
	capng_update(CAPNG_DROP, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
		     CAP_SETPCAP);
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		return 11;
	if (privdrop_apply(NOBODY, NOBODY, &kept) < 0)
		return 1;
	if (!kept)
		return 2;
	if (geteuid() != NOBODY || setuid(0) == 0)
		return 3;
	capng_get_caps_process();
	if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_ADMIN) ||
	    capng_have_capability(CAPNG_PERMITTED, CAP_CHOWN))
		return 4;
	return 0;
}

Test(privdrop, works_under_a_restricted_bounding_set)
{
	int rc = in_child(drop_restricted_bounding);

	if (rc == 77)
		cr_skip_test("needs root");
	cr_expect_eq(rc, 0, "check %d failed", rc);
}

Test(privdrop, lookup)
{
	uid_t u;
	gid_t g;

	cr_expect_eq(privdrop_lookup("root", &u, &g), 0);
	cr_expect_eq(u, 0);
	cr_expect_eq(privdrop_lookup("no-such-user-conduitd-test", &u, &g),
		     -ENOENT);
}

Test(privdrop, prepare_dir)
{
	char dir[] = "/tmp/test_privdrop.XXXXXX", sub[64], link[64];
	struct stat st;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/state", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	cr_expect_eq(privdrop_prepare_dir(sub, 0750, NOBODY, NOBODY, 0), 1);
	cr_assert_eq(stat(sub, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0750);
	cr_expect_eq(st.st_uid, NOBODY);
	cr_expect_eq(st.st_gid, NOBODY);
	cr_expect_eq(privdrop_prepare_dir(sub, 0750, 0, 0, 0), 0, "exists");
	cr_assert_eq(stat(sub, &st), 0);
	cr_expect_eq(st.st_uid, NOBODY, "left alone without chown_existing");
	cr_expect_eq(privdrop_prepare_dir(sub, 0750, 0, 0, 1), 0);
	cr_assert_eq(stat(sub, &st), 0);
	cr_expect_eq(st.st_uid, 0);
	/* A planted symlink is refused, its target untouched. */
	cr_assert_eq(symlink(sub, link), 0);
	cr_expect_lt(privdrop_prepare_dir(link, 0750, NOBODY, NOBODY, 1), 0);
	cr_expect_lt(privdrop_chown_dir(link, NOBODY), 0);
	cr_assert_eq(stat(sub, &st), 0);
	cr_expect_eq(st.st_uid, 0);
	cr_expect_eq(privdrop_chown_dir(sub, NOBODY), 0);
	cr_assert_eq(stat(sub, &st), 0);
	cr_expect_eq(st.st_uid, NOBODY);
	cr_expect_eq(st.st_gid, 0, "group kept");
	unlink(link);
	rmdir(sub);
	rmdir(dir);
}
