"""Attention layers with the arguments and defaults of Keras 3: MultiHeadAttention and
Attention (dot-product, Luong-style).

>>> import rillet as rl
>>> import rillet.layers
>>> mha = rl.layers.MultiHeadAttention(num_heads=2, key_dim=3)
>>> x = rl.ones((1, 4, 6))
>>> y, scores = mha(x, x, return_attention_scores=True, use_causal_mask=True)
>>> y.shape, scores.shape, [w.shape for w in mha.weights[:2]]
((1, 4, 6), (1, 2, 4, 4), [(6, 2, 3), (2, 3)])

Masks follow Keras: a masked position gets ``-1e9`` added to its score before the softmax
(``-3e4`` in float16), so a row with every key masked attends uniformly.
"""

from __future__ import annotations

import math

from .. import constraints, initializers, ops, regularizers
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..tensor import asarray
from . import masking
from ._args import positive_int, rate_arg, record_activity_loss, seed_arg, set_activity_regularizer
from .layer import Layer

__all__ = ["MultiHeadAttention", "Attention"]


def _large_negative(dtype) -> float:
    """The score added at masked positions (Keras's ``_large_negative_number``)."""
    return -3e4 if str(dtype) == "float16" else -1e9


def _masked_softmax(scores, mask, axes: int):
    """Softmax over the last ``axes`` axes, with ``mask`` (bool, broadcast to ``scores``)
    adding a large negative number where it is False."""
    if mask is not None:
        keep = ops.cast(mask, dtype=scores.dtype)
        scores = scores + (1.0 - keep) * _large_negative(scores.dtype)
    if axes == 1:
        return ops.softmax(scores, axis=-1)
    over = tuple(range(-axes, 0))
    return ops.exp(scores - ops.logsumexp(scores, axis=over, keepdims=True))


def _causal_mask(query_length: int, key_length: int):
    """``(1, Tq, Tk)``: query position ``i`` sees key positions ``j <= i``."""
    if query_length is None or key_length is None:
        raise ShapeError("use_causal_mask=True needs the sequence lengths to be known")
    rows = ops.expand_dims(ops.arange(query_length), -1)
    return ops.expand_dims(ops.greater_equal(rows, ops.arange(key_length)), 0)


