"""Krizhevsky, Sutskever & Hinton 2012: the network, its pipeline and its recipe.

model.py (the two-tower network) and towers.py (its two-device split); ops/
(the per-layer-type implementation seam); datasets.py, loader.py, pack.py,
stats.py, augment.py (the paper's input pipeline); data.py (which images a
run reads); recipe.py and evaluation.py (what is trained and how it is
scored); experiment.py and cli.py (the `alexnet2012` app); pack_cli.py
(`alexnet2012-pack`). Training itself is repro.train.fit.
"""
