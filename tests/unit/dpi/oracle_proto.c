/*
 * Differential oracle driver for the pure parsers: reads TCP segments as
 * tshark prints them (frame, stream, src port, dst port, seq, hex payload;
 * tab separated), reassembles each direction naively (in-order data only,
 * retransmissions skipped by sequence number), runs the parser over the
 * stream and prints one line per PDU in the frame where it completes, with
 * the fields tshark shows. tests/unit/dpi/oracle.sh compares the two.
 * Usage: oracle_proto modbus|iec104|s7comm SERVER_PORT < segments
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpi/proto/iec104.h"
#include "dpi/proto/modbus.h"
#include "dpi/proto/s7comm.h"

#define MAX_STREAMS 4096
#define BUF_MAX 65536

struct side {
	uint8_t buf[BUF_MAX];
	size_t len;
	unsigned long next_seq;
	int seen;
	int dead;	       /* framing lost: stop parsing this side */
	uint8_t tsdu[BUF_MAX]; /* COTP reassembly */
	size_t tsdu_len;
};

static struct side *sides[MAX_STREAMS][2];

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static void out_modbus(long frame, const struct modbus_pdu *m,
		       const struct dpi_result *r, enum dpi_dir dir)
{
	printf("%ld\t%s\t", frame, dir == DPI_DIR_REQUEST ? "req" : "rsp");
	/* framing lost: tshark shows nothing either */
	if (r->status == DPI_ERROR && r->consumed == 0) {
		printf("\t\t\t\t\t\t%s\n", r->error);
		return;
	}
	printf("%u\t%u\t%u\t", m->transaction_id, m->unit_id, m->function);
	if (m->exception)
		printf("%u", m->exception_code);
	printf("\t");
	if (m->has_range)
		printf("%u", m->address);
	printf("\t");
	if (m->has_range || (m->function == MODBUS_FC_READ_FIFO_QUEUE &&
			     dir == DPI_DIR_RESPONSE && !m->exception))
		printf("%u", m->quantity);
	printf("\t%s\n", r->status == DPI_ERROR ? r->error : "");
}

static void out_iec104(long frame, const struct iec104_apdu *m,
		       const struct dpi_result *r)
{
	if (r->status == DPI_ERROR && r->consumed == 0) {
		printf("%ld\t\t\t\t\t\t\t%s\n", frame, r->error);
		return;
	}
	printf("%ld\t%s\t", frame, iec104_apci_name(m->apci));
	if (m->apci == IEC104_APCI_U)
		printf("%u", m->utype);
	printf("\t");
	if (m->has_asdu)
		printf("%u\t%u\t%u\t", m->type_id, m->cot, m->ca);
	else
		printf("\t\t\t");
	for (unsigned i = 0; i < m->n_ioa; i++)
		printf("%s%u", i ? "," : "", m->ioa[i]);
	printf("\t%s\n", r->status == DPI_ERROR ? r->error : "");
}

static void out_s7(long frame, const struct s7comm_pdu *m, const char *err)
{
	printf("%ld\t%x\t", frame, m->cotp_type);
	if (m->has_s7 && !m->s7plus) {
		printf("%u\t", m->rosctr);
		if (m->has_function)
			printf("%u", m->function);
		printf("\t");
		if (m->has_userdata && (m->ud_group | m->ud_type) == 0)
			printf("0\t"); /* tshark shows the mode, not subfunc */
		else if (m->has_userdata)
			printf("%u\t%u", m->ud_group, m->ud_subfunction);
		else
			printf("\t");
		printf("\t");
		if (m->function == S7COMM_FN_READ_VAR ||
		    m->function == S7COMM_FN_WRITE_VAR)
			printf("%u", m->item_count);
	} else {
		printf("\t\t\t\t");
	}
	printf("\t%s", m->s7plus ? "plus" : "");
	printf("\t%s\n", err ? err : "");
}