class _Projection(Layer):
    """``x (..., *bound) -> (..., *output_dims)`` through a kernel ``(*bound, *output_dims)``
    and a bias ``output_dims``: the EinsumDense projections of Keras's MultiHeadAttention, as
    one 2-D matmul (one GEMM; a tensordot when inner axes have unknown sizes)."""

    def __init__(self, bound: int, output_dims, use_bias: bool, options: dict, **kwargs):
        super().__init__(**kwargs)
        self.bound, self.output_dims, self.use_bias = bound, tuple(output_dims), use_bias
        self.options = options
        set_activity_regularizer(self, options["activity_regularizer"])

    def _weight(self, name: str, shape, kind: str):
        o = self.options
        return self.add_weight(
            shape=shape,
            initializer=o[f"{kind}_initializer"],
            regularizer=o[f"{kind}_regularizer"],
            constraint=o[f"{kind}_constraint"],
            name=name,
        )

    def build(self, input_shape) -> None:
        bound = tuple(input_shape[-self.bound :])
        if None in bound:
            raise ShapeError(
                f"{self.name}: the last axes of the input must be known, got {input_shape}"
            )
        self.kernel = self._weight("kernel", (*bound, *self.output_dims), "kernel")
        self.bias = self._weight("bias", self.output_dims, "bias") if self.use_bias else None
        self.built = True

    def call(self, inputs):
        lead = tuple(inputs.shape[: -self.bound])
        if len(lead) >= 1 and None not in lead[1:]:
            # one 2-D matmul and bias: the gradients are two plain GEMMs and a column sum,
            # all over one contiguous (rows, columns) array
            rows, columns = _size(inputs.shape[-self.bound :]), _size(self.output_dims)
            x = ops.reshape(inputs, (-1, rows))
            y = ops.matmul(x, ops.reshape(self.kernel, (rows, columns)))
            if self.bias is not None:
                y = y + ops.reshape(self.bias, (columns,))
            y = ops.reshape(y, (-1, *lead[1:], *self.output_dims))
        else:
            y = ops.tensordot(inputs, self.kernel, axes=self.bound)
            if self.bias is not None:
                y = y + self.bias
        record_activity_loss(self, y)
        return y


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani 2017) with Keras 3's arguments and weights: the
    ``query``, ``key`` and ``value`` projections have kernels ``(dim, num_heads, key_dim)``
    (``value_dim`` for value) and biases ``(num_heads, key_dim)``; ``attention_output`` has
    a kernel ``(num_heads, value_dim, *output_shape)``.

    ``call(query, value, key=None, attention_mask=None, return_attention_scores=False,
    training=None, use_causal_mask=False)``: ``attention_mask`` (bool, ``(B, T, S)``, 1 to
    attend) is combined with the Keras masks of query, value and key and with the causal
    mask; scores have shape ``(B, num_heads, T, S)`` (with ``attention_axes``: the batch-like
    axes, the heads, then the query and key attention axes).
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        attention_axes=None,
        flash_attention=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True
        self._num_heads = positive_int("MultiHeadAttention", "num_heads", num_heads)
        self._key_dim = positive_int("MultiHeadAttention", "key_dim", key_dim)
        dim = key_dim if value_dim is None else value_dim
        self._value_dim = positive_int("MultiHeadAttention", "value_dim", dim)
        self._dropout = rate_arg("MultiHeadAttention", dropout)
        self._use_bias = bool(use_bias)
        self._output_shape = _output_shape_arg(output_shape)
        self._attention_axes = _axes_arg(attention_axes)
        self._flash_attention = flash_attention  # accepted; the attention is always explicit
        self.seed = seed_arg("MultiHeadAttention", seed)
        self._options = {
            "kernel_initializer": initializers.get(kernel_initializer),
            "bias_initializer": initializers.get(bias_initializer),
            "kernel_regularizer": regularizers.get(kernel_regularizer),
            "bias_regularizer": regularizers.get(bias_regularizer),
            "activity_regularizer": regularizers.get(activity_regularizer),
            "kernel_constraint": constraints.get(kernel_constraint),
            "bias_constraint": constraints.get(bias_constraint),
        }
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self._key_dim))

    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)
    attention_axes = property(lambda self: self._attention_axes)
    query_dense = property(lambda self: self._query_dense)
    key_dense = property(lambda self: self._key_dense)
    value_dense = property(lambda self: self._value_dense)
    output_dense = property(lambda self: self._output_dense)

    def build(self, query_shape, value_shape=None, key_shape=None) -> None:
        """Create the projections (built on the first call, or here when the value shape is
        given). The query's rank fixes the attention axes."""
        rank = len(query_shape)
        if rank < 3:
            raise ShapeError(
                f"MultiHeadAttention '{self.name}': expected a query of shape (batch, ..., "
                f"dim), got {tuple(query_shape)}"
            )
        self._attention_axes = _normalized_axes(self._attention_axes, rank, self.name)
        heads, out = self._num_heads, self._output_shape or (query_shape[-1],)

        def projection(bound: int, dims: tuple, name: str) -> _Projection:
            return _Projection(
                bound, dims, self._use_bias, self._options, name=name, dtype=self.dtype
            )

        self._query_dense = projection(1, (heads, self._key_dim), "query")
        self._key_dense = projection(1, (heads, self._key_dim), "key")
        self._value_dense = projection(1, (heads, self._value_dim), "value")
        self._output_dense = projection(2, out, "attention_output")
        if value_shape is not None:
            key_shape = value_shape if key_shape is None else key_shape
            self._query_dense.build(query_shape)
            self._key_dense.build(key_shape)
            self._value_dense.build(value_shape)
            self._output_dense.build((*query_shape[:-1], heads, self._value_dim))
        self.built = True

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
    ):
        value = asarray(value) if not hasattr(value, "shape") else value
        key = value if key is None else asarray(key) if not hasattr(key, "shape") else key
        query_mask = masking.get(query) if query_mask is None else query_mask
        value_mask = masking.get(value) if value_mask is None else value_mask
        if key_mask is None and key is not value:
            key_mask = masking.get(key)
        value, key = (v if v.dtype == self.dtype else ops.cast(v, dtype=self.dtype)
                      for v in (value, key))  # fmt: skip
        _check_shapes(self.name, query, value, key)
        mask = _attention_mask(query, value, query_mask, value_mask, key_mask,
                               attention_mask, use_causal_mask)  # fmt: skip
        q = self._query_dense(query)
        k = self._key_dense(key)
        v = self._value_dense(value)
        output, scores = self._compute_attention(q, k, v, mask, training)
        output = self._output_dense(output)
        return (output, scores) if return_attention_scores else output

    def _compute_attention(self, query, key, value, mask, training):
        """Scaled dot-product attention of projected ``(B, *inner, heads, dim)`` tensors:
        ``(outputs (B, *query inner, heads, value_dim), scores)``."""
        rank = len(query.shape)
        axes = self._attention_axes
        batch_like = [a for a in range(1, rank - 2) if a not in axes]
        perm = (0, *batch_like, rank - 2, *axes, rank - 1)  # (B, *batch-like, heads, *att, dim)
        q = ops.transpose(query * self._inverse_sqrt_key_dim, axes=perm)
        k, v = ops.transpose(key, axes=perm), ops.transpose(value, axes=perm)
        n = len(axes)
        lead = tuple(q.shape[: -1 - n])
        if n > 1:  # several attention axes: flattened into one for the products
            q, k, v = (ops.reshape(t, (-1, *lead[1:], _size(t.shape[-1 - n : -1]), t.shape[-1]))
                       for t in (q, k, v))  # fmt: skip
        scores = ops.matmul(q, ops.swapaxes(k, -1, -2))
        if n > 1:
            att_q, att_k = query.shape, key.shape
            shape = (*[att_q[a] for a in axes], *[att_k[a] for a in axes])
            scores = ops.reshape(scores, (-1, *lead[1:], *shape))
        if mask is not None:
            for _ in range(len(scores.shape) - len(mask.shape)):
                mask = ops.expand_dims(mask, axis=-2 * n - 1)  # at the heads axis
        scores = _masked_softmax(scores, mask, n)
        weights = scores
        if training and self._dropout > 0:
            weights = ops.dropout(scores, self._dropout, seed=self.seed)
        if n > 1:
            weights = ops.reshape(weights, (-1, *lead[1:], q.shape[-2], k.shape[-2]))
        output = ops.matmul(weights, v)
        if n > 1:
            output = ops.reshape(output, (-1, *lead[1:], *[query.shape[a] for a in axes],
                                          self._value_dim))  # fmt: skip
        inverse = tuple(perm.index(i) for i in range(rank))
        return ops.transpose(output, axes=inverse), scores

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        query_shape = tuple(query_shape)
        if self._output_shape:
            return query_shape[:-1] + self._output_shape
        return query_shape

    def get_config(self) -> dict:
        o = self._options
        return {
            **super().get_config(),
            "num_heads": self._num_heads,
            "key_dim": self._key_dim,
            "value_dim": self._value_dim,
            "dropout": self._dropout,
            "use_bias": self._use_bias,
            "output_shape": self._output_shape,
            "attention_axes": self._attention_axes,
            "kernel_initializer": initializers.serialize(o["kernel_initializer"]),
            "bias_initializer": initializers.serialize(o["bias_initializer"]),
            "kernel_regularizer": regularizers.serialize(o["kernel_regularizer"]),
            "bias_regularizer": regularizers.serialize(o["bias_regularizer"]),
            "activity_regularizer": regularizers.serialize(o["activity_regularizer"]),
            "kernel_constraint": constraints.serialize(o["kernel_constraint"]),
            "bias_constraint": constraints.serialize(o["bias_constraint"]),
            "seed": self.seed,
        }


