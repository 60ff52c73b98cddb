#!/bin/sh
# Disarm the rollback timer. $1 path prefix of the timer's files.
# Kills the timer's whole process group (it is a session leader). Once the timer fires it
# ignores TERM and marks itself firing, so a late disarm cannot cut a rollback in half.
# Exit 4: nothing armed (or already firing).
prefix=$1
if [ -f "$prefix.firing" ]; then
  echo "the rollback is already running; it cannot be disarmed" >&2; exit 4
elif [ -f "$prefix.pid" ] && kill -0 "$(cat "$prefix.pid")" 2>/dev/null; then
  kill -s TERM -- "-$(cat "$prefix.pid")" 2>/dev/null || kill -s TERM "$(cat "$prefix.pid")"
  rm -f "$prefix.pid" "$prefix.deadline"
  echo "rollback disarmed"
else
  echo "no rollback timer was armed (it may have fired)" >&2; exit 4
fi
