#!/usr/bin/env python3
"""PyTorch baseline for bench_cartoonize: the official CartoonGAN generator, same shapes, same
method, same JSON-line format.

The network is built here by hand from ../shared/README.md's description (reflection padding
around the 7x7 convs and inside the residual blocks, affine instance norm with eps 1e-9, BGR
input in [-1, 1]). Weights: ../shared/weights/cartoongan_hayao.safetensors when present (or
the path given as the first argument), else PyTorch's default init (same speed).

Method (as bench_cartoonize.cpp): the input is already on the device; each run is the forward
pass under torch.inference_mode() + torch.cuda.synchronize(), timed on the host; warm-up runs
first (cudnn.benchmark=True picks algorithms by timing there, like cgan's measured choice),
then the median. peak_alloc_MiB = torch.cuda.max_memory_allocated() over the timed runs.
Shapes: GPU 1024x768 batch 1 and 256x256 batch 8: float32 with TF32 on and off, bf16 autocast
with channels_last (what a user picks for speed), then torch.compile (TF32) last, since its
compilation may not finish within a benchmark's time cap; CPU 256x256. Each row's "mode" says
which: eager, bf16_channels_last, compile.
Run on the GPU machine:
    python3 bench/pytorch_cartoonize.py > pytorch_cartoonize.jsonl
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))
import st_io  # noqa: E402


class AffineInstanceNorm(nn.Module):
    def __init__(self, ch, eps=1e-9):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(ch))
        self.shift = nn.Parameter(torch.zeros(ch))
        self.eps = eps

    def forward(self, x):
        return F.instance_norm(x, weight=self.scale, bias=self.shift, eps=self.eps)


class OfficialGenerator(nn.Module):
    """Attribute names are the weight file's keys (conv01_1, in01_1, ..., deconv03_1)."""

    def __init__(self, f=64, residuals=8):
        super().__init__()
        self.residuals = residuals
        self.conv01_1 = nn.Conv2d(3, f, 7)
        self.in01_1 = AffineInstanceNorm(f)
        self.conv02_1 = nn.Conv2d(f, 2 * f, 3, 2, 1)
        self.conv02_2 = nn.Conv2d(2 * f, 2 * f, 3, 1, 1)
        self.in02_1 = AffineInstanceNorm(2 * f)
        self.conv03_1 = nn.Conv2d(2 * f, 4 * f, 3, 2, 1)
        self.conv03_2 = nn.Conv2d(4 * f, 4 * f, 3, 1, 1)
        self.in03_1 = AffineInstanceNorm(4 * f)
        for r in range(4, 4 + residuals):
            for k in (1, 2):
                setattr(self, "conv%02d_%d" % (r, k), nn.Conv2d(4 * f, 4 * f, 3))
                setattr(self, "in%02d_%d" % (r, k), AffineInstanceNorm(4 * f))
        self.deconv01_1 = nn.ConvTranspose2d(4 * f, 2 * f, 3, 2, 1, 1)
        self.deconv01_2 = nn.Conv2d(2 * f, 2 * f, 3, 1, 1)
        self.in12_1 = AffineInstanceNorm(2 * f)
        self.deconv02_1 = nn.ConvTranspose2d(2 * f, f, 3, 2, 1, 1)
        self.deconv02_2 = nn.Conv2d(f, f, 3, 1, 1)
        self.in13_1 = AffineInstanceNorm(f)
        self.deconv03_1 = nn.Conv2d(f, 3, 7)

    def forward(self, x):
        pad = lambda h, p: F.pad(h, (p, p, p, p), mode="reflect")  # noqa: E731
        h = F.relu(self.in01_1(self.conv01_1(pad(x, 3))))
        h = F.relu(self.in02_1(self.conv02_2(self.conv02_1(h))))
        h = F.relu(self.in03_1(self.conv03_2(self.conv03_1(h))))
        for r in range(4, 4 + self.residuals):
            m = lambda name: getattr(self, name % r)  # noqa: E731
            y = F.relu(m("in%02d_1")(m("conv%02d_1")(pad(h, 1))))
            h = h + m("in%02d_2")(m("conv%02d_2")(pad(y, 1)))
        h = F.relu(self.in12_1(self.deconv01_2(self.deconv01_1(h))))
        h = F.relu(self.in13_1(self.deconv02_2(self.deconv02_1(h))))
        return torch.tanh(self.deconv03_1(pad(h, 3)))


