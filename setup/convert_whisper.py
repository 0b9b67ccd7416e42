#!/usr/bin/env python3
"""Convert a Whisper model from CTranslate2's `model.bin` to two ONNX graphs.

    convert_whisper.py MODEL_BIN CONFIG_JSON OUT_DIR

No registry package ships Whisper as ONNX (ARCHITECTURE.md, "Facts that cost time"), so set-up builds the graphs from the
CTranslate2 weights with numpy and onnx alone (no torch):

* `encoder.onnx`: mel [B, n_mels, 3000] -> cross_k_<l>, cross_v_<l> [B, H, 1500, Dh] for each
  decoder layer l. The encoder applies every decoder layer's cross-attention key/value
  projections, so the decoder never recomputes them per token.
* `decoder.onnx`: tokens [B, T], past_k_<l>/past_v_<l> [B, H, P, Dh] (P may be 0), cross_k_<l>/
  cross_v_<l> -> logits [B, V] of the last position, present_k_<l>/present_v_<l> [B, H, P+T, Dh]
  (the self-attention KV cache) and align [B, A, T, 1500]: the cross-attention weights of the
  model's alignment heads, which the engine turns into word timestamps by dynamic time warping.
  Keys and values are separate tensors per layer rather than one stacked tensor, because slicing
  a layer out of a stack copies it on every decoding step.

The graphs are built in float32, then every MatMul against a weight matrix is quantized to int8
with dynamic activation quantization (ONNX Runtime's quantizer, `MatMulConstBOnly`): the
attention products themselves stay float32, so the alignment heads' weights keep their precision.
This is the same compute type as faster-whisper's `int8`. On this machine's two cores the tiny.en
encoder took 0.19 s per window instead of 0.32 s in float32, and devset/asr WER went from 5.2%
to 3.9% (tiny.en) and 1.7% to 0.9% (base), i.e. no loss.
"""
import json
import logging
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 20  # Gelu and LayerNormalization are standard ops from here on.

