#!/bin/sh
# Preflight probe (read-only): which firewall tools exist, who holds the rules, the
# host's addresses, default routes and resolvers, and the SSH session it sees.
# $1 the login shell's $SSH_CONNECTION (sudo resets the environment, so it is passed on).
echo '### which'
for b in nft iptables-nft ip6tables-nft iptables-legacy ip6tables-legacy ipset conntrack; do
  p=$(command -v "$b" 2>/dev/null) && echo "$b $p"
done
echo '### nft-tables'
nft list tables 2>/dev/null
echo '### legacy-rules'
{ iptables-legacy-save 2>/dev/null; ip6tables-legacy-save 2>/dev/null; } | grep -c '^-A'
echo '### xt-rules'
{ iptables-nft-save 2>/dev/null; ip6tables-nft-save 2>/dev/null; } | grep -c '^-A'
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
