/*
 * conduitd: options, start-up order, the event loop, signals and the
 * service manager. Start-up is strictly ordered so that nothing touches
 * the kernel before the configuration and the policy are known good, and
 * privileges are dropped before the first request is read:
 *   args -> conf -> policy -> netlink + probe -> commit -> NFLOG ->
 *   control socket -> privilege drop -> (detach) -> READY -> loop.
 * On exit the table stays in the kernel (fail close).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/diag.h"
#include "common/log.h"
#include "dpi/queue.h"
#include "dpi/reset.h"
#include "mgmt/commands.h"
#include "mgmt/server.h"
#include "nft/nflog.h"
#include "nft/nft.h"
#include "policy/model.h"
#include "sys/daemon.h"
#include "sys/privdrop.h"

#define NFLOG_MAX_KEYS 4096 /* distinct deny keys aggregated at once */

struct opts {
	const char *conf_path;
	bool foreground;
	bool check;
	bool debug;
	bool flush;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: conduitd [-f] [-n] [-d] [-c CONF] [--flush]\n"
		"  -c CONF   configuration file (default %s)\n"
		"  -f        stay in the foreground, log to stderr\n"
		"  -n        check configuration and policy, then exit\n"
		"  -d        log-level debug\n"
		"  --flush   delete table inet %s (removes enforcement) and exit\n"
		"  -V        print the version\n",
		CONF_PATH_DEFAULT, NFT_TABLE_NAME);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "flush", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->conf_path = CONF_PATH_DEFAULT;
	while ((ch = getopt_long(argc, argv, "c:fndhV", lopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->conf_path = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'n':
			o->check = true;
			break;
		case 'd':
			o->debug = true;
			break;
		case 'F':
			o->flush = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("conduitd %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	return 0;
}

static bool path_exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

/* The policy start-up uses: the last applied one if present, else the
 * configured file. */
static const char *startup_policy_path(const struct conf *c, char *buf,
				       size_t len, enum cmd_source *src)
{
	cmd_state_path(c, CMD_STATE_POLICY, buf, len);
	if (path_exists(buf)) {
		*src = CMD_SOURCE_STATE;
		return buf;
	}
	*src = CMD_SOURCE_CONFIG;
	return c->policy;
}

static int check_one_policy(const struct conf *c, const char *path,
			    struct diag_list *dl)
{
	struct pol_policy *p = NULL;
	struct nft_batch *b = NULL;
	struct nft_opts o = {
		.mgmt_port = c->management_port,
		.nflog_group = c->nflog_group,
		.log_rate = c->log_rate,
		/* compile as the daemon would with inspection (the kernel's
		 * queue encoding is not probed here) */
		.inspect = true,
		.queue_first = c->queue_first,
		.queue_n = 1,
		.feat = { .xt_nfqueue = true },
	};
	int rc;

	rc = policy_load_file(path, 0, &p, dl);
	if (rc < 0) {
		if (dl->n == 0)
			diag_add(dl, path, 0, 0, "%s", strerror(-rc));
		return rc;
	}
	rc = cmd_check_policy_conf(c, p, dl);
	if (rc == 0)
		rc = nft_compile(p, &o, &b, dl);
	nft_batch_free(b);
	policy_free(p);
	return rc;
}

/* -n: everything start-up checks except the kernel. */
static int check_mode(const struct conf *c)
{
	char active[PATH_MAX];
	struct diag_list dl;
	int rc;

	diag_list_init(&dl);
	rc = check_one_policy(c, c->policy, &dl);
	cmd_state_path(c, CMD_STATE_POLICY, active, sizeof(active));
	if (path_exists(active) && access(active, R_OK) == 0) {
		if (check_one_policy(c, active, &dl) < 0)
			rc = -EINVAL;
		else
			fprintf(stderr,
				"conduitd: note: start-up uses the applied policy %s\n",
				active);
	}
	cmd_state_path(c, CMD_STATE_ISLAND, active, sizeof(active));
	if (path_exists(active))
		fprintf(stderr,
			"conduitd: note: island mode is on (%s): start-up commits the island ruleset\n",
			active);
	diag_print(&dl, stderr);
	diag_list_free(&dl);
	if (rc < 0)
		return 1;
	printf("configuration OK\n");
	return 0;
}

static int flush_mode(void)
{
	struct nft_ctx *n = nft_open();
	int rc, had;

	if (n == NULL)
		fatal("netlink");
	had = nft_table_exists(n);
	rc = nft_flush(n);
	nft_close(n);
	if (rc < 0) {
		errno = -rc;
		fatal("delete table inet %s", NFT_TABLE_NAME);
	}
	if (had == 0)
		printf("no table inet %s: nothing to remove\n", NFT_TABLE_NAME);
	else
		printf("table inet %s deleted: conduitd no longer enforces\n",
		       NFT_TABLE_NAME);
	return 0;
}

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void notify_status(const struct cmd_daemon *d)
{
	if (d->island)
		daemon_notifyf("STATUS=island mode (policy %s stored)",
			       d->policy_name);
	else
		daemon_notifyf(
			"STATUS=enforcing %s: %zu zones, %zu conduits, generation %llu",
			d->policy_name, d->policy->n_zones,
			d->policy->n_conduits,
			(unsigned long long)d->generation);
}

static json_t *on_request(const json_t *req, const struct srv_peer *peer,
			  void *arg)
{
	struct cmd_daemon *d = arg;
	json_t *r = cmd_dispatch(d, req, peer);

	notify_status(d);
	return r;
}

static void on_sighup(struct cmd_daemon *d)
{
	struct diag_list dl;
	json_t *summary = NULL;
	bool deferred;
	char buf[1024];

	daemon_notify("RELOADING=1");
	log_info("SIGHUP: reloading %s", d->conf->policy);
	diag_list_init(&dl);
	if (cmd_reload(d, &summary, &deferred, &dl) < 0) {
		for (size_t i = 0; i < dl.n; i++)
			log_warnx("%s",
				  diag_format(&dl.v[i], buf, sizeof(buf)));
	}
	json_decref(summary);
	diag_list_free(&dl);
	daemon_notify("READY=1");
	notify_status(d);
}

/* Privileges: resolve the user; NULL user = keep root (development). */
static bool resolve_user(const struct conf *c, uid_t *uid, gid_t *gid)
{
	int rc;

	*uid = 0;
	*gid = 0;
	if (conf_user_is_none(c)) {
		log_warnx("user -: running as root: development only");
		return false;
	}
	rc = privdrop_lookup(c->user, uid, gid);
	if (rc < 0) {
		log_warnx("user %s: %s: running as root: development only",
			  c->user,
			  rc == -ENOENT ? "no such user" : strerror(-rc));
		*uid = 0;
		*gid = 0;
		return false;
	}
	return true;
}

static int parent_dir(const char *path, char *buf, size_t len)
{
	char *s;

	if (strlen(path) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, path);
	s = strrchr(buf, '/');
	if (s == NULL || s == buf)
		return -ENOENT;
	*s = '\0';
	return 0;
}

/* An audit-visible warning for every conduit that fails open. */
static void warn_fail_open(const struct pol_policy *p)
{
	for (size_t i = 0; i < p->n_conduits; i++) {
		const struct pol_conduit *cd = &p->conduits[i];
		bool insp = false;

		for (size_t j = 0; j < cd->n_allow; j++)
			insp |= nft_service_inspected(cd, &cd->allow[j]);
		if (cd->fail_open && insp)
			log_warnx("conduit %s: fail open: while no inspection "
				  "worker runs, its inspected traffic passes "
				  "uninspected",
				  cd->name);
	}
}

static int run(const struct opts *o, struct conf *c)
{
	struct cmd_daemon d = { 0 };
	struct reset_sock rst = { 0 };
	struct diag_list dl;
	struct nft_opts no;
	struct srv *srv = NULL;
	struct pollfd *pfd = NULL;
	char path[PATH_MAX], piddir[PATH_MAX], buf[1024];
	bool piddir_made = false;
	const char *ppath;
	enum cmd_source src;
	uint64_t wd_usec, wd_last = 0;
	bool drop, stop = false, wd_warned = false;
	int sigfd = -1, tfd = -1, pidfd = -1, rc;
	size_t npfd;
	sigset_t mask;
	uid_t uid;
	gid_t gid;

	d.conf = c;
	d.started = time(NULL);
	d.source = CMD_SOURCE_CONFIG;
	if (geteuid() != 0)
		log_warnx(
			"not started as root: netlink access will likely fail");

	/* Policy first: a bad one leaves the kernel as it is. */
	diag_list_init(&dl);
	ppath = startup_policy_path(c, path, sizeof(path), &src);
	rc = policy_load_file(ppath, 0, &d.policy, &dl);
	if (rc == 0)
		rc = cmd_check_policy_conf(c, d.policy, &dl);
	if (rc < 0) {
		diag_print(&dl, stderr);
		if (dl.n == 0)
			log_warnx("%s: %s", ppath, strerror(-rc));
		fatalx("policy %s rejected: the kernel ruleset is unchanged",
		       ppath);
	}
	diag_list_free(&dl);
	d.policy_name = strdup(ppath);
	d.source = src;
	log_info("policy %s: %zu zones, %zu conduits%s", ppath,
		 d.policy->n_zones, d.policy->n_conduits,
		 src == CMD_SOURCE_STATE ? " (the last applied policy)" : "");

	drop = resolve_user(c, &uid, &gid);
	d.privileged = !drop;
	d.user = drop ? c->user : "root";
	rc = privdrop_prepare_dir(c->state_dir, 0750, uid, gid, 1);
	if (rc < 0) {
		errno = -rc;
		fatal("state-dir %s", c->state_dir);
	}
	cmd_state_path(c, CMD_STATE_ISLAND, path, sizeof(path));
	d.island = path_exists(path);

	/* Another instance is refused before the kernel is touched. */
	rc = srv_check_free(c->control_socket);
	if (rc == -EADDRINUSE)
		fatalx("control socket %s: another conduitd is running; the kernel ruleset is unchanged",
		       c->control_socket);
	if (rc < 0) {
		errno = -rc;
		fatal("control socket %s", c->control_socket);
	}
	if (!o->foreground) {
		long other;

		if (parent_dir(c->pidfile, piddir, sizeof(piddir)) == 0 &&
		    privdrop_prepare_dir(piddir, 0755, 0, 0, 0) == 1)
			piddir_made = true;
		pidfd = daemon_pidfile_open(c->pidfile, &other);
		if (pidfd == -EEXIST)
			fatalx("pidfile %s: conduitd already running (pid %ld); the kernel ruleset is unchanged",
			       c->pidfile, other);
		if (pidfd < 0) {
			errno = -pidfd;
			fatal("pidfile %s", c->pidfile);
		}
	}

	d.nft = nft_open();
	if (d.nft == NULL)
		fatal("netlink socket");
	if (nft_probe(&d.features) < 0)
		log_warn("kernel feature probe");
	nft_features_log(&d.features);
	/* Inline inspection: the ruleset queues inspected entries to these
	 * queues from the first commit on; the workers bind them after the
	 * privilege drop and detach (threads keep their own capabilities and
	 * do not survive fork). Until then queued packets are dropped. */
	if (d.features.native_queue || d.features.xt_nfqueue) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		d.queue_first = c->queue_first;
		d.queue_n =
			c->inspect_queues ?
				c->inspect_queues :
				(uint16_t)(ncpu > 0 && ncpu <= 64 ? ncpu : 1);
	} else {
		log_warnx("the kernel has neither the nft queue expression nor "
			  "the xt NFQUEUE target: policies with protocol rules "
			  "will be refused");
	}

	cmd_nft_opts(&d, d.island, &no);
	rc = nft_apply(d.nft, d.policy, &no, &dl);
	if (rc < 0) {
		diag_print(&dl,
			   stderr); /* not detached yet: the shell sees it */
		errno = -rc;
		fatal("commit of table inet %s failed; the kernel ruleset is unchanged",
		      NFT_TABLE_NAME);
	}
	diag_list_free(&dl);
	warn_fail_open(d.policy);
	d.generation = 1;
	d.last_apply = time(NULL);
	if (d.island)
		log_info(
			"island mode on (state kept in %s): every inter-zone packet is dropped",
			path);
	else
		log_info("table inet %s committed: enforcing %s",
			 NFT_TABLE_NAME, d.policy_name);

	d.nflog = nflog_open(c->nflog_group, c->deny_log_interval,
			     NFLOG_MAX_KEYS);
	if (d.nflog == NULL)
		log_warn("NFLOG group %u: denied packets will not be logged",
			 c->nflog_group);

	{
		struct srv_opts so = {
			.path = c->control_socket,
			.group = c->control_group,
		};

		srv = srv_open(&so, on_request, &d);
		if (srv == NULL)
			fatal("control socket %s", c->control_socket);
	}

	/* the raw sockets of reject's TCP resets need CAP_NET_RAW, which the
	 * privilege drop does not keep: open them now */
	if (d.queue_n > 0 && (rc = reset_open(&rst)) < 0) {
		errno = -rc;
		log_warn("raw sockets for TCP resets: reject will only drop");
	}
	if (drop) {
		int bkept;

		/* Runtime directories we made become the daemon's, so that it
		 * can remove its socket and pidfile at exit. */
		if (srv_made_dir(srv) &&
		    (rc = privdrop_chown_dir(srv_made_dir(srv), uid)) < 0)
			log_warnx("chown %s: %s", srv_made_dir(srv),
				  strerror(-rc));
		if (piddir_made && (rc = privdrop_chown_dir(piddir, uid)) < 0)
			log_warnx("chown %s: %s", piddir, strerror(-rc));

		rc = privdrop_apply(uid, gid, &bkept);
		if (rc < 0) {
			errno = -rc;
			fatal("privilege drop to %s", c->user);
		}
		log_info("privileges dropped: %s%s",
			 privdrop_describe(buf, sizeof(buf)),
			 bkept ? " (bounding set left to the service manager)" :
				 "");
	}

	if (!o->foreground) {
		if (daemon_detach() < 0)
			fatal("detach");
		log_init("conduitd", 1, log_get_level());
		if (daemon_pidfile_write(pidfd) < 0)
			log_warn("pidfile %s", c->pidfile);
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		fatal("sigprocmask");
	signal(SIGPIPE, SIG_IGN);
	/* after the signal mask: the workers inherit it, so SIGHUP and
	 * SIGTERM reach the signalfd, never a worker (default: exit) */
	if (d.queue_n > 0) {
		struct queue_conf qc = { 0 };

		qc.first = d.queue_first;
		qc.n = d.queue_n;
		qc.pin = true;
		qc.engine.max_flows = c->inspect_flows;
		qc.reset = rst.open ? &rst : NULL;
		rc = queue_start(&d.queues, &qc, d.policy);
		if (rc < 0) {
			errno = -rc;
			log_warn(
				"inspection workers on queues %u-%u: inspected "
				"traffic stays blocked",
				d.queue_first, d.queue_first + d.queue_n - 1);
			d.queues = NULL;
		} else {
			log_info("inspection: %u workers on queues %u-%u",
				 d.queue_n, d.queue_first,
				 d.queue_first + d.queue_n - 1);
		}
	}

	sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0)
		fatal("signalfd");
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tfd < 0)
		fatal("timerfd");
	{
		struct itimerspec it = { { 1, 0 }, { 1, 0 } };

		if (timerfd_settime(tfd, 0, &it, NULL) < 0)
			fatal("timerfd_settime");
	}
	npfd = 4 + srv_pollfd_max(srv);
	pfd = calloc(npfd, sizeof(*pfd));
	if (pfd == NULL)
		fatal("calloc");

	wd_usec = daemon_watchdog_usec();
	daemon_notify("READY=1");
	notify_status(&d);
	log_info("conduitd %s ready: control socket %s", PACKAGE_VERSION,
		 c->control_socket);

	while (!stop) {
		size_t ns;
		int n;

		pfd[0] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = tfd, .events = POLLIN };
		pfd[2] =
			(struct pollfd){ .fd = d.nflog ? nflog_fd(d.nflog) : -1,
					 .events = POLLIN };
		pfd[3] = (struct pollfd){
			.fd = d.queues ? queue_event_fd(d.queues) : -1,
			.events = POLLIN
		};
		ns = srv_pollfds(srv, pfd + 4, npfd - 4);
		n = poll(pfd, 4 + ns, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					time_t t0 = mono_now();

					on_sighup(&d);
					srv_stalled(srv, mono_now() - t0);
				} else {
					log_info("%s received: exiting",
						 strsignal((int)si.ssi_signo));
					stop = true;
				}
			}
		}
		if (pfd[1].revents & POLLIN) {
			uint64_t ticks;

			if (read(tfd, &ticks, sizeof(ticks)) == sizeof(ticks)) {
				if (d.nflog)
					nflog_tick(d.nflog, mono_now(),
						   cmd_nflog_event, NULL);
				srv_tick(srv, mono_now());
				/* A stalled worker stops the pings: the
				 * service manager restarts us, the queued
				 * traffic stays blocked meanwhile. */
				bool healthy =
					d.queues == NULL ||
					queue_healthy(
						d.queues, mono_usec(),
						(uint64_t)c->watchdog_stall_ms *
							1000);

				if (!healthy && !wd_warned) {
					log_warnx("an inspection worker is "
						  "stalled: watchdog pings "
						  "stop");
					wd_warned = true;
				} else if (healthy) {
					wd_warned = false;
				}
				/* Ping when the next tick would be later than
				 * half the watchdog period. */
				if (wd_usec && healthy &&
				    mono_usec() - wd_last + 1000000 >
					    wd_usec / 2) {
					daemon_notify("WATCHDOG=1");
					wd_last = mono_usec();
				}
			}
		}
		if (d.nflog && (pfd[2].revents & POLLIN)) {
			rc = nflog_dispatch(d.nflog, d.policy, cmd_nflog_event,
					    NULL);
			if (rc < 0 && rc != -EAGAIN && rc != -EINTR) {
				errno = -rc;
				log_warn("NFLOG read");
			}
		}
		if (d.queues && (pfd[3].revents & POLLIN)) {
			uint64_t v;

			if (read(queue_event_fd(d.queues), &v, sizeof(v)) < 0 &&
			    errno != EAGAIN)
				log_warn("event fd");
			queue_drain_events(d.queues, cmd_dpi_event, &d);
		}
		if (!stop)
			srv_dispatch(srv, pfd + 4, ns, mono_now());
	}

	daemon_notify("STOPPING=1");
	if (d.queues) {
		queue_drain_events(d.queues, cmd_dpi_event, &d);
		queue_stop(d.queues); /* queued traffic is dropped from now */
		d.queues = NULL;
	}
	reset_close(&rst);
	if (d.nflog) {
		nflog_flush(d.nflog, cmd_nflog_event, NULL);
		nflog_close(d.nflog);
	}
	srv_close(srv, true);
	log_info(
		"table inet %s stays in the kernel and keeps enforcing (fail close); `conduitd --flush` removes it",
		NFT_TABLE_NAME);
	if (pidfd >= 0)
		daemon_pidfile_remove(c->pidfile, pidfd);
	free(pfd);
	close(sigfd);
	close(tfd);
	nft_close(d.nft);
	policy_free(d.policy);
	free(d.policy_name);
	return 0;
}

int main(int argc, char **argv)
{
	struct diag_list dl;
	struct conf c;
	struct opts o;
	int rc;

	parse_args(argc, argv, &o);
	log_init("conduitd", 0, o.debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	if (o.flush)
		return flush_mode();
	if (conf_init(&c) < 0)
		fatalx("out of memory");
	diag_list_init(&dl);
	rc = conf_load(&c, o.conf_path, &dl);
	if (rc < 0) {
		diag_print(&dl, stderr);
		diag_list_free(&dl);
		conf_free(&c);
		if (o.check)
			return 1;
		fatalx("configuration %s rejected", o.conf_path);
	}
	diag_list_free(&dl);
	log_set_level(o.debug ? LOG_LEVEL_DEBUG : c.log_level);
	if (o.check)
		rc = check_mode(&c);
	else
		rc = run(&o, &c);
	conf_free(&c);
	return rc;
}
