"""A HEAD program: per block a 1-byte head then 8 bytes; sends the head with its last bit
flipped and the 8 bytes unchanged (named pipes -i PATH -o PATH)."""

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("-i", required=True)
parser.add_argument("-o", required=True)
args = parser.parse_args()
with open(args.i, "rb") as source, open(args.o, "wb") as target:
    while True:
        block = source.read(9)
        if len(block) < 9:
            break
        target.write(bytes((block[0] ^ 1,)) + block[1:])
        target.flush()
