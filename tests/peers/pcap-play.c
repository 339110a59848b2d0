/*
 * pcap-play: plays one TCP conversation of a capture over a real connection,
 * the client side from one program and the server side from another, so the
 * DNP3, IEC 104, S7comm and ENIP streams of ../shared/pcaps cross the
 * gateway as real TCP between real sockets.
 *
 *   pcap-play list FILE
 *   pcap-play server FILE [--flow N] --listen ADDR:PORT
 *   pcap-play client FILE [--flow N] --connect ADDR:PORT
 *
 * The capture is reassembled per direction (retransmissions dropped, overlap
 * trimmed); each captured data segment stays one unit. Each side sends its
 * segments in capture order, one send() per segment with TCP_NODELAY, once it
 * has received every byte the other side had sent before that segment in
 * the capture. So a PDU split over several segments and several PDUs in one
 * segment reach the wire as captured. The client reports, per client
 * segment, whether the peer's TCP acknowledged it and how many of the server
 * bytes that followed it came back; a timeout means something was dropped
 * on the way. Flows are numbered from 1 in order of first appearance.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <pcap/pcap.h>

#define PP_BUCKETS 4096
#define PP_MAX_CONN 64

struct pp_seg {
	int dir; /* 0: from the side that sent the flow's first packet */
	size_t off, len; /* into the direction's byte stream */
};

struct pp_dir {
	uint8_t *data;
	size_t len, cap;
	uint32_t next_seq;
	int have_seq;
	unsigned int nsegs;
};

struct pp_flow {
	int family;
	uint8_t addr[2][16];
	uint16_t port[2];
	struct pp_dir d[2];
	struct pp_seg *segs;
	size_t nsegs, capsegs;
	int syn_from; /* side that sent SYN without ACK, -1 if none */
	int synack_from;
	int closed; /* FIN or RST seen */
	unsigned int gaps, truncated, packets;
	int next; /* hash chain */
};

struct pp_cap {
	struct pp_flow *flows;
	size_t nflows, cap;
	int buckets[PP_BUCKETS];
};

static volatile sig_atomic_t pp_stop;

