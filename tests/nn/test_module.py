"""Module mechanics: registration, paths, state dicts, hooks, modes, devices, containers, repr."""

import copy
from collections import OrderedDict

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.errors import DTypeError, ShapeError, StateDictError


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4)
        self.register_buffer("steps", gf.zeros(()))
        self.register_buffer("cache", gf.ones(2), persistent=False)
        self.scale = nn.Parameter(gf.ones(1))

    def forward(self, x):
        return self.norm(self.fc(x)) * self.scale


def test_registration_and_traversal():
    block = Block()
    assert [n for n, _ in block.named_parameters()] == [
        "scale", "fc.weight", "fc.bias", "norm.weight", "norm.bias"]
    assert [n for n, _ in block.named_buffers()] == [
        "steps", "cache", "norm.running_mean", "norm.running_var", "norm.num_batches_tracked"]
    assert [n for n, _ in block.named_children()] == ["fc", "norm"]
    assert [n for n, _ in block.named_modules()] == ["", "fc", "norm"]
    assert list(block.children()) == [block.fc, block.norm]
    assert all(p.requires_grad and isinstance(p, nn.Parameter) for p in block.parameters())
    assert len(list(block.parameters(recurse=False))) == 1
    assert "cache" not in block.state_dict() and "steps" in block.state_dict()
    del block.scale
    assert "scale" not in dict(block.named_parameters())


def test_shared_parameters_and_modules_appear_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert len(list(model.modules())) == 3
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_assignment_errors():
    class Early(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\) first"):
        Early()
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        layer.weight = gf.zeros(2, 2)
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = layer.missing


def test_paths_set_on_registration_bottom_up_and_top_down():
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(100, 128), nn.Linear(128, 10))
    model = nn.Sequential(OrderedDict(features=nn.Identity(), classifier=classifier))
    assert classifier[2].path == "classifier.2"
    assert model.path == ""
    model.classifier.append(nn.ReLU())
    assert model.classifier[3].path == "classifier.3"
    head = model.classifier[1:]
    assert len(head) == 3 and model.classifier[2].path == "classifier.2"
    assert model.get_submodule("classifier.2") is classifier[2]


def test_wrong_input_shape_names_the_layer():
    model = nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Linear(10, 20)),
        classifier=nn.Sequential(nn.ReLU(), nn.Linear(20, 128), nn.Linear(128, 10))))
    with pytest.raises(ShapeError) as info:
        model.classifier[2](gf.zeros(64, 100))
    assert str(info.value) == "Linear 'classifier.2' expects input (..., 128), got (64, 100)"
    with pytest.raises(ShapeError, match="Linear 'features.0' expects input"):
        model(gf.zeros(5, 11))
    with pytest.raises(ShapeError, match=r"^Linear expects input \(\.\.\., 3\), got \(2,\)$"):
        nn.Linear(3, 1)(gf.zeros(2))


def test_state_dict_round_trip_across_devices_and_arrays():
    gf.manual_seed(0)
    source = Block()
    source(gf.randn(6, 3))  # running statistics move away from their initial values
    gf.manual_seed(1)
    target = Block().to("strict:device1")
    params_before = list(target.parameters())
    target.load_state_dict(source.state_dict())
    assert list(target.parameters()) == params_before  # same objects, new values
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        assert b.device == "strict:device1", name
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    as_arrays = {k: v.numpy().astype(np.float64) if v.dtype.is_floating_point else v.numpy()
                 for k, v in source.state_dict().items()}
    fresh = Block()
    fresh.load_state_dict(as_arrays)
    assert fresh.fc.weight.dtype is gf.float32
    np.testing.assert_array_equal(fresh.fc.weight.numpy(), source.fc.weight.numpy())


def test_state_dict_values_share_memory_but_are_detached():
    layer = nn.Linear(2, 2)
    state = layer.state_dict()
    assert not state["weight"].requires_grad and state["weight"].creator is None
    assert layer.state_dict(keep_vars=True)["weight"] is layer.weight


def test_failed_load_lists_every_problem_and_changes_nothing():
    model = Block()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    state = {k: v.numpy() + 1.0 for k, v in Block().state_dict().items()}
    del state["fc.bias"]
    state["fc.extra"] = np.zeros(3)
    state["norm.weight"] = np.zeros(5)
    with pytest.raises(StateDictError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "3 problem(s)" in message
    assert "missing key 'fc.bias'" in message
    assert "unexpected key 'fc.extra'" in message
    assert "'norm.weight': shape (5,)" in message and "(4,) in the model" in message
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key], err_msg=key)
    with pytest.raises(StateDictError, match="'steps': expected an array or a Tensor, got str"):
        model.load_state_dict(dict(model.state_dict(), steps="zero"))


