#!/usr/bin/python3
"""PyTorch references for the kernel tests.

usage: kernels_ref.py MODE IN.safetensors OUT.safetensors
Modes: instance_norm, adam. Inputs and parameters come in a safetensors file (parameters
in its __metadata__), results go out the same way. A minimal safetensors reader/writer is
included because the `safetensors` package may be missing.
"""
import json
import os
import struct
import sys

import numpy as np
import torch


def read_st(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: {name}: only F32 supported, got {info['dtype']}")
        s, e = info["data_offsets"]
        arr = np.frombuffer(data[base + s:base + e], dtype="<f4")
        out[name] = arr.reshape(info["shape"]).copy()
    return out, meta


def write_st(path, tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(np.asarray(a, dtype="<f4")).tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(a)),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def instance_norm(t, meta):
    # float64 reference: the C++ side is float32, so any difference is its own error.
    x = torch.tensor(t["x"], dtype=torch.float64, requires_grad=True)
    eps = float(meta["eps"])
    affine = meta.get("affine", "0") == "1"
    w = torch.tensor(t["scale"], dtype=torch.float64, requires_grad=True) if affine else None
    b = torch.tensor(t["shift"], dtype=torch.float64, requires_grad=True) if affine else None
    z = torch.nn.functional.instance_norm(x, weight=w, bias=b, eps=eps)
    if "residual" in t:
        z = z + torch.tensor(t["residual"], dtype=torch.float64)
    act = meta.get("act", "none")
    if act == "relu":
        y = torch.relu(z)
    elif act == "leaky":
        y = torch.nn.functional.leaky_relu(z, float(meta["slope"]))
    else:
        y = z
    y.backward(torch.tensor(t["d_out"], dtype=torch.float64))
    out = {"out": y.detach().numpy(), "d_in": x.grad.numpy()}
    if affine:
        out["d_scale"] = w.grad.numpy()
        out["d_shift"] = b.grad.numpy()
    xd = x.detach()
    mean = xd.mean(dim=(2, 3))
    var = xd.var(dim=(2, 3), unbiased=False)
    out["mean"] = mean.numpy().reshape(-1)
    out["rstd"] = (1.0 / torch.sqrt(var + eps)).numpy().reshape(-1)
    return out


def adam(t, meta):
    p = torch.tensor(t["p0"], dtype=torch.float32).clone().requires_grad_(True)
    grads = torch.tensor(t["grads"], dtype=torch.float32)
    lr = float(meta["lr"])
    opt = torch.optim.Adam([p], lr=lr, betas=(float(meta["beta1"]), float(meta["beta2"])),
                           eps=float(meta["eps"]), weight_decay=float(meta["weight_decay"]))
    steps = grads.shape[0]
    lr_change_at = int(meta.get("lr_change_at", "-1"))
    for k in range(steps):
        if k == lr_change_at:
            for g in opt.param_groups:
                g["lr"] = float(meta["lr2"])
        p.grad = grads[k].clone()
        opt.step()
    st = opt.state[p]
    return {"p": p.detach().numpy(), "m": st["exp_avg"].numpy(), "v": st["exp_avg_sq"].numpy()}


def main():
    mode, src, dst = sys.argv[1:4]
    tensors, meta = read_st(src)
    fn = {"instance_norm": instance_norm, "adam": adam}[mode]
    write_st(dst, fn(tensors, meta))


if __name__ == "__main__":
    main()
