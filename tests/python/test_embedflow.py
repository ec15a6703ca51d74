"""The embedflow Python module against independent expectations: the committed reference arrays
of the text and CLIP fixtures (written by the Python references under tests/fixtures), numpy,
and the CLI's output for the same input. Run by ctest (tests/python/CMakeLists.txt) with
PYTHONPATH=<build>/python and EMBEDFLOW_SOURCE_DIR / EMBEDFLOW_CLI / EMBEDFLOW_RESNET18 set."""

import json
import os
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

import embedflow

SRC = os.environ["EMBEDFLOW_SOURCE_DIR"]
CLI = os.environ["EMBEDFLOW_CLI"]
TINY_BERT = os.path.join(SRC, "tests/fixtures/text/tiny-bert")
TINY_CLIP = os.path.join(SRC, "tests/fixtures/clip/tiny")
CLIP_EXPECTED = os.path.join(SRC, "tests/fixtures/clip/tiny_expected")


def fixture_sentences():
    """The sentences of tiny_expected_*.npy: the texts of tokenizer_cases.jsonl after its header
    (as tests/text/encoder_test.cpp reads them)."""
    with open(os.path.join(SRC, "tests/fixtures/text/tokenizer_cases.jsonl"), encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n")[1:] if l]  # not splitlines: texts hold U+2028
    return [json.loads(line)["text"] for line in lines]


def expected(name):
    return np.load(os.path.join(SRC, "tests/fixtures/text", name))


def test_encode_text_equals_the_reference_bert():
    sentences = fixture_sentences()
    got = embedflow.encode_text(TINY_BERT, sentences)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    want = expected("tiny_expected_cls.npy")  # the folder's pooling: the CLS token
    assert got.shape == want.shape == (len(sentences), 32)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_encode_text_passes_params_to_the_stage():
    sentences = fixture_sentences()[:40]
    got = embedflow.encode_text(TINY_BERT, sentences, pooling="mean", batch_size=7)
    np.testing.assert_allclose(got, expected("tiny_expected_mean.npy")[:40], rtol=0, atol=1e-5)
    unit = embedflow.encode_text(TINY_BERT, sentences, pooling="mean", normalize="true")
    want = expected("tiny_expected_mean.npy")[:40]
    want = want / np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(unit, want, rtol=0, atol=1e-5)


def test_encode_text_equals_the_cli(tmp_path):
    sentences = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    out = tmp_path / "e.npy"
    args = [CLI, "embed", "--model", TINY_BERT, "-o", str(out)]
    for s in sentences:
        args += ["--text", s]
    subprocess.run(args, check=True, capture_output=True)
    np.testing.assert_array_equal(embedflow.encode_text(TINY_BERT, sentences), np.load(out))


def test_a_bad_parameter_raises_naming_it():
    with pytest.raises(ValueError, match="batchsize"):
        embedflow.encode_text(TINY_BERT, ["a text"], batchsize=4)
    with pytest.raises(ValueError, match="precision"):
        embedflow.encode_text(TINY_BERT, ["a text"], precision="fp64")
    with pytest.raises(ValueError, match="batch_size"):
        embedflow.encode_text(TINY_BERT, ["a text"], batch_size=0)
    with pytest.raises(TypeError, match="pooling"):
        embedflow.encode_text(TINY_BERT, ["a text"], pooling=object())
    with pytest.raises(ValueError, match="no texts"):
        embedflow.encode_text(TINY_BERT, [])


def test_a_missing_model_is_a_value_error_naming_it(tmp_path):
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ValueError, match="no-such-model"):
        embedflow.encode_text(missing, ["a text"])


def test_similarity_is_cos_sim():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((5, 16)).astype(np.float32)
    b = rng.standard_normal((3, 16)).astype(np.float32)
    an = a.astype(np.float64) / np.linalg.norm(a.astype(np.float64), axis=1, keepdims=True)
    bn = b.astype(np.float64) / np.linalg.norm(b.astype(np.float64), axis=1, keepdims=True)
    got = embedflow.similarity(a, b)
    assert got.dtype == np.float32 and got.shape == (5, 3)
    np.testing.assert_allclose(got, an @ bn.T, rtol=0, atol=1e-6)
    np.testing.assert_allclose(embedflow.similarity(a), an @ an.T, rtol=0, atol=1e-6)
    # A single vector is one row; a zero row has similarity 0, as torch's normalize gives.
    assert embedflow.similarity(a[0], b).shape == (1, 3)
    z = embedflow.similarity(np.zeros((1, 16), np.float32), b)
    np.testing.assert_array_equal(z, np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="widths"):
        embedflow.similarity(a, b[:, :8])


