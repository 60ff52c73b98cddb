#!/bin/sh
# Self-test from an isolated host. $1 address, $2 TCP port.
# Exit 0 when the canary is unreachable (the isolation holds), 1 when it is reachable.
if command -v bash >/dev/null 2>&1; then
  # shellcheck disable=SC2016  # $0/$1 belong to the inner bash
  if timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; then
    echo "self-test: canary $1:$2 is REACHABLE from the isolated host"; exit 1
  fi
  echo "self-test: canary $1:$2 unreachable, as it should be"; exit 0
fi
echo "self-test skipped: no bash on the host"
