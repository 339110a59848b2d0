/*
 * mb-client: a libmodbus Modbus/TCP master (the "HMI") that runs a script
 * of operations given on the command line and says what became of each one,
 * so a test can assert "reads ok, writes timed out (dropped)":
 *
 *   mb-client 198.18.30.10 502 --unit 1 read-hr 0 10 write-hr 100 1
 *   read-hr 0 10: ok 0 1 2 3 4 5 6 7 8 9
 *   write-hr 100 1: timeout
 *
 * Results: ok, exception N (Modbus exception code), timeout (no answer within
 * --timeout-ms), reset (connection refused, reset or closed by the peer),
 * error (anything else). After timeout/reset/error the connection is closed
 * and the next operation opens a new one (a TCP stream whose segment was
 * dropped stays stalled), unless --no-reconnect.
 *
 * --loop N / --interval-ms M repeat the script (polling) and --tps N runs it
 * N times back to back; both end with per-operation counts and, for --tps,
 * transactions/s and latency. --connections K runs K connections in
 * parallel, one thread each, with the counts summed.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modbus.h>

#define MBC_MAX_OPS 64
#define MBC_MAX_LAT (1u << 22)

enum mbc_kind {
	MBC_READ_COILS,
	MBC_READ_DI,
	MBC_READ_HR,
	MBC_READ_IR,
	MBC_WRITE_COIL,
	MBC_WRITE_COILS,
	MBC_WRITE_HR,
	MBC_WRITE_HRS,
	MBC_RAW,
	MBC_SLEEP,
};

enum mbc_result {
	MBC_OK,
	MBC_EXCEPTION,
	MBC_TIMEOUT,
	MBC_RESET,
	MBC_ERROR,
	MBC_NRESULTS,
};

static const char *const mbc_result_name[MBC_NRESULTS] = {
	"ok", "exception", "timeout", "reset", "error",
};

static const struct {
	const char *name;
	enum mbc_kind kind;
	int nargs;
} mbc_ops[] = {
	{ "read-coils", MBC_READ_COILS, 2 },
	{ "read-di", MBC_READ_DI, 2 },
	{ "read-hr", MBC_READ_HR, 2 },
	{ "read-ir", MBC_READ_IR, 2 },
	{ "write-coil", MBC_WRITE_COIL, 2 },
	{ "write-coils", MBC_WRITE_COILS, 3 },
	{ "write-hr", MBC_WRITE_HR, 2 },
	{ "write-hrs", MBC_WRITE_HRS, 3 },
	{ "raw", MBC_RAW, 1 },
	{ "sleep", MBC_SLEEP, 1 },
};

struct mbc_op {
	enum mbc_kind kind;
	char label[96];
	int addr, qty, value;
	uint8_t raw[MODBUS_MAX_PDU_LENGTH + 1];
	int raw_len;
};

struct mbc_conf {
	const char *host, *port;
	int unit, timeout_ms, interval_ms, connections;
	long iterations; /* 0: until SIGTERM/SIGINT */
	int reconnect, verbose, tps;
	struct mbc_op ops[MBC_MAX_OPS];
	int nops;
};

struct mbc_worker {
	const struct mbc_conf *conf;
	pthread_t thread;
	int id;
	unsigned long counts[MBC_MAX_OPS][MBC_NRESULTS];
	unsigned long transactions;
	uint32_t *lat_us; /* ok transactions, first MBC_MAX_LAT per worker */
	size_t nlat, lat_cap;
};

static volatile sig_atomic_t mbc_stop;

static void mbc_on_signal(int sig)
{
	(void)sig;
	mbc_stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: mb-client [options] HOST PORT OP...\n"
		"options: --unit N (1)  --timeout-ms T (1000)  --loop N (0: "
		"until SIGTERM)\n"
		"         --interval-ms M (0)  --tps N  --connections K (1)  "
		"--no-reconnect  -v\n"
		"ops:     read-coils A N | read-di A N | read-hr A N | read-ir "
		"A N\n"
		"         write-coil A 0|1 | write-coils A N 0|1 | write-hr A V "
		"| write-hrs A N V\n"
		"         raw HEX (PDU from the function code on, e.g. "
		"0800000000) | sleep MS\n");
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
			"mb-client: %s: '%s' is not a number in %ld..%ld\n",
			what, s, min, max);
		exit(2);
	}
	return v;
}

