"""The ONNX Runtime workers of the benchmark suite: the kws model, whole window and streaming.

Both models are written with the ``onnx.helper`` API straight from ``spec``'s weights (Keras
layout) and run by an ``InferenceSession`` on the CPU provider with every graph optimization
on, ``inter_op_num_threads=1`` and ``intra_op_num_threads`` = the worker's ``threads``
(variant ``default``) or 1 (variant ``1-thread``).

The GRU is ONNX's ``GRU`` op with ``linear_before_reset=1``:
``h~ = tanh(x W_h + b_Wh + r * (h R_h + b_Rh))``, which is Keras' ``reset_after=True``;
ONNX orders the gates z, r, h as Keras does and computes ``h' = (1 - z) * h~ + z * h``, so
``W = kernel.T``, ``R = recurrent_kernel.T`` and ``B`` = the input bias row then the
recurrent one, with no reordering.

- ``kws_window``: Transpose to (batch, 40, frames), ``Conv`` with ``pads=[k - 1, 0]`` (causal)
  + ``Relu``, Transpose to (frames, batch, 64), ``GRU`` (its final state), ``Gemm``.
- ``kws_frame``: the exported streaming step. Inputs: the frame (1, 1, 40), the conv state
  (the last ``k - 1`` frames flattened, oldest first) and the GRU state (1, 1, 128); outputs:
  the logits and both new states, which the next step feeds back. The causal conv over the
  window of ``k`` frames is one ``Gemm`` with the kernel flattened to ``(k * 40, 64)``.
  Inputs and outputs are bound once to preallocated buffers (``IOBinding``); the two state
  buffers of each kind swap roles every step, so a step copies only the new frame into the
  bound input buffer and allocates nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort
import spec
from onnx import TensorProto, helper, numpy_helper

VARIANTS: dict[str, tuple[str, ...]] = {
    "kws_window": ("default", "1-thread"),
    "kws_frame": ("default", "1-thread"),
}
OPSET = 21
IR_VERSION = 10


def versions() -> dict[str, str]:
    return {"onnxruntime": ort.__version__, "onnx": onnx.__version__}


def build(workload: str, variant: str, threads: int) -> Callable[[], object]:
    """A zero-argument callable running one step of ``workload`` (see the module docstring)."""
    if variant not in VARIANTS.get(workload, ()):
        raise ValueError(
            f"onnxruntime worker: no variant {variant!r} for workload {workload!r}; "
            f"offered: {VARIANTS.get(workload, ())}"
        )
    intra = 1 if variant == "1-thread" else threads
    weights = spec.WORKLOADS[workload].init_weights()
    if workload == "kws_window":
        return _window_step(session(window_model(weights), intra))
    return _frame_step(session(frame_model(weights), intra), weights)


def session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    """A CPU session for ``model`` with ``threads`` intra-op threads and one inter-op thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


# --- the models ----------------------------------------------------------------------------


