"""Writes every tensor of a safetensors file as DIR/<name>.npy (np.save, float32, C order):
the layout and bytes of the official per-layer weight files, for download tests."""
import json
import os
import struct
import sys

import numpy as np


def main(src, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(src, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"])
        np.save(os.path.join(out_dir, name + ".npy"), arr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
