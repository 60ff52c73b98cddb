#!/bin/sh
# Dump files (read-only). $1 is the mode: "paths" takes the other arguments as absolute
# paths or glob patterns; "homes" takes them as paths relative to every home directory in
# the account database (getent passwd, else /etc/passwd). Each regular file found is printed
# as a "### " header (ls -ldn: mode, owner, size, time, path) followed by its content; each
# pattern that matches nothing is listed as "### absent: PATTERN".
mode=$1
shift
dump() {
  for pattern in "$@"; do
    found=
    # shellcheck disable=SC2086  # the pattern is meant to be expanded as a glob
    for file in $pattern; do
      [ -f "$file" ] || continue
      found=1
      echo "### $(ls -ldn "$file" 2>/dev/null)"
      cat "$file"
      [ -s "$file" ] && [ "$(tail -c 1 "$file" | od -An -c | tr -d ' ')" != '\n' ] && echo
    done
    [ -n "$found" ] || echo "### absent: $pattern"
  done
}
if [ "$mode" = homes ]; then
  { getent passwd 2>/dev/null || cat /etc/passwd; } | cut -d: -f6 | sort -u |
  while IFS= read -r home; do
    [ -d "$home" ] || continue
    for rel in "$@"; do
      dump "$home/$rel"
    done
  done | grep -v '^### absent: '
  true
else
  dump "$@"
fi
