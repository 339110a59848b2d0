/*
 * Fuzz harness for the control protocol: arbitrary bytes go through the
 * incremental frame decoder, split into feeds whose sizes come from the
 * input itself; every decoded frame goes through the request and response
 * shape checks and the command table's argument validation (no side
 * effects), and is re-encoded and decoded again, which must give back
 * the same JSON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mgmt/commands.h"
#include "mgmt/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_frame(const struct ctl_frame *f)
{
	const json_t *args, *res, *err;
	const struct cmd_def *def;
	const char *cmd, *why;
	struct ctl_decoder d;
	struct ctl_frame g;
	json_t *errresp = NULL;
	uint8_t *buf;
	size_t len, used;
	uint64_t id;
	bool ok;

	(void)ctl_request_parse(f->msg, &id, &cmd, &args, &why);
	(void)ctl_response_parse(f->msg, &id, &ok, &res, &err, &why);
	if (cmd_check(f->msg, &def, &id, &args, &errresp) < 0) {
		if (errresp == NULL)
			abort();
		json_decref(errresp);
	} else if (def == NULL) {
		abort();
	}

	if (ctl_encode(f->type, f->msg, &buf, &len) < 0)
		return;
	ctl_decoder_init(&d, 0);
	if (ctl_decode(&d, buf, len, &used, &g) != CTL_FRAME || used != len ||
	    g.type != f->type || !json_equal(g.msg, f->msg))
		abort();
	json_decref(g.msg);
	ctl_decoder_free(&d);
	free(buf);
}

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_decoder d;
	struct ctl_frame f;
	size_t off = 0, step;

	if (size == 0)
		return 0;
	/* First byte: feed size (0 = everything at once). */
	step = data[0];
	data++;
	size--;
	ctl_decoder_init(&d, 1u << 20);
	while (off < size) {
		size_t n = step == 0 || size - off < step ? size - off : step;
		size_t pos = 0, used;

		while (pos < n) {
			enum ctl_result r = ctl_decode(&d, data + off + pos,
						       n - pos, &used, &f);

			if (used > n - pos)
				abort();
			pos += used;
			if (r == CTL_FRAME) {
				check_frame(&f);
				json_decref(f.msg);
			} else if (r == CTL_ERROR) {
				if (ctl_decoder_reason(&d) == NULL)
					abort();
				goto out;
			} else if (pos != n) {
				abort(); /* incomplete must consume it all */
			}
		}
		off += n;
	}
out:
	ctl_decoder_free(&d);
	return 0;
}
