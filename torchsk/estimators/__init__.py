"""The scikit-learn layer: estimator classes, tasks and targets, the fit
pipeline, docs, callbacks."""
