#!/bin/sh
# Read the rollback timer. $1 path prefix of the timer's files.
# Prints "armed <deadline, seconds since the epoch> <now>", "fired <log line>" (also while
# the rollback runs), "disarmed <log line>" or "none".
prefix=$1
if read -r pid deadline _ 2>/dev/null < "$prefix.pid" && kill -0 "$pid" 2>/dev/null; then
  echo "armed $deadline $(date +%s)"
elif [ -f "$prefix.firing" ]; then
  echo "fired rolling back now"
elif [ -f "$prefix.log" ]; then
  read -r line < "$prefix.log"
  case $line in
    disarmed*) echo "disarmed $line" ;;
    *) echo "fired $line" ;;
  esac
else
  echo none
fi
