/*
 * nDPI glue: one nDPI 4.2 detection module and a pool of nDPI flow
 * structs per instance, handed to flows while they are being identified.
 * Only content inspection counts: a result nDPI reached by port or by
 * address (flow->confidence MATCH_BY_PORT / MATCH_BY_IP) is treated as
 * nothing found, and ndpi_detection_giveup is never asked for an answer.
 * The category table is static (generated from the 4.2 header) so the
 * policy validator can map names without a detection module.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ndpi/ndpi_api.h>

#include "dpi/classify.h"

struct classify {
	struct ndpi_detection_module_struct *nd;
	unsigned char *pool; /* slots * stride bytes of nDPI flow structs */
	size_t stride;
	size_t slots;
	uint32_t *free_stack; /* indices of free slots */
	uint8_t *in_use;      /* per slot: a flow holds it */
	size_t n_free;
	struct classify_stats stats;
};

/*
 * Policy names: the ndpi_protocol_category_t constant without its prefix,
 * lower case, '_' as '-' (NDPI_PROTOCOL_CATEGORY_SOCIAL_NETWORK:
 * "social-network"); `ndpi` is nDPI's own display name in 4.2
 * (ndpi_category_get_name), accepted as an alias and checked against the
 * library by the unit test.
 */
static const struct {
	int id;
	const char *name;
	const char *ndpi;
} categories[] = {
	{ NDPI_PROTOCOL_CATEGORY_UNSPECIFIED, "unspecified", "Unspecified" },
	{ NDPI_PROTOCOL_CATEGORY_MEDIA, "media", "Media" },
	{ NDPI_PROTOCOL_CATEGORY_VPN, "vpn", "VPN" },
	{ NDPI_PROTOCOL_CATEGORY_MAIL, "mail", "Email" },
	{ NDPI_PROTOCOL_CATEGORY_DATA_TRANSFER, "data-transfer",
	  "DataTransfer" },
	{ NDPI_PROTOCOL_CATEGORY_WEB, "web", "Web" },
	{ NDPI_PROTOCOL_CATEGORY_SOCIAL_NETWORK, "social-network",
	  "SocialNetwork" },
	{ NDPI_PROTOCOL_CATEGORY_DOWNLOAD_FT, "download-ft", "Download" },
	{ NDPI_PROTOCOL_CATEGORY_GAME, "game", "Game" },
	{ NDPI_PROTOCOL_CATEGORY_CHAT, "chat", "Chat" },
	{ NDPI_PROTOCOL_CATEGORY_VOIP, "voip", "VoIP" },
	{ NDPI_PROTOCOL_CATEGORY_DATABASE, "database", "Database" },
	{ NDPI_PROTOCOL_CATEGORY_REMOTE_ACCESS, "remote-access",
	  "RemoteAccess" },
	{ NDPI_PROTOCOL_CATEGORY_CLOUD, "cloud", "Cloud" },
	{ NDPI_PROTOCOL_CATEGORY_NETWORK, "network", "Network" },
	{ NDPI_PROTOCOL_CATEGORY_COLLABORATIVE, "collaborative",
	  "Collaborative" },
	{ NDPI_PROTOCOL_CATEGORY_RPC, "rpc", "RPC" },
	{ NDPI_PROTOCOL_CATEGORY_STREAMING, "streaming", "Streaming" },
	{ NDPI_PROTOCOL_CATEGORY_SYSTEM_OS, "system-os", "System" },
	{ NDPI_PROTOCOL_CATEGORY_SW_UPDATE, "sw-update", "SoftwareUpdate" },
	{ NDPI_PROTOCOL_CATEGORY_MUSIC, "music", "Music" },
	{ NDPI_PROTOCOL_CATEGORY_VIDEO, "video", "Video" },
	{ NDPI_PROTOCOL_CATEGORY_SHOPPING, "shopping", "Shopping" },
	{ NDPI_PROTOCOL_CATEGORY_PRODUCTIVITY, "productivity", "Productivity" },
	{ NDPI_PROTOCOL_CATEGORY_FILE_SHARING, "file-sharing", "FileSharing" },
	{ NDPI_PROTOCOL_CATEGORY_CONNECTIVITY_CHECK, "connectivity-check",
	  "ConnCheck" },
	{ NDPI_PROTOCOL_CATEGORY_IOT_SCADA, "iot-scada", "IoT-Scada" },
	{ NDPI_PROTOCOL_CATEGORY_VIRTUAL_ASSISTANT, "virtual-assistant",
	  "VirtAssistant" },
	{ CUSTOM_CATEGORY_MINING, "mining", "Mining" },
	{ CUSTOM_CATEGORY_MALWARE, "malware", "Malware" },
	{ CUSTOM_CATEGORY_ADVERTISEMENT, "advertisement", "Advertisement" },
	{ CUSTOM_CATEGORY_BANNED_SITE, "banned-site", "Banned_Site" },
	{ CUSTOM_CATEGORY_SITE_UNAVAILABLE, "site-unavailable",
	  "Site_Unavailable" },
	{ CUSTOM_CATEGORY_ALLOWED_SITE, "allowed-site", "Allowed_Site" },
	{ CUSTOM_CATEGORY_ANTIMALWARE, "antimalware", "Antimalware" },
};

