#!/usr/bin/python3
"""Seed corpora for the fuzz targets (run from tests/fuzz/ with /usr/bin/python3)."""
import json
import struct

import cv2
import numpy as np


def safetensors(header, data=b""):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def main():
    seeds = {
        "valid": safetensors({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                              "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]},
                              "__metadata__": {"format": "pt"}}, bytes(22)),
        "overlap": safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
                               bytes(12)),
        "empty_tensor": safetensors({"e": {"dtype": "I64", "shape": [0, 5],
                                           "data_offsets": [0, 0]}}),
    }
    for name, data in seeds.items():
        with open(f"seeds/safetensors/{name}.safetensors", "wb") as f:
            f.write(data)
    img = (np.arange(8 * 8 * 3) % 256).astype(np.uint8).reshape(8, 8, 3)
    for ext in ("png", "jpg", "bmp", "webp", "tiff"):
        ok, buf = cv2.imencode("." + ext, img)
        assert ok
        with open(f"seeds/image/tiny.{ext}", "wb") as f:
            f.write(buf.tobytes())


if __name__ == "__main__":
    main()
