/*
 * replay: link types written to real pcap files with libpcap (Ethernet with
 * 802.1Q and QinQ, Linux SLL and SLL2, raw IP, BSD loopback in both byte
 * orders), read back and decoded; the command's exit codes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpi/replay.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

/* IPv4/TCP 192.0.2.1:40000 -> 192.0.2.2:502 with a 12-byte Modbus request */
static const uint8_t ip4[] = {
	0x45, 0x00, 0x00, 0x34, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06, 0x00,
	0x00, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02, 0x9c, 0x40,
	0x01, 0xf6, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x50,
	0x18, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x0a,
};

static char path[64];
static uint8_t frame[256], back[256];

/* Write one frame (hdr + ip4) to a pcap file of link type dlt, read it
 * back with libpcap and decode it. */
static int roundtrip(int dlt, const uint8_t *hdr, size_t hlen, struct pkt *p)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr h = { .ts = { 1, 0 } };
	const u_char *data;
	struct pcap_pkthdr *rh;
	pcap_dumper_t *d;
	pcap_t *pc;
	int fd, rc;

	strcpy(path, "/tmp/test_replay.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	if (hlen > 0)
		memcpy(frame, hdr, hlen);
	memcpy(frame + hlen, ip4, sizeof(ip4));
	h.caplen = h.len = (bpf_u_int32)(hlen + sizeof(ip4));
	pc = pcap_open_dead(dlt, 65535);
	cr_assert_not_null(pc);
	d = pcap_dump_open(pc, path);
	cr_assert_not_null(d, "%s", pcap_geterr(pc));
	pcap_dump((u_char *)d, &h, frame);
	pcap_dump_close(d);
	pcap_close(pc);

	pc = pcap_open_offline(path, err);
	cr_assert_not_null(pc, "%s", err);
	cr_assert_eq(pcap_datalink(pc), dlt);
	cr_assert(replay_link_supported(dlt));
	cr_assert_eq(pcap_next_ex(pc, &rh, &data), 1);
	cr_assert_eq(rh->caplen, h.caplen);
	memcpy(back, data, rh->caplen); /* p borrows it after close */
	pcap_close(pc);
	memset(p, 0, sizeof(*p));
	rc = replay_link_decode(dlt, back, h.caplen, p);
	return rc;
}

static void assert_modbus(const struct pkt *p)
{
	cr_assert_eq(p->ip_version, 4);
	cr_assert_eq(p->dport, 502);
	cr_assert_eq(p->payload_len, 12);
	cr_assert_eq(p->payload[7], 0x03);
}

static void fini(void)
{
	if (path[0])
		unlink(path);
	path[0] = '\0';
}

#define MACS 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11

/* CR 3.5 */
Test(replay, ethernet, .fini = fini)
{
	const uint8_t h[] = { MACS, 0x08, 0x00 };
	struct pkt p;

	cr_assert_eq(roundtrip(DLT_EN10MB, h, sizeof(h), &p), 0);
	assert_modbus(&p);
	cr_assert_eq(p.n_vlan, 0);
}

/* CR 3.5 */
Test(replay, ethernet_8021q_and_qinq, .fini = fini)
{
	const uint8_t q[] = { MACS, 0x81, 0x00, 0x20, 0x64, 0x08, 0x00 };
	const uint8_t qq[] = { MACS, 0x88, 0xa8, 0x00, 0x0a, 0x81,
			       0x00, 0x00, 0xc8, 0x08, 0x00 };
	const uint8_t q3[] = { MACS, 0x81, 0x00, 0x00, 0x01, 0x81, 0x00, 0x00,
			       0x02, 0x81, 0x00, 0x00, 0x03, 0x08, 0x00 };
	struct pkt p;

	cr_assert_eq(roundtrip(DLT_EN10MB, q, sizeof(q), &p), 0);
	assert_modbus(&p);
	cr_assert_eq(p.n_vlan, 1);
	cr_assert_eq(p.vlan[0], 100); /* priority bits masked */
	fini();
	cr_assert_eq(roundtrip(DLT_EN10MB, qq, sizeof(qq), &p), 0);
	assert_modbus(&p);
	cr_assert_eq(p.n_vlan, 2);
	cr_assert_eq(p.vlan[0], 10);
	cr_assert_eq(p.vlan[1], 200);
	fini();
	cr_assert_eq(roundtrip(DLT_EN10MB, q3, sizeof(q3), &p), -EBADMSG);
	cr_assert_str_eq(p.error, "more than two VLAN tags");
}