static int parse_hex(const char *s, uint8_t *out, int cap)
{
	int n = 0;

	while (*s) {
		unsigned int b;

		if (*s == ':' || *s == ',' || *s == ' ') {
			s++;
			continue;
		}
		if (n == cap || sscanf(s, "%2x", &b) != 1 || !s[1]) {
			fprintf(stderr,
				"mb-client: raw: '%s' is not an even-length hex "
				"string of at most %d bytes\n",
				s, cap);
			exit(2);
		}
		out[n++] = (uint8_t)b;
		s += 2;
	}
	if (n == 0) {
		fprintf(stderr, "mb-client: raw: empty PDU\n");
		exit(2);
	}
	return n;
}

/* Parse argv[*i..] as one operation into op; advance *i past it. */
static void parse_op(int argc, char **argv, int *i, struct mbc_op *op)
{
	const char *name = argv[*i];
	size_t k;
	int n;

	for (k = 0; k < sizeof(mbc_ops) / sizeof(mbc_ops[0]); k++)
		if (!strcmp(name, mbc_ops[k].name))
			break;
	if (k == sizeof(mbc_ops) / sizeof(mbc_ops[0])) {
		fprintf(stderr, "mb-client: unknown operation '%s'\n", name);
		usage();
	}
	if (*i + mbc_ops[k].nargs >= argc) {
		fprintf(stderr, "mb-client: %s needs %d argument(s)\n", name,
			mbc_ops[k].nargs);
		exit(2);
	}
	op->kind = mbc_ops[k].kind;
	n = snprintf(op->label, sizeof(op->label), "%s", name);
	for (int a = 1; a <= mbc_ops[k].nargs; a++)
		n += snprintf(op->label + n,
			      n < (int)sizeof(op->label) ?
				      sizeof(op->label) - (size_t)n :
				      0,
			      " %s", argv[*i + a]);
	switch (op->kind) {
	case MBC_READ_COILS:
	case MBC_READ_DI:
		op->addr = (int)parse_num(name, argv[*i + 1], 0, 65535);
		op->qty = (int)parse_num(name, argv[*i + 2], 1,
					 MODBUS_MAX_READ_BITS);
		break;
	case MBC_READ_HR:
	case MBC_READ_IR:
		op->addr = (int)parse_num(name, argv[*i + 1], 0, 65535);
		op->qty = (int)parse_num(name, argv[*i + 2], 1,
					 MODBUS_MAX_READ_REGISTERS);
		break;
	case MBC_WRITE_COIL:
		op->addr = (int)parse_num(name, argv[*i + 1], 0, 65535);
		op->value = (int)parse_num(name, argv[*i + 2], 0, 1);
		op->qty = 1;
		break;
	case MBC_WRITE_HR:
		op->addr = (int)parse_num(name, argv[*i + 1], 0, 65535);
		op->value = (int)parse_num(name, argv[*i + 2], 0, 65535);
		op->qty = 1;
		break;
	case MBC_WRITE_COILS:
		op->addr = (int)parse_num(name, argv[*i + 1], 0, 65535);
		op->qty = (int)parse_num(name, argv[*i + 2], 1,
					 MODBUS_MAX_WRITE_BITS);
		op->value = (int)parse_num(name, argv[*i + 3], 0, 1);
		break;
	case MBC_WRITE_HRS:
		op->addr = (int)parse_num(name, argv[*i + 1], 0, 65535);
		op->qty = (int)parse_num(name, argv[*i + 2], 1,
					 MODBUS_MAX_WRITE_REGISTERS);
		op->value = (int)parse_num(name, argv[*i + 3], 0, 65535);
		break;
	case MBC_RAW:
		op->raw_len = 1 + parse_hex(argv[*i + 1], op->raw + 1,
					    MODBUS_MAX_PDU_LENGTH);
		break;
	case MBC_SLEEP:
		op->value = (int)parse_num(name, argv[*i + 1], 0, 3600000);
		break;
	}
	*i += mbc_ops[k].nargs + 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !mbc_stop)
		;
}

static enum mbc_result classify_errno(int err, int *code)
{
	if (err > MODBUS_ENOBASE &&
	    err < MODBUS_ENOBASE + MODBUS_EXCEPTION_MAX) {
		*code = err - MODBUS_ENOBASE;
		return MBC_EXCEPTION;
	}
	if (err == ETIMEDOUT)
		return MBC_TIMEOUT;
	if (err == ECONNRESET || err == EPIPE || err == ECONNREFUSED)
		return MBC_RESET;
	return MBC_ERROR;
}

/*
 * Run op on ctx. Returns the result; *code is the exception code, out (if
 * not NULL) receives the values read or the error text.
 */