static void run(const char *proto, struct side *s, long frame, enum dpi_dir dir)
{
	size_t off = 0;

	while (!s->dead && off < s->len) {
		struct dpi_result r;
		const uint8_t *p = s->buf + off;
		size_t n = s->len - off;

		if (strcmp(proto, "modbus") == 0) {
			struct modbus_pdu m;

			modbus_parse(p, n, dir, &m, &r);
			if (r.status != DPI_NEED_MORE)
				out_modbus(frame, &m, &r, dir);
		} else if (strcmp(proto, "iec104") == 0) {
			struct iec104_apdu m;

			iec104_parse(p, n, dir, &m, &r);
			if (r.status != DPI_NEED_MORE)
				out_iec104(frame, &m, &r);
		} else {
			struct s7comm_pdu m;
			const char *err = NULL;

			s7comm_parse_tpkt(p, n, &m, &r);
			if (r.status == DPI_ERROR)
				err = r.error;
			if (r.status == DPI_COMPLETE &&
			    m.cotp_type == S7COMM_COTP_DT &&
			    m.payload_len > 0) {
				const uint8_t *u = p + m.payload_off;
				size_t ulen = m.payload_len;

				if (s->tsdu_len > 0 || m.fragment) {
					if (s->tsdu_len + ulen > BUF_MAX)
						s->tsdu_len = 0;
					memcpy(s->tsdu + s->tsdu_len, u, ulen);
					s->tsdu_len += ulen;
					u = s->tsdu;
					ulen = s->tsdu_len;
				}
				if (m.cotp_eot) {
					err = s7comm_parse_payload(u, ulen, dir,
								   &m);
					s->tsdu_len = 0;
				}
			}
			if (r.status != DPI_NEED_MORE && !m.fragment)
				out_s7(frame, &m, err);
		}
		if (r.status == DPI_NEED_MORE)
			break;
		if (r.consumed == 0 && strcmp(proto, "iec104") == 0) {
			/* like tshark: resynchronise on the next start byte */
			const uint8_t *q = memchr(p + 1, IEC104_START, n - 1);

			off += q ? (size_t)(q - p) : n;
			continue;
		}
		if (r.consumed == 0) {
			s->dead = 1;
			break;
		}
		off += r.consumed;
	}
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
}

int main(int argc, char **argv)
{
	char line[1 << 17];
	unsigned port;

	if (argc != 3)
		return 2;
	port = (unsigned)atoi(argv[2]);
	while (fgets(line, sizeof(line), stdin)) {
		long frame;
		unsigned stream, sport, dport;
		unsigned long seq;
		char *hex;
		enum dpi_dir dir;
		struct side *s;
		size_t n = 0;
		int skip = 0;

		if (sscanf(line, "%ld\t%u\t%u\t%u\t%lu", &frame, &stream,
			   &sport, &dport, &seq) != 5 ||
		    stream >= MAX_STREAMS)
			continue;
		hex = line;
		for (int i = 0; i < 5 && hex; i++) {
			hex = strchr(hex, '\t');
			if (hex)
				hex++;
		}
		if (!hex)
			continue;
		dir = dport == port ? DPI_DIR_REQUEST : DPI_DIR_RESPONSE;
		if (sport != port && dport != port)
			continue;
		if (!sides[stream][dir])
			sides[stream][dir] = calloc(1, sizeof(struct side));
		s = sides[stream][dir];
		if (s->seen && seq < s->next_seq)
			continue; /* retransmission */
		for (char *h = hex; hexval(h[0]) >= 0 && hexval(h[1]) >= 0;
		     h += 2) {
			if (s->len + n >= BUF_MAX) {
				skip = 1;
				break;
			}
			s->buf[s->len + n++] =
				(uint8_t)(hexval(h[0]) << 4 | hexval(h[1]));
		}
		if (skip)
			continue;
		s->seen = 1;
		s->next_seq = seq + n;
		s->len += n;
		run(argv[1], s, frame, dir);
	}
	return 0;
}
