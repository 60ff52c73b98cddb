#!/bin/sh
# Triage preflight (read-only, run as the login user, never through sudo): the host's clock
# first (for the clock offset), who irtui is there, whether `sudo -n` works, and which of
# the tools named in the arguments are installed (on the same PATH the artifacts use).
# $1 the login shell's $SSH_CONNECTION (passed on as a value); $2... tool names.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
echo "time $(date -u +%s.%N 2>/dev/null)"
echo "uid $(id -u)"
echo "user $(id -un 2>/dev/null)"
echo "hostname $(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
echo "ssh $1"
shift
if [ "$(id -u)" = 0 ]; then
  echo "sudo root"
elif sudo -n true 2>/dev/null; then
  echo "sudo yes"
else
  echo "sudo no"
fi
for tool in "$@"; do
  command -v "$tool" >/dev/null 2>&1 && echo "tool $tool"
done
echo "end"