def test_non_strict_load_reports_keys_but_still_checks_shapes():
    model = nn.Linear(2, 3)
    result = model.load_state_dict({"weight": np.ones((3, 2)), "other": np.ones(1)},
                                   strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    assert model.weight.numpy().sum() == 6.0
    with pytest.raises(StateDictError, match="shape"):
        model.load_state_dict({"weight": np.ones((2, 3))}, strict=False)


def test_hooks_run_in_order_and_can_be_removed():
    layer = nn.Identity()
    calls = []
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    post = layer.register_forward_hook(lambda m, args, out: calls.append(out.item()) or out + 1)
    assert layer(gf.tensor(3.0)).item() == 7.0 and calls == [6.0]
    pre.remove()
    assert layer(gf.tensor(3.0)).item() == 4.0
    post.remove()
    assert layer(gf.tensor(3.0)).item() == 3.0 and calls == [6.0, 3.0]


def test_train_eval_and_apply():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(2)))
    assert model.training and model[2][0].training
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Dropout", "BatchNorm1d", "Sequential", "Sequential"]


@pytest.mark.usefixtures("float64_device")
def test_to_moves_in_place_and_keeps_parameter_identity(device):
    model = Block()
    params = list(model.parameters())
    model(gf.randn(4, 3)).sum().backward()
    assert model.to(device) is model
    assert list(model.parameters()) == params
    assert all(p.device == gf.tensor(0.0, device=device).device for p in model.parameters())
    assert all(b.device == params[0].device for b in model.buffers())
    assert all(p.grad.device == params[0].device for p in params)
    model.to(gf.float64)
    assert list(model.parameters()) == params
    assert all(p.dtype is gf.float64 for p in params)
    assert model.norm.num_batches_tracked.dtype is gf.int64  # integers are not cast
    assert model(gf.randn(4, 3, dtype=gf.float64, device=device)).dtype is gf.float64


def test_failed_move_changes_nothing():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).to(gf.float64)
    with pytest.raises(DTypeError, match="no_float64"):
        model.to("strict:no_float64")
    assert all(t.device == "cpu" for t in model.state_dict().values())
    model.to("strict:no_float64", gf.float32)
    assert model[1].running_var.device == "strict:no_float64"


def test_zero_grad():
    layer = nn.Linear(2, 1)
    layer(gf.ones(3, 2)).sum().backward()
    assert layer.weight.grad.numpy().any()
    layer.zero_grad(set_to_none=False)
    assert layer.weight.grad.shape == (1, 2) and not layer.weight.grad.numpy().any()
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


def test_deepcopy_gives_independent_parameters():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    twin = copy.deepcopy(model)
    assert isinstance(twin[0].weight, nn.Parameter) and twin[0].weight is not model[0].weight
    with gf.no_grad():
        twin[0].weight.fill_(0.0)
    assert model[0].weight.numpy().any()


def test_repr_is_nested_with_extra_repr():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(),
                          nn.Sequential(nn.Dropout(0.25), nn.Linear(8, 2, bias=False)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Dropout(p=0.25, inplace=False)\n"
        "    (1): Linear(in_features=8, out_features=2, bias=False)\n"
        "  )\n"
        ")")
    assert repr(nn.Parameter(gf.zeros(1))).startswith("Parameter containing:\ntensor(")


def test_sequential_container_protocol():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    model = nn.Sequential(a, b)
    model.append(c)
    assert len(model) == 3 and list(model) == [a, b, c]
    assert model[-1] is c and model[0] is a
    assert isinstance(model[:2], nn.Sequential) and list(model[:2]) == [a, b]
    assert model(gf.ones(5, 2)).shape == (5, 1)
    with pytest.raises(IndexError):
        model[3]
    del model[0]
    assert [n for n, _ in model.named_children()] == ["0", "1"] and model[1].path == "1"
    named = nn.Sequential(OrderedDict(first=a, second=b))
    assert [n for n, _ in named.named_children()] == ["first", "second"]


def test_module_list_and_dict():
    blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    blocks.append(nn.ReLU())
    blocks.insert(0, nn.Identity())
    assert len(blocks) == 5 and isinstance(blocks[0], nn.Identity)
    assert [n for n, _ in blocks.named_children()] == ["0", "1", "2", "3", "4"]
    assert len(list(blocks.parameters())) == 6
    del blocks[0]
    assert isinstance(blocks[3], nn.ReLU) and blocks[3].path == "3"
    heads = nn.ModuleDict({"age": nn.Linear(4, 1)})
    heads["kind"] = nn.Linear(4, 3)
    assert list(heads) == ["age", "kind"] and "kind" in heads and len(heads) == 2
    assert [n for n, _ in heads.named_parameters()] == [
        "age.weight", "age.bias", "kind.weight", "kind.bias"]
    assert heads["kind"].path == "kind"
    del heads["age"]
    assert list(heads.keys()) == ["kind"]


def test_docstring_examples_run():
    import doctest
    import math

    from gradflow.nn import containers, functional, functional_losses, init, layers, losses, module

    names = {"gf": gf, "nn": nn, "F": functional, "math": math}
    for source in (containers, functional, functional_losses, init, layers, losses, module):
        result = doctest.testmod(source, extraglobs=names, report=False)
        assert result.failed == 0, f"{source.__name__}: {result.failed} docstring examples fail"
