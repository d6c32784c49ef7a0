"""Training-step time of one CNN10 step under several execution variants, in one process.

Run::

    python benchmarks/gpu_step_variants.py             # on a GPU: ~1 min
    python benchmarks/gpu_step_variants.py --smoke     # seconds, any device (graph rows skip)

Every variant trains the same CNN10-like model (``bench_cnn10`` of scoring_throughput.py) on
data resident on the device, so the numbers isolate the step itself:

- ``ref``: fp32, default Adam, one host sync per step (``.cpu()`` of the predictions, as the
  seed document's tracker does);
- ``eager``: easyfirst's ``Precision.resolve("auto")`` (bf16 autocast + channels_last on
  CUDA), default Adam, no per-step sync; ``+bench`` adds ``cudnn.benchmark``; ``+fadam``
  adds ``Adam(fused=True)``;
- ``graph``: the whole step (batch gather, forward, loss, backward, fused Adam, an
  ``index_add_`` outcome record) captured once as a CUDA graph and replayed;
- ``vmap``, ``vmap+fadam``, ``vmap graph``: the same for K members stacked with
  ``torch.func`` (what ``train_stacked`` runs).

It prints ms per step and training samples/s (K x B per fused step), and each row's ratio to
``ref`` (for vmap rows: to K ``ref`` steps).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state

from easyfirst.models.registry import MODELS
from easyfirst.models.vmap_batchnorm import vmap_safe
from easyfirst.training.distributed import resolve_device
from easyfirst.training.precision import Precision

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import scoring_throughput as st  # noqa: E402  (registers bench_cnn10)

SHAPES = st.SHAPES


def _time_steps(step: Callable[[], Any], n: int, device: torch.device) -> float:
    """Seconds per step over ``n`` steps (after the caller's warm-up)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / n


def _build(shape: tuple[int, ...], width: float, device: torch.device, seed: int) -> Any:
    torch.manual_seed(seed)
    return MODELS.get(st.MODEL)(input_shape=shape, num_classes=10, width=width).to(device)


class Variant:
    """One way of running the training step; ``step()`` does one, ``members`` per step."""

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        batch: int,
        width: float,
        device: torch.device,
        data: tuple[torch.Tensor, torch.Tensor],
        members: int = 1,
        amp: bool = True,
        fused_adam: bool = False,
        sync: bool = False,
        graph: bool = False,
    ) -> None:
        self.device, self.members, self.batch = device, members, batch
        self.sync, self.graph = sync, graph
        prec = Precision.resolve("auto" if amp else "fp32", device, input_shape=shape)
        if members > 1:
            prec = Precision(prec.autocast, channels_last=False)
        self.prec = prec
        x_all, y_all = data
        self.x_all, self.y_all = x_all, y_all
        n = len(y_all)
        self.n = n
        self.correct = torch.zeros(members * n, device=device)
        self.idx = torch.zeros(members, batch, dtype=torch.long, device=device)
        self.gen = torch.Generator(device=device).manual_seed(0)
        opt_kw: dict[str, Any] = {"lr": 1e-3}
        if fused_adam:
            opt_kw.update(fused=True, capturable=True) if graph else opt_kw.update(fused=True)
        elif graph:
            opt_kw.update(capturable=True)
        if members == 1:
            model = prec.prepare_model(_build(shape, width, device, 0))
            self.forward = model
            params = list(model.parameters())
        else:
            models = [_build(shape, width, device, s) for s in range(members)]
            p, b = stack_module_state(models)
            base = vmap_safe(copy.deepcopy(models[0]).to("meta"))  # as StackedMembers does

            def member(pp: Any, bb: Any, x: torch.Tensor) -> torch.Tensor:
                return functional_call(base, (pp, bb), (x,))

            vm = torch.vmap(member, in_dims=(0, 0, 0), randomness="different")
            self.forward = lambda x: vm(p, b, x)
            params = list(p.values())
        self.opt = torch.optim.Adam(params, **opt_kw)
        self._graph: torch.cuda.CUDAGraph | None = None
        if graph:
            self._capture()

    def _body(self) -> None:
        """Gather, forward, loss, backward, optimizer step, outcome record."""
        k, b = self.members, self.batch
        flat = self.idx.reshape(-1)
        x = self.x_all[flat]
        y = self.y_all[flat]
        if k > 1:
            x = x.view(k, b, *x.shape[1:])
        ctx = (
            torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=not self.graph)
            if self.prec.amp_dtype is not None and self.device.type == "cuda"
            else torch.autocast(self.device.type, enabled=False)
        )
        with ctx:
            logits = self.forward(self.prec.prepare_batch(x))
        logits = logits.reshape(k * b, -1).float()
        per = F.cross_entropy(logits, y, reduction="none")
        (per.sum() / b).backward()
        self.opt.step()
        pred = logits.argmax(1)
        if self.sync:
            pred.cpu()  # the reference tracker's per-batch host copy
        offs = (torch.arange(k, device=self.device) * self.n).repeat_interleave(b)
        self.correct.index_add_(0, flat + offs, (pred == y).float())

    def _new_indices(self) -> None:
        self.idx.copy_(
            torch.randint(0, self.n, self.idx.shape, device=self.device, generator=self.gen)
        )

    def _capture(self) -> None:
        s = torch.cuda.Stream(self.device)
        s.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(s):
            for _ in range(3):  # warm-up: cudnn plans, Adam state, allocator
                self._new_indices()
                self.opt.zero_grad(set_to_none=True)
                self._body()
        torch.cuda.current_stream(self.device).wait_stream(s)
        self.opt.zero_grad(set_to_none=True)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            self._body()
        self._graph = g

    def step(self) -> None:
        self._new_indices()
        if self._graph is not None:
            self._graph.replay()
            return
        self.opt.zero_grad(set_to_none=True)
        self._body()


