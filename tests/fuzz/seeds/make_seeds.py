#!/usr/bin/python3
"""Seed corpora for the fuzz targets: seeds/<target>/ (run from tests/fuzz/ with /usr/bin/python3).

Each seed is small and valid (or one step from valid), so the fuzzer starts from the code paths
real inputs take. Inputs the fuzzers found are added beside them by hand, named after what they
broke (README, "Fuzzing"); this script rewrites only the files it names itself.
"""
import json
import math
import os
import struct
import wave

import cv2
import numpy as np


def write(target, name, data):
    os.makedirs(f"seeds/{target}", exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(f"seeds/{target}/{name}", "wb") as f:
        f.write(data)


# --- safetensors, images -------------------------------------------------------------------

def safetensors(header, data=b""):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
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
        write("safetensors_fuzz", f"{name}.safetensors", data)


def image_seeds():
    img = (np.arange(8 * 8 * 3) % 256).astype(np.uint8).reshape(8, 8, 3)
    for ext in ("png", "jpg", "bmp", "webp", "tiff"):
        ok, buf = cv2.imencode("." + ext, img)
        assert ok
        write("image_header_fuzz", f"tiny.{ext}", buf.tobytes())


# --- config_fuzz: YAML, then NUL-separated "--set key=value" and "$NAME=value" parts ----------

def config_seeds():
    audio = """pipeline: spectrograms
threads: 2
errors: ${OUT:-out}/errors.jsonl
stages:
  - id: audio
    type: source.files
    params: { dir: "${DATA:-data}", extensions: [.wav, .flac] }
  - id: load
    type: audio.load
    params: { sample_rate: 16000, mono: true }
  - id: mel
    type: audio.spectrogram
    params:
      n_fft: 400
      hop_length: 160
      mel: { n_mels: 64 }
      db: { top_db: 80 }
  - id: npy
    type: write.npy
    params: { per_item: true, dir: out/npy }
"""
    write("config_fuzz", "audio.yaml", audio)
    write("config_fuzz", "audio_set.yaml",
          audio + "\0load.sample_rate=8000\0mel.mel.n_mels=40\0threads=1\0$DATA=/tmp/x")
    write("config_fuzz", "text_test_section.yaml", """pipeline: text
on_error: fail
stages:
  - id: lines
    type: source.text
    params: { items: ["a b c", "d e"] }
  - id: stats
    type: text.stats
    tap: true
  - id: out
    type: write.jsonl
    params: { path: out/stats.jsonl }
test:
  atol: 1.0e-5
  outputs:
    out: { min_cosine: 0.99 }
\0test.rtol=0.001\0stats.concurrency=unlimited""")
    write("config_fuzz", "anchors.yaml", """pipeline: &name anchors
stages:
  - &src
    id: a
    type: source.text
    params: &p { items: [*name, x] }
  - id: b
    type: aggregate.mean
    input: a
  - id: w
    type: write.csv
    inputs: [b]
    params: { path: out/w.csv }
""")
    write("config_fuzz", "graph.yaml", """pipeline: graph
max_in_flight: 64
stages:
  - id: files
    type: source.files
    params: { glob: "img/**/*.png", limit: 3 }
  - id: img
    type: image.load
    input: files
  - id: delay
    type: debug.delay
    input: img
    concurrency: 2
    params: { ms: 1 }
  - id: png
    type: write.png
    input: delay
    params: { dir: out/png }
\0png.dir=${OUT:-o}/p\0files.limit=-1""")
    write("config_fuzz", "nested_env.yaml",
          "pipeline: ${A:-${B:-${C:-x}}}\nstages:\n  - id: s\n    type: source.npy\n"
          "    params: { path: \"$${HOME}/e.npy\" }\n\0$A=\0$B=b")
    write("config_fuzz", "errors.yaml", """pipeline: broken
stages:
  - id: x
    type: source.filez
  - id: x
    type: audio.load
    params: { sample_rate: 0, bogus: 1 }
    mono: true
  - id: y
    inputs: [x, z]
    type: write.npy
""")


# --- tokenizers: one option byte, then the text -----------------------------------------------

TEXTS = {
    "ascii": "The dog sits outside, waiting for a treat!",
    "accents": "Caf\u00e9 na\u00efve \u00c5ngstr\u00f6m \u0130stanbul r\u00e9sum\u00e9",
    "cjk": "\u6211\u559c\u6b22\u732b and \u3053\u3093\u306b\u3061\u306f \ud55c\uad6d\uc5b4",
    "emoji": "good \U0001F600\U0001F44D\U0001F3FD night \u200d\ufeff",
    "html": "Tom &amp; Jerry&#8217;s &lt;b&gt; caf&eacute; &#x1F600; &#0; &nbsp;",
    "mojibake": "caf\u00c3\u00a9 \u00e2\u20ac\u2122quoted\u00e2\u20ac\u009d \ufb01ne \uff21\uff22",
    "controls": "tab\there\r\nnew\x00line\x1b[31mred\x1b[0m\u2028sep\u00ad",
    "long_word": "x" * 130 + " supercalifragilisticexpialidocious",
    "specials": "[CLS] [SEP] [UNK] <|startoftext|> <|endoftext|> ##ing don't",
}


def tokenizer_seeds():
    for target in ("wordpiece_fuzz", "clip_bpe_fuzz"):
        for i, (name, text) in enumerate(TEXTS.items()):
            write(target, f"{name}.txt", bytes([(i * 37) & 0xff]) + text.encode())
        # Invalid UTF-8: a lone continuation byte, an overlong '/', a surrogate, a cut sequence.
        write(target, "invalid_utf8.txt", b"\x20ok \x80 \xc0\xaf \xed\xa0\x80 \xe2\x82")


# --- audio_load_fuzz: two parameter bytes, then the file --------------------------------------

def samples(n, channels, scale=0.5):
    return [[scale * math.sin(0.3 * i + c) for c in range(channels)] for i in range(n)]


def wav_pcm16(n=100, channels=2, rate=8000):
    import io
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<" + "h" * channels, *(int(v * 32767) for v in f))
                               for f in samples(n, channels)))
    return buf.getvalue()


