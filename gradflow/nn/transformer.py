"""Transformer layers, as torch.nn.Transformer and its parts, built from MultiheadAttention,
Linear, LayerNorm and Dropout under PyTorch's submodule names (self_attn, multihead_attn,
linear1, linear2, norm1..3, dropout, dropout1..3, layers.N, encoder, decoder), so a state
dict moves between the two."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import gradflow as gf
from gradflow.errors import ConfigError, ShapeError
from gradflow.nn import functional as F
from gradflow.nn import init
from gradflow.nn.attention import MultiheadAttention
from gradflow.nn.containers import ModuleList
from gradflow.nn.layers import Dropout, LayerNorm, Linear
from gradflow.nn.module import Module
from gradflow.tensor import Tensor

__all__ = ["Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerEncoderLayer"]

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class _Block(Module):
    """What the encoder and decoder layers share: self-attention, optionally attention over
    a memory, the feed-forward part, and a residual sublayer per part (normalised after the
    sum, or before the sublayer with norm_first)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float,
                 activation: str | Callable[[Tensor], Tensor], layer_norm_eps: float,
                 batch_first: bool, norm_first: bool, bias: bool, device, dtype,
                 cross_attention: bool):
        super().__init__()
        if isinstance(activation, str) and activation not in _ACTIVATIONS:
            raise ConfigError(f"{type(self).__name__}: activation should be 'relu' or "
                              f"'gelu' (or a callable), not {activation!r}")
        function: Callable[[Tensor], Tensor] = (
            _ACTIVATIONS[activation] if isinstance(activation, str) else activation)
        factory = {"device": device, "dtype": dtype}
        sublayers = 3 if cross_attention else 2

        def attention():
            return MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                      batch_first=batch_first, **factory)

        # NOTE: assigned in PyTorch's order, which is the state_dict's order.
        self.self_attn = attention()
        if cross_attention:
            self.multihead_attn = attention()
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first, self._cross_attention = norm_first, cross_attention
        for k in range(1, sublayers + 1):
            setattr(self, f"norm{k}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias,
                                                **factory))
        for k in range(1, sublayers + 1):
            setattr(self, f"dropout{k}", Dropout(dropout))
        self.activation = function

    def _residual(self, x: Tensor, norm: LayerNorm, sublayer, *args) -> Tensor:
        if self.norm_first:
            return x + sublayer(norm(x), *args)
        return norm(x + sublayer(x, *args))

    def _self_attention(self, x: Tensor, mask, key_padding_mask, is_causal) -> Tensor:
        out = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=key_padding_mask,
                             need_weights=False, is_causal=bool(is_causal))[0]
        return self.dropout1(out)

    def _memory_attention(self, x: Tensor, memory: Tensor, mask, key_padding_mask,
                          is_causal) -> Tensor:
        out = self.multihead_attn(x, memory, memory, attn_mask=mask,
                                  key_padding_mask=key_padding_mask, need_weights=False,
                                  is_causal=bool(is_causal))[0]
        return self.dropout2(out)

    def _feed_forward(self, x: Tensor) -> Tensor:
        out = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(out) if self._cross_attention else self.dropout2(out)


class TransformerEncoderLayer(_Block):
    """Self-attention and a feed-forward network, each in a residual block with LayerNorm,
    as torch.nn.TransformerEncoderLayer.

    Args:
        d_model: the feature size E of inputs and outputs.
        nhead: attention heads (d_model divisible by nhead).
        dim_feedforward: the hidden size of the feed-forward network.
        dropout: dropout after attention, inside and after the feed-forward network.
        activation: "relu", "gelu", or a callable (a function or a module).
        layer_norm_eps: LayerNorm's eps.
        batch_first: inputs and outputs are (N, S, E) instead of (S, N, E).
        norm_first: LayerNorm before each sublayer (pre-norm) instead of after the sum.
        bias: biases in the Linear layers, attention projections and LayerNorms.

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False) returns a
    tensor of src's shape; the masks are MultiheadAttention's (bool True: do not attend).
    is_causal with no src_mask applies a causal mask.

    Example:
        >>> layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
        >>> layer(gf.randn(2, 5, 8)).shape
        (2, 5, 8)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable[[Tensor], Tensor] = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                         batch_first, norm_first, bias, device, dtype, cross_attention=False)

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        x = self._residual(src, self.norm1, self._self_attention, src_mask,
                           src_key_padding_mask, is_causal)
        return self._residual(x, self.norm2, self._feed_forward)


class TransformerDecoderLayer(_Block):
    """Self-attention, attention over the encoder's output (memory) and a feed-forward
    network, each in a residual block with LayerNorm, as torch.nn.TransformerDecoderLayer.

    Args: as TransformerEncoderLayer's.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False) returns a
    tensor of tgt's shape.

    Example:
        >>> layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16)
        >>> layer(gf.randn(4, 2, 8), gf.randn(5, 2, 8)).shape
        (4, 2, 8)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable[[Tensor], Tensor] = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                         batch_first, norm_first, bias, device, dtype, cross_attention=True)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        x = self._residual(tgt, self.norm1, self._self_attention, tgt_mask,
                           tgt_key_padding_mask, tgt_is_causal)
        x = self._residual(x, self.norm2, self._memory_attention, memory, memory_mask,
                           memory_key_padding_mask, memory_is_causal)
        return self._residual(x, self.norm3, self._feed_forward)