static enum mbc_result run_op(modbus_t *ctx, const struct mbc_op *op, int unit,
			      int *code, char *out, size_t outlen)
{
	uint16_t regs[MODBUS_MAX_READ_REGISTERS > MODBUS_MAX_WRITE_REGISTERS ?
			      MODBUS_MAX_READ_REGISTERS :
			      MODBUS_MAX_WRITE_REGISTERS];
	uint8_t bits[MODBUS_MAX_READ_BITS > MODBUS_MAX_WRITE_BITS ?
			     MODBUS_MAX_READ_BITS :
			     MODBUS_MAX_WRITE_BITS];
	uint8_t rsp[MODBUS_TCP_MAX_ADU_LENGTH];
	enum mbc_result res;
	int rc = -1, i, n = 0;

	*code = 0;
	switch (op->kind) {
	case MBC_READ_COILS:
		rc = modbus_read_bits(ctx, op->addr, op->qty, bits);
		break;
	case MBC_READ_DI:
		rc = modbus_read_input_bits(ctx, op->addr, op->qty, bits);
		break;
	case MBC_READ_HR:
		rc = modbus_read_registers(ctx, op->addr, op->qty, regs);
		break;
	case MBC_READ_IR:
		rc = modbus_read_input_registers(ctx, op->addr, op->qty, regs);
		break;
	case MBC_WRITE_COIL:
		rc = modbus_write_bit(ctx, op->addr, op->value);
		break;
	case MBC_WRITE_HR:
		rc = modbus_write_register(ctx, op->addr, (uint16_t)op->value);
		break;
	case MBC_WRITE_COILS:
		memset(bits, op->value, (size_t)op->qty);
		rc = modbus_write_bits(ctx, op->addr, op->qty, bits);
		break;
	case MBC_WRITE_HRS:
		for (i = 0; i < op->qty; i++)
			regs[i] = (uint16_t)op->value;
		rc = modbus_write_registers(ctx, op->addr, op->qty, regs);
		break;
	case MBC_RAW: {
		uint8_t req[MODBUS_MAX_PDU_LENGTH + 1];

		memcpy(req, op->raw, (size_t)op->raw_len);
		req[0] = (uint8_t)unit;
		rc = modbus_send_raw_request(ctx, req, op->raw_len);
		if (rc >= 0)
			rc = modbus_receive_confirmation(ctx, rsp);
		break;
	}
	case MBC_SLEEP:
		sleep_ms(op->value);
		rc = 0;
		break;
	}
	if (rc < 0) {
		int err = errno;

		res = classify_errno(err, code);
		if (out && res != MBC_EXCEPTION && res != MBC_TIMEOUT)
			snprintf(out, outlen, "%s", modbus_strerror(err));
		return res;
	}
	if (op->kind == MBC_RAW) {
		/* rsp: MBAP (7 bytes) then the PDU. */
		if (rc > 8 && (rsp[7] & 0x80)) {
			*code = rsp[8];
			return MBC_EXCEPTION;
		}
	}
	if (!out)
		return MBC_OK;
	out[0] = '\0';
	switch (op->kind) {
	case MBC_READ_COILS:
	case MBC_READ_DI:
		for (i = 0; i < rc && n + 2 < (int)outlen; i++)
			out[n++] = bits[i] ? '1' : '0';
		out[n] = '\0';
		break;
	case MBC_READ_HR:
	case MBC_READ_IR:
		for (i = 0; i < rc && n + 8 < (int)outlen; i++)
			n += snprintf(out + n, outlen - (size_t)n, "%s%u",
				      i ? " " : "", regs[i]);
		break;
	case MBC_RAW:
		for (i = 7; i < rc && n + 3 < (int)outlen; i++)
			n += snprintf(out + n, outlen - (size_t)n, "%02x",
				      rsp[i]);
		break;
	default:
		break;
	}
	return MBC_OK;
}

static modbus_t *ctx_new(const struct mbc_conf *c)
{
	modbus_t *ctx = modbus_new_tcp_pi(c->host, c->port);

	if (!ctx) {
		fprintf(stderr, "mb-client: %s port %s: %s\n", c->host, c->port,
			modbus_strerror(errno));
		exit(2);
	}
	modbus_set_slave(ctx, c->unit);
	modbus_set_response_timeout(ctx, (uint32_t)(c->timeout_ms / 1000),
				    (uint32_t)(c->timeout_ms % 1000) * 1000);
	return ctx;
}