static void pp_on_signal(int sig)
{
	(void)sig;
	pp_stop = 1;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "pcap-play: out of memory (%zu bytes)\n", n);
		exit(2);
	}
	return q;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static unsigned int get16(const uint8_t *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

static unsigned int key_hash(int family, const uint8_t *a, uint16_t pa,
			     const uint8_t *b, uint16_t pb)
{
	unsigned int h = 2166136261u ^ (unsigned int)family;
	size_t alen = family == AF_INET ? 4 : 16, i;

	/* Symmetric: both directions hash alike. */
	for (i = 0; i < alen; i++)
		h = (h ^ (unsigned int)(a[i] + b[i])) * 16777619u;
	return (h ^ (unsigned int)(pa + pb)) % PP_BUCKETS;
}

/* Side of the flow that sent (src, sport), or -1 if not this flow. */
static int flow_side(const struct pp_flow *f, int family, const uint8_t *src,
		     uint16_t sport, const uint8_t *dst, uint16_t dport)
{
	size_t alen = family == AF_INET ? 4 : 16;

	if (f->family != family)
		return -1;
	if (f->port[0] == sport && f->port[1] == dport &&
	    !memcmp(f->addr[0], src, alen) && !memcmp(f->addr[1], dst, alen))
		return 0;
	if (f->port[1] == sport && f->port[0] == dport &&
	    !memcmp(f->addr[1], src, alen) && !memcmp(f->addr[0], dst, alen))
		return 1;
	return -1;
}

static struct pp_flow *flow_new(struct pp_cap *c, unsigned int h, int family,
				const uint8_t *src, uint16_t sport,
				const uint8_t *dst, uint16_t dport)
{
	struct pp_flow *f;

	if (c->nflows == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->flows = xrealloc(c->flows, c->cap * sizeof(*c->flows));
	}
	f = &c->flows[c->nflows];
	memset(f, 0, sizeof(*f));
	f->family = family;
	memcpy(f->addr[0], src, family == AF_INET ? 4 : 16);
	memcpy(f->addr[1], dst, family == AF_INET ? 4 : 16);
	f->port[0] = sport;
	f->port[1] = dport;
	f->syn_from = -1;
	f->synack_from = -1;
	f->next = c->buckets[h];
	c->buckets[h] = (int)c->nflows;
	c->nflows++;
	return f;
}

static void flow_add_data(struct pp_flow *f, int side, uint32_t seq,
			  const uint8_t *p, size_t len, size_t have)
{
	struct pp_dir *d = &f->d[side];
	uint32_t end = seq + (uint32_t)len;
	int32_t rel;
	size_t skip = 0;

	if (!d->have_seq) {
		d->next_seq = seq;
		d->have_seq = 1;
	}
	rel = (int32_t)(seq - d->next_seq);
	if (rel > 0) {
		f->gaps++; /* bytes lost before the capture saw them */
	} else if (rel < 0) {
		skip = (size_t) - (int64_t)rel;
		if (skip >= len)
			return; /* retransmission */
	}
	if (have < len) {
		/* Keep what was captured; such a flow is listed, not played. */
		f->truncated++;
		len = have;
	}
	if (len <= skip) {
		d->next_seq = end;
		return;
	}
	p += skip;
	len -= skip;
	if (d->len + len > d->cap) {
		d->cap = (d->len + len) * 2;
		d->data = xrealloc(d->data, d->cap);
	}
	memcpy(d->data + d->len, p, len);
	if (f->nsegs == f->capsegs) {
		f->capsegs = f->capsegs ? 2 * f->capsegs : 64;
		f->segs = xrealloc(f->segs, f->capsegs * sizeof(*f->segs));
	}
	f->segs[f->nsegs].dir = side;
	f->segs[f->nsegs].off = d->len;
	f->segs[f->nsegs].len = len;
	f->nsegs++;
	d->nsegs++;
	d->len += len;
	d->next_seq = end;
}

/* One TCP segment at l4 (caplen bytes captured, l4len on the wire). */
static void cap_tcp(struct pp_cap *c, int family, const uint8_t *src,
		    const uint8_t *dst, const uint8_t *l4, size_t caplen,
		    size_t l4len)
{
	uint16_t sport, dport;
	unsigned int h, flags, doff;
	struct pp_flow *f = NULL;
	int side = -1, idx;
	uint32_t seq;

	if (caplen < 20 || l4len < 20)
		return;
	sport = (uint16_t)get16(l4);
	dport = (uint16_t)get16(l4 + 2);
	seq = get32(l4 + 4);
	doff = (unsigned int)(l4[12] >> 4) * 4;
	flags = l4[13];
	if (doff < 20 || doff > l4len)
		return;
	h = key_hash(family, src, sport, dst, dport);
	for (idx = c->buckets[h]; idx >= 0; idx = c->flows[idx].next) {
		side = flow_side(&c->flows[idx], family, src, sport, dst,
				 dport);
		if (side >= 0) {
			f = &c->flows[idx];
			break;
		}
	}
	/* A new SYN on a tuple that already carried a connection: port reuse. */
	if (f && (flags & 0x12) == 0x02 &&
	    (f->closed || f->nsegs || f->syn_from == 1 - side))
		f = NULL;
	if (!f) {
		f = flow_new(c, h, family, src, sport, dst, dport);
		side = 0;
	}
	f->packets++;
	if ((flags & 0x12) == 0x02) {
		f->syn_from = side;
		f->d[side].next_seq = seq + 1;
		f->d[side].have_seq = 1;
	} else if ((flags & 0x12) == 0x12) {
		f->synack_from = side;
		f->d[side].next_seq = seq + 1;
		f->d[side].have_seq = 1;
	}
	if (flags & 0x05)
		f->closed = 1;
	if (l4len > doff)
		flow_add_data(f, side, seq, l4 + doff, l4len - doff,
			      caplen > doff ? caplen - doff : 0);
}

static void cap_ip(struct pp_cap *c, const uint8_t *p, size_t caplen,
		   size_t wirelen)
{
	if (caplen < 1)
		return;
	if ((p[0] >> 4) == 4) {
		size_t ihl = (size_t)(p[0] & 0xf) * 4, tot;

		if (caplen < 20 || ihl < 20 || caplen < ihl)
			return;
		tot = get16(p + 2);
		if (tot < ihl)
			return;
		if (tot > wirelen)
			tot = wirelen;
		/* Fragments are not TCP segments we can replay. */
		if (p[9] != IPPROTO_TCP || (get16(p + 6) & 0x3fff))
			return;
		cap_tcp(c, AF_INET, p + 12, p + 16, p + ihl,
			(caplen < tot ? caplen : tot) - ihl, tot - ihl);
	} else if ((p[0] >> 4) == 6) {
		size_t off = 40, tot;
		int nh;

		if (caplen < 40)
			return;
		tot = 40 + get16(p + 4);
		if (tot > wirelen)
			tot = wirelen;
		nh = p[6];
		while (nh == 0 || nh == 43 || nh == 60) {
			if (caplen < off + 8)
				return;
			nh = p[off];
			off += ((size_t)p[off + 1] + 1) * 8;
		}
		if (nh != IPPROTO_TCP || off > tot || off > caplen)
			return;
		cap_tcp(c, AF_INET6, p + 8, p + 24, p + off,
			(caplen < tot ? caplen : tot) - off, tot - off);
	}
}

static int cap_load(struct pp_cap *c, const char *path)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *hdr;
	const uint8_t *pkt;
	pcap_t *pc;
	int dlt, rc;

	memset(c, 0, sizeof(*c));
	memset(c->buckets, 0xff, sizeof(c->buckets));
	pc = pcap_open_offline(path, err);
	if (!pc) {
		fprintf(stderr, "pcap-play: %s: %s\n", path, err);
		return -1;
	}
	dlt = pcap_datalink(pc);
	while ((rc = pcap_next_ex(pc, &hdr, &pkt)) == 1) {
		size_t cl = hdr->caplen, wl = hdr->len, off;
		unsigned int et = 0;

		switch (dlt) {
		case DLT_EN10MB:
			if (cl < 14)
				continue;
			et = get16(pkt + 12);
			off = 14;
			while ((et == 0x8100 || et == 0x88a8) &&
			       cl >= off + 4) {
				et = get16(pkt + off + 2);
				off += 4;
			}
			if (et != 0x0800 && et != 0x86dd)
				continue;
			break;
		case DLT_LINUX_SLL:
			off = 16;
			break;
		case DLT_LINUX_SLL2:
			off = 20;
			break;
		case DLT_NULL:
		case DLT_LOOP:
			off = 4;
			break;
		case DLT_RAW:
		case DLT_IPV4:
		case DLT_IPV6:
			off = 0;
			break;
		default:
			fprintf(stderr,
				"pcap-play: %s: link type %s not supported "
				"(Ethernet, Linux cooked, loopback, raw IP)\n",
				path, pcap_datalink_val_to_name(dlt));
			pcap_close(pc);
			return -1;
		}
		if (cl <= off || wl <= off)
			continue;
		cap_ip(c, pkt + off, cl - off, wl - off);
	}
	if (rc == -1) {
		fprintf(stderr, "pcap-play: %s: %s\n", path, pcap_geterr(pc));
		pcap_close(pc);
		return -1;
	}
	pcap_close(pc);
	return 0;
}

