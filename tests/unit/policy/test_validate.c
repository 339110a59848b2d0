/*
 * Policy validation: each file of tests/unit/policy/invalid/ is rejected
 * with exactly the listed diagnostics (line:col: message), a file with many
 * problems reports all of them in file order, and the borderline cases that
 * must stay valid do.
 */
#include "helpers.h"

/* A valid two-zone policy whose one allow entry the inline cases vary. */
#define TWO_ZONES                   \
	"version: 1\n"              \
	"zones:\n"                  \
	"  a: {interfaces: [a0]}\n" \
	"  b: {interfaces: [b0]}\n"
#define ENTRY(e)                  \
	TWO_ZONES "conduits:\n"   \
		  "  - name: x\n" \
		  "    from: a\n" \
		  "    to: b\n"   \
		  "    allow:\n"  \
		  "      - " e "\n"

/* CR 3.5 */
Test(invalid, all_errors_of_a_file_in_order)
{
	expect_file_invalid(
		"multi.yaml",
		WANT("4:21: expected a security level 1..4, found '7'",
		     "7:16: host bits set in 198.18.20.1/24 (expected 198.18.20.0/24)",
		     "9:18: interface 'ent0' of zone 'control' is already in zone "
		     "'enterprise'",
		     "13:17: zone 'plant' is marked management but zone 'control' "
		     "already is (expected at most one management zone)",
		     "14:5: unknown key 'colour' in zone 'plant' (expected one of: "
		     "description, security-level, interfaces, networks, management, "
		     "intra-zone, deny-app-categories)",
		     "18:9: unknown zone 'dmzz' (expected one of: enterprise, dmz, "
		     "control, plant)",
		     "20:29: port 0 is not allowed (expected 1..65535)",
		     "21:24: 'port' is not allowed with proto icmp (use 'type')",
		     "22:5: duplicate conduit 'ops' (first defined at 16:5)",
		     "24:9: conduit 'ops' goes from zone 'control' to itself (expected "
		     "two different zones; see intra-zone)",
		     "25:12: conduit 'ops' has no allow entries (expected at least "
		     "one; without the conduit its traffic is denied anyway)"));
}

/* CR 7.6 */
Test(invalid, burst_no_rate)
{
	expect_file_invalid(
		"burst-no-rate.yaml",
		WANT("12:33: 'burst' needs 'rate' in the same entry"));
}

/* CR 7.6 */
Test(invalid, conduit_duplicate)
{
	expect_file_invalid(
		"conduit-duplicate.yaml",
		WANT("13:5: duplicate conduit 'a-to-b' (first defined at 8:5)"));
}

/* CR 3.5 */
Test(invalid, conduit_missing)
{
	expect_file_invalid(
		"conduit-missing.yaml",
		WANT("6:5: missing required key 'name' in conduit",
		     "6:5: missing required key 'to' in conduit",
		     "6:5: missing required key 'allow' in conduit"));
}

/* CR 7.6 */
Test(invalid, conduit_name)
{
	expect_file_invalid(
		"conduit-name.yaml",
		WANT("8:11: invalid conduit name 'A_to_B' (expected 1-32 "
		     "characters of a-z 0-9 _ -, starting with a letter or "
		     "digit)"));
}

/* CR 7.6 */
Test(invalid, conduit_no_allow)
{
	expect_file_invalid(
		"conduit-no-allow.yaml",
		WANT("11:12: conduit 'a-to-b' has no allow entries (expected at "
		     "least one; without the conduit its traffic is denied "
		     "anyway)"));
}

/* CR 7.6 */
Test(invalid, conduit_pair)
{
	expect_file_invalid(
		"conduit-pair.yaml",
		WANT("13:5: conduit 'a-to-b-too' repeats zone pair a -> b of "
		     "conduit 'a-to-b' (expected one conduit per direction)"));
}

/* CR 7.6 */
Test(invalid, conduit_self)
{
	expect_file_invalid(
		"conduit-self.yaml",
		WANT("10:9: conduit 'a-to-b' goes from zone 'a' to itself "
		     "(expected two different zones; see intra-zone)"));
}

/* CR 7.6 */
Test(invalid, conduit_unknown_zone)
{
	expect_file_invalid(
		"conduit-unknown-zone.yaml",
		WANT("10:9: unknown zone 'c' (expected one of: a, b)"));
}

/* CR 3.5 */
Test(invalid, conduits_not_seq)
{
	expect_file_invalid(
		"conduits-not-seq.yaml",
		WANT("5:3: expected a sequence of conduits, found a mapping"));
}