def riff(fmt_tag, channels, rate, bits, data, extra=b""):
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits) + extra
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def wav_float(n=64, channels=1, nan=False, double=False):
    code = "d" if double else "f"
    vals = [v for f in samples(n, channels) for v in f]
    if nan:
        vals[5] = float("nan")
        vals[9] = float("inf")
    data = struct.pack("<" + code * len(vals), *vals)
    return riff(3, channels, 16000, 64 if double else 32, data)


def wav_extensible(n=48, channels=3):
    data = b"".join(struct.pack("<" + "i" * channels, *(int(v * 2**30) for v in f))
                    for f in samples(n, channels))
    # cbSize, valid bits, channel mask, KSDATAFORMAT_SUBTYPE_PCM
    guid = bytes.fromhex("0100000000001000800000aa00389b71")
    extra = struct.pack("<HHI", 22, 32, 0x7) + guid
    return riff(0xFFFE, channels, 22050, 32, data, extra)


def au_mulaw(n=80):
    data = bytes((i * 7) & 0xff for i in range(n))
    return b".snd" + struct.pack(">IIIII", 24, len(data), 1, 8000, 1) + data


def aiff_pcm16(n=60, channels=1, rate=11025):
    data = b"".join(struct.pack(">h", int(v[0] * 32767)) for v in samples(n, 1))
    # 80-bit IEEE extended sample rate
    exponent = 16383 + int(math.floor(math.log2(rate)))
    mantissa = int(rate * 2 ** (63 - int(math.floor(math.log2(rate)))))
    ext = struct.pack(">HQ", exponent, mantissa)
    comm = struct.pack(">hIh", channels, n, 16) + ext
    ssnd = struct.pack(">II", 0, 0) + data
    body = b"AIFF" + b"COMM" + struct.pack(">I", len(comm)) + comm
    body += b"SSND" + struct.pack(">I", len(ssnd)) + ssnd
    return b"FORM" + struct.pack(">I", len(body)) + body


def crc8(data):
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xff if crc & 0x80 else (crc << 1) & 0xff
    return crc


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xffff if crc & 0x8000 else (crc << 1) & 0xffff
    return crc


def flac_verbatim(n=96, rate=8000):
    """A mono 16-bit FLAC stream with one frame of one VERBATIM subframe."""
    info = struct.pack(">HH", n, n) + bytes(6)  # block sizes; frame sizes unknown
    packed = (rate << 44) | (0 << 41) | (15 << 36) | n  # rate, channels-1, bps-1, total samples
    info += packed.to_bytes(8, "big") + bytes(16)  # no MD5
    stream = b"fLaC" + bytes([0x80]) + len(info).to_bytes(3, "big") + info
    header = bytes([0xFF, 0xF8, 0x60, 0x08, 0x00, n - 1])
    header += bytes([crc8(header)])
    body = bytes([0x02]) + b"".join(struct.pack(">h", int(v[0] * 32767)) for v in samples(n, 1))
    frame = header + body
    return stream + frame + struct.pack(">H", crc16(frame))


