"""Distributed pieces that need no second process: the post-accumulate hook the reducer
starts from, DistributedSampler, the launcher's command line, the errors without a group."""

import os

import pytest

import gradflow as gf
import gradflow.distributed as dist
from gradflow.data import DataLoader, DistributedSampler, TensorDataset
from gradflow.errors import ConfigError, DistributedError, GraphError


def test_post_accumulate_hook_runs_during_backward_with_the_final_grad():
    w = gf.randn(3, requires_grad=True)
    v = gf.randn(3, requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(("w", t.grad.tolist())))
    handle = v.register_post_accumulate_grad_hook(lambda t: seen.append(("v", t.grad.tolist())))
    h = w * 2
    h.register_hook(lambda g: seen.append(("h", None)))
    (h.sum() * v.sum()).backward()
    # v is complete before the node that made h runs: its hook comes first, not at the end
    assert [name for name, _ in seen] == ["v", "h", "w"]
    assert seen[0][1] == pytest.approx([float(h.sum().item())] * 3)
    expected = [2 * float(v.sum().item())] * 3
    assert seen[2][1] == pytest.approx(expected)
    handle.remove()
    seen.clear()
    (w * 3).sum().backward()  # accumulates onto the previous .grad, then calls the hook
    assert [name for name, _ in seen] == ["w"]
    assert seen[0][1] == pytest.approx([e + 3 for e in expected])


def test_post_accumulate_hook_needs_a_leaf():
    x = gf.randn(2, requires_grad=True)
    with pytest.raises(GraphError, match="leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)


@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_splits_one_permutation(drop_last):
    n, replicas = 10, 3
    parts = [list(DistributedSampler(range(n), replicas, r, seed=5, drop_last=drop_last))
             for r in range(replicas)]
    sizes = {len(p) for p in parts}
    assert sizes == ({3} if drop_last else {4})  # PyTorch's num_samples
    flat = [i for p in parts for i in p]
    if drop_last:
        assert len(set(flat)) == 9
    else:
        assert set(flat) == set(range(n)) and len(flat) == 12  # two padded from the start
    order = gf.randperm(n, generator=gf.Generator(5)).tolist()
    padded = (order + order)[:len(flat)]
    assert parts[1] == padded[1::replicas]


def test_distributed_sampler_epochs_and_loader():
    sampler = DistributedSampler(range(20), num_replicas=2, rank=0, seed=1)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    data = TensorDataset(gf.arange(20))
    batches = [b[0].tolist() for b in DataLoader(data, batch_size=4, sampler=sampler)]
    assert [i for batch in batches for i in batch] == list(sampler)
    assert list(DistributedSampler(range(5), 2, 1, shuffle=False)) == [1, 3, 0]
    with pytest.raises(ConfigError):
        DistributedSampler(range(5), 2, 2)


def test_without_a_process_group():
    assert not dist.is_initialized()
    assert dist.is_main_process()
    with pytest.raises(DistributedError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(DistributedError):
        DistributedSampler(range(4))


def test_run_needs_a_program(capsys):
    from gradflow.cli import main

    assert main(["run", "-n", "2"]) == 2
    assert "name the script" in capsys.readouterr().err


def test_ranks_get_their_share_of_the_cores_unless_told():
    from gradflow.distributed.launch import rank_environment

    env = rank_environment(2, {"PATH": "/bin"})
    share = str(max(1, (os.cpu_count() or 1) // 2))
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == share
    assert rank_environment(2, {"OMP_NUM_THREADS": "3"}) == {"OMP_NUM_THREADS": "3"}


@pytest.mark.parametrize("batch_size", [2, 3, 7])
def test_evaluate_leaves_out_the_samples_a_distributed_sampler_pads_with(batch_size):
    from gradflow import nn
    from gradflow.train import evaluate

    gf.manual_seed(0)
    model = nn.Linear(3, 4)
    data = TensorDataset(gf.randn(13, 3), gf.randint(0, 4, (13,)))
    whole = evaluate(model, DataLoader(data, batch_size=5), nn.CrossEntropyLoss())
    parts = [evaluate(model, DataLoader(data, batch_size=batch_size, sampler=DistributedSampler(
        data, num_replicas=3, rank=rank, seed=4)), nn.CrossEntropyLoss()) for rank in range(3)]
    counts = [sum(map(sum, part["confusion"])) for part in parts]
    assert counts == [5, 4, 4]                  # 15 drawn, the 2 padded ones left out
    assert sum(counts) == 13 and sum(map(sum, whole["confusion"])) == 13
    total = sum(part["loss"] * n for part, n in zip(parts, counts))
    assert total / 13 == pytest.approx(whole["loss"], rel=1e-6)
    correct = sum(part["accuracy"] * n for part, n in zip(parts, counts))
    assert correct / 13 == pytest.approx(whole["accuracy"])


def test_interrupt_guard_takes_sigusr1_as_ctrl_c_only_in_a_launched_rank(monkeypatch):
    import signal

    from gradflow.train.interrupt import InterruptGuard

    if not hasattr(signal, "SIGUSR1"):
        pytest.skip("no SIGUSR1 on this platform")
    with InterruptGuard():
        assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL   # not in a rank
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with InterruptGuard() as guard:
        os.kill(os.getpid(), signal.SIGUSR1)   # what mpiexec forwards from gradflow run
        assert guard.requested
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
