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
# The namespace's inode number names the lock. /proc/self/fdinfo shows it ("ino:") for an
# open file since Linux 5.14, read here by the shell itself; readlink(1) before that.
ns=
{ while IFS=' 	' read -r key value; do
    [ "$key" = "ino:" ] && ns=$value
  done < /proc/self/fdinfo/8; } 2>/dev/null 8< /proc/self/ns/net
if [ -z "$ns" ]; then
  ns=$(readlink /proc/self/ns/net 2>/dev/null)  # "net:[4026531840]"
  ns=${ns#net:\[}
  ns=${ns%\]}
fi
case $ns in *[!0-9]*) ns=$(printf '%s' "$ns" | tr -cd '0-9') ;; esac
lock="/run/irtui-change${ns:+-$ns}.lock"
exec 9>>"$lock" || exit 73
# The holder writes who it is; the file's mtime says since when (no date(1) per change:
# this runs for every change on every host, and a busy host is the rare case).
# A change clears its name when it ends (still holding the lock), so an empty file held
# means a holder that is not an irtui change.
holder() {
  name=$(cat "$lock")
  if [ -n "$name" ]; then
    printf 'another irtui change is running (%s (since %s))' "$name" \
      "$(date -u -r "$lock" +%Y-%m-%dT%H:%M:%SZ)"
  else
    printf 'a process that is not an irtui change holds %s (lslocks names it)' "$lock"
  fi
}
held=yes
if flock -n 9; then
  printf '%s\n' "$who" > "$lock"
elif flock -w "$wait" 9; then
  # Say so, which also proves that whoever asked still reads us: when the session was cut
  # while this waited, writing fails (SIGPIPE, or EPIPE here) and the change never starts
  # behind irtui's back, long after it reported the outcome unknown. Not for "run": the
  # rollback timer has no reader, and its rollback must run.
  if [ "$mode" = fail ]; then
    echo "waited for the irtui change lock (another change had it)" >&2 || exit 74
  fi
  printf '%s\n' "$who" > "$lock"
elif [ "$mode" = run ]; then
  echo "irtui change lock still held after $wait s ($(holder)); running anyway" >&2
  held=no
else
  echo "host busy: $(holder); waited $wait s" >&2
  exit 75
fi
"$@" 9>&-
status=$?
[ "$held" = yes ] && : > "$lock"
exit "$status"
