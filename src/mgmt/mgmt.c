/*
 * The management core: sessions, authentication, the RBAC gate, user and
 * session commands, dual approval, and their audit records. See mgmt.h.
 *
 * Threads: everything runs on the daemon's main thread except the
 * password hash of auth.login and auth.unlock, which one hashing thread
 * computes (a job holds copies, never pointers into the store); its
 * results come back through an eventfd and are judged on the main thread
 * against the store as it is then.
 */
#include "config.h"

#include "mgmt/mgmt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit/audit.h"
#include "audit/event.h"
#include "common/clock.h"
#include "common/conf.h"
#include "common/diag.h"
#include "common/log.h"
#include "mgmt/commands.h"
#include "mgmt/control.h"
#include "mgmt/rbac.h"

#define MGMT_SOURCES_MAX 256
#define MGMT_BOOTSTRAP_USER "(bootstrap)"
#define MGMT_PW_MAX 1024
#define MGMT_CODE_MAX 16

enum job_kind {
	JOB_LOGIN,
	JOB_UNLOCK,
};

struct job {
	struct job *next;
	enum job_kind kind;
	uint64_t client;
	uint32_t sess_id;
	uint64_t req_id;
	char user[AUTH_NAME_MAX + 1]; /* as given, if valid, else "" */
	char given[68];		      /* as given, for the audit record */
	char host[48];
	char source[SESS_SOURCE_MAX];
	char password[MGMT_PW_MAX + 1];
	char code[MGMT_CODE_MAX + 1];
	char hash[AUTH_HASH_MAX + 1]; /* what the thread verifies against */
	bool real;		      /* hash is the user's, not the dummy */
	bool user_locked, src_locked;
	bool cert; /* the TLS peer's certificate verified; CN below */
	char cert_cn[65];
	bool ok; /* the thread's verdict on the password */
};

/* Runtime state of a user that the store does not keep. */
struct ustate {
	char name[AUTH_NAME_MAX + 1];
	struct lockout_state lk;
	int64_t last_step; /* TOTP replay guard */
};

struct srcstate {
	char host[48];
	struct lockout_state lk;
	int64_t used;
};

/* Per session slot: what the session table does not hold. */
struct sx {
	struct srv_peer *peer; /* valid until the close fn */
	const char *end;       /* set before srv_kill: why */
	char by[96];	       /* who killed it */
	bool busy;	       /* a job is running for it */
};

struct pending_payload {
	char *name;
	char *content;
	size_t len;
	json_t *diff;
};

struct mgmt {
	struct mgmt_opts o;
	char *users_file;
	char *banner;
	char *common_file;
	struct auth_store store;
	struct ustate *us;
	size_t n_us, cap_us;
	struct srcstate src[MGMT_SOURCES_MAX];
	struct sess_table sessions;
	struct sx *sx;
	struct rbac_approvals approvals;
	struct audit *audit;
	struct srv *srv;
	/* the request being served (hello) */
	struct sess *cur;
	struct srv_peer *cur_peer;
	/* hashing thread */
	pthread_t thr;
	bool thr_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *in_head, *in_tail;
	struct job *done;
	bool stop;
	bool mu_init;
	int efd;
};

/* --- options ------------------------------------------------------------ */

void mgmt_opts_default(struct mgmt_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->users_file = CONF_USERS_FILE_DEFAULT;
	o->cost = AUTH_COST_DEFAULT;
	auth_pw_policy_default(&o->pw);
	lockout_policy_default(&o->lockout);
	o->src_lockout.max_failures = 20;
	o->src_lockout.window_s = 900;
	o->src_lockout.lock_s = 900;
	o->idle_lock_s = SESS_IDLE_LOCK_DEFAULT;
	o->max_sessions = SESS_MAX_TOTAL_DEFAULT;
	o->max_per_user = SESS_MAX_PER_USER_DEFAULT;
	o->login_timeout_s = MGMT_LOGIN_TIMEOUT_DEFAULT;
	o->approval_ttl_s = RBAC_PENDING_TTL_DEFAULT;
	o->issuer = "conduitd";
}

/* Reads a banner file: UTF-8 text up to MGMT_BANNER_MAX bytes. */
static int read_banner(const char *path, char **out, struct diag_list *dl)
{
	char *buf;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		diag_add(dl, path, 0, 0, "banner-file: cannot open: %s",
			 strerror(e));
		return -e;
	}
	buf = malloc(MGMT_BANNER_MAX + 2);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, MGMT_BANNER_MAX + 1);
	close(fd);
	if (n < 0 || n > MGMT_BANNER_MAX) {
		diag_add(dl, path, 0, 0, "banner-file: %s",
			 n < 0 ? strerror(errno) : "longer than 4096 bytes");
		free(buf);
		return n < 0 ? -EIO : -EFBIG;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	*out = buf;
	return 0;
}

int mgmt_opts_from_conf(const struct conf *c, struct mgmt_opts *o,
			char **banner_buf, struct diag_list *dl)
{
	mgmt_opts_default(o);
	*banner_buf = NULL;
	o->users_file = c->users_file;
	if (c->password_cost)
		o->cost = c->password_cost;
	if (c->password_min_length)
		o->pw.min_len = c->password_min_length;
	if (c->password_min_classes)
		o->pw.min_classes = c->password_min_classes;
	if (c->password_history_set)
		o->pw.history = c->password_history;
	o->pw.common_file = c->password_common_file;
	if (c->lockout_failures)
		o->lockout.max_failures = c->lockout_failures;
	if (c->lockout_window)
		o->lockout.window_s = c->lockout_window;
	if (c->lockout_time_set)
		o->lockout.lock_s = c->lockout_time;
	if (c->session_idle_lock_set)
		o->idle_lock_s = c->session_idle_lock ? c->session_idle_lock :
							SESS_IDLE_OFF;
	if (c->session_max)
		o->max_sessions = c->session_max;
	if (c->session_max_per_user)
		o->max_per_user = c->session_max_per_user;
	if (c->mgmt_login_timeout)
		o->login_timeout_s = c->mgmt_login_timeout;
	o->approval_required = c->approval_required;
	if (c->approval_ttl)
		o->approval_ttl_s = c->approval_ttl;
	if (c->banner_file) {
		int rc = read_banner(c->banner_file, banner_buf, dl);

		if (rc < 0)
			return rc;
		o->banner = *banner_buf;
	}
	return 0;
}

/* --- the hashing thread ------------------------------------------------ */

