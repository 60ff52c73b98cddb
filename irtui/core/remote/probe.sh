#!/bin/sh
# Preflight probe (read-only): which firewall tools exist, who holds the rules (and where
# irtui's own tables, chains and sets are), the host's addresses, default routes and
# resolvers, and the SSH session it sees.
# $1 the login shell's $SSH_CONNECTION (sudo resets the environment, so it is passed on).
# It runs on every first contact with a host (and again after a reconnection), so it stays
# cheap: shell built-ins where they give the same output, and the iptables dumps and
# systemctl only where there is something for them to find.
session=$1
set -f
echo '### which'
have_ipset=no
for b in nft iptables-nft ip6tables-nft iptables-legacy ip6tables-legacy ipset conntrack; do
  # like `command -v`, without a subshell per tool: the first executable in $PATH
  IFS=:
  for d in $PATH; do
    if [ -n "$d" ] && [ -f "$d/$b" ] && [ -x "$d/$b" ]; then
      echo "$b $d/$b"
      [ "$b" = ipset ] && have_ipset=yes
      break
    fi
  done
  unset IFS
done
# dash's `read` reports failure on some /proc files it did read: test the value instead.
first_line() { line=; read -r line 2>/dev/null < "$1"; [ -n "$line" ]; }
# "### NAME-rules" (the -A rule count) and "### NAME-chains" (chain names, sorted, once)
# of the iptables-save text $2.
rules_and_chains() {
  echo "### $1-rules"
  if [ -z "$2" ]; then
    echo 0
    echo "### $1-chains"
    return
  fi
  printf '%s\n' "$2" | grep -c '^-A'
  echo "### $1-chains"
  printf '%s\n' "$2" | sed -n 's/^:\([^ ]*\) .*/\1/p' | sort -u
}
echo '### nft-tables'
nft_ok=yes
# The tables as `nft list tables` prints them, from the terse ruleset (-t: no set elements,
# nft(8)): nftables 1.0.6 (Debian 12) fetches every set element for `list tables`, half a
# second on a host holding 100,000 blocks; the terse listing takes milliseconds. Its table
# lines are picked by the shell (no process) unless it is long (thousands of rules), where
# sed is faster. An nft that refuses -t still lists its tables the old way.
tables=
if ruleset=$(nft -t list ruleset 2>/dev/null); then
  if [ "${#ruleset}" -gt 65536 ]; then
    tables=$(printf '%s\n' "$ruleset" | sed -n 's/^\(table .*\) {$/\1/p')
  else
    while IFS= read -r line; do
      case $line in
        "table "*" {") tables="$tables${tables:+
}${line% \{}" ;;
      esac
    done <<EOF
$ruleset
EOF
  fi
elif ! tables=$(nft list tables 2>/dev/null); then
  nft_ok=no
fi
[ -n "$tables" ] && echo "$tables"
# Whole-table saves list only tables that exist (a legacy `-t raw` read would create one).
# Chain names show whose rules these are (irtui's IRTUI-* chains: irtui's own state).
# iptables-legacy-save dumps only the tables the kernel lists in these files (empty: none).
legacy=
if first_line /proc/net/ip_tables_names || first_line /proc/net/ip6_tables_names; then
  legacy=$({ iptables-legacy-save; ip6tables-legacy-save; } 2>/dev/null)
fi
# iptables-nft keeps its rules in nftables tables of family ip/ip6: none listed, none there.
xt=
case "$nft_ok:$tables" in
  yes:*"table ip "*|yes:*"table ip6 "*|no:*)
    xt=$({ iptables-nft-save; ip6tables-nft-save; } 2>/dev/null) ;;
esac
rules_and_chains legacy "$legacy"
rules_and_chains xt "$xt"
echo '### ipsets'
[ "$have_ipset" = yes ] && ipset list -n 2>/dev/null
echo '### services'
# systemctl answers only where systemd runs (sd_booted(3): /run/systemd/system exists).
if [ -d /run/systemd/system ]; then
  for s in firewalld ufw; do
    st=$(systemctl is-active "$s" 2>/dev/null) && echo "$s $st"
  done
fi
# The addresses and the default routes of every table and family (IPv4 and IPv6, policy
# routing and VRF tables too) from one ip(8) process: one JSON document per line.
echo '### ip'
ip -j -force -batch - 2>/dev/null <<'IRTUI_IP'
addr show
route show table all default
IRTUI_IP
echo
echo '### resolv'
# grep '^nameserver' without a process (the last line may lack its newline)
if [ -r /etc/resolv.conf ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in nameserver*) printf '%s\n' "$line" ;; esac
  done < /etc/resolv.conf
fi
echo '### ssh'
echo "$session"
echo '### ipv6-disabled'
first_line /proc/sys/net/ipv6/conf/all/disable_ipv6 && echo "$line"
echo '### end'
