#!/bin/sh
# Writes report.json, report.md and training.png here from the committed run records: seed 001's
# MNIST recipe beside four cosine-decay settings, one training seed each. Run from the repository root.
R=experiments/results
python experiments/paper_scale.py --out $R/deutsch-mnist-paper-settings \
    --run "λ = 10³, constant rate (seed 001's recipe)=$R/deutsch-mnist-paper" \
    --run "λ = 10³, cosine decay=$R/deutsch-mnist-paper-cos-lam1e3" \
    --run "λ = 10³, cosine decay to 10⁻⁴=$R/deutsch-mnist-paper-cos-lam1e3-min1e4" \
    --run "λ = 300, cosine decay=$R/deutsch-mnist-paper-cos-lam300" \
    --run "λ = 10⁴, cosine decay=$R/deutsch-mnist-paper-cos-lam1e4"
