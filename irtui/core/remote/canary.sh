#!/bin/sh
# TCP connection test from the host to a canary, for the isolation self-test.
# $1 address, $2 TCP port, $3 seconds to wait for the handshake.
# Prints one line "canary RESULT [detail]" and exits 0; irtui decides what RESULT means:
#   connected    the handshake completed
#   refused      a RST came back (so packets do get through)
#   timeout      no answer within $3 s (what a dropping firewall gives)
#   blocked      this host's own firewall refused to send (connect(2) EPERM)
#   unreachable  no route / network unreachable / no neighbour answered
#   no-timeout, no-bash, no-devtcp   the test cannot run on this host
#   error        anything else (the tool's last message follows)
LC_ALL=C
export LC_ALL
if ! command -v timeout >/dev/null 2>&1; then echo "canary no-timeout"; exit 0; fi
if ! command -v bash >/dev/null 2>&1; then echo "canary no-bash"; exit 0; fi
# shellcheck disable=SC2016  # $0/$1 belong to the inner bash
err=$(timeout "$3" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>&1)
rc=$?
last=$(printf '%s\n' "$err" | tail -n 1)
case $rc in
  0) echo "canary connected"; exit 0 ;;
  124) echo "canary timeout"; exit 0 ;;
esac
case $err in
  *"Connection refused"*) echo "canary refused" ;;
  *"Operation not permitted"*) echo "canary blocked" ;;
  *"No route to host"*|*"Network is unreachable"*|*"Host is unreachable"*)
    echo "canary unreachable $last" ;;
  *"/dev/tcp/"*) echo "canary no-devtcp $last" ;;  # a shell that treats it as a file
  *) echo "canary error exit $rc: $last" ;;
esac
exit 0
