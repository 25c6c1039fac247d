"""Regenerate tests/golden/frameworks_NAME.json: what each framework does with random
transposed-convolution layers, executed in that framework.

Each framework runs in a virtual environment of its own, outside the repository:

    python -m venv ../venvs/fw && ../venvs/fw/bin/pip install tensorflow-cpu keras jax jaxlib \
        flax onnx onnxruntime
    ../venvs/fw/bin/python tests/golden/make_golden_frameworks.py tf keras jax flax onnx

    python3.10 -m venv ../venvs/mge && ../venvs/mge/bin/pip install megengine "numpy<1.24"  # wheels up to 3.10
    ../venvs/mge/bin/python tests/golden/make_golden_frameworks.py megengine

    python tests/golden/make_golden_frameworks.py r     # needs torch: R torch's rules, see below

Every case is the layer as a user pastes it (`code`), the input, and the verdict: the output's
spatial size and the start crop, or the framework's own error words. The start crop is found
numerically: the framework's output for random weights is compared with the scatter
definition (the weights turned into PyTorch's layout by the documented rule) at every
candidate crop; exactly one must match, which also proves the weight layout.

R torch is not run (no R here): its cases apply the rules of its R source (its own checks and
its `output_size` arithmetic, which ignores dilation) and then run the layer in libtorch through
PyTorch, as R torch's forward does.
"""

from __future__ import annotations

import json
import os
import random
import sys
import warnings
from pathlib import Path

import numpy as np

# TensorFlow's portable kernels: with oneDNN on, some refusals become an unworded AbortedError.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).parent
CASES = 240
SEED = 20261201


# -- the one reference: scatter, then keep [pb, pb + O) (zeros outside the full scatter) -------


def scatter(x: np.ndarray, w: np.ndarray, stride, dilation, groups: int) -> np.ndarray:
    """Full transposed convolution (no crop): x (N, Cin, *I), w (Cin, Cout/g, *k) -> (N, Cout, *full)."""
    n, cin = x.shape[:2]
    spatial = x.shape[2:]
    kernel = w.shape[2:]
    cout_g = w.shape[1]
    cin_g = cin // groups
    full = [(i - 1) * s + d * (k - 1) + 1 for i, k, s, d in zip(spatial, kernel, stride, dilation)]
    out = np.zeros((n, cout_g * groups, *full))
    for tap in np.ndindex(*kernel):
        index = tuple(slice(t * d, t * d + (i - 1) * s + 1, s) for t, i, s, d in zip(tap, spatial, stride, dilation))
        for g in range(groups):
            xs = x[:, g * cin_g:(g + 1) * cin_g]
            ws = w[(slice(g * cin_g, (g + 1) * cin_g), slice(None), *tap)]
            out[(slice(None), slice(g * cout_g, (g + 1) * cout_g), *index)] += np.einsum("nc...,co->no...", xs, ws)
    return out


def window(full: np.ndarray, begins, lengths) -> np.ndarray:
    """full[..., pb:pb+O] per spatial dim, zeros where the window leaves the full scatter."""
    nd = len(begins)
    out = np.zeros(full.shape[:2] + tuple(lengths))
    src, dst = [], []
    for b, o, f in zip(begins, lengths, full.shape[2:]):
        lo, hi = max(b, 0), min(b + o, f)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - b, hi - b))
    out[(slice(None), slice(None), *dst)] = full[(slice(None), slice(None), *src)]
    assert len(src) == nd
    return out


def find_crop(y: np.ndarray, x, w_torch, bias, stride, dilation, groups=1):
    """The start crop per dim that makes the scatter equal y (N, C, *O); None when none does."""
    full = scatter(x, w_torch, stride, dilation, groups)
    lengths = y.shape[2:]
    if 0 in lengths:
        return None
    ranges = [range(-o - 2, f + 2) for o, f in zip(lengths, full.shape[2:])]
    if np.prod([len(r) for r in ranges]) * full.size > 5e8:  # large layers: crops near the start only
        ranges = [range(-3, 8)] * len(lengths)
    b = 0 if bias is None else bias.reshape(1, -1, *([1] * len(lengths)))
    found = []
    for begins in __import__("itertools").product(*ranges):
        if np.allclose(window(full, begins, lengths) + b, y, atol=1e-4, rtol=1e-4):
            found.append(list(begins))
    return found[0] if len(found) == 1 else None