/* CR 3.5 */
Test(invalid, entry_duplicate_key)
{
	expect_file_invalid(
		"entry-duplicate-key.yaml",
		WANT("12:34: duplicate key 'port' (first at 12:23)"));
}

/* CR 3.5 */
Test(invalid, entry_unknown_key)
{
	expect_file_invalid(
		"entry-unknown-key.yaml",
		WANT("12:23: unknown key 'ports' in allow entry (expected one "
		     "of: proto, port, type, from-hosts, to-hosts, rate, burst, "
		     "modbus, dnp3, iec104, s7comm, enip, app)"));
}

/* CR 7.6 */
Test(invalid, family_mismatch)
{
	expect_file_invalid(
		"family-mismatch.yaml",
		WANT("12:63: from-hosts are IPv4 only but to-hosts are IPv6 "
		     "only (expected a common address family)"));
}

/* CR 7.6 */
Test(invalid, host_overlap)
{
	expect_file_invalid(
		"host-overlap.yaml",
		WANT("12:60: host 198.18.20.5 overlaps 198.18.20.0/24 in the "
		     "same list"));
}

/* CR 3.5 */
Test(invalid, hosts_not_seq)
{
	expect_file_invalid(
		"hosts-not-seq.yaml",
		WANT("12:43: expected a sequence of addresses or prefixes, "
		     "found '198.18.20.5'"));
}

/* CR 7.6 */
Test(invalid, icmp_type_name)
{
	expect_file_invalid(
		"icmp-type-name.yaml",
		WANT("12:32: expected an icmpv6 type name like echo-request or "
		     "a number 0..255, found 'echo'"));
}

/* CR 7.6 */
Test(invalid, icmp_v6_host)
{
	expect_file_invalid(
		"icmp-v6-host.yaml",
		WANT("12:35: proto icmp is IPv4 only, found IPv6 host "
		     "2001:db8:20::5 (use icmpv6)"));
}

/* CR 7.6 */
Test(invalid, iface_name)
{
	expect_file_invalid(
		"iface-name.yaml",
		WANT("4:18: invalid interface name 'averyverylongname' "
		     "(expected 1-15 characters of A-Z a-z 0-9 . _ - with an "
		     "optional trailing *)",
		     "4:37: invalid interface name 'eth 0' (expected 1-15 "
		     "characters of A-Z a-z 0-9 . _ - with an optional trailing "
		     "*)",
		     "4:46: invalid interface name '*' (expected 1-15 "
		     "characters of A-Z a-z 0-9 . _ - with an optional trailing "
		     "*)",
		     "4:51: invalid interface name 'vl*an' (expected 1-15 "
		     "characters of A-Z a-z 0-9 . _ - with an optional trailing "
		     "*)"));
}

/* CR 7.6 */
Test(invalid, iface_two_zones)
{
	expect_file_invalid(
		"iface-two-zones.yaml",
		WANT("6:18: interface 'ent0' of zone 'b' is already in zone 'a'"));
}

/* CR 7.6 */
Test(invalid, iface_wildcard)
{
	expect_file_invalid(
		"iface-wildcard.yaml",
		WANT("6:18: interface 'vlan10' of zone 'b' overlaps 'vlan1*' of "
		     "zone 'a'",
		     "6:26: interface 'vlan*' of zone 'b' overlaps 'vlan1*' of "
		     "zone 'a'",
		     "6:26: interface 'vlan*' of zone 'b' overlaps 'vlan10' of "
		     "zone 'b'"));
}

/* CR 3.5 */
Test(invalid, interfaces_not_seq)
{
	expect_file_invalid(
		"interfaces-not-seq.yaml",
		WANT("4:17: expected a sequence of interface names, found 'a0'"));
}

/* CR 7.6 */
Test(invalid, intra_zone)
{
	expect_file_invalid(
		"intra-zone.yaml",
		WANT("5:17: expected allow or deny, found 'permit'"));
}

/* CR 7.6 */
Test(invalid, management_two)
{
	expect_file_invalid(
		"management-two.yaml",
		WANT("8:17: zone 'b' is marked management but zone 'a' already "
		     "is (expected at most one management zone)"));
}

/* CR 3.5 */
Test(invalid, management_yes)
{
	expect_file_invalid("management-yes.yaml",
			    WANT("5:17: expected true or false, found 'yes'"));
}

