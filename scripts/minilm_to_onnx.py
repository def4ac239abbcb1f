#!/usr/bin/env python3
"""Build an ONNX graph of a BERT encoder (all-MiniLM-L6-v2) from model.safetensors, without torch.

Usage: minilm_to_onnx.py --model-dir DIR [--out DIR/model.onnx] [--no-verify]

DIR must hold model.safetensors, config.json and tokenizer.json. The graph has inputs
input_ids / attention_mask / token_type_ids (int64, [batch, seq]) and one output
last_hidden_state (float32, [batch, seq, hidden]). Pooling (mean + L2) is left to the caller.

Verification (on by default; the model is only moved into place when it passes):
  * a float64 numpy reference forward pass vs onnxruntime: max |diff| of last_hidden_state
  * a padded batch vs each sentence alone (attention-mask handling)
  * cos("The cat sits on the mat.", "A feline rests on a rug.") ~ 0.5584 (mean-pooled, L2-normalised)
Exits non-zero with a message naming the failed check.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17; loads on any ONNX Runtime >= 1.14

MAX_ABS_DIFF = 1e-4
EXPECTED_COS = 0.5584  # measured earlier on this model (docs: /work/shared/MODELS.md)
COS_TOL = 2e-3
PAIR = ("The cat sits on the mat.", "A feline rests on a rug.")
EXTRA = [
    "ONNX Runtime runs this graph on the CPU.",
    "Retrieval-augmented generation pairs a search index with a language model, "
    "so answers can cite the passages they came from.",
    "skiff",
]


def log(msg):
    print(f"[minilm_to_onnx] {msg}", file=sys.stderr, flush=True)


def fail(msg):
    print(f"[minilm_to_onnx] ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# ---------------------------------------------------------------- safetensors

_ST_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
    "BOOL": np.bool_,
}


def _bf16_to_f32(raw):
    u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
    return (u16 << 16).view(np.float32)


def load_safetensors(path):
    """Return {name: np.ndarray} (floats converted to float32). Format: u64 LE header length,
    JSON header {name: {dtype, shape, data_offsets: [begin, end]}}, then the raw byte buffer."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        fail(f"{path}: too short to be a safetensors file")
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > len(data) - 8:
        fail(f"{path}: header length {hlen} exceeds file size {len(data)}")
    header = json.loads(data[8 : 8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape = info["dtype"], info["shape"]
        begin, end = info["data_offsets"]
        raw = data[base + begin : base + end]
        if dtype == "BF16":
            arr = _bf16_to_f32(raw)
        elif dtype in _ST_DTYPES:
            arr = np.frombuffer(raw, dtype=np.dtype(_ST_DTYPES[dtype]).newbyteorder("<"))
        else:
            fail(f"{path}: tensor {name} has unsupported dtype {dtype}")
        n = int(np.prod(shape)) if shape else 1
        if arr.size != n:
            fail(f"{path}: tensor {name}: {arr.size} elements for shape {shape}")
        arr = arr.reshape(shape)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        out[name] = arr
    return out


class Weights:
    """Looks tensors up by their BERT name, with or without a leading 'bert.' prefix."""

    def __init__(self, tensors):
        self.t = tensors
        names = [k for k in tensors if k.endswith("embeddings.word_embeddings.weight")]
        if len(names) != 1:
            fail(f"expected one '*embeddings.word_embeddings.weight' tensor, found {names}")
        self.prefix = names[0][: -len("embeddings.word_embeddings.weight")]

    def __call__(self, name):
        key = self.prefix + name
        if key not in self.t:
            fail(f"tensor '{key}' missing from safetensors")
        return self.t[key]


# ---------------------------------------------------------------- ONNX graph


def build_model(cfg, w):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    hd = H // nh
    L = cfg["num_hidden_layers"]
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    act = cfg.get("hidden_act", "gelu")
    if act not in ("gelu", "gelu_python"):
        fail(f"hidden_act '{act}' not supported (this builder implements erf GELU)")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        fail("only absolute position embeddings are supported")
    if H % nh:
        fail(f"hidden_size {H} not divisible by num_attention_heads {nh}")

    inits, nodes = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name + "_node", **attrs))
        return name

    def linear(x, prefix, out):
        # torch Linear stores weight as [out, in]; y = x @ W^T + b
        wt = init(prefix + ".weight_t", w(prefix + ".weight").T)
        b = init(prefix + ".bias", w(prefix + ".bias"))
        return node("Add", [node("MatMul", [x, wt], out + "_mm"), b], out)

    def layer_norm(x, prefix, out):
        g = init(prefix + ".weight", w(prefix + ".weight"))
        b = init(prefix + ".bias", w(prefix + ".bias"))
        return node("LayerNormalization", [x, g, b], out, axis=-1, epsilon=eps)

    # constants
    init("c_zero_1d", np.array([0], dtype=np.int64))
    init("c_one_f", np.array(1.0, dtype=np.float32))
    init("c_mask_min", np.array(np.finfo(np.float32).min, dtype=np.float32))
    init("c_scale", np.array(1.0 / math.sqrt(hd), dtype=np.float32))
    init("c_half", np.array(0.5, dtype=np.float32))
    init("c_inv_sqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))
    init("c_shape_heads", np.array([0, 0, nh, hd], dtype=np.int64))
    init("c_shape_hidden", np.array([0, 0, H], dtype=np.int64))
    init("c_axes12", np.array([1, 2], dtype=np.int64))

    # embeddings
    word = node("Gather", [init("emb.word", w("embeddings.word_embeddings.weight")), "input_ids"], "emb_word", axis=0)
    ttype = node("Gather", [init("emb.type", w("embeddings.token_type_embeddings.weight")), "token_type_ids"], "emb_type", axis=0)
    # position embeddings: the first seq rows of the table, [S, H], broadcast over the batch.
    # (A Shape->Gather->Range->Gather pattern here gets mangled by ONNX Runtime's
    # EmbedLayerNormalization fusion at the default optimisation level; slicing the table doesn't.)
    seq = node("Shape", ["input_ids"], "seq_len_1d", start=1, end=2)
    pos = node("Slice", [init("emb.pos", w("embeddings.position_embeddings.weight")), "c_zero_1d", seq, "c_zero_1d"], "emb_pos")
    x = node("Add", [node("Add", [word, ttype], "emb_wt"), pos], "emb_sum")
    x = layer_norm(x, "embeddings.LayerNorm", "emb_out")

    # additive attention bias: 0 where mask==1, float32 min where mask==0; shape [B,1,1,S]
    m = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inv = node("Sub", ["c_one_f", m], "mask_inv")
    bias = node("Unsqueeze", [node("Mul", [inv, "c_mask_min"], "mask_bias_2d"), "c_axes12"], "mask_bias")

    for i in range(L):
        p = f"encoder.layer.{i}"
        q = linear(x, f"{p}.attention.self.query", f"l{i}_q")
        k = linear(x, f"{p}.attention.self.key", f"l{i}_k")
        v = linear(x, f"{p}.attention.self.value", f"l{i}_v")
        qh = node("Transpose", [node("Reshape", [q, "c_shape_heads"], f"l{i}_q_r")], f"l{i}_q_t", perm=[0, 2, 1, 3])
        kh = node("Transpose", [node("Reshape", [k, "c_shape_heads"], f"l{i}_k_r")], f"l{i}_k_t", perm=[0, 2, 3, 1])
        vh = node("Transpose", [node("Reshape", [v, "c_shape_heads"], f"l{i}_v_r")], f"l{i}_v_t", perm=[0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [qh, kh], f"l{i}_qk"), "c_scale"], f"l{i}_scores_s")
        scores = node("Add", [scores, bias], f"l{i}_scores")
        probs = node("Softmax", [scores], f"l{i}_probs", axis=-1)
        ctx = node("MatMul", [probs, vh], f"l{i}_ctx_h")
        ctx = node("Reshape", [node("Transpose", [ctx], f"l{i}_ctx_t", perm=[0, 2, 1, 3]), "c_shape_hidden"], f"l{i}_ctx")
        attn = linear(ctx, f"{p}.attention.output.dense", f"l{i}_attn_dense")
        x = layer_norm(node("Add", [attn, x], f"l{i}_attn_res"), f"{p}.attention.output.LayerNorm", f"l{i}_attn_out")
        h = linear(x, f"{p}.intermediate.dense", f"l{i}_inter")
        # GELU (erf form): 0.5 * h * (1 + erf(h / sqrt(2)))
        e = node("Erf", [node("Mul", [h, "c_inv_sqrt2"], f"l{i}_gelu_s")], f"l{i}_gelu_erf")
        g = node("Mul", [node("Mul", [h, "c_half"], f"l{i}_gelu_h"), node("Add", [e, "c_one_f"], f"l{i}_gelu_1p")], f"l{i}_gelu")
        o = linear(g, f"{p}.output.dense", f"l{i}_out_dense")
        out_name = "last_hidden_state" if i == L - 1 else f"l{i}_out"
        x = layer_norm(node("Add", [o, x], f"l{i}_out_res"), f"{p}.output.LayerNorm", out_name)

    dims = ["batch", "seq"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims) for n in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [H])]
    graph = helper.make_graph(nodes, "bert_encoder", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="skiff-minilm_to_onnx")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------- numpy reference (float64)


