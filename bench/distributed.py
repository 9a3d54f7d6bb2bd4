"""Data-parallel throughput on this machine: 1 process with 2 BLAS threads (and with 1) against
2 processes (`gradflow run -n 2`) with 1 BLAS thread each, Fashion-MNIST MLP and CNN.

Each contender is a fresh launch of this script in --worker mode that trains a slice of an
epoch (--samples images, global batch 128) and reports samples/s, bytes all-reduced per
step and the share of the step spent waiting for communication (DDP.comm_wait_seconds:
backward's wait for the bucket all-reduces; MPI on CPUs progresses a non-blocking
all-reduce mostly inside that wait, so this is nearly all of the transfer time). Contenders
are interleaved, round by round in rotating order, and the table gives medians and the
2-process/1-process ratio of each round; absolute numbers drift on a shared machine.

Run:
    python bench/distributed.py --rounds 3      # writes bench/results/distributed.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 128


def worker(args) -> None:
    import gradflow as gf
    import gradflow.distributed as dist
    from gradflow import models, nn, optim
    from gradflow.data import DataLoader, DistributedSampler, FashionMNIST
    from gradflow.distributed.process_group import launched_world_size
    from gradflow.nn.parallel import DistributedDataParallel

    world, ddp = 1, None
    if launched_world_size() > 1:
        dist.init_process_group()
        world = dist.get_world_size()
    train = FashionMNIST(root=args.data_dir, train=True)
    gf.manual_seed(0)
    model = models.cnn() if args.model == "cnn" else models.mlp(784, (512, 256))
    if world > 1:
        model = ddp = DistributedDataParallel(model)
    sampler = DistributedSampler(train, num_replicas=world, rank=dist.get_rank() if world > 1
                                 else 0, seed=0)
    loader = DataLoader(train, batch_size=BATCH // world, sampler=sampler)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    steps = args.samples // BATCH
    warmup = 3
    for step, (x, y) in enumerate(loader):
        if step == warmup:
            if ddp is not None:
                dist.barrier()
                ddp.comm_wait_seconds = 0.0
            started = time.perf_counter()
        if step == warmup + steps:
            break
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    seconds = time.perf_counter() - started
    if world == 1 or dist.get_rank() == 0:
        waited = ddp.comm_wait_seconds if ddp is not None else 0.0
        print("RESULT " + json.dumps({
            "samples_per_s": steps * BATCH / seconds, "step_ms": 1e3 * seconds / steps,
            "bytes_per_step": ddp.bytes_per_step if ddp is not None else 0,
            "comm_wait_share": waited / seconds}), flush=True)


def allreduce_worker() -> None:
    """Median time of one all-reduce right after a barrier (both ranks ready): the transfer
    itself, without waiting for a late rank."""
    import numpy as np

    import gradflow as gf
    import gradflow.distributed as dist

    dist.init_process_group()
    times = {}
    for nbytes in (8, 421_642 * 4, 535_818 * 4):
        t = gf.ones(nbytes // 4)
        samples = []
        for _ in range(30):
            dist.barrier()
            started = time.perf_counter()
            dist.all_reduce(t, dist.ReduceOp.AVG)
            samples.append(time.perf_counter() - started)
        times[nbytes] = float(np.median(samples))
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps(times), flush=True)


def launch(model: str, nproc: int, threads: int, args) -> dict:
    threads = str(threads)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads,
           "MKL_NUM_THREADS": threads,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    samples = args.samples or {"mlp": 6400, "cnn": 1280}.get(model, 0)
    program = [str(Path(__file__).resolve()), "--worker", "--model", model, "--samples",
               str(samples)] + (["--data-dir", args.data_dir] if args.data_dir else [])
    command = ([sys.executable, "-m", "gradflow", "run", "-n", str(nproc)] if nproc > 1
               else [sys.executable]) + program
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800,
                         check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT"))[7:])


# alpha-beta model of ring all-reduce (docs/distributed.md): per-hop latency alpha (s) and
# per-link bandwidth (bytes/s) of each fabric, and each model's fp32 gradient bytes with an
# assumed per-GPU step time (s) of which backward is two thirds.
FABRICS = {"8 GPUs, NVLink (one node)": (8, 3e-6, 300e9),
           "64 GPUs, 200 Gb/s InfiniBand": (64, 6e-6, 23e9)}
WORKLOADS = {"CNN (421,642 params)": (421_642 * 4, 2e-3),
             "ResNet-18 (11.69 M params)": (11_689_512 * 4, 50e-3)}


def exposed_seconds(k: int, n: int, latency: float, per_byte: float, backward: float) -> float:
    """Communication left after backward when k equal buckets become ready evenly during
    backward and are all-reduced one after another (the last one can never overlap)."""
    free = 0.0
    for i in range(1, k + 1):
        free = max(i * backward / k, free) + latency + n / k * per_byte
    return free - backward


def extrapolate(bucket_mb: float = 25.0) -> list[dict]:
    """Ring all-reduce cost, scaling efficiency without and with overlap, and the bucket size
    that hides the most communication behind backward."""
    rows = []
    for fabric, (p, alpha, bandwidth) in FABRICS.items():
        latency = 2 * (p - 1) * alpha              # one all-reduce, whatever its size
        per_byte = 2 * (p - 1) / (p * bandwidth)
        for workload, (n, step) in WORKLOADS.items():
            backward = step * 2 / 3
            buckets = max(1, -(-n // int(bucket_mb * 2**20)))
            total = buckets * latency + n * per_byte
            k = min(range(1, 513), key=lambda k: exposed_seconds(k, n, latency, per_byte,
                                                                   backward))
            exposed = exposed_seconds(k, n, latency, per_byte, backward)
            default = exposed_seconds(buckets, n, latency, per_byte, backward)
            rows.append({"fabric": fabric, "workload": workload, "allreduce_ms": 1e3 * total,
                         "efficiency_no_overlap": step / (step + total),
                         "efficiency_25mb_overlap": step / (step + default),
                         "best_bucket_mb": n / k / 2**20, "exposed_ms": 1e3 * exposed,
                         "efficiency_overlap": step / (step + exposed)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--samples", type=int, default=None,
                        help="images timed per run (default: 6400 MLP, 1280 CNN)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "distributed.json"))
    parser.add_argument("--extrapolate", action="store_true",
                        help="print the alpha-beta extrapolation only")
    args = parser.parse_args()
    if args.worker:
        return allreduce_worker() if args.model == "allreduce" else worker(args)
    if args.extrapolate:
        print("| fabric | model | all-reduce (25 MB buckets) | efficiency, no overlap | "
              "overlapped, 25 MB buckets | best bucket | exposed comm | efficiency, best |")
        print("|---|---|---|---|---|---|---|---|")
        for r in extrapolate():
            print(f"| {r['fabric']} | {r['workload']} | {r['allreduce_ms']:.3f} ms | "
                  f"{100 * r['efficiency_no_overlap']:.1f}% | "
                  f"{100 * r['efficiency_25mb_overlap']:.1f}% | {r['best_bucket_mb']:.2f} MB | "
                  f"{r['exposed_ms']:.3f} ms | {100 * r['efficiency_overlap']:.1f}% |")
        return None
    # (model, processes, BLAS threads each): 1 x 2 is what one process gets by default, 1 x 1
    # the per-process baseline of 2 x 1 (its ratio to 1 x 1 over 2 is the scaling efficiency)
    contenders = [(m, n, t) for m in args.models.split(",") for n, t in ((1, 2), (1, 1), (2, 1))]
    runs = {c: [] for c in contenders}
    for r in range(args.rounds):
        order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
        for contender in order:
            runs[contender].append(launch(*contender, args))
            time.sleep(0.3)
    load = os.getloadavg()
    rows = []
    allreduce = launch("allreduce", 2, 1, args)
    print("all-reduce of 2 ranks after a barrier (median of 30): " + ", ".join(
        f"{int(n)} B: {1e3 * s:.3f} ms" for n, s in allreduce.items()))
    print(f"busy machine (load average {load[0]:.1f} on {os.cpu_count()} cores, other agents "
          f"running); {args.rounds} interleaved rounds, batch {BATCH}")
    print("| model | processes x BLAS threads | samples/s (median) | step ms | bytes all-reduced "
          "/ step | comm wait share | this / (1 x 1), per round |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for _, n, t in [c for c in contenders if c[0] == model]:
            results = runs[(model, n, t)]
            ratios = [r["samples_per_s"] / base["samples_per_s"]
                      for r, base in zip(results, runs[(model, 1, 1)])]
            row = {"model": model, "processes": n, "blas_threads": t,
                   "samples_per_s": statistics.median(r["samples_per_s"] for r in results),
                   "step_ms": statistics.median(r["step_ms"] for r in results),
                   "bytes_per_step": results[0]["bytes_per_step"],
                   "comm_wait_share": statistics.median(r["comm_wait_share"] for r in results),
                   "runs": results, "ratios_to_1x1": ratios}
            rows.append(row)
            print(f"| {model} | {n} x {t} | {row['samples_per_s']:.0f} | "
                  f"{row['step_ms']:.1f} | {row['bytes_per_step'] / 1e6:.2f} MB | "
                  f"{100 * row['comm_wait_share']:.1f}% | "
                  + ", ".join(f"{x:.2f}" for x in ratios) + " |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"load_average": load, "rows": rows,
                                          "allreduce_seconds": allreduce}, indent=1))


if __name__ == "__main__":
    main()