/* CR 3.5 */
Test(replay, linux_sll_and_sll2, .fini = fini)
{
	const uint8_t sll[] = { 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 1,	  2,
				3,    4,    5,	  6,	0,    0,    0x08, 0x00 };
	const uint8_t sll2[] = { 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				 0x02, 0x00, 0x01, 0x00, 0x06, 1,    2,
				 3,    4,    5,	   6,	 0,    0 };
	struct pkt p;

	cr_assert_eq(roundtrip(DLT_LINUX_SLL, sll, sizeof(sll), &p), 0);
	assert_modbus(&p);
	fini();
	cr_assert_eq(roundtrip(DLT_LINUX_SLL2, sll2, sizeof(sll2), &p), 0);
	assert_modbus(&p);
}

/* CR 3.5 */
Test(replay, raw_ip_and_loopback, .fini = fini)
{
	const uint8_t le[] = { 2, 0, 0, 0 }, be[] = { 0, 0, 0, 2 };
	const uint8_t v6bsd[] = { 24, 0, 0, 0 }, bad[] = { 7, 0, 0, 0 };
	struct pkt p;

	cr_assert_eq(roundtrip(DLT_RAW, NULL, 0, &p), 0);
	assert_modbus(&p);
	fini();
	cr_assert_eq(roundtrip(DLT_NULL, le, 4, &p), 0);
	assert_modbus(&p);
	fini();
	cr_assert_eq(roundtrip(DLT_NULL, be, 4, &p), 0);
	assert_modbus(&p);
	fini();
	cr_assert_eq(roundtrip(DLT_LOOP, be, 4, &p), 0);
	assert_modbus(&p);
	fini();
	/* AF_INET6 header over a v4 packet: the IP version decides */
	cr_assert_eq(roundtrip(DLT_NULL, v6bsd, 4, &p), 0);
	fini();
	cr_assert_eq(roundtrip(DLT_NULL, bad, 4, &p), -EPROTONOSUPPORT);
}

/* NDR 5.2 */
Test(replay, link_errors)
{
	const uint8_t arp[] = { MACS, 0x08, 0x06, 0, 0 };
	const uint8_t shortq[] = { MACS, 0x81, 0x00, 0x00 };
	struct pkt p;

	memset(&p, 0, sizeof(p));
	cr_assert_eq(replay_link_decode(DLT_EN10MB, arp, 10, &p), -EBADMSG);
	cr_assert_str_eq(p.error, "Ethernet header truncated");
	cr_assert_eq(replay_link_decode(DLT_EN10MB, arp, sizeof(arp), &p),
		     -EPROTONOSUPPORT);
	cr_assert_eq(replay_link_decode(DLT_EN10MB, shortq, sizeof(shortq), &p),
		     -EBADMSG);
	cr_assert_str_eq(p.error, "VLAN tag truncated");
	cr_assert_eq(replay_link_decode(DLT_LINUX_SLL, arp, 8, &p), -EBADMSG);
	cr_assert_eq(replay_link_decode(DLT_LINUX_SLL2, arp, 8, &p), -EBADMSG);
	cr_assert_eq(replay_link_decode(DLT_NULL, arp, 3, &p), -EBADMSG);
	cr_assert(!replay_link_supported(DLT_IEEE802_11));
	cr_assert_eq(replay_link_decode(DLT_IEEE802_11, arp, sizeof(arp), &p),
		     -EPROTONOSUPPORT);
}

/* CR 3.5 */
Test(replay, command_exit_codes, .fini = fini)
{
	const uint8_t h[] = { MACS, 0x08, 0x00 };
	char *usage[] = { "replay", NULL };
	char *missing[] = { "replay", "/nonexistent/x.pcap", NULL };
	char *ok[] = { "replay", "--json", path, NULL };
	struct pkt p;
	FILE *saved;

	cr_assert_eq(roundtrip(DLT_EN10MB, h, sizeof(h), &p), 0);
	saved = stdout;
	stdout = fopen("/dev/null", "w");
	cr_assert_eq(replay_main(1, usage, 0), 2);
	cr_assert_eq(replay_main(2, missing, 0), 1);
	cr_assert_eq(replay_main(3, ok, 0), 0);
	fclose(stdout);
	stdout = saved;
}
