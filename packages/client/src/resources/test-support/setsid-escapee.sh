#!/bin/sh
# A unit that hides a process from its process group: it double-forks a
# grandchild into a new session (setsid), which ignores SIGTERM, keeps the
# unit's stdout open and writes its pid to "$1". Prints "escaped=<pid>" once
# the grandchild runs, then "$2" decides: "stay" (exec sleep) or "exit" (0).
# "$3" = "fork" makes the grandchild keep starting more of itself (10 a second).
pidfile="$1"
setsid -f sh -c 'trap "" TERM
echo $$ > "$1.tmp" && mv "$1.tmp" "$1"
if [ "$2" = fork ]; then while :; do setsid -f sleep 600; sleep 0.1; done; fi
exec sleep 600' escapee "$pidfile" "$3"
i=0
while [ ! -s "$pidfile" ]; do
  i=$((i + 1))
  [ "$i" -gt 1000 ] && { echo "no escapee after 10 s" >&2; exit 3; }
  sleep 0.01
done
echo "escaped=$(cat "$pidfile")"
[ "$2" = exit ] && exit 0
exec sleep 600
