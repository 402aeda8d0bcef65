"""Forward + backward of one conv layer (default: ResNet-20's 16->16 3x3 at batch 128), ours
beside torch, interleaved repetition by repetition, medians reported.

    python -m benchmarks.conv_layer [--batch 128] [--channels 16] [--size 28] [--threads N]

Also runs as a plain script (``python benchmarks/conv_layer.py``), importing whichever
tinygrad_hw is first on the path, so two checkouts can be compared in one sitting.
"""
import argparse
import os
import time

import numpy as np


def layer_closures(batch, channels, size, kernel=3, stride=1, padding=1, out_channels=None, torch=None):
    """(ours, theirs) closures running forward + backward of the layer under a ones cotangent."""
    import tinygrad_hw as thw
    import tinygrad_hw.nn.functional as F
    out_channels = out_channels or channels
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    w = (rng.standard_normal((out_channels, channels, kernel, kernel), dtype=np.float32)
         / np.sqrt(channels * kernel * kernel)).astype(np.float32)
    # the input as the layers before it hand it over: batch-last memory (see nn/_conv.py)
    xt = thw.Tensor._wrap(np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2),
                          thw.device("cpu")).requires_grad_()
    wt = thw.Tensor._wrap(w, thw.device("cpu")).requires_grad_()

    def ours():
        xt.grad = wt.grad = None
        out = F.conv2d(xt, wt, stride=stride, padding=padding)
        out.backward(np.ones(out.shape, dtype=out.dtype))

    theirs = None
    if torch is not None:
        tx = torch.from_numpy(x.copy()).requires_grad_()
        tw = torch.from_numpy(w.copy()).requires_grad_()

        def theirs():
            tx.grad = tw.grad = None
            out = torch.nn.functional.conv2d(tx, tw, stride=stride, padding=padding)
            out.backward(torch.ones_like(out))
    return ours, theirs


def interleaved(fns, reps, settle_s=0.2):
    """Median seconds of each function, timed in turn, each after an idle pause and a warm call."""
    times = [[] for _ in fns]
    for f in fns:
        f()
    for _ in range(reps):
        for k, f in enumerate(fns):
            time.sleep(settle_s)
            f()
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            pass
    import tinygrad_hw as thw
    if args.threads:
        if hasattr(thw, "set_num_threads"):
            thw.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    ours, theirs = layer_closures(args.batch, args.channels, args.size, torch=torch)
    t = interleaved([ours] + ([theirs] if theirs else []), args.reps)
    print(f"conv {args.channels}->{args.channels} 3x3 {args.size}x{args.size} batch {args.batch} fwd+bwd "
          f"({os.path.dirname(thw.__file__)}; load {os.getloadavg()[0]:.2f}): ours {t[0] * 1e3:.1f} ms"
          + (f", torch {t[1] * 1e3:.1f} ms, ours/torch time {t[0] / t[1]:.2f}" if theirs else ""))


if __name__ == "__main__":
    main()
