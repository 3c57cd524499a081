#!/bin/sh
# Writes pairs.json from the six runs' records; run from the repository root.
D=experiments/results/hypergan-mnist-cpu/protocol-ablation
python experiments/paired_runs.py --ood --labels standardised raw_pixels \
    --pair 0 $D/standardized-seed0/metrics-test.json $D/raw-seed0/metrics-test.json \
    --pair 1 $D/standardized-seed1/metrics-test.json $D/raw-seed1/metrics-test.json \
    --pair 2 $D/standardized-seed2/metrics-test.json $D/raw-seed2/metrics-test.json \
    --what "HyperGAN MNIST (experiments/hypergan_mnist_cpu.yaml, 2,500 steps) with seed 002's reference input normalisation ((x - 0.1307) / 0.3081, --set target.kwargs.standardize=true) vs raw pixels (the recipe), training seeds 0-2, 10,000 test images, 100 networks each; OOD: MNIST test vs notMNIST (10,000 each), 100 networks" \
    --out $D/pairs.json
