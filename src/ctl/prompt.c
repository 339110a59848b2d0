/*
 * Secret input for conduitctl: see prompt.h. The terminal state is saved
 * in a static for the signal handler, the only place besides the prompt
 * that may restore it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl/prompt.h"

static volatile sig_atomic_t tty_saved_fd = -1;
static struct termios tty_saved;

static const int tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define N_SIGNALS (sizeof(tty_signals) / sizeof(tty_signals[0]))

/* Restores the terminal and dies of the same signal. */
static void tty_on_signal(int sig)
{
	int fd = tty_saved_fd;

	if (fd >= 0) {
		tcsetattr(fd, TCSAFLUSH, &tty_saved);
		(void)!write(fd, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Reads one line from fd into buf; the rest of a too long line is
 * consumed and dropped. */
static int tty_read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	bool over = false;

	for (;;) {
		char ch;
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {
			if (n == 0 && !over)
				return -ECANCELED;
			break;
		}
		if (ch == '\n' || ch == '\r')
			break;
		if (n + 1 < len)
			buf[n++] = ch;
		else
			over = true;
	}
	buf[n] = '\0';
	if (over) {
		explicit_bzero(buf, len);
		return -ENAMETOOLONG;
	}
	return 0;
}

int ctl_prompt_secret(const char *prompt, char *buf, size_t len)
{
	struct sigaction sa = { .sa_handler = tty_on_signal }, old[N_SIGNALS];
	struct termios t;
	int fd, rc;

	buf[0] = '\0';
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -ENOTTY;
	if (tcgetattr(fd, &t) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	tty_saved = t;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_SIGNALS; i++)
		sigaction(tty_signals[i], &sa, &old[i]);
	tty_saved_fd = fd;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	t.c_lflag |= ICANON;
	/* echo off (and stale type-ahead dropped) before the prompt shows:
	 * whatever is typed after it is the answer and must not be flushed;
	 * the restore keeps what is typed ahead for the next prompt */
	if (tcsetattr(fd, TCSAFLUSH, &t) < 0) {
		rc = -errno;
	} else {
		(void)!write(fd, prompt, strlen(prompt));
		rc = tty_read_line(fd, buf, len);
		tcsetattr(fd, TCSANOW, &tty_saved);
	}
	tty_saved_fd = -1;
	for (size_t i = 0; i < N_SIGNALS; i++)
		sigaction(tty_signals[i], &old[i], NULL);
	(void)!write(fd, "\n", 1);
	explicit_bzero(&t, sizeof(t));
	close(fd);
	return rc;
}

int ctl_secret_file(const char *path, char *l1, size_t l1len, char *l2,
		    size_t l2len, char *err, size_t errlen)
{
	char buf[2 * CTL_SECRET_MAX + 4];
	size_t got = 0;
	char *nl, *second = NULL;
	int fd, rc = 0;

	l1[0] = '\0';
	if (l2 != NULL)
		l2[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0 || (got += (size_t)n) == sizeof(buf) - 1)
			break;
	}
	buf[got] = '\0';
	nl = strchr(buf, '\n');
	if (nl != NULL) {
		*nl = '\0';
		second = nl + 1;
		nl = strchr(second, '\n');
		if (nl != NULL)
			*nl = '\0';
	}
	/* CRLF files from other systems */
	for (char *s = buf; s != NULL; s = s == buf ? second : NULL) {
		size_t l = strlen(s);

		if (l > 0 && s[l - 1] == '\r')
			s[l - 1] = '\0';
	}
	if (buf[0] == '\0') {
		snprintf(err, errlen, "%s: line 1: empty (the password)", path);
		rc = -EINVAL;
	} else if (strlen(buf) >= l1len ||
		   (l2 != NULL && second != NULL && strlen(second) >= l2len)) {
		snprintf(err, errlen, "%s: line too long", path);
		rc = -EINVAL;
	} else {
		strcpy(l1, buf);
		if (l2 != NULL && second != NULL)
			strcpy(l2, second);
	}
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

bool ctl_confirm(const char *question)
{
	char ans[16];
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	bool yes;

	if (fd < 0)
		return false;
	(void)!write(fd, question, strlen(question));
	(void)!write(fd, " [y/N] ", 7);
	yes = tty_read_line(fd, ans, sizeof(ans)) == 0 &&
	      (strcmp(ans, "y") == 0 || strcmp(ans, "yes") == 0 ||
	       strcmp(ans, "Y") == 0);
	close(fd);
	return yes;
}

/* Every block carries its size in front, so that free can wipe it. */
union wipe_hdr {
	size_t size;
	max_align_t align;
};

static void *wipe_malloc(size_t n)
{
	union wipe_hdr *h = malloc(sizeof(*h) + n);

	if (h == NULL)
		return NULL;
	h->size = n;
	return h + 1;
}

static void wipe_free(void *p)
{
	union wipe_hdr *h;

	if (p == NULL)
		return;
	h = (union wipe_hdr *)p - 1;
	explicit_bzero(p, h->size);
	free(h);
}

void ctl_secure_json_alloc(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}
