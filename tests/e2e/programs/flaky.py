"""An executable job's program that fails once: reads 8-byte ints, writes 2 * v as JSON lines
(named pipes -i PATH -o PATH). At block ``--fail-at N`` it exits with status 3, unless the
marker ``../failed-once`` (in the job's working directory, which a restart keeps) says it
has failed before."""

import argparse
import json
import os
import struct
import sys

parser = argparse.ArgumentParser()
parser.add_argument("-i", required=True)
parser.add_argument("-o", required=True)
parser.add_argument("--fail-at", type=int, required=True)
args = parser.parse_args()
marker = os.path.join("..", "failed-once")
with open(args.i, "rb") as source, open(args.o, "wb") as target:
    count = 0
    while len(data := source.read(8)) == 8:
        if count == args.fail_at and not os.path.exists(marker):
            open(marker, "w").close()
            print(f"flaky: failing at block {count}", file=sys.stderr, flush=True)
            sys.exit(3)
        target.write(json.dumps(2 * struct.unpack("<q", data)[0]).encode() + b"\n")
        target.flush()
        count += 1
print(f"flaky: {count} blocks", flush=True)