/* CR 7.6 */
Test(invalid, network_bad)
{
	expect_file_invalid(
		"network-bad.yaml",
		WANT("4:16: expected a network like 198.18.20.0/24 or "
		     "2001:db8:20::/64, found '198.18.300.0/24'",
		     "4:33: prefix length 33 is out of range for IPv4 (expected "
		     "0..32)",
		     "4:49: expected a network like 198.18.20.0/24 or "
		     "2001:db8:20::/64, found 'fe80::/64x'",
		     "4:63: host bits set in 198.18.20.1/24 (expected 198.18.20.0/24)",
		     "4:79: host bits set in 2001:db8:20::1/64 (expected "
		     "2001:db8:20::/64)"));
}

/* CR 7.6 */
Test(invalid, network_overlap)
{
	expect_file_invalid(
		"network-overlap.yaml",
		WANT("6:16: network 198.18.20.128/25 of zone 'b' overlaps "
		     "198.18.20.0/24 of zone 'a'",
		     "6:34: network 2001:db8::/32 of zone 'b' overlaps "
		     "2001:db8:20::/64 of zone 'a'"));
}

/* CR 7.6 */
Test(invalid, port_on_icmp)
{
	expect_file_invalid(
		"port-on-icmp.yaml",
		WANT("12:24: 'port' is not allowed with proto icmp (use 'type')"));
}

/* CR 7.6 */
Test(invalid, port_out_of_range)
{
	expect_file_invalid(
		"port-out-of-range.yaml",
		WANT("12:34: port 70000 is out of range (expected 1..65535)"));
}

/* CR 7.6 */
Test(invalid, port_overlap)
{
	expect_file_invalid(
		"port-overlap.yaml",
		WANT("12:39: port 443 overlaps 400-500 in the same entry"));
}

/* CR 7.6 */
Test(invalid, port_range_order)
{
	expect_file_invalid(
		"port-range-order.yaml",
		WANT("12:29: port range 20010-20000 is out of order (expected "
		     "low-high, like 20000-20010)"));
}

/* CR 3.5 */
Test(invalid, port_text)
{
	expect_file_invalid(
		"port-text.yaml",
		WANT("12:29: expected a port 1..65535 or a range like "
		     "20000-20010, found 'https'"));
}

/* CR 7.6 */
Test(invalid, port_zero)
{
	expect_file_invalid(
		"port-zero.yaml",
		WANT("12:29: port 0 is not allowed (expected 1..65535)"));
}

/* CR 3.5 */
Test(invalid, proto_missing)
{
	expect_file_invalid(
		"proto-missing.yaml",
		WANT("12:9: missing required key 'proto' in allow entry"));
}

/* CR 7.6 */
Test(invalid, proto_unknown)
{
	expect_file_invalid(
		"proto-unknown.yaml",
		WANT("12:18: expected tcp, udp, sctp, icmp or icmpv6, found 'gre'"));
}

/* CR 7.6 */
Test(invalid, rate_syntax)
{
	expect_file_invalid(
		"rate-syntax.yaml",
		WANT("12:39: expected a rate like 200/second (N/second, "
		     "N/minute, N/hour or N/day), found '200/sec'"));
}

/* CR 7.6 */
Test(invalid, rate_zero)
{
	expect_file_invalid(
		"rate-zero.yaml",
		WANT("12:39: rate 0/second is not allowed (expected at least 1)"));
}

/* CR 7.6 */
Test(invalid, security_level)
{
	expect_file_invalid(
		"security-level.yaml",
		WANT("5:21: expected a security level 1..4, found '5'"));
}

/* CR 7.6 */
Test(invalid, type_on_tcp)
{
	expect_file_invalid(
		"type-on-tcp.yaml",
		WANT("12:23: 'type' is not allowed with proto tcp (only with "
		     "icmp or icmpv6)"));
}

/* CR 3.5 */
Test(invalid, unknown_key_top)
{
	expect_file_invalid(
		"unknown-key-top.yaml",
		WANT("1:1: missing required key 'zones' in policy",
		     "2:1: unknown key 'zone' in policy (expected one of: "
		     "version, zones, conduits)"));
}

/* CR 3.5 */
Test(invalid, unknown_key_zone)
{
	expect_file_invalid(
		"unknown-key-zone.yaml",
		WANT("5:5: unknown key 'level' in zone 'a' (expected one of: "
		     "description, security-level, interfaces, networks, "
		     "management, intra-zone, deny-app-categories)"));
}

