"""The ONNX models of bench/peers: embedflow's random-weight MiniLM-L6, CLIP ViT-B/32, ViT-B/16
and DINOv2-S as ONNX Runtime users get them, i.e. exported from PyTorch modules laid out as
Hugging Face transformers' BertModel / CLIPModel / ViTModel / Dinov2Model (same parameter names,
same ops in the same order), with the same safetensors weights embedflow loads.

    /usr/bin/python3 bench/peers/export_onnx.py --build build
        [--models minilm,clip-image,clip-text,vit-b16,dinov2-s]
        [--minilm DIR] [--clip DIR] [--vit DIR] [--dinov2 DIR] [--out DIR]

Writes BUILD/generated/peers/{minilm,clip-image,clip-text,vit-b16,dinov2-s}.onnx (opset 14,
dynamic batch and sequence axes; the vision models take 224x224 images) from
BUILD/generated/text/minilm-random, BUILD/generated/clip-vit-b32/model and
BUILD/generated/vision/{vit-b16,dinov2-small}, or the folders given. The transformers package is
not needed (nor installed here): the modules below are written from its modeling_bert.py /
modeling_clip.py / modeling_vit.py / modeling_dinov2.py."""

import argparse
import json
import math
import os
import sys
import warnings

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures"))

from safetensors_np import load_safetensors  # noqa: E402

MODELS = ("minilm", "clip-image", "clip-text", "vit-b16", "dinov2-s")
VISION_SIZE = 224  # the input size the vision models are exported (and timed) at


def additive_mask(keep, dtype):
    """1 = attend, 0 = masked -> 0 / most negative float, as transformers' extended masks."""
    return (1.0 - keep.to(dtype)) * torch.finfo(dtype).min


def split_heads(x, head_dim):
    return x.view(x.shape[0], x.shape[1], -1, head_dim).transpose(1, 2)


def attend(q, k, v, bias, head_dim, divide):
    """Eager attention: softmax(q k^T scaled + bias) v, heads merged back. BERT divides the
    scores by sqrt(d), CLIP multiplies them by d^-0.5: each exported as its modeling file does."""
    b, n, h = q.shape
    d = head_dim  # a Python int: traced shapes would make sqrt(d) a constant with a warning
    q, k, v = split_heads(q, d), split_heads(k, d), split_heads(v, d)
    scores = torch.matmul(q, k.transpose(-1, -2))
    scores = scores / math.sqrt(d) if divide else scores * d ** -0.5
    if bias is not None:
        scores = scores + bias
    ctx = torch.matmul(F.softmax(scores, dim=-1), v)
    return ctx.transpose(1, 2).reshape(b, n, h)


# --- BertModel + sentence-transformers' Pooling(mean) + Normalize ---------------------------

class BertLayer(nn.Module):
    """Post-LN: attention -> dense -> LN(+x); intermediate (erf GELU) -> output -> LN(+a)."""

    def __init__(self, c):
        super().__init__()
        h, eps = c["hidden_size"], c["layer_norm_eps"]
        self.head_dim = h // c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attn_out = nn.Linear(h, h)
        self.attn_norm = nn.LayerNorm(h, eps=eps)
        self.intermediate = nn.Linear(h, c["intermediate_size"])
        self.out = nn.Linear(c["intermediate_size"], h)
        self.out_norm = nn.LayerNorm(h, eps=eps)

    def forward(self, x, bias):
        ctx = attend(self.query(x), self.key(x), self.value(x), bias, self.head_dim, True)
        a = self.attn_norm(self.attn_out(ctx) + x)
        return self.out_norm(self.out(F.gelu(self.intermediate(a))) + a)

    # transformers' parameter names -> ours
    NAMES = {"attention.self.query": "query", "attention.self.key": "key",
             "attention.self.value": "value", "attention.output.dense": "attn_out",
             "attention.output.LayerNorm": "attn_norm", "intermediate.dense": "intermediate",
             "output.dense": "out", "output.LayerNorm": "out_norm"}


