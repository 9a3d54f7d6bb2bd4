"""MultiheadAttention's add_bias_kv / add_zero_attn and the Transformer layers against
PyTorch: torch's weights loaded through state_dict, the same inputs and masks, then outputs
(and attention weights), input gradients and every parameter's gradient compared, in
float64 where the device has it (float32 elsewhere), on every device the suite runs.

Dropout is 0 and the modules train, so PyTorch takes its reference path (its inference
fast path, nested tensors included, only changes speed; padded outputs aside, see
test_encoder_inference_matches_torch_fast_path)."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.backends import get_backend
from gradflow.errors import ConfigError, ShapeError
from gradflow.testing import assert_close, gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
tnn = torch.nn
RNG = np.random.default_rng(2026)
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")


def normal(*shape):
    return RNG.standard_normal(shape)


def _precision(device):
    """(gradflow dtype, torch dtype, tolerances) for the widest float the device holds."""
    if gf.float64 in get_backend(device).to_xp:
        return gf.float64, torch.float64, {}
    return gf.float32, torch.float32, {"rtol": 1e-4, "atol": 1e-5}


def _leaves(value):
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [] if value is None else [value]


def against_torch(make, inputs, device, **kwargs):
    """Build `make(nn)` and `make(torch.nn)`, load torch's state into ours, run both on
    `inputs` (all differentiable) with the keyword arguments `kwargs` (NumPy arrays become
    tensors: bool masks stay bool, float ones take the compute dtype); compare every output,
    then the gradients of a random projection of the outputs for inputs and parameters."""
    dtype, torch_dtype, tolerance = _precision(device)
    theirs, ours = make(tnn).to(torch_dtype), make(nn)
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    assert ours.load_state_dict({k: v.detach().numpy() for k, v in state.items()}) == ([], [])
    ours.to(device).to(dtype)

    def convert(value, to_tensor, float_dtype):
        if not isinstance(value, np.ndarray):
            return value
        return to_tensor(value if value.dtype == bool else value.astype(float_dtype))

    np_dtype = np.float64 if dtype == gf.float64 else np.float32
    ours_in = [gf.tensor(a.astype(np_dtype), device=device, requires_grad=True) for a in inputs]
    theirs_in = [torch.tensor(a.astype(np_dtype), requires_grad=True) for a in inputs]
    ours_kw = {k: convert(v, lambda a: gf.tensor(a, device=device), np_dtype)
               for k, v in kwargs.items()}
    theirs_kw = {k: convert(v, torch.tensor, np_dtype) for k, v in kwargs.items()}
    outs, refs = _leaves(ours(*ours_in, **ours_kw)), _leaves(theirs(*theirs_in, **theirs_kw))
    assert len(outs) == len(refs) > 0
    loss, torch_loss = 0.0, 0.0
    for k, (out, ref) in enumerate(zip(outs, refs)):
        assert_close(out, ref.detach().numpy(), msg=f"output {k}", **tolerance)
        cotangent = normal(*ref.shape).astype(np_dtype)
        loss = loss + (out * gf.tensor(cotangent, device=device)).sum()
        torch_loss = torch_loss + (ref * torch.tensor(cotangent)).sum()
    loss.backward()
    torch_loss.backward()
    for i, (mine, reference) in enumerate(zip(ours_in, theirs_in)):
        assert_close(mine.grad, reference.grad.numpy(), msg=f"gradient of input {i}", **tolerance)
    theirs_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_close(param.grad, theirs_params[name].grad.numpy(), msg=f"gradient of {name}",
                     **tolerance)
    return ours, theirs


# -- MultiheadAttention: add_bias_kv, add_zero_attn -------------------------------------------

N, L, S, E = 2, 3, 4, 8
PADDING = np.array([[False, False, True, False], [False, True, False, False]])
ALL_PADDED = np.array([[True, True, True, True], [False, True, False, False]])
ATTN = np.array([[False, True, False, False], [False, False, False, True],
                 [True, False, False, False]])

MHA_CASES = {
    # name: (constructor keywords, batch_first inputs?, forward keywords)
    "bias_kv_masks": ({"add_bias_kv": True}, False,
                      {"key_padding_mask": PADDING, "attn_mask": ATTN}),
    "zero_attn_per_head_float_mask": (
        {"add_zero_attn": True, "batch_first": True}, True,
        {"attn_mask": normal(N * 2, L, S), "average_attn_weights": False}),
    "both_kdim_vdim_float_padding": (
        {"add_bias_kv": True, "add_zero_attn": True, "kdim": 5, "vdim": 6, "batch_first": True},
        True, {"key_padding_mask": np.where(PADDING, -1e4, 0.0), "attn_mask": ATTN,
               "average_attn_weights": False}),
    "both_no_weights": ({"add_bias_kv": True, "add_zero_attn": True}, False,
                        {"key_padding_mask": PADDING, "attn_mask": ATTN, "need_weights": False}),
    # every key of sample 0 is padded: only the appended positions are left to attend
    "zero_attn_all_keys_padded": ({"add_zero_attn": True, "bias": False}, False,
                                  {"key_padding_mask": ALL_PADDED}),
    "bias_kv_all_keys_padded": ({"add_bias_kv": True}, False,
                                {"key_padding_mask": ALL_PADDED, "attn_mask": ATTN}),
}


@pytest.mark.parametrize("case", MHA_CASES)
@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")  # float with bool
def test_multihead_attention_bias_kv_zero_attn(case, device):
    options, batch_first, forward = MHA_CASES[case]
    kdim, vdim = options.get("kdim", E), options.get("vdim", E)

    def make(ns):
        layer = ns.MultiheadAttention(E, 2, **options)
        with torch.no_grad():  # non-zero biases, so that a misplaced bias shows
            for name, param in layer.named_parameters():
                if isinstance(param, torch.Tensor) and "bias" in name:
                    param.normal_()
        return layer

    def shaped(length, size):
        return normal(N, length, size) if batch_first else normal(length, N, size)

    ours, _ = against_torch(make, [shaped(L, E), shaped(S, kdim), shaped(S, vdim)], device,
                            **forward)
    assert ours.bias_k is None or ours.bias_k.shape == ours.bias_v.shape == (1, 1, E)


def test_multihead_attention_bias_kv_unbatched_and_causal(device):
    def make(ns):
        return ns.MultiheadAttention(E, 2, add_bias_kv=True, add_zero_attn=True)

    causal = np.triu(np.ones((L, L), bool), 1)
    against_torch(make, [normal(L, E)] * 3, device, attn_mask=causal, is_causal=True)
    against_torch(make, [normal(L, E), normal(S, E), normal(S, E)], device,
                  key_padding_mask=PADDING[0])


def test_multihead_attention_bias_kv_parameters_and_init():
    gf.manual_seed(0)
    layer = nn.MultiheadAttention(E, 2, add_bias_kv=True)
    names = [name for name, _ in layer.named_parameters()]
    assert names == ["in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight",
                     "out_proj.bias"]
    # xavier_normal_ on (1, 1, E): std sqrt(2 / (E + E)) = 0.35 for E = 8
    values = np.concatenate([layer.bias_k.numpy().ravel(), layer.bias_v.numpy().ravel()])
    assert 0.1 < values.std() < 0.7 and np.all(values != 0)
    plain = nn.MultiheadAttention(E, 2, add_zero_attn=True)
    assert plain.bias_k is None and plain.bias_v is None and plain.add_zero_attn
    assert "bias_k" not in plain.state_dict()


# -- Transformer layers --------------------------------------------------------------------------

D, HEADS, FF = 8, 2, 16
CAUSAL_5 = np.triu(np.ones((5, 5), bool), 1)
SRC_PADDING = np.array([[False, False, False, True, True], [False, False, False, False, False]])

ENCODER_LAYERS = {
    "post_norm_relu": {},
    "pre_norm_gelu_batch_first": {"norm_first": True, "activation": "gelu",
                                  "batch_first": True},
    "no_bias_callable": {"bias": False, "activation": lambda ns: ns.functional.silu},
    "module_activation_eps": {"activation": lambda ns: ns.Tanh(), "layer_norm_eps": 1e-3},
}


def _options(options, ns):
    return {k: v(ns) if callable(v) and not isinstance(v, str) else v
            for k, v in options.items()}


def _sequence(length, batch_first, size=D):
    return normal(N, length, size) if batch_first else normal(length, N, size)


@pytest.mark.parametrize("case", ENCODER_LAYERS)
def test_encoder_layer_matches_torch(case, device):
    options = ENCODER_LAYERS[case]

    def make(ns):
        return ns.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, **_options(options, ns))

    src = _sequence(5, options.get("batch_first", False))
    against_torch(make, [src], device, src_mask=CAUSAL_5, src_key_padding_mask=SRC_PADDING)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_stack_matches_torch(norm_first, device):
    def make(ns):
        layer = ns.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, norm_first=norm_first,
                                           batch_first=True)
        encoder = ns.TransformerEncoder(layer, 2, norm=ns.LayerNorm(D),
                                        enable_nested_tensor=False)
        with torch.no_grad():  # the clones start equal: make the second layer differ
            for param in encoder.layers[1].parameters():
                if isinstance(param, torch.Tensor):
                    param.add_(torch.randn(param.shape, dtype=param.dtype) * 0.1)
        return encoder

    causal = np.triu(np.full((5, 5), -np.inf), 1)
    against_torch(make, [_sequence(5, True)], device, mask=causal, is_causal=True,
                  src_key_padding_mask=np.where(SRC_PADDING, -np.inf, 0.0))


def test_encoder_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(D, HEADS, FF)
    encoder = nn.TransformerEncoder(layer, 3)
    first, second = encoder.layers[0].linear1.weight, encoder.layers[1].linear1.weight
    assert first is not second and first is not layer.linear1.weight
    assert np.array_equal(first.numpy(), second.numpy())
    assert len(list(encoder.parameters())) == 3 * len(list(layer.parameters()))


DECODER_LAYERS = {
    "post_norm": {},
    "pre_norm_batch_first_gelu": {"norm_first": True, "batch_first": True,
                                  "activation": "gelu"},
    "no_bias": {"bias": False},
}
TGT_PADDING = np.array([[False, False, True, True], [False, False, False, False]])
MEMORY_MASK = np.array([[False, True, False, False, False], [False, False, False, True, False],
                        [True, False, False, False, False], [False, False, True, False, False]])


@pytest.mark.parametrize("case", DECODER_LAYERS)
def test_decoder_layer_matches_torch(case, device):
    options = DECODER_LAYERS[case]
    batch_first = options.get("batch_first", False)

    def make(ns):
        return ns.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, **options)

    tgt, memory = _sequence(4, batch_first), _sequence(5, batch_first)
    against_torch(make, [tgt, memory], device, tgt_mask=np.triu(np.ones((4, 4), bool), 1),
                  memory_mask=MEMORY_MASK, tgt_key_padding_mask=TGT_PADDING,
                  memory_key_padding_mask=SRC_PADDING, tgt_is_causal=True)


def test_decoder_stack_matches_torch(device):
    def make(ns):
        layer = ns.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0)
        decoder = ns.TransformerDecoder(layer, 2, norm=ns.LayerNorm(D))
        with torch.no_grad():
            for param in decoder.layers[0].parameters():
                if isinstance(param, torch.Tensor):
                    param.mul_(1.5)
        return decoder

    against_torch(make, [_sequence(4, False), _sequence(5, False)], device,
                  tgt_mask=nn.Transformer.generate_square_subsequent_mask(4).numpy(),
                  memory_key_padding_mask=SRC_PADDING)


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(batch_first, device):
    def make(ns):
        return ns.Transformer(D, HEADS, num_encoder_layers=2, num_decoder_layers=1,
                              dim_feedforward=FF, dropout=0.0, batch_first=batch_first)

    against_torch(make, [_sequence(5, batch_first), _sequence(4, batch_first)], device,
                  src_mask=CAUSAL_5, tgt_mask=np.triu(np.ones((4, 4), bool), 1),
                  memory_mask=MEMORY_MASK, src_key_padding_mask=SRC_PADDING,
                  tgt_key_padding_mask=TGT_PADDING, memory_key_padding_mask=SRC_PADDING)


def test_transformer_unbatched_norm_first_matches_torch(device):
    def make(ns):
        return ns.Transformer(D, HEADS, 1, 1, FF, dropout=0.0, norm_first=True,
                              activation="gelu", bias=False)

    against_torch(make, [normal(5, D), normal(3, D)], device,
                  tgt_mask=np.triu(np.ones((3, 3), bool), 1), tgt_is_causal=True)


def test_encoder_inference_matches_torch_fast_path():
    """In eval, without gradients, PyTorch may run its fused kernel: same outputs."""
    theirs = tnn.TransformerEncoder(
        tnn.TransformerEncoderLayer(D, HEADS, FF, batch_first=True), 2,
        enable_nested_tensor=False).eval()
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, HEADS, FF, batch_first=True), 2)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.eval()
    src = normal(N, 5, D).astype(np.float32)
    with torch.no_grad():
        ref = theirs(torch.tensor(src), src_key_padding_mask=torch.tensor(SRC_PADDING))
    with gf.no_grad():
        out = ours(gf.tensor(src), src_key_padding_mask=gf.tensor(SRC_PADDING))
    assert_close(out, ref.numpy(), rtol=1e-4, atol=1e-5)
    ours.train()  # dropout 0.1 in training: the output changes, eval's does not
    gf.manual_seed(0)
    assert not np.allclose(ours(gf.tensor(src)).numpy(), out.numpy())


def test_is_causal_without_a_mask_applies_the_causal_mask(device):
    """PyTorch asks for the mask with the hint; gradflow builds it: the same result."""
    layer = nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0).to(device)
    tgt, memory = (gf.tensor(normal(*shape).astype(np.float32), device=device)
                   for shape in ((4, N, D), (5, N, D)))
    causal = nn.Transformer.generate_square_subsequent_mask(4, device=device)
    assert_close(layer(tgt, memory, tgt_is_causal=True),
                 layer(tgt, memory, tgt_mask=causal, tgt_is_causal=True))
    assert not np.allclose(layer(tgt, memory).numpy(), layer(tgt, memory, tgt_mask=causal).numpy())


def test_second_derivatives_through_attention_and_decoder_layer(float64_device):
    """Built from differentiable ops: gradients of gradients check against finite
    differences (bias_k, the zero position and the padded masks included)."""
    gf.manual_seed(0)
    mha = nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True)
    layer = nn.TransformerDecoderLayer(4, 2, 8, dropout=0.0, activation="gelu")
    mha.to(float64_device).double()
    layer.to(float64_device).double()
    query = gf.tensor(normal(3, 2, 4), device=float64_device, requires_grad=True)
    memory = gf.tensor(normal(2, 2, 4), device=float64_device, requires_grad=True)
    padding = gf.tensor(np.array([[False, True], [False, False]]), device=float64_device)
    causal = nn.Transformer.generate_square_subsequent_mask(3, device=float64_device,
                                                            dtype=gf.float64)

    def attention(q, kv):
        return mha(q, kv, kv, key_padding_mask=padding)[0]

    def decoder(q, m):
        return layer(q, m, tgt_mask=causal, memory_key_padding_mask=padding)

    for fn in (attention, decoder):
        assert gradcheck(fn, (query, memory)) and gradgradcheck(fn, (query, memory))


def test_generate_square_subsequent_mask_matches_torch(device):
    mask = nn.Transformer.generate_square_subsequent_mask(4, device=device, dtype=gf.float32)
    assert mask.device == device and mask.dtype == gf.float32
    assert_close(mask, tnn.Transformer.generate_square_subsequent_mask(4).numpy())


def test_state_dict_moves_to_torch():
    ours = nn.Transformer(D, HEADS, 1, 1, FF, dropout=0.0)
    theirs = tnn.Transformer(D, HEADS, 1, 1, FF, dropout=0.0)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    src, tgt = normal(5, N, D).astype(np.float32), normal(3, N, D).astype(np.float32)
    assert_close(ours(gf.tensor(src), gf.tensor(tgt)),
                 theirs(torch.tensor(src), torch.tensor(tgt)).detach().numpy(),
                 rtol=1e-4, atol=1e-5)


def test_transformer_argument_errors():
    with pytest.raises(ConfigError, match="activation should be 'relu' or 'gelu'"):
        nn.TransformerEncoderLayer(D, HEADS, activation="tanh")
    model = nn.Transformer(D, HEADS, 1, 1, FF)
    with pytest.raises(ShapeError, match="same batch size"):
        model(gf.randn(5, 2, D), gf.randn(4, 3, D))
    with pytest.raises(ShapeError, match="d_model=8"):
        model(gf.randn(5, 2, D), gf.randn(4, 2, 6))
