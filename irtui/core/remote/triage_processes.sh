#!/bin/sh
# Every process, from /proc (read-only). Tab-separated, one process per line: PID, parent
# PID, real UID, the SHA-256 of the running executable read through /proc/PID/exe (so a
# binary deleted from disk is still hashed), the executable's path (ending in " (deleted)"
# when it is gone from disk) and the command line (tabs and newlines in it shown as spaces).
# "-" = no executable (kernel thread); "unreadable" = not permitted (run as root).
# A path's hash is computed once; deleted binaries are always hashed on their own.
nl='
'
tab='	'
printf 'pid\tppid\tuid\tsha256\texe\tcmdline\n'
seen=$nl
first_field() {
  value=${1#"${1%%[![:space:]]*}"}
  printf '%s' "${value%%[[:space:]]*}"
}
for dir in /proc/[0-9]*; do
  pid=${dir#/proc/}
  ppid=- uid=-
  while IFS= read -r line; do
    case $line in
      PPid:*) ppid=$(first_field "${line#PPid:}") ;;
      Uid:*) uid=$(first_field "${line#Uid:}") ;;
    esac
  done 2>/dev/null < "$dir/status" || continue
  exe=$(readlink "$dir/exe" 2>/dev/null) || exe=-
  sum=-
  if [ "$exe" != - ]; then
    case $seen in
      *"$nl$exe$tab"*)
        rest=${seen#*"$nl$exe$tab"}
        sum=${rest%%"$nl"*} ;;
      *)
        if out=$(sha256sum < "$dir/exe" 2>/dev/null); then
          sum=${out%% *}
          case $exe in
            *" (deleted)") ;;
            *) seen="$seen$exe$tab$sum$nl" ;;
          esac
        else
          sum=unreadable
        fi ;;
    esac
  fi
  cmd=$(tr '\0\t\n' '   ' < "$dir/cmdline" 2>/dev/null)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$pid" "$ppid" "$uid" "$sum" "$exe" "$cmd"
done
