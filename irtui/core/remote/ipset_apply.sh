#!/bin/sh
# Rebuild irtui's ipsets atomically (ipset(8)). $1 maxelem, then per family four words:
# IP version, live set, temp set, ipset family (inet/inet6).
# stdin: change lines for the temp sets ("add <temp> NET timeout N", "del <temp> NET").
# For each family: ensure the live set, copy its entries (with their remaining timeouts)
# into a new temp set, apply the changes, all in one `ipset -exist restore` (-exist: an add
# of a present entry updates its timeout, a del of an absent one is ignored), then
# `ipset swap` (atomic) and destroy the old content. Any failure before the swap leaves the
# live set untouched; the temp set is removed. An add never shortens an entry's time left.
maxelem=$1
shift
d=$(mktemp -d) || exit 1
temps="" swaps=""
cleanup() {
  rc=$?
  rm -rf "$d"
  for t in $temps; do ipset destroy "$t" 2>/dev/null || :; done
  exit "$rc"
}
trap cleanup EXIT
set -e
: > "$d/restore"
while [ $# -ge 4 ]; do
  v=$1 live=$2 temp=$3 fam=$4
  shift 4
  temps="$temps $temp" swaps="$swaps $live:$temp"
  ipset -exist create "$live" hash:net family "$fam" timeout 0 maxelem "$maxelem"
  ipset destroy "$temp" 2>/dev/null || :
  ipset save "$live" > "$d/saved$v"
  # timeout 0 at create: entries carry their own timeout, the default is permanent.
  echo "create $temp hash:net family $fam timeout 0 maxelem $maxelem" >> "$d/restore"
  # a nomatch exception (never irtui's own: added by hand) would let traffic inside a
  # blocked prefix through; the rebuild drops it
  sed -n "/ nomatch\( \|\$\)/d; s/^add $live /add $temp /p" "$d/saved$v" >> "$d/restore"
done
# A block never shortens an entry already there (a colleague's permanent or longer block
# must not lift early): an add whose entry the live set holds with a longer time left, or
# permanently (timeout 0), keeps the copy. irtui plans that too, but a run started
# meanwhile may have added the entry after this plan read the host.
{ cat "$d"/saved*; echo "# irtui changes"; cat; } | awk '
  !changes { if ($0 == "# irtui changes") changes = 1
             else if ($1 == "add" && $4 == "timeout") left[$3] = $5
             next }
  $1 == "add" && ($3 in left) && $4 == "timeout" && $5 != 0 \
    && (left[$3] == 0 || left[$3] + 0 > $5 + 0) { next }
  { print }
' >> "$d/restore"
ipset -exist restore < "$d/restore"
for pair in $swaps; do
  ipset swap "${pair%%:*}" "${pair#*:}"
  ipset destroy "${pair#*:}"
done