def clip_images():
    with open(os.path.join(CLIP_EXPECTED, "expected.json"), encoding="utf-8") as f:
        meta = json.load(f)
    return meta, [os.path.join(SRC, p) for p in meta["images"]]


def test_encode_images_clip_equals_the_reference():
    meta, paths = clip_images()
    want = np.load(os.path.join(CLIP_EXPECTED, "image_from_files.npy"))
    got = embedflow.encode_images(TINY_CLIP, paths)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    # The same pixels as arrays (OpenCV decodes as image.load does; alpha dropped, gray to RGB).
    arrays = [cv2.cvtColor(cv2.imread(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for p in paths]
    np.testing.assert_allclose(embedflow.encode_images(TINY_CLIP, arrays), want, rtol=0, atol=1e-4)


def test_encode_text_clip_equals_the_reference():
    meta, _ = clip_images()
    # The reference ids are clip.tokenize's, which cleans the text first.
    got = embedflow.encode_text(TINY_CLIP, meta["captions"], text_cleaning="openai")
    want = np.load(os.path.join(CLIP_EXPECTED, "text.npy"))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


def test_encode_images_rejects_what_is_not_an_image():
    with pytest.raises(ValueError, match=r"images\[0\].*uint8"):
        embedflow.encode_images(TINY_CLIP, [np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match=r"images\[1\]"):
        embedflow.encode_images(TINY_CLIP, [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)])


def test_failed_items_raise_listing_them(tmp_path):
    _, paths = clip_images()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(RuntimeError) as e:
        embedflow.encode_images(TINY_CLIP, [paths[0], str(bad)])
    assert "1 of 2" in str(e.value) and "broken.png" in str(e.value)


def test_run_returns_the_outputs(tmp_path):
    texts = tmp_path / "texts.txt"
    sentences = ["A first sentence.", "Another one, a bit longer than the first.", "Third."]
    texts.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = embedflow.run(os.path.join(SRC, "configs/text_embeddings.yaml"),
                           set={"embed.pooling": "mean"},
                           env={"MODEL": TINY_BERT, "TEXTS": str(texts), "OUT": str(out)})
    assert result["items"] == 3 and result["errors"] == 0 and result["errors_file"] is None
    got = result["outputs"]["embeddings"]
    np.testing.assert_array_equal(got, np.load(out / "embeddings.npy"))
    np.testing.assert_allclose(got, embedflow.encode_text(TINY_BERT, sentences, pooling="mean"),
                               rtol=0, atol=1e-6)


def test_run_raises_on_bad_and_failed_pipelines(tmp_path):
    with pytest.raises(ValueError, match="encode.txt"):  # a stage type that does not exist
        embedflow.run("pipeline: p\nstages:\n  - id: a\n    type: encode.txt\n")
    texts = tmp_path / "latin1.txt"
    texts.write_bytes(b"caf\xe9\n")  # not UTF-8: the only item fails
    with pytest.raises(RuntimeError, match="every item failed"):
        embedflow.run(os.path.join(SRC, "configs/text_embeddings.yaml"),
                      env={"MODEL": TINY_BERT, "TEXTS": str(texts), "OUT": str(tmp_path / "o")})


def test_the_gil_is_released_while_encoding():
    sentences = fixture_sentences() * 8
    ticks = 0
    running = True

    def count():
        nonlocal ticks
        while running:
            ticks += 1
            time.sleep(0.001)

    embedflow.encode_text(TINY_BERT, sentences[:4])  # the model loaded once, outside the timing
    t = threading.Thread(target=count)
    t.start()
    time.sleep(0.02)
    before = ticks
    start = time.perf_counter()
    embedflow.encode_text(TINY_BERT, sentences)
    seconds = time.perf_counter() - start
    during = ticks - before
    running = False
    t.join()
    # With the GIL held the thread could not run at all during the call.
    assert seconds > 0.05, "the call was too short to tell"
    assert during >= 10, f"{during} ticks in {seconds:.3f} s"


def test_encode_audio_equals_the_config_run(tmp_path):
    model = os.environ["EMBEDFLOW_RESNET18"]  # ctest's fixture workflow_models writes it
    audio_dir = os.path.join(SRC, "examples/media/audio")
    out = tmp_path / "out"
    subprocess.run([CLI, "run", os.path.join(SRC, "configs/audio_to_embedding.yaml")], check=True,
                   capture_output=True,
                   env=dict(os.environ, MODEL=model, AUDIO=audio_dir, OUT=str(out)))
    want = np.load(out / "embeddings.npy")
    files = sorted(os.listdir(audio_dir))  # source.files' order: by path
    got = embedflow.encode_audio(model, [os.path.join(audio_dir, f) for f in files])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_encode_audio_arrays_equal_their_files(tmp_path):
    import wave
    model = os.environ["EMBEDFLOW_RESNET18"]
    t = np.arange(16000 * 3) / 16000.0
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-t)).astype(np.float32)
    pcm = np.round(tone * 32767).astype("<i2")
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    from_file = embedflow.encode_audio(model, [str(path)])
    # libsndfile scales 16-bit samples by 1/32768, as torchaudio.load does.
    from_array = embedflow.encode_audio(model, [pcm.astype(np.float32) / 32768.0], sample_rate=16000)
    assert from_file.shape == (1, 512)
    np.testing.assert_allclose(from_array, from_file, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="16000"):
        embedflow.encode_audio(model, [tone], sample_rate=44100)


