#!/usr/bin/env python3
"""Convert resemblyzer's GE2E speaker encoder (PyPI resemblyzer==0.1.4, resemblyzer/pretrained.pt)
to ONNX without torch.

Usage: python convert_speaker_model.py IN_PT OUT_ONNX

The model: 3-layer LSTM (40 -> 256), linear 256 -> 256, ReLU, L2 normalisation of the last layer's
final hidden state. The ONNX graph maps `mels` [batch, frames, 40] float32 (power mel, not log) to
`embeds` [batch, 256] float32.

pretrained.pt is read with the standard library only: either the legacy torch serialisation
(magic-number, protocol and sys-info pickles, the checkpoint pickle whose tensors point at storages
by key, the list of storage keys, then each storage as int64 element count + raw little-endian
bytes) or the newer zip layout (archive/data.pkl + archive/data/<key>). The conversion is checked
against a numpy LSTM written in torch's own gate order, so a wrong re-ordering or a mis-read
storage fails the set-up instead of producing a model that silently mislabels speakers.

Needs numpy, onnx and onnxruntime. Prints nothing on success; errors go to stderr with exit 1.
"""
import io
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN = 256
N_MELS = 40
LAYERS = 3
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# torch storage class name -> numpy dtype
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class StorageRef:
    """A storage named in the pickle; its bytes are attached once they have been read."""

    def __init__(self, key, dtype):
        self.key = key
        self.dtype = dtype
        self.data = None


