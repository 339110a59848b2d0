/*
 * Control socket server. One listener, a fixed table of clients, each
 * with its own incremental decoder and output buffer; everything is
 * non-blocking and driven by the daemon's poll loop. A client that sends
 * a malformed frame gets one error response and is closed (CR 3.5).
 */
#include "config.h"

#include "mgmt/server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "mgmt/control.h"

json_t srv_deferred_marker;

#define SRV_READ_CHUNK 65536
#define SRV_ACCEPT_BURST 8

struct srv_client {
	int fd; /* -1 = free slot */
	struct srv_peer peer;
	struct ctl_decoder dec;
	uint8_t *out; /* encoded responses not yet written */
	size_t out_len;
	size_t out_off;
	time_t last;	    /* last progress in either direction */
	time_t frame_start; /* 0 unless a frame is half read */
	bool closing;	    /* close once out is written */
};

struct srv {
	int lfd;
	char *path;
	char *made_dir; /* the socket's directory if we created it */
	gid_t gid;
	bool have_group;
	char group[64];
	unsigned max_clients;
	unsigned frame_timeout;
	unsigned idle_timeout;
	struct srv_client *c;
	size_t n_clients;
	size_t *pollmap; /* pollfd index - 1 -> client index */
	srv_request_fn fn;
	void *arg;
};

bool srv_peer_allowed(uid_t uid, gid_t group, bool have_group)
{
	gid_t stackv[64], *groups = stackv;
	struct passwd *pw;
	int ng = 64;
	bool ok = false;

	if (uid == 0)
		return true;
	if (!have_group)
		return false;
	pw = getpwuid(uid);
	if (pw == NULL)
		return false;
	if (pw->pw_gid == group)
		return true;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ng) < 0) {
		if (ng <= 0 || ng > 65536)
			return false;
		groups = calloc((size_t)ng, sizeof(*groups));
		if (groups == NULL)
			return false;
		if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ng) < 0)
			ng = 0;
	}
	for (int i = 0; i < ng; i++)
		if (groups[i] == group)
			ok = true;
	if (groups != stackv)
		free(groups);
	return ok;
}

/* Connects to path to learn whether a daemon still listens there; 1 when
 * a stale socket is there, 0 when nothing is. */
static int srv_probe(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	if (errno != ECONNREFUSED && errno != ENOENT)
		return -errno;
	return 1;
}

int srv_check_free(const char *path)
{
	int rc = srv_probe(path);

	return rc > 0 ? 0 : rc;
}

static int srv_probe_stale(const char *path)
{
	int rc = srv_probe(path);

	if (rc <= 0)
		return rc;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	log_info("control: removed stale socket %s", path);
	return 0;
}

