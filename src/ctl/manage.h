/*
 * conduitctl's management commands (FR1, FR2): user, passwd, session and
 * the dual-approval verbs of policy (pending, approve, withdraw), and the
 * offline editing of the users file by root (first run, recovery).
 */
#ifndef CONDUIT_CTL_MANAGE_H
#define CONDUIT_CTL_MANAGE_H

#include <jansson.h>

struct ctl_client;

/* Each takes the command words (a[0] is "user", "passwd", "session",
 * "policy") and returns an exit code; CTL_EXIT_USAGE after printing
 * what was wrong. conf_path: -c, for --offline (NULL: the default). */
int ctl_user_main(struct ctl_client *cl, int nargs, char **a,
		  const char *conf_path);
int ctl_passwd_main(struct ctl_client *cl, int nargs, char **a);
int ctl_session_main(struct ctl_client *cl, int nargs, char **a);
/* policy pending | approve ID [--yes] | withdraw ID; -1 when a[1] is none
 * of them. */
int ctl_approval_main(struct ctl_client *cl, int nargs, char **a);

/* The answer of policy apply, approve and reload ("what: ..."), or the
 * "pending approval: id N (expires ...)" line under dual approval. */
void ctl_print_install(const char *what, const json_t *r);

#endif