def audio_seeds():
    # Parameter bytes (audio_load_fuzz.cpp): a = mono 1 | channel 2 | peak 4 | resample 8 |
    # span 16; b = channel (bits 0-1), rate (2-4), quality (5-6), allow_truncated 128;
    # c = extension (0-2: wav flac ogg mp3 aiff au caf w64), max_duration 0.5 s 8, offset (4-6).
    seeds = {
        "pcm16_stereo.wav": (0x00, 0x00, 0x00, wav_pcm16()),
        "pcm16_resample.wav": (0x09, 0x04, 0x00, wav_pcm16(channels=1)),
        "float_nan.wav": (0x00, 0x00, 0x00, wav_float(nan=True)),
        "double.wav": (0x04, 0x00, 0x00, wav_float(double=True, channels=2)),
        "extensible.wav": (0x02, 0x02, 0x00, wav_extensible()),
        "truncated.wav": (0x00, 0x80, 0x00, wav_pcm16()[:-60]),
        "mulaw.au": (0x09, 0x30, 0x05, au_mulaw()),
        "pcm16.aiff": (0x01, 0x00, 0x04, aiff_pcm16()),
        "verbatim.flac": (0x01, 0x00, 0x01, flac_verbatim()),
        "span.flac": (0x11, 0x00, 0x19, flac_verbatim()),
        # One frame of 1024 channels: the read buffer must not scale with the channel count.
        "many_channels.wav": (0x00, 0x00, 0x00, riff(1, 1024, 8000, 8, bytes(1024))),
    }
    for name, (a, b, c, data) in seeds.items():
        write("audio_load_fuzz", name, bytes([a, b, c]) + data)


# --- hub_response_fuzz: a mode byte, then NUL-separated parts ------------------------------------

def hub_seeds():
    sha = "0123456789abcdef0123456789abcdef01234567"
    listing = {"_id": "x", "id": "org/name", "sha": sha, "private": False,
               "siblings": [{"rfilename": ".gitattributes"}, {"rfilename": "config.json"},
                            {"rfilename": "model.safetensors"}, {"rfilename": "pytorch_model.bin"},
                            {"rfilename": "onnx/model.onnx"},
                            {"rfilename": "1_Pooling/config.json"}]}
    write("hub_response_fuzz", "listing.json",
          b"\x00" + json.dumps(listing).encode() + b"\0*.json\0onnx/\0[a-c]*")
    bad = dict(listing, sha="../" + sha[:37], siblings=[{"rfilename": "../../etc/passwd"}])
    write("hub_response_fuzz", "listing_unsafe.json", b"\x00" + json.dumps(bad).encode())
    write("hub_response_fuzz", "head_lfs.txt", b"\x05" + (
        "HTTP/1.1 302 Found\r\nContent-Type: text/plain\r\n"
        "X-Linked-Etag: \"" + "ab" * 32 + "\"\r\nX-Linked-Size: 000123456789\r\n"
        "Location: https://cdn-lfs.hf.co/repos/x?sig=1\r\nETag: W/\"123-abc\"\r\n"
        "Retry-After: 120\r\n\r\n").encode())
    write("hub_response_fuzz", "head_plain.txt", b"\x01" + (
        "HTTP/2 200\r\netag: \"" + sha + "\"\r\ncontent-length: 42\r\n\r\n").encode())
    write("hub_response_fuzz", "head_bad_size.txt",
          b"\x01HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: -1\r\n\r\n")
    write("hub_response_fuzz", "spec.txt", b"\x02sentence-transformers/all-MiniLM-L6-v2@refs/pr/1")
    write("hub_response_fuzz", "spec_bad.txt", b"\x02org--x/../name@../main")
    write("hub_response_fuzz", "url.txt",
          b"\x07https://huggingface.co:443/api/models/a b/revision/v1.0%2F\xc3\xa9")


def main():
    safetensors_seeds()
    image_seeds()
    config_seeds()
    tokenizer_seeds()
    audio_seeds()
    hub_seeds()


if __name__ == "__main__":
    main()