VALUES_PER_FRAMEWORK = 12
values_left = [VALUES_PER_FRAMEWORK]


def values(case: dict, x, w, b, y) -> None:
    """Keep the arrays of the first small accepted cases: input (N, C, ...), the weight and bias in
    the framework's own layout, and its output (N, C, ...), so the tests can check the layouts."""
    if values_left[0] <= 0 or y.size > 600 or w.size > 600 or y.size == 0:  # (JSON keeps no empty shapes)
        return
    values_left[0] -= 1
    case["values"] = {"x": np.asarray(x, "float64").tolist(), "w": np.asarray(w, "float64").tolist(),
                      "b": None if b is None else np.asarray(b, "float64").tolist(),
                      "y": np.asarray(y, "float64").tolist()}


def words(error: BaseException) -> str:
    """The error as the framework prints it: type and message, first non-empty lines joined."""
    if type(error).__name__ == "AsyncError" and error.__cause__ is not None:  # MegEngine: the real one
        error = error.__cause__
    text = str(error).strip()
    return f"{type(error).__name__}: {' '.join(line.strip() for line in text.splitlines() if line.strip())}"


def rand_dims(rng: random.Random, nd: int, lo: int, hi: int, same: float = 0.6) -> list[int]:
    if rng.random() < same:
        return [rng.randint(lo, hi)] * nd
    return [rng.randint(lo, hi) for _ in range(nd)]


def lit(values: list[int], as_int: bool = True) -> str:
    """`3` when every dim has the value (and ints are allowed), else `(3, 5)`."""
    if as_int and len(set(values)) == 1:
        return str(values[0])
    return "(" + ", ".join(map(str, values)) + ("," if len(values) == 1 else "") + ")"


def to_last(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, 1, -1)


def to_first(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, -1, 1)


# -- TensorFlow: tf.nn.conv{1,2,3}d_transpose ---------------------------------------------------


def case_tf(rng: random.Random) -> dict:
    import tensorflow as tf

    nd = rng.choice([1, 2, 2, 2, 3])
    size = rand_dims(rng, nd, 1, 5)
    k = rand_dims(rng, nd, 1, 4)
    s = rand_dims(rng, nd, 1, 3)
    d = [1] * nd if rng.random() < 0.85 else rand_dims(rng, nd, 1, 2)
    cin, cout = rng.randint(1, 3), rng.randint(1, 3)
    choices = ["SAME", "VALID", "SAME", "VALID", "same"] + (["explicit", "explicit"] if nd == 2 else [])
    padding_kind = rng.choice(choices)
    keff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
    natural = [(i - 1) * ss + e for i, ss, e in zip(size, s, keff)]
    valid = rng.random() < 0.6  # most outputs in the accepted range, the rest around it
    if padding_kind == "explicit":
        pads = [[rng.randint(0, 3), rng.randint(0, 3)] for _ in range(nd)]
        padding = [[0, 0], *pads, [0, 0]]
        low = [n - a - b for n, (a, b) in zip(natural, pads)]
    else:
        padding = padding_kind
        pads = [[0, 0]] * nd
        low = [(i - 1) * ss + 1 for i, ss in zip(size, s)] if padding_kind == "SAME" else natural
    if valid:
        out = [max(1, lo + rng.randint(0, ss - 1)) for lo, ss in zip(low, s)]
    else:
        out = [max(1, lo + rng.randint(-ss - 1, ss)) for lo, ss in zip(low, s)]
    output_shape = [1, *out, cout]
    dil = "" if d == [1] * nd else f", dilations={lit(d)}"
    code = f"tf.nn.conv{nd}d_transpose(x, w, {output_shape}, {lit(s)}, {padding!r}{dil})"
    case = {"code": code, "input": size, "kernel_size": k, "in_channels": cin, "out_channels": cout}
    x = np.random.default_rng(len(code)).standard_normal((1, cin, *size))
    w_torch = np.random.default_rng(len(code) + 1).standard_normal((cin, cout, *k))
    w = w_torch.transpose(*range(2, nd + 2), 1, 0)
    fn = {1: tf.nn.conv1d_transpose, 2: tf.nn.conv2d_transpose, 3: tf.nn.conv3d_transpose}[nd]
    kwargs = {} if d == [1] * nd else {"dilations": d}
    try:
        y = fn(to_last(x), w, output_shape, s if len(set(s)) > 1 else s[0], padding, **kwargs).numpy()
    except Exception as error:  # noqa: BLE001 - the framework's words are the datum
        return {**case, "ok": False, "error": words(error)}
    y = to_first(y)
    values(case, x, w, None, y)
    return {**case, "ok": True, "output": list(y.shape[2:]), "crop": find_crop(y, x, w_torch, None, s, d)}


