#!/bin/sh
# System identity (read-only): host name, OS release, kernel, uptime, the host's time and
# time zone, boot and machine ids.
echo '### hostname'; hostname 2>/dev/null || cat /proc/sys/kernel/hostname
echo '### os-release'; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
echo '### kernel'; uname -a
echo '### uptime (seconds up, idle)'; cat /proc/uptime
echo '### time (UTC, then local zone)'; date -u '+%Y-%m-%dT%H:%M:%S.%NZ'; date '+%Z %z'
echo '### timezone'; cat /etc/timezone 2>/dev/null; readlink /etc/localtime 2>/dev/null
echo '### boot id'; cat /proc/sys/kernel/random/boot_id 2>/dev/null
echo '### machine id'; cat /etc/machine-id 2>/dev/null
true
