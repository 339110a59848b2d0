/*
 * The persistent audit spool: append-only segment files in one directory
 * (default state-dir/audit), one writer, one reader per collector, each
 * reader with a persisted delivered position. Survives collector outages
 * and daemon restarts (records that reached a segment file survive kill -9;
 * fsync decides what survives power loss).
 *
 * Files:
 *   seg-<first seq, 16 hex>.cds   segments, written in order
 *   seg-....cds.corrupt           quarantined by spool_open
 *   cursor-<reader name>          delivered seq of a reader (8 bytes LE +
 *                                 crc), replaced atomically (rename)
 *
 * Segment format (little endian):
 *   header  16 bytes: "CDSPOOL1" magic, u32 version (1), u32 reserved 0
 *   record  u32 len | u64 seq | u8 chain[32] | u32 crc32c | len bytes
 *           crc32c covers len, seq, chain and the payload; seq strictly
 *           increasing over the whole spool; len 1..SPOOL_RECORD_MAX.
 *
 * At open the newest segment's torn tail (an incomplete or bad-CRC last
 * record, what a crash mid-append leaves) is truncated away; any other bad
 * record quarantines its whole segment (renamed *.corrupt) and is reported;
 * the other segments stay and are delivered.
 *
 * Thread safety: every function takes the spool's mutex; one writer thread
 * and any number of reader threads may share it.
 */
#ifndef CONDUIT_AUDIT_SPOOL_H
#define CONDUIT_AUDIT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_RECORD_MAX 8192u /* = R5424_MAX_LEN */
#define SPOOL_HEADER_LEN 16u
#define SPOOL_REC_OVERHEAD 48u /* len + seq + chain + crc */
#define SPOOL_NAME_MAX 32      /* reader names: [A-Za-z0-9_.-] */

enum spool_full {
	SPOOL_FULL_OVERWRITE_OLDEST, /* delete the oldest segment, count the
					loss (spool_take_loss) */
	SPOOL_FULL_DROP_NEW,	     /* refuse the record, count it */
};

struct spool_opts {
	const char *dir;       /* created 0750 if missing */
	uint64_t capacity;     /* bytes of all segments; >= 2 segments */
	uint64_t segment_size; /* rotate when a segment would exceed it */
	enum spool_full full;
	unsigned fsync_ms; /* 0: fdatasync after every append; else the
			      caller calls spool_sync at least this often */
};

struct spool_open_report {
	unsigned segments;	    /* segments found and kept */
	uint64_t records;	    /* records found in them */
	uint64_t truncated_bytes;   /* torn tail cut from the newest segment */
	unsigned quarantined;	    /* segments renamed *.corrupt */
	char quarantine_first[96];  /* file name of the first, "" if none */
	char quarantine_reason[96]; /* "bad crc at offset 123", ... */
	uint64_t quarantined_records; /* good records lost with them (est.) */
};

struct spool_stats {
	uint64_t bytes, capacity;
	uint64_t records; /* in the spool now */
	unsigned segments;
	uint64_t first_seq, last_seq; /* 0, 0 when empty */
	uint64_t appends, syncs;
	uint64_t dropped_new; /* refused by DROP_NEW since open */
	uint64_t overwritten; /* records deleted undelivered since open */
	unsigned fill_pct;    /* bytes * 100 / capacity */
};

struct spool;
struct spool_reader;

/*
 * Opens (creating) the spool. rep may be NULL. err gets a message naming
 * the file and the reason on failure. Returns 0 or a negative errno.
 */
int spool_open(const struct spool_opts *o, struct spool **out,
	       struct spool_open_report *rep, char *err, size_t errlen);
/* Syncs and closes; readers must be closed first. */
void spool_close(struct spool *sp);

/* The last record's seq and chain (what the writer continues from);
 * false when the spool has never held a record (seq 0, zeros). */
bool spool_last(struct spool *sp, uint64_t *seq, uint8_t chain[32]);

/*
 * Appends one record (seq must exceed every seq in the spool). Returns 0;
 * -ENOBUFS when full under DROP_NEW (counted); -ENOSPC when the file
 * system is full (nothing written: the segment is cut back to its last
 * whole record); -EINVAL for a bad len or seq; other negative errno on I/O
 * errors. Under OVERWRITE_OLDEST, making room may delete segments that
 * readers have not delivered: see spool_take_loss.
 */
int spool_append(struct spool *sp, uint64_t seq, const uint8_t chain[32],
		 const void *rec, size_t len);
/* fdatasync of the segment being written (no-op when clean). */
int spool_sync(struct spool *sp);
/* Records deleted undelivered by OVERWRITE_OLDEST since the last call:
 * their count and seq range; returns false when none. */
bool spool_take_loss(struct spool *sp, uint64_t *count, uint64_t *first_seq,
		     uint64_t *last_seq);
void spool_stats(struct spool *sp, struct spool_stats *st);

/*
 * A reader (one per collector, by name; its cursor file persists the
 * delivered seq). Reading starts after the delivered seq. Returns 0.
 */
int spool_reader_open(struct spool *sp, const char *name,
		      struct spool_reader **out);
void spool_reader_close(struct spool_reader *r);
/*
 * Copies the next record after the read position into buf (cap >=
 * SPOOL_RECORD_MAX) and advances the read position (not the delivered
 * one). Returns 1 with *len, *seq set; 0 when there is none yet; negative
 * errno on I/O error. Records lost to OVERWRITE_OLDEST are skipped.
 */
int spool_reader_next(struct spool_reader *r, void *buf, size_t cap,
		      size_t *len, uint64_t *seq);
/* Read position back to just after the delivered seq (after a reconnect:
 * resend what was not proven delivered). */
void spool_reader_rewind(struct spool_reader *r);
/* Delivered up to and including seq: persisted in the cursor file (one
 * rename); segments every reader has delivered are deleted, except the
 * newest. Returns 0 or a negative errno. */
int spool_reader_ack(struct spool_reader *r, uint64_t seq);
uint64_t spool_reader_acked(const struct spool_reader *r);
/* Records after the delivered seq. */
uint64_t spool_reader_backlog(const struct spool_reader *r);

/*
 * Pure scan of one segment image (the fuzz target and `audit verify
 * --spool`): calls fn for every whole, CRC-valid record in order; stops at
 * the first bad one. Returns the byte offset where the valid part ends
 * (== len when the image is clean), or -EINVAL for a bad header; *why
 * (may be NULL) gets a static reason when it stops early. fn returning
 * non-zero stops the scan too.
 */
/* Whether the bytes of img[off..len) after the last valid record of the
 * newest segment are what a crash or an append in progress leaves (a
 * prefix of one record, or zeros) rather than damage: spool_open cuts such
 * a tail, `audit verify` ignores it. */
bool spool_torn_tail(const void *img, size_t len, size_t off);

typedef int (*spool_record_fn)(uint64_t seq, const uint8_t chain[32],
			       const void *rec, size_t len, void *arg);
long spool_segment_scan(const void *img, size_t len, spool_record_fn fn,
			void *arg, const char **why);

#endif
