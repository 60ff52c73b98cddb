#!/bin/sh
# Read the rollback timer. $1 path prefix of the timer's files.
# Prints "armed <deadline, seconds since the epoch> <now>", "fired <log line>" or "none".
prefix=$1
if [ -f "$prefix.pid" ] && kill -0 "$(cat "$prefix.pid")" 2>/dev/null; then
  echo "armed $(cat "$prefix.deadline" 2>/dev/null) $(date +%s)"
elif [ -f "$prefix.log" ]; then
  echo "fired $(cat "$prefix.log")"
else
  echo none
fi