/* Creates the socket's directory when missing; returns 1 when it did. */
static int srv_make_dir(const char *path, gid_t gid, char **made)
{
	char dir[PATH_MAX];
	char *slash;
	int fd;

	*made = NULL;
	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0750) < 0)
		return errno == EEXIST ? 0 : -errno;
	/* The group must reach the socket; nobody else needs to. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0750) < 0 || fchown(fd, 0, gid) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	close(fd);
	*made = strdup(dir);
	return *made ? 1 : -ENOMEM;
}

struct srv *srv_open(const struct srv_opts *o, srv_request_fn fn, void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct srv *s;
	struct group *gr;
	mode_t old;
	int rc;

	if (strlen(o->path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->lfd = -1;
	s->fn = fn;
	s->arg = arg;
	s->max_clients = o->max_clients ? o->max_clients :
					  SRV_MAX_CLIENTS_DEFAULT;
	s->frame_timeout = o->frame_timeout ? o->frame_timeout :
					      SRV_FRAME_TIMEOUT_DEFAULT;
	s->idle_timeout = o->idle_timeout ? o->idle_timeout :
					    SRV_IDLE_TIMEOUT_DEFAULT;
	s->path = strdup(o->path);
	s->c = calloc(s->max_clients, sizeof(*s->c));
	s->pollmap = calloc(s->max_clients, sizeof(*s->pollmap));
	if (s->path == NULL || s->c == NULL || s->pollmap == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < s->max_clients; i++)
		s->c[i].fd = -1;
	if (o->group != NULL) {
		errno = 0;
		gr = getgrnam(o->group);
		if (gr != NULL) {
			s->gid = gr->gr_gid;
			s->have_group = true;
			snprintf(s->group, sizeof(s->group), "%s", o->group);
		} else {
			log_warnx(
				"control: group \"%s\" does not exist: socket is root-only",
				o->group);
		}
	}

	rc = srv_make_dir(o->path, s->have_group ? s->gid : 0, &s->made_dir);
	if (rc < 0)
		goto fail;
	rc = srv_probe_stale(o->path);
	if (rc < 0)
		goto fail;
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		rc = -errno;
		goto fail;
	}
	strcpy(sa.sun_path, o->path);
	/* The umask closes the window between bind and chmod. */
	old = umask(0177);
	rc = bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		rc = -errno;
		goto fail;
	}
	if (s->have_group) {
		if (chown(o->path, 0, s->gid) < 0 || chmod(o->path, 0660) < 0) {
			rc = -errno;
			unlink(o->path);
			goto fail;
		}
	}
	if (listen(s->lfd, 16) < 0) {
		rc = -errno;
		unlink(o->path);
		goto fail;
	}
	return s;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->made_dir)
		rmdir(s->made_dir);
	free(s->made_dir);
	free(s->path);
	free(s->c);
	free(s->pollmap);
	free(s);
	errno = -rc;
	return NULL;
}

static void srv_client_close(struct srv *s, struct srv_client *c)
{
	if (c->fd < 0)
		return;
	log_debug("control: client fd %d (uid %u pid %ld) closed", c->fd,
		  (unsigned)c->peer.uid, (long)c->peer.pid);
	close(c->fd);
	c->fd = -1;
	ctl_decoder_free(&c->dec);
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	c->closing = false;
	s->n_clients--;
}

void srv_close(struct srv *s, bool unlink_path)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->max_clients; i++)
		srv_client_close(s, &s->c[i]);
	if (s->lfd >= 0)
		close(s->lfd);
	if (unlink_path && unlink(s->path) < 0 && errno != ENOENT)
		log_debug("control: cannot remove %s: %s", s->path,
			  strerror(errno));
	free(s->made_dir);
	free(s->path);
	free(s->c);
	free(s->pollmap);
	free(s);
}

const char *srv_made_dir(const struct srv *s)
{
	return s->made_dir;
}

size_t srv_clients(const struct srv *s)
{
	return s->n_clients;
}

size_t srv_pollfd_max(const struct srv *s)
{
	return 1 + s->max_clients;
}

size_t srv_pollfds(struct srv *s, struct pollfd *pfd, size_t n)
{
	size_t k = 0;

	if (n == 0)
		return 0;
	pfd[k].fd = s->lfd;
	pfd[k].events = POLLIN;
	pfd[k].revents = 0;
	k++;
	for (unsigned i = 0; i < s->max_clients && k < n; i++) {
		struct srv_client *c = &s->c[i];

		if (c->fd < 0)
			continue;
		pfd[k].fd = c->fd;
		/* One request at a time per client: read again only after
		 * the previous response is out (back-pressure). */
		pfd[k].events = c->out_len > c->out_off ? POLLOUT : POLLIN;
		pfd[k].revents = 0;
		s->pollmap[k - 1] = i;
		k++;
	}
	return k;
}

/* Appends one encoded response to the client's output. */
static void srv_queue(struct srv_client *c, json_t *resp)
{
	uint8_t *frame = NULL, *n;
	size_t len = 0;
	int rc;

	if (resp == NULL) {
		c->closing = true;
		return;
	}
	rc = ctl_encode(CTL_TYPE_RESPONSE, resp, &frame, &len);
	if (rc == -EMSGSIZE) {
		json_t *id = json_object_get(resp, "id");
		json_t *e = ctl_response_error(
			json_is_integer(id) ? (uint64_t)json_integer_value(id) :
					      0,
			CTL_ERR_INTERNAL,
			"response exceeds the frame size limit", NULL);

		rc = e ? ctl_encode(CTL_TYPE_RESPONSE, e, &frame, &len) :
			 -ENOMEM;
		json_decref(e);
	}
	json_decref(resp);
	if (rc < 0) {
		c->closing = true;
		return;
	}
	if (c->out_off == c->out_len) {
		free(c->out);
		c->out = frame;
		c->out_len = len;
		c->out_off = 0;
		return;
	}
	n = realloc(c->out, c->out_len + len);
	if (n == NULL) {
		free(frame);
		c->closing = true;
		return;
	}
	memcpy(n + c->out_len, frame, len);
	free(frame);
	c->out = n;
	c->out_len += len;
}

