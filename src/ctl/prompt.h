/*
 * Secrets for conduitctl: prompts on /dev/tty without echo (the terminal
 * is restored on every path, a SIGINT included), the --password-file
 * reader, a yes/no confirmation, and a jansson allocator that wipes every
 * block it frees, so that passwords copied into requests do not linger in
 * the heap. Nothing here ever prints a secret.
 */
#ifndef CONDUIT_CTL_PROMPT_H
#define CONDUIT_CTL_PROMPT_H

#include <stdbool.h>
#include <stddef.h>

#define CTL_SECRET_MAX 1024

/*
 * Asks prompt on /dev/tty and reads one line without echo into buf
 * (without the newline). Returns 0, -ENOTTY when there is no terminal,
 * -ECANCELED at EOF, -ENAMETOOLONG for a line over len - 1 bytes (the
 * rest is discarded), or another negative errno.
 */
int ctl_prompt_secret(const char *prompt, char *buf, size_t len);
/*
 * Reads the secrets file: line 1 into l1, line 2 (optional: "" when
 * absent) into l2 (may be NULL). Returns 0 or a negative errno with err
 * naming the file and the reason.
 */
int ctl_secret_file(const char *path, char *l1, size_t l1len, char *l2,
		    size_t l2len, char *err, size_t errlen);
/* "question [y/N] " on /dev/tty; true for y/yes. No terminal: false. */
bool ctl_confirm(const char *question);
/* Installs the wiping allocator in jansson (before any json_* call). */
void ctl_secure_json_alloc(void);

#endif
