"""gf.nn.summary: shapes, counts (trainable or not), memory, aligned whatever the names."""

import pytest

import gradflow as gf
from gradflow import nn
from gradflow.errors import ConfigError


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.a_rather_long_layer_name_indeed = nn.Linear(6, 5)
        self.norm = nn.BatchNorm1d(5)

    def forward(self, x):
        return self.norm(self.a_rather_long_layer_name_indeed(x))


def test_counts_shapes_and_memory(device):
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), Block()).to(device)
    model[0].bias.requires_grad = False
    running = model[2].norm.running_mean.numpy().copy()
    info = gf.nn.summary(model, (3, 4), device=device)
    assert [(r.name, r.kind, r.output_shapes) for r in info.rows] == [
        ("", "Sequential", [(3, 5)]), ("0", "Linear", [(3, 6)]), ("1", "ReLU", [(3, 6)]),
        ("2", "Block", [(3, 5)]), ("2.a_rather_long_layer_name_indeed", "Linear", [(3, 5)]),
        ("2.norm", "BatchNorm1d", [(3, 5)])]
    assert info.total_params == 30 + 35 + 10 and info.trainable_params == 69
    assert info.non_trainable_params == 6
    assert info.params_bytes == 75 * 4 and info.input_bytes == 12 * 4
    assert info.forward_backward_bytes == 2 * 4 * (18 + 18 + 15 + 15)  # the leaf layers
    assert model.training and (model[2].norm.running_mean.numpy() == running).all()


def test_table_is_aligned_and_has_the_totals():
    text = str(gf.nn.summary(nn.Sequential(nn.Linear(4, 6), Block()), (1, 4)))
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert len({len(line) for line in table}) == 1  # every row as wide as the header
    assert "a_rather_long_layer_name_indeed (Linear)" in text
    assert "Total params: 75" in text and "Trainable params: 75" in text
    assert "Estimated total size (MB)" in text


def test_several_inputs_and_bad_sizes():
    class Pair(nn.Module):
        def forward(self, a, b):
            return a + b

    assert gf.nn.summary(Pair(), [(2, 3), (2, 3)]).rows[0].output_shapes == [(2, 3)]
    with pytest.raises(ConfigError, match="input_size"):
        gf.nn.summary(Pair(), (2, -1))