static void *hash_thread(void *arg)
{
	struct mgmt *m = arg;

	pthread_mutex_lock(&m->mu);
	for (;;) {
		struct job *j;
		uint64_t one = 1;

		while (!m->stop && m->in_head == NULL)
			pthread_cond_wait(&m->cv, &m->mu);
		if (m->stop)
			break;
		j = m->in_head;
		m->in_head = j->next;
		if (m->in_head == NULL)
			m->in_tail = NULL;
		pthread_mutex_unlock(&m->mu);
		j->ok = auth_verify(j->password, j->hash);
		explicit_bzero(j->password, sizeof(j->password));
		pthread_mutex_lock(&m->mu);
		j->next = m->done;
		m->done = j;
		if (write(m->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("mgmt: eventfd");
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	explicit_bzero(j, sizeof(*j));
	free(j);
}

/* The thread starts with the first job: after the privilege drop and the
 * daemon's signal mask, which it inherits. */
static int job_submit(struct mgmt *m, struct job *j)
{
	if (!m->thr_started) {
		int rc = pthread_create(&m->thr, NULL, hash_thread, m);

		if (rc != 0) {
			log_warnx("management: hashing thread: %s",
				  strerror(rc));
			return -rc;
		}
		m->thr_started = true;
	}
	pthread_mutex_lock(&m->mu);
	j->next = NULL;
	if (m->in_tail)
		m->in_tail->next = j;
	else
		m->in_head = j;
	m->in_tail = j;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

int mgmt_event_fd(const struct mgmt *m)
{
	return m->efd;
}

/* --- lifecycle ------------------------------------------------------------ */

static void pending_free(void *p)
{
	struct pending_payload *pp = p;

	if (pp == NULL)
		return;
	free(pp->name);
	free(pp->content);
	json_decref(pp->diff);
	free(pp);
}

struct mgmt *mgmt_new(const struct mgmt_opts *o, struct diag_list *dl)
{
	struct mgmt *m = calloc(1, sizeof(*m));
	int rc;

	if (m == NULL)
		return NULL;
	m->o = *o;
	m->efd = -1;
	m->users_file =
		strdup(o->users_file ? o->users_file : CONF_USERS_FILE_DEFAULT);
	m->banner = strdup(o->banner ? o->banner : MGMT_BANNER_DEFAULT);
	if (o->pw.common_file)
		m->common_file = strdup(o->pw.common_file);
	if (!m->users_file || !m->banner ||
	    (o->pw.common_file && !m->common_file)) {
		rc = -ENOMEM;
		goto fail;
	}
	m->o.users_file = m->users_file;
	m->o.banner = m->banner;
	m->o.pw.common_file = m->common_file;
	if (m->o.issuer == NULL)
		m->o.issuer = "conduitd";
	rc = auth_store_load_owner(m->users_file,
				   o->users_owner ? o->users_owner : geteuid(),
				   &m->store, dl);
	if (rc < 0)
		goto fail;
	rc = sess_table_init(&m->sessions, o->max_sessions, o->max_per_user,
			     o->idle_lock_s);
	if (rc < 0)
		goto fail;
	m->sx = calloc(m->sessions.cap, sizeof(*m->sx));
	if (m->sx == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rbac_approvals_init(&m->approvals, o->approval_ttl_s, pending_free);
	/* computed now, not on the first failed login (timing) */
	(void)auth_dummy_hash(m->o.cost);
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->efd < 0) {
		rc = -errno;
		goto fail;
	}
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	m->mu_init = true;
	log_info("management: %zu user%s in %s", m->store.n,
		 m->store.n == 1 ? "" : "s", m->users_file);
	return m;
fail:
	mgmt_free(m);
	errno = -rc;
	return NULL;
}

void mgmt_free(struct mgmt *m)
{
	struct job *j, *n;

	if (m == NULL)
		return;
	if (m->thr_started) {
		pthread_mutex_lock(&m->mu);
		m->stop = true;
		pthread_cond_broadcast(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thr, NULL);
	}
	if (m->mu_init) {
		pthread_mutex_destroy(&m->mu);
		pthread_cond_destroy(&m->cv);
	}
	for (j = m->in_head; j; j = n) {
		n = j->next;
		job_free(j);
	}
	for (j = m->done; j; j = n) {
		n = j->next;
		job_free(j);
	}
	if (m->efd >= 0)
		close(m->efd);
	if (m->sx) {
		rbac_approvals_free(&m->approvals);
		sess_table_free(&m->sessions);
	}
	free(m->sx);
	auth_store_free(&m->store);
	free(m->us);
	free(m->users_file);
	free(m->banner);
	free(m->common_file);
	free(m);
}

void mgmt_set_audit(struct mgmt *m, struct audit *a)
{
	m->audit = a;
}

void mgmt_set_server(struct mgmt *m, struct srv *s)
{
	m->srv = s;
}

bool mgmt_approval_required(const struct mgmt *m)
{
	return m->o.approval_required;
}

int mgmt_reload_users(struct mgmt *m, struct diag_list *dl)
{
	struct auth_store n = { 0 };
	int rc = auth_store_load_owner(
		m->users_file, m->o.users_owner ? m->o.users_owner : geteuid(),
		&n, dl);

	if (rc < 0)
		return rc;
	auth_store_free(&m->store);
	m->store = n;
	log_info("management: reloaded %zu user%s from %s", n.n,
		 n.n == 1 ? "" : "s", m->users_file);
	return 0;
}

/* --- small helpers --------------------------------------------------------- */

static int64_t now_mono(void)
{
	return (int64_t)(clock_mono_us() / 1000000u);
}

static struct sx *sx_of(struct mgmt *m, const struct sess *s)
{
	return &m->sx[s - m->sessions.v];
}

static struct ustate *ustate_get(struct mgmt *m, const char *name)
{
	struct ustate *n;

	for (size_t i = 0; i < m->n_us; i++)
		if (strcmp(m->us[i].name, name) == 0)
			return &m->us[i];
	if (m->n_us == m->cap_us) {
		size_t cap = m->cap_us ? 2 * m->cap_us : 16;

		n = realloc(m->us, cap * sizeof(*n));
		if (n == NULL)
			return NULL;
		m->us = n;
		m->cap_us = cap;
	}
	n = &m->us[m->n_us++];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	return n;
}

static void ustate_del(struct mgmt *m, const char *name)
{
	for (size_t i = 0; i < m->n_us; i++)
		if (strcmp(m->us[i].name, name) == 0) {
			m->us[i] = m->us[--m->n_us];
			return;
		}
}

static struct srcstate *src_get(struct mgmt *m, const char *host, int64_t now)
{
	struct srcstate *old = &m->src[0];

	for (size_t i = 0; i < MGMT_SOURCES_MAX; i++) {
		struct srcstate *s = &m->src[i];

		if (s->host[0] && strcmp(s->host, host) == 0) {
			s->used = now;
			return s;
		}
		if (!s->host[0]) {
			old = s;
			break;
		}
		if (s->used < old->used)
			old = s;
	}
	memset(old, 0, sizeof(*old));
	snprintf(old->host, sizeof(old->host), "%s", host);
	old->used = now;
	return old;
}

static bool have_active_admin(const struct mgmt *m)
{
	for (size_t i = 0; i < m->store.n; i++)
		if (m->store.v[i].role == AUTH_ROLE_ADMIN &&
		    m->store.v[i].state == AUTH_STATE_ACTIVE &&
		    m->store.v[i].hash[0] != '\0')
			return true;
	return false;
}

static unsigned active_admins(const struct mgmt *m)
{
	unsigned n = 0;

	for (size_t i = 0; i < m->store.n; i++)
		if (m->store.v[i].role == AUTH_ROLE_ADMIN &&
		    m->store.v[i].state == AUTH_STATE_ACTIVE)
			n++;
	return n;
}

static const char *channel_name(enum sess_channel c)
{
	return c == SESS_CH_TLS ? "tls" : "unix";
}

static const char *sess_user(const struct sess *s)
{
	return s && s->user[0] ? s->user : "-";
}

static void sess_actor(const struct sess *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s (%s %s, session %u)", sess_user(s),
		 channel_name(s->channel), s->source, (unsigned)s->id);
}

/* Adds the session's identity to an audit event. */
static void ev_sess(struct audit_event *ev, const struct sess *s)
{
	audit_event_add(ev, "user", sess_user(s));
	if (s->user[0])
		audit_event_add(ev, "role",
				s->method == SESS_M_BOOTSTRAP ?
					"bootstrap" :
					auth_role_name(s->role));
	audit_event_add(ev, "channel", channel_name(s->channel));
	audit_event_add(ev, "source", s->source);
	audit_event_add_u64(ev, "session", s->id);
}

static void emit(struct mgmt *m, struct audit_event *ev)
{
	if (m->audit)
		audit_emit(m->audit, ev);
}

static int save_store(struct mgmt *m, char *why, size_t len)
{
	int rc = auth_store_save(m->users_file, &m->store);

	if (rc < 0) {
		snprintf(why, len, "cannot write %s: %s", m->users_file,
			 strerror(-rc));
		log_warnx("management: %s", why);
	}
	return rc;
}

/* --- sessions ---------------------------------------------------------------- */

static void audit_login(struct mgmt *m, const struct sess *s,
			const char *action)
{
	struct audit_event ev;

	audit_event_init(&ev, AUDIT_MGMT_LOGIN);
	ev_sess(&ev, s);
	audit_event_add(&ev, "method", sess_method_name(s->method));
	audit_event_add(&ev, "action", action);
	if (s->channel == SESS_CH_TLS && sx_of(m, s)->peer)
		audit_event_add(&ev, "tls", sx_of(m, s)->peer->tls_version);
	audit_event_msgf(&ev, "%s of %s by %s from %s %s (session %u)", action,
			 sess_user(s), sess_method_name(s->method),
			 channel_name(s->channel), s->source, (unsigned)s->id);
	emit(m, &ev);
	log_info("management: %s: %s %s from %s %s (session %u)", action,
		 sess_user(s), sess_method_name(s->method),
		 channel_name(s->channel), s->source, (unsigned)s->id);
}

static void audit_login_fail(struct mgmt *m, const char *given, const char *ch,
			     const char *source, const char *method,
			     const char *reason, uint32_t sess_id)
{
	struct audit_event ev;

	audit_event_init(&ev, AUDIT_MGMT_LOGIN_FAIL);
	audit_event_add(&ev, "user", given && *given ? given : "-");
	audit_event_add(&ev, "channel", ch);
	audit_event_add(&ev, "source", source);
	audit_event_add(&ev, "method", method);
	audit_event_add(&ev, "reason", reason);
	if (sess_id)
		audit_event_add_u64(&ev, "session", sess_id);
	audit_event_msgf(&ev, "failed login as %s from %s %s: %s",
			 given && *given ? given : "-", ch, source, reason);
	emit(m, &ev);
	log_warnx("management: failed login as \"%.32s\" from %s %s: %s",
		  given && *given ? given : "-", ch, source, reason);
}

static void audit_lockout(struct mgmt *m, const char *what, const char *who,
			  const char *source, int64_t until_in)
{
	struct audit_event ev;

	audit_event_init(&ev, AUDIT_MGMT_LOCKOUT);
	audit_event_add(&ev, what, who);
	audit_event_add(&ev, "source", source);
	if (until_in >= 0)
		audit_event_add_u64(&ev, "seconds", (uint64_t)until_in);
	else
		audit_event_add(&ev, "seconds", "until-unlocked");
	audit_event_msgf(&ev, "%s %s locked after failed logins", what, who);
	emit(m, &ev);
	log_warnx("management: %s %s locked after failed logins", what, who);
}

/* The session of a new connection; unix peers are authenticated here. On
 * NULL, *resp is the answer (an error) and the connection closes. */
static struct sess *session_start(struct mgmt *m, struct srv_peer *peer,
				  uint64_t id, int64_t now, json_t **resp)
{
	enum sess_channel ch = peer->channel == SRV_CH_TLS ? SESS_CH_TLS :
							     SESS_CH_UNIX;
	struct auth_user *u = NULL;
	char uname[AUTH_NAME_MAX + 1] = "";
	struct passwd *pw;
	struct sess *s;
	int rc;

	*resp = NULL;
	s = sess_open(&m->sessions, peer->client, ch, peer->addr, now);
	if (s == NULL) {
		audit_login_fail(m, NULL, channel_name(ch), peer->addr, "-",
				 "session cap reached", 0);
		peer->close_after = true;
		*resp = cmd_err(id, CTL_ERR_BUSY,
				"too many management sessions (session-max %u)",
				m->sessions.max_total);
		return NULL;
	}
	memset(sx_of(m, s), 0, sizeof(struct sx));
	sx_of(m, s)->peer = peer;
	peer->session = s;
	if (ch == SESS_CH_TLS)
		return s;
	pw = getpwuid(peer->uid);
	if (pw != NULL && strlen(pw->pw_name) <= AUTH_NAME_MAX) {
		snprintf(uname, sizeof(uname), "%s", pw->pw_name);
		u = auth_store_by_unix(&m->store, uname);
	}
	if (u != NULL && u->state == AUTH_STATE_ACTIVE) {
		rc = sess_authenticate(&m->sessions, s, u->name, u->role,
				       SESS_M_PEERCRED, now);
		if (rc < 0) {
			audit_login_fail(m, u->name, "unix", peer->addr,
					 "peercred", "per-user session cap", 0);
			peer->close_after = true;
			*resp = cmd_err(
				id, CTL_ERR_BUSY,
				"%s has too many sessions (session-max-per-user %u)",
				u->name, m->sessions.max_per_user);
			return NULL;
		}
		audit_login(m, s, "login");
		return s;
	}
	if (peer->uid == 0 && !have_active_admin(m)) {
		rc = sess_authenticate(&m->sessions, s, MGMT_BOOTSTRAP_USER,
				       AUTH_ROLE_ADMIN, SESS_M_BOOTSTRAP, now);
		if (rc == 0) {
			audit_login(m, s, "login");
			return s;
		}
	}
	audit_login_fail(m, uname[0] ? uname : "-", "unix", peer->addr,
			 "peercred",
			 u ? "mapped user is disabled" :
			     "unix user not mapped to a conduitd user",
			 s->id);
	peer->close_after = true;
	*resp = cmd_err(id, CTL_ERR_PERMISSION,
			"uid %u (%s) is not mapped to an active conduitd user",
			(unsigned)peer->uid, uname[0] ? uname : "unknown");
	return NULL;
}

static const char *close_reason(enum srv_close_reason why)
{
	switch (why) {
	case SRV_CLOSE_PEER:
		return "closed";
	case SRV_CLOSE_TIMEOUT:
		return "timeout";
	case SRV_CLOSE_PROTOCOL:
		return "protocol-error";
	case SRV_CLOSE_KILLED:
		return "killed";
	case SRV_CLOSE_REQUEST:
		return "logout";
	case SRV_CLOSE_EVICTED:
		return "evicted";
	case SRV_CLOSE_SHUTDOWN:
		return "shutdown";
	}
	return "closed";
}

void mgmt_on_close(struct mgmt *m, struct srv_peer *peer,
		   enum srv_close_reason why, const char *error)
{
	struct sess *s = peer->session;
	struct audit_event ev;
	struct sx *x;
	const char *reason;
	int64_t now = now_mono();

	/* the server calls us for a TLS handshake that failed on a client
	 * certificate too: no session, no TLS version yet (CR 1.9) */
	if (s == NULL && peer->channel == SRV_CH_TLS &&
	    peer->tls_version[0] == '\0') {
		audit_login_fail(m, peer->cert_cn, "tls", peer->addr,
				 "certificate", error && *error ? error : "-",
				 0);
		return;
	}
	if (why == SRV_CLOSE_PROTOCOL &&
	    (s == NULL || s->state == SESS_UNAUTH)) {
		/* a malformed frame before any session or login (CR 3.5) */
		audit_event_init(&ev, AUDIT_MGMT_COMMAND);
		audit_event_add(&ev, "user", s ? sess_user(s) : "-");
		audit_event_add(&ev, "channel",
				peer->channel == SRV_CH_TLS ? "tls" : "unix");
		audit_event_add(&ev, "source", peer->addr);
		audit_event_add(&ev, "outcome", "rejected");
		audit_event_add(&ev, "error", error && *error ? error : "-");
		audit_event_msgf(&ev, "malformed frame from %s %s: %s",
				 peer->channel == SRV_CH_TLS ? "tls" : "unix",
				 peer->addr, error && *error ? error : "-");
		emit(m, &ev);
	}
	if (s == NULL)
		return;
	x = sx_of(m, s);
	reason = x->end ? x->end : close_reason(why);
	if (s->state != SESS_UNAUTH) {
		audit_event_init(&ev, AUDIT_MGMT_LOGOUT);
		ev_sess(&ev, s);
		audit_event_add(&ev, "reason", reason);
		if (x->by[0])
			audit_event_add(&ev, "by", x->by);
		if (error && *error)
			audit_event_add(&ev, "error", error);
		audit_event_add_u64(&ev, "duration",
				    (uint64_t)(now - s->opened));
		audit_event_msgf(&ev, "session %u of %s ended: %s",
				 (unsigned)s->id, sess_user(s), reason);
		emit(m, &ev);
		if (s->channel == SESS_CH_TLS)
			log_info("management: session %u of %s ended: %s",
				 (unsigned)s->id, sess_user(s), reason);
	} else if (x->end) {
		log_info("management: %s %s: %s", channel_name(s->channel),
			 s->source, x->end);
	}
	if (m->cur == s) {
		m->cur = NULL;
		m->cur_peer = NULL;
	}
	memset(x, 0, sizeof(*x));
	sess_close(&m->sessions, s);
	peer->session = NULL;
}

static void on_idle_locked(struct sess *s, void *arg)
{
	struct mgmt *m = arg;
	struct audit_event ev;

	audit_event_init(&ev, AUDIT_MGMT_SESSION);
	ev_sess(&ev, s);
	audit_event_add(&ev, "action", "locked");
	audit_event_add(&ev, "reason", "idle");
	audit_event_add_u64(&ev, "idle-lock", m->sessions.idle_lock_s);
	audit_event_msgf(&ev, "session %u of %s locked after %u s idle",
			 (unsigned)s->id, s->user, m->sessions.idle_lock_s);
	emit(m, &ev);
	log_info("management: session %u of %s locked after %u s idle",
		 (unsigned)s->id, s->user, m->sessions.idle_lock_s);
}

static void expire_approvals(struct mgmt *m)
{
	int64_t wall = (int64_t)time(NULL);

	for (size_t i = 0; i < m->approvals.n; i++) {
		const struct rbac_pending *p = &m->approvals.v[i];
		struct audit_event ev;

		if (p->expires > wall)
			continue;
		audit_event_init(&ev, AUDIT_MGMT_APPROVAL);
		audit_event_add(&ev, "action", "expired");
		audit_event_add_u64(&ev, "id", p->id);
		audit_event_add(&ev, "author", p->author);
		audit_event_add(&ev, "sha256", p->sha256);
		audit_event_msgf(&ev, "pending policy change %u of %s expired",
				 (unsigned)p->id, p->author);
		emit(m, &ev);
	}
	rbac_expire(&m->approvals, wall);
}

void mgmt_tick(struct mgmt *m, int64_t now)
{
	(void)now;
	now = now_mono();
	sess_idle_lock(&m->sessions, now, on_idle_locked, m);
	for (size_t i = 0; i < m->sessions.cap; i++) {
		struct sess *s = &m->sessions.v[i];
		struct sx *x = &m->sx[i];

		if (!s->in_use || s->state != SESS_UNAUTH || x->busy ||
		    now - s->opened < (int64_t)m->o.login_timeout_s)
			continue;
		x->end = "no login in time";
		if (m->srv)
			srv_kill(m->srv, s->client);
	}
	expire_approvals(m);
}

/* --- the request path ----------------------------------------------------- */

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static void audit_denied(struct mgmt *m, const struct sess *s, const char *cmd,
			 const char *reason)
{
	struct audit_event ev;

	audit_event_init(&ev, AUDIT_MGMT_DENIED);
	ev_sess(&ev, s);
	audit_event_add(&ev, "command", cmd);
	audit_event_add(&ev, "reason", reason);
	audit_event_msgf(&ev, "%s refused for %s: %s", cmd, sess_user(s),
			 reason);
	emit(m, &ev);
	log_warnx("management: %s refused for %s (%s %s): %s", cmd,
		  sess_user(s), channel_name(s->channel), s->source, reason);
}

/* Whether the session's state lets it run cmd; else the error. */
static json_t *gate(struct mgmt *m, struct sess *s, const char *cmd,
		    uint64_t id)
{
	char roles[96], why[160];

	if (s->state == SESS_UNAUTH) {
		if (is(cmd, "hello") || is(cmd, "auth.login"))
			return NULL;
		audit_denied(m, s, cmd, "not authenticated");
		return cmd_err(id, CTL_ERR_AUTH_REQUIRED,
			       "log in first (auth.login)");
	}
	if (s->state == SESS_LOCKED) {
		if (is(cmd, "hello") || is(cmd, "auth.unlock") ||
		    is(cmd, "auth.logout"))
			return NULL;
		audit_denied(m, s, cmd, "session locked");
		return cmd_err(
			id, CTL_ERR_SESSION_LOCKED,
			"session locked after %u s idle: re-authenticate (auth.unlock)",
			m->sessions.idle_lock_s);
	}
	if (s->method == SESS_M_BOOTSTRAP) {
		/* only while no admin exists: the first one ends it */
		if (is(cmd, "hello") || is(cmd, "status") ||
		    (!have_active_admin(m) &&
		     (is(cmd, "user.add") || is(cmd, "user.list"))))
			return NULL;
		if (have_active_admin(m)) {
			audit_denied(m, s, cmd, "bootstrap over");
			return cmd_err(
				id, CTL_ERR_PERMISSION,
				"an admin exists now: this bootstrap session may not run %s",
				cmd);
		}
		audit_denied(m, s, cmd, "bootstrap session");
		return cmd_err(
			id, CTL_ERR_PERMISSION,
			"no admin exists yet: root may only create the first admin (conduitctl user add NAME --role admin --unix root)");
	}
	if (rbac_allowed(s->role, cmd))
		return NULL;
	rbac_roles_str(cmd, roles, sizeof(roles));
	snprintf(why, sizeof(why), "role %s may not run %s (allowed: %s)",
		 auth_role_name(s->role), cmd, roles);
	audit_denied(m, s, cmd, why);
	return cmd_err(id, CTL_ERR_PERMISSION, "%s", why);
}

static void audit_command(struct mgmt *m, const struct sess *s,
			  const struct cmd_def *c, const json_t *args,
			  const json_t *resp)
{
	const json_t *e = json_object_get(resp, "error");
	struct audit_event ev;
	char a[256];

	cmd_args_audit(c, args, a, sizeof(a));
	audit_event_init(&ev, AUDIT_MGMT_COMMAND);
	audit_event_add(&ev, "command", c->name);
	ev_sess(&ev, s);
	if (a[0])
		audit_event_add(&ev, "args", a);
	audit_event_add(&ev, "outcome", e ? "error" : "ok");
	if (e != NULL) {
		const char *code =
			json_string_value(json_object_get(e, "code"));
		const char *msg =
			json_string_value(json_object_get(e, "message"));

		audit_event_add(&ev, "code", code ? code : "-");
		audit_event_add(&ev, "error", msg ? msg : "-");
	}
	audit_event_msgf(&ev, "%s by %s (%s %s): %s", c->name, sess_user(s),
			 channel_name(s->channel), s->source,
			 e ? "error" : "ok");
	emit(m, &ev);
}

json_t *mgmt_request(struct mgmt *m, struct cmd_daemon *d, const json_t *req,
		     struct srv_peer *peer)
{
	const struct cmd_def *c;
	const json_t *args;
	json_t *resp, *e;
	struct sess *s = peer->session;
	int64_t now = now_mono();
	uint64_t id = 0;

	if (s == NULL) {
		const json_t *jid = json_object_get(req, "id");

		if (json_is_integer(jid) && json_integer_value(jid) >= 0)
			id = (uint64_t)json_integer_value(jid);
		s = session_start(m, peer, id, now, &resp);
		if (s == NULL)
			return resp;
	}
	if (cmd_check(req, &c, &id, &args, &e) < 0) {
		const char *msg = json_string_value(json_object_get(
			json_object_get(e, "error"), "message"));
		struct audit_event ev;

		audit_event_init(&ev, AUDIT_MGMT_COMMAND);
		ev_sess(&ev, s);
		audit_event_add(&ev, "outcome", "rejected");
		audit_event_add(&ev, "error", msg ? msg : "-");
		audit_event_msgf(&ev, "malformed request from %s %s: %s",
				 channel_name(s->channel), s->source,
				 msg ? msg : "-");
		emit(m, &ev);
		log_warnx("management: %s %s: %s", channel_name(s->channel),
			  s->source, msg ? msg : "bad request");
		return e;
	}
	if (s->state == SESS_ACTIVE && s->channel == SESS_CH_TLS &&
	    m->sessions.idle_lock_s &&
	    m->sessions.idle_lock_s != SESS_IDLE_OFF &&
	    now - s->last >= (int64_t)m->sessions.idle_lock_s) {
		s->state = SESS_LOCKED;
		on_idle_locked(s, m);
	}
	resp = gate(m, s, c->name, id);
	if (resp != NULL)
		return resp;
	if (s->state == SESS_ACTIVE)
		sess_touch(s, now);
	m->cur = s;
	m->cur_peer = peer;
	d->sess = s;
	d->peer = peer;
	sess_actor(s, d->actor, sizeof(d->actor));
	log_debug("management: %s by %s", c->name, d->actor);
	resp = c->handler(d, args, id);
	if (resp == NULL)
		resp = cmd_err(id, CTL_ERR_INTERNAL, "out of memory");
	/* the handler may have ended this very session (user.del of oneself) */
	if (resp != SRV_DEFERRED && !is(c->name, "hello") && peer->session)
		audit_command(m, s, c, args, resp);
	m->cur = NULL;
	m->cur_peer = NULL;
	d->sess = NULL;
	d->peer = NULL;
	d->actor[0] = '\0';
	return resp;
}

json_t *mgmt_status_json(struct mgmt *m)
{
	size_t n[SESS_LOCKED + 1] = { 0 };
	struct srv_stats st = { 0 };
	json_t *r;

	for (size_t i = 0; i < m->sessions.cap; i++)
		if (m->sessions.v[i].in_use)
			n[m->sessions.v[i].state]++;
	if (m->srv)
		srv_get_stats(m->srv, &st);
	r = json_pack("{s:I, s:b, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:b}",
		      "users", (json_int_t)m->store.n, "bootstrap",
		      !have_active_admin(m), "sessions", "total",
		      (json_int_t)(n[0] + n[1] + n[2]), "unauthenticated",
		      (json_int_t)n[SESS_UNAUTH], "active",
		      (json_int_t)n[SESS_ACTIVE], "locked",
		      (json_int_t)n[SESS_LOCKED], "max",
		      (json_int_t)m->sessions.max_total, "pending_approvals",
		      (json_int_t)m->approvals.n, "approval_required",
		      m->o.approval_required);
	if (r != NULL)
		json_object_set_new(
			r, "endpoint",
			json_pack(
				"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				"unix_clients", (json_int_t)st.unix_clients,
				"tls_clients", (json_int_t)st.tls_clients,
				"tls_unauthenticated",
				(json_int_t)st.tls_unauth, "tls_handshaking",
				(json_int_t)st.tls_handshaking, "tls_accepted",
				(json_int_t)st.tls_accepted, "tls_handshakes",
				(json_int_t)st.tls_handshakes,
				"tls_handshake_failed",
				(json_int_t)st.tls_handshake_failed,
				"tls_handshake_timeout",
				(json_int_t)st.tls_handshake_timeout,
				"refused_cap", (json_int_t)st.refused_cap,
				"refused_source", (json_int_t)st.refused_source,
				"evicted", (json_int_t)st.evicted));
	return r;
}

json_t *mgmt_hello_json(struct mgmt *m)
{
	const struct sess *s = m->cur;
	const struct srv_peer *p = m->cur_peer;
	json_t *methods = json_array(), *sj;

	if (s == NULL || p == NULL) {
		json_decref(methods);
		return json_pack("{s:s}", "banner", m->banner);
	}
	if (s->channel == SESS_CH_TLS) {
		json_array_append_new(methods, json_string("password+totp"));
		if (p->cert)
			json_array_append_new(
				methods, json_string("certificate+password"));
	} else {
		json_array_append_new(methods, json_string("peercred"));
	}
	sj = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id",
		       (json_int_t)s->id, "state", sess_state_name(s->state),
		       "user", sess_user(s), "role",
		       s->user[0] ? (s->method == SESS_M_BOOTSTRAP ?
					     "bootstrap" :
					     auth_role_name(s->role)) :
				    "-",
		       "method", sess_method_name(s->method), "channel",
		       channel_name(s->channel));
	return json_pack("{s:s, s:o, s:{s:b, s:o, s:b, s:s}}", "banner",
			 m->banner, "session", sj ? sj : json_null(), "auth",
			 "required", s->state != SESS_ACTIVE, "methods",
			 methods, "certificate", p->cert, "certificate_cn",
			 p->cert_cn);
}

/* --- auth.login / auth.unlock -------------------------------------------- */

static json_t *start_job(struct mgmt *m, struct cmd_daemon *d, uint64_t id,
			 enum job_kind kind, const char *given,
			 const char *password, const char *code)
{
	struct sess *s = d->sess;
	struct srv_peer *p = d->peer;
	struct auth_user *u = NULL;
	struct job *j;
	int64_t now = now_mono();

	if (s->channel != SESS_CH_TLS)
		return cmd_err(
			id, CTL_ERR_BAD_REQUEST,
			"local sessions are authenticated by their peer credentials");
	if (kind == JOB_LOGIN && s->state != SESS_UNAUTH)
		return cmd_err(id, CTL_ERR_BAD_REQUEST,
			       "already authenticated");
	if (kind == JOB_UNLOCK && s->state != SESS_LOCKED)
		return cmd_err(id, CTL_ERR_BAD_REQUEST,
			       "the session is not locked");
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return NULL;
	j->kind = kind;
	j->client = s->client;
	j->sess_id = s->id;
	j->req_id = id;
	snprintf(j->given, sizeof(j->given), "%s", given);
	snprintf(j->host, sizeof(j->host), "%s", p->host);
	snprintf(j->source, sizeof(j->source), "%s", s->source);
	snprintf(j->password, sizeof(j->password), "%s", password);
	snprintf(j->code, sizeof(j->code), "%s", code ? code : "");
	j->cert = p->cert;
	snprintf(j->cert_cn, sizeof(j->cert_cn), "%s", p->cert_cn);
	if (auth_name_ok(given)) {
		snprintf(j->user, sizeof(j->user), "%s", given);
		u = auth_store_find(&m->store, given);
	}
	if (u != NULL) {
		struct ustate *us = ustate_get(m, u->name);

		j->user_locked = (us && lockout_check(&m->o.lockout, &us->lk,
						      now) == LOCKOUT_LOCKED);
	}
	j->src_locked = lockout_check(&m->o.src_lockout,
				      &src_get(m, p->host, now)->lk,
				      now) == LOCKOUT_LOCKED;
	/* the same work whether the user exists or not (CR 1.10) */
	if (u != NULL && !j->user_locked && !j->src_locked &&
	    u->state == AUTH_STATE_ACTIVE && strcmp(u->hash, "!") != 0) {
		snprintf(j->hash, sizeof(j->hash), "%s", u->hash);
		j->real = true;
	} else {
		snprintf(j->hash, sizeof(j->hash), "%s",
			 auth_dummy_hash(m->o.cost));
	}
	if (job_submit(m, j) < 0) {
		job_free(j);
		return cmd_err(id, CTL_ERR_BUSY, "authentication unavailable");
	}
	sx_of(m, s)->busy = true;
	return SRV_DEFERRED;
}

json_t *mgmt_cmd_auth_login(struct cmd_daemon *d, const json_t *a, uint64_t id)
{
	return start_job(d->mgmt, d, id, JOB_LOGIN,
			 json_string_value(json_object_get(a, "user")),
			 json_string_value(json_object_get(a, "password")),
			 json_string_value(json_object_get(a, "totp")));
}

json_t *mgmt_cmd_auth_unlock(struct cmd_daemon *d, const json_t *a, uint64_t id)
{
	return start_job(d->mgmt, d, id, JOB_UNLOCK, d->sess->user,
			 json_string_value(json_object_get(a, "password")),
			 json_string_value(json_object_get(a, "totp")));
}

/* Judges a finished job on the main thread; the reason stays internal
 * (audit, log), the client only ever hears "authentication failed". */
static void job_done(struct mgmt *m, struct job *j)
{
	int64_t now = now_mono();
	struct auth_user *u = j->user[0] ? auth_store_find(&m->store, j->user) :
					   NULL;
	struct ustate *us = u ? ustate_get(m, u->name) : NULL;
	struct srcstate *ss = src_get(m, j->host, now);
	struct sess *s = sess_by_client(&m->sessions, j->client);
	enum sess_method method = SESS_M_NONE;
	const char *reason = NULL;
	json_t *resp;
	int rc;

	if (s != NULL && s->id != j->sess_id)
		s = NULL;
	if (s != NULL)
		sx_of(m, s)->busy = false;
	if (u == NULL)
		reason = "unknown user";
	else if (j->src_locked)
		reason = "source address locked out";
	else if (j->user_locked)
		reason = "user locked out";
	else if (u->state != AUTH_STATE_ACTIVE)
		reason = "user disabled";
	else if (!j->real || strcmp(u->hash, j->hash) != 0)
		reason = strcmp(u->hash, "!") == 0 ?
				 "user has no password" :
				 "password changed meanwhile";
	else if (!j->ok)
		reason = "wrong password";
	if (reason == NULL) {
		if (j->cert && strcmp(j->cert_cn, u->name) == 0) {
			method = SESS_M_CERT_PASSWORD;
		} else {
			method = SESS_M_PASSWORD_TOTP;
			if (!u->totp[0])
				reason =
					"no TOTP enrolled and no client certificate of this user";
			else if (us == NULL || !totp_verify(u->totp, j->code,
							    (int64_t)time(NULL),
							    1, &us->last_step))
				reason = "wrong or reused TOTP code";
		}
	}
	if (reason == NULL && j->kind == JOB_UNLOCK && s != NULL &&
	    s->method != method)
		reason = "unlock needs the session's login method";
	if (reason == NULL && s != NULL) {
		rc = sess_authenticate(&m->sessions, s, u->name, u->role,
				       method, now);
		if (rc < 0) {
			/* the credentials were right: no lockout count, and
			 * the user may know (CR 2.7) */
			audit_login_fail(m, j->given, "tls", j->source,
					 sess_method_name(method),
					 rc == -EUSERS ?
						 "per-user session cap" :
						 "session of another user",
					 j->sess_id);
			resp = cmd_err(
				j->req_id, CTL_ERR_BUSY,
				rc == -EUSERS ?
					"%s has too many sessions (session-max-per-user %u)" :
					"%s: this session belongs to another user",
				u->name, m->sessions.max_per_user);
			if (m->srv)
				srv_reply(m->srv, j->client, resp);
			else
				json_decref(resp);
			return;
		}
	}
	if (reason != NULL) {
		enum lockout_result r;

		audit_login_fail(m, j->given, "tls", j->source,
				 j->kind == JOB_UNLOCK ? "unlock" :
				 j->cert ? "certificate+password" :
					   "password+totp",
				 reason, j->sess_id);
		if (us != NULL && !j->user_locked && !j->src_locked) {
			r = lockout_fail(&m->o.lockout, &us->lk, now);
			if (r == LOCKOUT_NOW_LOCKED)
				audit_lockout(
					m, "user", u->name, j->source,
					m->o.lockout.lock_s ?
						(int64_t)m->o.lockout.lock_s :
						-1);
		}
		if (!j->src_locked) {
			r = lockout_fail(&m->o.src_lockout, &ss->lk, now);
			if (r == LOCKOUT_NOW_LOCKED)
				audit_lockout(m, "address", j->host, j->source,
					      (int64_t)m->o.src_lockout.lock_s);
		}
		if (s == NULL)
			return;
		s->failures++;
		if (s->failures >= MGMT_CONN_FAILURES_MAX &&
		    sx_of(m, s)->peer) {
			sx_of(m, s)->peer->close_after = true;
			sx_of(m, s)->end = "too many failed logins";
		}
		resp = ctl_response_error(j->req_id, CTL_ERR_AUTH_FAILED,
					  "authentication failed", NULL);
		if (m->srv)
			srv_reply(m->srv, j->client, resp);
		else
			json_decref(resp);
		return;
	}
	if (us != NULL)
		lockout_reset(&us->lk);
	if (s == NULL)
		return;
	if (m->srv)
		srv_set_authenticated(m->srv, j->client);
	audit_login(m, s, j->kind == JOB_UNLOCK ? "unlock" : "login");
	resp = ctl_response_ok(
		j->req_id,
		json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "session",
			  (json_int_t)s->id, "user", s->user, "role",
			  auth_role_name(s->role), "method",
			  sess_method_name(s->method), "state", "active",
			  "idle_lock",
			  (json_int_t)(m->sessions.idle_lock_s == SESS_IDLE_OFF ?
					       0 :
					       m->sessions.idle_lock_s)));
	if (m->srv)
		srv_reply(m->srv, j->client, resp);
	else
		json_decref(resp);
}

void mgmt_on_event(struct mgmt *m, struct cmd_daemon *d)
{
	struct job *list, *j, *rev = NULL;
	uint64_t v;

	(void)d;
	if (read(m->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("mgmt: eventfd");
	pthread_mutex_lock(&m->mu);
	list = m->done;
	m->done = NULL;
	pthread_mutex_unlock(&m->mu);
	while (list) { /* oldest first */
		j = list;
		list = j->next;
		j->next = rev;
		rev = j;
	}
	while (rev) {
		j = rev;
		rev = j->next;
		job_done(m, j);
		job_free(j);
	}
}

json_t *mgmt_cmd_auth_logout(struct cmd_daemon *d, const json_t *a, uint64_t id)
{
	(void)a;
	if (d->peer)
		d->peer->close_after = true;
	return ctl_response_ok(id, json_object());
}

/* --- users ------------------------------------------------------------------ */

static void audit_user(struct mgmt *m, struct cmd_daemon *d, const char *action,
		       const struct auth_user *u, const char *detail)
{
	struct audit_event ev;

	audit_event_init(&ev, AUDIT_MGMT_USER);
	audit_event_add(&ev, "action", action);
	audit_event_add(&ev, "target", u->name);
	audit_event_add(&ev, "target-role", auth_role_name(u->role));
	if (detail && *detail)
		audit_event_add(&ev, "detail", detail);
	audit_event_add(&ev, "by", d->actor);
	audit_event_msgf(&ev, "user %s: %s by %s", u->name, action,
			 sess_user(d->sess));
	emit(m, &ev);
	log_info("management: user %s: %s by %s", u->name, action, d->actor);
}

static struct auth_user *find_user(struct mgmt *m, const json_t *a, uint64_t id,
				   json_t **resp)
{
	const char *name = json_string_value(json_object_get(a, "name"));
	struct auth_user *u = auth_store_find(&m->store, name);

	if (u == NULL)
		*resp = cmd_err(id, CTL_ERR_INVALID_ARGS, "no user \"%.64s\"",
				name);
	return u;
}

/* Ends every session of user (it was deleted or disabled). */
static void kill_user_sessions(struct mgmt *m, struct cmd_daemon *d,
			       const char *user, const char *why)
{
	for (size_t i = 0; i < m->sessions.cap; i++) {
		struct sess *s = &m->sessions.v[i];

		if (!s->in_use || strcmp(s->user, user) != 0)
			continue;
		m->sx[i].end = why;
		snprintf(m->sx[i].by, sizeof(m->sx[i].by), "%s",
			 sess_user(d->sess));
		if (s == d->sess) {
			if (d->peer)
				d->peer->close_after = true;
		} else if (m->srv) {
			srv_kill(m->srv, s->client);
		}
	}
}

json_t *mgmt_cmd_user_add(struct cmd_daemon *d, const json_t *a, uint64_t id)
{
	struct mgmt *m = d->mgmt;
	const char *name = json_string_value(json_object_get(a, "name"));
	const char *role = json_string_value(json_object_get(a, "role"));
	const char *ux = json_string_value(json_object_get(a, "unix"));
	const char *pw = json_string_value(json_object_get(a, "password"));
	struct auth_user *u;
	const char *why = NULL;
	char io[256];
	int r, rc;

	if (!auth_name_ok(name))
		return cmd_err(
			id, CTL_ERR_INVALID_ARGS,
			"user name \"%.64s\": 1 to 32 of a-z, 0-9, '_', '.', '-', starting with a letter or '_'",
			name);
	r = auth_role_parse(role);
	if (r < 0)
		return cmd_err(
			id, CTL_ERR_INVALID_ARGS,
			"role \"%.16s\": expected viewer, operator, engineer, auditor or admin",
			role);
	if (d->sess->method == SESS_M_BOOTSTRAP && r != AUTH_ROLE_ADMIN)
		return cmd_err(id, CTL_ERR_PERMISSION,
			       "the first user must be an admin");
	if (ux && *ux && strcmp(ux, "-") != 0 &&
	    (strlen(ux) > AUTH_NAME_MAX || strchr(ux, ':') || strchr(ux, '\n')))
		return cmd_err(id, CTL_ERR_INVALID_ARGS,
			       "unix user \"%.64s\" is not a valid name", ux);
	if (ux && *ux && strcmp(ux, "-") != 0 &&
	    (u = auth_store_by_unix(&m->store, ux)) != NULL)
		return cmd_err(id, CTL_ERR_INVALID_ARGS,
			       "unix user %s is already mapped to %s", ux,
			       u->name);
	if (auth_store_find(&m->store, name))
		return cmd_err(id, CTL_ERR_INVALID_ARGS, "user %s exists",
			       name);
	if (d->sess->method == SESS_M_BOOTSTRAP && (pw == NULL || !*pw) &&
	    (ux == NULL || !*ux || strcmp(ux, "-") == 0))
		return cmd_err(
			id, CTL_ERR_INVALID_ARGS,
			"the first admin needs a password or a unix user");
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return NULL;
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->role = (enum auth_role)r;
	u->state = AUTH_STATE_ACTIVE;
	if (ux && strcmp(ux, "-") != 0)
		snprintf(u->unix_user, sizeof(u->unix_user), "%s", ux);
	strcpy(u->hash, "!");
	if (pw != NULL && *pw) {
		rc = auth_set_password(&m->o.pw, u, pw, m->o.cost, &why);
		if (rc < 0) {
			explicit_bzero(u, sizeof(*u));
			free(u);
			return cmd_err(id, CTL_ERR_INVALID_ARGS,
				       "password rejected: %s",
				       why ? why : strerror(-rc));
		}
	}
	rc = auth_store_add(&m->store, u);
	if (rc < 0) {
		free(u);
		return cmd_err(id, CTL_ERR_INVALID_ARGS, "cannot add %s: %s",
			       name, strerror(-rc));
	}
	if (save_store(m, io, sizeof(io)) < 0) {
		auth_store_del(&m->store, name);
		free(u);
		return cmd_err(id, CTL_ERR_IO, "%s", io);
	}
	audit_user(m, d, "add", u, u->unix_user[0] ? u->unix_user : NULL);
	rc = (int)u->role;
	explicit_bzero(u, sizeof(*u));
	free(u);
	return ctl_response_ok(id,
			       json_pack("{s:s, s:s}", "name", name, "role",
					 auth_role_name((enum auth_role)rc)));
}

json_t *mgmt_cmd_user_del(struct cmd_daemon *d, const json_t *a, uint64_t id)
{
	struct mgmt *m = d->mgmt;
	struct auth_user *u, copy;
	json_t *resp = NULL;
	char io[256];

	u = find_user(m, a, id, &resp);
	if (u == NULL)
		return resp;
	if (u->role == AUTH_ROLE_ADMIN && u->state == AUTH_STATE_ACTIVE &&
	    active_admins(m) <= 1)
		return cmd_err(id, CTL_ERR_INVALID_ARGS,
			       "%s is the last active admin", u->name);
	copy = *u;
	auth_store_del(&m->store, copy.name);
	if (save_store(m, io, sizeof(io)) < 0) {
		auth_store_add(&m->store, &copy);
		explicit_bzero(&copy, sizeof(copy));
		return cmd_err(id, CTL_ERR_IO, "%s", io);
	}
	ustate_del(m, copy.name);
	audit_user(m, d, "delete", &copy, NULL);
	kill_user_sessions(m, d, copy.name, "user deleted");
	resp = ctl_response_ok(id, json_pack("{s:s}", "name", copy.name));
	explicit_bzero(&copy, sizeof(copy));
	return resp;
}

/* Sets u's password (admin for anyone, or oneself); saves or restores. */
static json_t *set_password(struct cmd_daemon *d, struct auth_user *u,
			    const char *pw, uint64_t id)
{
	struct mgmt *m = d->mgmt;
	struct auth_user *copy = malloc(sizeof(*copy));
	const char *why = NULL;
	char io[256];
	int rc;

	if (copy == NULL)
		return NULL;
	*copy = *u;
	rc = auth_set_password(&m->o.pw, u, pw, m->o.cost, &why);
	if (rc < 0) {
		*u = *copy;
		explicit_bzero(copy, sizeof(*copy));
		free(copy);
		return cmd_err(id, CTL_ERR_INVALID_ARGS,
			       "password rejected: %s",
			       why ? why : strerror(-rc));
	}
	if (save_store(m, io, sizeof(io)) < 0) {
		*u = *copy;
		explicit_bzero(copy, sizeof(*copy));
		free(copy);
		return cmd_err(id, CTL_ERR_IO, "%s", io);
	}
	explicit_bzero(copy, sizeof(*copy));
	free(copy);
	audit_user(m, d, "password", u, NULL);
	return ctl_response_ok(id, json_pack("{s:s}", "name", u->name));
}

json_t *mgmt_cmd_user_passwd(struct cmd_daemon *d, const json_t *a, uint64_t id)
{
	json_t *resp = NULL;
	struct auth_user *u = find_user(d->mgmt, a, id, &resp);

	if (u == NULL)
		return resp;
	return set_password(
		d, u, json_string_value(json_object_get(a, "password")), id);
}

json_t *mgmt_cmd_auth_passwd(struct cmd_daemon *d, const json_t *a, uint64_t id)
{
	struct mgmt *m = d->mgmt;
	struct auth_user *u = auth_store_find(&m->store, d->sess->user);
	const char *old = json_string_value(json_object_get(a, "old"));

	if (u == NULL || d->sess->method == SESS_M_BOOTSTRAP)
		return cmd_err(
			id, CTL_ERR_PERMISSION,
			"this session has no user whose password could change");
	/* a local session without a password may set its first one */
	if (strcmp(u->hash, "!") != 0 && !auth_verify(old, u->hash)) {
		audit_login_fail(m, u->name, channel_name(d->sess->channel),
				 d->sess->source, "password",
				 "wrong old password in auth.passwd",
				 d->sess->id);
		return ctl_response_error(id, CTL_ERR_AUTH_FAILED,
					  "authentication failed", NULL);
	}
	return set_password(d, u, json_string_value(json_object_get(a, "new")),
			    id);
}

static json_t *set_state(struct cmd_daemon *d, const json_t *a, uint64_t id,
			 bool lock)
{
	struct mgmt *m = d->mgmt;
	json_t *resp = NULL;
	struct auth_user *u = find_user(m, a, id, &resp);
	enum auth_state old;
	struct ustate *us;
	char io[256];

	if (u == NULL)
		return resp;
	if (lock && u->role == AUTH_ROLE_ADMIN &&
	    u->state == AUTH_STATE_ACTIVE && active_admins(m) <= 1)
		return cmd_err(id, CTL_ERR_INVALID_ARGS,
			       "%s is the last active admin", u->name);
	old = u->state;
	u->state = lock ? AUTH_STATE_DISABLED : AUTH_STATE_ACTIVE;
	if (save_store(m, io, sizeof(io)) < 0) {
		u->state = old;
		return cmd_err(id, CTL_ERR_IO, "%s", io);
	}
	us = ustate_get(m, u->name);
	if (!lock && us)
		lockout_reset(&us->lk);
	audit_user(m, d, lock ? "lock" : "unlock", u, NULL);
	if (lock)
		kill_user_sessions(m, d, u->name, "user locked");
	return ctl_response_ok(id,
			       json_pack("{s:s, s:s}", "name", u->name, "state",
					 lock ? "disabled" : "active"));
}

json_t *mgmt_cmd_user_lock(struct cmd_daemon *d, const json_t *a, uint64_t id)
{
	return set_state(d, a, id, true);
}

json_t *mgmt_cmd_user_unlock(struct cmd_daemon *d, const json_t *a, uint64_t id)
{
	return set_state(d, a, id, false);
}

json_t *mgmt_cmd_user_list(struct cmd_daemon *d, const json_t *a, uint64_t id)
{
	struct mgmt *m = d->mgmt;
	int64_t now = now_mono(), wall = (int64_t)time(NULL);
	json_t *arr = json_array();

	(void)a;
	for (size_t i = 0; i < m->store.n; i++) {
		const struct auth_user *u = &m->store.v[i];
		struct ustate *us = ustate_get(m, u->name);
		bool locked = us && lockout_check(&m->o.lockout, &us->lk,
						  now) == LOCKOUT_LOCKED;
		json_t *until = json_null();

		if (locked)
			until = us->lk.locked_until == INT64_MAX ?
					json_string("until-unlocked") :
					json_integer(
						wall +
						(us->lk.locked_until - now));
		json_array_append_new(
			arr,
			json_pack(
				"{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:I}",
				"name", u->name, "role",
				auth_role_name(u->role), "state",
				u->state == AUTH_STATE_ACTIVE ? "active" :
								"disabled",
				"unix", u->unix_user[0] ? u->unix_user : "-",
				"password", strcmp(u->hash, "!") != 0, "totp",
				u->totp[0] != '\0', "locked", locked,
				"locked_until", until, "failures",
				(json_int_t)(us ? us->lk.failures : 0)));
	}
	return ctl_response_ok(id, json_pack("{s:o}", "users", arr));
}

json_t *mgmt_cmd_user_totp(struct cmd_daemon *d, const json_t *a, uint64_t id)
{
	struct mgmt *m = d->mgmt;
	json_t *resp = NULL;
	struct auth_user *u = find_user(m, a, id, &resp);
	char secret[TOTP_B32_MAX + 1], old[AUTH_TOTP_SECRET_MAX + 1];
	char uri[512], io[256];
	struct ustate *us;
	int rc;

	if (u == NULL)
		return resp;
	rc = totp_new_secret(secret, sizeof(secret));
	if (rc < 0)
		return cmd_err(id, CTL_ERR_INTERNAL, "TOTP secret: %s",
			       strerror(-rc));
	rc = totp_uri(m->o.issuer, u->name, secret, uri, sizeof(uri));
	if (rc < 0)
		return cmd_err(id, CTL_ERR_INTERNAL, "TOTP URI: %s",
			       strerror(-rc));
	snprintf(old, sizeof(old), "%s", u->totp);
	snprintf(u->totp, sizeof(u->totp), "%s", secret);
	if (save_store(m, io, sizeof(io)) < 0) {
		snprintf(u->totp, sizeof(u->totp), "%s", old);
		explicit_bzero(secret, sizeof(secret));
		return cmd_err(id, CTL_ERR_IO, "%s", io);
	}
	explicit_bzero(old, sizeof(old));
	us = ustate_get(m, u->name);
	if (us)
		us->last_step = 0;
	audit_user(m, d, "totp-enroll", u, NULL);
	resp = ctl_response_ok(id, json_pack("{s:s, s:s, s:s}", "name", u->name,
					     "secret", secret, "uri", uri));
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(uri, sizeof(uri));
	return resp;
}

/* --- sessions ------------------------------------------------------------ */

json_t *mgmt_cmd_session_list(struct cmd_daemon *d, const json_t *a,
			      uint64_t id)
{
	struct mgmt *m = d->mgmt;
	int64_t now = now_mono(), wall = (int64_t)time(NULL);
	bool all = d->sess->role == AUTH_ROLE_ADMIN;
	json_t *arr = json_array();

	(void)a;
	for (size_t i = 0; i < m->sessions.cap; i++) {
		const struct sess *s = &m->sessions.v[i];

		if (!s->in_use || (!all && strcmp(s->user, d->sess->user)))
			continue;
		json_array_append_new(
			arr,
			json_pack(
				"{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b}",
				"id", (json_int_t)s->id, "user", sess_user(s),
				"role",
				s->user[0] ? (s->method == SESS_M_BOOTSTRAP ?
						      "bootstrap" :
						      auth_role_name(s->role)) :
					     "-",
				"state", sess_state_name(s->state), "method",
				sess_method_name(s->method), "channel",
				channel_name(s->channel), "source", s->source,
				"opened",
				(json_int_t)(wall - (now - s->opened)), "idle",
				(json_int_t)(now - s->last), "current",
				s == d->sess));
	}
	return ctl_response_ok(id, json_pack("{s:o}", "sessions", arr));
}

json_t *mgmt_cmd_session_kill(struct cmd_daemon *d, const json_t *a,
			      uint64_t id)
{
	struct mgmt *m = d->mgmt;
	uint32_t sid = (uint32_t)json_integer_value(json_object_get(a, "id"));
	struct sess *s = sess_find(&m->sessions, sid);
	struct audit_event ev;
	json_t *resp;

	if (s == NULL)
		return cmd_err(id, CTL_ERR_INVALID_ARGS, "no session %u",
			       (unsigned)sid);
	audit_event_init(&ev, AUDIT_MGMT_SESSION);
	ev_sess(&ev, s);
	audit_event_add(&ev, "action", "killed");
	audit_event_add(&ev, "by", d->actor);
	audit_event_msgf(&ev, "session %u of %s killed by %s", (unsigned)s->id,
			 sess_user(s), sess_user(d->sess));
	emit(m, &ev);
	log_info("management: session %u of %s killed by %s", (unsigned)s->id,
		 sess_user(s), d->actor);
	resp = ctl_response_ok(id,
			       json_pack("{s:I, s:s}", "id", (json_int_t)sid,
					 "user", sess_user(s)));
	sx_of(m, s)->end = "killed";
	snprintf(sx_of(m, s)->by, sizeof(sx_of(m, s)->by), "%s",
		 sess_user(d->sess));
	if (s == d->sess) {
		if (d->peer)
			d->peer->close_after = true;
	} else if (m->srv) {
		srv_kill(m->srv, s->client);
	}
	return resp;
}

/* --- dual approval (CR 2.1 RE(4)) ---------------------------------------- */

static void sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;

	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void audit_approval(struct mgmt *m, struct cmd_daemon *d,
			   const char *action, const struct rbac_pending *p,
			   const char *outcome)
{
	struct audit_event ev;

	audit_event_init(&ev, AUDIT_MGMT_APPROVAL);
	audit_event_add(&ev, "action", action);
	audit_event_add_u64(&ev, "id", p->id);
	audit_event_add(&ev, "author", p->author);
	audit_event_add(&ev, "by", d->actor);
	audit_event_add(&ev, "sha256", p->sha256);
	if (outcome)
		audit_event_add(&ev, "outcome", outcome);
	audit_event_msgf(&ev, "policy change %u of %s %s by %s",
			 (unsigned)p->id, p->author, action,
			 sess_user(d->sess));
	emit(m, &ev);
	log_info("management: policy change %u of %s %s by %s", (unsigned)p->id,
		 p->author, action, d->actor);
}

json_t *mgmt_policy_submit(struct mgmt *m, struct cmd_daemon *d, uint64_t id,
			   const char *name, const char *content, size_t len,
			   json_t *diff)
{
	struct pending_payload *pp = calloc(1, sizeof(*pp));
	const struct rbac_pending *p;
	char sha[65];
	int rc;

	if (pp == NULL || (pp->name = strdup(name ? name : "-")) == NULL ||
	    (pp->content = malloc(len + 1)) == NULL) {
		json_decref(diff);
		pending_free(pp);
		return NULL;
	}
	memcpy(pp->content, content, len);
	pp->content[len] = '\0';
	pp->len = len;
	pp->diff = diff;
	sha256_hex(content, len, sha);
	expire_approvals(m);
	rc = rbac_submit(&m->approvals, d->sess->user, d->sess->role, sha, pp,
			 (int64_t)time(NULL));
	if (rc < 0) {
		pending_free(pp);
		return cmd_err(
			id, rc == -ENOSPC ? CTL_ERR_BUSY : CTL_ERR_PERMISSION,
			"%s",
			rc == -ENOSPC ?
				"too many pending policy changes" :
				"only an engineer or admin may submit a policy change");
	}
	p = &m->approvals.v[m->approvals.n - 1];
	audit_approval(m, d, "submitted", p, NULL);
	return ctl_response_ok(
		id,
		json_pack("{s:{s:I, s:s, s:I, s:s, s:s, s:O}}", "pending", "id",
			  (json_int_t)p->id, "author", p->author, "expires",
			  (json_int_t)p->expires, "sha256", p->sha256, "name",
			  pp->name, "diff", pp->diff ? pp->diff : json_null()));
}

json_t *mgmt_cmd_policy_pending(struct cmd_daemon *d, const json_t *a,
				uint64_t id)
{
	struct mgmt *m = d->mgmt;
	json_t *arr = json_array();

	(void)a;
	expire_approvals(m);
	for (size_t i = 0; i < m->approvals.n; i++) {
		const struct rbac_pending *p = &m->approvals.v[i];
		const struct pending_payload *pp = p->payload;

		json_array_append_new(
			arr,
			json_pack("{s:I, s:s, s:I, s:I, s:s, s:s, s:O}", "id",
				  (json_int_t)p->id, "author", p->author,
				  "created", (json_int_t)p->created, "expires",
				  (json_int_t)p->expires, "sha256", p->sha256,
				  "name", pp->name, "diff",
				  pp->diff ? pp->diff : json_null()));
	}
	return ctl_response_ok(id, json_pack("{s:o}", "pending", arr));
}

static const struct rbac_pending *pending_find(struct mgmt *m, uint32_t pid)
{
	for (size_t i = 0; i < m->approvals.n; i++)
		if (m->approvals.v[i].id == pid)
			return &m->approvals.v[i];
	return NULL;
}

json_t *mgmt_cmd_policy_approve(struct cmd_daemon *d, const json_t *a,
				uint64_t id)
{
	struct mgmt *m = d->mgmt;
	uint32_t pid = (uint32_t)json_integer_value(json_object_get(a, "id"));
	const struct rbac_pending *p;
	struct rbac_pending copy;
	struct pending_payload *pp = NULL;
	json_t *args, *resp;
	int rc;

	expire_approvals(m);
	p = pending_find(m, pid);
	if (p == NULL)
		return cmd_err(
			id, CTL_ERR_APPROVAL,
			"no pending policy change %u (unknown or expired)",
			(unsigned)pid);
	copy = *p;
	rc = rbac_approve(&m->approvals, pid, d->sess->user, d->sess->role,
			  (int64_t)time(NULL), (void **)&pp);
	if (rc < 0) {
		audit_approval(m, d, "approval refused", &copy,
			       rc == -EPERM ? "self-approval" : "unknown");
		return cmd_err(
			id, CTL_ERR_APPROVAL, "%s",
			rc == -EPERM ?
				"a change needs a second person: its author cannot approve it" :
				"no such pending change");
	}
	args = json_pack("{s:s, s:s%}", "name", pp->name, "content",
			 pp->content, pp->len);
	d->approved = true;
	resp = args ? cmd_policy_apply(d, args, id) : NULL;
	d->approved = false;
	json_decref(args);
	audit_approval(m, d, "approved", &copy,
		       resp && json_object_get(resp, "error") ? "apply failed" :
								"applied");
	pending_free(pp);
	return resp;
}

json_t *mgmt_cmd_policy_withdraw(struct cmd_daemon *d, const json_t *a,
				 uint64_t id)
{
	struct mgmt *m = d->mgmt;
	uint32_t pid = (uint32_t)json_integer_value(json_object_get(a, "id"));
	const struct rbac_pending *p = pending_find(m, pid);
	struct rbac_pending copy;
	int rc;

	if (p == NULL)
		return cmd_err(id, CTL_ERR_APPROVAL,
			       "no pending policy change %u", (unsigned)pid);
	copy = *p;
	rc = rbac_withdraw(&m->approvals, pid, d->sess->user, d->sess->role);
	if (rc < 0)
		return cmd_err(
			id, CTL_ERR_APPROVAL,
			"only its author or an admin may withdraw change %u",
			(unsigned)pid);
	audit_approval(m, d, "withdrawn", &copy, NULL);
	return ctl_response_ok(id, json_pack("{s:I}", "id", (json_int_t)pid));
}