def _erf(x):
    return np.frompyfunc(math.erf, 1, 1)(x).astype(np.float64)


def reference_forward(cfg, w, ids, mask, types):
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    hd = H // nh
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    f = lambda n: w(n).astype(np.float64)  # noqa: E731

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * f(p + ".weight") + f(p + ".bias")

    def lin(x, p):
        return x @ f(p + ".weight").T + f(p + ".bias")

    B, S = ids.shape
    x = f("embeddings.word_embeddings.weight")[ids] + f("embeddings.token_type_embeddings.weight")[types]
    x = x + f("embeddings.position_embeddings.weight")[np.arange(S)][None]
    x = ln(x, "embeddings.LayerNorm")
    bias = np.where(mask[:, None, None, :] > 0, 0.0, float(np.finfo(np.float32).min))
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        heads = lambda t: t.reshape(B, S, nh, hd).transpose(0, 2, 1, 3)  # noqa: E731
        q = heads(lin(x, p + ".attention.self.query"))
        k = heads(lin(x, p + ".attention.self.key"))
        v = heads(lin(x, p + ".attention.self.value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(B, S, H)
        x = ln(lin(ctx, p + ".attention.output.dense") + x, p + ".attention.output.LayerNorm")
        h = lin(x, p + ".intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))
        x = ln(lin(h, p + ".output.dense") + x, p + ".output.LayerNorm")
    return x


# ---------------------------------------------------------------- verification


def mean_pool_normalize(hidden, mask):
    m = mask[..., None].astype(np.float64)
    pooled = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)


def encode(tok, texts):
    encs = tok.encode_batch(texts)
    S = max(len(e.ids) for e in encs)
    ids = np.zeros((len(texts), S), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for r, e in enumerate(encs):
        n = len(e.ids)
        ids[r, :n], mask[r, :n], types[r, :n] = e.ids, e.attention_mask, e.type_ids
    return ids, mask, types


def verify(model_path, model_dir, cfg, w):
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()  # we pad ourselves (pad id 0, mask 0) so the batch has mixed lengths
    def session(level):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        so.graph_optimization_level = level
        return ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])

    def runner(sess):
        return lambda i, m, t: sess.run(["last_hidden_state"], {"input_ids": i, "attention_mask": m, "token_type_ids": t})[0]

    # ORT_ENABLE_ALL (ort's default, and what fastembed asks for) gets the full checks below;
    # the other optimisation levels must agree with it (ORT's fusions have broken graphs before).
    run = runner(session(ort.GraphOptimizationLevel.ORT_ENABLE_ALL))

    texts = list(PAIR) + EXTRA
    ids, mask, types = encode(tok, texts)
    got = run(ids, mask, types)
    for lvl in ("ORT_DISABLE_ALL", "ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED"):
        other = runner(session(getattr(ort.GraphOptimizationLevel, lvl)))(ids, mask, types)
        d = float(np.abs(other - got).max())
        if d > MAX_ABS_DIFF:
            fail(f"verification: output with {lvl} differs from ORT_ENABLE_ALL by {d:.3e}")
    log("verify: ONNX Runtime " + ort.__version__ + ": all graph optimisation levels agree")
    if got.shape != (len(texts), ids.shape[1], cfg["hidden_size"]) or got.dtype != np.float32:
        fail(f"verification: output shape/dtype {got.shape}/{got.dtype} unexpected")
    if not np.isfinite(got).all():
        fail("verification: ONNX output has non-finite values")
    ref = reference_forward(cfg, w, ids, mask, types)
    valid = mask.astype(bool)
    diff = float(np.abs(got.astype(np.float64) - ref)[valid].max())
    diff_all = float(np.abs(got.astype(np.float64) - ref).max())
    log(f"verify: batch {ids.shape}, max |onnx - numpy ref| = {diff:.3e} (real tokens), {diff_all:.3e} (incl. padding); limit {MAX_ABS_DIFF:g}")
    if diff > MAX_ABS_DIFF:
        fail(f"verification: max abs diff {diff:.3e} > {MAX_ABS_DIFF:g} against the numpy reference")

    emb = mean_pool_normalize(got.astype(np.float64), mask)
    # each sentence alone (no padding) must give the same embedding as inside the padded batch
    pad_diff = 0.0
    for r, t in enumerate(texts):
        i1, m1, t1 = encode(tok, [t])
        e1 = mean_pool_normalize(run(i1, m1, t1).astype(np.float64), m1)[0]
        pad_diff = max(pad_diff, float(np.abs(e1 - emb[r]).max()))
    log(f"verify: padded batch vs single-sentence embeddings max diff = {pad_diff:.3e}")
    if pad_diff > 1e-5:
        fail(f"verification: attention mask not applied correctly (padded vs unpadded diff {pad_diff:.3e})")

    cos = float(emb[0] @ emb[1])
    log(f"verify: cos({PAIR[0]!r}, {PAIR[1]!r}) = {cos:.4f} (expected {EXPECTED_COS} +- {COS_TOL})")
    if abs(cos - EXPECTED_COS) > COS_TOL:
        fail(f"verification: cosine {cos:.4f} differs from expected {EXPECTED_COS}")
    return diff, cos


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True, help="dir with model.safetensors, config.json, tokenizer.json")
    ap.add_argument("--out", help="output path (default MODEL_DIR/model.onnx)")
    ap.add_argument("--no-verify", action="store_true", help="skip the reference/cosine checks (not recommended)")
    a = ap.parse_args()

    import onnx

    t0 = time.time()
    out = a.out or os.path.join(a.model_dir, "model.onnx")
    st = os.path.join(a.model_dir, "model.safetensors")
    for p in (st, os.path.join(a.model_dir, "config.json")):
        if not os.path.isfile(p):
            fail(f"missing input file {p}")
    with open(os.path.join(a.model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "bert":
        fail(f"config.json model_type is {cfg.get('model_type')!r}, expected 'bert'")
    w = Weights(load_safetensors(st))
    log(f"loaded {st} (prefix {w.prefix!r}); H={cfg['hidden_size']} layers={cfg['num_hidden_layers']} "
        f"heads={cfg['num_attention_heads']} ffn={cfg['intermediate_size']} vocab={cfg['vocab_size']}")
    for n, shp in (("embeddings.word_embeddings.weight", (cfg["vocab_size"], cfg["hidden_size"])),
                   ("embeddings.position_embeddings.weight", (cfg["max_position_embeddings"], cfg["hidden_size"])),
                   ("encoder.layer.0.intermediate.dense.weight", (cfg["intermediate_size"], cfg["hidden_size"]))):
        if tuple(w(n).shape) != shp:
            fail(f"tensor {n} has shape {w(n).shape}, config.json implies {shp}")

    model = build_model(cfg, w)
    tmp = f"{out}.tmp.{os.getpid()}"
    try:
        onnx.save(model, tmp)
        log(f"wrote {tmp} ({os.path.getsize(tmp) / 1e6:.1f} MB, opset {OPSET}, {len(model.graph.node)} nodes)")
        if not a.no_verify:
            verify(tmp, a.model_dir, cfg, w)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log(f"OK: {out} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