# -- Keras: layers.Conv{1,2,3}DTranspose (TensorFlow backend, CPU) ------------------------------


def case_keras(rng: random.Random) -> dict:
    import keras

    nd = rng.choice([1, 2, 2, 2, 3])
    size = rand_dims(rng, nd, 1, 5)
    k = rand_dims(rng, nd, 1, 5)
    s = rand_dims(rng, nd, 1, 3)
    d = [1] * nd if rng.random() < 0.85 else rand_dims(rng, nd, 1, 2)
    cin, cout = rng.randint(1, 3), rng.randint(0 if rng.random() < 0.03 else 1, 3)
    padding = rng.choice(["same", "valid", "same", "valid", "SAME"])
    args = [str(cout), lit(k)]
    if s != [1] * nd or rng.random() < 0.3:
        args.append(f"strides={lit(s)}")
    args.append(f"padding={padding!r}")
    op = None
    if rng.random() < 0.5:
        op = rand_dims(rng, nd, 0, 3)
        args.append(f"output_padding={lit(op)}")
    if d != [1] * nd:
        args.append(f"dilation_rate={lit(d)}")
    use_bias = rng.random() < 0.8
    if not use_bias:
        args.append("use_bias=False")
    code = f"layers.Conv{nd}DTranspose({', '.join(args)})"
    case = {"code": code, "input": size, "in_channels": cin}
    x = np.random.default_rng(len(code)).standard_normal((1, cin, *size)).astype("float32")
    try:
        layer = getattr(keras.layers, f"Conv{nd}DTranspose")(
            cout, k, strides=s, padding=padding, output_padding=op, dilation_rate=d, use_bias=use_bias
        )
    except Exception as error:  # noqa: BLE001
        return {**case, "ok": False, "error": words(error)}
    try:
        layer.build((1, *size, cin))
        w_torch = np.random.default_rng(len(code) + 1).standard_normal((cin, cout, *k)).astype("float32")
        bias = np.random.default_rng(len(code) + 2).standard_normal(cout).astype("float32") if use_bias else None
        kernel = w_torch.transpose(*range(2, nd + 2), 1, 0)
        layer.set_weights([kernel, bias] if use_bias else [kernel])
        y = to_first(np.asarray(layer(to_last(x))))
    except Exception as error:  # noqa: BLE001
        return {**case, "ok": False, "error": words(error)}
    values(case, x, kernel, bias, y)
    return {**case, "ok": True, "output": list(y.shape[2:]),
            "crop": find_crop(y.astype("float64"), x.astype("float64"), w_torch.astype("float64"),
                              None if bias is None else bias.astype("float64"), s, d)}


# -- JAX: lax.conv_transpose ------------------------------------------------------------------


