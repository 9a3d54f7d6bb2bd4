"""Run on 2 ranks by test_multiprocess.py: rank 1 fails (`raise` or `kill`) while rank 0
waits in a collective that rank 1 never joins; the job must end, not hang."""

import os
import signal
import sys
import time

import gradflow as gf
import gradflow.distributed as dist

dist.init_process_group()
dist.barrier()
if dist.get_rank() == 1:
    time.sleep(0.5)  # NOTE: rank 0 is inside all_reduce by then
    if sys.argv[1] == "raise":
        raise ValueError("deliberate failure on one rank")
    os.kill(os.getpid(), signal.SIGKILL)
dist.all_reduce(gf.ones(3))
time.sleep(60)
