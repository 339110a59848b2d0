/*
 * conduitd: options, start-up order, the event loop, signals and the
 * service manager. Start-up is strictly ordered so that nothing touches
 * the kernel before the configuration and the policy are known good, and
 * privileges are dropped before the first request is read:
 *   args -> conf -> state dirs, single instance -> audit spool (as root:
 *   key and TLS files) -> policy -> netlink + probe -> commit -> NFLOG ->
 *   control socket -> privilege drop -> (detach) -> signal mask ->
 *   threads (audit writer and senders, inspection workers) -> READY ->
 *   loop.
 * On exit the table stays in the kernel (fail close) and the audit
 * pipeline is drained (DAEMON_STOP is its last record of a clean exit).
 */
#include "config.h"

#include "common/clock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "common/conf.h"
#include "common/diag.h"
#include "common/log.h"
#include "dpi/queue.h"
#include "dpi/reset.h"
#include "mgmt/commands.h"
#include "mgmt/mgmt.h"
#include "mgmt/server.h"
#include "nft/nflog.h"
#include "nft/nft.h"
#include "policy/model.h"
#include "sys/daemon.h"
#include "sys/privdrop.h"

#define NFLOG_MAX_KEYS 4096	/* distinct deny keys aggregated at once */
#define STATE_RUNNING "running" /* clean-shutdown marker in state-dir */
#define AUDIT_DRAIN_MS 2000	/* senders' time to deliver at exit */
#define RESOURCE_HIGH_PCT 90	/* RESOURCE record at this flow-table fill */
#define RESOURCE_LOW_PCT 80	/* ... re-armed below this one */

/* struct audit_opts and the storage its pointers borrow. */
struct audit_setup {
	struct audit_opts o;
	uint8_t key[CONF_AUDIT_KEY_MAX];
	char dir[PATH_MAX];
};

/* Fills s from the conf; reads the HMAC key file (as root). 0 or a
 * negative errno with err set. */
static int audit_setup(const struct conf *c, struct audit_setup *s, char *err,
		       size_t errlen)
{
	static const enum transport_proto protos[] = {
		[CONF_AUDIT_UDP] = TRANSPORT_UDP,
		[CONF_AUDIT_TCP] = TRANSPORT_TCP,
		[CONF_AUDIT_TLS] = TRANSPORT_TLS,
	};
	int rc;

	memset(s, 0, sizeof(*s));
	conf_audit_dir(c, s->dir, sizeof(s->dir));
	s->o.pen = c->audit_pen;
	s->o.facility = c->audit_facility;
	s->o.hostname = c->audit_hostname;
	s->o.spool.dir = s->dir;
	s->o.spool.capacity = c->audit_capacity;
	s->o.spool.segment_size = c->audit_segment_size;
	s->o.spool.full = c->audit_full == CONF_AUDIT_DROP_NEW ?
				  SPOOL_FULL_DROP_NEW :
				  SPOOL_FULL_OVERWRITE_OLDEST;
	s->o.spool.fsync_ms = c->audit_fsync_ms;
	s->o.warn_pct = c->audit_warn_pct;
	s->o.jsonl_path = c->audit_jsonl;
	for (unsigned i = 0; i < c->n_collectors && i < AUDIT_COLLECTORS_MAX;
	     i++) {
		const struct conf_collector *k = &c->collectors[i];
		struct audit_collector_opts *a = &s->o.collectors[i];

		snprintf(a->name, sizeof(a->name), "%s", k->name);
		a->t.proto = protos[k->proto];
		a->t.host = k->host;
		a->t.port = k->port;
		a->t.ca_file = k->ca;
		a->t.cert_file = k->cert;
		a->t.key_file = k->key;
		a->t.server_name = k->server_name;
		a->settle_ms = k->settle_ms;
		a->backoff_max_ms = k->backoff_max_ms;
		s->o.ncollectors++;
	}
	if (c->audit_hmac_key != NULL) {
		rc = conf_read_hmac_key(c->audit_hmac_key, s->key,
					&s->o.hmac_key_len, err, errlen);
		if (rc < 0)
			return rc;
		s->o.hmac_key = s->key;
	}
	return 0;
}

