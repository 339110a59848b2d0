/*
 * The NFQUEUE workers on the real kernel path: each test makes its own
 * network namespace (Criterion runs it in a child process), brings up lo,
 * and queues TCP 502 and UDP 5021 of the OUTPUT hook to queue 0 through
 * the xt NFQUEUE target (what this kernel has; no bypass). Zones hmi
 * (127.0.0.1) and plc (127.0.0.2), a conduit hmi -> plc that allows Modbus
 * read holding registers only, and UDP 5021 without protocol rules. Real
 * sockets on both ends. Needs root; skips otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libnftnl/rule.h>

#include "common/diag.h"
#include "dpi/queue.h"
#include "nft/internal.h"

#define HMI "127.0.0.1"
#define PLC "127.0.0.2"
#define MB_PORT 502
#define UDP_PORT 5021

static const char ruleset[] =
	"table inet qt {\n"
	"  chain q {\n"
	"  }\n"
	"  chain out {\n"
	"    type filter hook output priority 0; policy accept;\n"
	"    tcp dport 502 jump q\n"
	"    tcp sport 502 jump q\n"
	"    udp dport 5021 jump q\n"
	"  }\n"
	"}\n";

static struct pol_policy *load(const char *functions)
{
	struct pol_policy *p = NULL;
	struct diag_list dl;
	char y[2048];
	int rc;

	snprintf(y, sizeof(y),
		 "version: 1\n"
		 "zones:\n"
		 "  hmi: { networks: [" HMI "/32] }\n"
		 "  plc: { networks: [" PLC "/32] }\n"
		 "conduits:\n"
		 "  - name: hmi-plc\n"
		 "    from: hmi\n"
		 "    to: plc\n"
		 "    allow:\n"
		 "      - proto: tcp\n"
		 "        port: 502\n"
		 "        modbus: { functions: [%s] }\n"
		 "      - { proto: udp, port: 5021 }\n",
		 functions);
	diag_list_init(&dl);
	rc = policy_load_buffer("test.yaml", y, strlen(y), 0, &p, &dl);
	for (size_t i = 0; i < dl.n; i++)
		cr_log_error("%d:%d: %s", dl.v[i].line, dl.v[i].col,
			     dl.v[i].msg);
	diag_list_free(&dl);
	cr_assert_eq(rc, 0, "policy:\n%s", y);
	return p;
}

/* The queue rule itself, xt NFQUEUE to queue 0 (no bypass), in chain q. */
static int add_queue_rule(void)
{
	struct nft_ctx *c = nft_open();
	struct nft_batch *b = nft_batch_new(NULL);
	struct nftnl_rule *r = nftnl_rule_alloc();
	int ret = -ENOMEM;

	if (c == NULL || b == NULL || r == NULL)
		goto out;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFT_CD_FAMILY);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "qt");
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "q");
	ret = nft_rule_add_queue_xt(r, 0, 1);
	if (ret == 0)
		ret = nft_batch_add_rule(b, r, NULL, "queue rule");
	if (ret == 0)
		ret = nft_batch_close(b);
	if (ret == 0)
		ret = nft_batch_send(c, b);
out:
	if (r)
		nftnl_rule_free(r);
	nft_batch_free(b);
	if (c)
		nft_close(c);
	return ret;
}

/* A network namespace of this test process with the queue rules. */
static void netns_up(void)
{
	FILE *f;
	int st, ret;

	if (geteuid() != 0)
		cr_skip_test("needs root (network namespace, nftables)");
	if (unshare(CLONE_NEWNET) < 0)
		cr_skip_test("unshare(CLONE_NEWNET): %s", strerror(errno));
	st = system("ip link set lo up");
	if (st != 0)
		cr_skip_test("`ip link set lo up` failed (%d)", st);
	f = popen("nft -f -", "w");
	if (f == NULL)
		cr_skip_test("cannot run nft: %s", strerror(errno));
	fputs(ruleset, f);
	st = pclose(f);
	if (st != 0)
		cr_skip_test("nft -f - failed (status %d): nft missing?", st);
	ret = add_queue_rule();
	if (ret == -EOPNOTSUPP || ret == -ENOENT)
		cr_skip_test("xt NFQUEUE target unavailable: %s",
			     strerror(-ret));
	cr_assert_eq(ret, 0, "queue rule: %s", strerror(-ret));
}

static void conf_init(struct queue_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->n = 1;
	c->verdict.no_ndpi = true; /* results independent of nDPI */
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sa_of(struct sockaddr_in *sa, const char *ip, uint16_t port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET, ip, &sa->sin_addr), 1);
}

static int sock_bound(int type, const char *ip, uint16_t port)
{
	struct sockaddr_in sa;
	int one = 1, fd = socket(AF_INET, type, 0);

	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa_of(&sa, ip, port);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "bind %s:%u: %s", ip, port, strerror(errno));
	return fd;
}

