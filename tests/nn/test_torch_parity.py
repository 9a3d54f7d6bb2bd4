"""Issue 14's layers and losses against PyTorch: torch's weights copied in through
state_dict, the same inputs, then outputs, input gradients and parameter gradients
compared, on every device the suite runs (cpu, strict, strict:device1, ...)."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.testing import assert_close

torch = pytest.importorskip("torch")
tnn = torch.nn
RNG = np.random.default_rng(14)


def normal(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def signs(*shape):
    return np.where(RNG.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


def _leaves(value):
    """Tensors of a (possibly nested) tuple output, in order."""
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [] if value is None else [value]


def check_against_torch(ours, theirs, inputs, device, kwargs=None, rtol=1e-5, atol=1e-5,
                        grad_inputs=None):
    """Load theirs' state into ours; compare outputs and all gradients on `device`."""
    kwargs = kwargs or {}
    theirs.zero_grad()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    result = ours.load_state_dict({k: v.detach().numpy() for k, v in
                                   theirs.state_dict().items()})
    assert result == ([], [])
    ours.to(device)
    grad_inputs = [i for i, a in enumerate(inputs) if a.dtype.kind == "f"] \
        if grad_inputs is None else grad_inputs
    ours_in = [gf.tensor(a, device=device, requires_grad=i in grad_inputs)
               for i, a in enumerate(inputs)]
    theirs_in = [torch.tensor(a, requires_grad=i in grad_inputs) for i, a in enumerate(inputs)]
    ours_kw = {k: gf.tensor(v, device=device) if isinstance(v, np.ndarray) else v
               for k, v in kwargs.items()}
    theirs_kw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                 for k, v in kwargs.items()}
    outs, refs = _leaves(ours(*ours_in, **ours_kw)), _leaves(theirs(*theirs_in, **theirs_kw))
    assert len(outs) == len(refs)
    for k, (out, ref) in enumerate(zip(outs, refs)):
        assert_close(out, ref.detach().numpy(), rtol=rtol, atol=atol, msg=f"output {k}")
    loss, torch_loss = 0.0, 0.0
    for out, ref in zip(outs, refs):
        if ref.requires_grad:
            cotangent = RNG.standard_normal(tuple(ref.shape)).astype(np.float32)
            loss = loss + (out * gf.tensor(cotangent, device=device)).sum()
            torch_loss = torch_loss + (ref * torch.tensor(cotangent)).sum()
    if not isinstance(loss, gf.Tensor):
        return outs
    loss.backward()
    torch_loss.backward()
    for i in grad_inputs:
        assert_close(ours_in[i].grad, theirs_in[i].grad.numpy(), rtol=rtol, atol=atol,
                     msg=f"gradient of input {i}")
    theirs_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_close(param.grad, theirs_params[name].grad.numpy(), rtol=rtol, atol=atol,
                     msg=f"gradient of {name}")
    return outs


ACTIVATIONS = [
    ("SiLU", ()), ("ELU", (0.5,)), ("CELU", (2.0,)), ("SELU", ()), ("Softplus", (2.0, 3.0)),
    ("Softsign", ()), ("Hardtanh", (-2.0, 0.5)), ("ReLU6", ()), ("Hardsigmoid", ()),
    ("Hardswish", ()), ("Mish", ()), ("LogSigmoid", ()), ("Tanhshrink", ()), ("Softmin", (1,)),
    ("GLU", ()), ("Threshold", (0.1, 20.0)), ("PReLU", (3,)),
]


@pytest.mark.parametrize("name, args", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_layers(name, args, device):
    check_against_torch(getattr(nn, name)(*args), getattr(tnn, name)(*args),
                        [normal(2, 3, 4, scale=3.0)], device)


CONV = {
    "conv1d": lambda m: m.Conv1d(3, 4, 3, padding=1),
    "conv1d_groups": lambda m: m.Conv1d(4, 6, 2, stride=2, dilation=2, groups=2, bias=False),
    "conv1d_reflect": lambda m: m.Conv1d(4, 2, 3, padding=2, padding_mode="reflect"),
    "conv1d_same": lambda m: m.Conv1d(4, 2, 4, padding="same"),
    "conv_transpose1d": lambda m: m.ConvTranspose1d(4, 2, 3, stride=2, padding=1,
                                                    output_padding=1),
    "conv_transpose2d": lambda m: m.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                    output_padding=1, groups=2),
    "conv_transpose2d_dilation": lambda m: m.ConvTranspose2d(4, 3, (2, 3), stride=(1, 2),
                                                             dilation=2, bias=False),
}


