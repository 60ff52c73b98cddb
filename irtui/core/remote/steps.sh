#!/bin/sh
# Run consecutive plan steps of one host (a block's check, apply and flow cut) as one remote
# command: in order, each with its own input, and each after the first only when irtui says
# so, exactly as irtui runs them one by one (it decides, after each step, whether the next
# one starts: never after a failure or an interruption).
# $1 a marker irtui drew at random for this run, so no step's output can fake it; then three
# arguments per step: its command line (run as the login shell would run it), "none",
# "text" or "same" (the previous step's input again: a check and its apply read the same
# script), and the input text for "text" (empty otherwise).
# After step N: "$1 done N STATUS" on stdout and "$1 done N" on stderr. Before step N+1 it
# reads one line on its own stdin: "go" starts it; anything else, or EOF, ends the run there.
# The steps never read that stdin: each gets its input, or /dev/null.
mark=$1
shift
nl='
'
i=1
input=
while [ "$#" -ge 3 ]; do
  if [ "$i" -gt 1 ]; then
    IFS= read -r go || exit 0
    [ "$go" = go ] || exit 0
  fi
  command=$1
  case $2 in
    none) input= ;;
    text) input=$3 ;;
  esac
  if [ "$2" = none ]; then
    eval "$command" < /dev/null
  elif [ "${#input}" -le 4000 ] && [ "${input%"$nl"}" != "$input" ]; then
    # A short input that ends in a newline goes as a here-document: the shell writes it
    # into a pipe itself (dash under its PIPESIZE, bash 5.1+ under the pipe's capacity),
    # where `printf | eval` would fork twice. Its last newline is the document's own.
    body=${input%"$nl"}
    eval "$command" <<IRTUI_STEP_INPUT
$body
IRTUI_STEP_INPUT
  else
    printf '%s' "$input" | eval "$command"
  fi
  status=$?
  echo "$mark done $i $status" || exit 1
  echo "$mark done $i" >&2 || exit 1
  [ "$status" -eq 0 ] || exit 0
  shift 3
  i=$((i + 1))
done