static void cap_free(struct pp_cap *c)
{
	size_t i;

	for (i = 0; i < c->nflows; i++) {
		free(c->flows[i].d[0].data);
		free(c->flows[i].d[1].data);
		free(c->flows[i].segs);
	}
	free(c->flows);
}

static int server_port(unsigned int port)
{
	static const unsigned int known[] = { 502,   20000, 2404, 102,
					      44818, 80,    443,  4840 };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (port == known[i])
			return 1;
	return 0;
}

/* The client side: SYN sender, else SYN/ACK receiver, else by port. */
static int flow_client(const struct pp_flow *f, const char **how)
{
	if (f->syn_from >= 0) {
		*how = "syn";
		return f->syn_from;
	}
	if (f->synack_from >= 0) {
		*how = "syn-ack";
		return 1 - f->synack_from;
	}
	*how = "port";
	if (server_port(f->port[1]) && !server_port(f->port[0]))
		return 0;
	if (server_port(f->port[0]) && !server_port(f->port[1]))
		return 1;
	return f->port[0] >= f->port[1] ? 0 : 1;
}

static void endpoint_str(const struct pp_flow *f, int side, char *buf,
			 size_t len)
{
	char host[INET6_ADDRSTRLEN];

	inet_ntop(f->family, f->addr[side], host, sizeof(host));
	if (f->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", host, f->port[side]);
	else
		snprintf(buf, len, "%s:%u", host, f->port[side]);
}

static void flow_describe(const struct pp_flow *f, size_t n, int client)
{
	char a[64], b[64];
	const char *how;
	int cl = flow_client(f, &how);

	if (client >= 0)
		cl = client;
	endpoint_str(f, cl, a, sizeof(a));
	endpoint_str(f, 1 - cl, b, sizeof(b));
	printf("flow %zu tcp %s -> %s client-by=%s client %u segs %zu bytes, "
	       "server %u segs %zu bytes, %u packets%s",
	       n, a, b, how, f->d[cl].nsegs, f->d[cl].len, f->d[1 - cl].nsegs,
	       f->d[1 - cl].len, f->packets, f->closed ? ", closed" : "");
	if (f->gaps)
		printf(", %u gaps", f->gaps);
	if (f->truncated)
		printf(", %u truncated", f->truncated);
	printf("\n");
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	struct addrinfo hints, *ai;
	char host[256];
	const char *port;
	int rc;

	if (s[0] == '[') {
		const char *e = strchr(s, ']');

		if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		port = e + 2;
	} else {
		const char *e = strrchr(s, ':');

		if (!e || (size_t)(e - s) >= sizeof(host))
			goto bad;
		memcpy(host, s, (size_t)(e - s));
		host[e - s] = '\0';
		port = e + 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "pcap-play: address '%s': %s\n", s,
			gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sl = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
bad:
	fprintf(stderr,
		"pcap-play: address '%s' is not ADDR:PORT or [ADDR6]:PORT\n",
		s);
	return -1;
}

static void sock_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void sock_quickack(int fd)
{
	int one = 1;

	/* ACK at once, so the peer's "delivered" check does not wait 40 ms. */
	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* Bytes sent on fd and not yet acknowledged by the peer. */
static int sock_unacked(int fd)
{
	int n = 0;

	if (ioctl(fd, SIOCOUTQ, &n) < 0)
		return -1;
	return n;
}

/* Play state of one connection: the side we play is "me". */
struct pp_play {
	const struct pp_flow *f;
	int me;
	int fd;
	size_t seg;	     /* next segment to consider */
	size_t got;	     /* bytes of the other side received */
	size_t sent;	     /* bytes of mine sent */
	size_t seg_done;     /* bytes of f->segs[seg] already sent */
	size_t other_before; /* other side's bytes before f->segs[seg] */
	size_t mismatch;     /* offset of first differing byte + 1, 0: none */
	size_t extra;	     /* bytes beyond the capture's */
	int eof, err;
	char peer[64];
	unsigned int id;
};

static void play_init(struct pp_play *p, const struct pp_flow *f, int me,
		      int fd)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->me = me;
	p->fd = fd;
}

/* Skip the other side's segments; returns 1 when f->segs[seg] is ours. */
static int play_advance(struct pp_play *p)
{
	while (p->seg < p->f->nsegs && p->f->segs[p->seg].dir != p->me) {
		p->other_before += p->f->segs[p->seg].len;
		p->seg++;
	}
	return p->seg < p->f->nsegs;
}

/* Read what is there; 0 ok, -1 on EOF or error (p->eof / p->err set). */
static int play_read(struct pp_play *p)
{
	const struct pp_dir *d = &p->f->d[1 - p->me];
	uint8_t buf[65536];
	ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
	size_t i;

	if (n == 0) {
		p->eof = 1;
		return -1;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		p->err = errno;
		return -1;
	}
	sock_quickack(p->fd);
	for (i = 0; i < (size_t)n; i++, p->got++) {
		if (p->got >= d->len)
			p->extra++;
		else if (!p->mismatch && d->data[p->got] != buf[i])
			p->mismatch = p->got + 1;
	}
	return 0;
}

/* Send (the rest of) our current segment without blocking; 1 when done. */
static int play_send(struct pp_play *p)
{
	const struct pp_seg *s = &p->f->segs[p->seg];
	const uint8_t *data = p->f->d[p->me].data + s->off;
	ssize_t n;

	n = send(p->fd, data + p->seg_done, s->len - p->seg_done,
		 MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		p->err = errno;
		return -1;
	}
	p->seg_done += (size_t)n;
	p->sent += (size_t)n;
	if (p->seg_done < s->len)
		return 0;
	p->seg_done = 0;
	p->seg++;
	return 1;
}

/* May our current segment go out: has all that preceded it arrived? */
static int play_ready(struct pp_play *p)
{
	return play_advance(p) && p->got >= p->other_before;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pcap-play list FILE\n"
		"       pcap-play server FILE [--flow N] [--reverse] --listen "
		"ADDR:PORT [--once]\n"
		"                 [--idle-ms MS (10000)] [--gap-ms MS (1)]\n"
		"       pcap-play client FILE [--flow N] [--reverse] --connect "
		"ADDR:PORT\n"
		"                 [--timeout-ms MS (2000)] [--gap-ms MS (1)] "
		"[--quiet]\n"
		"  Flows are numbered from 1 in order of first appearance "
		"(see list).\n"
		"  --reverse swaps the guessed client and server sides.\n");
	exit(2);
}

static long parse_num(const char *what, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr,
			"pcap-play: %s: '%s' is not a number in %ld..%ld\n",
			what, s, min, max);
		exit(2);
	}
	return v;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