def case_jax(rng: random.Random) -> dict:
    import jax
    from jax import lax

    jax.config.update("jax_enable_x64", True)
    nd = rng.choice([1, 2, 2, 2, 3])
    size = rand_dims(rng, nd, 1, 5)
    k = rand_dims(rng, nd, 1, 4)
    s = rand_dims(rng, nd, 1, 3)
    if rng.random() < 0.2:
        s = [1] * nd
    d = [1] * nd if rng.random() < 0.7 else rand_dims(rng, nd, 1, 3)
    cin, cout = rng.randint(1, 3), rng.randint(1, 3)
    kind = rng.choice(["SAME", "VALID", "same", "valid", "pairs", "pairs", "pairs"])
    if kind == "pairs":
        padding = tuple((rng.randint(-3, 4), rng.randint(-3, 4)) for _ in range(nd))
    else:
        padding = kind
    consistent = kind == "pairs" and rng.random() < 0.4
    transpose_kernel = rng.random() < 0.4
    args = ["x", "w", lit(s, as_int=False), repr(padding)]
    if d != [1] * nd:
        args.append(f"rhs_dilation={lit(d, as_int=False)}")
    if transpose_kernel:
        args.append("transpose_kernel=True")
    if consistent:
        args.append("use_consistent_padding=True")
    code = f"jax.lax.conv_transpose({', '.join(args)})"
    case = {"code": code, "input": size, "kernel_size": k, "in_channels": cin, "out_channels": cout}
    x = np.random.default_rng(len(code)).standard_normal((1, cin, *size))
    w_torch = np.random.default_rng(len(code) + 1).standard_normal((cin, cout, *k))
    spatial = tuple(range(2, nd + 2))
    if transpose_kernel:  # (k..., out, in) as given; lax flips and swaps it
        w = w_torch.transpose(*spatial, 1, 0)
    else:  # (k..., in, out), spatially flipped
        w = np.flip(w_torch.transpose(*spatial, 0, 1), tuple(range(nd)))
    kwargs = {"transpose_kernel": transpose_kernel}
    if d != [1] * nd:
        kwargs["rhs_dilation"] = tuple(d)
    if consistent:
        kwargs["use_consistent_padding"] = True
    try:
        y = np.asarray(lax.conv_transpose(to_last(x), w, tuple(s), padding, **kwargs))
    except Exception as error:  # noqa: BLE001
        return {**case, "ok": False, "error": words(error)}
    y = to_first(y)
    crop = find_crop(y, x, w_torch, None, s, d) if 0 not in y.shape[2:] else None
    values(case, x, w, None, y)
    return {**case, "ok": True, "output": list(y.shape[2:]), "crop": crop}


# -- Flax: flax.linen.ConvTranspose --------------------------------------------------------------


