"""Reference for cgan::resize_bicubic: PIL's Image.resize(BICUBIC) on an RGB PNG.

usage: pil_resize.py IN.png OUT.png WIDTH HEIGHT
"""
import sys

from PIL import Image

src, dst, w, h = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
Image.open(src).convert("RGB").resize((w, h), Image.BICUBIC).save(dst)
