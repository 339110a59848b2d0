/*
 * Daemon plumbing: the pidfile lock (a second instance is refused, a stale
 * file is taken over) and the built-in service manager notifications.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/daemon.h"

Test(daemon, pidfile_lock)
{
	char path[] = "/tmp/test_daemon.XXXXXX";
	char buf[32];
	long other;
	int fd, fd2, tmp;
	pid_t pid;
	int st;

	tmp = mkstemp(path);
	cr_assert(tmp >= 0);
	/* A stale pidfile (nobody holds its lock) is taken over. */
	cr_assert_eq(write(tmp, "999999\n", 7), 7);
	close(tmp);
	fd = daemon_pidfile_open(path, &other);
	cr_assert_geq(fd, 0);
	cr_assert_eq(daemon_pidfile_write(fd), 0);
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	{
		char got[32] = { 0 };
		int r = open(path, O_RDONLY);

		cr_assert_gt(read(r, got, sizeof(got) - 1), 0);
		close(r);
		cr_expect_str_eq(got, buf);
	}
	/* Another process is refused and learns who runs. */
	pid = fork();
	if (pid == 0) {
		long o = 0;
		int f = daemon_pidfile_open(path, &o);

		_exit(f == -EEXIST && o == (long)getppid() ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	daemon_pidfile_remove(path, fd);
	cr_expect_neq(access(path, F_OK), 0);
	fd2 = daemon_pidfile_open(path, &other);
	cr_expect_geq(fd2, 0);
	daemon_pidfile_remove(path, fd2);
}

Test(daemon, notify_outside_a_service_manager_is_a_no_op)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	cr_expect_not(daemon_under_notify());
	daemon_notify("READY=1");
	cr_expect_eq(daemon_watchdog_usec(), 0);
}

Test(daemon, notify_reaches_the_socket)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/test_notify.XXXXXX", buf[256], env[32];
	int fd;
	ssize_t n;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	snprintf(env, sizeof(env), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", env, 1);
	setenv("WATCHDOG_USEC", "30000000", 1);
	cr_expect(daemon_under_notify());
	cr_expect_eq(daemon_watchdog_usec(), 30000000u);
	daemon_notifyf("STATUS=enforcing %s", "plant");
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_expect_str_eq(buf, "STATUS=enforcing plant");
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	close(fd);
	unlink(sa.sun_path);
	rmdir(dir);
}
