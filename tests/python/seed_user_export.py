"""What a user does: build the seed's PyTorch Generator, torch.save its state_dict, and run it
on a photo. Writes G.pth, photo.png and the expected cartoon expected.png into DIR.

usage: seed_user_export.py DIR
"""
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_nets  # noqa: E402

d = sys.argv[1]
torch.manual_seed(0)
torch.set_num_threads(2)
g = seed_nets.Generator(3, 64, 8).eval()
torch.save(g.state_dict(), os.path.join(d, "G.pth"))
rng = np.random.default_rng(0)
photo = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
Image.fromarray(photo).save(os.path.join(d, "photo.png"))
x = torch.from_numpy(photo.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
with torch.no_grad():
    y = g(x)[0].permute(1, 2, 0).numpy()
out = np.clip(np.rint((y * 0.5 + 0.5) * 255), 0, 255).astype(np.uint8)
Image.fromarray(out).save(os.path.join(d, "expected.png"))
