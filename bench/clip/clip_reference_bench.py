"""The Python side of the CLIP benchmark: the same checkpoint run as transformers' CLIPModel runs
it — the module structure and ops of modeling_clip.py (nn.Linear q/k/v/out projections,
nn.LayerNorm, bmm attention, quick_gelu), eval mode, torch.inference_mode — and
CLIPImageProcessor's PIL preprocessing. transformers itself is not packaged in Debian; this is a
faithful re-statement of its forward, not a slowed-down one. Prints one JSON object.

    /usr/bin/python3 bench/clip/clip_reference_bench.py --model DIR [--threads 2] [--batch 32]
"""

import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch
from torch import nn
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "fixtures", "clip"))
from clip_tokenizer_ref import ClipTokenizer  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    types = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=types[info["dtype"]])
                                     .reshape(info["shape"]).copy())
    return out


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.head_dim, self.scale = heads, d // heads, (d // heads) ** -0.5
        self.k_proj, self.v_proj, self.q_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def _shape(self, t, length, b):
        return t.view(b, length, self.heads, self.head_dim).transpose(1, 2).contiguous()

    def forward(self, x, mask=None):
        b, length, d = x.shape
        q = self._shape(self.q_proj(x) * self.scale, length, b).view(b * self.heads, length, -1)
        k = self._shape(self.k_proj(x), length, b).view(b * self.heads, length, -1)
        v = self._shape(self.v_proj(x), length, b).view(b * self.heads, length, -1)
        w = torch.bmm(q, k.transpose(1, 2))
        if mask is not None:
            w = (w.view(b, self.heads, length, length) + mask).view(b * self.heads, length, length)
        w = nn.functional.softmax(w, dim=-1)
        o = torch.bmm(w, v).view(b, self.heads, length, self.head_dim).transpose(1, 2)
        return self.out_proj(o.reshape(b, length, d))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.self_attn = Attention(d, c["num_attention_heads"])
        self.layer_norm1 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(d, c["intermediate_size"])
        self.mlp.fc2 = nn.Linear(c["intermediate_size"], d)
        self.act = QuickGELU() if c["hidden_act"] == "quick_gelu" else nn.GELU()
        self.layer_norm2 = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, x, mask=None):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp.fc2(self.act(self.mlp.fc1(self.layer_norm2(x))))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))

    def forward(self, x, mask=None):
        for layer in self.layers:
            x = layer(x, mask)
        return x