static void audit_setup_wipe(struct audit_setup *s)
{
	explicit_bzero(s->key, sizeof(s->key));
}

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

/* The audit settings start-up needs: the key file and each collector's TLS
 * files (loaded, not connected). */
static int check_audit(const struct conf *c, struct diag_list *dl)
{
	struct audit_setup *s = calloc(1, sizeof(*s));
	char err[512];
	int rc = 0;

	if (s == NULL)
		return -ENOMEM;
	if (audit_setup(c, s, err, sizeof(err)) < 0) {
		diag_add(dl, c->file, 0, 0, "%s", err);
		rc = -EINVAL;
	}
	for (unsigned i = 0; i < s->o.ncollectors; i++) {
		struct transport *t =
			transport_new(&s->o.collectors[i].t, err, sizeof(err));

		if (t == NULL) {
			diag_add(dl, c->file, c->collectors[i].line, 0,
				 "audit-collector %s: %s",
				 c->collectors[i].name, err);
			rc = -EINVAL;
		}
		transport_free(t);
	}
	audit_setup_wipe(s);
	free(s);
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
	if (check_audit(c, &dl) < 0)
		rc = -EINVAL;
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

static json_t *on_request(const json_t *req, struct srv_peer *peer, void *arg)
{
	struct cmd_daemon *d = arg;
	json_t *r = mgmt_request(d->mgmt, d, req, peer);

	notify_status(d);
	return r;
}

static void on_close(struct srv_peer *peer, enum srv_close_reason why,
		     const char *error, void *arg)
{
	struct cmd_daemon *d = arg;

	mgmt_on_close(d->mgmt, peer, why, error);
}

/* management-listen addresses must belong to the management zone: inside
 * one of its networks (when it has any) and configured on one of its
 * interfaces (when it has any). 0, or -EINVAL with the reason in err. */
static int check_listen(const struct conf *c, const struct pol_policy *p,
			char *err, size_t len)
{
	const struct pol_zone *z = p ? policy_management_zone(p) : NULL;
	struct ifaddrs *ifa = NULL;
	int rc = 0;

	if (c->n_mgmt_listen == 0)
		return 0;
	if (z == NULL) {
		snprintf(
			err, len,
			"%s:%d: management-listen: the policy has no management zone",
			c->file ? c->file : "-", c->mgmt_listen_line[0]);
		return -EINVAL;
	}
	if (z->n_ifaces && getifaddrs(&ifa) < 0) {
		snprintf(err, len, "getifaddrs: %s", strerror(errno));
		return -errno;
	}
	for (unsigned i = 0; i < c->n_mgmt_listen && rc == 0; i++) {
		uint8_t a[16];
		int fam = strchr(c->mgmt_listen[i], ':') ? AF_INET6 : AF_INET;
		bool in_net = z->n_nets == 0, on_if = z->n_ifaces == 0;

		if (inet_pton(fam, c->mgmt_listen[i], a) != 1)
			continue; /* conf_load checked it */
		for (size_t k = 0; k < z->n_nets && !in_net; k++)
			in_net = pol_prefix_contains(&z->nets[k], fam, a);
		for (struct ifaddrs *f = ifa; f && !on_if; f = f->ifa_next) {
			const void *fa;

			if (f->ifa_addr == NULL ||
			    f->ifa_addr->sa_family != fam)
				continue;
			fa = fam == AF_INET ?
				     (const void *)&(
					     (struct sockaddr_in *)f->ifa_addr)
					     ->sin_addr :
				     (const void *)&(
					     (struct sockaddr_in6 *)f->ifa_addr)
					     ->sin6_addr;
			if (memcmp(fa, a, fam == AF_INET ? 4 : 16))
				continue;
			for (size_t k = 0; k < z->n_ifaces && !on_if; k++)
				on_if = z->ifaces[k].wildcard ?
						strncmp(f->ifa_name,
							z->ifaces[k].name,
							strlen(z->ifaces[k]
								       .name)) ==
							0 :
						strcmp(f->ifa_name,
						       z->ifaces[k].name) == 0;
		}
		if (!in_net || !on_if) {
			snprintf(
				err, len,
				"%s:%d: management-listen %s is not an address of the management zone %s (%s)",
				c->file ? c->file : "-", c->mgmt_listen_line[i],
				c->mgmt_listen[i], z->name,
				!in_net ?
					"outside its networks" :
					"not configured on one of its interfaces");
			rc = -EINVAL;
		}
	}
	freeifaddrs(ifa);
	return rc;
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
	diag_list_init(&dl);
	if (mgmt_reload_users(d->mgmt, &dl) < 0) {
		for (size_t i = 0; i < dl.n; i++)
			log_warnx("%s",
				  diag_format(&dl.v[i], buf, sizeof(buf)));
		log_warnx("SIGHUP: the user store stays as it was");
	}
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

/* Files audit_open made as root in the spool directory become the daemon
 * user's, so that its writer can rotate and its readers can reopen them
 * after the privilege drop. */
static void chown_spool_files(const char *dir, uid_t uid, gid_t gid)
{
	struct dirent *e;
	DIR *dp = opendir(dir);

	if (dp == NULL) {
		log_warn("audit-dir %s", dir);
		return;
	}
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (fchownat(dirfd(dp), e->d_name, uid, gid,
			     AT_SYMLINK_NOFOLLOW) < 0)
			log_warn("chown %s/%s", dir, e->d_name);
	}
	closedir(dp);
}

/* Clock steps: a CLOCK_REALTIME timer far in the future, armed with
 * TFD_TIMER_CANCEL_ON_SET, reads ECANCELED once the clock was set. The
 * step is measured against CLOCK_MONOTONIC from the last arming. */
struct clockwatch {
	int fd;
	int64_t real0; /* CLOCK_REALTIME at arming, us */
	int64_t mono0; /* CLOCK_MONOTONIC at arming, us */
};

static int clockwatch_arm(struct clockwatch *w)
{
	struct itimerspec it = { 0 };

	w->real0 = clock_real_us();
	w->mono0 = (int64_t)clock_mono_us();
	it.it_value.tv_sec = (time_t)(w->real0 / 1000000) + 10 * 365 * 86400;
	return timerfd_settime(
		w->fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &it, NULL);
}

static void clockwatch_read(struct clockwatch *w, struct audit *a)
{
	uint64_t ticks;
	int64_t step;

	if (read(w->fd, &ticks, sizeof(ticks)) >= 0 || errno != ECANCELED) {
		if (errno != EAGAIN)
			(void)clockwatch_arm(w); /* expired: re-arm */
		return;
	}
	step = (clock_real_us() - w->real0) -
	       ((int64_t)clock_mono_us() - w->mono0);
	log_warnx("the system clock was set: step %+.6f s", (double)step / 1e6);
	if (a != NULL) {
		struct audit_event ev;

		audit_event_init(&ev, AUDIT_TIME_CHANGE);
		audit_event_addf(&ev, "step_us", "%lld", (long long)step);
		audit_event_addf(&ev, "step", "%+.6f", (double)step / 1e6);
		audit_event_msgf(&ev, "system clock set: step %+.6f s",
				 (double)step / 1e6);
		audit_emit(a, &ev);
	}
	if (clockwatch_arm(w) < 0)
		log_warn("timerfd (clock changes)");
}

/* Per-tick observations of the workers for audit records. */
struct workwatch {
	uint64_t kernel_drops; /* sum at the last tick */
	bool primed;
	bool high[QUEUE_MAX_WORKERS]; /* RESOURCE sent, not re-armed yet */
};

static void workwatch_tick(struct workwatch *w, struct cmd_daemon *d)
{
	struct cmd_stats_snap s;
	uint64_t drops = 0;

	if (d->queues == NULL || cmd_stats_read(d, &s) < 0)
		return;
	for (size_t i = 0; i < s.n_workers && i < QUEUE_MAX_WORKERS; i++) {
		const struct queue_worker_stats *q = &s.workers[i];
		unsigned pct = q->flows_max ? (unsigned)(q->flows_active * 100 /
							 q->flows_max) :
					      0;

		drops += q->kernel_drops;
		if (!w->high[i] && pct >= RESOURCE_HIGH_PCT && d->audit) {
			struct audit_event ev;

			audit_event_init(&ev, AUDIT_RESOURCE);
			audit_event_add(&ev, "resource", "flow-table");
			audit_event_add_u64(&ev, "queue", q->queue);
			audit_event_add_u64(&ev, "used", q->flows_active);
			audit_event_add_u64(&ev, "max", q->flows_max);
			audit_event_add_u64(&ev, "fill_pct", pct);
			audit_event_add_u64(&ev, "threshold_pct",
					    RESOURCE_HIGH_PCT);
			audit_event_msgf(&ev,
					 "worker on queue %u: flow table %u%% "
					 "full (%llu of %llu)",
					 q->queue, pct,
					 (unsigned long long)q->flows_active,
					 (unsigned long long)q->flows_max);
			audit_emit(d->audit, &ev);
			w->high[i] = true;
		} else if (w->high[i] && pct < RESOURCE_LOW_PCT) {
			w->high[i] = false;
		}
	}
	if (w->primed && drops > w->kernel_drops && d->audit) {
		struct audit_event ev;

		audit_event_init(&ev, AUDIT_QUEUE_OVERLOAD);
		audit_event_add_u64(&ev, "dropped", drops - w->kernel_drops);
		audit_event_add_u64(&ev, "total", drops);
		audit_event_addf(&ev, "queues", "%u-%u", d->queue_first,
				 d->queue_first + d->queue_n - 1);
		audit_event_msgf(&ev,
				 "inspection queues dropped %llu packets "
				 "(kernel queue full)",
				 (unsigned long long)(drops - w->kernel_drops));
		audit_emit(d->audit, &ev);
	}
	w->kernel_drops = drops;
	w->primed = true;
	cmd_stats_snap_free(&s);
}

static void audit_worker_stall(struct cmd_daemon *d, uint64_t stall_us)
{
	struct cmd_stats_snap s;
	struct audit_event ev;
	char q[256] = "";
	size_t off = 0;

	if (d->audit == NULL || cmd_stats_read(d, &s) < 0)
		return;
	audit_event_init(&ev, AUDIT_WORKER_STALL);
	for (size_t i = 0; i < s.n_workers; i++) {
		uint64_t idle =
			s.now_us > s.workers[i].last_progress_us ?
				s.now_us - s.workers[i].last_progress_us :
				0;

		if (idle > stall_us && off < sizeof(q))
			off += (size_t)snprintf(
				q + off, sizeof(q) - off, "%s%u:%llums",
				off ? "," : "", s.workers[i].queue,
				(unsigned long long)(idle / 1000));
	}
	audit_event_add(&ev, "queues", q[0] ? q : "-");
	audit_event_add_u64(&ev, "stall_ms", stall_us / 1000);
	audit_event_msgf(&ev,
			 "inspection worker stalled (queue:idle %s): watchdog "
			 "pings stop, queued traffic stays blocked",
			 q[0] ? q : "-");
	audit_emit(d->audit, &ev);
	cmd_stats_snap_free(&s);
}

static void audit_health(struct cmd_daemon *d)
{
	struct audit_stats *as;
	struct cmd_stats_snap s;
	struct audit_event ev;
	uint64_t pk = 0, v[3] = { 0 }, drops = 0;
	char sha[65];

	if (d->audit == NULL)
		return;
	as = calloc(1, sizeof(*as));
	if (as == NULL)
		return;
	if (cmd_stats_read(d, &s) == 0) {
		for (size_t i = 0; i < s.n_workers; i++) {
			pk += s.workers[i].packets;
			drops += s.workers[i].kernel_drops;
			for (int k = 0; k < 3; k++)
				v[k] += s.workers[i].verdicts[k];
		}
		cmd_stats_snap_free(&s);
	}
	audit_get_stats(d->audit, as);
	audit_event_init(&ev, AUDIT_HEALTH);
	audit_event_add_u64(&ev, "uptime", (uint64_t)(time(NULL) - d->started));
	audit_event_add(
		&ev, "policy_sha256",
		d->policy ? cmd_sha256_hex(d->policy, sha, sizeof(sha)) : "-");
	audit_event_add_u64(&ev, "generation", d->generation);
	audit_event_add(&ev, "island", d->island ? "1" : "0");
	audit_event_add_u64(&ev, "inspected_packets", pk);
	audit_event_add_u64(&ev, "verdict_allow", v[0]);
	audit_event_add_u64(&ev, "verdict_deny", v[1]);
	audit_event_add_u64(&ev, "verdict_reject", v[2]);
	audit_event_add_u64(&ev, "queue_drops", drops);
	audit_event_add_u64(&ev, "violations", d->violations.total);
	if (d->nflog) {
		struct nflog_stats ns;

		nflog_get_stats(d->nflog, &ns);
		audit_event_add_u64(&ev, "denied_packets", ns.packets);
		audit_event_add_u64(&ev, "denied_events", ns.events);
		audit_event_add_u64(&ev, "denied_lost", ns.lost + ns.enobufs);
	}
	audit_event_add_u64(&ev, "spool_fill_pct", as->spool.fill_pct);
	audit_event_add_u64(&ev, "spool_records", as->spool.records);
	audit_event_add_u64(&ev, "audit_queue_drops", as->queue_drops);
	for (unsigned i = 0; i < as->ncollectors && i < AUDIT_COLLECTORS_MAX;
	     i++)
		audit_event_addf(&ev, "collector", "%s %s backlog=%llu",
				 as->c[i].name, as->c[i].up ? "up" : "down",
				 (unsigned long long)as->c[i].backlog);
	audit_event_msgf(&ev,
			 "health: generation %llu, %llu packets inspected, "
			 "spool %u%% full",
			 (unsigned long long)d->generation,
			 (unsigned long long)pk, as->spool.fill_pct);
	audit_emit(d->audit, &ev);
	free(as);
}

static const char *queue_kind(const struct cmd_daemon *d)
{
	if (d->queue_n == 0)
		return "none";
	return d->features.native_queue ? "nft-queue" : "xt-NFQUEUE";
}

static void audit_daemon_start(struct cmd_daemon *d)
{
	struct audit_event ev;
	char sha[65];

	if (d->audit == NULL)
		return;
	audit_event_init(&ev, AUDIT_DAEMON_START);
	audit_event_add(&ev, "version", PACKAGE_VERSION);
	audit_event_add_u64(&ev, "pid", (uint64_t)getpid());
	audit_event_add(&ev, "policy", d->policy_name ? d->policy_name : "-");
	audit_event_add(&ev, "policy_sha256",
			cmd_sha256_hex(d->policy, sha, sizeof(sha)));
	audit_event_add(&ev, "source", cmd_source_name(d->source));
	audit_event_add(&ev, "island", d->island ? "1" : "0");
	audit_event_add(&ev, "queue", queue_kind(d));
	if (d->queue_n > 0)
		audit_event_addf(&ev, "queues", "%u-%u", d->queue_first,
				 d->queue_first + d->queue_n - 1);
	audit_event_add(&ev, "user", d->user ? d->user : "root");
	audit_event_msgf(&ev, "conduitd %s started (pid %ld), enforcing %s",
			 PACKAGE_VERSION, (long)getpid(),
			 d->island	? "island mode" :
			 d->policy_name ? d->policy_name :
					  "-");
	audit_emit(d->audit, &ev);
}

static int run(const struct opts *o, struct conf *c)
{
	struct cmd_daemon d = { 0 };
	struct reset_sock rst = { 0 };
	struct diag_list dl;
	struct nft_opts no;
	struct srv *srv = NULL;
	struct pollfd *pfd = NULL;
	struct audit_setup *as;
	struct clockwatch cw = { .fd = -1 };
	struct workwatch ww = { 0 };
	char path[PATH_MAX], piddir[PATH_MAX], running[PATH_MAX], buf[1024];
	char err[512];
	bool piddir_made = false, recovered;
	const char *ppath;
	enum cmd_source src;
	uint64_t wd_usec, wd_last = 0, health_due = 0;
	bool drop, stop = false, wd_warned = false;
	int sigfd = -1, tfd = -1, pidfd = -1, rc, stopsig = 0;
	size_t npfd;
	sigset_t mask;
	uid_t uid;
	gid_t gid;

	d.conf = c;
	d.started = time(NULL);
	d.source = CMD_SOURCE_CONFIG;
	snprintf(d.actor, sizeof(d.actor), "startup");
	if (geteuid() != 0)
		log_warnx(
			"not started as root: netlink access will likely fail");

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

	/* Another instance is refused before the kernel or the audit spool
	 * is touched. */
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

	/* The audit pipeline opens first so that a rejected start-up
	 * policy is on record too; key and TLS files are read as root. */
	as = calloc(1, sizeof(*as));
	if (as == NULL)
		fatal("calloc");
	if (audit_setup(c, as, err, sizeof(err)) < 0)
		fatalx("%s; the kernel ruleset is unchanged", err);
	rc = privdrop_prepare_dir(as->dir, 0750, uid, gid, 1);
	if (rc < 0) {
		errno = -rc;
		fatal("audit-dir %s", as->dir);
	}
	rc = audit_open(&as->o, &d.audit, err, sizeof(err));
	if (rc < 0)
		fatalx("audit: %s; the kernel ruleset is unchanged", err);
	audit_setup_wipe(as);

	/* The user store is read as root now and rewritten by the daemon's
	 * user later (it must own the file and its directory then). */
	{
		struct mgmt_opts mo;
		char *banner = NULL;

		/* its directory: created for the daemon's user when missing;
		 * one that exists is left as it is (a warning when the daemon
		 * will not be able to rewrite the store there) */
		if (parent_dir(c->users_file, path, sizeof(path)) == 0) {
			struct stat st;

			rc = privdrop_prepare_dir(path, 0700, drop ? uid : 0,
						  drop ? gid : 0, 0);
			if (rc < 0)
				log_warnx("users-file directory %s: %s", path,
					  strerror(-rc));
			else if (rc == 1)
				log_info("created %s for the user store", path);
			else if (stat(path, &st) == 0 && drop &&
				 st.st_uid != uid)
				log_warnx(
					"users-file directory %s is not owned by %s: user changes through conduitd will fail (conduitd.conf(5))",
					path, c->user);
		}
		diag_list_init(&dl);
		rc = mgmt_opts_from_conf(c, &mo, &banner, &dl);
		if (rc == 0) {
			mo.users_owner = drop ? uid : 0;
			d.mgmt = mgmt_new(&mo, &dl);
			if (d.mgmt == NULL)
				rc = -errno;
		}
		free(banner);
		if (rc < 0) {
			for (size_t i = 0; i < dl.n; i++)
				log_warnx("%s", diag_format(&dl.v[i], buf,
							    sizeof(buf)));
			fatalx("management: the user store %s cannot be used; the kernel ruleset is unchanged",
			       c->users_file);
		}
		diag_list_free(&dl);
		mgmt_set_audit(d.mgmt, d.audit);
	}
	if (drop)
		chown_spool_files(as->dir, uid, gid);
	log_info("audit: spool %s, %u collector%s", as->dir, as->o.ncollectors,
		 as->o.ncollectors == 1 ? "" : "s");

	cmd_state_path(c, STATE_RUNNING, running, sizeof(running));
	recovered = path_exists(running);
	if (recovered) {
		struct audit_event ev;

		log_warnx("%s exists: the last run did not end cleanly",
			  running);
		audit_event_init(&ev, AUDIT_DAEMON_RECOVER);
		audit_event_add(&ev, "marker", running);
		audit_event_msgf(&ev,
				 "started after an unclean end (crash, kill "
				 "-9 or power loss)");
		audit_emit(d.audit, &ev);
	}

	/* Policy next: a bad one leaves the kernel as it is. */
	diag_list_init(&dl);
	ppath = startup_policy_path(c, path, sizeof(path), &src);
	rc = policy_load_file(ppath, 0, &d.policy, &dl);
	if (rc == 0)
		rc = cmd_check_policy_conf(c, d.policy, &dl);
	if (rc < 0) {
		diag_print(&dl, stderr);
		if (dl.n == 0)
			log_warnx("%s: %s", ppath, strerror(-rc));
		cmd_audit_policy_reject(&d, ppath, src, rc, &dl);
		audit_close(d.audit, 0);
		fatalx("policy %s rejected: the kernel ruleset is unchanged",
		       ppath);
	}
	diag_list_free(&dl);
	d.policy_name = strdup(ppath);
	d.source = src;
	log_info("policy %s: %zu zones, %zu conduits%s", ppath,
		 d.policy->n_zones, d.policy->n_conduits,
		 src == CMD_SOURCE_STATE ? " (the last applied policy)" : "");
	cmd_audit_policy_load(&d, d.policy, ppath, src);

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
		cmd_audit_policy_reject(&d, d.policy_name, src, rc, &dl);
		audit_close(d.audit, 0);
		errno = -rc;
		fatal("commit of table inet %s failed; the kernel ruleset is unchanged",
		      NFT_TABLE_NAME);
	}
	diag_list_free(&dl);
	d.generation = 1;
	d.last_apply = time(NULL);
	if (d.audit) {
		struct audit_event ev;
		char sha[65];

		audit_event_init(&ev, AUDIT_POLICY_APPLY);
		audit_event_add(&ev, "name", d.policy_name);
		audit_event_add(&ev, "source", cmd_source_name(src));
		audit_event_add(&ev, "sha256",
				cmd_sha256_hex(d.policy, sha, sizeof(sha)));
		audit_event_add_u64(&ev, "generation", d.generation);
		audit_event_add(&ev, "island", d.island ? "1" : "0");
		audit_event_add_u64(&ev, "zones", d.policy->n_zones);
		audit_event_add_u64(&ev, "conduits", d.policy->n_conduits);
		audit_event_add(&ev, "who", "startup");
		audit_event_msgf(&ev, "policy %s committed at start-up%s",
				 d.policy_name,
				 d.island ? " (island mode on)" : "");
		audit_emit(d.audit, &ev);
	}
	cmd_warn_fail_open(&d, d.policy);
	if (cmd_write_atomic(running, "running\n", 8) < 0)
		log_warn("%s: an unclean end will not be detected", running);
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
		srv_set_close_fn(srv, on_close);
		mgmt_set_server(d.mgmt, srv);
	}
	if (c->n_mgmt_listen > 0) {
		struct srv_tls_opts to = {
			.port = c->management_port,
			.cert = c->mgmt_tls_cert,
			.key = c->mgmt_tls_key,
			.client_ca = c->mgmt_tls_client_ca,
			.max_clients = c->mgmt_max_clients,
			.max_unauth = c->mgmt_max_unauth,
			.max_per_source = c->mgmt_max_per_source,
			.handshake_timeout = c->mgmt_handshake_timeout,
		};

		if (check_listen(c, d.policy, err, sizeof(err)) < 0)
			fatalx("%s", err);
		for (unsigned i = 0; i < c->n_mgmt_listen; i++)
			to.listen[i] = c->mgmt_listen[i];
		rc = srv_add_tls(srv, &to);
		if (rc < 0) {
			errno = -rc;
			fatal("management endpoint");
		}
		for (unsigned i = 0; i < c->n_mgmt_listen; i++)
			log_info("management endpoint: TLS on %s%s%s:%u%s",
				 strchr(c->mgmt_listen[i], ':') ? "[" : "",
				 c->mgmt_listen[i],
				 strchr(c->mgmt_listen[i], ':') ? "]" : "",
				 c->management_port,
				 c->mgmt_tls_client_ca ?
					 " (client certificates accepted)" :
					 "");
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
	/* after the signal mask: the threads inherit it, so SIGHUP and
	 * SIGTERM reach the signalfd, never a thread (default: exit) */
	rc = audit_start(d.audit);
	if (rc < 0) {
		errno = -rc;
		fatal("audit: starting the writer and sender threads");
	}
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
	audit_daemon_start(&d);
	d.actor[0] = '\0';

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
	cw.fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (cw.fd < 0 || clockwatch_arm(&cw) < 0)
		log_warn("timerfd (clock changes): TIME_CHANGE not recorded");
	if (c->audit_health_interval)
		health_due = (uint64_t)mono_now() + c->audit_health_interval;
	npfd = 6 + srv_pollfd_max(srv);
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
		pfd[4] = (struct pollfd){ .fd = cw.fd, .events = POLLIN };
		pfd[5] = (struct pollfd){ .fd = mgmt_event_fd(d.mgmt),
					  .events = POLLIN };
		ns = srv_pollfds(srv, pfd + 6, npfd - 6);
		n = poll(pfd, 6 + ns, -1);
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

					snprintf(d.actor, sizeof(d.actor),
						 "SIGHUP from pid %u",
						 si.ssi_pid);
					on_sighup(&d);
					d.actor[0] = '\0';
					srv_stalled(srv, mono_now() - t0);
				} else {
					log_info("%s received: exiting",
						 strsignal((int)si.ssi_signo));
					stopsig = (int)si.ssi_signo;
					stop = true;
				}
			}
		}
		if (pfd[1].revents & POLLIN) {
			uint64_t ticks;

			if (read(tfd, &ticks, sizeof(ticks)) == sizeof(ticks)) {
				if (d.nflog)
					nflog_tick(d.nflog, mono_now(),
						   cmd_nflog_event, &d);
				srv_tick(srv, mono_now());
				mgmt_tick(d.mgmt, mono_now());
				/* A stalled worker stops the pings: the
				 * service manager restarts us, the queued
				 * traffic stays blocked meanwhile. */
				bool healthy =
					d.queues == NULL ||
					queue_healthy(
						d.queues, clock_mono_us(),
						(uint64_t)c->watchdog_stall_ms *
							1000);

				if (!healthy && !wd_warned) {
					log_warnx("an inspection worker is "
						  "stalled: watchdog pings "
						  "stop");
					audit_worker_stall(
						&d,
						(uint64_t)c->watchdog_stall_ms *
							1000);
					wd_warned = true;
				} else if (healthy) {
					wd_warned = false;
				}
				workwatch_tick(&ww, &d);
				if (health_due &&
				    (uint64_t)mono_now() >= health_due) {
					audit_health(&d);
					health_due = (uint64_t)mono_now() +
						     c->audit_health_interval;
				}
				/* Ping when the next tick would be later than
				 * half the watchdog period. */
				if (wd_usec && healthy &&
				    clock_mono_us() - wd_last + 1000000 >
					    wd_usec / 2) {
					daemon_notify("WATCHDOG=1");
					wd_last = clock_mono_us();
				}
			}
		}
		if (d.nflog && (pfd[2].revents & POLLIN)) {
			rc = nflog_dispatch(d.nflog, d.policy, cmd_nflog_event,
					    &d);
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
		if (cw.fd >= 0 && (pfd[4].revents & POLLIN))
			clockwatch_read(&cw, d.audit);
		if (pfd[5].revents & POLLIN)
			mgmt_on_event(d.mgmt, &d);
		if (!stop)
			srv_dispatch(srv, pfd + 6, ns, mono_now());
	}

	daemon_notify("STOPPING=1");
	if (d.queues) {
		queue_drain_events(d.queues, cmd_dpi_event, &d);
		queue_stop(d.queues); /* queued traffic is dropped from now */
		d.queues = NULL;
	}
	reset_close(&rst);
	if (d.nflog) {
		nflog_flush(d.nflog, cmd_nflog_event, &d);
		nflog_close(d.nflog);
	}
	srv_close(srv, true);
	mgmt_free(d.mgmt);
	d.mgmt = NULL;
	log_info(
		"table inet %s stays in the kernel and keeps enforcing (fail close); `conduitd --flush` removes it",
		NFT_TABLE_NAME);
	if (d.audit) {
		struct audit_event ev;
		long up = (long)(time(NULL) - d.started);

		audit_event_init(&ev, AUDIT_DAEMON_STOP);
		audit_event_add(&ev, "signal",
				stopsig ? sigabbrev_np(stopsig) : "-");
		audit_event_add_u64(&ev, "uptime", (uint64_t)up);
		audit_event_add_u64(&ev, "generation", d.generation);
		audit_event_msgf(&ev,
				 "conduitd stopped by %s after %lds; table "
				 "inet %s stays and keeps enforcing",
				 stopsig ? strsignal(stopsig) : "request", up,
				 NFT_TABLE_NAME);
		audit_emit(d.audit, &ev);
	}
	audit_close(d.audit, AUDIT_DRAIN_MS);
	d.audit = NULL;
	if (unlink(running) < 0 && errno != ENOENT)
		log_warn("%s: the next start will report an unclean end",
			 running);
	if (pidfd >= 0)
		daemon_pidfile_remove(c->pidfile, pidfd);
	free(pfd);
	free(as);
	close(sigfd);
	close(tfd);
	if (cw.fd >= 0)
		close(cw.fd);
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
