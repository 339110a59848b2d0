/*
 * libFuzzer harness for the IEC 60870-5-104 parser: the input as a stream
 * of APDUs, parsed APDU after APDU. Checks the streaming contract and that
 * the IOA list stays within its bounds.
 */
#include <stdlib.h>

#include "dpi/proto/iec104.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int d = 0; d < 2; d++) {
		enum dpi_dir dir = d ? DPI_DIR_RESPONSE : DPI_DIR_REQUEST;
		size_t off = 0;

		while (off < size) {
			struct iec104_apdu a;
			struct dpi_result r;
			size_t left = size - off;

			iec104_parse(data + off, left, dir, &a, &r);
			if (r.status == DPI_NEED_MORE) {
				if (r.needed <= left ||
				    r.needed > 2 + IEC104_LEN_MAX)
					abort();
				break;
			}
			if (r.consumed > left)
				abort();
			if (r.status == DPI_ERROR && r.error == NULL)
				abort();
			if (a.n_ioa > IEC104_MAX_OBJECTS ||
			    a.n_ioa > a.num_objects)
				abort();
			if (r.status == DPI_COMPLETE && a.objects_parsed &&
			    a.n_ioa != a.num_objects)
				abort();
			(void)iec104_type_name(a.type_id);
			(void)iec104_type_is_command(a.type_id);
			(void)iec104_utype_name(a.utype);
			if (r.consumed == 0)
				break;
			off += r.consumed;
		}
	}
	return 0;
}
