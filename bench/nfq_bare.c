/*
 * The baseline of issue 5's benchmark: a bare accept-all consumer of one
 * NFQUEUE with the settings of src/dpi/queue.c (copy 65535, GSO, no
 * FAIL_OPEN, NETLINK_NO_ENOBUFS, 8 MiB receive buffer, up to 64 messages
 * per recvmmsg, one VERDICT_BATCH per receive). Until SIGINT/SIGTERM;
 * prints the packets handled. Usage: nfq_bare [queue]
 */
#define _GNU_SOURCE /* recvmmsg */
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define BATCH 64
#define MSG (65536 + 1024)

static volatile sig_atomic_t stop;
static char rbuf[BATCH][MSG] __attribute__((aligned(8)));

static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

int main(int argc, char **argv)
{
	uint16_t qn = argc > 1 ? (uint16_t)atoi(argv[1]) : 0;
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct mmsghdr mm[BATCH] = { 0 };
	struct iovec iov[BATCH];
	char buf[8192];
	struct sigaction sa = { .sa_handler = on_sig };
	unsigned long long pkts = 0;
	int one = 1, rb = 8 << 20, fd;
	struct nlmsghdr *nlh;

	if (nl == NULL || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return perror("netlink"), 1;
	fd = mnl_socket_get_fd(nl);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof(rb));
	mnl_socket_setsockopt(nl, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, qn);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 65535);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, 4096);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK,
			 htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return perror("queue bind"), 1;
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = rbuf[i], .iov_len = MSG };
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint32_t maxid = 0;
		int n, have = 0;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = recvmmsg(fd, mm, BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			int len = (int)mm[i].msg_len;

			for (nlh = (struct nlmsghdr *)rbuf[i];
			     mnl_nlmsg_ok(nlh, len);
			     nlh = mnl_nlmsg_next(nlh, &len)) {
				struct nlattr *a[NFQA_MAX + 1] = { 0 };
				struct nfqnl_msg_packet_hdr *ph;

				if (nfq_nlmsg_parse(nlh, a) < 0 ||
				    a[NFQA_PACKET_HDR] == NULL)
					continue; /* the bind's answer */
				ph = mnl_attr_get_payload(a[NFQA_PACKET_HDR]);
				maxid = ntohl(ph->packet_id);
				have = 1;
				pkts++;
			}
		}
		if (!have)
			continue;
		nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT_BATCH, qn);
		nfq_nlmsg_verdict_put(nlh, (int)maxid, NF_ACCEPT);
		mnl_socket_sendto(nl, nlh, nlh->nlmsg_len);
	}
	printf("queue %u: %llu packets\n", qn, pkts);
	mnl_socket_close(nl);
	return 0;
}