struct pp_opts {
	const char *addr;
	size_t flow;
	int reverse, once, quiet;
	int timeout_ms, idle_ms, gap_ms;
};

/* ------------------------------------------------------------- client -- */

static int run_client(const struct pp_flow *f, int cl, const struct pp_opts *o)
{
	const struct pp_dir *mine = &f->d[cl], *theirs = &f->d[1 - cl];
	struct sockaddr_storage ss;
	size_t nmine = mine->nsegs, k, i, delivered = 0, acked;
	size_t *reply_from, *reply_to; /* server byte range after segment k */
	struct pp_play p;
	socklen_t sl;
	double t_end;
	const char *stop = NULL;
	int fd, rc, unacked, last_was_mine = 0;
	char stopbuf[160];

	if (parse_addr(o->addr, &ss, &sl) < 0)
		return 2;
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0) {
		fprintf(stderr, "pcap-play: socket: %s\n", strerror(errno));
		return 2;
	}
	sock_nodelay(fd);
	{
		struct timeval tv = { o->timeout_ms / 1000,
				      (o->timeout_ms % 1000) * 1000 };

		/* connect() obeys SO_SNDTIMEO: a dropped SYN is a timeout. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		int err = errno;

		printf("connect %s: %s\n", o->addr,
		       err == EINPROGRESS || err == EAGAIN ? "timeout" :
							     strerror(err));
		printf("summary: segments 0/%zu delivered, server bytes 0/%zu "
		       "received, result fail\n",
		       nmine, theirs->len);
		close(fd);
		return 1;
	}

	reply_from = xrealloc(NULL, (nmine + 1) * sizeof(size_t));
	reply_to = xrealloc(NULL, (nmine + 1) * sizeof(size_t));
	{
		size_t other = 0;

		for (i = 0, k = 0; i < f->nsegs; i++) {
			if (f->segs[i].dir == cl) {
				if (k)
					reply_to[k - 1] = other;
				reply_from[k++] = other;
			} else {
				other += f->segs[i].len;
			}
		}
		if (k)
			reply_to[k - 1] = other;
	}

	play_init(&p, f, cl, fd);
	/* Play: send each of our segments once its predecessors arrived. */
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		double deadline = now_ms() + o->timeout_ms;

		if (pp_stop) {
			stop = "interrupted";
			break;
		}
		if (!play_advance(&p))
			break;
		while (p.got < p.other_before) {
			int left = (int)(deadline - now_ms());

			if (left <= 0 || pp_stop)
				break;
			rc = poll(&pfd, 1, left);
			if (rc > 0 && play_read(&p) < 0)
				break;
		}
		if (p.got < p.other_before) {
			snprintf(stopbuf, sizeof(stopbuf),
				 "%s waiting for server bytes %zu/%zu",
				 p.eof ? "eof" :
				 p.err ? strerror(p.err) :
					 "timeout",
				 p.got, p.other_before);
			stop = stopbuf;
			break;
		}
		/* Keep back-to-back segments apart on the wire. */
		if (last_was_mine && o->gap_ms)
			sleep_ms(o->gap_ms);
		{
			size_t before = p.other_before;

			do {
				rc = play_send(&p);
				if (rc == 0) {
					pfd.events = POLLOUT;
					poll(&pfd, 1, o->timeout_ms);
					pfd.events = POLLIN;
				}
			} while (rc == 0 && !pp_stop);
			if (rc < 0) {
				snprintf(stopbuf, sizeof(stopbuf), "send: %s",
					 strerror(p.err));
				stop = stopbuf;
				break;
			}
			play_advance(&p);
			last_was_mine = p.other_before == before;
		}
	}
	/* Wait for the tail of the server's bytes and for our last ACK. */
	t_end = now_ms() + o->timeout_ms;
	while (!stop && !pp_stop && now_ms() < t_end &&
	       (p.got < theirs->len || sock_unacked(fd) > 0)) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		rc = poll(&pfd, 1, 10);
		if (rc > 0 && play_read(&p) < 0)
			break;
	}
	if (!stop && p.got < theirs->len) {
		snprintf(stopbuf, sizeof(stopbuf),
			 "%s waiting for server bytes %zu/%zu",
			 p.eof ? "eof" : "timeout", p.got, theirs->len);
		stop = stopbuf;
	}
	unacked = sock_unacked(fd);
	acked = unacked >= 0 && (size_t)unacked <= p.sent ?
			p.sent - (size_t)unacked :
			0;

	/* Per-segment report, walking our segments in order. */
	for (i = 0, k = 0; i < f->nsegs; i++) {
		const struct pp_seg *s = &f->segs[i];
		size_t want, got;
		const char *state;

		if (s->dir != cl)
			continue;
		want = reply_to[k] - reply_from[k];
		got = p.got > reply_from[k] ? p.got - reply_from[k] : 0;
		if (got > want)
			got = want;
		if (s->off + s->len <= acked) {
			state = "delivered";
			delivered++;
		} else if (s->off < p.sent) {
			state = "not-delivered";
		} else {
			state = "not-sent";
		}
		if (!o->quiet)
			printf("seg %zu len %zu %s reply %zu/%zu\n", k + 1,
			       s->len, state, got, want);
		k++;
	}
	if (stop)
		printf("stopped: %s\n", stop);
	if (p.mismatch)
		printf("mismatch: server byte %zu differs from the capture\n",
		       p.mismatch - 1);
	if (p.extra)
		printf("extra: %zu server bytes beyond the capture\n", p.extra);
	rc = delivered == nmine && p.got == theirs->len && !p.mismatch &&
	     !p.extra;
	printf("summary: segments %zu/%zu delivered, server bytes %zu/%zu "
	       "received, match %s, result %s\n",
	       delivered, nmine, p.got > theirs->len ? theirs->len : p.got,
	       theirs->len, p.mismatch || p.extra ? "no" : "yes",
	       rc ? "ok" : "fail");
	fflush(stdout);
	free(reply_from);
	free(reply_to);
	close(fd);
	return rc ? 0 : 1;
}

