/*
 * The management plane's identities: the users store (parse with
 * file:line:col diagnostics, owner and mode check on the opened fd, atomic
 * save), yescrypt hashing through libxcrypt with a constant-time verify,
 * the dummy hash for unknown users (CR 1.10) and the password policy
 * (CR 1.7). No secret ever goes into a diagnostic or a "why" text.
 */
#include "config.h"

#include "mgmt/auth.h"

#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/diag.h"

#define AUTH_FIELDS 7
#define AUTH_COST_MIN 1
#define AUTH_COST_MAX 11
#define AUTH_PW_MAX 1024      /* bytes; longer input is refused, not hashed */
#define AUTH_NAME_MIN_MATCH 3 /* shorter names are not searched for */

static const char *const auth_role_names[AUTH_ROLE_COUNT] = {
	[AUTH_ROLE_VIEWER] = "viewer",	   [AUTH_ROLE_OPERATOR] = "operator",
	[AUTH_ROLE_ENGINEER] = "engineer", [AUTH_ROLE_AUDITOR] = "auditor",
	[AUTH_ROLE_ADMIN] = "admin",
};

int auth_role_parse(const char *s)
{
	int i;

	if (!s)
		return -1;
	for (i = 0; i < AUTH_ROLE_COUNT; i++)
		if (strcmp(s, auth_role_names[i]) == 0)
			return i;
	return -1;
}

const char *auth_role_name(enum auth_role r)
{
	if ((unsigned)r >= AUTH_ROLE_COUNT)
		return "unknown";
	return auth_role_names[r];
}

static int auth_state_parse(const char *s)
{
	if (strcmp(s, "active") == 0)
		return AUTH_STATE_ACTIVE;
	if (strcmp(s, "disabled") == 0)
		return AUTH_STATE_DISABLED;
	return -1;
}

static const char *auth_state_name(enum auth_state s)
{
	return s == AUTH_STATE_DISABLED ? "disabled" : "active";
}

