"""NCCL through CuPy (`cupy.cuda.nccl`): all-reduce, broadcast and all-gather of CUDA arrays.

Each collective runs on a side stream that first waits for the work already queued on
the current stream (which produced the buffer); `wait()` makes the current stream wait
for the collective in turn, so the host never blocks. The communicator's unique id is
made on rank 0 and broadcast over MPI.
"""

from __future__ import annotations

from gradflow.distributed.collectives import ReduceOp, Work


class NcclCommunicator:
    """One NCCL communicator over all ranks, each rank on CUDA device `device_index`."""

    def __init__(self, mpi_comm, device_index: int):
        import cupy
        from cupy.cuda import nccl

        self._cupy = cupy
        self._nccl = nccl
        unique_id = nccl.get_unique_id() if mpi_comm.Get_rank() == 0 else None
        unique_id = mpi_comm.bcast(unique_id, root=0)
        self.device = cupy.cuda.Device(device_index)
        with self.device:
            self.comm = nccl.NcclCommunicator(mpi_comm.Get_size(), unique_id,
                                              mpi_comm.Get_rank())
            self.stream = cupy.cuda.Stream(non_blocking=True)

    def _dtype(self, array) -> int:
        nccl = self._nccl
        table = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32,
                 "float64": nccl.NCCL_FLOAT64, "int32": nccl.NCCL_INT32,
                 "int64": nccl.NCCL_INT64, "uint8": nccl.NCCL_UINT8, "int8": nccl.NCCL_INT8}
        if hasattr(nccl, "NCCL_BFLOAT16"):
            table["bfloat16"] = nccl.NCCL_BFLOAT16
        return table[str(array.dtype)]

    def _launch(self, run) -> Work:
        cupy = self._cupy
        with self.device:
            self.stream.wait_event(cupy.cuda.get_current_stream().record())
            run(self.stream.ptr)
            done = self.stream.record()

        def finish():
            with self.device:
                cupy.cuda.get_current_stream().wait_event(done)

        return Work(finish, lambda: done.done)

    def all_reduce(self, array, op: ReduceOp, world_size: int) -> Work:
        nccl = self._nccl
        code = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM,
                ReduceOp.PRODUCT: nccl.NCCL_PROD, ReduceOp.MAX: nccl.NCCL_MAX,
                ReduceOp.MIN: nccl.NCCL_MIN}[op]
        array = self._cupy.asarray(array, order="C")
        pointer = array.data.ptr
        started = self._launch(lambda stream: self.comm.allReduce(
            pointer, pointer, array.size, self._dtype(array), code, stream))

        def finish():
            started.result()
            if op is ReduceOp.AVG:
                with self.device:
                    array[...] /= world_size
            return array

        return Work(finish, started.is_completed)

    def broadcast(self, array, root: int) -> None:
        self._launch(lambda stream: self.comm.bcast(
            array.data.ptr, array.size, self._dtype(array), root, stream)).wait()

    def all_gather(self, array, world_size: int):
        with self.device:
            array = self._cupy.asarray(array, order="C")
            out = self._cupy.empty((world_size, *array.shape), dtype=array.dtype)
        self._launch(lambda stream: self.comm.allGather(
            array.data.ptr, out.data.ptr, array.size, self._dtype(array), stream)).wait()
        return out
