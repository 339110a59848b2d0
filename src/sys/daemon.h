/*
 * Daemon plumbing: classic detach (double fork, setsid), the pidfile with
 * its lock, and the service manager protocol (sd_notify, watchdog). With
 * libsystemd absent the notify protocol is spoken directly, so Type=notify
 * works either way; outside systemd every notify call is a no-op.
 */
#ifndef CONDUIT_SYS_DAEMON_H
#define CONDUIT_SYS_DAEMON_H

#include <stdint.h>

/*
 * Creates (or takes over a stale) pidfile and holds an exclusive lock on
 * it for the life of the process; the lock, not the file's existence,
 * tells whether another instance runs. Returns the fd, -EEXIST when a
 * running instance holds it (*other_pid set when readable), or -errno.
 */
int daemon_pidfile_open(const char *path, long *other_pid);
/* Writes getpid() into the locked pidfile (after daemon_detach). */
int daemon_pidfile_write(int fd);
/* Best effort at exit; the lock is released by close. */
void daemon_pidfile_remove(const char *path, int fd);

/* Double fork + setsid + chdir("/") + stdio on /dev/null. The parent
 * exits 0 once the grandchild runs. 0 in the daemon, -errno on failure. */
int daemon_detach(void);

/* sd_notify-style state strings, e.g. "READY=1\nSTATUS=enforcing". */
void daemon_notify(const char *state);
void daemon_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog period requested by the service manager in microseconds,
 * 0 when none. Pings are due every half of it. */
uint64_t daemon_watchdog_usec(void);
/* True when started by a service manager that expects notifications. */
int daemon_under_notify(void);

#endif
