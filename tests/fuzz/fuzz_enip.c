/*
 * libFuzzer harness for the EtherNet/IP + CIP parser: the input as a TCP
 * stream of encapsulation PDUs in both directions, as a bare CIP message,
 * and as a UDP I/O datagram. Checks the streaming contract on every step.
 */
#include <stdlib.h>
#include <string.h>

#include "dpi/proto/enip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pdu(const struct enip_pdu *e)
{
	if (e->n_cip > ENIP_MAX_CIP || e->n_items > ENIP_MAX_ITEMS)
		abort();
	for (unsigned i = 0; i < e->n_cip; i++)
		(void)cip_request_is_read(&e->cip[i]);
}

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum dpi_dir dirs[] = { DPI_DIR_REQUEST,
					     DPI_DIR_RESPONSE };
	struct enip_pdu e;
	struct dpi_result r;

	memset(&e, 0, sizeof(e));
	for (unsigned d = 0; d < 2; d++) {
		size_t off = 0;

		while (off < size) {
			size_t left = size - off;

			enip_parse(data + off, left, dirs[d], &e, &r);
			if (r.status == DPI_NEED_MORE) {
				if (r.needed <= left ||
				    r.needed > ENIP_HDR_LEN + ENIP_MAX_DATA)
					abort();
				break;
			}
			if (r.consumed == 0 || r.consumed > left)
				abort();
			if (r.status == DPI_ERROR && r.error == NULL)
				abort();
			check_pdu(&e);
			off += r.consumed;
		}
	}
	memset(&e, 0, sizeof(e));
	(void)enip_cip_parse(data, size, &e);
	check_pdu(&e);
	(void)enip_io_recognise(data, size);
	return 0;
}
