#!/bin/sh
# Arm the commit-confirmed rollback (Junos "commit confirmed"; iptables-apply(8)).
# $1 seconds until the rollback fires, $2 path prefix of the timer's files (under /run),
# $3 the backend's rollback script (a file shipped with irtui), $4... its arguments.
# The timer runs in its own session (setsid(1)), so neither the SSH channel closing nor
# irtui exiting can stop it. Exit 3: a timer is already armed.
umask 077
seconds=$1 prefix=$2 undo=$3
shift 3
if [ -f "$prefix.pid" ] && kill -0 "$(cat "$prefix.pid")" 2>/dev/null; then
  echo "a rollback timer is already armed (pid $(cat "$prefix.pid"))" >&2; exit 3
fi
rm -f "$prefix.log" "$prefix.firing"
deadline=$(( $(date +%s) + seconds ))
# shellcheck disable=SC2016  # expanded by the timer's own shell
timer='seconds=$1 prefix=$2 undo=$3; shift 3
sleep "$seconds"; trap "" TERM; : > "$prefix.firing"
sh -c "$undo" irtui-undo "$@"
echo "rolled back at $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$prefix.log"
rm -f "$prefix.pid" "$prefix.deadline" "$prefix.firing"'
setsid sh -c "$timer" irtui-rollback "$seconds" "$prefix" "$undo" "$@" \
  </dev/null >/dev/null 2>&1 &
echo $! > "$prefix.pid"
echo "$deadline" > "$prefix.deadline"
echo "rollback armed: pid $! fires in $seconds s"
