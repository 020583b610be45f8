"""The CaloChallenge 2022 evaluation protocol, re-implemented from its definitions.

- leaf (numpy only; no torch, scikit-learn or matplotlib): :mod:`.datasets` (the four datasets:
  geometry, particle, read-out threshold, classifier split), :mod:`.binning` (the histogram
  binnings and the separation power on them), :mod:`.features` (the high-level features and the
  classifier inputs), :mod:`.distances` (FPD and KPD as the challenge computes them) and
  :mod:`.published` (the final results of the challenge, package data);
- on top: :mod:`.classifier` (the low- and high-level DNN classifiers; PyTorch, scikit-learn),
  :mod:`.protocol` (``caloforge evaluate --protocol calochallenge``) and :mod:`.report` (its
  ``report.html``).

Importing this package loads none of its modules.
"""