def weights_path():
    if len(sys.argv) > 1:
        return sys.argv[1]
    shared = os.environ.get("CGAN_SHARED_DIR") or os.path.join(HERE, "..", "..", "shared")
    p = os.path.join(shared, "weights", "cartoongan_hayao.safetensors")
    return p if os.path.exists(p) else ""


def measure(net, dev, shape, warmup, runs, tf32, rows, mode="eager"):
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(shape, generator=g) * 2 - 1).to(dev)
    if mode == "bf16_channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if mode == "bf16_channels_last"
           else torch.autocast("cuda", enabled=False))
    with torch.inference_mode(), amp:
        for _ in range(warmup):
            net(x)
            sync()
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            net(x)
            sync()
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    ms = times[len(times) // 2]
    n = shape[0]
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0.0
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    row = {"bench": "cartoonize", "impl": "pytorch", "mode": mode, "device": name,
           "shape": "%dx%d" % (shape[3], shape[2]), "batch": n,
           "tf32": bool(tf32 and dev.type == "cuda"), "runs": runs, "ms": round(ms, 3),
           "ms_per_image": round(ms / n, 3), "images_per_s": round(n * 1e3 / ms, 2),
           "peak_alloc_MiB": round(peak, 1)}
    print(json.dumps(row, separators=(",", ":")), flush=True)
    rows.append(row)


def main():
    w = weights_path()
    print("# weights: %s, torch %s" % (w or "default init, official shapes", torch.__version__))
    net = OfficialGenerator().eval()
    if w:
        tensors, _ = st_io.load(w)
        net.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    rows = []
    if torch.cuda.is_available():
        dev = torch.device("cuda")
        print("# device: %s" % torch.cuda.get_device_name(dev))
        torch.backends.cudnn.benchmark = True
        gnet = net.to(dev)
        for tf32 in (True, False):
            measure(gnet, dev, (1, 3, 768, 1024), 3, 20, tf32, rows)
            measure(gnet, dev, (8, 3, 256, 256), 3, 20, tf32, rows)
        cl = gnet.to(memory_format=torch.channels_last)
        measure(cl, dev, (1, 3, 768, 1024), 3, 20, True, rows, "bf16_channels_last")
        measure(cl, dev, (8, 3, 256, 256), 3, 20, True, rows, "bf16_channels_last")
        gnet = cl.to(memory_format=torch.contiguous_format)
        try:
            cnet = torch.compile(gnet)
            measure(cnet, dev, (1, 3, 768, 1024), 3, 20, True, rows, "compile")
            measure(cnet, dev, (8, 3, 256, 256), 3, 20, True, rows, "compile")
        except Exception as e:  # noqa: BLE001 -- report and keep the eager rows
            print("# torch.compile failed: %s" % str(e).splitlines()[0][:200], flush=True)
        net = gnet.cpu()
    else:
        print("no CUDA device: torch.cuda.is_available() is False")
    measure(net, torch.device("cpu"), (1, 3, 256, 256), 1, 3, False, rows)
    print("# %-10s %-18s %-5s %-9s %-5s %10s %12s %10s %10s" % (
        "device", "mode", "batch", "size", "tf32", "ms", "ms/image", "images/s", "peak MiB"))
    for r in rows:
        print("# %-10s %-18s %-5d %-9s %-5s %10.2f %12.2f %10.2f %10.1f" % (
            "CPU" if r["device"] == "CPU" else "GPU", r["mode"], r["batch"], r["shape"],
            "on" if r["tf32"] else "off", r["ms"], r["ms_per_image"], r["images_per_s"],
            r["peak_alloc_MiB"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