def _size(dims) -> int:
    return math.prod(dims)


def _output_shape_arg(output_shape):
    if output_shape is None or output_shape == ():
        return None
    if isinstance(output_shape, int):
        output_shape = (output_shape,)
    try:
        return tuple(positive_int("MultiHeadAttention", "output_shape", d) for d in output_shape)
    except (TypeError, ArgumentError):
        raise ArgumentError(
            f"MultiHeadAttention: received output_shape={output_shape!r}, expected an int or a "
            "tuple of positive ints"
        ) from None


def _axes_arg(axes):
    if axes is None:
        return None
    if isinstance(axes, int) and not isinstance(axes, bool):
        return (axes,)
    if isinstance(axes, (list, tuple)) and all(isinstance(a, int) for a in axes):
        return tuple(axes)
    raise ArgumentError(
        f"MultiHeadAttention: received attention_axes={axes!r}, expected an int, list or tuple"
    )


def _normalized_axes(axes, rank: int, name: str) -> tuple:
    """Attention axes of the query (rank ``rank``) as positive indices of its inner axes."""
    if axes is None:
        return tuple(range(1, rank - 1))
    found = tuple(a if a >= 0 else a + rank for a in axes)
    if any(not 0 < a < rank - 1 for a in found) or len(set(found)) != len(found):
        raise ArgumentError(
            f"MultiHeadAttention '{name}': received attention_axes={axes}, expected distinct "
            f"axes among 1..{rank - 2} (neither the batch nor the feature axis)"
        )
    return tuple(sorted(found))


