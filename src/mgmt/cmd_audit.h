/*
 * The auditor's remote tools (CR 6.1, CR 3.9): audit.verify and audit.tail
 * over the daemon's spool through audit/reader.h (the same code as
 * `conduitctl audit` on the box), and conf.show, the running
 * configuration without secrets. Handlers of commands.c's table.
 *
 *   audit.verify {max_records?, after_seq?, anchor?} -> {dir, records,
 *                first_seq, last_seq, duplicates, not_ours, intact, hmac,
 *                limited, last_chain, torn_tail_bytes, broken: {seq,
 *                segment, record, reason} (absent when intact; seq null
 *                for a spool that stops)}
 *                At most max_records records per call (default
 *                CMD_AUDIT_VERIFY_BATCH, 0 = all): a 64 MiB spool takes
 *                over a second, which the main loop must not stall for.
 *                limited: more follow; the next call passes after_seq =
 *                last_seq and anchor = last_chain (hex) and continues the
 *                chain from there (conduitctl loops so).
 *   audit.tail   {count? (20, at most CMD_AUDIT_TAIL_MAX)} -> {records:
 *                [{seq, msgid, time, text}]} oldest first
 *   conf.show    -> {file, keys: {key: value}}: every conduitd.conf key,
 *                the effective value (module defaults filled in),
 *                collectors and listen addresses as lists
 */
#ifndef CONDUIT_MGMT_CMD_AUDIT_H
#define CONDUIT_MGMT_CMD_AUDIT_H

#include <stdint.h>

#include <jansson.h>

struct cmd_daemon;

#define CMD_AUDIT_VERIFY_BATCH 20000 /* records per call, ~0.2 s */
#define CMD_AUDIT_TAIL_DEFAULT 20
#define CMD_AUDIT_TAIL_MAX 1000

json_t *cmd_audit_verify(struct cmd_daemon *d, const json_t *args, uint64_t id);
json_t *cmd_audit_tail(struct cmd_daemon *d, const json_t *args, uint64_t id);
json_t *cmd_conf_show(struct cmd_daemon *d, const json_t *args, uint64_t id);

#endif
