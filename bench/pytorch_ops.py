#!/usr/bin/env python3
"""PyTorch baselines for bench_kernels, same shapes, same method, same JSON-line format.

Method (as bench_kernels.cu): warm-up, then each timed run starts after writing a buffer of
twice the L2 size (cold cache); median of CUDA-event times. bytes = minimum DRAM traffic of
the op (each tensor read once + each tensor written once). copy_gbps = a device-to-device
copy moving the same bytes, measured in the same run. Run on the GPU machine:
    python3 bench/pytorch_ops.py > pytorch.jsonl
"""
import json
import sys

import torch
import torch.nn.functional as F


def main():
    if not torch.cuda.is_available():
        print("no CUDA device: torch.cuda.is_available() is False")
        return 0
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    l2 = getattr(props, "L2_cache_size", 50 << 20) or (50 << 20)
    flush = torch.empty(max(2 * l2, 64 << 20) // 4, dtype=torch.float32, device=dev)
    print(f"# device: {props.name}, torch {torch.__version__}")
    rows = []

    def time_ms(fn, runs=25):
        for _ in range(3):
            fn()
        times = []
        for i in range(runs):
            flush.fill_(float(i))
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
        times.sort()
        return times[len(times) // 2]

    copy_cache = {}

    def copy_gbps(nbytes):
        half = int(nbytes // 2) // 4
        if half not in copy_cache:
            src = torch.empty(half, dtype=torch.float32, device=dev)
            dst = torch.empty_like(src)
            ms = time_ms(lambda: dst.copy_(src))
            copy_cache[half] = 2.0 * half * 4 / (ms * 1e6)
        return copy_cache[half]

    def record(op, impl, shape, nbytes, fn):
        ms = time_ms(fn)
        gbps = nbytes / (ms * 1e6)
        cg = copy_gbps(nbytes)
        row = {"bench": op, "impl": impl, "shape": shape, "bytes": int(nbytes),
               "ms": round(ms, 5), "gbps": round(gbps, 1), "copy_gbps": round(cg, 1),
               "pct_copy": round(100.0 * gbps / cg, 1)}
        rows.append(row)
        print(json.dumps(row, separators=(",", ":")), flush=True)

    for (N, C, H, W) in [(8, 64, 256, 256), (8, 128, 128, 128), (8, 256, 64, 64)]:
        tag = f"{N}x{C}x{H}x{W}"
        n = N * C * H * W
        fb = 4.0
        x = torch.randn(N, C, H, W, device=dev)
        dy = torch.randn_like(x)
        w = torch.rand(C, device=dev) + 0.5
        b = torch.randn(C, device=dev)
        record("relu_fwd", "torch", tag, 2 * n * fb, lambda: torch.relu(x))
        record("leaky_relu_fwd", "torch", tag, 2 * n * fb, lambda: F.leaky_relu(x, 0.2))
        record("tanh_fwd", "torch", tag, 2 * n * fb, lambda: torch.tanh(x))
        y = torch.relu(x)
        record("relu_bwd", "torch", tag, 3 * n * fb,
               lambda: torch.ops.aten.threshold_backward(dy, y, 0.0))
        record("add", "torch", tag, 3 * n * fb, lambda: torch.add(x, dy))

        # Instance norm forward (+ReLU, as cgan fuses it) and backward through autograd.
        record("instance_norm_fwd", "torch", tag, 2 * n * fb,
               lambda: torch.relu(F.instance_norm(x, weight=w, bias=b, eps=1e-5)))
        record("instance_norm_fwd_noact", "torch", tag, 2 * n * fb,
               lambda: F.instance_norm(x, weight=w, bias=b, eps=1e-5))
        xg = x.clone().requires_grad_(True)
        wg = w.clone().requires_grad_(True)
        bg = b.clone().requires_grad_(True)

        def in_bwd():
            z = torch.relu(F.instance_norm(xg, weight=wg, bias=bg, eps=1e-5))
            torch.autograd.grad(z, (xg, wg, bg), dy)

        # Forward + backward; the forward alone is timed above and is subtracted in the table.
        record("instance_norm_fwd_bwd", "torch", tag, 6 * n * fb, in_bwd)

        def mse():
            p = x.detach().requires_grad_(True)
            loss = F.mse_loss(p, torch.ones_like(p))
            loss.backward()

        def l1():
            p = x.detach().requires_grad_(True)
            loss = F.l1_loss(p, dy)
            loss.backward()

        record("mse_const_loss", "torch", tag, 2 * n * fb, mse)
        record("l1_loss", "torch", tag, 3 * n * fb, l1)
        record("maxpool2x2_fwd", "torch", tag, 1.25 * n * fb, lambda: F.max_pool2d(x, 2))
        record("reflection_pad3_fwd", "torch", tag,
               (n + N * C * (H + 6) * (W + 6)) * fb, lambda: F.pad(x, (3, 3, 3, 3), mode="reflect"))
        del x, dy, y, xg

    n = 11_100_000
    for impl, kw in [("torch_foreach", {"foreach": True}), ("torch_fused", {"fused": True})]:
        p = torch.zeros(n, device=dev, requires_grad=True)
        p.grad = torch.randn(n, device=dev)
        try:
            opt = torch.optim.Adam([p], lr=2e-4, betas=(0.5, 0.999), **kw)
            opt.step()
        except (TypeError, RuntimeError) as e:
            print(f"# adam {impl} unavailable: {e}", file=sys.stderr)
            continue
        record("adam", impl, "11.1M", 7.0 * n * 4, opt.step)

    print(f"# {'op':<24} {'impl':<14} {'shape':<18} {'ms':>9} {'GB/s':>8} {'%copy':>7}")
    for r in rows:
        print(f"# {r['bench']:<24} {r['impl']:<14} {r['shape']:<18} {r['ms']:>9.4f} "
              f"{r['gbps']:>8.1f} {r['pct_copy']:>6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