/* CR 3.5 */
Test(invalid, version_2)
{
	expect_file_invalid("version-2.yaml",
			    WANT("1:10: unsupported version 2 (expected 1)"));
}

/* CR 3.5 */
Test(invalid, version_missing)
{
	expect_file_invalid(
		"version-missing.yaml",
		WANT("1:1: missing required key 'version' in policy"));
}

/* CR 3.5 */
Test(invalid, version_text)
{
	expect_file_invalid("version-text.yaml",
			    WANT("1:10: expected version 1, found 'one'"));
}

/* CR 3.5 */
Test(invalid, zone_duplicate)
{
	expect_file_invalid(
		"zone-duplicate.yaml",
		WANT("5:3: duplicate zone 'a' (first defined at 3:3)"));
}

/* CR 7.6 */
Test(invalid, zone_name)
{
	expect_file_invalid(
		"zone-name.yaml",
		WANT("3:3: invalid zone name 'Office' (expected 1-32 characters "
		     "of a-z 0-9 _ -, starting with a letter or digit)"));
}

/* CR 7.6 */
Test(invalid, zone_no_members)
{
	expect_file_invalid(
		"zone-no-members.yaml",
		WANT("3:3: zone 'a' has no interfaces or networks (expected at "
		     "least one)"));
}

/* CR 3.5 */
Test(invalid, zone_not_mapping)
{
	expect_file_invalid(
		"zone-not-mapping.yaml",
		WANT("3:3: expected a mapping of settings for zone 'a', found "
		     "an empty value"));
}

/* CR 3.5 */
Test(invalid, zones_empty)
{
	expect_file_invalid(
		"zones-empty.yaml",
		WANT("2:8: expected at least one zone, found an empty mapping"));
}

/* CR 3.5 */
Test(invalid, zones_missing)
{
	expect_file_invalid(
		"zones-missing.yaml",
		WANT("1:1: missing required key 'zones' in policy"));
}

/* --- inline cases -------------------------------------------------------- */

/* CR 7.6 */
Test(inline, burst_zero)
{
	expect_str_invalid(
		ENTRY("{ proto: udp, rate: 5/second, burst: 0 }"),
		WANT("10:46: expected a burst 1..4294967295, found '0'"));
}

/* CR 7.6 */
Test(inline, icmpv6_with_ipv4_host)
{
	expect_str_invalid(
		ENTRY("{ proto: icmpv6, from-hosts: [198.18.10.1] }"),
		WANT("10:39: proto icmpv6 is IPv6 only, found IPv4 host "
		     "198.18.10.1 (use icmp)"));
}

/* CR 3.5 */
Test(inline, allow_entry_not_a_mapping)
{
	expect_str_invalid(
		ENTRY("tcp"),
		WANT("10:9: expected a mapping for an allow entry, found 'tcp'"));
}

/* CR 3.5 */
Test(inline, conduit_not_a_mapping)
{
	expect_str_invalid(
		TWO_ZONES "conduits:\n  - [a, b]\n",
		WANT("6:5: expected a mapping for a conduit, found a sequence"));
}

/* CR 3.5 */
Test(inline, proto_not_a_scalar)
{
	expect_str_invalid(
		ENTRY("{ proto: [tcp, udp] }"),
		WANT("10:18: expected a protocol, found a sequence"));
}

/* CR 7.6 */
Test(inline, empty_port_list)
{
	expect_str_invalid(
		ENTRY("{ proto: tcp, port: [] }"),
		WANT("10:29: expected at least one port, found an empty "
		     "sequence"));
}

/* CR 7.6 */
Test(inline, port_mapping)
{
	expect_str_invalid(
		ENTRY("{ proto: tcp, port: {lo: 1} }"),
		WANT("10:29: expected a port 1..65535 or a range like "
		     "20000-20010 or a sequence of them, found a mapping"));
}

/* CR 7.6 */
Test(inline, port_range_with_zero_and_junk)
{
	expect_str_invalid(
		ENTRY("{ proto: tcp, port: [0-10, 1-2-3, -5, 99999999999999999999] }"),
		WANT("10:30: port 0 is not allowed (expected 1..65535)",
		     "10:36: expected a port 1..65535 or a range like "
		     "20000-20010, found '1-2-3'",
		     "10:43: expected a port 1..65535 or a range like "
		     "20000-20010, found '-5'",
		     "10:47: expected a port 1..65535 or a range like "
		     "20000-20010, found '99999999999999999999'"));
}