@pytest.mark.parametrize("name", CONV)
def test_convolution_layers(name, device):
    spatial = (2, 7) if "1d" in name else (2, 5, 4)
    x = normal(spatial[0], 4 if name != "conv1d" else 3, *spatial[1:])
    check_against_torch(CONV[name](nn), CONV[name](tnn), [x], device, rtol=1e-4, atol=1e-5)


def test_conv_transpose_output_size(device):
    ours, theirs = nn.ConvTranspose2d(3, 2, 3, stride=2), tnn.ConvTranspose2d(3, 2, 3, stride=2)
    check_against_torch(ours, theirs, [normal(1, 3, 4, 4)], device,
                        {"output_size": [10, 9]}, rtol=1e-4)


POOLS = {
    "max_pool1d": (lambda m: m.MaxPool1d(3, 2, 1), (2, 3, 9)),
    "max_pool1d_ceil": (lambda m: m.MaxPool1d(2, ceil_mode=True), (2, 3, 7)),
    "avg_pool1d": (lambda m: m.AvgPool1d(3, 2, 1, count_include_pad=False), (2, 3, 9)),
    "adaptive_avg_pool1d": (lambda m: m.AdaptiveAvgPool1d(3), (2, 3, 7)),
    "adaptive_max_pool1d": (lambda m: m.AdaptiveMaxPool1d(4), (2, 3, 7)),
    "adaptive_max_pool2d": (lambda m: m.AdaptiveMaxPool2d((2, 3)), (2, 3, 5, 7)),
    "adaptive_max_pool2d_none": (lambda m: m.AdaptiveMaxPool2d((None, 3)), (2, 3, 5, 7)),
}


@pytest.mark.parametrize("name", POOLS)
def test_pooling_layers(name, device):
    make, shape = POOLS[name]
    check_against_torch(make(nn), make(tnn), [normal(*shape)], device)


def test_max_pool2d_indices_and_unpool(device):
    x = normal(2, 3, 6, 5)
    ours_pool, theirs_pool = nn.MaxPool2d(2, return_indices=True), tnn.MaxPool2d(
        2, return_indices=True)
    out, indices = ours_pool(gf.tensor(x, device=device))
    _, ref_indices = theirs_pool(torch.tensor(x))
    assert indices.tolist() == ref_indices.tolist()
    ours, theirs = nn.MaxUnpool2d(2), tnn.MaxUnpool2d(2)
    check_against_torch(ours, theirs, [out.numpy(), indices.numpy()], device,
                        {"output_size": (6, 5)})
    out1, index1 = nn.MaxPool1d(2, return_indices=True)(gf.tensor(x[0], device=device))
    _, ref_index1 = tnn.MaxPool1d(2, return_indices=True)(torch.tensor(x[0]))
    assert index1.tolist() == ref_index1.tolist()
    check_against_torch(nn.MaxUnpool1d(2), tnn.MaxUnpool1d(2), [out1.numpy(), index1.numpy()],
                        device)
    _, adaptive_index = nn.AdaptiveMaxPool2d(3, return_indices=True)(gf.tensor(x, device=device))
    _, ref_adaptive = tnn.AdaptiveMaxPool2d(3, return_indices=True)(torch.tensor(x))
    assert adaptive_index.tolist() == ref_adaptive.tolist()


NORMS = {
    "group_norm": (lambda m: m.GroupNorm(2, 6), (3, 6, 4)),
    "group_norm_plain": (lambda m: m.GroupNorm(3, 6, affine=False), (2, 6, 2, 3)),
    "instance_norm1d_affine": (lambda m: m.InstanceNorm1d(3, affine=True), (2, 3, 5)),
    "instance_norm1d_unbatched": (lambda m: m.InstanceNorm1d(3), (3, 5)),
    "instance_norm2d": (lambda m: m.InstanceNorm2d(3), (2, 3, 4, 4)),
    "layer_norm_no_affine": (lambda m: m.LayerNorm(6, elementwise_affine=False), (4, 6)),
    "layer_norm_no_bias": (lambda m: m.LayerNorm((2, 3), bias=False), (4, 2, 3)),
}


