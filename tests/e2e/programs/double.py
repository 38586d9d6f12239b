"""An executable job's program in plain Python: reads 8-byte ints, writes 2 * v as JSON lines.

It is given file descriptors (-i FD -o FD), as a MARVELOJob passes them. ``--fail-at N`` exits
with status 3 on the N-th block.
"""

import argparse
import json
import os
import struct
import sys

parser = argparse.ArgumentParser()
parser.add_argument("-i", action="append", type=int, required=True)
parser.add_argument("-o", action="append", type=int, required=True)
parser.add_argument("--fail-at", type=int, default=-1)
args = parser.parse_args()
source = os.fdopen(args.i[0], "rb")
target = os.fdopen(args.o[0], "wb")
count = 0
while True:
    data = source.read(8)
    if len(data) < 8:
        break
    if count == args.fail_at:
        print(f"double: giving up at block {count}", file=sys.stderr, flush=True)
        sys.exit(3)
    (value,) = struct.unpack("<q", data)
    target.write(json.dumps(2 * value).encode() + b"\n")
    target.flush()
    count += 1
print(f"double: {count} blocks", flush=True)