def _clones(layer: Module, num_layers: int) -> ModuleList:
    return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


class TransformerEncoder(Module):
    """num_layers copies of an encoder layer in turn, then an optional norm, as
    torch.nn.TransformerEncoder.

    Args:
        encoder_layer: a TransformerEncoderLayer, copied num_layers times (the copies start
            with equal parameters).
        num_layers: how many layers.
        norm: a module applied to the last layer's output (e.g. LayerNorm), or None.
        enable_nested_tensor, mask_check: accepted for PyTorch scripts; PyTorch's nested
            tensor path changes only its speed (and zeroes padded positions of the
            output in inference); gradflow computes every position.

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None) returns a tensor of
    src's shape.

    Example:
        >>> layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
        >>> encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(8))
        >>> encoder(gf.randn(5, 2, 8)).shape
        (5, 2, 8)
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check

    def forward(self, src: Tensor, mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                        is_causal=bool(is_causal))
        return out if self.norm is None else self.norm(out)


class TransformerDecoder(Module):
    """num_layers copies of a decoder layer in turn, then an optional norm, as
    torch.nn.TransformerDecoder.

    Args:
        decoder_layer: a TransformerDecoderLayer, copied num_layers times.
        num_layers: how many layers.
        norm: a module applied to the last layer's output, or None.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False) returns a
    tensor of tgt's shape.

    Example:
        >>> layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, batch_first=True)
        >>> decoder = nn.TransformerDecoder(layer, num_layers=2)
        >>> decoder(gf.randn(2, 4, 8), gf.randn(2, 5, 8)).shape
        (2, 4, 8)
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask,
                        memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """An encoder-decoder transformer, as torch.nn.Transformer: `encoder` (a
    TransformerEncoder with a final LayerNorm) reads src, `decoder` (a TransformerDecoder
    with a final LayerNorm) reads tgt and the encoder's output.

    The arguments d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
    batch_first, norm_first and bias are TransformerEncoderLayer's; num_encoder_layers and
    num_decoder_layers count the layers of each stack; custom_encoder and custom_decoder
    replace the built stacks.

    forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False) returns a tensor of
    tgt's shape. Every weight matrix starts Xavier-uniform, as in PyTorch.

    Example:
        >>> model = nn.Transformer(8, 2, num_encoder_layers=1, num_decoder_layers=1,
        ...                        dim_feedforward=16, batch_first=True)
        >>> src, tgt = gf.randn(2, 5, 8), gf.randn(2, 4, 8)
        >>> model(src, tgt, tgt_mask=model.generate_square_subsequent_mask(4)).shape
        (2, 4, 8)
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = "relu",
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                      batch_first, norm_first, bias, device, dtype)

        def final_norm():
            return LayerNorm(d_model, eps=layer_norm_eps, bias=bias, device=device, dtype=dtype)

        if custom_encoder is None:
            custom_encoder = TransformerEncoder(TransformerEncoderLayer(*layer_args),
                                                num_encoder_layers, final_norm())
        self.encoder = custom_encoder
        if custom_decoder is None:
            custom_decoder = TransformerDecoder(TransformerDecoderLayer(*layer_args),
                                                num_decoder_layers, final_norm())
        self.decoder = custom_decoder
        for param in self.parameters():
            if param.ndim > 1:
                init.xavier_uniform_(param)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None,
                tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and (tgt.ndim != 3 or src.shape[batch_dim] != tgt.shape[batch_dim]):
            raise ShapeError(f"Transformer: src {tuple(src.shape)} and tgt {tuple(tgt.shape)} "
                             f"must have the same batch size (dimension {batch_dim}, "
                             f"batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ShapeError(f"Transformer: src {tuple(src.shape)} and tgt {tuple(tgt.shape)} "
                             f"must both end in d_model={self.d_model} features")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """A float (sz, sz) causal mask: -inf above the diagonal (a position may not attend
        to later ones), 0 elsewhere.

        Example:
            >>> nn.Transformer.generate_square_subsequent_mask(3)
            tensor([[0.0, -inf, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0]], shape=(3, 3))
        """
        return gf.triu(gf.full((sz, sz), -math.inf, dtype=dtype, device=device), diagonal=1)
