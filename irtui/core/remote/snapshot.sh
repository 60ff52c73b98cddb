#!/bin/sh
# Dump every firewall ruleset of the host (read-only), for the record before isolation.
echo '### nft list ruleset'; nft list ruleset 2>/dev/null
echo '### iptables-save'; iptables-save 2>/dev/null
echo '### ip6tables-save'; ip6tables-save 2>/dev/null
echo '### ipset save'; ipset save 2>/dev/null
true
