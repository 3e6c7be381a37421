#!/usr/bin/env python3
"""Writes the fuzz harnesses' seed corpus (tests/fuzz/seeds/<harness>/): small valid inputs of
each format, so libFuzzer starts from the structure the parsers expect. Standard library
only; deterministic. Crash inputs found later are added next to these by hand (crash-*)."""
import json
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(7)


def out(harness, name, data):
    d = os.path.join(HERE, "seeds", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, dtype, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        size = {"F32": 4, "F16": 2, "BF16": 2}[dtype] * n
        blob = bytes(rng.randrange(256) for _ in range(size))
        if dtype == "F32":  # finite values
            blob = b"".join(struct.pack("<f", rng.uniform(-1, 1)) for _ in range(n))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + size]}
        blobs.append(blob)
        off += size
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def npy(descr, shape, payload, version=1):
    dims = "".join("%d, " % s for s in shape)
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, dims)
    pre = 10 if version == 1 else 12
    header += " " * (-(pre + len(header) + 1) % 64) + "\n"
    size = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode() + payload


def png(w, h, channels, depth=8):
    color = {1: 0, 3: 2, 4: 6}[channels]
    rows = b""
    for _ in range(h):
        rows += b"\0" + bytes(rng.randrange(256) for _ in range(w * channels * depth // 8))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def bmp(w, h):
    row = (w * 3 + 3) // 4 * 4
    pixels = bytes(rng.randrange(256) for _ in range(row * h))
    head = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return head + info + pixels


def main():
    out("safetensors", "f32.safetensors", safetensors([("a", "F32", [2, 3]), ("b", "F32", [])]))
    out("safetensors", "mixed.safetensors",
        safetensors([("h", "F16", [3]), ("bf", "BF16", [2, 2]), ("e", "F32", [0, 4])], {"k": "v"}))
    out("npy", "v1_f4.npy", npy("<f4", [2, 3], struct.pack("<6f", *range(6))))
    out("npy", "v2_f8.npy", npy("<f8", [3], struct.pack("<3d", 0.5, -1.0, 2.0), version=2))
    out("npy", "scalar.npy", npy("<f4", [], struct.pack("<f", 7)))
    # image harness: first byte = resize target, then the file
    samples = os.path.join(HERE, "..", "..", "data", "samples")
    jpg = sorted(f for f in os.listdir(samples) if f.endswith(".jpg"))[0]
    with open(os.path.join(samples, jpg), "rb") as f:
        data = f.read()
    out("image", "sample.jpg", b"\x10" + data)
    out("image", "rgb.png", b"\x07" + png(9, 5, 3))
    out("image", "rgba.png", b"\x03" + png(4, 6, 4))
    out("image", "gray16.png", b"\x05" + png(5, 5, 1, 16))
    out("image", "small.bmp", b"\x02" + bmp(7, 3))
    cfg = {"adam_eps": 1e-8, "arch": "seed", "batch": 4, "beta1": 0.5, "beta2": 0.999,
           "cartoon_dir": "c", "content_after_relu": True, "content_layer": "conv4_4",
           "content_weight": 10.0, "d_features": [32, 64, 128, 256], "epochs": 2,
           "g_features": 64, "g_residuals": 8, "init_epochs": 2, "lr_d": 2e-4, "lr_decay": False,
           "lr_g": 2e-4, "num_samples": 4, "photo_dir": "p", "sample_dir": "s", "seed": "0",
           "size": 96, "smoothed_dir": "", "vgg_path": "", "vgg_random": True}
    meta = {"format": "cgan_train_checkpoint", "version": 1, "step": 3, "config": cfg}
    csv = ("step,epoch,phase,d_real,d_smooth,d_fake,g_adv,content,lr_g,lr_d,data_wait_ms,step_ms\n"
           "0,0,init,,,,,64.88,0.0002,0.0002,23.03,3664.15\n"
           "1,0,init,,,,,60.92,0.0002,0.0002,0.00,3025.81\n"
           "2,1,adversarial,0.5,0.4,0.3,0.9,55.1,0.0002,0.0002,0.00,3025.81\n")
    out("resume", "checkpoint_meta_and_csv", json.dumps(meta).encode() + b"\0" + csv.encode())
    # weights: the tiny seed generator's own names (features 2, residuals 1) and a few others
    g = [("initial.0.weight", "F32", [2, 3, 7, 7]), ("initial.0.bias", "F32", [2]),
         ("down_blocks.0.weight", "F32", [4, 2, 3, 3]), ("last.weight", "F32", [3, 2, 7, 7])]
    out("weights", "seed_partial.safetensors", safetensors(g, {"arch": "seed"}))
    out("weights", "official_names.safetensors",
        safetensors([("conv01_1.weight", "F32", [2, 3, 7, 7]), ("in01_1.scale", "F32", [2])]))
    out("weights", "vgg_names.safetensors",
        safetensors([("features.0.weight", "F32", [64, 3, 3, 3]), ("features.0.bias", "F32", [64])],
                    {"preprocessing": "caffe"}))

    # Regression inputs: what fuzzing found before the fixes (issue 11).
    long_ws = "{'descr': '<f4', 'fortran_order': False, 'shape': (2," + " " * 30000 + "3), }"
    long_ws += " " * (-(12 + len(long_ws) + 1) % 64) + "\n"
    out("npy", "regress-long-header.npy",
        b"\x93NUMPY\x02\x00" + struct.pack("<I", len(long_ws)) + long_ws.encode() + struct.pack("<6f", *range(6)))
    out("npy", "regress-shape-wraps.npy", npy("<f4", [1 << 62, 4], b""))
    h = json.dumps({"t": {"dtype": "F32", "shape": [1 << 62, 4], "data_offsets": [0, 0]}}).encode()
    out("safetensors", "regress-shape-wraps.safetensors", struct.pack("<Q", len(h)) + h)
    with open(os.path.join(samples, jpg), "rb") as f:
        bad = bytearray(f.read())
    dht = bad.find(b"\xff\xc4")
    bad[dht + 5:dht + 21] = bytes([0x40] * 16)  # Huffman counts summing to 1024
    out("image", "regress-huffman-counts.jpg", b"\x10" + bytes(bad))
    bad_meta = dict(meta)
    bad_meta["config"] = dict(cfg, epochs=9.2e19)
    out("resume", "regress-negative-steps-float-epochs",
        json.dumps(bad_meta).encode() + b"\0" + csv.encode()
        + b"-5,0,init,,,,,1,,,\n9999999,0,init,,,,,1,,,\n1,0,init,,,,,x,,,\n")


if __name__ == "__main__":
    main()