class CLIP(nn.Module):
    def __init__(self, config):
        super().__init__()
        v, t = config["vision_config"], config["text_config"]
        for c in (v, t):
            c.setdefault("layer_norm_eps", 1e-5)
        self.patch = v["patch_size"]
        self.vision_model = nn.Module()
        e = self.vision_model.embeddings = nn.Module()
        e.class_embedding = nn.Parameter(torch.zeros(v["hidden_size"]))
        e.patch_embedding = nn.Conv2d(3, v["hidden_size"], self.patch, self.patch, bias=False)
        e.position_embedding = nn.Embedding((v["image_size"] // self.patch) ** 2 + 1,
                                            v["hidden_size"])
        self.vision_model.pre_layrnorm = nn.LayerNorm(v["hidden_size"], eps=v["layer_norm_eps"])
        self.vision_model.encoder = Encoder(v)
        self.vision_model.post_layernorm = nn.LayerNorm(v["hidden_size"], eps=v["layer_norm_eps"])
        self.text_model = nn.Module()
        te = self.text_model.embeddings = nn.Module()
        te.token_embedding = nn.Embedding(t["vocab_size"], t["hidden_size"])
        te.position_embedding = nn.Embedding(t["max_position_embeddings"], t["hidden_size"])
        self.text_model.encoder = Encoder(t)
        self.text_model.final_layer_norm = nn.LayerNorm(t["hidden_size"], eps=t["layer_norm_eps"])
        self.visual_projection = nn.Linear(v["hidden_size"], config["projection_dim"], bias=False)
        self.text_projection = nn.Linear(t["hidden_size"], config["projection_dim"], bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(0.0))

    def get_image_features(self, pixels):
        e = self.vision_model.embeddings
        x = e.patch_embedding(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([e.class_embedding.expand(x.shape[0], 1, -1), x], dim=1)
        x = x + e.position_embedding.weight[None]
        x = self.vision_model.encoder(self.vision_model.pre_layrnorm(x))
        return self.visual_projection(self.vision_model.post_layernorm(x[:, 0]))

    def get_text_features(self, ids):
        b, length = ids.shape
        te = self.text_model.embeddings
        x = te.token_embedding(ids) + te.position_embedding.weight[:length][None]
        mask = torch.full((length, length), torch.finfo(x.dtype).min).triu(1)[None, None]
        x = self.text_model.final_layer_norm(self.text_model.encoder(x, mask))
        return self.text_projection(x[torch.arange(b), ids.argmax(dim=-1)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    model = CLIP(config).eval()
    state = read_safetensors(os.path.join(args.model, "model.safetensors"))
    state = {k: v for k, v in state.items() if "position_ids" not in k}
    model.load_state_dict(state)
    with open(os.path.join(args.model, "preprocessor_config.json")) as f:
        proc = json.load(f)
    s = config["vision_config"]["image_size"]
    b, n = args.batch, args.batches
    res = {}
    with torch.inference_mode():
        pixels = torch.randn(b, 3, s, s, generator=torch.Generator().manual_seed(0))
        model.get_image_features(pixels)
        t0 = time.perf_counter()
        for _ in range(n):
            model.get_image_features(pixels)
        res["images_per_s"] = b * n / (time.perf_counter() - t0)

        k = np.arange(480 * 640 * 3, dtype=np.int64).reshape(480, 640, 3)
        photos = [Image.fromarray(((k * 7 + i * 13) % 251).astype(np.uint8)) for i in range(b)]
        t0 = time.perf_counter()
        for _ in range(n):
            model.get_image_features(torch.stack([preprocess_pil(p, proc) for p in photos]))
        res["photos_per_s"] = b * n / (time.perf_counter() - t0)

        tok = ClipTokenizer(os.path.join(args.model, "vocab.json"),
                            os.path.join(args.model, "merges.txt"))
        base = ["A crazy cat smiling.", "A white and brown cat with a yellow bandana.",
                "A man eating in the garden.", "a photo of a dog playing in the snow",
                "two people riding bicycles along a river at sunset, seen from a bridge"]
        texts = [base[i % len(base)] + f" #{i}" for i in range(b)]
        seqs = [tok.tokenize(t) for t in texts]
        length = max(len(q) for q in seqs)
        ids = torch.tensor([q + [tok.eos] * (length - len(q)) for q in seqs])
        model.get_text_features(ids)
        t0 = time.perf_counter()
        for _ in range(n * 4):
            model.get_text_features(ids)
        res["captions_per_s"] = b * n * 4 / (time.perf_counter() - t0)
    res["threads"] = args.threads
    res["torch"] = torch.__version__
    print(json.dumps(res))


def preprocess_pil(img, proc):
    """CLIPImageProcessor on a PIL image (what sentence-transformers does per image)."""
    size = proc["size"]["shortest_edge"] if isinstance(proc["size"], dict) else proc["size"]
    crop = proc["crop_size"]
    ch, cw = (crop["height"], crop["width"]) if isinstance(crop, dict) else (crop, crop)
    w, h = img.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    a = np.asarray(img.convert("RGB").resize((nw, nh), resample=Image.BICUBIC))
    top, left = (nh - ch) // 2, (nw - cw) // 2
    a = a[top:top + ch, left:left + cw].astype(np.float64) * (1 / 255)
    a = ((a - np.array(proc["image_mean"])) / np.array(proc["image_std"])).astype(np.float32)
    return torch.from_numpy(a.transpose(2, 0, 1).copy())


if __name__ == "__main__":
    main()