def run_shape(
    shape_name: str, batch: int, *, width: float, members: int, steps: int, device: torch.device
) -> list[dict[str, Any]]:
    shape = SHAPES[shape_name]
    n = max(256, 4 * batch * members)
    g = torch.Generator().manual_seed(0)
    data = (
        torch.randn(n, *shape, generator=g).to(device),
        torch.randint(0, 10, (n,), generator=g).to(device),
    )
    cuda = device.type == "cuda"
    rows: list[dict[str, Any]] = []
    specs: list[tuple[str, dict[str, Any], bool]] = [
        ("ref", {"amp": False, "sync": True}, False),
        ("eager", {}, False),
        ("eager+bench", {}, True),
        ("eager+bench+fadam", {"fused_adam": True}, True),
        ("graph+bench", {"fused_adam": True, "graph": True}, True),
        ("vmap", {"members": members}, False),
        ("vmap+bench+fadam", {"members": members, "fused_adam": True}, True),
        ("vmap graph+bench", {"members": members, "fused_adam": True, "graph": True}, True),
    ]
    ref_s = None
    for name, kw, bench in specs:
        if kw.get("graph") and not cuda:
            continue
        torch.backends.cudnn.benchmark = bench
        try:
            v = Variant(shape=shape, batch=batch, width=width, device=device, data=data, **kw)
            for _ in range(3):
                v.step()
            sec = _time_steps(v.step, steps, device)
        except Exception as exc:  # report and go on: one broken variant must not hide others
            print(f"  {name}: FAILED {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            continue
        finally:
            torch.backends.cudnn.benchmark = False
        k = kw.get("members", 1)
        if name == "ref":
            ref_s = sec
        ratio = (k * ref_s / sec) if ref_s else float("nan")
        row = {
            "shape": shape_name,
            "batch": batch,
            "variant": name,
            "members": k,
            "ms_per_step": 1000 * sec,
            "samples_per_s": k * batch / sec,
            "ratio_vs_ref": ratio,
        }
        rows.append(row)
        print(
            f"  {shape_name:<5} B={batch:<3} {name:<20} {1000 * sec:8.2f} ms/step "
            f"{k * batch / sec:10.0f} samples/s  x{ratio:5.2f} vs ref",
            flush=True,
        )
        del v
        if cuda:
            torch.cuda.empty_cache()
    return rows


def profile(shape_name: str, batch: int, *, width: float, device: torch.device) -> None:
    """Top kernels (by device time) of 10 eager easyfirst steps (bf16, channels_last)."""
    shape = SHAPES[shape_name]
    g = torch.Generator().manual_seed(0)
    n = 4 * batch
    data = (torch.randn(n, *shape, generator=g).to(device),
            torch.randint(0, 10, (n,), generator=g).to(device))
    torch.backends.cudnn.benchmark = True
    v = Variant(shape=shape, batch=batch, width=width, device=device, data=data, fused_adam=True)
    for _ in range(3):
        v.step()
    acts = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=acts) as prof:
        for _ in range(10):
            v.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(f"profile {shape_name} B={batch}, 10 steps:")
    print(prof.key_averages().table(sort_by=key, row_limit=18, max_name_column_width=60))
    torch.backends.cudnn.benchmark = False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few steps")
    p.add_argument("--device", default="auto")
    p.add_argument("--shapes", default="cifar,dcase")
    p.add_argument("--batch-sizes", default="16,32")
    p.add_argument("--members", type=int, default=6)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--profile", default="", help="SHAPE:B: print the top kernels of its eager step")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    width = 1 / 16 if args.smoke else 1.0
    steps = args.steps or (2 if args.smoke else 40)
    members = min(args.members, 2) if args.smoke else args.members
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {device} ({name}), torch {torch.__version__}, width {width}, K={members}, "
          f"{steps} timed steps")
    rows = []
    for shape_name in args.shapes.split(","):
        for b in (int(x) for x in args.batch_sizes.split(",")):
            rows += run_shape(
                shape_name, b, width=width, members=members, steps=steps, device=device
            )
    if args.profile:
        shape_name, b = args.profile.split(":")
        profile(shape_name, int(b), width=width, device=device)
    if args.json:
        import json

        with open(args.json, "w") as fh:
            json.dump({"device": str(device), "torch": torch.__version__, "rows": rows}, fh,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