@pytest.mark.parametrize("name", NORMS)
def test_normalization_layers(name, device):
    make, shape = NORMS[name]
    theirs = make(tnn)
    for param in theirs.parameters():  # non-trivial affine parameters
        param.data.normal_()
    check_against_torch(make(nn), theirs, [normal(*shape)], device, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda m: m.InstanceNorm2d(3, track_running_stats=True, affine=True),
    lambda m: m.InstanceNorm1d(3, momentum=None, track_running_stats=True),
    lambda m: m.BatchNorm1d(3, momentum=None),
], ids=["instance_norm2d", "instance_norm1d_cumulative", "batch_norm_cumulative"])
def test_running_statistics(make, device):
    ours, theirs = make(nn), make(tnn)
    shape = (4, 3, 3, 3) if isinstance(theirs, tnn.InstanceNorm2d) else (4, 3, 5)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.to(device)
    for _ in range(3):
        x = normal(*shape)
        assert_close(ours(gf.tensor(x, device=device)), theirs(torch.tensor(x)).detach().numpy(),
                     rtol=1e-4, atol=1e-5)
    for key, value in theirs.state_dict().items():
        assert_close(ours.state_dict()[key], value.numpy(), rtol=1e-5, atol=1e-6, msg=key)
    ours.eval()
    theirs.eval()
    x = normal(*shape)
    assert_close(ours(gf.tensor(x, device=device)), theirs(torch.tensor(x)).detach().numpy(),
                 rtol=1e-4, atol=1e-5)


RECURRENT = {
    "rnn_relu_2_layers": (lambda m: m.RNN(4, 5, num_layers=2, nonlinearity="relu"), False),
    "rnn_bidirectional_batch_first": (lambda m: m.RNN(4, 3, bidirectional=True,
                                                      batch_first=True), False),
    "lstm_2_layers_bidirectional": (lambda m: m.LSTM(4, 5, 2, bidirectional=True), True),
    "lstm_batch_first_no_bias": (lambda m: m.LSTM(4, 3, bias=False, batch_first=True), True),
    "gru_2_layers": (lambda m: m.GRU(4, 5, num_layers=2), False),
    "gru_bidirectional": (lambda m: m.GRU(4, 3, bidirectional=True, batch_first=True), False),
}


