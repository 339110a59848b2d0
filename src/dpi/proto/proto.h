/*
 * Shared vocabulary of the industrial protocol parsers: the streaming
 * result (complete / need-more / error) and the direction of a PDU.
 * Parsers are pure: bytes in, decoded PDU or a precise error out.
 */
#ifndef CONDUIT_DPI_PROTO_PROTO_H
#define CONDUIT_DPI_PROTO_PROTO_H

#include <stddef.h>
#include <stdint.h>

enum dpi_dir {
	DPI_DIR_REQUEST, /* client -> server (towards the well-known port) */
	DPI_DIR_RESPONSE,
};

enum dpi_status {
	DPI_COMPLETE,  /* one PDU decoded; `consumed` bytes used */
	DPI_NEED_MORE, /* stream parsers: at least `needed` bytes in total */
	DPI_ERROR, /* malformed; `error` says what, `consumed` how far to skip */
};

struct dpi_result {
	enum dpi_status status;
	size_t consumed;
	size_t needed;
	const char *error; /* static string, set with DPI_ERROR */
};

static inline void dpi_complete(struct dpi_result *r, size_t consumed)
{
	r->status = DPI_COMPLETE;
	r->consumed = consumed;
	r->needed = 0;
	r->error = NULL;
}

static inline void dpi_need_more(struct dpi_result *r, size_t needed)
{
	r->status = DPI_NEED_MORE;
	r->consumed = 0;
	r->needed = needed;
	r->error = NULL;
}

static inline void dpi_error(struct dpi_result *r, size_t consumed,
			     const char *why)
{
	r->status = DPI_ERROR;
	r->consumed = consumed;
	r->needed = 0;
	r->error = why;
}

#endif
