/*
 * libFuzzer harness for the DNP3 parser: the input as a stream of link
 * frames fed through transport reassembly into the application parser,
 * and the input as one bare application fragment. Checks the streaming
 * contract (progress, bounds) on every step.
 */
#include <stdlib.h>

#include "dpi/proto/dnp3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_app(const uint8_t *p, size_t n)
{
	struct dnp3_apdu a;
	struct dpi_result r;

	dnp3_app_parse(p, n, &a, &r);
	if (r.status == DPI_NEED_MORE || r.consumed != n)
		abort();
	if (r.status == DPI_ERROR && r.error == NULL)
		abort();
	if (a.n_objects > DNP3_MAX_OBJECTS)
		abort();
	for (unsigned i = 0; i < a.n_objects; i++)
		if (a.objects[i].ranged &&
		    a.objects[i].stop < a.objects[i].start)
			abort();
	(void)dnp3_func_name(a.func);
	(void)dnp3_preset_allows(DNP3_PRESET_OPERATE, a.func);
}

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnp3_tp tp;
	struct dnp3_link lk;
	struct dpi_result r;
	size_t off = 0;

	dnp3_tp_init(&tp);
	while (off < size) {
		size_t left = size - off;
		const char *why;

		dnp3_link_parse(data + off, left, &lk, &r);
		if (r.status == DPI_NEED_MORE) {
			if (r.needed <= left || r.needed > DNP3_LINK_MAX_FRAME)
				abort();
			break;
		}
		if (r.consumed == 0 || r.consumed > left)
			abort();
		off += r.consumed;
		if (r.status == DPI_ERROR || !dnp3_link_has_data(&lk))
			continue;
		if (dnp3_tp_push(&tp, lk.user, lk.user_len, &why) ==
		    DNP3_TP_DONE) {
			if (tp.len > DNP3_APDU_MAX)
				abort();
			check_app(tp.buf, tp.len);
		}
	}
	check_app(data, size);
	return 0;
}
