#!/bin/sh
# Run an isolation command only while this run's rollback timer is armed with time to spare,
# so a command delayed in the network (delivered after the timer fired or was disarmed) is
# never applied: the host would stay isolated with no rollback.
# $1 path prefix of the timer's files, $2 the arming's token, $3 seconds that must remain
# before the deadline, $4... the command (stdin passes through to it).
# Exit 6: refused, nothing run.
prefix=$1 token=$2 margin=$3
shift 3
if ! read -r pid deadline armed 2>/dev/null < "$prefix.pid" || [ "$armed" != "$token" ] \
    || ! kill -0 "$pid" 2>/dev/null; then
  echo "refused: this run's rollback timer is no longer armed (it fired or was disarmed); nothing applied" >&2
  exit 6
fi
left=$((deadline - $(date +%s)))
if [ "$left" -lt "$margin" ]; then
  echo "refused: only $left s left before the rollback fires; nothing applied" >&2
  exit 6
fi
exec "$@"