class SentenceBert(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.word = nn.Embedding(c["vocab_size"], h)
        self.position = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type = nn.Embedding(c["type_vocab_size"], h)
        self.emb_norm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.layers = nn.ModuleList(BertLayer(c) for _ in range(c["num_hidden_layers"]))
        self.register_buffer("position_ids", torch.arange(c["max_position_embeddings"])[None])

    def forward(self, input_ids, attention_mask, token_type_ids):
        positions = self.position_ids[:, :input_ids.shape[1]]
        x = self.emb_norm(self.word(input_ids) + self.token_type(token_type_ids)
                          + self.position(positions))
        bias = additive_mask(attention_mask[:, None, None, :], x.dtype)
        for layer in self.layers:
            x = layer(x, bias)
        # sentence-transformers: mean over the real tokens, then L2 normalisation
        m = attention_mask.unsqueeze(-1).to(x.dtype)
        mean = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(mean, p=2.0, dim=1)

    def load(self, tensors):
        p = {k[5:] if k.startswith("bert.") else k: v for k, v in tensors.items()}
        sd = {"word.weight": p["embeddings.word_embeddings.weight"],
              "position.weight": p["embeddings.position_embeddings.weight"],
              "token_type.weight": p["embeddings.token_type_embeddings.weight"],
              "emb_norm.weight": p["embeddings.LayerNorm.weight"],
              "emb_norm.bias": p["embeddings.LayerNorm.bias"],
              "position_ids": self.position_ids}
        for i in range(len(self.layers)):
            for hf, ours in BertLayer.NAMES.items():
                for kind in ("weight", "bias"):
                    sd[f"layers.{i}.{ours}.{kind}"] = p[f"encoder.layer.{i}.{hf}.{kind}"]
        self.load_state_dict(sd, strict=True)  # the pooler is unused by sentence-transformers


# --- CLIP towers ---------------------------------------------------------------------------

def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class ClipLayer(nn.Module):
    """Pre-LN: x + attn(LN1(x)), then x + fc2(quick_gelu(fc1(LN2(x)))); names as transformers."""

    def __init__(self, c):
        super().__init__()
        h, eps = c["hidden_size"], c["layer_norm_eps"]
        self.head_dim = h // c["num_attention_heads"]
        self.layer_norm1 = nn.LayerNorm(h, eps=eps)
        self.self_attn = nn.ModuleDict({n: nn.Linear(h, h)
                                        for n in ("q_proj", "k_proj", "v_proj", "out_proj")})
        self.layer_norm2 = nn.LayerNorm(h, eps=eps)
        self.mlp = nn.ModuleDict({"fc1": nn.Linear(h, c["intermediate_size"]),
                                  "fc2": nn.Linear(c["intermediate_size"], h)})

    def forward(self, x, bias=None):
        a, y = self.self_attn, self.layer_norm1(x)
        ctx = attend(a["q_proj"](y), a["k_proj"](y), a["v_proj"](y), bias, self.head_dim, False)
        x = x + a["out_proj"](ctx)
        return x + self.mlp["fc2"](quick_gelu(self.mlp["fc1"](self.layer_norm2(x))))


class ClipVision(nn.Module):
    """get_image_features: patches + CLS + positions, pre_layrnorm, layers, post_layernorm on
    the CLS token, visual_projection."""

    def __init__(self, c, projection_dim):
        super().__init__()
        h, patch = c["hidden_size"], c["patch_size"]
        self.patch_embedding = nn.Conv2d(c["num_channels"], h, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(h))
        positions = (c["image_size"] // patch) ** 2 + 1
        self.position_embedding = nn.Embedding(positions, h)
        self.register_buffer("position_ids", torch.arange(positions)[None])
        self.pre_layrnorm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.layers = nn.ModuleList(ClipLayer(c) for _ in range(c["num_hidden_layers"]))
        self.post_layernorm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.visual_projection = nn.Linear(h, projection_dim, bias=False)

    def forward(self, pixel_values):
        patches = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(pixel_values.shape[0], 1, -1)
        x = torch.cat([cls, patches], dim=1) + self.position_embedding(self.position_ids)
        x = self.pre_layrnorm(x)
        for layer in self.layers:
            x = layer(x)
        return self.visual_projection(self.post_layernorm(x[:, 0, :]))

    def load(self, p):
        sd = {k[len("vision_model."):].replace("embeddings.", "").replace("encoder.", ""): v
              for k, v in p.items() if k.startswith("vision_model.")}
        sd["visual_projection.weight"] = p["visual_projection.weight"]
        self.load_state_dict(sd, strict=True)


class ClipText(nn.Module):
    """get_text_features: token + position embeddings, causal layers (with the padding mask),
    final_layer_norm, the state at the first end-of-text id, text_projection."""

    def __init__(self, c, projection_dim, eos_id):
        super().__init__()
        h = c["hidden_size"]
        self.eos_id = eos_id
        self.token_embedding = nn.Embedding(c["vocab_size"], h)
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], h)
        self.register_buffer("position_ids", torch.arange(c["max_position_embeddings"])[None])
        self.layers = nn.ModuleList(ClipLayer(c) for _ in range(c["num_hidden_layers"]))
        self.final_layer_norm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.text_projection = nn.Linear(h, projection_dim, bias=False)

    def forward(self, input_ids, attention_mask):
        n = input_ids.shape[1]
        x = self.token_embedding(input_ids) + self.position_embedding(self.position_ids[:, :n])
        # transformers' create_causal_mask: key j is seen by query i if j <= i and j is no padding
        causal = torch.ones(n, n, dtype=torch.bool).tril()[None, None]
        keep = causal & attention_mask[:, None, None, :].to(torch.bool)
        bias = additive_mask(keep, x.dtype)
        for layer in self.layers:
            x = layer(x, bias)
        x = self.final_layer_norm(x)
        # the ids cast to int32 before ArgMax, as transformers does for its ONNX exports
        eos = (input_ids.to(torch.int32) == self.eos_id).to(torch.int32).argmax(dim=-1)
        return self.text_projection(x[torch.arange(x.shape[0]), eos])

    def load(self, p):
        sd = {k[len("text_model."):].replace("embeddings.", "").replace("encoder.", ""): v
              for k, v in p.items() if k.startswith("text_model.")}
        sd["text_projection.weight"] = p["text_projection.weight"]
        self.load_state_dict(sd, strict=True)