/* Bytes readable on fd within ms, else -1 (nothing arrived). */
static ssize_t recv_within(int fd, void *buf, size_t n, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, ms) <= 0)
		return -1;
	return recv(fd, buf, n, MSG_DONTWAIT);
}

/* --- Modbus/TCP over real sockets ------------------------------------------ */

struct mb_conn {
	int cli, srv;
};

static void mb_open(int lfd, struct mb_conn *k)
{
	struct sockaddr_in sa;
	struct pollfd pfd;

	k->cli = sock_bound(SOCK_STREAM, HMI, 0);
	sa_of(&sa, PLC, MB_PORT);
	cr_assert_eq(connect(k->cli, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "connect through the queue: %s", strerror(errno));
	pfd = (struct pollfd){ .fd = lfd, .events = POLLIN };
	cr_assert_eq(poll(&pfd, 1, 2000), 1, "no connection accepted");
	k->srv = accept(lfd, NULL, NULL);
	cr_assert_geq(k->srv, 0);
}

static void mb_close(struct mb_conn *k)
{
	close(k->cli);
	close(k->srv);
}

/* FC 3 (read holding registers 0..9) or FC 6 (write register 5). */
static void mb_send(struct mb_conn *k, uint8_t fc)
{
	uint8_t adu[12] = {
		0, 1, 0, 0, 0, 6, 1, fc, 0, fc == 3 ? 0 : 5, 0, fc == 3 ? 10 : 7
	};

	cr_assert_eq(send(k->cli, adu, sizeof(adu), 0), (ssize_t)sizeof(adu));
}

/* true when the server got the 12-byte request within ms */
static bool mb_arrives(struct mb_conn *k, int ms)
{
	uint8_t buf[64];
	ssize_t n = recv_within(k->srv, buf, sizeof(buf), ms);

	return n == 12;
}

static int mb_listen(void)
{
	int fd = sock_bound(SOCK_STREAM, PLC, MB_PORT);

	cr_assert_eq(listen(fd, 8), 0);
	return fd;
}

/* --- UDP -------------------------------------------------------------------- */

static void udp_send(int n)
{
	struct sockaddr_in sa;
	int fd = sock_bound(SOCK_DGRAM, HMI, 0);
	char d[32] = "ping";

	sa_of(&sa, PLC, UDP_PORT);
	for (int i = 0; i < n; i++)
		/* a queue that drops may make sendto fail: ignored */
		(void)!sendto(fd, d, sizeof(d), 0, (struct sockaddr *)&sa,
			      sizeof(sa));
	close(fd);
}

static int udp_count(int fd, int ms)
{
	char buf[64];
	int n = 0;

	while (recv_within(fd, buf, sizeof(buf), ms) > 0)
		n++;
	return n;
}

/* --- events ------------------------------------------------------------------ */

static int n_denied;
static char ev_proto[32];

static void on_ev(const struct dpi_event *ev, void *arg)
{
	(void)arg;
	if (ev->kind == DPI_EV_DENIED) {
		n_denied++;
		snprintf(ev_proto, sizeof(ev_proto), "%s",
			 ev->proto ? ev->proto : "");
	}
}

/* --- tests ------------------------------------------------------------------- */

/* NDR 5.2 */
Test(queue, modbus_read_passes_write_dropped, .timeout = 30)
{
	struct queue_worker_stats st;
	struct queue_conf c;
	struct queue_set *q;
	struct pol_policy *p;
	struct mb_conn k1, k2;
	struct pollfd pfd;
	int lfd;

	netns_up();
	p = load("3");
	conf_init(&c);
	cr_assert_eq(queue_start(&q, &c, p), 0);
	cr_assert_eq(queue_workers(q), 1);
	lfd = mb_listen();

	mb_open(lfd, &k1);
	mb_send(&k1, 3);
	cr_assert(mb_arrives(&k1, 2000), "permitted read did not arrive");

	mb_open(lfd, &k2);
	mb_send(&k2, 6);
	cr_assert_not(mb_arrives(&k2, 700), "forbidden write arrived");

	queue_worker_stats(q, 0, &st);
	cr_assert_eq(st.queue, 0);
	cr_assert_gt(st.verdicts[ENGINE_ALLOW], 4); /* handshakes, read */
	cr_assert_geq(st.verdicts[ENGINE_DENY], 1);
	cr_assert_eq(st.packets,
		     st.verdicts[0] + st.verdicts[1] + st.verdicts[2]);
	cr_assert_eq(st.untracked, 0);
	cr_assert_gt(st.batches, 0);
	cr_assert_eq(st.policy_gen, 1);

	/* the denial is an event, signalled on the event fd */
	pfd = (struct pollfd){ .fd = queue_event_fd(q), .events = POLLIN };
	cr_assert_eq(poll(&pfd, 1, 1000), 1, "event fd not readable");
	n_denied = 0;
	cr_assert_geq(queue_drain_events(q, on_ev, NULL), 1);
	cr_assert_geq(n_denied, 1);
	cr_assert_str_eq(ev_proto, "modbus");

	mb_close(&k1);
	mb_close(&k2);
	close(lfd);
	queue_stop(q);
	policy_free(p);
}

/* NDR 5.2 */
Test(queue, policy_swap_live, .timeout = 30)
{
	struct queue_worker_stats st;
	struct queue_conf c;
	struct queue_set *q;
	struct pol_policy *p1, *p2;
	struct mb_conn k1, k2;
	int lfd;

	netns_up();
	p1 = load("3");
	p2 = load("3, 6");
	conf_init(&c);
	cr_assert_eq(queue_start(&q, &c, p1), 0);
	lfd = mb_listen();

	mb_open(lfd, &k1);
	mb_send(&k1, 6);
	cr_assert_not(mb_arrives(&k1, 700), "write arrived under policy 1");

	cr_assert_eq(queue_set_policy(q, p2), 0);
	queue_worker_stats(q, 0, &st);
	cr_assert_eq(st.policy_gen, 2);
	queue_drain_events(q, on_ev, NULL); /* they refer to p1 */
	policy_free(p1);

	mb_open(lfd, &k2);
	mb_send(&k2, 6);
	cr_assert(mb_arrives(&k2, 2000), "write dropped under policy 2");
	mb_send(&k2, 3);
	cr_assert(mb_arrives(&k2, 2000), "read dropped under policy 2");

	mb_close(&k1);
	mb_close(&k2);
	close(lfd);
	queue_stop(q);
	policy_free(p2);
}

/* CR 3.6 */
Test(queue, no_worker_drops, .timeout = 30)
{
	int u;

	netns_up();
	u = sock_bound(SOCK_DGRAM, PLC, UDP_PORT);
	/* the queue rule is there, nobody is bound to the queue */
	udp_send(5);
	cr_assert_eq(udp_count(u, 500), 0, "passed without a worker");
	close(u);
}

/* NDR 5.2 RE(3) */
Test(queue, fail_close_after_stop, .timeout = 30)
{
	struct queue_conf c;
	struct queue_set *q;
	struct pol_policy *p;
	int u;

	netns_up();
	p = load("3");
	conf_init(&c);
	u = sock_bound(SOCK_DGRAM, PLC, UDP_PORT);
	cr_assert_eq(queue_start(&q, &c, p), 0);
	udp_send(5);
	cr_assert_eq(udp_count(u, 1000), 5, "permitted UDP lost");
	queue_stop(q);
	udp_send(5);
	cr_assert_eq(udp_count(u, 500), 0, "passed after the workers stopped");
	close(u);
	policy_free(p);
}

/* NDR 5.2 RE(3) */
Test(queue, watchdog_idle_and_stalled, .timeout = 30)
{
	struct queue_worker_stats st;
	struct queue_conf c;
	struct queue_set *q;
	struct pol_policy *p;
	int u;

	netns_up();
	p = load("3");
	conf_init(&c);
	u = sock_bound(SOCK_DGRAM, PLC, UDP_PORT);
	cr_assert_eq(queue_start(&q, &c, p), 0);
	/* idle: the poll timeout keeps advancing the progress stamp */
	sleep_ms(700);
	cr_assert(queue_healthy(q, mono_us(), 400000), "idle looks stalled");
	queue_worker_stats(q, 0, &st);
	cr_assert_eq(st.batches, 0);

	queue_test_stall(q, 0, 2000);
	sleep_ms(900);
	cr_assert_not(queue_healthy(q, mono_us(), 400000),
		      "stalled worker looks healthy");
	/* meanwhile the queued traffic stays blocked */
	udp_send(1);
	cr_assert_eq(udp_count(u, 300), 0, "passed a stalled worker");
	/* the stall ends: the packet is decided, health comes back */
	cr_assert_eq(udp_count(u, 2000), 1, "lost after the stall");
	cr_assert(queue_healthy(q, mono_us(), 400000));
	queue_stop(q);
	close(u);
	policy_free(p);
}

/* CR 7.1 */
Test(queue, overload_counted, .timeout = 30)
{
	struct queue_worker_stats st;
	struct queue_conf c;
	struct queue_set *q;
	struct pol_policy *p;
	int u, got;

	netns_up();
	p = load("3");
	conf_init(&c);
	c.max_len = 8;
	u = sock_bound(SOCK_DGRAM, PLC, UDP_PORT);
	cr_assert_eq(queue_start(&q, &c, p), 0);
	queue_test_stall(q, 0, 1500);
	sleep_ms(400); /* past the worker's poll: it is in the stall now */
	udp_send(50);
	got = udp_count(u, 2500);
	queue_worker_stats(q, 0, &st);
	cr_assert_leq(got, 8, "more than the queue length passed");
	cr_assert_geq(got, 1, "nothing passed after the stall");
	cr_assert_eq(st.packets, (uint64_t)got);
	cr_assert_geq(st.kernel_drops, 42, "queue-full drops not counted: %llu",
		      (unsigned long long)st.kernel_drops);
	queue_stop(q);
	close(u);
	policy_free(p);
}
