#!/bin/sh
# Writes pairs.json from the six runs' records; run from the repository root.
D=experiments/results/hypergan-cifar5-cpu
python experiments/paired_runs.py --labels standardised raw_pixels \
    --pair 0 $D/metrics-test.json $D/protocol-ablation/raw-crop-flip-seed0/metrics-test.json \
    --pair 1 $D/protocol-ablation/standardized-seed1/metrics-test.json $D/protocol-ablation/raw-crop-flip-seed1/metrics-test.json \
    --pair 2 $D/protocol-ablation/standardized-seed2/metrics-test.json $D/protocol-ablation/raw-crop-flip-seed2/metrics-test.json \
    --what "HyperGAN CIFAR-5 (experiments/hypergan_cifar5_cpu.yaml, 2,000 steps, crops pad 4 + flips) standardised vs raw pixels (--set target.kwargs.standardize=false), training seeds 0-2, 5,000 test images, 100 networks each" \
    --out $D/protocol-ablation/pairs.json