def case_flax(rng: random.Random) -> dict:
    import jax
    from flax import linen as nn

    jax.config.update("jax_enable_x64", True)
    nd = rng.choice([1, 2, 2, 2, 3])
    size = rand_dims(rng, nd, 1, 5)
    k = rand_dims(rng, nd, 1, 4)
    s = rand_dims(rng, nd, 1, 3)
    d = [1] * nd if rng.random() < 0.8 else rand_dims(rng, nd, 1, 2)
    cin, cout = rng.randint(1, 3), rng.randint(1, 3)
    kind = rng.choice(["SAME", "VALID", "CIRCULAR", "int", "pairs", "pairs", "default"])
    args = [str(cout), lit(k, as_int=False)]
    padding: object = "SAME"
    if s != [1] * nd:
        args.append(f"strides={lit(s, as_int=False)}")
    if kind == "int":
        padding = rng.randint(0, 3)
    elif kind == "pairs":
        padding = tuple((rng.randint(-2, 4), rng.randint(-2, 4)) for _ in range(nd))
    elif kind != "default":
        padding = kind
    if kind != "default":
        args.append(f"padding={padding!r}")
    if d != [1] * nd:
        args.append(f"kernel_dilation={lit(d, as_int=False)}")
    transpose_kernel = rng.random() < 0.3
    if transpose_kernel:
        args.append("transpose_kernel=True")
    use_bias = rng.random() < 0.8
    if not use_bias:
        args.append("use_bias=False")
    code = f"nn.ConvTranspose({', '.join(args)})"
    case = {"code": code, "input": size, "in_channels": cin}
    x = np.random.default_rng(len(code)).standard_normal((1, cin, *size))
    w_torch = np.random.default_rng(len(code) + 1).standard_normal((cin, cout, *k))
    bias = np.random.default_rng(len(code) + 2).standard_normal(cout) if use_bias else None
    spatial = tuple(range(2, nd + 2))
    if transpose_kernel:
        kernel = w_torch.transpose(*spatial, 1, 0)
    else:
        kernel = np.flip(w_torch.transpose(*spatial, 0, 1), tuple(range(nd)))
    try:
        module = nn.ConvTranspose(cout, tuple(k), strides=tuple(s), padding=padding, kernel_dilation=tuple(d),
                                  use_bias=use_bias, transpose_kernel=transpose_kernel, param_dtype="float64",
                                  dtype="float64")
        variables = module.init(jax.random.PRNGKey(0), to_last(x))
        params = {"kernel": kernel}
        if use_bias:
            params["bias"] = bias
        assert variables["params"]["kernel"].shape == kernel.shape, variables["params"]["kernel"].shape
        y = to_first(np.asarray(module.apply({"params": params}, to_last(x))))
    except Exception as error:  # noqa: BLE001
        return {**case, "ok": False, "error": words(error)}
    crop = None
    if padding != "CIRCULAR" and 0 not in y.shape[2:]:
        crop = find_crop(y, x, w_torch, bias, s, d)
    values(case, x, kernel, bias, y)
    return {**case, "ok": True, "output": list(y.shape[2:]), "crop": crop}


# -- ONNX: ConvTranspose in onnxruntime ---------------------------------------------------------


def case_onnx(rng: random.Random) -> dict:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    nd = rng.choice([1, 2, 2, 2, 3])
    size = rand_dims(rng, nd, 1, 5)
    k = rand_dims(rng, nd, 1, 4)
    s = rand_dims(rng, nd, 1, 3)
    d = [1] * nd if rng.random() < 0.75 else rand_dims(rng, nd, 1, 3)
    g = rng.choice([1, 1, 1, 2])
    cin, cout = g * rng.randint(1, 2), g * rng.randint(1, 2)
    attrs: dict = {"kernel_shape": k}
    if s != [1] * nd or rng.random() < 0.3:
        attrs["strides"] = s
    if d != [1] * nd:
        attrs["dilations"] = d
    if g != 1:
        attrs["group"] = g
    kind = rng.choice(["pads", "pads", "auto", "auto", "output_shape", "none"])
    keff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
    if kind == "pads":
        attrs["pads"] = [rng.randint(0, 3) for _ in range(2 * nd)]
    elif kind == "auto":
        attrs["auto_pad"] = rng.choice(["SAME_UPPER", "SAME_LOWER", "VALID"])
    elif kind == "output_shape":
        natural = [(i - 1) * ss + e for i, ss, e in zip(size, s, keff)]
        attrs["output_shape"] = [max(1, n + rng.randint(-ss - 1, ss)) for n, ss in zip(natural, s)]
        if rng.random() < 0.4:
            attrs["auto_pad"] = rng.choice(["SAME_UPPER", "SAME_LOWER"])
    if rng.random() < 0.35:
        attrs["output_padding"] = rand_dims(rng, nd, 0, 2)
    bias = rng.random() < 0.7
    inputs = ["X", "W", "B"] if bias else ["X", "W"]
    shown = ", ".join(f"{key}={value!r}" for key, value in attrs.items())
    code = f"helper.make_node('ConvTranspose', {inputs!r}, ['Y'], {shown})"
    case = {"code": code, "input": size, "in_channels": cin, "out_channels": cout}
    x = np.random.default_rng(len(code)).standard_normal((1, cin, *size)).astype("float32")
    w = np.random.default_rng(len(code) + 1).standard_normal((cin, cout // g, *k)).astype("float32")
    b = np.random.default_rng(len(code) + 2).standard_normal(cout).astype("float32")
    node = helper.make_node("ConvTranspose", inputs, ["Y"], **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape)),
         helper.make_tensor_value_info("W", TensorProto.FLOAT, list(w.shape))]
        + ([helper.make_tensor_value_info("B", TensorProto.FLOAT, [cout])] if bias else []),
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    model.ir_version = 10
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
        dims = inferred.graph.output[0].type.tensor_type.shape.dim
        case["inferred"] = [dim.dim_value if dim.HasField("dim_value") else None for dim in dims][2:] or None
    except Exception as error:  # noqa: BLE001
        case["inferred_error"] = words(error)
    feeds = {"X": x, "W": w, **({"B": b} if bias else {})}
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        y = session.run(None, feeds)[0]
    except Exception as error:  # noqa: BLE001
        return {**case, "ok": False, "error": words(error)}
    crop = find_crop(y.astype("float64"), x.astype("float64"), w.astype("float64"),
                     b.astype("float64") if bias else None, s, d, g)
    values(case, x, w, b if bias else None, y)
    return {**case, "ok": True, "output": list(y.shape[2:]), "crop": crop}