bool auth_name_ok(const char *name)
{
	size_t i;

	if (!name || !((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
		return false;
	for (i = 1; name[i]; i++) {
		char c = name[i];

		if (i >= AUTH_NAME_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* A yescrypt string: "$y$" then crypt's alphabet only, bounded length. */
static bool auth_hash_ok(const char *h)
{
	size_t i, n = strlen(h);

	if (n > AUTH_HASH_MAX || n < 8 || strncmp(h, "$y$", 3) != 0)
		return false;
	for (i = 3; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' &&
		    h[i] != '/' && h[i] != '$')
			return false;
	return true;
}

static bool auth_totp_ok(const char *t)
{
	size_t i, n = strlen(t);

	if (n < 16 || n > AUTH_TOTP_SECRET_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') ||
		      (t[i] >= '2' && t[i] <= '7')))
			return false;
	return true;
}

/* Field validity of one user, without uniqueness. */
static bool auth_user_ok(const struct auth_user *u)
{
	unsigned i;

	if (!auth_name_ok(u->name) || (unsigned)u->role >= AUTH_ROLE_COUNT ||
	    (u->state != AUTH_STATE_ACTIVE && u->state != AUTH_STATE_DISABLED))
		return false;
	if (u->unix_user[0] && !auth_name_ok(u->unix_user))
		return false;
	if (strcmp(u->hash, "!") != 0 && !auth_hash_ok(u->hash))
		return false;
	if (u->totp[0] && !auth_totp_ok(u->totp))
		return false;
	if (u->nhistory > AUTH_HISTORY_MAX)
		return false;
	for (i = 0; i < u->nhistory; i++)
		if (!auth_hash_ok(u->history[i]))
			return false;
	return true;
}

/* --- store ---------------------------------------------------------------- */

void auth_store_free(struct auth_store *s)
{
	if (!s)
		return;
	if (s->v) {
		explicit_bzero(s->v, s->n * sizeof(*s->v));
		free(s->v);
	}
	s->v = NULL;
	s->n = 0;
}

struct auth_user *auth_store_find(struct auth_store *s, const char *name)
{
	size_t i;

	if (!s || !name)
		return NULL;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return &s->v[i];
	return NULL;
}

struct auth_user *auth_store_by_unix(struct auth_store *s,
				     const char *unix_user)
{
	size_t i;

	if (!s || !unix_user || !unix_user[0])
		return NULL;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].unix_user, unix_user) == 0)
			return &s->v[i];
	return NULL;
}

static int auth_store_push(struct auth_store *s, const struct auth_user *u)
{
	struct auth_user *v;

	if (s->n >= AUTH_USERS_MAX)
		return -E2BIG;
	v = realloc(s->v, (s->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	s->v[s->n++] = *u;
	return 0;
}

int auth_store_add(struct auth_store *s, const struct auth_user *u)
{
	if (!s || !u || !auth_user_ok(u))
		return -EINVAL;
	if (auth_store_find(s, u->name) || auth_store_by_unix(s, u->unix_user))
		return -EEXIST;
	return auth_store_push(s, u);
}

int auth_store_del(struct auth_store *s, const char *name)
{
	struct auth_user *u = auth_store_find(s, name);
	size_t i;

	if (!u)
		return -ENOENT;
	i = (size_t)(u - s->v);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*u));
	s->n--;
	explicit_bzero(&s->v[s->n], sizeof(*u));
	return 0;
}

/* Splits the history field into u; reports the first bad entry. */
static int auth_parse_history(char *f, struct auth_user *u, const char *file,
			      int line, int col, struct diag_list *dl)
{
	char *p = f, *comma;

	u->nhistory = 0;
	if (strcmp(f, "-") == 0)
		return 0;
	for (;;) {
		comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (u->nhistory >= AUTH_HISTORY_MAX) {
			diag_add(dl, file, line, col + (int)(p - f),
				 "history: more than %d entries",
				 AUTH_HISTORY_MAX);
			return -EINVAL;
		}
		if (!auth_hash_ok(p)) {
			diag_add(dl, file, line, col + (int)(p - f),
				 "history: entry %u is not a yescrypt string "
				 "($y$...)",
				 u->nhistory + 1);
			return -EINVAL;
		}
		strcpy(u->history[u->nhistory++], p);
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* One non-comment line into u; every bad field gets its own diagnostic. */
static int auth_parse_line(char *buf, struct auth_user *u, const char *file,
			   int line, struct diag_list *dl)
{
	char *f[AUTH_FIELDS + 1];
	int col[AUTH_FIELDS + 1];
	int nf = 0, r, rc = 0;
	char *p = buf;

	memset(u, 0, sizeof(*u));
	u->line = (unsigned)line;
	for (;;) {
		char *colon = strchr(p, ':');

		if (nf <= AUTH_FIELDS) {
			f[nf] = p;
			col[nf] = (int)(p - buf) + 1;
		}
		nf++;
		if (!colon)
			break;
		*colon = '\0';
		p = colon + 1;
	}
	if (nf != AUTH_FIELDS) {
		diag_add(dl, file, line,
			 nf > AUTH_FIELDS ? col[AUTH_FIELDS] - 1 :
					    (int)(p - buf) + (int)strlen(p) + 1,
			 "expected %d ':'-separated fields "
			 "(name:role:state:unix-user:hash:totp:history), "
			 "found %d",
			 AUTH_FIELDS, nf);
		return -EINVAL;
	}

	if (!auth_name_ok(f[0])) {
		diag_add(dl, file, line, col[0],
			 "name: \"%.40s\" must match [a-z_][a-z0-9_.-]{0,31}",
			 f[0]);
		rc = -EINVAL;
	} else {
		strcpy(u->name, f[0]);
	}

	r = auth_role_parse(f[1]);
	if (r < 0) {
		diag_add(dl, file, line, col[1],
			 "role: unknown role \"%.40s\" (viewer, operator, "
			 "engineer, auditor, admin)",
			 f[1]);
		rc = -EINVAL;
	} else {
		u->role = (enum auth_role)r;
	}

	r = auth_state_parse(f[2]);
	if (r < 0) {
		diag_add(dl, file, line, col[2],
			 "state: unknown state \"%.40s\" (active, disabled)",
			 f[2]);
		rc = -EINVAL;
	} else {
		u->state = (enum auth_state)r;
	}

	if (strcmp(f[3], "-") != 0 && !auth_name_ok(f[3])) {
		diag_add(dl, file, line, col[3],
			 "unix-user: \"%.40s\" is not a valid user name "
			 "or \"-\"",
			 f[3]);
		rc = -EINVAL;
	} else if (strcmp(f[3], "-") != 0) {
		strcpy(u->unix_user, f[3]);
	}

	/* The hash and the TOTP secret are never echoed. */
	if (strcmp(f[4], "!") != 0 && !auth_hash_ok(f[4])) {
		diag_add(dl, file, line, col[4],
			 "hash: not a yescrypt string ($y$...) or \"!\"");
		rc = -EINVAL;
	} else {
		strcpy(u->hash, f[4]);
	}

	if (strcmp(f[5], "-") != 0 && !auth_totp_ok(f[5])) {
		diag_add(dl, file, line, col[5],
			 "totp: not a base32 secret ([A-Z2-7], 16..%d "
			 "characters) or \"-\"",
			 AUTH_TOTP_SECRET_MAX);
		rc = -EINVAL;
	} else if (strcmp(f[5], "-") != 0) {
		strcpy(u->totp, f[5]);
	}

	if (auth_parse_history(f[6], u, file, line, col[6], dl) < 0)
		rc = -EINVAL;
	return rc;
}

/* Column of field i in a line whose ':' were replaced by NULs. */
static int auth_field_col(const char *buf, int i)
{
	int col = 1;

	while (i-- > 0) {
		size_t n = strlen(buf) + 1;

		col += (int)n;
		buf += n;
	}
	return col;
}

/* Owner root or the daemon's own user; no group or other bits. */
static int auth_check_file(int fd, const char *path, uid_t owner,
			   struct diag_list *dl)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int e = errno;

		diag_add(dl, path, 0, 0, "users: cannot stat: %s", strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_add(dl, path, 0, 0, "users: not a regular file");
		return -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != owner) {
		diag_add(dl, path, 0, 0,
			 "users: owned by uid %u: must be owned by root or "
			 "uid %u",
			 (unsigned)st.st_uid, (unsigned)owner);
		return -EPERM;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		diag_add(dl, path, 0, 0,
			 "users: mode %04o: must not be readable by group or "
			 "others",
			 (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int auth_store_load(const char *path, struct auth_store *out,
		    struct diag_list *dl)
{
	return auth_store_load_owner(path, geteuid(), out, dl);
}

int auth_store_load_owner(const char *path, uid_t owner, struct auth_store *out,
			  struct diag_list *dl)
{
	struct auth_store s = { 0 };
	struct auth_user u;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f = NULL;
	int fd, rc, line = 0;

	out->v = NULL;
	out->n = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			return 0;
		diag_add(dl, path, 0, 0, "users: cannot open: %s",
			 strerror(-rc));
		return rc;
	}
	rc = auth_check_file(fd, path, owner, dl);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	f = fdopen(fd, "r");
	if (!f) {
		rc = -errno;
		close(fd);
		diag_add(dl, path, 0, 0, "users: %s", strerror(-rc));
		return rc;
	}
	while ((len = getline(&buf, &cap, f)) >= 0) {
		char *p;
		struct auth_user *dup;

		line++;
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if ((size_t)len != strlen(buf)) {
			diag_add(dl, path, line, (int)strlen(buf) + 1,
				 "NUL byte in line");
			rc = -EINVAL;
			continue;
		}
		for (p = buf; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '\0' || *p == '#')
			continue;
		if (auth_parse_line(buf, &u, path, line, dl) < 0) {
			rc = -EINVAL;
			continue;
		}
		dup = auth_store_find(&s, u.name);
		if (dup) {
			diag_add(dl, path, line, 1,
				 "name: \"%s\" already defined on line %u",
				 u.name, dup->line);
			rc = -EINVAL;
			continue;
		}
		dup = auth_store_by_unix(&s, u.unix_user);
		if (dup) {
			diag_add(dl, path, line, auth_field_col(buf, 3),
				 "unix-user: \"%s\" already mapped to \"%s\" "
				 "on line %u",
				 u.unix_user, dup->name, dup->line);
			rc = -EINVAL;
			continue;
		}
		if (auth_store_push(&s, &u) < 0) {
			diag_add(dl, path, line, 1, "more than %d users",
				 AUTH_USERS_MAX);
			rc = -EINVAL;
		}
	}
	if (ferror(f)) {
		diag_add(dl, path, line, 0, "users: read error");
		rc = -EIO;
	}
	explicit_bzero(&u, sizeof(u));
	if (buf) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	fclose(f);
	if (rc < 0)
		auth_store_free(&s);
	else
		*out = s;
	return rc;
}

static int auth_write_user(FILE *f, const struct auth_user *u)
{
	unsigned i;

	fprintf(f, "%s:%s:%s:%s:%s:%s:", u->name, auth_role_name(u->role),
		auth_state_name(u->state), u->unix_user[0] ? u->unix_user : "-",
		u->hash, u->totp[0] ? u->totp : "-");
	if (u->nhistory == 0)
		fputc('-', f);
	for (i = 0; i < u->nhistory; i++)
		fprintf(f, "%s%s", i ? "," : "", u->history[i]);
	return fputc('\n', f) == EOF ? -EIO : 0;
}

int auth_store_save(const char *path, const struct auth_store *s)
{
	char tmp[PATH_MAX], dir[PATH_MAX], *slash;
	FILE *f = NULL;
	size_t i;
	int fd = -1, dfd, rc = 0;

	for (i = 0; i < s->n; i++)
		if (!auth_user_ok(&s->v[i]))
			return -EINVAL;
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp); /* 0600 */
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0) {
		rc = -errno;
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		goto out;
	}
	fd = -1;
	fputs("# conduitd users: name:role:state:unix-user:hash:totp:history\n",
	      f);
	for (i = 0; i < s->n && rc == 0; i++)
		rc = auth_write_user(f, &s->v[i]);
	if (rc == 0 && fflush(f) != 0)
		rc = -errno;
	if (rc == 0 && fsync(fileno(f)) < 0)
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	f = NULL;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0) {
		/* The rename itself must reach the disk. */
		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		else
			strcpy(dir, ".");
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		return 0;
	}
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

/* --- hashing -------------------------------------------------------------- */

int auth_hash(const char *password, unsigned cost, char *out, size_t outlen)
{
	struct crypt_data *cd;
	char *salt, *h;
	int rc = 0;

	if (!password || !out || strlen(password) > AUTH_PW_MAX ||
	    cost < AUTH_COST_MIN || cost > AUTH_COST_MAX)
		return -EINVAL;
	/* NULL rbytes: libxcrypt draws the salt from getrandom itself. */
	salt = crypt_gensalt_ra("$y$", cost, NULL, 0);
	if (!salt)
		return errno ? -errno : -EINVAL;
	cd = calloc(1, sizeof(*cd));
	if (!cd) {
		free(salt);
		return -ENOMEM;
	}
	h = crypt_rn(password, salt, cd, sizeof(*cd));
	if (!h || h[0] == '*' || !auth_hash_ok(h))
		rc = -EINVAL;
	else if (strlen(h) >= outlen)
		rc = -ENOSPC;
	else
		strcpy(out, h);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	free(salt);
	return rc;
}

/* crypt(password, hash) == hash, compared in constant time. */
static bool auth_crypt_eq(const char *password, const char *hash)
{
	struct crypt_data *cd;
	size_t n = strlen(hash);
	bool ok = false;
	char *h;

	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return false;
	h = crypt_rn(password, hash, cd, sizeof(*cd));
	if (h && h[0] != '*' && strlen(h) == n)
		ok = CRYPTO_memcmp(h, hash, n) == 0;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

bool auth_verify(const char *password, const char *hash)
{
	if (!password || !hash || strlen(password) > AUTH_PW_MAX)
		return false;
	if (!auth_hash_ok(hash)) {
		/* A user without a password costs as much as a wrong one. */
		const char *d = auth_dummy_hash(AUTH_COST_DEFAULT);

		if (d[0] == '$')
			(void)auth_crypt_eq(password, d);
		return false;
	}
	return auth_crypt_eq(password, hash);
}

const char *auth_dummy_hash(unsigned cost)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char cache[AUTH_COST_MAX + 1][AUTH_HASH_MAX + 1];
	unsigned char rnd[32];
	char pw[2 * sizeof(rnd) + 1];
	const char *ret = "!";
	size_t i;

	if (cost < AUTH_COST_MIN || cost > AUTH_COST_MAX)
		cost = AUTH_COST_DEFAULT;
	pthread_mutex_lock(&lock);
	if (cache[cost][0]) {
		ret = cache[cost];
		goto out;
	}
	/* A password nobody knows, so that nothing ever matches. */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		goto out;
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
	if (auth_hash(pw, cost, cache[cost], sizeof(cache[cost])) == 0)
		ret = cache[cost];
	else
		cache[cost][0] = '\0';
	explicit_bzero(rnd, sizeof(rnd));
	explicit_bzero(pw, sizeof(pw));
out:
	pthread_mutex_unlock(&lock);
	return ret;
}

/* --- password policy ------------------------------------------------------ */

/* Some of the most used passwords (public breach lists); compared without
 * regard to case. Long ones matter most: short ones fail min_len first. */
static const char *const auth_common_pw[] = {
	"123456",	"password",	 "12345678",	  "qwerty",
	"123456789",	"12345",	 "1234",	  "111111",
	"1234567",	"dragon",	 "123123",	  "baseball",
	"abc123",	"football",	 "monkey",	  "letmein",
	"696969",	"shadow",	 "master",	  "666666",
	"qwertyuiop",	"123321",	 "mustang",	  "1234567890",
	"michael",	"654321",	 "superman",	  "1qaz2wsx",
	"7777777",	"121212",	 "000000",	  "qazwsx",
	"123qwe",	"killer",	 "trustno1",	  "jordan",
	"jennifer",	"zxcvbnm",	 "asdfgh",	  "hunter",
	"buster",	"soccer",	 "harley",	  "batman",
	"andrew",	"tigger",	 "sunshine",	  "iloveyou",
	"2000",		"charlie",	 "robert",	  "thomas",
	"hockey",	"ranger",	 "daniel",	  "starwars",
	"klaster",	"112233",	 "george",	  "computer",
	"michelle",	"jessica",	 "pepper",	  "1111",
	"zxcvbn",	"555555",	 "11111111",	  "131313",
	"freedom",	"777777",	 "pass",	  "maggie",
	"159753",	"aaaaaa",	 "ginger",	  "princess",
	"joshua",	"cheese",	 "amanda",	  "summer",
	"love",		"ashley",	 "nicole",	  "chelsea",
	"biteme",	"matthew",	 "access",	  "yankees",
	"987654321",	"dallas",	 "austin",	  "thunder",
	"taylor",	"matrix",	 "welcome",	  "admin",
	"passw0rd",	"password1",	 "password123",	  "qwerty123",
	"1q2w3e4r",	"1q2w3e4r5t",	 "qwertyuiop123", "123456789012",
	"iloveyou123",	"welcome123",	 "admin123456",	  "administrator",
	"changeme123",	"p@ssw0rd1234",	 "password1234",  "qwerty123456",
	"letmein12345", "1qaz2wsx3edc",	 "zaq12wsxcde3",  "q1w2e3r4t5y6",
	"abcd12345678", "Password1234!", "Welcome@1234",  "Passw0rd!234",
	NULL,
};

/* Code points in a valid UTF-8 string, or -1 (overlong, surrogate, ...). */
static long auth_utf8_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;

	while (*p) {
		unsigned c = *p, cp, k, i;

		if (c < 0x80) {
			p++;
			n++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3;
			cp = c & 0x07;
		} else {
			return -1;
		}
		for (i = 1; i <= k; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
		    (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		p += k + 1;
		n++;
	}
	return n;
}

/* 1 when password is in the list file, 0 when not, negative errno. */
static int auth_in_common_file(const char *file, const char *password)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	int found = 0;
	FILE *f;

	f = fopen(file, "re");
	if (!f)
		return -errno;
	while (!found && (len = getline(&buf, &cap, f)) >= 0) {
		while (len > 0 &&
		       (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (len > 0 && strcasecmp(buf, password) == 0)
			found = 1;
	}
	if (!found && ferror(f))
		found = -EIO;
	if (buf) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	fclose(f);
	return found;
}

static bool auth_contains_name(const char *password, const char *name)
{
	return strlen(name) >= AUTH_NAME_MIN_MATCH &&
	       strcasestr(password, name) != NULL;
}

void auth_pw_policy_default(struct auth_pw_policy *p)
{
	p->min_len = 12;
	p->min_classes = 3;
	p->history = 5;
	p->common_file = NULL;
}

int auth_pw_check(const struct auth_pw_policy *p, const struct auth_user *u,
		  const char *password, const char **why)
{
	static _Thread_local char why_len[64], why_classes[80];
	unsigned classes = 0, lower = 0, upper = 0, digit = 0, other = 0;
	const char *dummy_why;
	const unsigned char *c;
	unsigned i, nh;
	long n;
	int rc;

	if (!why)
		why = &dummy_why;
	*why = NULL;
	if (!p || !password) {
		*why = "no password given";
		return -EINVAL;
	}
	if (strlen(password) > AUTH_PW_MAX) {
		*why = "longer than 1024 bytes";
		return -EINVAL;
	}
	n = auth_utf8_len(password);
	if (n < 0) {
		*why = "is not valid UTF-8";
		return -EINVAL;
	}
	for (c = (const unsigned char *)password; *c; c++) {
		if (*c < 0x20 || *c == 0x7f) {
			*why = "contains a control character";
			return -EINVAL;
		}
	}
	if ((unsigned long)n < p->min_len) {
		snprintf(why_len, sizeof(why_len), "shorter than %u characters",
			 p->min_len);
		*why = why_len;
		return -EINVAL;
	}
	for (c = (const unsigned char *)password; *c; c++) {
		if (*c >= 'a' && *c <= 'z')
			lower = 1;
		else if (*c >= 'A' && *c <= 'Z')
			upper = 1;
		else if (*c >= '0' && *c <= '9')
			digit = 1;
		else
			other = 1;
	}
	classes = lower + upper + digit + other;
	if (classes < p->min_classes) {
		snprintf(why_classes, sizeof(why_classes),
			 "needs %u of: lower case, upper case, digits, other",
			 p->min_classes);
		*why = why_classes;
		return -EINVAL;
	}
	if (u && (auth_contains_name(password, u->name) ||
		  auth_contains_name(password, u->unix_user))) {
		*why = "contains the user name";
		return -EINVAL;
	}
	for (i = 0; auth_common_pw[i]; i++) {
		if (strcasecmp(password, auth_common_pw[i]) == 0) {
			*why = "is a commonly used password";
			return -EINVAL;
		}
	}
	if (p->common_file) {
		rc = auth_in_common_file(p->common_file, password);
		if (rc < 0) {
			*why = "the list of common passwords cannot be read";
			return rc;
		}
		if (rc > 0) {
			*why = "is a commonly used password";
			return -EINVAL;
		}
	}
	if (u && p->history > 0) {
		if (auth_hash_ok(u->hash) && auth_verify(password, u->hash)) {
			*why = "was used before";
			return -EINVAL;
		}
		nh = u->nhistory < p->history ? u->nhistory : p->history;
		for (i = 0; i < nh; i++) {
			if (auth_verify(password, u->history[i])) {
				*why = "was used before";
				return -EINVAL;
			}
		}
	}
	return 0;
}

int auth_set_password(const struct auth_pw_policy *p, struct auth_user *u,
		      const char *password, unsigned cost, const char **why)
{
	char h[AUTH_HASH_MAX + 1];
	unsigned keep, i;
	int rc;

	if (!u)
		return -EINVAL;
	rc = auth_pw_check(p, u, password, why);
	if (rc < 0)
		return rc;
	rc = auth_hash(password, cost, h, sizeof(h));
	if (rc < 0) {
		if (why)
			*why = "the password could not be hashed";
		return rc;
	}
	keep = p->history < AUTH_HISTORY_MAX ? p->history : AUTH_HISTORY_MAX;
	if (keep > 0 && auth_hash_ok(u->hash)) {
		unsigned n = u->nhistory < keep ? u->nhistory : keep - 1;

		for (i = n; i > 0; i--)
			memcpy(u->history[i], u->history[i - 1],
			       sizeof(u->history[i]));
		strcpy(u->history[0], u->hash);
		u->nhistory = n + 1;
	} else if (u->nhistory > keep) {
		u->nhistory = keep;
	}
	for (i = u->nhistory; i < AUTH_HISTORY_MAX; i++)
		explicit_bzero(u->history[i], sizeof(u->history[i]));
	strcpy(u->hash, h);
	explicit_bzero(h, sizeof(h));
	return 0;
}
