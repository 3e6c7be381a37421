#!/usr/bin/env python3
"""The seed's CartoonGAN training step in PyTorch, timed, for side-by-side comparison with
bench_train_step (same GPU, batch 8, 256x256): D step (real, edge-smoothed, detached fake)
then G step (LSGAN through D + 10 * L1 on VGG19 relu4_4 features), Adam(0.5, 0.999).

    python3 bench/pytorch_train_step.py [--arch seed|official] [--size 256] [--batch 8]
                                        [--iters 10] [--device cpu]

--arch official trains the official generator's architecture (bench/pytorch_cartoonize.py's
module, randomly initialized) against the same discriminator and VGG19, as
bench_train_step --arch official does.

Prints one JSON line. Without CUDA it prints "no CUDA device: ..." and a CPU figure at 64x64.
The networks come from tests/python/train_step_reference.py (the seed's architectures); VGG
weights are random here, which does not change the time.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from train_step_reference import Discriminator, Generator, VGGFeatures  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_cartoonize import OfficialGenerator  # noqa: E402


def random_vgg_weights():
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512]
    w, i, cin = {}, 0, 3
    for v in cfg:
        if v == "M":
            i += 1
            continue
        w["features.%d.weight" % i] = torch.randn(v, cin, 3, 3) * (2.0 / (9 * cin)) ** 0.5
        w["features.%d.bias" % i] = torch.zeros(v)
        i += 2
        cin = v
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", choices=["auto", "cpu"], default="auto",
                    help="cpu: the CPU at --size/--batch even where CUDA exists")
    ap.add_argument("--modes", default="eager,bf16,compile")
    ap.add_argument("--arch", choices=["seed", "official"], default="seed")
    a = ap.parse_args()
    if a.device == "cpu":
        dev = torch.device("cpu")
    elif torch.cuda.is_available():
        dev = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
    else:
        print("no CUDA device: torch.cuda.is_available() is False (CPU figure at 64x64, batch 2)")
        dev = torch.device("cpu")
        a.size, a.batch, a.iters, a.warmup = 64, 2, 3, 1
    modes = a.modes.split(",") if dev.type == "cuda" else ["eager"]
    for mode in modes:
        try:
            run(a, dev, mode)
        except Exception as e:  # noqa: BLE001 -- report the mode, keep the others
            print("# mode %s failed: %s" % (mode, str(e).splitlines()[0][:200]), flush=True)


def run(a, dev, mode):
    torch.manual_seed(0)
    G = (Generator(3, 64, 8) if a.arch == "seed" else OfficialGenerator()).to(dev)
    D = Discriminator(3, 1, (32, 64, 128, 256)).to(dev)
    vgg = VGGFeatures(random_vgg_weights(), True, 25, True).to(dev)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    shape = (a.batch, 3, a.size, a.size)
    photos = torch.rand(shape, device=dev) * 2 - 1
    cartoons = torch.rand(shape, device=dev) * 2 - 1
    smoothed = torch.rand(shape, device=dev) * 2 - 1
    if mode == "bf16":
        cl = torch.channels_last
        G, D, vgg = G.to(memory_format=cl), D.to(memory_format=cl), vgg.to(memory_format=cl)
        photos, cartoons, smoothed = (t.contiguous(memory_format=cl)
                                      for t in (photos, cartoons, smoothed))
    g_fwd, d_fwd, vgg_f = G, D, vgg.f
    if mode == "compile":
        g_fwd, d_fwd, vgg_f = torch.compile(G), torch.compile(D), torch.compile(vgg.f)
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if mode == "bf16" else \
        (lambda: torch.autocast(dev.type, enabled=False))
    mean = torch.tensor([103.939, 116.779, 123.68], device=dev).view(1, 3, 1, 1)

    def vgg_feat(x):
        x = (x + 1) * 127.5
        return vgg_f(x[:, [2, 1, 0]] - mean)

    def step():
        with amp():
            fake = g_fwd(photos)
            opt_d.zero_grad(set_to_none=True)
            dr, ds, df = d_fwd(cartoons), d_fwd(smoothed), d_fwd(fake.detach())
            d_loss = F.mse_loss(dr.float(), torch.ones_like(dr).float()) + \
                F.mse_loss(ds.float(), torch.zeros_like(ds).float()) + \
                F.mse_loss(df.float(), torch.zeros_like(df).float())
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        with amp():
            out = d_fwd(fake)
            with torch.no_grad():
                real_f = vgg_feat(photos)
            g_loss = F.mse_loss(out.float(), torch.ones_like(out).float()) + \
                10 * F.l1_loss(vgg_feat(fake).float(), real_f.float())
        g_loss.backward()
        opt_g.step()
        return d_loss.item() + g_loss.item()  # host sync, as the C++ trainer reads its losses

    for _ in range(a.warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    ms = times[len(times) // 2]
    res = {"bench": "pytorch_train_step", "arch": a.arch, "mode": mode, "device": torch.cuda.get_device_name() if dev.type == "cuda" else "CPU",
           "torch": torch.__version__, "size": a.size, "batch": a.batch, "step_ms": round(ms, 2),
           "steps_per_s": round(1e3 / ms, 3), "images_per_s": round(a.batch * 1e3 / ms, 2),
           "cudnn_tf32": torch.backends.cudnn.allow_tf32 if dev.type == "cuda" else False}
    if dev.type == "cuda":
        res["peak_alloc_MiB"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
