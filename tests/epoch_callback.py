"""A base for the tests' ``sklearn.callback`` callbacks: the hooks they do not use.

Duck-typed rather than derived from scikit-learn's protocol, whose module is absent
before scikit-learn 1.9 (the tests that set callbacks skip there)."""


class EpochCallback:
    """No-op ``setup``, ``teardown`` and ``on_fit_task_begin``; a test's callback
    defines ``on_fit_task_end`` (and whatever else it watches)."""

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, **kwargs):
        pass
