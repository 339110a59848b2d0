/*
 * libFuzzer harness for the S7comm parser: the input as a stream of TPKTs
 * parsed in both directions, and the input as one bare S7 payload (what a
 * caller hands over after COTP reassembly). Checks the streaming contract
 * and that offsets and item lists stay within their bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "dpi/proto/s7comm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_items(const struct s7comm_pdu *m)
{
	if (m->n_items > S7COMM_MAX_ITEMS || m->n_items > m->item_count)
		abort();
	if (m->items_truncated && m->n_items != S7COMM_MAX_ITEMS)
		abort();
	(void)s7comm_func_name(m->function);
	(void)s7comm_rosctr_name(m->rosctr);
	(void)s7comm_ud_group_name(m->ud_group);
}

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s7comm_pdu p;

	for (int d = 0; d < 2; d++) {
		enum dpi_dir dir = d ? DPI_DIR_RESPONSE : DPI_DIR_REQUEST;
		size_t off = 0;

		while (off < size) {
			struct s7comm_pdu m;
			struct dpi_result r;
			size_t left = size - off;

			s7comm_parse(data + off, left, dir, &m, &r);
			if (r.status == DPI_NEED_MORE) {
				if (r.needed <= left || r.needed > 0xffff)
					abort();
				break;
			}
			if (r.consumed > left)
				abort();
			if (r.status == DPI_ERROR && r.error == NULL)
				abort();
			if (r.consumed > 0 &&
			    m.payload_off + m.payload_len > r.consumed)
				abort();
			check_items(&m);
			if (r.consumed == 0)
				break;
			off += r.consumed;
		}
	}
	memset(&p, 0, sizeof(p));
	(void)s7comm_parse_payload(data, size, DPI_DIR_REQUEST, &p);
	check_items(&p);
	return 0;
}
