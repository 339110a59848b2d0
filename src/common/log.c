/*
 * Operational log sink. One process-wide sink is set once at start-up;
 * log_warn appends strerror(errno) like OpenBSD's log.c.
 */
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

static int log_to_syslog;
static enum log_level log_level = LOG_LEVEL_INFO;
static const char *log_ident = "conduitd";

void log_init(const char *ident, int to_syslog, enum log_level level)
{
	log_ident = ident;
	log_to_syslog = to_syslog;
	log_level = level;
	if (to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

int log_level_parse(const char *s)
{
	static const char *const names[] = { "err", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static void log_vemit(enum log_level lvl, int with_errno, const char *fmt,
		      va_list ap) __attribute__((format(printf, 3, 0)));

static void log_vemit(enum log_level lvl, int with_errno, const char *fmt,
		      va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[1024];
	int saved = errno;

	if (lvl > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to_syslog) {
		if (with_errno)
			syslog(prio[lvl], "%s: %s", msg, strerror(saved));
		else
			syslog(prio[lvl], "%s", msg);
	} else {
		if (with_errno)
			fprintf(stderr, "%s: %s: %s\n", log_ident, msg,
				strerror(saved));
		else
			fprintf(stderr, "%s: %s\n", log_ident, msg);
		fflush(stderr);
	}
	errno = saved;
}

#define LOG_BODY(lvl, e)                    \
	do {                                \
		va_list ap;                 \
		va_start(ap, fmt);          \
		log_vemit(lvl, e, fmt, ap); \
		va_end(ap);                 \
	} while (0)

void log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, 1);
}

void log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, 0);
}

void log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, 0);
}

void log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, 1);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, 0);
	exit(1);
}