/* ------------------------------------------------------------- server -- */

static void server_report(struct pp_play *p, const char *why)
{
	const struct pp_dir *theirs = &p->f->d[1 - p->me];
	size_t total = 0, sent_segs = 0, i;

	for (i = 0; i < p->f->nsegs; i++) {
		if (p->f->segs[i].dir != p->me)
			continue;
		total++;
		if (i < p->seg)
			sent_segs++;
	}
	printf("conn %u peer %s: %s, client bytes %zu/%zu received, match %s, "
	       "server segments %zu/%zu sent, result %s\n",
	       p->id, p->peer, why, p->got > theirs->len ? theirs->len : p->got,
	       theirs->len, p->mismatch || p->extra ? "no" : "yes", sent_segs,
	       total,
	       p->got == theirs->len && !p->mismatch && !p->extra &&
			       sent_segs == total ?
		       "ok" :
		       "fail");
	fflush(stdout);
	close(p->fd);
	p->fd = -1;
}

static int run_server(const struct pp_flow *f, int cl, const struct pp_opts *o)
{
	static struct pp_play conns[PP_MAX_CONN];
	static double last_io[PP_MAX_CONN], gap_until[PP_MAX_CONN];
	struct sockaddr_storage ss;
	unsigned int nconn = 0;
	socklen_t sl;
	int lfd, one = 1, i, served = 0;

	if (parse_addr(o->addr, &ss, &sl) < 0)
		return 2;
	lfd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (lfd < 0) {
		fprintf(stderr, "pcap-play: socket: %s\n", strerror(errno));
		return 2;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, 16) < 0) {
		fprintf(stderr, "pcap-play: listen on %s: %s\n", o->addr,
			strerror(errno));
		close(lfd);
		return 2;
	}
	fprintf(stderr, "pcap-play: listening on %s\n", o->addr);
	for (i = 0; i < PP_MAX_CONN; i++)
		conns[i].fd = -1;

	while (!pp_stop && !(o->once && served && nconn == 0)) {
		struct pollfd pfd[PP_MAX_CONN + 1];
		int map[PP_MAX_CONN + 1], n = 0, rc, timeout = 100;
		double now = now_ms();

		if (!(o->once && served)) {
			pfd[n].fd = lfd;
			pfd[n].events = POLLIN;
			map[n++] = -1;
		}
		for (i = 0; i < PP_MAX_CONN; i++) {
			struct pp_play *p = &conns[i];

			if (p->fd < 0)
				continue;
			if (now - last_io[i] > o->idle_ms) {
				server_report(p, "idle timeout");
				nconn--;
				continue;
			}
			pfd[n].fd = p->fd;
			pfd[n].events = POLLIN;
			if (play_ready(p)) {
				if (now >= gap_until[i])
					pfd[n].events |= POLLOUT;
				else
					timeout = 1;
			}
			map[n++] = i;
		}
		rc = poll(pfd, (nfds_t)n, timeout);
		if (rc < 0 && errno != EINTR) {
			fprintf(stderr, "pcap-play: poll: %s\n",
				strerror(errno));
			break;
		}
		for (int j = 0; rc > 0 && j < n; j++) {
			struct pp_play *p;

			if (!pfd[j].revents)
				continue;
			if (map[j] < 0) {
				struct sockaddr_storage ps;
				socklen_t psl = sizeof(ps);
				int fd = accept(lfd, (struct sockaddr *)&ps,
						&psl);
				char host[INET6_ADDRSTRLEN] = "?";
				unsigned int port = 0;

				if (fd < 0)
					continue;
				for (i = 0; i < PP_MAX_CONN; i++)
					if (conns[i].fd < 0)
						break;
				if (i == PP_MAX_CONN) {
					close(fd);
					continue;
				}
				sock_nodelay(fd);
				play_init(&conns[i], f, 1 - cl, fd);
				conns[i].id = (unsigned int)++served;
				if (ps.ss_family == AF_INET6) {
					struct sockaddr_in6 *s6 = (void *)&ps;

					inet_ntop(AF_INET6, &s6->sin6_addr,
						  host, sizeof(host));
					port = ntohs(s6->sin6_port);
				} else {
					struct sockaddr_in *s4 = (void *)&ps;

					inet_ntop(AF_INET, &s4->sin_addr, host,
						  sizeof(host));
					port = ntohs(s4->sin_port);
				}
				snprintf(conns[i].peer, sizeof(conns[i].peer),
					 ps.ss_family == AF_INET6 ? "[%s]:%u" :
								    "%s:%u",
					 host, port);
				last_io[i] = now_ms();
				gap_until[i] = 0;
				nconn++;
				continue;
			}
			p = &conns[map[j]];
			if (pfd[j].revents & (POLLIN | POLLHUP | POLLERR)) {
				last_io[map[j]] = now_ms();
				if (play_read(p) < 0) {
					server_report(
						p, p->eof ? "eof" :
							    strerror(p->err));
					nconn--;
					continue;
				}
			}
			if ((pfd[j].revents & POLLOUT) && play_ready(p)) {
				size_t before = p->other_before;

				rc = play_send(p);
				if (rc < 0) {
					server_report(p, strerror(p->err));
					nconn--;
					continue;
				}
				last_io[map[j]] = now_ms();
				/* Next one of ours right behind: keep apart. */
				if (rc == 1 && play_advance(p) &&
				    p->other_before == before)
					gap_until[map[j]] =
						now_ms() + o->gap_ms;
				rc = 1;
			}
		}
	}
	for (i = 0; i < PP_MAX_CONN; i++)
		if (conns[i].fd >= 0)
			server_report(&conns[i], "stopped");
	close(lfd);
	return 0;
}

