#!/bin/sh
# A read that keeps its SSH session for the change planned on it: the change then needs no
# session of its own (a block costs one SSH session per host, not two).
# $1 a marker irtui drew at random, so no output can fake it; $2 the read's command line,
# run as the login shell would run it, with no stdin.
# After the read: a newline and "$1 held STATUS" on stdout, a newline and "$1 held" on stderr.
# Then it waits on its stdin for the change: a line with its length in bytes, then exactly
# that many bytes: one command line. It answers "$1 got" on stdout and waits for the line
# "$1 go"; then it runs the command line with this stdin (the change's own "go" lines follow
# on it, only once the change asks) and exits with its status. Nothing else is sent before
# "got", so `head -c` cannot read past the command line whatever its buffering.
# EOF, a short or malformed message ends it without running anything (exit 0): irtui closing
# the session unused is how a plan that is not carried out is dropped.
mark=$1
eval "$2" < /dev/null
status=$?
printf '\n%s held %s\n' "$mark" "$status" || exit 0
printf '\n%s held\n' "$mark" >&2 || exit 0
IFS= read -r size || exit 0
case $size in
  '' | *[!0-9]*) exit 0 ;;
esac
line=$(head -c "$size") || exit 0
# the length in bytes, whatever the locale (a line cut short by a lost session never runs)
had=${LC_ALL+set} was=${LC_ALL-}
LC_ALL=C
got=${#line}
if [ -n "$had" ]; then LC_ALL=$was; else unset LC_ALL; fi
[ "$got" = "$size" ] || exit 0
# and only on irtui's go-ahead, which it sends once it sees this line: a message that reached
# the host after irtui gave up on it (a stalled host, a link down for a while) never runs
printf '%s got\n' "$mark" || exit 0
IFS= read -r go || exit 0
[ "$go" = "$mark go" ] || exit 0
eval "$line"