def _check_shapes(name: str, query, value, key) -> None:
    if tuple(value.shape[1:-1]) != tuple(key.shape[1:-1]):
        raise ShapeError(
            f"MultiHeadAttention '{name}': value{tuple(value.shape)} and key{tuple(key.shape)} "
            "must have the same shape but for the last axis"
        )
    if len(query.shape) != len(value.shape):
        raise ShapeError(
            f"MultiHeadAttention '{name}': query{tuple(query.shape)} and value"
            f"{tuple(value.shape)} must have the same rank"
        )


def _attention_mask(query, value, query_mask, value_mask, key_mask, attention_mask, causal):
    """Keras's combined mask (bool, broadcasting to ``(B, T, S)``), or None."""
    masks = []
    if query_mask is not None:
        masks.append(ops.expand_dims(ops.cast(query_mask, dtype=bool), -1))  # (B, T, 1)
    for mask in (value_mask, key_mask):
        if mask is not None:
            masks.append(ops.expand_dims(ops.cast(mask, dtype=bool), -2))  # (B, 1, S)
    if causal:
        masks.append(_causal_mask(query.shape[1], value.shape[1]))  # (1, T, S)
    if attention_mask is not None:
        masks.append(ops.cast(attention_mask, dtype=bool))
    if not masks:
        return None
    combined = masks[0]
    for mask in masks[1:]:
        combined = ops.logical_and(combined, mask)
    return combined


# --- Attention ---------------------------------------------------------------------------------


class Attention(Layer):
    """Dot-product (Luong-style) attention of ``[query, value]`` or ``[query, value, key]``
    (``(B, Tq, dim)``, ``(B, Tv, dim)``): ``softmax(scores) @ value`` with scores
    ``query @ key^T`` (``score_mode="dot"``, times a trained ``scale`` with
    ``use_scale=True``) or ``sum(tanh(query + key))`` (``"concat"``).

    ``mask=[query_mask, value_mask]`` (taken from the inputs' Keras masks when not given):
    masked values get no weight and masked query positions output zeros.
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)
        if score_mode not in ("dot", "concat"):
            raise ArgumentError(
                f"Attention: received score_mode={score_mode!r}, expected 'dot' or 'concat'"
            )
        self.score_mode = score_mode
        self.dropout = rate_arg("Attention", dropout)
        self.seed = seed_arg("Attention", seed)
        self.supports_masking = True

    def build(self, input_shape) -> None:
        _check_inputs(input_shape)
        self.scale = self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(
                shape=(), initializer="ones", name="concat_score_weight"
            )
        self.built = True

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -1, -2))
            return scores if self.scale is None else scores * self.scale
        total = ops.expand_dims(query, -2) + ops.expand_dims(key, -3)  # (B, Tq, Tv, dim)
        if self.scale is not None:
            total = total * self.scale
        return self.concat_score_weight * ops.sum(ops.tanh(total), axis=-1)

    def call(
        self, inputs, mask=None, training=False, return_attention_scores=False,
        use_causal_mask=False,
    ):  # fmt: skip
        _check_inputs(inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask, value_mask = (mask[0], mask[1]) if mask else (None, None)
        scores = self._calculate_scores(query, key)
        scores_mask = None if value_mask is None else ops.expand_dims(value_mask, -2)
        if use_causal_mask:
            causal = _causal_mask(scores.shape[-2], scores.shape[-1])
            scores_mask = causal if scores_mask is None else ops.logical_and(scores_mask, causal)
        if scores_mask is not None:  # Keras: minus 1e9 (65504 in float16) where masked
            big = 65504.0 if str(scores.dtype) == "float16" else 1.0e9
            scores = scores - big * ops.cast(ops.logical_not(scores_mask), dtype=scores.dtype)
        weights = ops.softmax(scores, axis=-1)
        dropped = weights
        if training and self.dropout > 0:
            dropped = ops.dropout(weights, self.dropout, seed=self.seed)
        result = ops.matmul(dropped, value)
        if query_mask is not None:
            result = result * ops.cast(ops.expand_dims(query_mask, -1), dtype=result.dtype)
        return (result, weights) if return_attention_scores else result

    def compute_mask(self, inputs, mask=None):
        if not mask or mask[0] is None:
            return None
        return mask[0]

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape[0])[:-1], input_shape[1][-1])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }


def _check_inputs(inputs, mask=None) -> None:
    if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
        raise ArgumentTypeError(
            f"Attention: received inputs={inputs!r}, expected a list [query, value] or "
            "[query, value, key]"
        )
    if mask is not None and (not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3):
        raise ArgumentTypeError(
            f"Attention: received mask={mask!r}, expected a list [query_mask, value_mask]"
        )
