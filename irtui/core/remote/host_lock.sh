#!/bin/sh
# Run one firewall change holding the host's irtui change lock (flock(1)), so two irtui
# processes or two responders never change a host at once. $1 seconds to wait, $2 "fail"
# (still busy: exit 75, EX_TEMPFAIL in sysexits.h) or "run" (run anyway: the rollback
# timer must never be stopped by a stuck lock), $3 who asks, then the command and its
# arguments; stdin goes to the command. The lock guards this network namespace's firewall,
# so its file is named after the namespace (namespaces sharing /run do not block each
# other). The command does not inherit the lock: a timer it starts holds nothing.
wait=$1 mode=$2 who=$3
shift 3
command -v flock >/dev/null 2>&1 || {
  echo "flock(1) is not installed on the host: install util-linux" >&2; exit 69; }
ns=$(readlink /proc/self/ns/net 2>/dev/null)  # "net:[4026531840]": its digits name the lock
ns=${ns#net:\[}
ns=${ns%\]}
case $ns in *[!0-9]*) ns=$(printf '%s' "$ns" | tr -cd '0-9') ;; esac
lock="/run/irtui-change${ns:+-$ns}.lock"
exec 9>>"$lock" || exit 73
if flock -w "$wait" 9; then
  printf '%s (since %s)\n' "$who" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$lock"
elif [ "$mode" = run ]; then
  echo "irtui change lock still held after $wait s ($(cat "$lock")); running anyway" >&2
else
  echo "host busy: another irtui change is running ($(cat "$lock")); waited $wait s" >&2
  exit 75
fi
"$@" 9>&-
