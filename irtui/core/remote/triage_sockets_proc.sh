#!/bin/sh
# Sockets without ss (read-only): the kernel's socket tables of this network namespace from
# /proc/net, then every process's socket file descriptors as "PID FD socket:[INODE]", so
# each socket inode in the tables can be matched to the process that holds it.
for table in tcp tcp6 udp udp6 raw raw6 unix; do
  echo "### /proc/net/$table"
  cat "/proc/net/$table" 2>/dev/null
done
echo '### socket owners (pid fd socket:[inode])'
for dir in /proc/[0-9]*; do
  pid=${dir#/proc/}
  for fd in "$dir"/fd/*; do
    [ -h "$fd" ] || continue
    target=$(readlink "$fd" 2>/dev/null) || continue
    case $target in
      socket:*) echo "$pid ${fd##*/} $target" ;;
    esac
  done
done
true
