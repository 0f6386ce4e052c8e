"""VolumeSlicer throughput against rotating the whole volume with scipy, in output pixels per second.

The task of the neonatal ultrasound study: a 200^3 volume cut into 2 views x 9 tilts (-20..20 degrees) x all
slices, 256 x 256 pixels each. The direct approach rotates the volume with ``scipy.ndimage.rotate`` once per
(view, tilt), takes the slices along the view's normal and resizes them to 256 px with ``scipy.ndimage.zoom``, at
the same interpolation order. Peak memory (growth of the process's maximum resident set over the loaded volume) is
measured in a fresh process per approach (Linux: /proc/self/status).

Usage::

    python benchmarks/slice_bench.py [--side 200] [--size 256] [--order 1] [--angles -20:20:5] [--every 1 8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

import numpy as np
import scipy.ndimage as ndi
import torch

from medgan_aug import VolumeSlicer
from medgan_aug.data import Volume, parse_angles

_VIEWS = ("coronal", "sagittal")
_INTERPOLATION = {0: "nearest", 1: "linear", 3: "cubic"}


def _volume(side: int) -> Volume:
    rng = np.random.default_rng(0)
    return Volume.from_array(ndi.gaussian_filter(rng.random((side,) * 3, dtype=np.float32), 2.0), spacing=(1, 1, 1))


def _slicer(args: argparse.Namespace, every: int) -> VolumeSlicer:
    return VolumeSlicer(
        _VIEWS,
        parse_angles(args.angles),
        size=args.size,
        interpolation=_INTERPOLATION[args.order],
        every=every,
        batch_size=args.batch,
    )


def _ours(volume: Volume, args: argparse.Namespace, every: int) -> int:
    pixels = 0
    for plane in _slicer(args, every).planes(volume):
        pixels += plane.image.size
    return pixels


def _direct(volume: Volume, args: argparse.Namespace, every: int) -> int:
    pixels = 0
    slicer = _slicer(args, every)
    for axes in slicer.views.values():
        for angle in slicer.angles:
            # Tilting about the image's vertical axis = rotating in the plane of the across and normal axes.
            rotated = ndi.rotate(volume.data, angle, axes=(axes.cols, axes.normal), reshape=False, order=args.order)
            indices = slicer.slice_indices(volume.shape[axes.normal])
            stack = np.moveaxis(rotated.take(indices, axis=axes.normal), axes.normal, 0)
            del rotated
            zoom = (1.0, args.size / stack.shape[1], args.size / stack.shape[2])
            pixels += ndi.zoom(stack, zoom, order=args.order).size
    return pixels


_APPROACHES = {"medgan-aug": _ours, "scipy rotate+zoom": _direct}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _peak_growth(name: str, args: argparse.Namespace, every: int, queue: multiprocessing.Queue) -> None:
    torch.set_num_threads(args.threads)
    volume = _volume(args.side)
    _ours(_volume(16), args, 1)  # loads the compiled sampler before the baseline is taken
    # Writing 5 to clear_refs resets the peak resident set (VmHWM) to the current one (Linux >= 4.0), so the
    # temporaries of making the volume do not hide the approach's own peak.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    _APPROACHES[name](volume, args, every)
    queue.put((_status_kib("VmHWM") - before) / 1024)


def _memory(name: str, args: argparse.Namespace, every: int) -> float:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak_growth, args=(name, args, every, queue))
    process.start()
    growth = queue.get()
    process.join()
    return growth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=200, help="volume side in voxels")
    parser.add_argument("--size", type=int, default=256, help="output image side in pixels")
    parser.add_argument("--order", type=int, default=1, choices=sorted(_INTERPOLATION))
    parser.add_argument("--angles", default="-20:20:5")
    parser.add_argument("--every", type=int, nargs="+", default=[1, 8], help="keep every k-th slice")
    parser.add_argument("--batch", type=int, default=16, help="planes per sampler call")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    volume = _volume(args.side)
    volume_mb = volume.data.nbytes / 2**20
    print(
        f"{args.side}^3 float32 volume ({volume_mb:.0f} MiB), views {', '.join(_VIEWS)}, angles {args.angles}, "
        f"{args.size} px, order {args.order}, {args.threads} threads"
    )
    _ours(_volume(16), args, 1)
    print("| every | approach | planes | seconds | Mpx/s | peak growth MiB |")
    print("|---|---|---|---|---|---|")
    for every in args.every:
        rates = {}
        for name, run in _APPROACHES.items():
            start = time.perf_counter()
            pixels = run(volume, args, every)
            seconds = time.perf_counter() - start
            rates[name] = pixels / seconds
            memory = "" if args.no_memory else f"{_memory(name, args, every):.0f}"
            print(
                f"| {every} | {name} | {pixels // args.size**2} | {seconds:.2f} | {rates[name] / 1e6:.1f} | {memory} |",
                flush=True,
            )
        print(f"| {every} | speed-up | | | {rates['medgan-aug'] / rates['scipy rotate+zoom']:.1f}x | |", flush=True)


if __name__ == "__main__":
    main()
