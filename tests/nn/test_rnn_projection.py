"""LSTM with proj_size against torch.nn.LSTM: PyTorch's weight_hr_l{k} parameters and
shapes, outputs and every gradient on the same weights, padded and packed inputs."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.errors import ConfigError
from gradflow.nn.utils.rnn import pack_padded_sequence
from gradflow.testing import assert_close

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(7)
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")


def normal(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _loaded(theirs, ours, device):
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == tuple(value.shape), key
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours.to(device)


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("layers, bidirectional, batch_first", [(2, True, False),
                                                               (1, False, True)])
def test_lstm_projection_matches_torch(layers, bidirectional, batch_first, packed, device):
    kwargs = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
                  proj_size=2)
    theirs = torch.nn.LSTM(3, 4, **kwargs)
    ours = _loaded(theirs, nn.LSTM(3, 4, **kwargs), device)
    directions = 2 if bidirectional else 1
    x = normal(3, 4, 3) if batch_first else normal(4, 3, 3)  # batch 3, 4 steps
    arrays = [x, normal(layers * directions, 3, 2), normal(layers * directions, 3, 4)]
    ours_in = [gf.tensor(a, device=device, requires_grad=True) for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours_x, theirs_x = ours_in[0], theirs_in[0]
    if packed:
        lengths = [2, 4, 1] if not batch_first else [4, 1, 3]
        ours_x = pack_padded_sequence(ours_x, lengths, batch_first, enforce_sorted=False)
        theirs_x = torch.nn.utils.rnn.pack_padded_sequence(theirs_x, lengths, batch_first,
                                                           enforce_sorted=False)
    out, (h, c) = ours(ours_x, (ours_in[1], ours_in[2]))
    ref, (ref_h, ref_c) = theirs(theirs_x, (theirs_in[1], theirs_in[2]))
    if packed:
        out, ref = out.data, ref.data
    loss, torch_loss = 0.0, 0.0
    for mine, expected in [(out, ref), (h, ref_h), (c, ref_c)]:
        assert_close(mine, expected.detach().numpy(), rtol=1e-4, atol=1e-5)
        cotangent = normal(*expected.shape)
        loss = loss + (mine * gf.tensor(cotangent, device=device)).sum()
        torch_loss = torch_loss + (expected * torch.tensor(cotangent)).sum()
    loss.backward()
    torch_loss.backward()
    for mine, expected in zip(ours_in, theirs_in):
        assert_close(mine.grad, expected.grad.numpy(), rtol=1e-4, atol=1e-5)
    theirs_params = dict(theirs.named_parameters())
    for key, param in ours.named_parameters():
        assert_close(param.grad, theirs_params[key].grad.numpy(), rtol=1e-4, atol=1e-5,
                     msg=f"gradient of {key}")


def test_projection_shapes_and_zero_state(device):
    lstm = nn.LSTM(3, 5, proj_size=2, num_layers=2).to(device)
    assert lstm.weight_hr_l1.shape == (2, 5) and lstm.weight_hh_l1.shape == (20, 2)
    assert lstm.weight_ih_l1.shape == (20, 2)
    out, (h, c) = lstm(gf.randn(4, 6, 3, device=device))
    assert (out.shape, h.shape, c.shape) == ((4, 6, 2), (2, 6, 2), (2, 6, 5))
    assert "proj_size=2" in repr(lstm)


@pytest.mark.parametrize("make, words", [
    (lambda: nn.GRU(3, 4, proj_size=2), ["GRU", "LSTM only", "2"]),
    (lambda: nn.LSTM(3, 4, proj_size=4), ["LSTM", "[0, hidden_size=4)", "4"]),
    (lambda: nn.LSTM(3, 4, proj_size=-1), ["LSTM", "-1"]),
])
def test_bad_proj_size_raises_config_error(make, words):
    with pytest.raises(ConfigError) as caught:
        make()
    for word in words:
        assert word in str(caught.value)


def test_projected_state_of_the_wrong_size_is_refused():
    lstm = nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"\(1, 2, 2\)"):
        lstm(gf.zeros(5, 2, 3), (gf.zeros(1, 2, 4), gf.zeros(1, 2, 4)))


@pytest.mark.parametrize("make", [
    lambda: nn.LSTM(2, 3, proj_size=2, bidirectional=True, dtype=gf.float64),
    lambda: nn.GRU(2, 3, dtype=gf.float64)], ids=["lstm_projected", "gru"])
def test_layers_have_second_derivatives(make, float64_device):
    from gradflow.testing.gradcheck import gradgradcheck

    layer = make().to(float64_device)
    x = gf.tensor(normal(3, 2, 2).astype(np.float64), device=float64_device,
                  requires_grad=True)
    assert gradgradcheck(lambda x: layer(x)[0], [x], directions=4)


def test_step_ops_refuse_bad_shapes_and_mixed_dtypes():
    from gradflow.errors import DTypeError, ShapeError
    from gradflow.ops.recurrent import gru_cell_step, lstm_cell_step

    with pytest.raises(ShapeError,
                       match=r"lstm_cell_step: gates \(2, 6\) must be \(2, 8\), 4 gates"):
        lstm_cell_step(gf.zeros(2, 6), gf.zeros(2, 2))
    with pytest.raises(DTypeError, match="gru_cell_step: .*float64"):
        gru_cell_step(gf.zeros(2, 6), gf.zeros(2, 6), gf.zeros(2, 2, dtype=gf.float64))
