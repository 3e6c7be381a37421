#!/usr/bin/env python3
"""CPU side by side (issue 14): cgan_cartoonize vs ONNX Runtime (CPU provider) vs PyTorch on
the official Hayao generator, whole process, on the 450-px conformance photos in1.png and
in3.png, with 1 and 2 threads; and the seed training step vs PyTorch (bench_train_step and
bench/pytorch_train_step.py). One run, printed side by side with the ratios and peak RSS.

    /usr/bin/python3 -m venv --system-site-packages /tmp/ortenv
    /tmp/ortenv/bin/pip install onnxruntime
    /tmp/ortenv/bin/python bench/ort_cpu_cartoonize.py [--runs 3] > bench/results/cpu-vs-ort.txt

The ONNX model is exported here with Debian's torch.onnx from the same weights (the network of
bench/pytorch_cartoonize.py, dynamic height and width). Each measurement is a fresh process
pinned with taskset to 1 or 2 cores (ORT: intra_op_num_threads; cgan: CGAN_NUM_THREADS),
timed by /usr/bin/time (wall seconds, peak RSS); the median of --runs, measured in pairs
(cgan, ORT, PyTorch, cgan, ...) so that drifting machine load hits all alike. Every process
decodes both photos, resizes them (longer side 450), runs the network and writes PNGs.
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
photos = sys.argv[5:]
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
    w, h = im.size  # the official rule: longer side 450, the other truncated
    size = (450, int(450 * h / w)) if w > h else (int(450 * w / h), 450)
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
    return float(s), int(kb) / 1024.0


def main():
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
    impls = ["cgan", "ort", "pytorch"]
    tmp = tempfile.mkdtemp(prefix="cgan_ort_")
    model = os.path.join(tmp, "hayao.onnx")
    export_onnx(model)
    worker = os.path.join(tmp, "worker.py")
    with open(worker, "w") as f:
        f.write(WORKER)
    rows = []
    for threads, cores in ((1, "0"), (2, "0,1")):
        res = {k: [] for k in impls}
        for _ in range(runs):
            for impl in impls:
                out = tempfile.mkdtemp(dir=tmp)
                env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                           OPENBLAS_NUM_THREADS=str(threads), CGAN_NUM_THREADS=str(threads),
                           CGAN_W=WEIGHTS, PYTHONPATH=os.path.join(ROOT, "tests", "python"))
                if impl == "cgan":
                    cmd = [os.path.join(BUILD, "cgan_cartoonize"), "--weights", WEIGHTS,
                           "--max-side", "450", "--no-progress"] + PHOTOS + ["-o", out]
                elif impl == "ort":
                    cmd = [sys.executable, worker, "ort", model, str(threads), out] + PHOTOS
                else:
                    cmd = [sys.executable, worker, "torch", HERE, str(threads), out] + PHOTOS
                res[impl].append(timed(cmd, cores, env))
        for impl in impls:
            v = sorted(res[impl])
            s = v[len(v) // 2][0]
            rss = max(x[1] for x in v)
            row = {"bench": "cpu_cartoonize_whole_process", "impl": impl, "threads": threads,
                   "photos": "in1.png+in3.png", "runs": runs, "median_s": round(s, 2),
                   "all_s": [round(x[0], 2) for x in res[impl]], "peak_rss_MiB": round(rss)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("# %-8s %-8s %10s %14s %22s" % ("threads", "impl", "median s", "peak RSS MiB",
                                          "ORT time / this time"))
    for r in rows:
        ort = [x for x in rows if x["impl"] == "ort" and x["threads"] == r["threads"]][0]
        print("# %-8d %-8s %10.2f %14d %22.2f" % (r["threads"], r["impl"], r["median_s"],
                                                   r["peak_rss_MiB"], ort["median_s"] / r["median_s"]))


if __name__ == "__main__":
    main()
