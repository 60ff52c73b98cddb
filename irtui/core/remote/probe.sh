#!/bin/sh
# Preflight probe (read-only): which firewall tools exist, who holds the rules (and where
# irtui's own tables, chains and sets are), the host's addresses, default routes and
# resolvers, and the SSH session it sees.
# $1 the login shell's $SSH_CONNECTION (sudo resets the environment, so it is passed on).
echo '### which'
for b in nft iptables-nft ip6tables-nft iptables-legacy ip6tables-legacy ipset conntrack; do
  p=$(command -v "$b" 2>/dev/null) && echo "$b $p"
done
echo '### nft-tables'
nft list tables 2>/dev/null
# Whole-table saves list only tables that exist (a legacy `-t raw` read would create one).
# Chain names show whose rules these are (irtui's IRTUI-* chains: irtui's own state).
legacy=$({ iptables-legacy-save; ip6tables-legacy-save; } 2>/dev/null)
xt=$({ iptables-nft-save; ip6tables-nft-save; } 2>/dev/null)
echo '### legacy-rules'
printf '%s\n' "$legacy" | grep -c '^-A'
echo '### legacy-chains'
printf '%s\n' "$legacy" | sed -n 's/^:\([^ ]*\) .*/\1/p' | sort -u
echo '### xt-rules'
printf '%s\n' "$xt" | grep -c '^-A'
echo '### xt-chains'
printf '%s\n' "$xt" | sed -n 's/^:\([^ ]*\) .*/\1/p' | sort -u
echo '### ipsets'
ipset list -n 2>/dev/null
echo '### services'
for s in firewalld ufw; do
  st=$(systemctl is-active "$s" 2>/dev/null) && echo "$s $st"
done
echo '### addr'
ip -j addr show 2>/dev/null
echo
echo '### route'
ip -j route show default 2>/dev/null
echo
ip -j -6 route show default 2>/dev/null
echo
echo '### resolv'
grep '^nameserver' /etc/resolv.conf 2>/dev/null
echo '### ssh'
echo "$1"
echo '### ipv6-disabled'
cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null
echo '### end'
