#!/bin/sh
# Read irtui's ipsets and the raw table of both families (read-only; exits 0 on a host where
# irtui never ran). Every section starts with a "### irtui " line; an absent set prints
# nothing. Reading a legacy table that does not exist would create it, so legacy tables are
# read only when /proc/net/ip{,6}_tables_names lists them.
# $1 legacy (1 or 0), $2 iptables-save, $3 ip6tables-save, $4 iptables-restore,
# $5 ip6tables-restore, $6 IPv4 set name, $7 IPv6 set name (binaries per variant).
legacy=$1 save4=$2 save6=$3 restore4=$4 restore6=$5 set4=$6 set6=$7
echo '### irtui read'
for b in ipset "$save4" "$save6" "$restore4" "$restore6"; do
  command -v "$b" >/dev/null 2>&1 || echo "### irtui missing $b"
done
[ -e /proc/net/if_inet6 ] || echo '### irtui no-ipv6'
echo '### irtui ipset 4'
ipset save "$set4" 2>/dev/null
echo '### irtui ipset 6'
ipset save "$set6" 2>/dev/null
raw() {  # $1 save binary, $2 /proc/net file listing the legacy tables
  if [ "$legacy" = 1 ]; then grep -qx raw "/proc/net/$2" 2>/dev/null || return 0; fi
  "$1" -t raw
}
echo '### irtui raw 4'
raw "$save4" ip_tables_names
echo '### irtui raw 6'
raw "$save6" ip6_tables_names
echo '### irtui end'
exit 0
