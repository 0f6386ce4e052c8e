"""``medgan-aug score``: FID, KID, IS, precision/recall and the data-copying audit of an image set or a generator."""

from __future__ import annotations

import argparse
import sys

from .arguments import add_threads_argument

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    import json

    from ..metrics import FIDScorer, MetricsWeightsError

    per_class: dict[str, dict[str, float]] = {}
    try:
        generation = {"--n": args.n, "--psi": args.psi, "--class": args.class_index, "--seed": args.seed}
        if args.network is None:
            given = [flag for flag, value in generation.items() if value is not None]
            if args.per_class:
                given.append("--per-class")
            if given:
                raise ValueError(f"{', '.join(given)} apply to --network only")
        if args.per_class and args.class_index is not None:
            raise ValueError("--per-class scores every class; drop --class")
        copying = "copying" in [name.strip().lower() for name in args.metrics.split(",")]
        if copying and args.test is None:
            raise ValueError(
                "--metrics copying needs --test, a folder of held-out real images the generator never saw "
                "(--real is then its training set)"
            )
        if args.test is not None and not copying:
            raise ValueError("--test is used by --metrics copying only")
        if args.pairs is not None and not copying:
            raise ValueError("--pairs draws the pairs of the copying audit: add copying to --metrics")
        if args.pairs is not None and args.network is not None:
            raise ValueError("--pairs needs the generated images as files: write them with medgan-aug generate")
        scorer = FIDScorer(
            args.metrics,
            extractor=args.extractor,
            weights=args.weights,
            batch_size=args.batch,
            kid_subset_size=args.kid_subset_size,
            cache_dir=args.cache_dir,
            value_range=tuple(int(end) for end in args.value_range.split(",")),
            fid_bootstrap=args.fid_bootstrap,
            fid_floor=not args.no_fid_floor,
            progress=not args.no_progress,
            copying_threshold=args.copying_threshold,
            copying_cells=args.copying_cells,
        )
        if args.network is None:
            if args.pairs is None:
                results = scorer.score(args.real, args.fake, test=args.test)
            else:
                from ..metrics import save_copy_pairs

                results, audit = scorer.score_with_audit(args.real, args.fake, args.test)
                pairs = save_copy_pairs(args.pairs, audit, args.fake, args.real)
                print(f"closest generated/training pairs: {pairs}", file=sys.stderr)
        else:
            from ..data import ImageFolderDataset
            from ..generate import load_generator

            G = load_generator(args.network, device=scorer.device)
            n = 1000 if args.n is None else args.n
            sampling = {
                "truncation_psi": 1.0 if args.psi is None else args.psi,
                "seed": 0 if args.seed is None else args.seed,
            }
            if args.per_class:
                if G.c_dim == 0:
                    raise ValueError(f"--per-class needs a conditional network, but {args.network} has no classes")
                real = ImageFolderDataset(args.real, G.img_resolution, labels="folders")
                per_class = scorer.score_per_class(G, real, n, **sampling)
                rows = list(per_class.values())
                # Point values average over classes; intervals, spreads and sizes stay per class.
                points = ("fid", "fid_real_floor", "fid_matched", "kid_mean", "isc_mean", "precision", "recall",
                          "f_score")  # fmt: skip
                results = {
                    key: sum(row[key] for row in rows) / len(rows) for key in points if all(key in row for row in rows)
                }
            else:
                results = scorer.score_generator(G, args.real, n, classes=args.class_index, test=args.test, **sampling)
    except (ValueError, OSError, MetricsWeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"per_class": per_class, "mean": results, "n_per_class": n} if per_class else results))
    elif per_class:
        width = max(10, *(len(name) + 1 for name in per_class))
        columns = {key: max(12, len(key) + 2) for row in per_class.values() for key in row}
        print(f"{'class':<{width}}" + "".join(f"{key:>{w}}" for key, w in columns.items()))
        for name, row in [*per_class.items(), ("mean", results)]:
            cells = (f"{row[key]:>{w}.6g}" if key in row else " " * w for key, w in columns.items())
            print((f"{name:<{width}}" + "".join(cells)).rstrip())
    else:
        notes = []
        if "fid_ci_low" in results:
            notes.append(
                f"95% CI {results['fid_ci_low']:.4g} to {results['fid_ci_high']:.4g}, "
                f"bootstrap sd {results['fid_std']:.3g}"
            )
        if "fid_real_floor" in results:
            notes.append(
                f"at {results['fid_floor_images']:.0f} images per side: synthetic {results['fid_matched']:.4g} +- "
                f"{results['fid_matched_std']:.2g} vs real-vs-real floor {results['fid_real_floor']:.4g} +- "
                f"{results['fid_real_floor_std']:.2g}"
            )
        if "copying_zu" in results:
            notes_copying = (
                f"Z_U over {results['copying_cells_used']:.0f} of {results['copying_cells']:.0f} cells; "
                f"flagged {results['copying_flagged_fraction']:.1%} of generated vs "
                f"{results['copying_test_flagged_fraction']:.1%} of held-out images at ratio < "
                f"{results['copying_threshold']:g}"
            )
        folded = ("copying_cells", "copying_cells_used", "copying_threshold", "copying_n_train", "copying_n_test",
                  "fid_std", "fid_ci_low", "fid_ci_high", "fid_real_floor", "fid_real_floor_std", "fid_matched",
                  "fid_matched_std", "fid_floor_images")  # fmt: skip
        print(f"{'metric':<10} value")
        for key, value in results.items():
            if key == "fid" and notes:
                print(f"{key:<10} {value:.6g}  ({'; '.join(notes)})")
            elif key == "copying_zu":
                print(f"{key:<10} {value:.6g}  ({notes_copying})")
            elif key not in folded:
                print(f"{key:<10} {value:.6g}")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    score = commands.add_parser(
        "score",
        help="FID, KID, Inception Score, precision/recall and data copying of generated images against real ones",
        description="Compare generated images (a folder, or --network to generate them in memory) with a folder "
        "of real ones through torch-fidelity. FID comes with a bootstrap 95%% interval and the real-vs-real floor "
        "(FID between two halves of the real set at the same number of images) to read it against. --metrics "
        "copying with --test tests whether the generated images copy --real (the training set). Without "
        "network access, pass the extractor's weights file with --weights.",
    )
    score.add_argument(
        "--real",
        required=True,
        help="folder of real images (PNG/JPEG, searched recursively), or a .pt/.npy file of an [N, C, H, W] tensor",
    )
    fake = score.add_mutually_exclusive_group(required=True)
    fake.add_argument("--fake", help="folder of generated images, or a .pt/.npy file of an [N, C, H, W] tensor")
    fake.add_argument(
        "--network", help="generator checkpoint (.pt network or training, or .pkl) to generate the fake set from"
    )
    score.add_argument("--n", type=int, help="with --network: images to generate (per class with --per-class; 1000)")
    score.add_argument("--psi", type=float, help="with --network: truncation psi (default 1: none)")
    score.add_argument(
        "--class",
        dest="class_index",
        type=int,
        help="with --network: class of every image (default for a conditional network: uniformly random)",
    )
    score.add_argument("--seed", type=int, help="with --network: first seed; image i uses seed + i (default 0)")
    score.add_argument(
        "--per-class",
        action="store_true",
        help="with a conditional --network: score each class against --real's class subfolder of the same index "
        "(real images resized to the network's resolution)",
    )
    score.add_argument(
        "--metrics",
        default="fid,kid",
        help="comma-separated: fid, kid, isc, prc (or pr), copying (the data-copying audit; needs --test)",
    )
    score.add_argument(
        "--test",
        help="--metrics copying: held-out real images the generator never saw (--real is its training set)",
    )
    score.add_argument(
        "--copying-threshold",
        type=float,
        default=0.5,
        help="--metrics copying: flag generated images whose distance to the nearest training image is below "
        "this fraction of that image's own nearest-neighbour distance (default 0.5)",
    )
    score.add_argument("--copying-cells", type=int, help="--metrics copying: k-means cells (default: from --test)")
    score.add_argument(
        "--pairs", metavar="PNG", help="--metrics copying with --fake: write the closest generated/training pairs"
    )
    score.add_argument("--weights", help="weights file of the feature extractor (never downloaded for timm)")
    score.add_argument(
        "--extractor",
        default="inception-v3-compat",
        help="torch-fidelity extractor name, timm:MODEL with --weights, or pixels (the pixels themselves, for small "
        "images) (default inception-v3-compat)",
    )
    score.add_argument("--batch", type=int, default=64, help="images per extractor batch")
    score.add_argument("--kid-subset-size", type=int, default=1000, help="images per KID subset")
    score.add_argument("--cache-dir", help="cache the real set's features here")
    score.add_argument(
        "--value-range",
        default="-1,1",
        choices=["-1,1", "0,1", "0,255"],
        metavar="LOW,HIGH",
        help="range of float pixels in .pt/.npy tensors: -1,1 (default; write --value-range=-1,1), 0,1 or 0,255; "
        "folders and --network images are read as they are",
    )
    score.add_argument(
        "--fid-bootstrap",
        type=int,
        default=200,
        help="bootstrap resamples of FID's 95%% interval (default 200, at least 100; 0: no interval)",
    )
    score.add_argument(
        "--no-fid-floor", action="store_true", help="skip FID between two halves of the real set (the floor)"
    )
    score.add_argument(
        "--no-progress", action="store_true", help="no progress of the feature extraction and the FID bootstrap"
    )
    score.add_argument("--json", action="store_true", help="print one JSON object")
    add_threads_argument(score)
    score.set_defaults(func=run)