# --- ViTModel / Dinov2Model: the class token after the final layernorm ---------------------

class VisionLayer(nn.Module):
    """Pre-LN: x + s1 * attn(LN1(x)), then h + s2 * fc2(gelu(fc1(LN2(h)))); s1, s2 are DINOv2's
    layer-scale vectors (ViT has none)."""

    def __init__(self, c, intermediate, layer_scale):
        super().__init__()
        h, eps = c["hidden_size"], c.get("layer_norm_eps", 1e-12)  # transformers' default
        self.head_dim = h // c["num_attention_heads"]
        self.norm1 = nn.LayerNorm(h, eps=eps)
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attn_out = nn.Linear(h, h)
        self.norm2 = nn.LayerNorm(h, eps=eps)
        self.fc1, self.fc2 = nn.Linear(h, intermediate), nn.Linear(intermediate, h)
        self.scale1 = nn.Parameter(torch.ones(h)) if layer_scale else None
        self.scale2 = nn.Parameter(torch.ones(h)) if layer_scale else None

    def forward(self, x):
        y = self.norm1(x)
        a = self.attn_out(attend(self.query(y), self.key(y), self.value(y), None, self.head_dim,
                                 False))
        x = x + (a * self.scale1 if self.scale1 is not None else a)
        m = self.fc2(F.gelu(self.fc1(self.norm2(x))))
        return x + (m * self.scale2 if self.scale2 is not None else m)

    # transformers' parameter names (under encoder.layer.{i}.) -> ours, per model_type
    NAMES = {
        "vit": {"layernorm_before": "norm1", "attention.attention.query": "query",
                "attention.attention.key": "key", "attention.attention.value": "value",
                "attention.output.dense": "attn_out", "layernorm_after": "norm2",
                "intermediate.dense": "fc1", "output.dense": "fc2"},
        "dinov2": {"norm1": "norm1", "attention.attention.query": "query",
                   "attention.attention.key": "key", "attention.attention.value": "value",
                   "attention.output.dense": "attn_out", "norm2": "norm2", "mlp.fc1": "fc1",
                   "mlp.fc2": "fc2", "layer_scale1.lambda1": "scale1",
                   "layer_scale2.lambda1": "scale2"},
    }