class TensorRef:
    """A strided view into a storage, resolved to a numpy array after all storages are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = offset
        self.size = tuple(size)
        self.stride = tuple(stride)

    def array(self):
        base = self.storage.data
        if not self.size:
            return base[self.offset:self.offset + 1].reshape(()).copy()
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.size, strides=[s * item for s in self.stride]
        )
        return np.array(view, copy=True)


def _rebuild_tensor(storage, offset, size, stride, *_rest):
    return TensorRef(storage, offset, size, stride)


class _StorageType:
    def __init__(self, name):
        self.name = name


class CheckpointUnpickler(pickle.Unpickler):
    """Unpickles a torch checkpoint into TensorRefs without importing torch."""

    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, *_a: data
        raise pickle.UnpicklingError("unexpected global %s.%s in checkpoint" % (module, name))

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not isinstance(pid, tuple) or pid[0] != "storage":
            raise pickle.UnpicklingError("unexpected persistent id %r" % (pid,))
        stype, key = pid[1], str(pid[2])
        if key not in self.storages:
            self.storages[key] = StorageRef(key, STORAGE_DTYPES[stype.name])
        return self.storages[key]


def _collect_tensors(obj, out):
    if isinstance(obj, TensorRef):
        out.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _collect_tensors(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _collect_tensors(v, out)


def _resolve(obj):
    if isinstance(obj, TensorRef):
        return obj.array()
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_resolve(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v) for v in obj)
    return obj


def load_legacy(f):
    magic = pickle.load(f)
    if magic != LEGACY_MAGIC:
        raise ValueError("not a torch checkpoint (bad magic number)")
    protocol = pickle.load(f)
    if protocol != 1001:
        raise ValueError("unsupported torch legacy protocol %r" % (protocol,))
    sys_info = pickle.load(f)
    if not sys_info.get("little_endian", True):
        raise ValueError("big-endian checkpoints are not supported")
    storages = {}
    checkpoint = CheckpointUnpickler(f, storages).load()
    keys = pickle.load(f)
    for key in keys:
        ref = storages[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        nbytes = numel * np.dtype(ref.dtype).itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError("truncated storage %s" % key)
        ref.data = np.frombuffer(raw, dtype=ref.dtype)
    return _resolve(checkpoint)


def load_zip(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = next(n for n in names if n.endswith("/data.pkl") or n == "data.pkl")
        prefix = pkl[: -len("data.pkl")]
        storages = {}
        checkpoint = CheckpointUnpickler(io.BytesIO(z.read(pkl)), storages).load()
        for key, ref in storages.items():
            ref.data = np.frombuffer(z.read(prefix + "data/" + key), dtype=ref.dtype)
    return _resolve(checkpoint)


def load_checkpoint(path):
    if zipfile.is_zipfile(path):
        return load_zip(path)
    with open(path, "rb") as f:
        return load_legacy(f)


def load_weights(path):
    ckpt = load_checkpoint(path)
    state = ckpt["model_state"] if "model_state" in ckpt else ckpt
    w = {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}
    for layer in range(LAYERS):
        n_in = N_MELS if layer == 0 else HIDDEN
        expect = {
            "lstm.weight_ih_l%d" % layer: (4 * HIDDEN, n_in),
            "lstm.weight_hh_l%d" % layer: (4 * HIDDEN, HIDDEN),
            "lstm.bias_ih_l%d" % layer: (4 * HIDDEN,),
            "lstm.bias_hh_l%d" % layer: (4 * HIDDEN,),
        }
        for k, shape in expect.items():
            if w[k].shape != shape:
                raise ValueError("%s has shape %s, expected %s" % (k, w[k].shape, shape))
    if w["linear.weight"].shape != (HIDDEN, HIDDEN) or w["linear.bias"].shape != (HIDDEN,):
        raise ValueError("unexpected linear layer shape")
    for k, v in w.items():
        if not np.all(np.isfinite(v)):
            raise ValueError("%s holds non-finite values" % k)
    return w


def torch_to_onnx_gates(m):
    """torch packs LSTM gates as i, f, g, o; ONNX expects i, o, f, c (c = torch's g)."""
    i, f, g, o = np.split(m, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def build_graph(w):
    inits = []
    nodes = [
        # LSTM wants [seq, batch, input]; the public input is batch-first.
        helper.make_node("Transpose", ["mels"], ["x0"], perm=[1, 0, 2]),
    ]
    x = "x0"
    for layer in range(LAYERS):
        wi = torch_to_onnx_gates(w["lstm.weight_ih_l%d" % layer])[None]
        wh = torch_to_onnx_gates(w["lstm.weight_hh_l%d" % layer])[None]
        b = np.concatenate(
            [torch_to_onnx_gates(w["lstm.bias_ih_l%d" % layer]),
             torch_to_onnx_gates(w["lstm.bias_hh_l%d" % layer])]
        )[None]
        names = ["W%d" % layer, "R%d" % layer, "B%d" % layer]
        for n, arr in zip(names, (wi, wh, b)):
            inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), n))
        last = layer == LAYERS - 1
        # Only the last layer's final hidden state is used; earlier layers pass on their sequence.
        outputs = ["", "h_last"] if last else ["y%d" % layer]
        nodes.append(
            helper.make_node("LSTM", [x] + names, outputs, hidden_size=HIDDEN, direction="forward")
        )
        if not last:
            inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1_%d" % layer))
            nodes.append(helper.make_node("Squeeze", ["y%d" % layer, "ax1_%d" % layer], ["x%d" % (layer + 1)]))
            x = "x%d" % (layer + 1)
    inits += [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "ax0"),
        numpy_helper.from_array(np.ascontiguousarray(w["linear.weight"]), "lin_w"),
        numpy_helper.from_array(w["linear.bias"], "lin_b"),
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "eps"),
    ]
    nodes += [
        helper.make_node("Squeeze", ["h_last", "ax0"], ["h"]),
        helper.make_node("Gemm", ["h", "lin_w", "lin_b"], ["lin"], transB=1),
        helper.make_node("Relu", ["lin"], ["raw"]),
        helper.make_node("ReduceL2", ["raw"], ["norm"], axes=[1], keepdims=1),
        # An all-zero ReLU output would divide by zero; the floor keeps it a zero vector.
        helper.make_node("Max", ["norm", "eps"], ["norm_safe"]),
        helper.make_node("Div", ["raw", "norm_safe"], ["embeds"]),
    ]
    graph = helper.make_graph(
        nodes,
        "ge2e_speaker_encoder",
        [helper.make_tensor_value_info("mels", TensorProto.FLOAT, ["batch", "frames", N_MELS])],
        [helper.make_tensor_value_info("embeds", TensorProto.FLOAT, ["batch", HIDDEN])],
        inits,
    )
    # opset 13: ReduceL2 still takes `axes` as an attribute, Squeeze takes axes as an input.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="speechbatch convert_speaker_model.py")
    model.ir_version = 8
    model.doc_string = "resemblyzer 0.1.4 GE2E speaker encoder: mels [batch, frames, 40] power mel -> embeds [batch, 256]"
    onnx.checker.check_model(model)
    return model


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_embeds(w, mels):
    """torch.nn.LSTM + Linear + ReLU + L2 norm, in float64 and torch's own gate order."""
    x = mels.astype(np.float64)
    batch, frames, _ = x.shape
    for layer in range(LAYERS):
        wi = w["lstm.weight_ih_l%d" % layer].astype(np.float64)
        wh = w["lstm.weight_hh_l%d" % layer].astype(np.float64)
        b = (w["lstm.bias_ih_l%d" % layer] + w["lstm.bias_hh_l%d" % layer].astype(np.float64)).astype(np.float64)
        h = np.zeros((batch, HIDDEN))
        c = np.zeros((batch, HIDDEN))
        ys = []
        for t in range(frames):
            z = x[:, t] @ wi.T + h @ wh.T + b
            i, f, g, o = np.split(z, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            ys.append(h)
        x = np.stack(ys, axis=1)
    raw = np.maximum(h @ w["linear.weight"].astype(np.float64).T + w["linear.bias"], 0.0)
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def verify(w, model_bytes):
    import onnxruntime as ort

    rng = np.random.default_rng(1234)
    # Power-mel-like input: non-negative, heavy-tailed, the scale of speech at -30 dBFS.
    mels = (rng.exponential(0.5, size=(3, 160, N_MELS)) ** 2).astype(np.float32)
    short = (rng.exponential(0.5, size=(2, 37, N_MELS)) ** 2).astype(np.float32)
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    for batch in (mels, short):
        got = sess.run(["embeds"], {"mels": batch})[0]
        want = reference_embeds(w, batch)
        diff = float(np.max(np.abs(got - want)))
        if not diff < 1e-4:
            raise AssertionError("ONNX speaker encoder differs from the numpy reference: max abs diff %g" % diff)
        if not np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4):
            raise AssertionError("ONNX embeddings are not L2-normalised")


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: %s IN_PT OUT_ONNX\n" % argv[0])
        return 2
    w = load_weights(argv[1])
    model = build_graph(w)
    data = model.SerializeToString()
    verify(w, data)
    with open(argv[2], "wb") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as e:  # one clear line for the set-up log, non-zero exit
        sys.stderr.write("convert_speaker_model.py: %s: %s\n" % (e.__class__.__name__, e))
        sys.exit(1)
