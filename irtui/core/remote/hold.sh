#!/bin/sh
# A read that keeps its SSH session for the change planned on it: the change then needs no
# session of its own; and, once the change is over, the session stays for the next read (a
# block on a host whose session is kept costs it no new session at all).
# $1 a marker irtui drew at random, so no output can fake it; $2 the read's command line,
# run as the login shell would run it, with no stdin.
# After the read: a newline and "$1 held STATUS" on stdout, a newline and "$1 held" on stderr.
# Then it waits on its stdin for the change (or the line "idle": no change comes, the
# session waits for the next read, below): a line with its length in bytes, then exactly
# that many bytes: one command line. It answers "$1 got" on stdout and waits for the line
# "$1 go"; then it runs the command line with this stdin (the change's own "go" lines follow
# on it, only once the change asks). Nothing else is sent before "got", so `head -c` cannot
# read past the command line whatever its buffering.
# After the change: "$1 ended STATUS" on stdout and "$1 ended" on stderr (each on a line of
# its own unless the change's last line had no newline), then it waits for the next read,
# framed the same way (or as one line, see receive): a new marker, a space, the read's
# command line. It answers "MARK got" on stdout at once, then runs the read; and so on.
# EOF, a short or malformed message ends it without running anything (exit 0): irtui closing
# the session unused is how a plan that is not carried out is dropped.

# One message from stdin into $message: its length in bytes on a line, then that many bytes;
# or its length and "line" on a line, then the message on one line of its own (a read's
# command line, taken by the shell itself: no head(1) process for it). The first line is
# left in $size; when it is $1, nothing more is read (and it fails).
receive() {
  IFS= read -r size || return 1
  [ "$size" != "${1-}" ] || return 1
  framing=bytes
  case $size in
    *' line') size=${size% line} framing=line ;;
  esac
  case $size in
    '' | *[!0-9]*) return 1 ;;
  esac
  if [ "$framing" = line ]; then
    IFS= read -r message || return 1
  else
    message=$(head -c "$size") || return 1
  fi
  # the length in bytes, whatever the locale (a message cut short by a lost session never runs)
  had=${LC_ALL+set} was=${LC_ALL-}
  LC_ALL=C
  got=${#message}
  if [ -n "$had" ]; then LC_ALL=$was; else unset LC_ALL; fi
  [ "$got" = "$size" ]
}

mark=$1
read_line=$2
while :; do
  eval "$read_line" < /dev/null
  status=$?
  printf '\n%s held %s\n' "$mark" "$status" || exit 0
  printf '\n%s held\n' "$mark" >&2 || exit 0
  # "idle": no change comes (the read was not a plan's); wait for the next read
  if ! receive idle; then
    [ "$size" = idle ] || exit 0
  else
    # and only on irtui's go-ahead, which it sends once it sees this line: a message that
    # reached the host after irtui gave up on it (a stalled host, a link down for a while)
    # never runs
    printf '%s got\n' "$mark" || exit 0
    IFS= read -r go || exit 0
    [ "$go" = "$mark go" ] || exit 0
    eval "$message"
    status=$?
    printf '%s ended %s\n' "$mark" "$status" || exit 0
    printf '%s ended\n' "$mark" >&2 || exit 0
  fi
  # the next read (a read is read-only: it needs no go-ahead)
  receive || exit 0
  mark=${message%% *}
  read_line=${message#* }
  case $mark in
    irtui-hold-*) ;;
    *) exit 0 ;;
  esac
  [ "$read_line" != "$message" ] || exit 0
  # an answer at once, so irtui can tell a live session from one that no longer answers
  printf '%s got\n' "$mark" || exit 0
done