class VisionTransformer(nn.Module):
    """ViTModel / Dinov2Model up to last_hidden_state[:, 0]: patch embedding (a strided conv with
    bias), class token, position embeddings, pre-LN layers, final layernorm (over every token, as
    transformers does), the class token's row (DINOv2's pooler_output; ViTModel's pooler, a
    tanh dense layer, is not used)."""

    def __init__(self, c):
        super().__init__()
        if c.get("hidden_act", "gelu") != "gelu" or c.get("use_swiglu_ffn", False):
            raise ValueError("only the erf GELU MLP of ViT-B and DINOv2-S/B/L is written here")
        self.family = c["model_type"]
        h, self.patch = c["hidden_size"], c["patch_size"]
        intermediate = int(h * c.get("mlp_ratio", 4)) if self.family == "dinov2" \
            else c["intermediate_size"]
        self.patch_embedding = nn.Conv2d(c.get("num_channels", 3), h, self.patch,
                                         stride=self.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, h))
        self.grid = c["image_size"] // self.patch  # a Python int: the trace keeps it constant
        self.position_embeddings = nn.Parameter(torch.zeros(1, self.grid ** 2 + 1, h))
        self.layers = nn.ModuleList(VisionLayer(c, intermediate, self.family == "dinov2")
                                    for _ in range(c["num_hidden_layers"]))
        self.layernorm = nn.LayerNorm(h, eps=c.get("layer_norm_eps", 1e-12))

    def positions(self, height, width):
        """ViT adds its table as it is (ViTModel accepts only config.image_size). DINOv2 resizes
        the patch rows of its table (37x37 at 518 px) to the input's grid as
        Dinov2Embeddings.interpolate_pos_encoding does: bicubic, align_corners False, in
        float32, sizes given (not scale factors), the class row kept. Transformers always takes
        this path when tracing, so that is the graph its exports have."""
        if self.family == "vit":
            return self.position_embeddings
        table, dim = self.position_embeddings, self.position_embeddings.shape[-1]
        grid = table[:, 1:].reshape(1, self.grid, self.grid, dim).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(height // self.patch, width // self.patch),
                             mode="bicubic", align_corners=False)
        return torch.cat([table[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, dim)], dim=1)

    def forward(self, pixel_values):
        patches = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(pixel_values.shape[0], -1, -1)
        x = torch.cat([cls, patches], dim=1) + self.positions(pixel_values.shape[2],
                                                             pixel_values.shape[3])
        for layer in self.layers:
            x = layer(x)
        return self.layernorm(x)[:, 0]

    def load(self, p):
        sd = {"patch_embedding.weight": p["embeddings.patch_embeddings.projection.weight"],
              "patch_embedding.bias": p["embeddings.patch_embeddings.projection.bias"],
              "cls_token": p["embeddings.cls_token"],
              "position_embeddings": p["embeddings.position_embeddings"],
              "layernorm.weight": p["layernorm.weight"], "layernorm.bias": p["layernorm.bias"]}
        for i in range(len(self.layers)):
            for hf, ours in VisionLayer.NAMES[self.family].items():
                for kind in ("",) if hf.endswith("lambda1") else (".weight", ".bias"):
                    sd[f"layers.{i}.{ours}{kind}"] = p[f"encoder.layer.{i}.{hf}{kind}"]
        # left out: ViTModel's pooler.dense and DINOv2's mask_token (masked pretraining only)
        self.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)


