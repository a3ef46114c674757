"""Parameter documentation shared by both estimators' numpydoc docstrings."""

COMMON_PARAMETERS = """\
hidden_layer_sizes : tuple of int, default=(100,)
        Widths of the hidden layers. ``()`` gives a linear model (a single-layer
        network).
    activation : str, default="relu"
        Hidden activation: ``"relu"``, ``"tanh"``, ``"logistic"``, ``"identity"``,
        ``"gelu"``, ``"silu"``, ``"elu"``, ``"leaky_relu"``, ``"mish"``, ``"selu"``.
    solver : {"adam", "adamw", "sgd", "lbfgs", "rprop"}, default="adam"
        Optimizer. ``"lbfgs"`` and ``"rprop"`` are full-batch methods; the others
        use mini-batches of ``batch_size``.
    alpha : float, default=0.3
        L2 penalty on the weight matrices, ``0.5 * alpha * ||W||² / n_samples``
        added to the loss, as in scikit-learn's MLP (whose default is 1e-4; torchsk
        trains on standardized data, where 0.3 generalizes better, see
        ``docs/comparison.md``).
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(64, n_samples)`` (scikit-learn: 200).
        Larger values are clipped to the number of samples (with a warning).
    learning_rate_init : float, default=2e-3
        Learning rate of ``adam``, ``adamw``, ``sgd`` and ``rprop``.
    max_iter : int, default=200
        Maximum number of epochs (L-BFGS: iterations).
    tol : float, default=1e-4
        Improvement below which an epoch counts as no improvement; for L-BFGS, the
        largest gradient entry at which it has converged.
    n_iter_no_change : int, default=10
        Epochs without an improvement of ``tol`` before stopping.
    shuffle : bool, default=True
        Shuffle the samples at every epoch.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when its score stops
        improving, and keep the weights of the best epoch.
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping=True``.
    warm_start : bool, default=False
        Continue from the previous fit's weights and optimizer state.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialization, shuffling, dropout and validation split.
        The same value gives identical predictions.
    verbose : bool, default=False
        Print the loss at every epoch.
    dropout : float, default=0.0
        Dropout rate after each hidden activation of the built-in MLP.
    input_scaling : {"standard", "minmax", "robust"} or None, default="standard"
        How X is scaled *inside* ``module_``; the constants are registered buffers
        fitted on the training data, so the module works on raw X.
    device : str or torch.device, default="cpu"
        Where to train and predict: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"``
        (CUDA when available).
    module : nn.Module or callable, default=None
        A backbone used instead of the built-in MLP: an ``nn.Module`` mapping
        ``n_features`` inputs to the model's outputs (its weights are copied and
        trained further), or a callable ``module(n_inputs, n_outputs)`` building one.
        Input scaling and the head still wrap it."""

COMMON_ATTRIBUTES = """\
module_ : TabularNet
        The trained ``nn.Module``: input scaling buffers → backbone → head. It runs on
        raw, unscaled float tensors. Small CPU problems are trained in float64
        (when ``6 × n_samples × n_parameters ≤ 1e8``), larger ones in float32.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when X was a DataFrame with string column names.
    n_outputs_ : int
        Number of outputs of the network.
    loss_curve_ : list of float
        Training loss at each epoch.
    best_loss_ : float
        Lowest training loss reached.
    validation_scores_ : list of float or None
        Held-out score at each epoch when ``early_stopping=True``, else None.
    best_validation_score_ : float
        Best held-out score (only with ``early_stopping=True``).
    n_iter_ : int
        Number of epochs (L-BFGS iterations) run.
    t_ : int
        Number of training samples seen."""
