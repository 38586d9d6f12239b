#!/bin/sh
# A source program in shell: JSON lines 0 .. N-1 to the named pipe after -o, then exit 0.
n=$1
while [ "$#" -gt 0 ]; do
    if [ "$1" = "-o" ]; then out=$2; fi
    shift
done
exec 3>"$out"
i=0
while [ "$i" -lt "$n" ]; do
    echo "$i" >&3
    i=$((i + 1))
done
echo "count.sh: wrote $n lines"
