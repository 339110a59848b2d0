/*
 * The one bounds-checked reader every protocol parser uses. A cursor never
 * reads outside [p, p + len): a read past the end sets `short_read`, returns
 * 0 and leaves the position at the end, so a parser can read a whole header
 * and check once. No allocation, no I/O, no global state.
 */
#ifndef CONDUIT_DPI_PROTO_CURSOR_H
#define CONDUIT_DPI_PROTO_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cur {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool short_read;
};

static inline struct cur cur_init(const uint8_t *p, size_t len)
{
	struct cur c = { .p = p, .len = len, .off = 0, .short_read = false };

	return c;
}

static inline size_t cur_left(const struct cur *c)
{
	return c->len - c->off;
}

static inline bool cur_ok(const struct cur *c)
{
	return !c->short_read;
}

/* true when n more bytes are readable; sets short_read otherwise. */
static inline bool cur_need(struct cur *c, size_t n)
{
	if (n > cur_left(c)) {
		c->short_read = true;
		c->off = c->len;
		return false;
	}
	return true;
}

static inline uint8_t cur_u8(struct cur *c)
{
	if (!cur_need(c, 1))
		return 0;
	return c->p[c->off++];
}

static inline uint16_t cur_be16(struct cur *c)
{
	uint16_t v;

	if (!cur_need(c, 2))
		return 0;
	v = (uint16_t)(c->p[c->off] << 8 | c->p[c->off + 1]);
	c->off += 2;
	return v;
}

static inline uint16_t cur_le16(struct cur *c)
{
	uint16_t v;

	if (!cur_need(c, 2))
		return 0;
	v = (uint16_t)(c->p[c->off] | c->p[c->off + 1] << 8);
	c->off += 2;
	return v;
}

static inline uint32_t cur_le24(struct cur *c)
{
	uint32_t v;

	if (!cur_need(c, 3))
		return 0;
	v = (uint32_t)c->p[c->off] | (uint32_t)c->p[c->off + 1] << 8 |
	    (uint32_t)c->p[c->off + 2] << 16;
	c->off += 3;
	return v;
}

static inline uint32_t cur_be32(struct cur *c)
{
	uint32_t v;

	if (!cur_need(c, 4))
		return 0;
	v = (uint32_t)c->p[c->off] << 24 | (uint32_t)c->p[c->off + 1] << 16 |
	    (uint32_t)c->p[c->off + 2] << 8 | (uint32_t)c->p[c->off + 3];
	c->off += 4;
	return v;
}

static inline uint32_t cur_le32(struct cur *c)
{
	uint32_t v;

	if (!cur_need(c, 4))
		return 0;
	v = (uint32_t)c->p[c->off] | (uint32_t)c->p[c->off + 1] << 8 |
	    (uint32_t)c->p[c->off + 2] << 16 | (uint32_t)c->p[c->off + 3] << 24;
	c->off += 4;
	return v;
}

static inline void cur_skip(struct cur *c, size_t n)
{
	if (cur_need(c, n))
		c->off += n;
}

/* Borrow the next n bytes as a sub-cursor; the parent moves past them. */
static inline struct cur cur_sub(struct cur *c, size_t n)
{
	struct cur s = cur_init(NULL, 0);

	if (cur_need(c, n)) {
		s = cur_init(c->p + c->off, n);
		c->off += n;
	} else {
		s.short_read = true;
	}
	return s;
}

/* Pointer to the next n bytes without moving; NULL when fewer remain. */
static inline const uint8_t *cur_peek(const struct cur *c, size_t n)
{
	return n <= cur_left(c) ? c->p + c->off : NULL;
}

/*
 * A cursor over [from, from + n) of c's buffer, independent of c's
 * position (offset tables); short_read when that range is not inside c.
 */
static inline struct cur cur_slice(const struct cur *c, size_t from, size_t n)
{
	struct cur s = cur_init(NULL, 0);

	if (from > c->len || n > c->len - from) {
		s.short_read = true;
		return s;
	}
	return cur_init(c->p + from, n);
}

#endif
