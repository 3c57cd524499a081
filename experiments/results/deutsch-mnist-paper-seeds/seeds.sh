#!/bin/sh
# Writes report.json, report.md and training.png here from the committed run records: seed 001's
# MNIST recipe and the four decayed settings, each with two training seeds (--set train.seed=1).
# Run from the repository root.
R=experiments/results

# paper_scale.py over the four decayed settings, after the runs given as arguments.
decayed() {
    python experiments/paper_scale.py "$@" \
        --run "λ = 300, decay to 5·10⁻⁵=$R/deutsch-mnist-paper-cos-lam300" \
        --run "λ = 300, decay to 5·10⁻⁵=$R/deutsch-mnist-paper-cos-lam300-seed1" \
        --run "λ = 10³, decay to 10⁻⁴=$R/deutsch-mnist-paper-cos-lam1e3-min1e4" \
        --run "λ = 10³, decay to 10⁻⁴=$R/deutsch-mnist-paper-cos-lam1e3-min1e4-seed1" \
        --run "λ = 10⁴, decay to 5·10⁻⁵=$R/deutsch-mnist-paper-cos-lam1e4" \
        --run "λ = 10⁴, decay to 5·10⁻⁵=$R/deutsch-mnist-paper-cos-lam1e4-seed1" \
        --run "λ = 10³, decay to 5·10⁻⁵=$R/deutsch-mnist-paper-cos-lam1e3" \
        --run "λ = 10³, decay to 5·10⁻⁵=$R/deutsch-mnist-paper-cos-lam1e3-seed1"
}

decayed --out $R/deutsch-mnist-paper-seeds \
    --run "λ = 10³, constant (seed 001's recipe)=$R/deutsch-mnist-paper" \
    --run "λ = 10³, constant (seed 001's recipe)=$R/deutsch-mnist-paper-seed1"
# The decayed settings alone: does λ move anything beyond the seeds' spread?
decayed --out $R/deutsch-mnist-paper-seeds/decayed
