"""Shared helpers of the MMA440 Keras lecture examples.

Only what many scripts share and no student needs to read to follow a lesson lives here:
dataset loaders (`common.data`), the figure style (`common.plotting`), the quiet TensorFlow
start-up (`common.quiet`) and the script runner and benchmark (`common.run`, `common.bench`).
"""
