#!/bin/sh
# Starts a child in a new session (outside our process group) that keeps our
# stdout open, waits until it really left the group, reports its pid, exits 0.
setsid sleep 30 &
child=$!
# Field 6 of /proc/<pid>/stat is the session id: equal to the pid once setsid ran.
while [ "$(cut -d' ' -f6 "/proc/$child/stat")" != "$child" ]; do sleep 0.01; done
echo "escaped=$child"
exit 0
