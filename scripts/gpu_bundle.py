#!/usr/bin/env python3
"""Packs and unpacks the GPU check's bundle (.gpu/bundle.tar.xz) with Python's standard library
only, because the GPU machine may have no xz binary.

  gpu_bundle.py pack STAGE_DIR BUNDLE      # here, called by scripts/gpu_prepare.sh
  gpu_bundle.py unpack BUNDLE DEST_DIR     # there, called by scripts/gpu_check.sh
  gpu_bundle.py size PATH...               # bytes as the device tool counts them (plain files)
  gpu_bundle.py tree                       # bytes of the working tree that travels: tracked
                                           # files + untracked files git does not ignore

Float32 weight files (*.safetensors) are stored byte-plane shuffled (all first bytes of each
float, then all second bytes, ...): the exponent bytes then compress, which xz cannot see in
the interleaved layout (the Hayao weights: 40.9 MB plain xz, 37.5 MB shuffled). unpack restores
the exact bytes (checked against a SHA-256 recorded at pack time).
"""
import hashlib
import io
import json
import lzma
import os
import sys
import tarfile

SHUFFLED = ".shuffled4"


def shuffle(data: bytes) -> bytes:
    n = int.from_bytes(data[:8], "little")
    head, body = data[: 8 + n], data[8 + n :]
    tail = len(body) % 4
    planes = [body[i : len(body) - tail : 4] for i in range(4)]
    return head + b"".join(planes) + body[len(body) - tail :]


def unshuffle(data: bytes) -> bytes:
    n = int.from_bytes(data[:8], "little")
    head, body = data[: 8 + n], data[8 + n :]
    tail = len(body) % 4
    m = (len(body) - tail) // 4
    out = bytearray(len(body))
    for i in range(4):
        out[i : len(body) - tail : 4] = body[i * m : (i + 1) * m]
    out[len(body) - tail :] = body[len(body) - tail :]
    return head + bytes(out)


def pack(stage, bundle):
    sums = {}
    tmp = bundle + ".tmp"
    with lzma.open(tmp, "wb", preset=6) as xz, tarfile.open(fileobj=xz, mode="w|") as tar:
        for root, dirs, files in os.walk(stage):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, stage)
                if os.path.islink(path):
                    tar.add(path, arcname=rel)
                    continue
                if name.endswith(".safetensors"):
                    data = open(path, "rb").read()
                    sums[rel] = hashlib.sha256(data).hexdigest()
                    data = shuffle(data)
                    info = tarfile.TarInfo(rel + SHUFFLED)
                    info.size = len(data)
                    info.mode = 0o644
                    tar.addfile(info, io.BytesIO(data))
                else:
                    tar.add(path, arcname=rel)
        meta = json.dumps(sums, indent=1).encode()
        info = tarfile.TarInfo("BUNDLE_SHA256.json")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
    os.replace(tmp, bundle)


def unpack(bundle, dest):
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(bundle, mode="r:xz") as tar:
        tar.extractall(dest)
    sums = json.load(open(os.path.join(dest, "BUNDLE_SHA256.json")))
    for rel, want in sums.items():
        src = os.path.join(dest, rel + SHUFFLED)
        data = unshuffle(open(src, "rb").read())
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            raise SystemExit("error: %s: restored bytes do not match (sha256 %s, want %s)" % (rel, got, want))
        with open(os.path.join(dest, rel), "wb") as f:
            f.write(data)
        os.remove(src)


def size(paths):
    total = 0
    for p in paths:
        if os.path.isfile(p) and not os.path.islink(p):
            total += os.path.getsize(p)
        elif os.path.isdir(p) and not os.path.islink(p):
            for root, _, files in os.walk(p):
                for f in files:
                    q = os.path.join(root, f)
                    if os.path.isfile(q) and not os.path.islink(q):
                        total += os.path.getsize(q)
    return total


def tree_size():
    import subprocess

    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, stdout=subprocess.PIPE).stdout
    names = sorted(set(n.decode() for n in out.split(b"\0") if n))
    return size([n for n in names if os.path.exists(n)])


def main(argv):
    if len(argv) == 4 and argv[1] == "pack":
        pack(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "unpack":
        unpack(argv[2], argv[3])
    elif len(argv) == 2 and argv[1] == "tree":
        print(tree_size())
    elif len(argv) >= 2 and argv[1] == "size":
        print(size(argv[2:]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
