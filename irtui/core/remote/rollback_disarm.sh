#!/bin/sh
# Disarm the rollback timer. $1 path prefix of the timer's files, $2 the token given when it
# was armed (empty: whatever timer is armed), $3 "missing-ok" (optional: a release that also
# clears a leftover timer): no timer armed is then success, as nothing is left to disarm.
# The pid file is taken by rename(2), as the timer takes it when it fires: exactly one of them
# wins, so a late disarm never cuts a rollback in half and a rollback never follows a
# successful disarm. The host keeps a log line either way ("disarmed at ..." or
# "rolled back at ...").
# Exit 4: nothing armed (it fired, or is firing). Exit 5: armed by another irtui run.
prefix=$1 token=$2 missing=${3-}
if ! read -r pid _ armed_token 2>/dev/null < "$prefix.pid"; then
  if [ "$missing" = missing-ok ]; then
    echo "no rollback timer is armed (it fired or was disarmed): nothing to disarm"
    exit 0
  elif [ -f "$prefix.firing" ]; then
    echo "too late: the rollback is already running" >&2
  else
    echo "no rollback timer is armed (it may have fired)" >&2
  fi
  exit 4
fi
if [ -n "$token" ] && [ "$armed_token" != "$token" ]; then
  echo "the armed rollback timer (pid $pid) belongs to another irtui run; left alone" >&2
  exit 5
fi
if ! mv "$prefix.pid" "$prefix.disarming" 2>/dev/null; then
  echo "too late: the rollback is already running" >&2; exit 4
fi
kill -s TERM -- "-$pid" 2>/dev/null || kill -s TERM "$pid" 2>/dev/null
echo "disarmed at $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$prefix.log"
rm -f "$prefix.disarming"
echo "rollback disarmed"
