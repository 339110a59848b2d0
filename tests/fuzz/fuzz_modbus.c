/*
 * libFuzzer harness for the Modbus/TCP parser: the input as a stream of
 * ADUs, parsed in both directions PDU after PDU. Checks the streaming
 * contract (progress, bounds, a reason with every error) on every step.
 */
#include <stdlib.h>

#include "dpi/proto/modbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int d = 0; d < 2; d++) {
		enum dpi_dir dir = d ? DPI_DIR_RESPONSE : DPI_DIR_REQUEST;
		size_t off = 0;

		while (off < size) {
			struct modbus_pdu m;
			struct dpi_result r;
			size_t left = size - off;

			modbus_parse(data + off, left, dir, &m, &r);
			if (r.status == DPI_NEED_MORE) {
				if (r.needed <= left ||
				    r.needed > MODBUS_ADU_MAX)
					abort();
				break;
			}
			if (r.consumed > left)
				abort();
			if (r.status == DPI_ERROR && r.error == NULL)
				abort();
			if (r.status == DPI_COMPLETE &&
			    (r.consumed < MODBUS_MBAP_LEN + 1 ||
			     (m.has_range && m.quantity == 0)))
				abort();
			(void)modbus_fc_name(m.function);
			(void)modbus_exception_name(m.exception_code);
			if (r.consumed == 0)
				break;
			off += r.consumed;
		}
	}
	return 0;
}
