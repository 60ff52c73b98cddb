#!/bin/sh
# Apply raw-table changes for one or both families (iptables-restore(8)).
# $1 seconds to wait for the xtables lock (0: no -w; the nft tools take no lock), then per
# family three words: IP version, X-restore binary, X-save binary.
# stdin: one `X-restore --noflush` input per family, each after a "# irtui family 4|6" line.
# All inputs are checked with --test first; then each is committed, in argument order. A
# restore commits its table as a whole, so a failing input leaves its table as it was; if a
# later family fails, the raw tables already committed are put back from `X-save -t raw`
# copies taken just before. One command for both families matters for isolation: the first
# family applied may cut the SSH session that would have carried the second.
# A line "# irtui head CHAIN TARGET" in an input stands for: one jump to TARGET, at the head
# of CHAIN. It is expanded from the raw table as it is now (under the host lock: see
# host_lock.sh), into a delete of each such jump present and one insert at position 1, so
# a change planned from an older state (another irtui changed the host meanwhile) can
# neither fail on a jump already gone nor leave two.
wait=$1
shift
families="$*"
d=$(mktemp -d) || exit 1
w() { if [ "$wait" -gt 0 ]; then echo "-w $wait"; fi; }
heads() {  # $1 input, $2 the raw table now (X-save -t raw)
  awk -v now="$2" 'BEGIN { while ((getline line < now) > 0) n[line]++ }
    $1 == "#" && $2 == "irtui" && $3 == "head" {
      for (i = 0; i < n["-A " $4 " -j " $5]; i++) print "-D " $4 " -j " $5
      print "-I " $4 " 1 -j " $5; next }
    { print }' "$1"
}
apply() {
  awk -v d="$d" '/^# irtui family [46]$/ { f = d "/" $4; next } f != "" { print > f }' \
    || return 1
  # shellcheck disable=SC2086  # families: words irtui chose, no spaces inside
  set -- $families
  while [ $# -ge 3 ]; do
    "$3" -t raw > "$d/$1.before" || return 1
    heads "$d/$1" "$d/$1.before" > "$d/$1.in" || return 1
    mv "$d/$1.in" "$d/$1"
    # shellcheck disable=SC2046
    "$2" $(w) --test --noflush "$d/$1" || return 1
    shift 3
  done
  done_list=""
  # shellcheck disable=SC2086
  set -- $families
  while [ $# -ge 3 ]; do
    # shellcheck disable=SC2046
    "$2" $(w) --noflush "$d/$1"
    rc=$?
    if [ "$rc" -ne 0 ]; then
      for undo in $done_list; do
        # shellcheck disable=SC2046
        "${undo#*:}" $(w) -T raw "$d/${undo%%:*}.before"
      done
      return "$rc"
    fi
    done_list="$done_list $1:$2"
    shift 3
  done
}
apply
rc=$?
rm -rf "$d"
exit "$rc"