# -- MegEngine: megengine.module.ConvTranspose2d / 3d ----------------------------------------------


# The seeds' example, the documented quirks (ME01-ME09) and grouped output_padding that runs.
MEGENGINE_FIXED = [
    # size, k, s, p, op, d, g, cin, cout, positional, bias
    ([50, 100], [3, 5], [2, 3], [4, 2], [1, 2], [1, 1], 1, 16, 33, False, True),
    ([5, 7], [3, 5], [2, 3], [4, 2], [1, 2], [1, 1], 1, 2, 3, False, True),
    ([5, 5], [3, 3], [1, 1], [0, 0], [0, 0], [1, 1], 2, 4, 6, False, True),
    ([5, 5], [3, 3], [2, 2], [1, 1], [0, 1], [1, 1], 1, 4, 6, False, True),
    ([5, 5], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], 2, 4, 6, False, True),
    ([5, 5], [3, 3], [1, 1], [0, 0], [1, 1], [2, 2], 1, 4, 6, False, True),
    ([5, 5], [3, 3], [1, 1], [0, 0], [0, 0], [2, 2], 1, 4, 6, True, True),
    ([5, 5], [2, 2], [3, 3], [3, 3], [2, 0], [1, 1], 2, 4, 2, False, True),
    ([4, 6], [3, 2], [2, 2], [1, 0], [1, 1], [1, 2], 3, 6, 2, False, True),
    ([3, 3], [2, 3], [3, 2], [0, 1], [2, 1], [1, 1], 2, 8, 4, False, False),
    ([10, 50, 100], [3, 5, 2], [3, 2, 2], [0, 4, 2], [2, 1, 1], [1, 1, 1], 1, 4, 3, False, True),
]