static void *worker_run(void *arg)
{
	struct mbc_worker *w = arg;
	const struct mbc_conf *c = w->conf;
	int print = c->verbose || (c->iterations == 1 && c->connections == 1);
	modbus_t *ctx = ctx_new(c);
	int connected = 0;
	long it;

	for (it = 0; !mbc_stop && (c->iterations == 0 || it < c->iterations);
	     it++) {
		if (it > 0 && c->interval_ms > 0)
			sleep_ms(c->interval_ms);
		for (int k = 0; k < c->nops && !mbc_stop; k++) {
			const struct mbc_op *op = &c->ops[k];
			char out[1024] = "";
			enum mbc_result res;
			int code = 0;
			double t0;

			if (op->kind == MBC_SLEEP) {
				sleep_ms(op->value);
				continue;
			}
			t0 = now_s();
			if (!connected && modbus_connect(ctx) < 0) {
				int err = errno;

				res = classify_errno(err, &code);
				if (res == MBC_EXCEPTION)
					res = MBC_ERROR;
				snprintf(out, sizeof(out), "(connect: %s)",
					 strerror(err));
			} else {
				connected = 1;
				res = run_op(ctx, op, c->unit, &code, out,
					     sizeof(out));
			}
			if (res == MBC_OK) {
				uint32_t us = (uint32_t)((now_s() - t0) * 1e6);

				if (w->nlat < w->lat_cap)
					w->lat_us[w->nlat++] = us;
			}
			w->counts[k][res]++;
			w->transactions++;
			if (print) {
				if (c->connections > 1)
					printf("[%d] ", w->id);
				if (res == MBC_EXCEPTION)
					printf("%s: exception %d\n", op->label,
					       code);
				else
					printf("%s: %s%s%s\n", op->label,
					       mbc_result_name[res],
					       out[0] ? " " : "", out);
				fflush(stdout);
			}
			if (connected && res != MBC_OK &&
			    res != MBC_EXCEPTION && c->reconnect) {
				modbus_close(ctx);
				connected = 0;
			}
		}
	}
	if (connected)
		modbus_close(ctx);
	modbus_free(ctx);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Print per-op counts (and --tps figures); returns 1 if any op failed. */
static int report(const struct mbc_conf *c, struct mbc_worker *w, double secs,
		  int summary)
{
	unsigned long tot[MBC_NRESULTS] = { 0 }, trans = 0;
	int failed = 0, k, r, i;

	for (k = 0; k < c->nops; k++) {
		unsigned long cnt[MBC_NRESULTS] = { 0 };

		if (c->ops[k].kind == MBC_SLEEP)
			continue;
		for (i = 0; i < c->connections; i++)
			for (r = 0; r < MBC_NRESULTS; r++)
				cnt[r] += w[i].counts[k][r];
		for (r = 0; r < MBC_NRESULTS; r++) {
			tot[r] += cnt[r];
			if (r != MBC_OK && cnt[r])
				failed = 1;
		}
		if (summary)
			printf("op %s: ok=%lu exception=%lu timeout=%lu "
			       "reset=%lu error=%lu\n",
			       c->ops[k].label, cnt[MBC_OK], cnt[MBC_EXCEPTION],
			       cnt[MBC_TIMEOUT], cnt[MBC_RESET],
			       cnt[MBC_ERROR]);
	}
	for (i = 0; i < c->connections; i++)
		trans += w[i].transactions;
	if (summary)
		printf("total: transactions=%lu ok=%lu exception=%lu "
		       "timeout=%lu reset=%lu error=%lu connections=%d "
		       "seconds=%.3f\n",
		       trans, tot[MBC_OK], tot[MBC_EXCEPTION], tot[MBC_TIMEOUT],
		       tot[MBC_RESET], tot[MBC_ERROR], c->connections, secs);
	if (c->tps) {
		size_t n = 0, j;
		uint32_t *all;
		double sum = 0;

		for (i = 0; i < c->connections; i++)
			n += w[i].nlat;
		all = malloc((n ? n : 1) * sizeof(*all));
		if (!all) {
			fprintf(stderr,
				"mb-client: no memory for %zu latencies\n", n);
			return 1;
		}
		n = 0;
		for (i = 0; i < c->connections; i++) {
			memcpy(all + n, w[i].lat_us, w[i].nlat * sizeof(*all));
			n += w[i].nlat;
		}
		qsort(all, n, sizeof(*all), cmp_u32);
		for (j = 0; j < n; j++)
			sum += all[j];
		printf("tps=%.1f ok_per_s=%.1f latency_us avg=%.1f p50=%u "
		       "p99=%u max=%u\n",
		       secs > 0 ? (double)trans / secs : 0,
		       secs > 0 ? (double)tot[MBC_OK] / secs : 0,
		       n ? sum / (double)n : 0, n ? all[n / 2] : 0,
		       n ? all[(n * 99) / 100] : 0, n ? all[n - 1] : 0);
		free(all);
	}
	return failed;
}

int main(int argc, char **argv)
{
	static struct mbc_conf conf = {
		.unit = 1,
		.timeout_ms = 1000,
		.iterations = 1,
		.connections = 1,
		.reconnect = 1,
	};
	struct mbc_worker *w;
	struct sigaction sa;
	int i = 1, pos = 0, looped = 0, failed, started;
	double t0, secs;

	while (i < argc) {
		const char *o = argv[i];

		if (o[0] == '-' && o[1] == '-') {
			if (!strcmp(o, "--no-reconnect")) {
				conf.reconnect = 0;
				i++;
				continue;
			}
			if (!strcmp(o, "--verbose")) {
				conf.verbose = 1;
				i++;
				continue;
			}
			if (i + 1 >= argc)
				usage();
			if (!strcmp(o, "--unit"))
				conf.unit =
					(int)parse_num(o, argv[i + 1], 0, 255);
			else if (!strcmp(o, "--timeout-ms"))
				conf.timeout_ms = (int)parse_num(o, argv[i + 1],
								 1, 3600000);
			else if (!strcmp(o, "--loop")) {
				conf.iterations =
					parse_num(o, argv[i + 1], 0, 1L << 40);
				looped = 1;
			} else if (!strcmp(o, "--interval-ms"))
				conf.interval_ms = (int)parse_num(
					o, argv[i + 1], 0, 3600000);
			else if (!strcmp(o, "--tps")) {
				conf.iterations =
					parse_num(o, argv[i + 1], 1, 1L << 40);
				conf.tps = 1;
			} else if (!strcmp(o, "--connections"))
				conf.connections =
					(int)parse_num(o, argv[i + 1], 1, 1024);
			else
				usage();
			i += 2;
		} else if (!strcmp(o, "-v")) {
			conf.verbose = 1;
			i++;
		} else if (pos == 0) {
			conf.host = o;
			pos++;
			i++;
		} else if (pos == 1) {
			conf.port = o;
			pos++;
			i++;
		} else {
			if (conf.nops == MBC_MAX_OPS) {
				fprintf(stderr,
					"mb-client: more than %d operations\n",
					MBC_MAX_OPS);
				exit(2);
			}
			parse_op(argc, argv, &i, &conf.ops[conf.nops++]);
		}
	}
	if (pos != 2 || conf.nops == 0)
		usage();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mbc_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	w = calloc((size_t)conf.connections, sizeof(*w));
	if (!w) {
		fprintf(stderr, "mb-client: no memory for %d workers\n",
			conf.connections);
		return 2;
	}
	for (i = 0; i < conf.connections; i++) {
		w[i].conf = &conf;
		w[i].id = i;
		if (conf.tps) {
			unsigned long want = (unsigned long)conf.iterations *
					     (unsigned long)conf.nops;

			w[i].lat_cap = want < MBC_MAX_LAT ? want : MBC_MAX_LAT;
			w[i].lat_us = malloc(w[i].lat_cap * sizeof(uint32_t));
			if (!w[i].lat_us) {
				fprintf(stderr,
					"mb-client: no memory for %zu "
					"latencies\n",
					w[i].lat_cap);
				return 2;
			}
		}
	}
	t0 = now_s();
	if (conf.connections == 1) {
		worker_run(&w[0]);
	} else {
		for (started = 0; started < conf.connections; started++) {
			int err = pthread_create(&w[started].thread, NULL,
						 worker_run, &w[started]);

			if (err) {
				fprintf(stderr,
					"mb-client: thread %d of %d: %s\n",
					started, conf.connections,
					strerror(err));
				mbc_stop = 1;
				break;
			}
		}
		for (i = 0; i < started; i++)
			pthread_join(w[i].thread, NULL);
	}
	secs = now_s() - t0;
	failed = report(&conf, w, secs,
			looped || conf.tps || conf.connections > 1 ||
				conf.iterations != 1);
	for (i = 0; i < conf.connections; i++)
		free(w[i].lat_us);
	free(w);
	return failed ? 1 : 0;
}
