#!/bin/sh
# Cut the existing flows of blocked entries (conntrack(8) -D -s/-d; CIDRs accepted since
# conntrack-tools 1.4.6). stdin: one entry per line, a bare address or a CIDR, each rendered
# by irtui from a normalised ipaddress value. Lists the conntrack table once and deletes the
# flows of every prefix and of every single address that has flows.
# Prints "flows cut: N".
# No tracked flow at all (nothing hooks conntrack in this network namespace, or its table is
# empty): nothing to cut, and none of the work below. The kernel's own count comes first
# (nf_conntrack_count, see proc_sys_net_netfilter(5)): no listing at all when it says 0.
count=
read -r count 2>/dev/null < /proc/sys/net/netfilter/nf_conntrack_count
listing=
[ "$count" = 0 ] || listing=$(conntrack -L 2>/dev/null)
if [ -z "$listing" ]; then
  # Take the input all the same, so the sender never blocks on it: a few lines with the
  # shell's read (a block's one entry costs no process), a feed's with cat.
  n=0
  while IFS= read -r _; do
    n=$((n + 1))
    if [ "$n" -ge 64 ]; then cat > /dev/null; break; fi
  done
  echo "flows cut: 0"
  exit 0
fi
entries=$(mktemp) || exit 1
flows=$(mktemp) || exit 1
trap 'rm -f "$entries" "$flows"' EXIT
cat > "$entries"
printf '%s\n' "$listing" | tr ' ' '\n' | sed -n 's/^\(src\|dst\)=//p' | sort -u > "$flows"
n=0
for net in $(grep '/' "$entries"; grep -v '/' "$entries" | grep -Fx -f "$flows"); do
  for dir in -s -d; do
    c=$(conntrack -D "$dir" "$net" 2>&1 | sed -n 's/.* \([0-9][0-9]*\) flow entr.*/\1/p')
    n=$((n + ${c:-0}))
  done
done
echo "flows cut: $n"