def _initializer(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def _gru_initializers(weights: dict) -> list[onnx.TensorProto]:
    """W (1, 3u, in), R (1, 3u, u), B (1, 6u): Keras' gate order z, r, h is ONNX's."""
    bias = weights["gru/bias"]
    return [
        _initializer("gru_W", weights["gru/kernel"].T[None]),
        _initializer("gru_R", weights["gru/recurrent_kernel"].T[None]),
        _initializer("gru_B", np.concatenate([bias[0], bias[1]])[None]),
    ]


def _gru_node(x: str, initial_h: str, y_h: str, units: int) -> onnx.NodeProto:
    return helper.make_node(
        "GRU",
        [x, "gru_W", "gru_R", "gru_B", "", initial_h],
        ["", y_h],  # only the final state is needed
        hidden_size=units,
        linear_before_reset=1,
    )


def _dense_nodes(state: str, units: int) -> list[onnx.NodeProto]:
    """(1, batch, units) GRU state -> (batch, 12) logits."""
    return [
        helper.make_node("Reshape", [state, "state_shape"], ["state_2d"]),
        helper.make_node("Gemm", ["state_2d", "dense_kernel", "dense_bias"], ["logits"]),
    ]


def _dense_initializers(weights: dict, units: int) -> list[onnx.TensorProto]:
    return [
        _initializer("state_shape", np.array([-1, units], np.int64)),
        _initializer("dense_kernel", weights["dense/kernel"]),
        _initializer("dense_bias", weights["dense/bias"]),
    ]


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _float(name: str, shape: tuple) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def window_model(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The kws model on a whole window: x (batch, frames, 40) -> logits (batch, 12)."""
    kernel = weights["conv/kernel"]  # (k, in, out)
    k, features, _ = kernel.shape
    units = weights["gru/recurrent_kernel"].shape[0]
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_ncw"], perm=[0, 2, 1]),
        helper.make_node(
            "Conv", ["x_ncw", "conv_W", "conv_B"], ["conv"], kernel_shape=[k], pads=[k - 1, 0]
        ),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("Transpose", ["relu"], ["sequence"], perm=[2, 0, 1]),
        _gru_node("sequence", "", "h", units),
        *_dense_nodes("h", units),
    ]
    initializers = [
        _initializer("conv_W", kernel.transpose(2, 1, 0)),  # (out, in, k)
        _initializer("conv_B", weights["conv/bias"]),
        *_gru_initializers(weights),
        *_dense_initializers(weights, units),
    ]
    graph = helper.make_graph(
        nodes,
        "kws_window",
        [_float("x", ("batch", "frames", features))],
        [_float("logits", ("batch", spec.KWS_CLASSES))],
        initializers,
    )
    return _model(graph)


def frame_model(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """One streaming step of the kws model, batch 1 (see the module docstring)."""
    kernel = weights["conv/kernel"]
    k, features, channels = kernel.shape
    units = weights["gru/recurrent_kernel"].shape[0]
    held = (k - 1) * features
    nodes = [
        helper.make_node("Reshape", ["frame", "frame_shape"], ["frame_2d"]),
        helper.make_node("Concat", ["conv_state", "frame_2d"], ["window"], axis=1),
        helper.make_node("Gemm", ["window", "conv_kernel", "conv_bias"], ["conv"]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("Reshape", ["relu", "step_shape"], ["sequence"]),
        _gru_node("sequence", "gru_state", "gru_state_out", units),
        *_dense_nodes("gru_state_out", units),
        helper.make_node(
            "Slice", ["window", "keep_start", "keep_end", "keep_axis"], ["conv_state_out"]
        ),
    ]
    initializers = [
        _initializer("frame_shape", np.array([1, features], np.int64)),
        _initializer("conv_kernel", kernel.reshape(k * features, channels)),
        _initializer("conv_bias", weights["conv/bias"]),
        _initializer("step_shape", np.array([1, 1, channels], np.int64)),
        _initializer("keep_start", np.array([features], np.int64)),
        _initializer("keep_end", np.array([k * features], np.int64)),
        _initializer("keep_axis", np.array([1], np.int64)),
        *_gru_initializers(weights),
        *_dense_initializers(weights, units),
    ]
    graph = helper.make_graph(
        nodes,
        "kws_frame",
        [
            _float("frame", (1, 1, features)),
            _float("conv_state", (1, held)),
            _float("gru_state", (1, 1, units)),
        ],
        [
            _float("logits", (1, spec.KWS_CLASSES)),
            _float("conv_state_out", (1, held)),
            _float("gru_state_out", (1, 1, units)),
        ],
        initializers,
    )
    return _model(graph)


# --- the steps -----------------------------------------------------------------------------


def _window_step(sess: ort.InferenceSession) -> Callable[[], np.ndarray]:
    x = spec.WORKLOADS["kws_window"].make_data()[0]
    feed = {"x": x}

    def step() -> np.ndarray:
        (logits,) = sess.run(None, feed)
        return logits

    return step


def _frame_step(sess: ort.InferenceSession, weights: dict) -> Callable[[], np.ndarray]:
    stream = spec.WORKLOADS["kws_frame"].make_data()[0][0]  # (frames, features)
    k, features, _ = weights["conv/kernel"].shape
    units = weights["gru/recurrent_kernel"].shape[0]
    frame = np.zeros((1, 1, features), np.float32)
    conv_states = [np.zeros((1, (k - 1) * features), np.float32) for _ in range(2)]
    gru_states = [np.zeros((1, 1, units), np.float32) for _ in range(2)]
    logits = np.empty((1, spec.KWS_CLASSES), np.float32)
    bindings = [_binding(sess, frame, conv_states, gru_states, logits, p) for p in (0, 1)]
    count = [0]

    def step() -> np.ndarray:
        n = count[0]
        count[0] = n + 1
        frame[0, 0] = stream[n % len(stream)]  # the audio front end fills the input buffer
        sess.run_with_iobinding(bindings[n % 2])
        return logits

    return step


def _binding(sess, frame, conv_states: list, gru_states: list, logits, parity: int):
    """Reads the states from buffer ``parity`` and writes them to the other one."""
    binding = sess.io_binding()
    binding.bind_cpu_input("frame", frame)
    for name, buffers in (("conv_state", conv_states), ("gru_state", gru_states)):
        source, target = buffers[parity], buffers[1 - parity]
        binding.bind_cpu_input(name, source)
        binding.bind_output(f"{name}_out", "cpu", 0, np.float32, target.shape, _address(target))
    binding.bind_output("logits", "cpu", 0, np.float32, logits.shape, _address(logits))
    return binding


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]
