/*
 * The local control socket: a non-blocking Unix stream listener, its
 * clients with per-client frame buffers and timeouts, and the peer check
 * (SO_PEERCRED: root or a member of the control group). Requests are
 * handed to one callback; the server knows nothing about the commands.
 */
#ifndef CONDUIT_MGMT_SERVER_H
#define CONDUIT_MGMT_SERVER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#define SRV_MAX_CLIENTS_DEFAULT 16
#define SRV_FRAME_TIMEOUT_DEFAULT 10 /* s to finish a started frame */
#define SRV_IDLE_TIMEOUT_DEFAULT 120 /* s without any traffic */

struct srv_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

/* Returns the response to one request (new reference; NULL = out of
 * memory, the client is dropped). Called from srv_dispatch. */
typedef json_t *(*srv_request_fn)(const json_t *request,
				  const struct srv_peer *peer, void *arg);

struct srv_opts {
	const char *path;	/* socket path */
	const char *group;	/* control group; NULL or unknown: root only */
	unsigned max_clients;	/* 0 = default */
	unsigned frame_timeout; /* 0 = default */
	unsigned idle_timeout;	/* 0 = default */
};

struct srv;

/*
 * Creates the directory of the socket when missing (0750, root:group),
 * removes a stale socket (nothing listening), refuses to start when a
 * live one answers (-EADDRINUSE) or the path is not a socket (-EEXIST),
 * binds, then sets mode 0660 and owner root:group. NULL + errno.
 */
struct srv *srv_open(const struct srv_opts *o, srv_request_fn fn, void *arg);
/* Whether a live daemon answers on path: -EADDRINUSE when one does, 0
 * when the path is free or holds a stale socket (left in place), -EEXIST
 * when it is not a socket. Lets start-up refuse before touching the
 * kernel. */
int srv_check_free(const char *path);
/* The socket's directory when srv_open created it, else NULL: the daemon
 * hands it to its own user before dropping root, so that it can remove
 * its socket at exit. */
const char *srv_made_dir(const struct srv *s);
/* Closes every client and the listener; unlinks the socket when asked. */
void srv_close(struct srv *s, bool unlink_path);

/* Upper bound of pollfds srv_pollfds can fill. */
size_t srv_pollfd_max(const struct srv *s);
/* Fills pfd[0..n) with the listener and the clients; returns the count. */
size_t srv_pollfds(struct srv *s, struct pollfd *pfd, size_t n);
/* Handles the revents of the pollfds srv_pollfds filled. */
void srv_dispatch(struct srv *s, const struct pollfd *pfd, size_t n,
		  time_t now);
/* Drops clients whose frame or idle timeout expired (call every second). */
void srv_tick(struct srv *s, time_t now);
/* The daemon was busy for `seconds` (a long apply or reload): no client
 * is blamed for that time, so every client's timers move on by it. */
void srv_stalled(struct srv *s, time_t seconds);
size_t srv_clients(const struct srv *s);

/* Whether uid may use the control socket: 0, or a member (primary or
 * supplementary) of group gid. */
bool srv_peer_allowed(uid_t uid, gid_t group, bool have_group);

#endif
