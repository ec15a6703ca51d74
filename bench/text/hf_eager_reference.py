"""The PyTorch side of the text benchmark: Hugging Face's BertModel forward written with the ops
HF runs in eager mode on torch 1.13 (F.embedding, F.linear, F.layer_norm, matmul + additive
finfo.min mask + softmax attention, F.gelu), then sentence-transformers' mean pooling and
F.normalize. Length-sorted padded batches, as SentenceTransformer.encode forms them.

Tokenisation is not timed (HF's Rust tokenizer is not installed here; the ids come from the
reference tokenizer), so the number is the model's alone."""

import math
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures", "text"))

import bert_reference as ref  # noqa: E402
from reference_tokenizer import ReferenceBertTokenizer, load_vocab, st_strip  # noqa: E402


class HfEagerBert:
    def __init__(self, folder):
        import json
        self.cfg = json.load(open(os.path.join(folder, "config.json")))
        self.p = ref.load_safetensors(os.path.join(folder, "model.safetensors"))
        self.p = {k[5:] if k.startswith("bert.") else k: v for k, v in self.p.items()}
        self.tok = ReferenceBertTokenizer(load_vocab(os.path.join(folder, "vocab.txt")))

    def tokenize(self, texts, max_len=256):
        return [self.tok.encode(st_strip(t), max_len) for t in texts]

    def forward(self, input_ids, attention_mask):
        c, p = self.cfg, self.p
        B, L = input_ids.shape
        H, nh = c["hidden_size"], c["num_attention_heads"]
        d, eps = H // nh, c["layer_norm_eps"]
        token_type_ids = torch.zeros_like(input_ids)
        position_ids = torch.arange(L).unsqueeze(0)
        x = (F.embedding(input_ids, p["embeddings.word_embeddings.weight"])
             + F.embedding(token_type_ids, p["embeddings.token_type_embeddings.weight"])
             + F.embedding(position_ids, p["embeddings.position_embeddings.weight"]))
        x = F.layer_norm(x, (H,), p["embeddings.LayerNorm.weight"], p["embeddings.LayerNorm.bias"],
                         eps)
        ext = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min

        def heads(t):
            return t.view(B, L, nh, d).permute(0, 2, 1, 3)

        for l in range(c["num_hidden_layers"]):
            q = f"encoder.layer.{l}."
            lin = lambda t, n: F.linear(t, p[q + n + ".weight"], p[q + n + ".bias"])  # noqa: E731
            qh = heads(lin(x, "attention.self.query"))
            kh = heads(lin(x, "attention.self.key"))
            vh = heads(lin(x, "attention.self.value"))
            scores = torch.matmul(qh, kh.transpose(-1, -2)) / math.sqrt(d) + ext
            probs = F.softmax(scores, dim=-1)
            ctx = torch.matmul(probs, vh).permute(0, 2, 1, 3).contiguous().view(B, L, H)
            a = F.layer_norm(lin(ctx, "attention.output.dense") + x, (H,),
                             p[q + "attention.output.LayerNorm.weight"],
                             p[q + "attention.output.LayerNorm.bias"], eps)
            inter = F.gelu(lin(a, "intermediate.dense"))
            x = F.layer_norm(lin(inter, "output.dense") + a, (H,),
                             p[q + "output.LayerNorm.weight"], p[q + "output.LayerNorm.bias"], eps)
        return x

    def encode(self, ids, batch_size=32):
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out = [None] * len(ids)
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s: s + batch_size]
                L = max(len(ids[i]) for i in idx)
                input_ids = torch.zeros(len(idx), L, dtype=torch.long)
                mask = torch.zeros(len(idx), L, dtype=torch.long)
                for b, i in enumerate(idx):
                    input_ids[b, : len(ids[i])] = torch.tensor(ids[i])
                    mask[b, : len(ids[i])] = 1
                tokens = self.forward(input_ids, mask)
                m = mask.unsqueeze(-1).to(tokens.dtype)
                emb = (tokens * m).sum(1) / m.sum(1).clamp(min=1e-9)
                emb = F.normalize(emb, p=2, dim=1)
                for b, i in enumerate(idx):
                    out[i] = emb[b]
        return torch.stack(out)


def bench(folder, sentences, threads=2, batch_size=32, repeat=3):
    torch.set_num_threads(threads)
    model = HfEagerBert(folder)
    ids = model.tokenize(sentences)
    model.encode(ids[:64], batch_size)  # warm-up
    best, best_cpu, emb = float("inf"), float("inf"), None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        emb = model.encode(ids, batch_size)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {"impl": "pytorch-eager (HF BertModel ops)", "threads": threads, "batch": batch_size,
            "sentences": len(sentences), "tokens": sum(len(x) for x in ids), "seconds": best, "cpu_seconds": best_cpu,
            "sentences_per_s": len(sentences) / best, "torch": torch.__version__}, emb.numpy()