def case_megengine(rng: random.Random, fixed: tuple | None = None) -> dict:
    import megengine as mge
    import megengine.module as M

    mge.config.async_level = 0  # raise where the error happens, with its own words
    nd = rng.choice([2, 2, 2, 3])
    size = rand_dims(rng, nd, 1, 5)
    k = rand_dims(rng, nd, 0 if rng.random() < 0.03 else 1, 4)
    s = rand_dims(rng, nd, 1, 3)
    p = rand_dims(rng, nd, 0, 3)
    d = [1] * nd if rng.random() < 0.75 else rand_dims(rng, nd, 1, 3)
    g = 1 if nd == 3 else rng.choice([1, 1, 1, 2])
    cin, cout = g * rng.randint(1, 2), g * rng.randint(1, 2)
    if rng.random() < 0.05:
        cout += 1
    op = [0] * nd if rng.random() < 0.5 else rand_dims(rng, nd, 0, 2, same=0.4)
    positional = rng.random() < 0.3
    use_bias = rng.random() < 0.8
    if fixed is not None:
        size, k, s, p, op, d, g, cin, cout, positional, use_bias = fixed
        nd = len(size)
    if positional:
        args = [str(cin), str(cout), lit(k), lit(s), lit(p), lit(op), lit(d), str(g)]
    else:
        args = [str(cin), str(cout), lit(k), f"stride={lit(s)}", f"padding={lit(p)}"]
        if op != [0] * nd:
            args.append(f"output_padding={lit(op)}")
        if d != [1] * nd:
            args.append(f"dilation={lit(d)}")
        if g != 1:
            args.append(f"groups={g}")
    if not use_bias:
        args.append("bias=False")
    code = f"megengine.module.ConvTranspose{nd}d({', '.join(args)})"
    case = {"code": code, "input": size}
    x = np.random.default_rng(len(code)).standard_normal((1, cin, *size)).astype("float32")
    cls = getattr(M, f"ConvTranspose{nd}d")
    try:
        layer = cls(cin, cout, tuple(k), tuple(s), tuple(p), tuple(op), tuple(d), g, use_bias)
    except Exception as error:  # noqa: BLE001
        return {**case, "ok": False, "error": words(error)}
    w_torch = np.random.default_rng(len(code) + 1).standard_normal((cin, cout // g, *k)).astype("float32")
    bias = np.random.default_rng(len(code) + 2).standard_normal(cout).astype("float32")
    case["weight_shape"] = list(layer.weight.shape)
    case["bias_shape"] = list(layer.bias.shape) if use_bias else None
    try:
        layer.weight._reset(mge.tensor(w_torch.reshape(layer.weight.shape)))
        if use_bias:
            layer.bias._reset(mge.tensor(bias.reshape(layer.bias.shape)))
        y = layer(mge.tensor(x)).numpy()
    except Exception as error:  # noqa: BLE001
        return {**case, "ok": False, "error": words(error)}
    crop = find_crop(y.astype("float64"), x.astype("float64"), w_torch.astype("float64"),
                     bias.astype("float64") if use_bias else None, s, d, g)
    values(case, x, w_torch.reshape(layer.weight.shape), bias.reshape(layer.bias.shape) if use_bias else None, y)
    return {**case, "ok": True, "output": list(y.shape[2:]), "crop": crop}


# -- R torch: its R-level rules, then libtorch (through PyTorch) ---------------------------------


def r_vector(values: list[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "c(" + ", ".join(map(str, values)) + ")"


def case_r(rng: random.Random) -> dict:
    import torch

    nd = rng.choice([1, 2, 2, 2, 3])
    size = rand_dims(rng, nd, 1, 6)
    k = rand_dims(rng, nd, 1, 4)
    s = rand_dims(rng, nd, 1, 3)
    p = rand_dims(rng, nd, 0, 3)
    d = [1] * nd if rng.random() < 0.7 else rand_dims(rng, nd, 1, 3)
    g = rng.choice([1, 1, 1, 2])
    cin, cout = g * rng.randint(1, 2), g * rng.randint(1, 2)
    if rng.random() < 0.05:
        cin += 1
    op = [0] * nd if rng.random() < 0.6 else rand_dims(rng, nd, 0, 2)
    mode = "zeros" if rng.random() < 0.93 else rng.choice(["reflect", "circular"])
    args = [str(cin), str(cout), r_vector(k), f"stride = {r_vector(s)}", f"padding = {r_vector(p)}"]
    if op != [0] * nd:
        args.append(f"output_padding = {r_vector(op)}")
    if g != 1:
        args.append(f"groups = {g}")
    if d != [1] * nd:
        args.append(f"dilation = {r_vector(d)}")
    if mode != "zeros":
        args.append(f'padding_mode = "{mode}"')
    code = f"nn_conv_transpose{nd}d({', '.join(args)})"
    case = {"code": code, "input": size, "source": "R torch's R rules + libtorch via PyTorch (not R itself)"}
    output_size = None
    if rng.random() < 0.3:
        base = [(i - 1) * ss - 2 * pp + kk for i, ss, pp, kk in zip(size, s, p, k)]  # R: no dilation term
        output_size = [b + rng.randint(-1, ss) for b, ss in zip(base, s)]
        case["output_size"] = output_size
    # nn_conv_transpose_nd$initialize: padding_mode first, then nn_conv_nd's divisibility checks
    if mode != "zeros":
        return {**case, "ok": False, "error": "value_error: Only `zeros` padding is supported."}
    if cin % g:
        return {**case, "ok": False, "error": "value_error: `in_channels` must be divisible by groups"}
    if cout % g:
        return {**case, "ok": False, "error": "value_error: `out_channels` must be divisible by groups"}
    if output_size is not None:  # nn_conv_transpose_nd$.output_padding, verbatim arithmetic
        mins = [(i - 1) * ss - 2 * pp + kk for i, ss, pp, kk in zip(size, s, p, k)]
        maxs = [m + ss - 1 for m, ss in zip(mins, s)]
        # glue() repeats the message per element of output_size; the first one is shown first
        for r, lo, hi in zip(output_size, mins, maxs):
            if r < lo or r > hi:
                return {**case, "ok": False,
                        "error": f"value_error: requested an output of size {output_size[0]}, but valid"}
        op = [r - m for r, m in zip(output_size, mins)]
    layer = getattr(torch.nn, f"ConvTranspose{nd}d")(
        cin, cout, tuple(k), tuple(s), tuple(p), tuple(op), g, True, tuple(d)
    ).double()
    x = torch.randn(1, cin, *size, dtype=torch.float64)
    try:
        with torch.no_grad():
            y = layer(x).numpy()
    except Exception as error:  # noqa: BLE001
        return {**case, "ok": False, "error": words(error)}
    crop = find_crop(y, x.numpy(), layer.weight.detach().numpy(), layer.bias.detach().numpy(), s, d, g)
    values(case, x.numpy(), layer.weight.detach().numpy(), layer.bias.detach().numpy(), y)
    return {**case, "ok": True, "output": list(y.shape[2:]), "crop": crop}


RUNNERS = {"tf": case_tf, "keras": case_keras, "jax": case_jax, "flax": case_flax, "onnx": case_onnx,
           "megengine": case_megengine, "r": case_r}


def versions(name: str) -> dict:
    modules = {"tf": ["tensorflow"], "keras": ["keras", "tensorflow"], "jax": ["jax"], "flax": ["flax", "jax"],
               "onnx": ["onnx", "onnxruntime"], "megengine": ["megengine"], "r": ["torch"]}[name]
    return {m: __import__(m).__version__ for m in modules}


def main(names: list[str]) -> None:
    warnings.simplefilter("ignore")
    for name in names:
        rng = random.Random(f"{SEED}-{name}")
        values_left[0] = VALUES_PER_FRAMEWORK
        cases = [RUNNERS[name](rng) for _ in range(CASES)]
        if name == "megengine":
            cases = [case_megengine(rng, fixed) for fixed in MEGENGINE_FIXED] + cases
        doc = {"framework": name, "versions": versions(name), "python": sys.version.split()[0], "cases": cases}
        path = HERE / f"frameworks_{name}.json"
        path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        ok = sum(c["ok"] for c in cases)
        cropped = sum(c.get("crop") is not None for c in cases)
        print(f"{name}: {len(cases)} cases, {ok} accepted ({cropped} with a crop found), {len(cases) - ok} refused")


if __name__ == "__main__":
    main(sys.argv[1:] or ["tf", "keras", "jax", "flax", "onnx"])
