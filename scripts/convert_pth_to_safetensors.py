#!/usr/bin/env python3
"""Convert PyTorch weights to a .safetensors file that cgan_cuda loads by name.

Needs only torch and numpy (no `safetensors` package).

  # a generator/discriminator state_dict saved with torch.save(model.state_dict(), ...)
  convert_pth_to_safetensors.py generator.pth generator.safetensors

  # torchvision's VGG19 (a state_dict .pth of torchvision.models.vgg19); keep `features.*`
  # and record torchvision's input convention (RGB, [0,1], ImageNet mean/std)
  convert_pth_to_safetensors.py vgg19-dcbb9e9d.pth vgg19.safetensors \\
      --only-prefix features. --metadata preprocessing=torchvision

Accepted inputs: a state_dict, a whole pickled nn.Module, or a checkpoint dict holding one
under "state_dict", "model" or "generator". A "module." prefix (DataParallel) is removed.
Tensors are written as float32 (use --keep-dtype to keep float16/bfloat16 as they are).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch


def find_state_dict(obj):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "generator"):
            if key in obj and isinstance(obj[key], (dict, torch.nn.Module)):
                return find_state_dict(obj[key])
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    raise SystemExit("error: no state_dict found (expected a dict of tensors, an nn.Module, or "
                     "a checkpoint with 'state_dict' / 'model' / 'generator')")


def write_safetensors(path, tensors, metadata):
    dtypes = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: move the raw 16-bit words
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    hb = json.dumps(header).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "wb") as f:  # atomic: never leave a half-written file under `path`
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("input", help=".pth / .pt file")
    p.add_argument("output", help=".safetensors file to write")
    p.add_argument("--only-prefix", default="", help="keep only keys starting with this")
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--keep-dtype", action="store_true")
    a = p.parse_args()

    sd = find_state_dict(torch.load(a.input, map_location="cpu"))
    out = {}
    for k, v in sd.items():
        k = k[len("module."):] if k.startswith("module.") else k
        if not k.startswith(a.only_prefix) or not torch.is_floating_point(v):
            continue  # e.g. BatchNorm's num_batches_tracked
        out[k] = v if a.keep_dtype and v.dtype in (torch.float16, torch.bfloat16) else v.float()
    if not out:
        raise SystemExit("error: no floating-point tensors to write")
    meta = {}
    for kv in a.metadata:
        if "=" not in kv:
            raise SystemExit("error: --metadata expects KEY=VALUE, got %r" % kv)
        key, val = kv.split("=", 1)
        meta[key] = val
    write_safetensors(a.output, out, meta)
    print("wrote %d tensors to %s" % (len(out), a.output))


if __name__ == "__main__":
    sys.exit(main())