/* CR 7.6 */
Test(inline, duplicate_port)
{
	expect_str_invalid(
		ENTRY("{ proto: tcp, port: [443, 22, 443] }"),
		WANT("10:39: port 443 overlaps 443 in the same entry"));
}

/* CR 7.6 */
Test(inline, networks_overlap_inside_one_zone)
{
	expect_str_invalid(
		"version: 1\nzones:\n"
		"  a: {networks: [198.18.0.0/16, 198.18.7.0/24]}\n",
		WANT("3:33: network 198.18.7.0/24 of zone 'a' overlaps "
		     "198.18.0.0/16 of zone 'a'"));
}

/* CR 7.6 */
Test(inline, same_wildcard_in_two_zones)
{
	expect_str_invalid(
		"version: 1\nzones:\n"
		"  a: {interfaces: ['eth*']}\n"
		"  b: {interfaces: ['eth*']}\n",
		WANT("4:20: interface 'eth*' of zone 'b' overlaps 'eth*' of "
		     "zone 'a'"));
}

/* CR 7.6 */
Test(inline, prefix_syntax)
{
	expect_str_invalid(
		"version: 1\nzones:\n"
		"  a: {networks: [198.18.0.0/016, 198.18.0.0/, /8, "
		"'2001:db8::/129', [x]]}\n",
		WANT("3:18: expected a network like 198.18.20.0/24 or "
		     "2001:db8:20::/64, found '198.18.0.0/016'",
		     "3:34: expected a network like 198.18.20.0/24 or "
		     "2001:db8:20::/64, found '198.18.0.0/'",
		     "3:47: expected a network like 198.18.20.0/24 or "
		     "2001:db8:20::/64, found '/8'",
		     "3:51: prefix length 129 is out of range for IPv6 "
		     "(expected 0..128)",
		     "3:69: expected a network like 198.18.20.0/24 or "
		     "2001:db8:20::/64, found a sequence"));
}

/* CR 3.5 */
Test(inline, description_not_a_string)
{
	expect_str_invalid(
		"version: 1\nzones:\n"
		"  a: {interfaces: [a0], description: [x]}\n",
		WANT("3:38: expected a description, found a sequence"));
}

/* CR 7.6 */
Test(inline, names_too_long)
{
	expect_str_invalid(
		"version: 1\nzones:\n"
		"  abcdefghijklmnopqrstuvwxyz0123456: {interfaces: [a0]}\n",
		WANT("3:3: invalid zone name 'abcdefghijklmnopqrstuvwxyz0123456' "
		     "(expected 1-32 characters of a-z 0-9 _ -, starting with a "
		     "letter or digit)"));
	expect_str_invalid(
		"version: 1\nzones:\n  -a: {interfaces: [a0]}\n",
		WANT("3:3: invalid zone name '-a' (expected 1-32 characters of "
		     "a-z 0-9 _ -, starting with a letter or digit)"));
}

/* CR 3.5 */
Test(inline, key_not_a_scalar)
{
	expect_str_invalid(
		"version: 1\n? [zones]\n: x\nzones:\n  a: {interfaces: [a0]}\n",
		WANT("2:3: expected a key name, found a sequence"));
}

/* CR 3.5 */
Test(inline, version_not_a_scalar)
{
	expect_str_invalid("version: [1]\nzones:\n  a: {interfaces: [a0]}\n",
			   WANT("1:10: expected version 1, found a sequence"));
}

/* CR 7.6 */
Test(inline, security_level_zero)
{
	expect_str_invalid(
		"version: 1\nzones:\n"
		"  a: {interfaces: [a0], security-level: 0}\n",
		WANT("3:41: expected a security level 1..4, found '0'"));
}

/* CR 7.6 */
Test(inline, log_not_a_bool)
{
	expect_str_invalid(
		TWO_ZONES
		"conduits:\n"
		"  - {name: x, from: a, to: b, log: 1, allow: [{proto: tcp}]}\n",
		WANT("6:36: expected true or false, found '1'"));
}

/* CR 7.6 */
Test(inline, unknown_zone_in_from_and_to)
{
	expect_str_invalid(
		TWO_ZONES
		"conduits:\n"
		"  - {name: x, from: c, to: d, allow: [{proto: tcp}]}\n",
		WANT("6:21: unknown zone 'c' (expected one of: a, b)",
		     "6:28: unknown zone 'd' (expected one of: a, b)"));
}

