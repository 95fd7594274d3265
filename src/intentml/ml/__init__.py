"""The pure machine-learning layer: datasets, target resolution, training and serving.

Modules are imported individually (`from intentml.ml.serving import LoadedModel`) so
that a process that only serves predictions never imports pandas, and one that only
resolves targets imports neither pandas nor LightGBM.
"""
