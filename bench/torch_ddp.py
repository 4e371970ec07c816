#!/usr/bin/python3
"""PyTorch's side of the data-parallel comparison: the zoo's MLP or conv VAE (bench/torch_steps.py's
models) trained with DistributedDataParallel on the gloo backend, N processes on this machine, each one
thread, at a global batch split evenly. Times the same step as bench_ddp: forward, backward (DDP's
bucketed all-reduce overlapped with it), Adam.

  /usr/bin/python3 bench/torch_ddp.py --model mlp --batch 128 --procs 2 [--steps 200]
  /usr/bin/python3 bench/torch_ddp.py --model mlp --batch 128 --procs 1   # one process, no DDP

Prints one JSON line: the median step time of rank 0 and examples per second.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def worker(rank, a, port, out):
    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    import torch
    import torch.distributed as dist

    import torch_steps

    torch.set_num_threads(1)
    if a.procs > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=a.procs)
    torch.manual_seed(1)
    model, loss_fn, shape = torch_steps.vae_conv() if a.model == "conv" else torch_steps.vae_mlp()
    if a.procs > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    local = a.batch // a.procs
    g = torch.Generator().manual_seed(3)
    x = torch.bernoulli(torch.rand(4 * a.batch, *shape, generator=g))
    times = []
    for s in range(20 + a.steps):
        t0 = time.perf_counter()
        lo = (s % 4) * a.batch + rank * local
        xb = x[lo:lo + local]
        logits, mu, logvar = model(xb)
        loss = loss_fn(logits, xb, mu, logvar) / local
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s >= 20:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    if rank == 0:
        out.put({"name": f"TorchDdpStep/{a.model}/{a.batch}", "procs": a.procs, "ms_median": med * 1e3,
                 "examples_per_sec": a.batch / med, "torch": torch.__version__, "backend": "gloo" if a.procs > 1 else "none"})
    if a.procs > 1:
        dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["mlp", "conv"], default="mlp")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--port", type=int, default=29533)
    a = p.parse_args()
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, a, a.port, out)) for r in range(a.procs)]
    for pr in procs:
        pr.start()
    result = out.get()
    for pr in procs:
        pr.join()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