#define N_CATEGORIES (sizeof(categories) / sizeof(categories[0]))

/* What nDPI 4.2 calls the protocols we have a parser for. */
static const struct {
	uint16_t ndpi;
	enum engine_proto proto;
} ics[] = {
	{ NDPI_PROTOCOL_MODBUS, ENGINE_PROTO_MODBUS },
	{ NDPI_PROTOCOL_DNP3, ENGINE_PROTO_DNP3 },
	{ NDPI_PROTOCOL_IEC60870, ENGINE_PROTO_IEC104 },
	{ NDPI_PROTOCOL_S7COMM, ENGINE_PROTO_S7COMM },
	{ NDPI_PROTOCOL_ETHERNET_IP, ENGINE_PROTO_ENIP },
};

static enum engine_proto ics_proto(uint16_t id)
{
	size_t i;

	if (id == NDPI_PROTOCOL_UNKNOWN)
		return ENGINE_PROTO_NONE;
	for (i = 0; i < sizeof(ics) / sizeof(ics[0]); i++)
		if (ics[i].ndpi == id)
			return ics[i].proto;
	return ENGINE_PROTO_NONE;
}

static struct ndpi_flow_struct *slot_flow(struct classify *c, uint32_t slot)
{
	return (struct ndpi_flow_struct *)(c->pool + (size_t)slot * c->stride);
}

struct classify *classify_alloc(size_t slots)
{
	NDPI_PROTOCOL_BITMASK all;
	struct classify *c;
	size_t fsize, i;

