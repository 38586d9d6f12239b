"""The least CPU that CURVE can cost per message: libsodium's box calls alone.

libzmq's CURVE seals every message frame with ``crypto_box_afternm`` (XSalsa20-Poly1305,
the NaCl box, on the frame plus 33 bytes of flags and padding) and the receiver opens it
with ``crypto_box_open_afternm``. No implementation of CURVE does less than these two
calls per frame and hop, so for large blocks their cost tells how much of what encryption
takes from a chain is the cipher, and how much is libzmq and the framework around it.

They are timed here on the very libsodium that pyzmq's libzmq uses (found in this
process's memory map once ``zmq`` is imported), through ``ctypes``: a call costs well under
a microsecond of overhead, against ~8 µs for a 16 KiB box on this kind of machine, and an
idle core with warm caches is the cipher at its fastest.

Run alone: ``python benchmarks/curve_floor.py [SIZE ...]`` prints the seal and open cost
in µs of one frame of each size (bytes; default: the pickled small and large blocks).
"""

from __future__ import annotations

import ctypes
import pickle
import sys
import time

#: crypto_box_ZEROBYTES (32) plus libzmq's flags byte, added to each frame before sealing.
CURVE_FRAME_EXTRA = 33
NONCE_BYTES = 24
KEY_BYTES = 32


def libsodium_path() -> str:
    """The file of the libsodium loaded with pyzmq's libzmq (Linux: from /proc/self/maps)."""
    import zmq

    if not zmq.has("curve"):
        raise RuntimeError("this libzmq has no CURVE support")
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split(maxsplit=5)[-1].strip()
            if "libsodium" in path.rsplit("/", 1)[-1]:
                return path
    raise RuntimeError("libzmq does not use libsodium here (built with tweetnacl?)")


def box_us(size: int, *, loops: int = 2000, repeat: int = 5) -> tuple[float, float]:
    """Best-of-``repeat`` cost in µs of sealing, and of opening, one CURVE frame of ``size``."""
    sodium = ctypes.CDLL(libsodium_path())
    if sodium.sodium_init() < 0:
        raise RuntimeError("sodium_init failed")
    length = size + CURVE_FRAME_EXTRA
    plain = ctypes.create_string_buffer(length)
    box = ctypes.create_string_buffer(length)
    opened = ctypes.create_string_buffer(length)
    nonce = ctypes.create_string_buffer(NONCE_BYTES)
    key = ctypes.create_string_buffer(b"k" * KEY_BYTES, KEY_BYTES)
    n = ctypes.c_ulonglong(length)
    seal, open_ = sodium.crypto_box_afternm, sodium.crypto_box_open_afternm
    if seal(box, plain, n, nonce, key) != 0 or open_(opened, box, n, nonce, key) != 0:
        raise RuntimeError("libsodium's box does not round-trip")

    def best(call, *call_args) -> float:
        fastest = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(loops):
                call(*call_args)
            fastest = min(fastest, (time.perf_counter() - start) / loops)
        return fastest * 1e6

    return best(seal, box, plain, n, nonce, key), best(open_, opened, box, n, nonce, key)


def block_size(mode: str) -> int:
    """Bytes of one pickled block of the chain (``raw_chain``'s and FISSION's payload)."""
    if mode == "small":
        return len(pickle.dumps((0, time.perf_counter_ns()), 5))
    import numpy as np

    return len(pickle.dumps((0, time.perf_counter_ns(), np.zeros(4096, np.float32)), 5))


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [block_size("small"), block_size("large")]
    print(f"libsodium: {libsodium_path()}")
    for size in sizes:
        seal, open_ = box_us(size)
        print(f"{size:>8} bytes: seal {seal:.2f} µs, open {open_:.2f} µs")


if __name__ == "__main__":
    main()
