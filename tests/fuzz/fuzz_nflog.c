/*
 * Fuzz target for the NFLOG reader (src/nft/nflog.c): the input is one
 * netlink datagram as the kernel would deliver it. It goes through the
 * pure parser, then through the message walk and the aggregation of a
 * socketless reader with a tiny table, so that overflow and expiry run
 * too. Every emitted line must fit NFLOG_LINE_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nft/nflog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink(const struct deny_event *ev, void *arg)
{
	char line[NFLOG_LINE_MAX];

	if (nflog_event_format(ev, line, sizeof(line)) == NULL)
		abort();
	*(size_t *)arg += strlen(line);
}

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nflog_reader *r;
	struct nflog_pkt pkt;
	size_t total = 0;
	uint32_t *buf;

	if (size > 65536)
		return 0;
	/* netlink messages are 4-byte aligned; fuzzer data need not be */
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	(void)nflog_parse_msg(buf, size, &pkt);

	r = nflog_alloc(2, 4);
	if (r != NULL) {
		nflog_tick(r, 1, sink, &total);
		nflog_feed(r, buf, size, NULL, 1, sink, &total);
		nflog_feed(r, buf, size, NULL, 2, sink, &total);
		nflog_tick(r, 3, sink, &total);
		nflog_feed(r, buf, size, NULL, 3, sink, &total);
		nflog_tick(r, 5, sink, &total);
		nflog_flush(r, sink, &total);
		nflog_close(r);
	}
	free(buf);
	return 0;
}