	if (slots == 0)
		slots = CLASSIFY_DEFAULT_SLOTS;
	/* slot indices are 32 bit, CLASSIFY_NO_SLOT excluded */
	if (slots >= CLASSIFY_NO_SLOT) {
		errno = EINVAL;
		return NULL;
	}
	/* we read flow->confidence: the header must match the library */
	fsize = ndpi_detection_get_sizeof_ndpi_flow_struct();
	if (fsize != sizeof(struct ndpi_flow_struct)) {
		errno = EPROTO;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->slots = slots;
	c->stride = (fsize + 63) & ~(size_t)63; /* one cache line apart */
	if (slots > SIZE_MAX / c->stride)
		goto fail;
	c->pool = aligned_alloc(64, slots * c->stride);
	c->free_stack = calloc(slots, sizeof(*c->free_stack));
	c->in_use = calloc(slots, sizeof(*c->in_use));
	if (c->pool == NULL || c->free_stack == NULL || c->in_use == NULL)
		goto fail;
	memset(c->pool, 0, slots * c->stride);
	/* pop order 0, 1, 2, ...: the first flows get the first slots */
	for (i = 0; i < slots; i++)
		c->free_stack[i] = (uint32_t)(slots - 1 - i);
	c->n_free = slots;

	c->nd = ndpi_init_detection_module(ndpi_no_prefs);
	if (c->nd == NULL)
		goto fail;
	NDPI_BITMASK_SET_ALL(all);
	ndpi_set_protocol_detection_bitmask2(c->nd, &all);
	ndpi_finalize_initialization(c->nd);
	return c;
fail:
	classify_free(c);
	errno = ENOMEM;
	return NULL;
}

void classify_free(struct classify *c)
{
	size_t i;

	if (c == NULL)
		return;
	/* released slots are zeroed: freeing their data is a no-op */
	if (c->pool != NULL)
		for (i = 0; i < c->slots; i++)
			ndpi_free_flow_data(slot_flow(c, (uint32_t)i));
	if (c->nd != NULL)
		ndpi_exit_detection_module(c->nd);
	free(c->pool);
	free(c->free_stack);
	free(c->in_use);
	free(c);
}

void classify_release(struct classify *c, uint32_t *slot)
{
	struct ndpi_flow_struct *f;

	if (*slot == CLASSIFY_NO_SLOT)
		return;
	if (*slot >= c->slots || !c->in_use[*slot]) {
		*slot = CLASSIFY_NO_SLOT; /* not held: never pushed twice */
		return;
	}
	f = slot_flow(c, *slot);
	ndpi_free_flow_data(f);
	/* nDPI requires a zeroed struct for a new flow */
	memset(f, 0, c->stride);
	c->in_use[*slot] = 0;
	c->free_stack[c->n_free++] = *slot;
	*slot = CLASSIFY_NO_SLOT;
}

/* A detection that came from the payload (or nDPI's cache of earlier
 * payload detections), not from the port or address. */
static bool real_detection(const struct ndpi_flow_struct *f, ndpi_protocol r)
{
	/* nDPI moves a lone master to app: app UNKNOWN is nothing found */
	if (r.app_protocol == NDPI_PROTOCOL_UNKNOWN)
		return false;
	return f->confidence == NDPI_CONFIDENCE_DPI ||
	       f->confidence == NDPI_CONFIDENCE_DPI_CACHE;
}

/* Protocols nDPI 4.2 itself sets as the master of another (ndpi_main.c
 * ndpi_set_proto_subprotocols, and the dissectors' constant masters). */
static const uint16_t carriers[] = {
	NDPI_PROTOCOL_DNS,	  NDPI_PROTOCOL_HTTP,
	NDPI_PROTOCOL_MDNS,	  NDPI_PROTOCOL_TLS,
	NDPI_PROTOCOL_DTLS,	  NDPI_PROTOCOL_HTTP_CONNECT,
	NDPI_PROTOCOL_HTTP_PROXY, NDPI_PROTOCOL_QUIC,
	NDPI_PROTOCOL_NETBIOS,	  NDPI_PROTOCOL_GTP,
	NDPI_PROTOCOL_STUN,	  NDPI_PROTOCOL_SKYPE_TEAMS,
	NDPI_PROTOCOL_AIMINI,
};

static bool is_carrier(uint16_t id)
{
	size_t i;

	for (i = 0; i < sizeof(carriers) / sizeof(carriers[0]); i++)
		if (carriers[i] == id)
			return true;
	return false;
}

/*
 * 4.2's HTTP dissector makes the port guess the master of what it found
 * when the guessed protocol has no subprotocols: HTTP on TCP/502 comes
 * back as "Modbus.HTTP" with DPI confidence. A master that is the port
 * guess and not a protocol nDPI uses as a carrier is that guess: drop it.
 */
static ndpi_protocol drop_port_master(const struct ndpi_flow_struct *f,
				      ndpi_protocol r)
{
	if (r.master_protocol != NDPI_PROTOCOL_UNKNOWN &&
	    r.master_protocol == f->guessed_protocol_id &&
	    !is_carrier(r.master_protocol))
		r.master_protocol = NDPI_PROTOCOL_UNKNOWN;
	return r;
}

static void fill_result(struct classify *c, ndpi_protocol r,
			struct classify_result *out)
{
	enum engine_proto proto;