def test_a_model_is_loaded_once_and_reused(tmp_path):
    import shutil
    model = tmp_path / "tiny-bert"
    shutil.copytree(TINY_BERT, model)
    sentences = fixture_sentences()[:10]
    embedflow.clear_models()
    first = embedflow.encode_text(str(model), sentences)
    np.testing.assert_array_equal(embedflow.encode_text(str(model), sentences), first)
    assert embedflow.clear_models() == 1  # one kept stage served both calls
    embedflow.encode_text(str(model), sentences)
    embedflow.encode_text(str(model), sentences, pooling="mean")  # other params: another
    assert embedflow.clear_models() == 2
    # Weights rewritten in place (as torch/safetensors save does) are loaded again, never read
    # through the kept stage's mapping of the old file (that would be a SIGBUS).
    first = embedflow.encode_text(str(model), sentences)
    time.sleep(0.01)
    (model / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises((RuntimeError, ValueError), match="safetensors"):
        embedflow.encode_text(str(model), sentences)
    shutil.copy(os.path.join(TINY_BERT, "model.safetensors"), model / "model.safetensors")
    np.testing.assert_array_equal(embedflow.encode_text(str(model), sentences), first)
    assert embedflow.clear_models() == 1  # the stages of older weights were dropped


def test_calls_from_several_threads_equal_serial_calls():
    from concurrent.futures import ThreadPoolExecutor
    sentences = fixture_sentences()
    chunks = [sentences[i::4] for i in range(4)]
    want = [embedflow.encode_text(TINY_BERT, c) for c in chunks]
    _, paths = clip_images()
    with ThreadPoolExecutor(4) as pool:
        texts = [pool.submit(embedflow.encode_text, TINY_BERT, c) for c in chunks]
        images = pool.submit(embedflow.encode_images, TINY_CLIP, paths)
        for f, w in zip(texts, want):
            np.testing.assert_array_equal(f.result(), w)
        np.testing.assert_allclose(images.result(),
                                   np.load(os.path.join(CLIP_EXPECTED, "image_from_files.npy")),
                                   rtol=0, atol=1e-4)


def test_ctrl_c_stops_a_long_call():
    import signal
    sentences = fixture_sentences() * 8
    embedflow.encode_text(TINY_BERT, sentences[:4])  # the model loaded outside the timing
    start = time.perf_counter()
    embedflow.encode_text(TINY_BERT, sentences)
    one = time.perf_counter() - start
    many = sentences * 20  # about 20 of those
    timer = threading.Timer(one, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        embedflow.encode_text(TINY_BERT, many)
    stopped = time.perf_counter() - start
    timer.join()
    assert stopped < 8 * one, f"stopped after {stopped:.2f} s; the whole call takes ~{20 * one:.2f} s"
    # The module still works after an interrupted call.
    np.testing.assert_allclose(embedflow.encode_text(TINY_BERT, sentences[:5]),
                               expected("tiny_expected_cls.npy")[:5], rtol=0, atol=1e-5)