static void srv_queue_error(struct srv_client *c, const char *code,
			    const char *msg)
{
	srv_queue(c, ctl_response_error(0, code, msg, NULL));
	c->closing = true;
}

/* Writes what the socket takes now; a refused client gets this too. */
static int srv_flush(struct srv_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return 0;
			return -errno;
		}
		c->out_off += (size_t)w;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	return 0;
}

static void srv_refuse(int fd, const char *code, const char *msg)
{
	struct srv_client tmp = { .fd = fd };

	srv_queue_error(&tmp, code, msg);
	(void)srv_flush(&tmp);
	free(tmp.out);
	close(fd);
}

static void srv_accept(struct srv *s, time_t now)
{
	for (int burst = 0; burst < SRV_ACCEPT_BURST; burst++) {
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		struct srv_client *c = NULL;
		char msg[160];
		int fd;

		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("control: accept");
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
			log_warn("control: SO_PEERCRED");
			close(fd);
			continue;
		}
		if (!srv_peer_allowed(cred.uid, s->gid, s->have_group)) {
			log_warnx(
				"control: refused uid %u (pid %ld): not root and not in group %s",
				(unsigned)cred.uid, (long)cred.pid,
				s->have_group ? s->group : "(none)");
			snprintf(msg, sizeof(msg),
				 "uid %u is not allowed: root or group %s only",
				 (unsigned)cred.uid,
				 s->have_group ? s->group : "(none)");
			srv_refuse(fd, CTL_ERR_PERMISSION, msg);
			continue;
		}
		for (unsigned i = 0; i < s->max_clients; i++)
			if (s->c[i].fd < 0) {
				c = &s->c[i];
				break;
			}
		if (c == NULL) {
			log_warnx(
				"control: refused uid %u (pid %ld): %u clients connected",
				(unsigned)cred.uid, (long)cred.pid,
				s->max_clients);
			srv_refuse(fd, CTL_ERR_BUSY,
				   "too many control clients");
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->peer.pid = cred.pid;
		c->peer.uid = cred.uid;
		c->peer.gid = cred.gid;
		c->last = now;
		ctl_decoder_init(&c->dec, CTL_MAX_PAYLOAD);
		s->n_clients++;
		log_debug("control: client fd %d uid %u pid %ld", fd,
			  (unsigned)cred.uid, (long)cred.pid);
	}
}

static void srv_frame_run(struct srv *s, struct srv_client *c,
			  struct ctl_frame *f);

static time_t srv_elapsed_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return t1.tv_sec - t0->tv_sec;
}

/* A command may run for a long time (a large apply): *now moves on by the
 * time it took, so the response's write timeout starts when it is queued. */
static void srv_frame(struct srv *s, struct srv_client *c, struct ctl_frame *f,
		      time_t *now)
{
	struct timespec t0;

	time_t took;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	srv_frame_run(s, c, f);
	took = srv_elapsed_since(&t0);
	*now += took;
	srv_stalled(s, took);
	c->last = *now;
}

void srv_stalled(struct srv *s, time_t seconds)
{
	if (seconds <= 0)
		return;
	for (unsigned i = 0; i < s->max_clients; i++) {
		struct srv_client *c = &s->c[i];

		if (c->fd < 0)
			continue;
		c->last += seconds;
		if (c->frame_start)
			c->frame_start += seconds;
	}
}