	out->master = r.master_protocol;
	out->app = r.app_protocol;
	out->category = (uint16_t)ndpi_get_proto_category(c->nd, r);
	ndpi_protocol2name(c->nd, r, out->name, sizeof(out->name));
	proto = ics_proto(r.app_protocol);
	if (proto == ENGINE_PROTO_NONE)
		proto = ics_proto(r.master_protocol);
	out->proto = proto;
}

static void clear_result(struct classify_result *out)
{
	memset(out, 0, sizeof(*out));
	out->proto = ENGINE_PROTO_NONE;
}

enum classify_status classify_packet(struct classify *c, uint32_t *slot,
				     uint8_t *seen, const struct pkt *p,
				     uint64_t now_us,
				     struct classify_result *out)
{
	struct ndpi_flow_struct *f;
	ndpi_protocol r;
	size_t len;

	c->stats.packets++;
	clear_result(out);
	if (*seen < UINT8_MAX)
		(*seen)++;
	/* a stale or foreign index is not trusted: start afresh */
	if (*slot != CLASSIFY_NO_SLOT &&
	    (*slot >= c->slots || !c->in_use[*slot]))
		*slot = CLASSIFY_NO_SLOT;
	if (*slot == CLASSIFY_NO_SLOT) {
		if (c->n_free == 0) {
			c->stats.no_slot++;
			return CLASSIFY_NO_SLOT_;
		}
		*slot = c->free_stack[--c->n_free];
		c->in_use[*slot] = 1;
	}
	f = slot_flow(c, *slot);
	/* an IP packet never exceeds 65535 bytes; jumbograms are cut */
	len = p->l3_len > UINT16_MAX ? UINT16_MAX : p->l3_len;
	if (p->l3 != NULL && len > 0) {
		r = ndpi_detection_process_packet(
			c->nd, f, p->l3, (unsigned short)len, now_us / 1000);
		if (real_detection(f, r)) {
			r = drop_port_master(f, r);
			fill_result(c, r, out);
			classify_release(c, slot);
			c->stats.done++;
			return CLASSIFY_DONE;
		}
	}
	if (*seen >= CLASSIFY_MAX_PACKETS) {
		classify_release(c, slot);
		c->stats.unknown++;
		return CLASSIFY_UNKNOWN;
	}
	return CLASSIFY_MORE;
}

const char *classify_name(struct classify *c, uint16_t master, uint16_t app,
			  char *buf, size_t len)
{
	ndpi_protocol r = { master, app, NDPI_PROTOCOL_CATEGORY_UNSPECIFIED };

	if (len == 0)
		return buf;
	if (len > UINT32_MAX)
		len = UINT32_MAX;
	ndpi_protocol2name(c->nd, r, buf, (u_int)len);
	return buf;
}

static bool name_is(const struct classify *c, uint16_t id, const char *name)
{
	const char *n;

	if (id == NDPI_PROTOCOL_UNKNOWN)
		return false;
	n = ndpi_get_proto_name(c->nd, id);
	return n != NULL && strcasecmp(n, name) == 0;
}

bool classify_result_is(const struct classify *c,
			const struct classify_result *r, const char *name)
{
	if (name == NULL || *name == '\0')
		return false;
	if (name_is(c, r->master, name) || name_is(c, r->app, name))
		return true;
	/* "TLS.Google": the combined name classify_packet filled in */
	return r->name[0] != '\0' && strcasecmp(r->name, name) == 0;
}

int classify_proto_id(struct classify *c, const char *name)
{
	/* longer than any nDPI protocol name (and the API wants char *) */
	char buf[64];
	size_t n;
	int id;

	if (name == NULL)
		return -1;
	n = strlen(name);
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, name, n + 1);
	id = ndpi_get_protocol_id(c->nd, buf);
	return id < 0 ? -1 : id;
}

int classify_category_id(const char *name)
{
	size_t i;

	if (name == NULL || *name == '\0')
		return -1;
	for (i = 0; i < N_CATEGORIES; i++)
		if (strcasecmp(categories[i].name, name) == 0 ||
		    strcasecmp(categories[i].ndpi, name) == 0)
			return categories[i].id;
	return -1;
}

const char *classify_category_name(int id)
{
	size_t i;

	for (i = 0; i < N_CATEGORIES; i++)
		if (categories[i].id == id)
			return categories[i].name;
	return "unspecified";
}

const struct classify_stats *classify_get_stats(const struct classify *c)
{
	return &c->stats;
}