int main(int argc, char **argv)
{
	struct pp_opts o = {
		.flow = 1, .timeout_ms = 2000, .idle_ms = 10000, .gap_ms = 1
	};
	const char *mode, *file;
	struct pp_cap cap;
	struct sigaction sa;
	const struct pp_flow *f;
	const char *how;
	int i, cl, rc;

	if (argc < 3)
		usage();
	mode = argv[1];
	file = argv[2];
	if (strcmp(mode, "list") && strcmp(mode, "server") &&
	    strcmp(mode, "client"))
		usage();
	for (i = 3; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--reverse")) {
			o.reverse = 1;
			continue;
		}
		if (!strcmp(a, "--once")) {
			o.once = 1;
			continue;
		}
		if (!strcmp(a, "--quiet")) {
			o.quiet = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (!strcmp(a, "--flow"))
			o.flow = (size_t)parse_num(a, argv[i + 1], 1, 1L << 30);
		else if (!strcmp(a, "--listen") || !strcmp(a, "--connect"))
			o.addr = argv[i + 1];
		else if (!strcmp(a, "--timeout-ms"))
			o.timeout_ms =
				(int)parse_num(a, argv[i + 1], 1, 3600000);
		else if (!strcmp(a, "--idle-ms"))
			o.idle_ms = (int)parse_num(a, argv[i + 1], 1, 3600000);
		else if (!strcmp(a, "--gap-ms"))
			o.gap_ms = (int)parse_num(a, argv[i + 1], 0, 10000);
		else
			usage();
		i++;
	}
	if (strcmp(mode, "list") && !o.addr) {
		fprintf(stderr, "pcap-play: %s needs %s ADDR:PORT\n", mode,
			!strcmp(mode, "server") ? "--listen" : "--connect");
		return 2;
	}
	if (cap_load(&cap, file) < 0)
		return 2;
	if (!strcmp(mode, "list")) {
		for (size_t n = 0; n < cap.nflows; n++)
			flow_describe(&cap.flows[n], n + 1, -1);
		cap_free(&cap);
		return 0;
	}
	if (o.flow > cap.nflows) {
		fprintf(stderr,
			"pcap-play: %s: flow %zu not found (%zu TCP "
			"flows)\n",
			file, o.flow, cap.nflows);
		cap_free(&cap);
		return 2;
	}
	f = &cap.flows[o.flow - 1];
	if (f->truncated) {
		fprintf(stderr,
			"pcap-play: %s: flow %zu has %u segments truncated by "
			"the capture's snaplen: its bytes cannot be replayed\n",
			file, o.flow, f->truncated);
		cap_free(&cap);
		return 2;
	}
	cl = flow_client(f, &how);
	if (o.reverse)
		cl = 1 - cl;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pp_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!o.quiet || !strcmp(mode, "server")) {
		printf("# ");
		flow_describe(f, o.flow, cl);
		fflush(stdout);
	}
	rc = !strcmp(mode, "server") ? run_server(f, cl, &o) :
				       run_client(f, cl, &o);
	cap_free(&cap);
	return rc;
}
