#!/bin/sh
# Arm the commit-confirmed rollback (Junos "commit confirmed"; iptables-apply(8)).
# $1 seconds until the rollback fires, $2 path prefix of the timer's files (under /run/irtui),
# $3 this arming's token (only a disarm naming it stops the timer), $4 the backend's rollback
# script (a file shipped with irtui), $5... its arguments.
# The timer runs in its own session (setsid(1)) with its output on /dev/null and SIGHUP
# ignored from birth (an ignored signal stays ignored across fork and exec), so neither the
# SSH channel closing, sshd dying, nor irtui exiting can stop it.
# Its pid file ("PID DEADLINE TOKEN") appears at once and complete (ln(1) is atomic and
# fails when the file exists), so two irtui runs can never both arm: the second one stops
# its own timer and exits 3. When the timer wakes it takes the pid file by rename(2); a
# disarm takes it the same way, so exactly one of them wins.
umask 077
seconds=$1 prefix=$2 token=$3 undo=$4
shift 4
mkdir -p "${prefix%/*}" || exit 1
# shellcheck disable=SC2016  # expanded by the timer's own shell
timer='seconds=$1 prefix=$2 undo=$3; shift 3
sleep "$seconds"
mv "$prefix.pid" "$prefix.firing" 2>/dev/null || exit 0
sh -c "$undo" irtui-undo "$@"
echo "rolled back at $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$prefix.log"
rm -f "$prefix.firing"'
deadline=$(( $(date +%s) + seconds ))
trap '' HUP
setsid sh -c "$timer" irtui-rollback "$seconds" "$prefix" "$undo" "$@" \
  </dev/null >/dev/null 2>&1 &
pid=$!
echo "$pid $deadline $token" > "$prefix.new.$pid"
armed() { ln "$prefix.new.$pid" "$prefix.pid" 2>/dev/null; }
if ! armed; then
  read -r other when _ 2>/dev/null < "$prefix.pid"
  if [ -n "$other" ] && kill -0 "$other" 2>/dev/null; then
    kill "$pid"; wait "$pid" 2>/dev/null; rm -f "$prefix.new.$pid"
    case $when in
      '' | *[!0-9]*) echo "a rollback timer is already armed (pid $other)" >&2 ;;
      *) echo "a rollback timer is already armed (pid $other, fires in" \
           "$((when - $(date +%s))) s)" >&2 ;;
    esac
    exit 3
  fi
  rm -f "$prefix.pid"  # stale: its timer is gone (killed outside irtui)
  if ! armed; then
    kill "$pid"; wait "$pid" 2>/dev/null; rm -f "$prefix.new.$pid"
    echo "a rollback timer is already armed" >&2; exit 3
  fi
fi
rm -f "$prefix.new.$pid" "$prefix.log"
echo "rollback armed: pid $pid fires at $deadline (in $seconds s)"