# CTranslate2's DataType enum, as written by its model_spec serializer.
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path):
    """Read a CTranslate2 binary model (format version 6): returns {name: ndarray}."""
    data = open(path, "rb").read()
    off = 0

    def unpack(fmt):
        nonlocal off
        (value,) = struct.unpack_from(fmt, data, off)
        off += struct.calcsize(fmt)
        return value

    def string():
        nonlocal off
        n = unpack("<H")
        s = data[off : off + n - 1].decode()
        off += n
        return s

    version = unpack("<I")
    if version != 6:
        raise SystemExit(f"unsupported CTranslate2 model version {version}")
    string()  # spec name
    unpack("<I")  # spec revision
    variables = {}
    for _ in range(unpack("<I")):
        name = string()
        shape = [unpack("<I") for _ in range(unpack("<B"))]
        dtype = CT2_DTYPES[unpack("<B")]
        nbytes = unpack("<I")
        count = nbytes // np.dtype(dtype).itemsize
        variables[name] = np.frombuffer(data, dtype=dtype, count=count, offset=off).reshape(shape)
        off += nbytes
    for _ in range(unpack("<I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


class Graph:
    """A small builder over onnx.helper that names nodes and keeps initializers."""

    def __init__(self, weights):
        self.w = weights
        self.nodes, self.inits, self.n = [], [], 0

    def tmp(self, hint):
        self.n += 1
        return f"{hint}_{self.n}"

    def op(self, op_type, inputs, hint=None, n_out=1, **attrs):
        outs = [self.tmp(hint or op_type) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, value, hint="c", dtype=np.float32):
        name = self.tmp(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def param(self, key, transpose=False, rows=None):
        value = self.w[key].astype(np.float32)
        if rows is not None:
            value = value[rows[0] : rows[1]]
        if transpose:
            value = np.ascontiguousarray(value.T)
        return self.const(value, key.replace("/", "_"))

    def linear(self, x, prefix, rows=None, bias=True):
        y = self.op("MatMul", [x, self.param(prefix + "/weight", transpose=True, rows=rows)])
        if bias:
            y = self.op("Add", [y, self.param(prefix + "/bias", rows=rows)])
        return y

    def layer_norm(self, x, prefix):
        return self.op(
            "LayerNormalization",
            [x, self.param(prefix + "/gamma"), self.param(prefix + "/beta")],
            axis=-1,
            epsilon=1e-5,
        )

    def ffn(self, x, prefix):
        h = self.layer_norm(x, prefix + "/layer_norm")
        h = self.op("Gelu", [self.linear(h, prefix + "/linear_0")])
        return self.op("Add", [x, self.linear(h, prefix + "/linear_1")])

    def heads(self, x, n_heads, d_head):
        """[B, T, D] -> [B, H, T, Dh]"""
        shape = self.const([0, -1, n_heads, d_head], "heads_shape", np.int64)
        return self.op("Transpose", [self.op("Reshape", [x, shape])], perm=[0, 2, 1, 3])

    def merge_heads(self, x, d_model):
        """[B, H, T, Dh] -> [B, T, D]"""
        shape = self.const([0, -1, d_model], "merge_shape", np.int64)
        return self.op("Reshape", [self.op("Transpose", [x], perm=[0, 2, 1, 3]), shape])

    def attend(self, q, k, v, d_head, mask=None):
        """softmax(q kᵀ / sqrt(Dh) + mask) v; returns (context, weights)."""
        kt = self.op("Transpose", [k], perm=[0, 1, 3, 2])
        scores = self.op("MatMul", [q, kt])
        scores = self.op("Mul", [scores, self.const(1.0 / np.sqrt(d_head), "scale")])
        if mask is not None:
            scores = self.op("Add", [scores, mask])
        weights = self.op("Softmax", [scores], axis=-1)
        return self.op("MatMul", [weights, v]), weights

    def save(self, inputs, outputs, path):
        graph = helper.make_graph(self.nodes, os.path.basename(path), inputs, outputs, self.inits)
        opsets = [helper.make_opsetid("", OPSET)]
        if any(n.domain == "com.microsoft" for n in self.nodes):
            opsets.append(helper.make_opsetid("com.microsoft", 1))
        model = helper.make_model(graph, opset_imports=opsets)
        model.ir_version = 10
        if len(opsets) == 1:  # the checker does not know ONNX Runtime's contrib ops
            onnx.checker.check_model(model)
        tmp = path + ".tmp"
        onnx.save(model, tmp)
        os.replace(tmp, path)


def dims(w):
    d_model = w["encoder/layer_norm/gamma"].shape[0]
    n_heads = int(w["encoder/num_heads"])
    n_enc = sum(1 for k in w if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_dec = sum(1 for k in w if k.startswith("decoder/layer_") and k.endswith("ffn/linear_0/weight"))
    return d_model, n_heads, d_model // n_heads, n_enc, n_dec


def build_encoder(w, path, fused=True):
    """The encoder graph. `fused` expresses self-attention as ONNX Runtime's MultiHeadAttention
    kernel (about 15% faster on CPU); the plain-op version is the reference it is checked against."""
    d_model, n_heads, d_head, n_enc, n_dec = dims(w)
    n_mels = w["encoder/conv1/weight"].shape[1]
    g = Graph(w)
    x = g.op("Conv", ["mel", g.param("encoder/conv1/weight"), g.param("encoder/conv1/bias")], pads=[1, 1])
    x = g.op("Gelu", [x])
    x = g.op(
        "Conv",
        [x, g.param("encoder/conv2/weight"), g.param("encoder/conv2/bias")],
        pads=[1, 1],
        strides=[2],
    )
    x = g.op("Gelu", [x])
    x = g.op("Transpose", [x], perm=[0, 2, 1])
    x = g.op("Add", [x, g.param("encoder/position_encodings/encodings")])
    for i in range(n_enc):
        p = f"encoder/layer_{i}"
        h = g.layer_norm(x, p + "/self_attention/layer_norm")
        q = g.linear(h, p + "/self_attention/linear_0", rows=(0, d_model))
        k = g.linear(h, p + "/self_attention/linear_0", rows=(d_model, 2 * d_model), bias=False)
        v = g.linear(h, p + "/self_attention/linear_0", rows=(2 * d_model, 3 * d_model))
        if fused:
            ctx = g.op("MultiHeadAttention", [q, k, v], domain="com.microsoft", num_heads=n_heads)
        else:
            heads = [g.heads(t, n_heads, d_head) for t in (q, k, v)]
            ctx = g.merge_heads(g.attend(*heads, d_head)[0], d_model)
        x = g.op("Add", [x, g.linear(ctx, p + "/self_attention/linear_1")])
        x = g.ffn(x, p + "/ffn")
    x = g.layer_norm(x, "encoder/layer_norm")
    outputs = []
    kv_shape = ["batch", n_heads, 1500, d_head]
    for i in range(n_dec):
        p = f"decoder/layer_{i}/attention/linear_1"
        k = g.heads(g.linear(x, p, rows=(0, d_model), bias=False), n_heads, d_head)
        v = g.heads(g.linear(x, p, rows=(d_model, 2 * d_model)), n_heads, d_head)
        for name, value in ((f"cross_k_{i}", k), (f"cross_v_{i}", v)):
            g.nodes.append(helper.make_node("Identity", [value], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, kv_shape))
    g.save([helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["batch", n_mels, 3000])], outputs, path)


def build_decoder(w, alignment_heads, path):
    d_model, n_heads, d_head, _, n_dec = dims(w)
    g = Graph(w)
    i64 = np.int64
    zero, one = g.const(0, "zero", i64), g.const(1, "one", i64)
    # Past length P and new length T, as scalars.
    past_len = g.op("Squeeze", [g.op("Slice", [g.op("Shape", ["past_k_0"]), g.const([2], "s", i64), g.const([3], "e", i64)])])
    new_len = g.op("Squeeze", [g.op("Slice", [g.op("Shape", ["tokens"]), g.const([1], "s", i64), g.const([2], "e", i64)])])
    total_len = g.op("Add", [past_len, new_len])
    positions = g.op("Range", [past_len, total_len, one])
    # One copy of the embedding matrix, stored transposed for the output projection: token
    # embeddings are gathered from its columns ([D, B, T] -> [B, T, D]).
    vocab_t = g.const(np.ascontiguousarray(w["decoder/embeddings/weight"].astype(np.float32).T), "unembed")
    x = g.op("Transpose", [g.op("Gather", [vocab_t, "tokens"], axis=1)], perm=[1, 2, 0])
    x = g.op("Add", [x, g.op("Gather", [g.param("decoder/position_encodings/encodings"), positions], axis=0)])
    # Causal mask [T, P+T]: new token i (at absolute position P+i) sees key j iff j <= P+i.
    rows = g.op("Unsqueeze", [positions, g.const([1], "ax", i64)])
    cols = g.op("Unsqueeze", [g.op("Range", [zero, total_len, one]), g.const([0], "ax", i64)])
    mask = g.op("Where", [g.op("Greater", [cols, rows]), g.const(-1e9, "neg"), g.const(0.0, "zero_f")])
    by_layer = {}
    for layer, head in alignment_heads:
        by_layer.setdefault(layer, []).append(head)
    align = []
    for i in range(n_dec):
        p = f"decoder/layer_{i}"
        h = g.layer_norm(x, p + "/self_attention/layer_norm")
        q = g.heads(g.linear(h, p + "/self_attention/linear_0", rows=(0, d_model)), n_heads, d_head)
        k = g.heads(g.linear(h, p + "/self_attention/linear_0", rows=(d_model, 2 * d_model), bias=False), n_heads, d_head)
        v = g.heads(g.linear(h, p + "/self_attention/linear_0", rows=(2 * d_model, 3 * d_model)), n_heads, d_head)
        g.nodes.append(helper.make_node("Concat", [f"past_k_{i}", k], [f"present_k_{i}"], axis=2))
        g.nodes.append(helper.make_node("Concat", [f"past_v_{i}", v], [f"present_v_{i}"], axis=2))
        ctx, _ = g.attend(q, f"present_k_{i}", f"present_v_{i}", d_head, mask)
        x = g.op("Add", [x, g.linear(g.merge_heads(ctx, d_model), p + "/self_attention/linear_1")])
        h = g.layer_norm(x, p + "/attention/layer_norm")
        q = g.heads(g.linear(h, p + "/attention/linear_0"), n_heads, d_head)
        ctx, weights = g.attend(q, f"cross_k_{i}", f"cross_v_{i}", d_head)
        if i in by_layer:
            align.append(g.op("Gather", [weights, g.const(by_layer[i], "heads", i64)], axis=1))
        x = g.op("Add", [x, g.linear(g.merge_heads(ctx, d_model), p + "/attention/linear_2")])
        x = g.ffn(x, p + "/ffn")
    # Only the last position's logits are needed for greedy decoding.
    last = g.op("Gather", [x, g.op("Sub", [new_len, one])], axis=1)
    last = g.layer_norm(last, "decoder/layer_norm")
    g.nodes.append(helper.make_node("MatMul", [last, vocab_t], ["logits"]))
    g.nodes.append(helper.make_node("Concat", align, ["align"], axis=1))
    vocab = w["decoder/embeddings/weight"].shape[0]
    kv = lambda name, t: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", n_heads, t, d_head])  # noqa: E731
    inputs = [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "new"])]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", vocab]),
        helper.make_tensor_value_info("align", TensorProto.FLOAT, ["batch", len(alignment_heads), "new", 1500]),
    ]
    for i in range(n_dec):
        inputs += [kv(f"past_k_{i}", "past"), kv(f"past_v_{i}", "past")]
        inputs += [kv(f"cross_k_{i}", 1500), kv(f"cross_v_{i}", 1500)]
        outputs += [kv(f"present_k_{i}", "total"), kv(f"present_v_{i}", "total")]
    g.save(inputs, outputs, path)


