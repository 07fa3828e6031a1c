#!/bin/sh
# Watchdog for one test network (started detached by netns.ts before the first namespace exists):
# waits for the test process to die, then kills everything inside the run's namespaces, deletes
# them and the run's temp folder. On a normal teardown the harness kills this script instead.
# usage: reaper.sh <test pid> <namespace prefix> <temp dir>
pid=$1
prefix=$2
dir=$3
case $prefix in mycelnet-*-*-) ;; *) echo "reaper.sh: refusing prefix '$prefix'" >&2; exit 2 ;; esac
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
names=$(ip netns list | cut -d' ' -f1 | grep "^$prefix")
for ns in $names; do
  for p in $(ip netns pids "$ns"); do kill -9 "$p" 2>/dev/null; done
done
for ns in $names; do ip netns del "$ns"; done
case $dir in */mycel-netns-*) rm -rf "$dir" ;; esac