/* CR 7.6 */
Test(inline, icmp_type_number_out_of_range)
{
	expect_str_invalid(
		ENTRY("{ proto: icmp, type: 256 }"),
		WANT("10:30: expected an icmp type name like echo-request or a "
		     "number 0..255, found '256'"));
}

/* CR 7.6 */
Test(inline, icmpv6_name_on_icmp)
{
	expect_str_invalid(
		ENTRY("{ proto: icmp, type: nd-neighbor-solicit }"),
		WANT("10:30: expected an icmp type name like echo-request or a "
		     "number 0..255, found 'nd-neighbor-solicit'"));
}

/* CR 7.6 */
Test(inline, rate_units_and_overflow)
{
	expect_str_invalid(
		ENTRY("{ proto: udp, rate: 4294967296/second }"),
		WANT("10:29: expected a rate like 200/second (N/second, "
		     "N/minute, N/hour or N/day), found '4294967296/second'"));
	expect_str_invalid(
		ENTRY("{ proto: udp, rate: 5/week }"),
		WANT("10:29: expected a rate like 200/second (N/second, "
		     "N/minute, N/hour or N/day), found '5/week'"));
}

/* CR 7.6 */
Test(valid, mixed_families_that_can_match)
{
	struct pol_policy *p;

	/* Mixed lists: the IPv6 part of from-hosts meets to-hosts. */
	p = load_ok(
		ENTRY("{ proto: tcp, port: 22, from-hosts: [198.18.10.0/28, "
		      "2001:db8:10::/64], to-hosts: [2001:db8:20::5] }"));
	cr_expect_eq(p->conduits[0].allow[0].n_from_hosts, 2);
	policy_free(p);
	/* One side only is fine, and so is any family on icmp without hosts. */
	p = load_ok(ENTRY("{ proto: udp, to-hosts: [2001:db8:20::5] }"));
	policy_free(p);
}

/* CR 7.6 */
Test(valid, boundaries_accepted)
{
	struct pol_policy *p = load_ok(
		"version: 1\nzones:\n"
		"  abcdefghijklmnopqrstuvwxyz012345: {interfaces: [abcdefghijklmn0, 'x*']}\n"
		"  b: {networks: [0.0.0.0/0]}\n"
		"  c: {networks: ['::/0']}\n"
		"conduits:\n"
		"  - name: b-to-c\n    from: b\n    to: c\n    allow:\n"
		"      - {proto: tcp, port: [1, 65535, 2-65534]}\n"
		"      - {proto: udp, rate: 4294967295/day, burst: 4294967295}\n"
		"      - {proto: icmp, type: 255}\n"
		"      - {proto: icmpv6, type: 0}\n");
	const struct pol_service *s = p->conduits[0].allow;

	cr_expect_str_eq(p->zones[0].ifaces[0].name, "abcdefghijklmn0");
	cr_expect_eq(p->zones[1].nets[0].len, 0);
	cr_expect_eq(s[0].ports[1].lo, 65535);
	cr_expect_eq(s[0].ports[2].hi, 65534);
	cr_expect_eq(s[1].rate.count, 4294967295u);
	cr_expect_eq(s[1].rate.unit, POL_RATE_DAY);
	cr_expect_eq(s[2].icmp_type, 255);
	cr_expect_eq(s[3].icmp_type, 0);
	policy_free(p);
}

/* CR 3.5 */
Test(inline, invalid_names_are_quoted_printably)
{
	/* \e is ESC: it must not reach a terminal through a message. */
	expect_str_invalid(
		"version: 1\nzones:\n  \"caf\\u00e9\\e\": {}\n",
		WANT("3:3: invalid zone name 'caf\xc3\xa9?' (expected 1-32 "
		     "characters of a-z 0-9 _ -, starting with a letter or "
		     "digit)",
		     "3:3: zone 'caf\xc3\xa9?' has no interfaces or networks "
		     "(expected at least one)"));
}

/* CR 3.5 */
Test(inline, long_values_are_cut_on_a_character_boundary)
{
	char text[256], want[256], e19[64] = "";

	for (int i = 0; i < 19; i++)
		strcat(e19, "\xc3\xa9");
	snprintf(text, sizeof(text),
		 "version: 1\nzones:\n  a: {interfaces: "
		 "[a0], security-level: x%s\xc3\xa9\xc3\xa9}\n",
		 e19);
	snprintf(want, sizeof(want),
		 "3:41: expected a security level 1..4, "
		 "found 'x%s...'",
		 e19);
	expect_str_invalid(text, WANT(want));
}