@pytest.mark.parametrize("name", RECURRENT)
def test_recurrent_layers(name, device):
    make, lstm = RECURRENT[name]
    theirs = make(tnn)
    directions = 2 if theirs.bidirectional else 1
    state = (theirs.num_layers * directions, 3, theirs.hidden_size)
    x = normal(3, 3, 4)  # (L, N) or (N, L), either way 3 x 3 x features
    hx = (normal(*state), normal(*state)) if lstm else normal(*state)
    check_against_torch(make(nn), theirs, [x], device, rtol=1e-4, atol=1e-5)
    ours = make(nn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.to(device)
    given = tuple(gf.tensor(h, device=device) for h in hx) if lstm else gf.tensor(hx,
                                                                                   device=device)
    expected = theirs(torch.tensor(x), tuple(torch.tensor(h) for h in hx) if lstm
                      else torch.tensor(hx))
    for out, ref in zip(_leaves(ours(gf.tensor(x, device=device), given)), _leaves(expected)):
        assert_close(out, ref.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_recurrent_unbatched_input(device):
    ours, theirs = nn.GRU(3, 4), tnn.GRU(3, 4)
    check_against_torch(ours, theirs, [normal(5, 3)], device, rtol=1e-4)


@pytest.mark.parametrize("make", [
    lambda m: m.RNNCell(4, 5), lambda m: m.RNNCell(4, 5, nonlinearity="relu", bias=False),
    lambda m: m.LSTMCell(4, 5), lambda m: m.GRUCell(4, 5)], ids=["rnn", "rnn_relu", "lstm",
                                                                 "gru"])
def test_recurrent_cells(make, device):
    theirs = make(tnn)
    x = normal(3, 4)
    if not isinstance(theirs, tnn.LSTMCell):  # LSTMCell's (h, c) state: the next test
        check_against_torch(make(nn), theirs, [x, normal(3, 5)], device, rtol=1e-4)
    check_against_torch(make(nn), theirs, [x], device, rtol=1e-4)
    check_against_torch(make(nn), theirs, [x[0]], device, rtol=1e-4)


def test_lstm_cell_tuple_state(device):
    ours, theirs = nn.LSTMCell(4, 5), tnn.LSTMCell(4, 5)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.to(device)
    x, h, c = normal(3, 4), normal(3, 5), normal(3, 5)
    out = ours(gf.tensor(x, device=device), (gf.tensor(h, device=device),
                                              gf.tensor(c, device=device)))
    ref = theirs(torch.tensor(x), (torch.tensor(h), torch.tensor(c)))
    for o, r in zip(out, ref):
        assert_close(o, r.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_masks(batch_first, device):
    ours = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    theirs = tnn.MultiheadAttention(8, 2, batch_first=batch_first)
    with torch.no_grad():
        theirs.in_proj_bias.normal_()
        theirs.out_proj.bias.normal_()
    n, length, source = 2, 3, 4
    q = normal(n, length, 8) if batch_first else normal(length, n, 8)
    kv = normal(n, source, 8) if batch_first else normal(source, n, 8)
    padding = np.array([[False, False, True, False], [False, True, False, False]])
    # NOTE: fixed so that no query attends to nothing (PyTorch and gradflow both give NaN
    # there, and a comparison of NaNs would check nothing).
    attn = np.array([[False, True, False, False], [False, False, False, True],
                     [True, False, False, False]])
    check_against_torch(ours, theirs, [q, kv, kv], device,
                        {"key_padding_mask": padding, "attn_mask": attn}, rtol=1e-4)


def test_multihead_attention_kdim_float_mask_per_head_weights(device):
    ours = nn.MultiheadAttention(6, 3, kdim=4, vdim=5)
    theirs = tnn.MultiheadAttention(6, 3, kdim=4, vdim=5)
    q, k, v = normal(3, 2, 6), normal(4, 2, 4), normal(4, 2, 5)
    check_against_torch(ours, theirs, [q, k, v], device,
                        {"attn_mask": normal(2 * 3, 3, 4), "average_attn_weights": False},
                        rtol=1e-4)
    check_against_torch(nn.MultiheadAttention(6, 2), tnn.MultiheadAttention(6, 2),
                        [normal(3, 6)] * 3, device, {"is_causal": True,
                                                     "attn_mask": np.triu(np.ones((3, 3), bool),
                                                                          1)}, rtol=1e-4)


LOSSES = {
    "kl_div": (lambda m: m.KLDivLoss(reduction="batchmean"),
               lambda: [np.log(np.full((3, 4), 0.25, np.float32)) + normal(3, 4, scale=0.1),
                        np.full((3, 4), 0.25, np.float32)]),
    "kl_div_log_target": (lambda m: m.KLDivLoss(log_target=True),
                          lambda: [normal(3, 4), normal(3, 4)]),
    "huber": (lambda m: m.HuberLoss(delta=0.5), lambda: [normal(3, 4), normal(3, 4)]),
    "poisson_nll": (lambda m: m.PoissonNLLLoss(), lambda: [normal(3, 4), np.abs(normal(3, 4))]),
    "poisson_nll_full": (lambda m: m.PoissonNLLLoss(log_input=False, full=True),
                         lambda: [np.abs(normal(3, 4)) + 0.5, np.abs(normal(3, 4)) * 3]),
    "gaussian_nll": (lambda m: m.GaussianNLLLoss(), lambda: [normal(3, 4), normal(3, 4),
                                                             np.abs(normal(3, 1)) + 0.1]),
    "margin_ranking": (lambda m: m.MarginRankingLoss(0.2), lambda: [normal(6), normal(6),
                                                                    signs(6)]),
    "hinge_embedding": (lambda m: m.HingeEmbeddingLoss(), lambda: [normal(3, 4), signs(3, 4)]),
    "cosine_embedding": (lambda m: m.CosineEmbeddingLoss(0.1), lambda: [normal(4, 3),
                                                                        normal(4, 3), signs(4)]),
    "triplet_margin": (lambda m: m.TripletMarginLoss(swap=True), lambda: [normal(4, 3),
                                                                          normal(4, 3),
                                                                          normal(4, 3)]),
    "multi_margin": (lambda m: m.MultiMarginLoss(p=2), lambda: [normal(4, 5),
                                                                np.array([0, 4, 2, 1])]),
    "multilabel_soft_margin": (lambda m: m.MultiLabelSoftMarginLoss(),
                               lambda: [normal(3, 4), (normal(3, 4) > 0).astype(np.float32)]),
    "soft_margin": (lambda m: m.SoftMarginLoss(reduction="sum"), lambda: [normal(3, 4),
                                                                          signs(3, 4)]),
}
_TARGETS = {"hinge_embedding": (0,), "margin_ranking": (0, 1), "cosine_embedding": (0, 1),
            "soft_margin": (0,), "multilabel_soft_margin": (0,), "kl_div": (0,),
            "poisson_nll": (0,), "poisson_nll_full": (0,)}


@pytest.mark.parametrize("name", LOSSES)
def test_losses(name, device):
    make, inputs = LOSSES[name]
    check_against_torch(make(nn), make(tnn), inputs(), device,
                        grad_inputs=_TARGETS.get(name), rtol=1e-4)


RESAMPLING = {
    "upsample_nearest": (lambda m: m.Upsample(scale_factor=2), (1, 2, 3, 4)),
    "upsample_bilinear": (lambda m: m.Upsample(size=(5, 7), mode="bilinear"), (1, 2, 3, 4)),
    "upsample_bilinear_corners": (lambda m: m.Upsample(scale_factor=1.5, mode="bilinear",
                                                       align_corners=True), (2, 1, 4, 4)),
    "upsampling_bilinear2d": (lambda m: m.UpsamplingBilinear2d(scale_factor=2), (1, 2, 3, 3)),
    "upsample_linear": (lambda m: m.Upsample(scale_factor=3, mode="linear"), (2, 2, 4)),
    "upsample_recompute": (lambda m: m.Upsample(scale_factor=1.7, mode="bilinear",
                                                recompute_scale_factor=True), (1, 2, 3, 5)),
    "upsample_nearest_fraction": (lambda m: m.Upsample(scale_factor=(1.5, 0.7)), (1, 2, 4, 6)),
    "upsample_nearest_exact": (lambda m: m.Upsample(size=7, mode="nearest-exact"), (1, 1, 3, 4)),
    "pixel_shuffle": (lambda m: m.PixelShuffle(2), (2, 8, 3, 3)),
    "pixel_unshuffle": (lambda m: m.PixelUnshuffle(2), (2, 2, 4, 6)),
    "unfold": (lambda m: m.Unfold(2, padding=1, stride=2), (2, 3, 4, 5)),
    "fold": (lambda m: m.Fold((4, 5), 2), (2, 12, 12)),
}


@pytest.mark.parametrize("name", RESAMPLING)
def test_resampling_layers(name, device):
    make, shape = RESAMPLING[name]
    check_against_torch(make(nn), make(tnn), [normal(*shape)], device)


def test_distance_layers(device):
    check_against_torch(nn.CosineSimilarity(dim=1), tnn.CosineSimilarity(dim=1),
                        [normal(4, 5), normal(4, 5)], device)
    check_against_torch(nn.PairwiseDistance(p=1.0), tnn.PairwiseDistance(p=1.0),
                        [normal(4, 5), normal(4, 5)], device)


@pytest.mark.parametrize("make", [lambda m: m.Dropout1d(0.5), lambda m: m.Dropout2d(0.5)],
                         ids=["1d", "2d"])
def test_channel_dropout_zeroes_whole_channels(make, device):
    layer = make(nn)
    gf.manual_seed(3)
    shape = (8, 16, 5) if isinstance(layer, nn.Dropout1d) else (8, 16, 3, 3)
    x = gf.ones(*shape, device=device, requires_grad=True)
    out = layer(x)
    host = out.numpy().reshape(8, 16, -1)
    per_channel = host[:, :, 0]
    assert np.all(host == per_channel[..., None])  # a channel is kept or dropped whole
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert 0.2 < (per_channel == 0).mean() < 0.8
    out.sum().backward()
    assert np.array_equal(x.grad.numpy(), out.numpy())
    assert layer.eval()(x) is x
    assert repr(make(tnn)) == repr(layer)


def test_attention_grouped_query_heads_match_torch(device):
    q, k, v = normal(2, 4, 3, 5), normal(2, 2, 6, 5), normal(2, 2, 6, 3)
    out = gf.nn.functional.scaled_dot_product_attention(
        *(gf.tensor(a, device=device) for a in (q, k, v)), enable_gqa=True)
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), enable_gqa=True)
    assert_close(out, ref.numpy(), rtol=1e-5, atol=1e-5)


def test_dropout_inside_attention_and_recurrent_layers(device):
    """Dropout acts in training only: eval equals the dropout-free layer."""
    q = gf.tensor(normal(2, 5, 8), device=device)
    gf.manual_seed(0)
    dropped = gf.nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    plain = gf.nn.functional.scaled_dot_product_attention(q, q, q)
    assert not np.allclose(dropped.numpy(), plain.numpy())
    for layer, x in ((nn.MultiheadAttention(8, 2, dropout=0.5), (q, q, q)),
                     (nn.LSTM(8, 4, num_layers=2, dropout=0.5), (q,))):
        layer.to(device)
        gf.manual_seed(1)
        train = layer(*x)[0].numpy()
        layer.eval()
        first, second = layer(*x)[0].numpy(), layer(*x)[0].numpy()
        assert np.array_equal(first, second) and not np.allclose(train, first)