# --- export ---------------------------------------------------------------------------------

def tensors(path):
    return {k: torch.from_numpy(v) for k, v in load_safetensors(path).items()}


def build(name, dirs):
    """(module, example inputs, input names, output name, dynamic axes)"""
    if name == "minilm":
        c = json.load(open(os.path.join(dirs["minilm"], "config.json")))
        m = SentenceBert(c)
        m.load(tensors(os.path.join(dirs["minilm"], "model.safetensors")))
        ids = torch.randint(1000, 2000, (2, 9))
        mask = torch.ones_like(ids)
        mask[1, 6:] = 0
        names = ["input_ids", "attention_mask", "token_type_ids"]
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
        return m, (ids, mask, torch.zeros_like(ids)), names, "sentence_embedding", axes
    if name in ("vit-b16", "dinov2-s"):
        folder = dirs["vit" if name == "vit-b16" else "dinov2"]
        m = VisionTransformer(json.load(open(os.path.join(folder, "config.json"))))
        m.load(tensors(os.path.join(folder, "model.safetensors")))
        pixels = torch.randn(2, 3, VISION_SIZE, VISION_SIZE)
        return m, (pixels,), ["pixel_values"], "cls_embedding", {"pixel_values": {0: "batch"}}
    c = json.load(open(os.path.join(dirs["clip"], "config.json")))
    p = tensors(os.path.join(dirs["clip"], "model.safetensors"))
    if name == "clip-image":
        v = c["vision_config"]
        m = ClipVision(v, c["projection_dim"])
        m.load(p)
        pixels = torch.randn(2, v["num_channels"], v["image_size"], v["image_size"])
        return m, (pixels,), ["pixel_values"], "image_embeds", {"pixel_values": {0: "batch"}}
    vocab = json.load(open(os.path.join(dirs["clip"], "vocab.json")))
    m = ClipText(c["text_config"], c["projection_dim"], vocab["<|endoftext|>"])
    m.load(p)
    ids = torch.tensor([[49406, 320, 1125, 539, 320, 2368, 49407, 49407],
                        [49406, 320, 1929, 49407, 49407, 49407, 49407, 49407]])
    mask = (torch.arange(8)[None] <= torch.tensor([[6], [3]])).long()
    names = ["input_ids", "attention_mask"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    return m, (ids, mask), names, "text_embeds", axes


def export(name, dirs, out):
    # torch 1.13's exporter notes that it lacks shapes for constants and that advanced indexing
    # is wrong for negative indices: neither applies here (the EOS position is >= 0).
    warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")
    warnings.filterwarnings("ignore", message="Exporting aten::index operator")
    m, args, names, output, axes = build(name, dirs)
    m.eval()
    axes[output] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(m, args, out, input_names=names, output_names=[output],
                          dynamic_axes=axes, opset_version=14, do_constant_folding=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--minilm", help="default: BUILD/generated/text/minilm-random")
    ap.add_argument("--clip", help="default: BUILD/generated/clip-vit-b32/model")
    ap.add_argument("--vit", help="default: BUILD/generated/vision/vit-b16")
    ap.add_argument("--dinov2", help="default: BUILD/generated/vision/dinov2-small")
    ap.add_argument("--out", help="default: BUILD/generated/peers")
    a = ap.parse_args()
    dirs = {"minilm": a.minilm or os.path.join(a.build, "generated", "text", "minilm-random"),
            "clip": a.clip or os.path.join(a.build, "generated", "clip-vit-b32", "model"),
            "vit": a.vit or os.path.join(a.build, "generated", "vision", "vit-b16"),
            "dinov2": a.dinov2 or os.path.join(a.build, "generated", "vision", "dinov2-small")}
    out = a.out or os.path.join(a.build, "generated", "peers")
    os.makedirs(out, exist_ok=True)
    for name in a.models.split(","):
        path = export(name, dirs, os.path.join(out, name + ".onnx"))
        print(f"{path}: {os.path.getsize(path) / 2**20:.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
