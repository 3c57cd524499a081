#!/bin/sh
# Writes seeds.json from the three seeds' records; run from the repository root.
D=experiments/results/hypergan-cifar10-5000-cpu
python experiments/over_seeds.py $D/metrics-test.json $D/seed1/metrics-test.json $D/seed2/metrics-test.json \
    --what "HyperGAN CIFAR-10-5000 (experiments/hypergan_cifar10_5000_cpu.yaml, 1,000 steps), training seeds 0-2 (--set train.seed=S), 10,000 test images, 100 networks each; std_over_seeds is the sample standard deviation over the three seeds" \
    --out $D/seeds.json
