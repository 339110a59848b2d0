/*
 * libFuzzer harness for the whole decode path: packet bytes -> link layer
 * -> IP/TCP/UDP -> flow table -> TCP reassembly -> protocol parser. The
 * input is a sequence of packets: [link type selector][2-byte length]
 * [bytes]..., all in one engine, so reassembly and per-flow state are
 * exercised across packets. Every PDU record is checked for sanity.
 */
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "dpi/engine.h"
#include "dpi/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int links[] = { DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL, DLT_NULL };

static enum engine_verdict on_pdu(const struct engine_pdu *pdu, void *fuser,
				  void *arg)
{
	(void)fuser;
	(void)arg;
	if (pdu->proto <= ENGINE_PROTO_NONE || pdu->proto >= ENGINE_PROTO_MAX)
		abort();
	if (pdu->broken && pdu->error == NULL)
		abort();
	if (pdu->proto == ENGINE_PROTO_DNP3 && pdu->u.dnp3.app &&
	    pdu->u.dnp3.app->n_objects > DNP3_MAX_OBJECTS)
		abort();
	if (pdu->proto == ENGINE_PROTO_ENIP && pdu->u.enip &&
	    pdu->u.enip->n_cip > ENIP_MAX_CIP)
		abort();
	(void)engine_proto_name(pdu->proto);
	return ENGINE_ALLOW;
}

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct engine *e;
	struct engine_conf conf = { .max_flows = 64,
				    .max_dnp3 = 4,
				    .resync_on_gap = true };
	size_t off = 0;
	uint64_t now = 1;

	if (size < 1)
		return 0;
	/* a fresh engine per input keeps runs independent and reproducible */
	conf.resync_on_gap = data[0] & 1;
	e = engine_alloc(&conf);
	if (e == NULL)
		abort();
	engine_set_pdu_cb(e, on_pdu, NULL);
	off = 1;
	while (off + 3 <= size) {
		int dlt = links[data[off] & 3];
		size_t n = (size_t)data[off + 1] << 8 | data[off + 2];
		struct pkt p;
		int rc;

		off += 3;
		if (n > size - off)
			n = size - off;
		memset(&p, 0, sizeof(p));
		rc = replay_link_decode(dlt, data + off, n, &p);
		if (rc == 0) {
			if (p.payload_len > n ||
			    (p.payload &&
			     (p.payload < data + off ||
			      p.payload + p.payload_len > data + off + n)))
				abort();
			engine_process(e, &p, now, now);
		} else {
			if (p.error == NULL)
				abort();
			engine_count_undecoded(e, rc);
		}
		now += 1000;
		off += n;
	}
	engine_free(e);
	e = NULL;
	return 0;
}
