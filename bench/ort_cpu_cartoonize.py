#!/usr/bin/env python3
"""CPU side by side (issue 14): cgan_cartoonize vs ONNX Runtime (CPU provider) vs PyTorch on
the official Hayao generator, whole process, on the 450-px conformance photos in1.png and
in3.png, with 1 and 2 threads; and the seed training step vs PyTorch (bench_train_step and
bench/pytorch_train_step.py). One run, printed side by side with the ratios and peak RSS.

    /usr/bin/python3 -m venv --system-site-packages /tmp/ortenv
    /tmp/ortenv/bin/pip install onnxruntime
    /tmp/ortenv/bin/python bench/ort_cpu_cartoonize.py [--runs 3] [--cartoonize-only | --train-only] \
        > bench/results/cpu-vs-ort.txt

The ONNX model is exported here with Debian's torch.onnx from the same weights (the network of
bench/pytorch_cartoonize.py, dynamic height and width). Each measurement is a fresh process
pinned with taskset to 1 or 2 cores (ORT: intra_op_num_threads; cgan: CGAN_NUM_THREADS),
timed by /usr/bin/time (wall seconds, peak RSS); the median of --runs, measured in pairs
(cgan, ORT, PyTorch, cgan, ...) so that drifting machine load hits all alike. Every process
decodes both photos, resizes them (longer side 450), runs the network and writes PNGs; the
1024x768 case is one photo of that size, not resized. cgan's first output is compared with
ORT's (PSNR). The training step: bench_train_step --device cpu vs pytorch_train_step.py
--device cpu (64x64 and 128x128, batch 2), each a fresh pinned process: median step time.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.environ.get("CGAN_SHARED_DIR") or os.path.join(ROOT, "..", "shared")
WEIGHTS = os.path.join(SHARED, "weights", "cartoongan_hayao.safetensors")
PHOTOS = [os.path.join(SHARED, "conformance", "official_hayao", "input", n)
          for n in ("in1.png", "in3.png")]
BUILD = os.environ.get("CGAN_BUILD", os.path.join(ROOT, "build"))

# The per-process work for ORT and PyTorch: decode, resize (PIL bicubic, longer side 450, as
# the official code), BGR [-1,1], network, back to 8 bits, PNG.
WORKER = r'''
import sys, numpy as np
from PIL import Image
impl, model, threads, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
max_side = int(sys.argv[5])
photos = sys.argv[6:]
if impl == "ort":
    import onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    run = lambda x: sess.run(None, {"x": x})[0]
else:
    import torch
    torch.set_num_threads(threads)
    sys.path.insert(0, model)
    from pytorch_cartoonize import OfficialGenerator
    import st_io
    net = OfficialGenerator().eval()
    w, _ = st_io.load(__import__("os").environ["CGAN_W"])
    net.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
    def run(x):
        with torch.inference_mode():
            return net(torch.from_numpy(x)).numpy()
for i, p in enumerate(photos):
    im = Image.open(p).convert("RGB")
    if max_side:
        w, h = im.size  # the official rule: longer side max_side, the other truncated
        size = (max_side, int(max_side * h / w)) if w > h else (int(max_side * w / h), max_side)
        im = im.resize(size, Image.BICUBIC)
    a = np.asarray(im, dtype=np.float32)[:, :, ::-1] / 127.5 - 1
    y = run(np.ascontiguousarray(a.transpose(2, 0, 1)[None]))
    y = np.clip(np.rint((y[0].transpose(1, 2, 0)[:, :, ::-1] * 0.5 + 0.5) * 255), 0, 255)
    Image.fromarray(y.astype(np.uint8)).save("%s/%d.png" % (out, i))
'''


def export_onnx(path):
    import torch
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
    from pytorch_cartoonize import OfficialGenerator
    import st_io
    net = OfficialGenerator().eval()
    w, _ = st_io.load(WEIGHTS)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
    x = torch.zeros(1, 3, 338, 450)
    torch.onnx.export(net, x, path, input_names=["x"], output_names=["y"], opset_version=13,
                      dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "h", 3: "w"}})


def timed(cmd, cores, env):
    full = ["taskset", "-c", cores, "/usr/bin/time", "-f", "TIME %e %M"] + cmd
    r = subprocess.run(full, env=env, capture_output=True, text=True)
    line = [l for l in r.stderr.splitlines() if l.startswith("TIME ")]
    if r.returncode != 0 or not line:
        raise RuntimeError("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    s, kb = line[-1].split()[1:]
    return float(s), int(kb) / 1024.0, r.stdout


def psnr(a_path, b_path):
    import numpy as np
    from PIL import Image
    a = np.asarray(Image.open(a_path).convert("RGB"), dtype=np.float64)
    b = np.asarray(Image.open(b_path).convert("RGB"), dtype=np.float64)
    if a.shape != b.shape:
        return None
    mse = ((a - b) ** 2).mean()
    return 999.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def env_for(threads):
    return dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                CGAN_NUM_THREADS=str(threads), CGAN_W=WEIGHTS,
                PYTHONPATH=os.path.join(ROOT, "tests", "python"))


def cartoonize_rows(tmp, runs):
    """Whole-process cartoonization: the two 450-px photos, and one 1024x768 photo."""
    from PIL import Image
    model = os.path.join(tmp, "hayao.onnx")
    export_onnx(model)
    worker = os.path.join(tmp, "worker.py")
    with open(worker, "w") as f:
        f.write(WORKER)
    big = os.path.join(tmp, "photo_1024x768.png")
    Image.open(PHOTOS[0]).convert("RGB").resize((1024, 768), Image.BICUBIC).save(big)
    cases = [("in1.png+in3.png at 450 px", PHOTOS, 450), ("1024x768", [big], 0)]
    impls = ["cgan", "ort", "pytorch"]
    rows = []
    for name, photos, max_side in cases:
        for threads, cores in ((1, "0"), (2, "0,1")):
            res = {k: [] for k in impls}
            outs = {}
            for _ in range(runs):
                for impl in impls:  # in rotation, so that drifting load hits all alike
                    out = tempfile.mkdtemp(dir=tmp)
                    if impl == "cgan":
                        cmd = [os.path.join(BUILD, "cgan_cartoonize"), "--weights", WEIGHTS,
                               "--max-side", str(max_side), "--no-progress"] + photos + ["-o", out]
                    else:
                        cmd = [sys.executable, worker, "ort" if impl == "ort" else "torch",
                               model if impl == "ort" else HERE, str(threads), out,
                               str(max_side)] + photos
                    res[impl].append(timed(cmd, cores, env_for(threads))[:2])
                    outs[impl] = out
            # Outputs side by side: cgan's PNG vs ORT's for the first photo.
            cg = sorted(os.listdir(outs["cgan"]))[0]
            q = psnr(os.path.join(outs["cgan"], cg), os.path.join(outs["ort"], "0.png"))
            for impl in impls:
                v = sorted(res[impl])
                row = {"bench": "cpu_cartoonize_whole_process", "case": name, "impl": impl,
                       "threads": threads, "runs": runs, "median_s": round(v[len(v) // 2][0], 2),
                       "all_s": [round(x[0], 2) for x in res[impl]],
                       "peak_rss_MiB": round(max(x[1] for x in v))}
                if impl == "cgan" and q is not None:
                    row["psnr_vs_ort_dB"] = round(q, 1)
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def train_rows(tmp, runs):
    """The seed training step (D step + G step with the VGG content loss), batch 2."""
    rows = []
    for size, warmup, iters in ((64, 2, 5), (128, 1, 3)):
        for threads, cores in ((1, "0"), (2, "0,1")):
            res = {"cgan": [], "pytorch": []}
            for _ in range(runs):
                for impl in res:
                    if impl == "cgan":
                        cmd = [os.path.join(BUILD, "bench", "bench_train_step"), "--device", "cpu",
                               "--size", str(size), "--batch", "2", "--warmup", str(warmup),
                               "--iters", str(iters), "--no-profile"]
                    else:
                        cmd = ["/usr/bin/python3", os.path.join(HERE, "pytorch_train_step.py"),
                               "--device", "cpu", "--size", str(size), "--batch", "2",
                               "--warmup", str(warmup), "--iters", str(iters)]
                    _, rss, out = timed(cmd, cores, env_for(threads))
                    ms = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])["step_ms"]
                    res[impl].append((ms, rss))
            for impl, v in res.items():
                v = sorted(v)
                row = {"bench": "cpu_train_step", "size": size, "batch": 2, "impl": impl,
                       "threads": threads, "runs": runs, "median_step_ms": round(v[len(v) // 2][0], 1),
                       "all_ms": [round(x[0], 1) for x in res[impl]],
                       "peak_rss_MiB": round(max(x[1] for x in v))}
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def main():
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
    tmp = tempfile.mkdtemp(prefix="cgan_ort_")
    rows = cartoonize_rows(tmp, runs) if "--train-only" not in sys.argv else []
    rows_t = train_rows(tmp, runs) if "--cartoonize-only" not in sys.argv else []
    print("# %-26s %-8s %-8s %10s %14s %12s" % ("case", "threads", "impl", "median s",
                                                 "peak RSS MiB", "ORT s / this"))
    for r in rows:
        ort = [x for x in rows if x["impl"] == "ort" and x["threads"] == r["threads"]
               and x["case"] == r["case"]][0]
        print("# %-26s %-8d %-8s %10.2f %14d %12.2f" % (r["case"], r["threads"], r["impl"],
                                                         r["median_s"], r["peak_rss_MiB"],
                                                         ort["median_s"] / r["median_s"]))
    print("# %-26s %-8s %-8s %10s %14s %12s" % ("train step, batch 2", "threads", "impl",
                                                 "median ms", "peak RSS MiB", "torch / this"))
    for r in rows_t:
        pt = [x for x in rows_t if x["impl"] == "pytorch" and x["threads"] == r["threads"]
              and x["size"] == r["size"]][0]
        print("# %-26s %-8d %-8s %10.1f %14d %12.2f" % ("%dx%d" % (r["size"], r["size"]),
                                                         r["threads"], r["impl"],
                                                         r["median_step_ms"], r["peak_rss_MiB"],
                                                         pt["median_step_ms"] / r["median_step_ms"]))


if __name__ == "__main__":
    main()