def check_fused_encoder(w, out_dir):
    """Fail set-up unless the fused encoder computes what the plain-op graph computes."""
    import onnxruntime as ort

    reference = os.path.join(out_dir, "encoder.reference.onnx")
    build_encoder(w, reference, fused=False)
    mel = np.random.default_rng(0).standard_normal((1, w["encoder/conv1/weight"].shape[1], 3000), dtype=np.float32)
    outputs = [ort.InferenceSession(p).run(None, {"mel": mel}) for p in (os.path.join(out_dir, "encoder.onnx"), reference)]
    os.remove(reference)
    for fused, plain in zip(*outputs):
        diff = float(np.abs(fused - plain).max())
        if diff > 1e-3:
            raise SystemExit(f"fused encoder differs from the reference by {diff}")


def quantize(path):
    """Replace the float32 graph at `path` with its int8-weight version."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = path + ".fp32"
    os.replace(path, fp32)
    quantize_dynamic(
        fp32,
        path,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT},
    )
    os.remove(fp32)


def main():
    model_bin, config_json, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    w = read_ct2(model_bin)
    config = json.load(open(config_json))
    heads = [tuple(h) for h in config["alignment_heads"]]
    build_encoder(w, os.path.join(out_dir, "encoder.onnx"))
    check_fused_encoder(w, out_dir)
    build_decoder(w, heads, os.path.join(out_dir, "decoder.onnx"))
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's advice about pre-processing
    for name in ("encoder.onnx", "decoder.onnx"):
        quantize(os.path.join(out_dir, name))
    d_model, n_heads, d_head, n_enc, n_dec = dims(w)
    meta = {
        "n_mels": int(w["encoder/conv1/weight"].shape[1]),
        "d_model": int(d_model),
        "n_heads": int(n_heads),
        "d_head": int(d_head),
        "encoder_layers": n_enc,
        "decoder_layers": n_dec,
        "vocab_size": int(w["decoder/embeddings/weight"].shape[0]),
        "max_text_positions": int(w["decoder/position_encodings/encodings"].shape[0]),
        "alignment_heads": [list(h) for h in heads],
        "suppress_ids": config["suppress_ids"],
        "suppress_ids_begin": config["suppress_ids_begin"],
        "multilingual": bool(config.get("lang_ids")) and int(w["decoder/embeddings/weight"].shape[0]) >= 51865,
    }
    with open(os.path.join(out_dir, "whisper.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
