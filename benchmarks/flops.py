"""Training FLOPs per sample of open_clip CLIP presets and a projection to 8-GPU nodes (docs/scaling.md).

    python benchmarks/flops.py [--presets tiny-clip,benchmarks/configs/clip-mid.json,ViT-B-32]
        [--peak-tflops 989] [--mfu 0.35,0.15] [--gpus 8,64] [--batch-per-gpu 256]

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` over one forward + backward of the CLIP
(image + text towers, batch 2, divided by 2) — matmuls and convolutions, i.e. what MFU counts; the contrastive
loss (B × B × D per rank) and AdamW are left out (< 1 % at these sizes). Projection, per GPU:

    step time = FLOPs/sample × batch_per_gpu / (peak × MFU)          (compute; communication assumed overlapped)
    samples/s = gpus × batch_per_gpu / step time

``--peak-tflops`` is the dense bf16 peak (H100 SXM 989, A100 312). The gradient all-reduce needed per step,
2 × (gpus - 1) / gpus × parameter bytes (bf16), is printed beside it, to compare with the link bandwidth.
"""

from __future__ import annotations

import argparse


def train_flops_per_sample(name: str) -> tuple[float, int]:
    """(fwd + bwd FLOPs per sample, parameter count) of the open_clip CLIP preset ``name``."""
    import open_clip
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mlmm.models.towers.openclip import resolve_openclip_preset

    preset = resolve_openclip_preset(name)
    cfg = {k: preset[k] for k in ("embed_dim", "vision_cfg", "text_cfg")}
    model = open_clip.CLIP(**cfg)
    size = cfg["vision_cfg"].get("image_size", 224)
    length = cfg["text_cfg"].get("context_length", 77)
    images, texts = torch.randn(2, 3, size, size), torch.randint(0, 100, (2, length))
    counter = FlopCounterMode(display=False)
    with counter:
        image, text, scale = model(images, texts)
        (image.sum() + text.sum() + scale).backward()
    return counter.get_total_flops() / 2, sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="tiny-clip,benchmarks/configs/clip-mid.json,ViT-B-32")
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--mfu", default="0.35,0.15")
    parser.add_argument("--gpus", default="8,64")
    parser.add_argument("--batch-per-gpu", type=int, default=256)
    args = parser.parse_args()
    mfus = [float(m) for m in args.mfu.split(",")]
    gpus = [int(g) for g in args.gpus.split(",")]
    print("| preset | params M | train GFLOP/sample | " + " | ".join(
        f"{g} GPUs @ {m:.0%} MFU: step s, samples/s" for g in gpus for m in mfus) + " | all-reduce MB/step/GPU |")  # fmt: skip
    print("|---" * (4 + len(gpus) * len(mfus)) + "|")
    for name in args.presets.split(","):
        flops, params = train_flops_per_sample(name)
        cells = []
        for g in gpus:
            for m in mfus:
                step = flops * args.batch_per_gpu / (args.peak_tflops * 1e12 * m)
                cells.append(f"{step:.3f}, {g * args.batch_per_gpu / step:,.0f}")
        allreduce = 2 * (max(gpus) - 1) / max(gpus) * params * 2 / 2**20
        print(
            f"| {name} | {params / 1e6:.1f} | {flops / 1e9:.2f} | "
            + " | ".join(cells)
            + f" | {allreduce:.0f} |"
        )
    print(f"# peak {args.peak_tflops} TFLOP/s per GPU (dense bf16), batch {args.batch_per_gpu} per GPU")


if __name__ == "__main__":
    main()
