#!/bin/sh
# Appended to probe.sh on first contact with a host, so the preflight probe and the firewall
# read are one remote command (one round trip). $1 is the probe's argument; the firewall's
# read-only command follows as $2...; its output goes to the "read" section and its exit
# status to "read-exit". This script itself always exits 0: irtui decides from the sections.
shift
echo '### read'
"$@"
rc=$?
printf '\n### read-exit\n%s\n' "$rc"
exit 0
