#!/bin/sh
# Remove irtui's iptables isolation (commit-confirmed rollback and release fallback).
# $1 legacy (1 or 0), $2 seconds to wait for the xtables lock (0: none), $3 iptables,
# $4 ip6tables, $5 iptables-save, $6 ip6tables-save, $7 iptables-restore,
# $8 ip6tables-restore, $9 isolation input chain, $10 isolation output chain.
# Per family: one `X-save -t raw`, then one `X-restore --noflush` deleting exactly the
# isolation jumps and chains found there (fast and atomic per family: a slow rollback would
# race the responder's confirmation). Should that restore fail, single iptables -D/-F/-X
# calls follow, ignoring "does not exist". Legacy tables are touched only when they exist.
# Always exits 0; safe when no isolation exists.
legacy=$1 wait=$2 in_chain=$9 out_chain=${10}
w() { if [ "$wait" -gt 0 ]; then echo "-w $wait"; fi; }
for f in 4 6; do
  if [ "$f" = 4 ]; then t=$3 s=$5 r=$7 p=ip_tables_names
  else t=$4 s=$6 r=$8 p=ip6_tables_names; fi
  if [ "$legacy" = 1 ]; then grep -qx raw "/proc/net/$p" 2>/dev/null || continue; fi
  { command -v "$s" && command -v "$r"; } >/dev/null 2>&1 || continue
  lines=$("$s" -t raw 2>/dev/null | awk -v in_c="$in_chain" -v out_c="$out_chain" '
    $0 == "-A PREROUTING -j " in_c { print "-D PREROUTING -j " in_c }
    $0 == "-A OUTPUT -j " out_c { print "-D OUTPUT -j " out_c }
    $1 == ":" in_c || $1 == ":" out_c { c = c " " substr($1, 2) }
    END { n = split(c, a, " "); for (i = 1; i <= n; i++) print "-F " a[i]
          for (i = 1; i <= n; i++) print "-X " a[i] }')
  [ -n "$lines" ] || continue
  # shellcheck disable=SC2046
  printf '*raw\n%s\nCOMMIT\n' "$lines" | "$r" $(w) --noflush 2>/dev/null && continue
  for pair in "PREROUTING $in_chain" "OUTPUT $out_chain"; do
    n=0
    # shellcheck disable=SC2046,SC2086
    while [ "$n" -lt 100 ] && "$t" $(w) -t raw -D ${pair% *} -j "${pair#* }" 2>/dev/null; do
      n=$((n + 1))
    done
  done
  for c in "$in_chain" "$out_chain"; do
    # shellcheck disable=SC2046
    "$t" $(w) -t raw -F "$c" 2>/dev/null
    # shellcheck disable=SC2046
    "$t" $(w) -t raw -X "$c" 2>/dev/null
  done
done
true
