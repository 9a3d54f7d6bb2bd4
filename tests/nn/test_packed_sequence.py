"""gradflow.nn.utils.rnn against torch.nn.utils.rnn, and RNN/LSTM/GRU on packed sequences
against PyTorch's: the same weights through state_dict, the same inputs, then outputs,
final states, input and parameter gradients compared, unsorted lengths included."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.errors import ConfigError, ShapeError
from gradflow.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)
from gradflow.testing import assert_close

torch = pytest.importorskip("torch")
trnn = torch.nn.utils.rnn
RNG = np.random.default_rng(35)


def normal(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _pair(array, device):
    return (gf.tensor(array, device=device, requires_grad=True),
            torch.tensor(array, requires_grad=True))


def _same_packed(ours: PackedSequence, theirs, rtol=1e-5, atol=1e-6):
    assert_close(ours.data, theirs.data.detach().numpy(), rtol=rtol, atol=atol, msg="data")
    assert ours.batch_sizes.tolist() == theirs.batch_sizes.tolist()
    for name in ("sorted_indices", "unsorted_indices"):
        mine, ref = getattr(ours, name), getattr(theirs, name)
        assert (mine is None) == (ref is None), name
        if ref is not None:
            assert mine.tolist() == ref.tolist(), name


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths, enforce_sorted", [([4, 3, 3, 1], True),
                                                     ([2, 4, 1, 3], False)])
def test_pack_and_pad_match_torch(lengths, enforce_sorted, batch_first, device):
    x = normal(4, 4, 3)
    ours_x, theirs_x = _pair(x, device)
    ours = pack_padded_sequence(ours_x, gf.tensor(lengths), batch_first=batch_first,
                                enforce_sorted=enforce_sorted)
    theirs = trnn.pack_padded_sequence(theirs_x, torch.tensor(lengths), batch_first=batch_first,
                                       enforce_sorted=enforce_sorted)
    _same_packed(ours, theirs)
    padded, out_lengths = pad_packed_sequence(ours, batch_first=batch_first,
                                              padding_value=-1.5, total_length=6)
    ref, ref_lengths = trnn.pad_packed_sequence(theirs, batch_first=batch_first,
                                                padding_value=-1.5, total_length=6)
    assert_close(padded, ref.detach().numpy())
    assert out_lengths.tolist() == ref_lengths.tolist() == lengths
    cotangent = normal(*ref.shape)
    (padded * gf.tensor(cotangent, device=device)).sum().backward()
    (ref * torch.tensor(cotangent)).sum().backward()
    assert_close(ours_x.grad, theirs_x.grad.numpy(), msg="gradient through pack and pad")


@pytest.mark.parametrize("batch_first, padding_side", [(False, "right"), (True, "left")])
def test_pad_sequence_and_pack_sequence_match_torch(batch_first, padding_side, device):
    arrays = [normal(2, 3), normal(4, 3), normal(1, 3)]
    ours = [gf.tensor(a, device=device) for a in arrays]
    theirs = [torch.tensor(a) for a in arrays]
    assert_close(pad_sequence(ours, batch_first, 0.5, padding_side),
                 trnn.pad_sequence(theirs, batch_first, 0.5, padding_side).numpy())
    _same_packed(pack_sequence(ours, enforce_sorted=False),
                 trnn.pack_sequence(theirs, enforce_sorted=False))


RECURRENT = {
    "lstm_bidirectional_2_layers": lambda m: m.LSTM(3, 4, num_layers=2, bidirectional=True),
    "gru_bidirectional": lambda m: m.GRU(3, 4, bidirectional=True),
    "gru_2_layers": lambda m: m.GRU(3, 4, num_layers=2),
    "rnn_tanh": lambda m: m.RNN(3, 4),
}


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("name", RECURRENT)
def test_recurrent_layers_on_packed_sequences(name, with_state, device):
    theirs = RECURRENT[name](torch.nn)
    ours = RECURRENT[name](nn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.to(device)
    lengths = [3, 5, 1, 5]  # unsorted, with a tie and a one-step sequence
    ours_x, theirs_x = _pair(normal(5, 4, 3), device)
    ours_args = [pack_padded_sequence(ours_x, lengths, enforce_sorted=False)]
    theirs_args = [trnn.pack_padded_sequence(theirs_x, lengths, enforce_sorted=False)]
    states = []
    if with_state:
        shape = (theirs.num_layers * (2 if theirs.bidirectional else 1), 4, 4)
        states = [_pair(normal(*shape), device)
                  for _ in range(2 if isinstance(theirs, torch.nn.LSTM) else 1)]
        ours_args.append(tuple(s[0] for s in states) if len(states) == 2 else states[0][0])
        theirs_args.append(tuple(s[1] for s in states) if len(states) == 2 else states[0][1])
    ours_out, ours_state = ours(*ours_args)
    theirs_out, theirs_state = theirs(*theirs_args)
    assert isinstance(ours_out, PackedSequence)
    _same_packed(ours_out, theirs_out, rtol=1e-4, atol=1e-5)
    ours_outs = [ours_out.data, *(ours_state if isinstance(ours_state, tuple) else
                                  (ours_state,))]
    theirs_outs = [theirs_out.data, *(theirs_state if isinstance(theirs_state, tuple) else
                                      (theirs_state,))]
    loss, torch_loss = 0.0, 0.0
    for mine, ref in zip(ours_outs, theirs_outs, strict=True):
        assert_close(mine, ref.detach().numpy(), rtol=1e-4, atol=1e-5, msg="final state")
        cotangent = normal(*ref.shape)
        loss = loss + (mine * gf.tensor(cotangent, device=device)).sum()
        torch_loss = torch_loss + (ref * torch.tensor(cotangent)).sum()
    loss.backward()
    torch_loss.backward()
    for mine, ref in [(ours_x, theirs_x), *states]:
        assert_close(mine.grad, ref.grad.numpy(), rtol=1e-4, atol=1e-5, msg="input gradient")
    theirs_params = dict(theirs.named_parameters())
    for key, param in ours.named_parameters():
        assert_close(param.grad, theirs_params[key].grad.numpy(), rtol=1e-4, atol=1e-5,
                     msg=f"gradient of {key}")


def test_sorted_packed_input_needs_no_indices(device):
    theirs, ours = torch.nn.LSTM(3, 4), nn.LSTM(3, 4)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.to(device)
    arrays = [normal(4, 3), normal(2, 3)]
    out, (h, c) = ours(pack_sequence([gf.tensor(a) for a in arrays]).to(device))
    ref, (ref_h, ref_c) = theirs(trnn.pack_sequence([torch.tensor(a) for a in arrays]))
    assert out.sorted_indices is None and out.data.device == device
    _same_packed(out, ref, rtol=1e-4, atol=1e-5)
    assert_close(h, ref_h.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert_close(c, ref_c.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("lengths, error, words", [
    ([3, 4, 1], ConfigError, ["pack_padded_sequence", "[3, 4, 1]", "enforce_sorted=False"]),
    ([4, 0, 0], ShapeError, ["pack_padded_sequence", "1..4", "[0, 0]"]),
    ([5, 2, 1], ShapeError, ["pack_padded_sequence", "1..4", "[5]"]),
    ([4, 2], ShapeError, ["pack_padded_sequence", "2 lengths", "3 sequences"]),
])
def test_bad_lengths_raise_typed_errors(lengths, error, words):
    with pytest.raises(error) as caught:
        pack_padded_sequence(gf.zeros(4, 3, 2), lengths)
    for word in words:
        assert word in str(caught.value)


def test_bad_unpacking_and_padding_raise_typed_errors():
    packed = pack_padded_sequence(gf.zeros(4, 2, 3), [4, 2])
    with pytest.raises(ShapeError, match=r"pad_packed_sequence: total_length=3 .*\(4 steps\)"):
        pad_packed_sequence(packed, total_length=3)
    with pytest.raises(ShapeError, match=r"pad_sequence: sequence 1 has shape \(2, 4\)"):
        pad_sequence([gf.zeros(3, 3), gf.zeros(2, 4)])
    with pytest.raises(ShapeError, match=r"LSTM.*\(T, 3\)"):
        nn.LSTM(3, 4)(pack_padded_sequence(gf.zeros(4, 2, 5), [4, 2]))