static void srv_frame_run(struct srv *s, struct srv_client *c,
			  struct ctl_frame *f)
{
	if (f->type != CTL_TYPE_REQUEST) {
		log_warnx("control: uid %u pid %ld sent a non-request frame",
			  (unsigned)c->peer.uid, (long)c->peer.pid);
		srv_queue_error(c, CTL_ERR_PROTOCOL,
				"expected a request frame");
		return;
	}
	srv_queue(c, s->fn(f->msg, &c->peer, s->arg));
}

static void srv_read(struct srv *s, struct srv_client *c, time_t *nowp)
{
	time_t now = *nowp;
	static uint8_t buf[SRV_READ_CHUNK];
	size_t off = 0, used;
	struct ctl_frame f;
	ssize_t n;

	n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		/* Reset or similar: nothing more can be delivered. */
		c->closing = true;
		free(c->out);
		c->out = NULL;
		c->out_len = c->out_off = 0;
		return;
	}
	if (n == 0) {
		c->closing = true;
		return;
	}
	c->last = now;
	while (off < (size_t)n && !c->closing) {
		enum ctl_result r = ctl_decode(&c->dec, buf + off,
					       (size_t)n - off, &used, &f);

		off += used;
		if (r == CTL_FRAME) {
			srv_frame(s, c, &f, &now);
			json_decref(f.msg);
			c->frame_start = 0;
		} else if (r == CTL_ERROR) {
			log_warnx("control: uid %u pid %ld: %s; closing",
				  (unsigned)c->peer.uid, (long)c->peer.pid,
				  ctl_decoder_reason(&c->dec));
			srv_queue_error(c, CTL_ERR_PROTOCOL,
					ctl_decoder_reason(&c->dec));
		}
	}
	if (ctl_decoder_partial(&c->dec)) {
		if (c->frame_start == 0)
			c->frame_start = now;
	} else {
		c->frame_start = 0;
	}
	*nowp = now;
}

void srv_dispatch(struct srv *s, const struct pollfd *pfd, size_t n, time_t now)
{
	if (n == 0)
		return;
	for (size_t k = 1; k < n; k++) {
		struct srv_client *c = &s->c[s->pollmap[k - 1]];

		if (c->fd < 0 || c->fd != pfd[k].fd || pfd[k].revents == 0)
			continue;
		if (pfd[k].revents & POLLIN)
			srv_read(s, c, &now);
		else if (pfd[k].revents & (POLLERR | POLLNVAL)) {
			srv_client_close(s, c);
			continue;
		} else if ((pfd[k].revents & POLLHUP) &&
			   !(pfd[k].revents & POLLOUT)) {
			srv_client_close(s, c);
			continue;
		}
		if (c->out_len > c->out_off) {
			size_t before = c->out_off;

			if (srv_flush(c) < 0) {
				srv_client_close(s, c);
				continue;
			}
			if (c->out_off != before || c->out == NULL)
				c->last = now;
		}
		if (c->closing && c->out == NULL)
			srv_client_close(s, c);
	}
	if (pfd[0].revents & POLLIN)
		srv_accept(s, now);
}

void srv_tick(struct srv *s, time_t now)
{
	for (unsigned i = 0; i < s->max_clients; i++) {
		struct srv_client *c = &s->c[i];

		if (c->fd < 0)
			continue;
		if (c->frame_start &&
		    now - c->frame_start >= (time_t)s->frame_timeout) {
			log_warnx(
				"control: uid %u pid %ld: frame not completed in %u s; closing",
				(unsigned)c->peer.uid, (long)c->peer.pid,
				s->frame_timeout);
			srv_queue_error(c, CTL_ERR_TIMEOUT,
					"frame not completed in time");
			(void)srv_flush(c);
			srv_client_close(s, c);
		} else if (c->out_len > c->out_off &&
			   now - c->last >= (time_t)s->frame_timeout) {
			log_warnx(
				"control: uid %u pid %ld: not reading its response; closing",
				(unsigned)c->peer.uid, (long)c->peer.pid);
			srv_client_close(s, c);
		} else if (now - c->last >= (time_t)s->idle_timeout) {
			log_debug("control: uid %u pid %ld idle; closing",
				  (unsigned)c->peer.uid, (long)c->peer.pid);
			srv_client_close(s, c);
		}
	}
}
