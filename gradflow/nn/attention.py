"""MultiheadAttention, as torch.nn.MultiheadAttention, with PyTorch's parameter names
(in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias; or q/k/v_proj_weight
when kdim or vdim differ from embed_dim), so a state dict moves between the two."""

from __future__ import annotations

import math

import gradflow as gf
from gradflow.errors import ConfigError
from gradflow.nn import functional as F
from gradflow.nn import init
from gradflow.nn.layers import Linear
from gradflow.nn.module import Module, Parameter
from gradflow.ops.cast import cast
from gradflow.tensor import Tensor

__all__ = ["MultiheadAttention"]


def _additive(mask: Tensor | None, like: Tensor, extra: int = 0) -> Tensor | None:
    """A PyTorch attention mask as a float mask to add: bool True means "do not attend".
    `extra` key columns appended by add_bias_kv / add_zero_attn are attended (0 added)."""
    if mask is None:
        return None
    if mask.dtype.name == "bool":
        zeros = gf.zeros(*mask.shape, dtype=like.dtype, device=like.backend)
        mask = gf.where(mask, -math.inf, zeros)
    else:
        mask = cast(mask, like.dtype)
    return gf.pad(mask, (0, extra)) if extra else mask


class NonDynamicallyQuantizableLinear(Linear):
    """Linear under the name PyTorch gives MultiheadAttention's output projection (its repr
    shows it)."""


class MultiheadAttention(Module):
    """Attention over num_heads subspaces of embed_dim, as torch.nn.MultiheadAttention.

    Args:
        embed_dim: E, the query (and output) size; divisible by num_heads.
        num_heads: number of heads.
        dropout: dropout on the attention weights, in training.
        bias: add biases to the input and output projections.
        add_bias_kv: learn bias_k and bias_v, each (1, 1, E), appended to the projected keys
            and values as one more source position (which every mask lets through).
        add_zero_attn: append a position of zeros to the projected keys and values (after
            bias_k and bias_v), which every mask lets through.
        kdim, vdim: key and value sizes (default E).
        batch_first: inputs and outputs are (N, L, E) instead of (L, N, E).

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) returns (output, weights): the output
    (L, N, E) (or (N, L, E)), and the attention weights (N, L, S) averaged over heads (or
    (N, num_heads, L, S)), or None when need_weights is False. Masks follow PyTorch: a
    bool True in key_padding_mask (N, S) or attn_mask ((L, S) or (N * num_heads, L, S))
    means "do not attend"; a float mask is added to the scores. With add_bias_kv and
    add_zero_attn the weights have one more column (S + 1) for each.

    Example:
        >>> mha = nn.MultiheadAttention(8, 2, batch_first=True)
        >>> x = gf.randn(3, 5, 8)
        >>> out, weights = mha(x, x, x)
        >>> out.shape, weights.shape
        ((3, 5, 8), (3, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, *, device=None, dtype=None):
        super().__init__()
        if embed_dim % num_heads:
            raise ConfigError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by "
                              f"num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, float(dropout)
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        dtype = dtype or gf.float32

        def empty(*shape):
            return Parameter(gf.zeros(*shape, dtype=dtype, device=device))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
        else:
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
        if bias:
            self.in_proj_bias = empty(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k, self.bias_v = empty(1, 1, embed_dim), empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        for bias in (self.bias_k, self.bias_v):
            if bias is not None:
                init.xavier_normal_(bias)

    def _projections(self):
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            weights = self.in_proj_weight.split(e, 0)
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        biases = (None,) * 3 if self.in_proj_bias is None else self.in_proj_bias.split(e, 0)
        return weights, biases

    def _append_to_source(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, int]:
        """Projected keys and values (S, N, E) with bias_k/bias_v, then a zero position,
        appended along S, as PyTorch; and how many positions were appended."""
        batch, e = k.shape[1], self.embed_dim
        keys, values = [k], [v]
        if self.bias_k is not None and self.bias_v is not None:
            keys.append(self.bias_k.expand(1, batch, e))
            values.append(self.bias_v.expand(1, batch, e))
        if self.add_zero_attn:
            zeros = gf.zeros(1, batch, e, dtype=k.dtype, device=k.backend)
            keys.append(zeros)
            values.append(zeros)
        if len(keys) == 1:
            return k, v, 0
        return gf.cat(keys, 0), gf.cat(values, 0), len(keys) - 1

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False):
        unbatched = query.ndim == 2
        if query.ndim not in (2, 3) or query.shape[-1] != self.embed_dim:
            raise self.input_shape_error(f"(L, N, {self.embed_dim}) or (L, {self.embed_dim})",
                                         query.shape)
        if unbatched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        length, batch, _ = query.shape
        source = key.shape[0]
        heads, head_dim = self.num_heads, self.head_dim
        (w_q, w_k, w_v), (b_q, b_k, b_v) = self._projections()

        def split_heads(x: Tensor) -> Tensor:  # (T, N, E) -> (N, heads, T, hd)
            return x.reshape(x.shape[0], batch, heads, head_dim).permute(1, 2, 0, 3)

        k, v, extra = self._append_to_source(F.linear(key, w_k, b_k), F.linear(value, w_v, b_v))
        q, k, v = split_heads(F.linear(query, w_q, b_q)), split_heads(k), split_heads(v)
        scores = (q * (1.0 / math.sqrt(head_dim))) @ k.transpose(-2, -1)
        if is_causal and attn_mask is None:
            rows = gf.arange(length, device=query.backend).reshape(-1, 1)
            attn_mask = gf.arange(source, device=query.backend).reshape(1, -1) > rows
        source += extra
        mask = _additive(attn_mask, scores, extra)
        if mask is not None:
            scores = scores + (mask.reshape(batch, heads, length, source) if mask.ndim == 3
                               else mask)
        padding = _additive(key_padding_mask, scores, extra)
        if padding is not None:
            scores = scores + padding.reshape(batch, 1, 1, source)
        weights = gf.softmax(scores, -1)
        attended = F.dropout(weights, self.dropout, self.training) if self.dropout else weights
        out = (attended @ v).permute(2, 0, 1, 3).reshape(length, batch, self.embed_dim)
        out = self.out_proj(out)
        if unbatched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(1)
        return out, (weights.squeeze(0) if unbatched else weights)
