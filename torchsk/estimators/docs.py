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
        use mini-batches of ``batch_size``. ``"adamw"`` is Adam with torch's decoupled
        weight decay (0.01) on top of ``alpha``. Each solver reads the parameters
        scikit-learn's reads and ignores the others, as scikit-learn does.
    alpha : float or "auto", default="auto" (regressor), 0.3 (classifier)
        L2 penalty on the weight matrices, ``0.5 * alpha * ||W||² / n_samples``
        added to each batch's loss, as in scikit-learn's MLP (whose default is 1e-4;
        torchsk trains on standardized data, where stronger penalties generalize
        better, see ``docs/comparison.md``). ``"auto"`` is ``400 / n`` clipped to
        ``[0.3, 1]``, ``n`` the training rows' total sample weight (class weights
        included; for ``partial_fit``, the call's rows): stronger on small tables,
        which overfit more (measured on the comparison suite with batches of 64);
        times ``batch / min(64, rows)`` on other batches (full batch: ``n / min(64, n)``),
        which keeps its strength per row (``alpha / batch``). The value a
        fit used is recorded in ``alpha_``. With k outputs whose losses the built-in
        regression losses average, the penalty weighs ``1/k`` against that mean:
        scikit-learn's MLP differentiates their sum, so ``alpha`` strikes the same
        balance as there (``"poisson"`` and the classifiers' losses sum already; a
        torch loss module keeps ``alpha`` as given).
        It penalises every trained parameter of two or more dimensions: the layers'
        weights (a user module's too) and the categorical columns' embedding tables
        (a one-hot column's weights are part of the first layer's, so both encodings
        are penalised alike); not the biases.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(64, n_samples)``, and scikit-learn's
        ``min(200, n_samples)`` for ``solver="sgd"`` (whose ``learning_rate_init`` MLP
        code tunes for those batches). Larger values are clipped to the number of
        samples (with a warning). Not used by the full-batch ``lbfgs`` and ``rprop``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Learning-rate schedule, as in scikit-learn; only used when ``solver="sgd"``.
        ``"constant"``: ``learning_rate_init`` throughout. ``"invscaling"``: after
        each epoch, ``learning_rate_init / (t + 1) ** power_t``, ``t`` the number of
        training samples seen so far. ``"adaptive"``: ``learning_rate_init`` as long
        as the training loss (with ``early_stopping``, the validation score) keeps
        improving; each time ``n_iter_no_change`` epochs fail to improve it by
        ``tol``, the rate is divided by 5, and training stops once it is at most 1e-6.
        As in scikit-learn, the count goes on across ``partial_fit`` calls and warm
        starts (after convergence, a warm start's first epoch divides the rate again);
        only a new network starts it again.
    learning_rate_init : float, default=1e-3 (regressor), 2e-3 (classifier)
        Initial learning rate of ``adam``, ``adamw`` and ``sgd``; the initial step
        size of ``rprop``. Not used by ``lbfgs`` (scikit-learn's default: 1e-3).
    power_t : float, default=0.5
        Exponent of the ``"invscaling"`` schedule. Only used when ``solver="sgd"``
        and ``learning_rate="invscaling"``.
    momentum : float, default=0.9
        Momentum of ``sgd``, between 0 and 1. Only used when ``solver="sgd"``.
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum. Only used when ``solver="sgd"`` and ``momentum > 0``.
    beta_1 : float, default=0.9
        Decay rate of Adam's first-moment estimates, in [0, 1). Only used when
        ``solver`` is ``"adam"`` or ``"adamw"``.
    beta_2 : float, default=0.999
        Decay rate of Adam's second-moment estimates, in [0, 1). Only used when
        ``solver`` is ``"adam"`` or ``"adamw"``.
    epsilon : float, default=1e-8
        Adam's term for numerical stability (torch's ``eps``: added to the
        bias-corrected root of the second moment). Only used when ``solver`` is
        ``"adam"`` or ``"adamw"``.
    max_iter : int, default=200
        Maximum number of epochs (L-BFGS: iterations).
    max_fun : int, default=15000
        Maximum number of loss evaluations of ``lbfgs`` (checked after each
        iteration, so its last line search may pass it by a few). Only used when
        ``solver="lbfgs"``.
    tol : float, default=1e-4
        Improvement below which an epoch counts as no improvement; for L-BFGS, the
        largest gradient entry at which it has converged. The regressor compares it
        with the loss (and gradient) on the scaled target, as training computes them,
        not in y's units as ``MLPRegressor`` does: one ``tol`` suits y in any units.
    n_iter_no_change : int or np.inf, default=10
        Epochs without an improvement of ``tol`` before stopping (``"adaptive"``:
        before dividing the learning rate), counted on across ``partial_fit`` calls
        and warm starts as scikit-learn counts them. Not used by ``lbfgs``. Unlike
        scikit-learn, a stop where the loss had risen well above its best (by more
        than ``tol`` and 10%) keeps, of the weights that began and ended the lowest-loss
        epoch and the last ones, those of the lowest training loss (measured; streamed:
        the lowest-loss epoch's), with a warning saying so; ``loss_`` is the last epoch's.
    shuffle : bool, default=True
        Shuffle the samples at every epoch.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (or score ``fit``'s ``X_val``,
        ``y_val`` when given), stop when its score stops improving, and keep the
        weights of the best epoch. Held-out rows that all weigh 0 in ``sample_weight``
        score nothing (``validation_scores_`` NaN, a warning; an all-0
        ``sample_weight_val`` is refused): training then stops on its loss. The score is
        R² or accuracy, as in scikit-learn's MLP, whatever the loss: a ``"quantile"``,
        ``"absolute_error"`` or ``"huber"`` fit stops where it is best for the mean (warned).
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping=True`` and ``fit``
        is given no ``X_val``.
    warm_start : bool, default=False
        Continue from the previous fit's weights. As in scikit-learn, each ``fit``
        starts a new optimizer (Adam's moments, sgd's momentum and the adaptive rate
        start afresh), warm or not; ``partial_fit`` keeps it across calls unless
        ``solver``, ``learning_rate_init`` or a setting the solver reads changed
        (scikit-learn keeps it and ignores the change). A change the fitted
        network cannot honour (``hidden_layer_sizes``, ``activation``, ``dropout``,
        ``input_scaling``, ``numeric_bins``, ``module``, ``categorical_features``, a
        ``loss``/``head``/``target_scaling`` that changes the output end, the
        ``device``) raises a ``ValueError`` before anything changes. As in
        scikit-learn, the count of epochs without improvement and the best loss (or,
        with early stopping, the best validation score) go on from the previous
        fit: a refit that never beats that score keeps the previous best weights.
        The input stage is the network's too: a warm fit keeps the first fit's
        scaling constants, bin edges and categories (a level it did not see is
        unseen), as ``partial_fit`` does.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialization, shuffling, dropout and validation split.
        The same value gives identical predictions.
    verbose : bool, default=False
        Print the loss at every epoch.
    dropout : float, default=0.0
        Dropout rate after each hidden activation of the built-in MLP.
    n_ensemble : int, default=1
        Number of built-in MLPs trained side by side on the same batches, each from
        its own random start, whose raw outputs are averaged before the head: the
        regression values (with ``head="exp"``, as a Poisson fit's, the log-rates: a
        geometric mean of the rates), or the logits. Averaging cuts the variance of
        a single fit on small, noisy tables; the cost is about ``n_ensemble`` times
        the arithmetic, in batched matrix products. Each member trains as it would
        alone (its own loss and penalty), except under ``solver="lbfgs"``, whose one
        line search steps all members' weights together; ``loss_``, ``loss_curve_`` and
        ``best_loss_`` are the members' mean, while the no-improvement rule (``tol``)
        compares their sum as training computes it. Ignored with ``module``.
    member_rows : {"all", "folds"}, default="all"
        Which rows each of the ``n_ensemble`` members trains on. ``"all"``: every
        row. ``"folds"``: the rows are split into ``n_ensemble`` folds (a classifier's
        single-label y as ``StratifiedKFold`` splits it, a class rarer than the folds
        in as many as it has rows, with its warning, also where all are; ``KFold``
        for multilabel y) and member ``m`` trains on all but fold ``m`` (cross-fitted
        members; one stacked network on shared batches, a member taking no step on
        a batch without its rows). Each member stops on its own, as a separate fit
        on its rows would: once its training loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, or, with ``early_stopping=True``, its score on
        its own fold (keeping its best epoch's weights, ``best_epochs_``; no
        ``validation_fraction`` is held out, so no row is lost to validation, and
        ``validation_scores_`` holds each epoch's out-of-fold score: R² or accuracy
        of every row by the member holding it out). A member's stopping point never
        depends on its fold's targets through the other members' losses (on the
        torch pass of large stacks and GPUs, a member's arithmetic moves by float
        rounding once others stop); the input and target scaling are the network's,
        computed on all the rows: its fold's values reach a member through them alone.
        A member whose loss diverges or rises stops there, with a warning, at its
        lowest measured training loss among its lowest epoch's and its last finite
        weights (with early stopping: at its best epoch's).
        ``n_iter_`` counts the epochs until the last member stopped; ``loss_curve_``
        is the mean training loss of the members that trained in each epoch. Either
        way, each row's prediction by the member that never trained on it is kept
        (``oof_prediction_``, ``oof_score_``): a validation score for free (with
        early stopping slightly optimistic, as each member chose its epoch on those
        rows). Needs ``n_ensemble >= 2``, the built-in network, a fresh
        ``fit`` (not ``partial_fit`` or a warm start), dense rows in memory, and a
        mini-batch solver with a fixed rate schedule (not ``lbfgs``, ``rprop`` or
        sgd's ``learning_rate="adaptive"``). A categorical column wide enough for an
        embedding gets a table per member (none learns from its fold).
    input_scaling : {"auto", "standard", "minmax", "robust"}, (center, scale) or \
None, default="auto"
        How X is scaled *inside* ``module_``; the constants are registered buffers
        fitted on the training data, so the module works on raw X. ``"auto"``
        standardizes each numeric column, except a column already scaled as
        scikit-learn's MLP documentation advises (its training values within
        [-1, 1]): spanning 0.5 or more, it is kept as given (centre 0, scale 1), so
        a learning rate tuned on it means what it meant; narrower, its scale is at
        least its range / 4, so that a value it rarely takes (a pixel almost always
        0) does not become 50 or more. The choice is per column, made on the
        training rows, and affine either way (``coefs_`` on raw X stay exact). A pair
        ``(center, scale)`` (scalars, or one value per numeric column) gives the
        constants themselves, as a hand-written ``register_buffer`` layer would hold
        them: ``input_scaling=(200, 10)`` for flipper lengths in millimetres.
        With sparse X the constants come from its stored entries and implicit
        zeros, without a dense copy (each batch is densified, then scaled, as it
        enters training); ``"robust"`` (quantiles) is refused there.
    numeric_bins : int, "auto" or None, default=None
        Also feed each numeric column (not the missing indicators) to the network as
        its piecewise-linear code over at most this many bins at the column's
        training quantiles (Gorishniy et al. 2022), computed *inside* ``module_``
        (the edges are registered buffers). The first layer can then bend its
        response at those edges, as a tree splits, instead of spending hidden units
        on it; the codes are scaled down so that the L2 penalty pulls towards the
        plain network. ``"auto"``: 32 bins while the codes add at most 2**24 values
        to the training data (rows × numeric columns × 32: e.g. 50,000 rows of 10
        numeric columns), none beyond (the codes would multiply the memory and the
        first layer's work by 33), none for a fit that streams a Dask collection
        (which does not sort its data), and none for ``hidden_layer_sizes=()`` (a
        linear model stays linear) or a ``module`` of your own (which expects
        ``n_features`` inputs). Ignored with ``module=ReusedBackbone(est)``, which
        reuses ``est``'s input encoding whole (its bin edges, scaling and categories,
        on every fold of a search): its hidden layers learned on it. Under
        ``partial_fit`` the first call's rows fix the edges and the ``"auto"``
        decision, as they fix the scaling constants. ``"auto"`` depends on the
        data's size, so in a search over folds pass a number. None: numbers go in as they
        are: the network ``MLPRegressor`` / ``MLPClassifier`` build. Opt-in, because
        outside the training range the outermost bins' codes go on linearly, with
        slopes learned on the rows of the first and last quantile alone (each of
        those two bins at least the column's mean bin width wide), and, with
        ``alpha=0``, bins let a small network zig-zag (``docs/defaults.md``). Sparse X
        gets no bins under ``"auto"`` (a number is refused there: quantiles).
    device : str or torch.device, default="cpu"
        Where to train and predict: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"``
        (CUDA when available).
    module : nn.Module, nn.Module class or callable, default=None
        A backbone used instead of the built-in MLP, mapping ``n_inputs`` inputs
        (``n_features``, unless ``numeric_bins`` or categorical columns widen them) to
        ``n_outputs`` outputs: the regressor's targets, or the classifier's logits
        (one per class; one for a binary target under the default sigmoid head).
        Input scaling and the head still wrap it, so the module must return logits,
        not probabilities: a classifier's module whose last layer is ``nn.Sigmoid``,
        ``nn.LogSigmoid``, ``nn.Softmax`` or ``nn.LogSoftmax``, or whose outputs are
        rows of (log-)probabilities, raises a ``ValueError`` at fit. Its ``forward``
        must return one tensor and must not cast it (``x.float()``): the module is
        cast to the network's dtype (float64 on the CPU for small problems, else
        float32) and gets its inputs in that dtype. Either an ``nn.Module``
        instance (its weights are copied and trained further); or, as in skorch, an
        ``nn.Module`` class, built at fit with the estimator's ``module__<name>=value``
        keyword arguments as ``<name>=value`` (``get_params``, ``set_params`` and
        ``GridSearchCV`` see them: a grid over ``module__num_units``), plus the widths
        as keywords under the first of these pairs its ``__init__`` names:
        ``n_inputs``/``n_outputs``, ``in_features``/``out_features`` (``nn.Linear``),
        ``input_units``/``output_units`` (``skorch.toy.MLPModule``),
        ``input_dim``/``output_dim`` (those of the pair it names, unless a
        ``module__`` argument sets them); a class naming none of them gets the widths
        as its first two positional arguments when two of its required arguments
        are left or it starts with ``*args``, else not at all; or any other callable,
        called as ``module(n_inputs, n_outputs, **module__params)``. What these
        build is copied as an instance is (never trained in place). Lazy layers
        (``nn.LazyLinear``, ...) get their shapes from two rows of zeros, in eval mode.
    categorical_features : "auto", "from_dtype", array-like of str, int or bool, or \
None, default="auto"
        Which columns are categorical, with ``HistGradientBoosting*``'s spellings:
        ``"auto"`` (or HGB's ``"from_dtype"``, the same here) takes pandas
        ``category``, ``object`` and string columns and polars ``Categorical``,
        ``Enum`` and ``String`` columns (not an ``object`` column of
        numbers or booleans only, such as ``Decimal``, or of missing values only:
        numbers, later read as missing whatever they hold; no column of a numpy array);
        or a list of column names, of indices, or a boolean mask (for numpy object
        arrays and integer-coded categories); ``None``: all numeric. Categorical
        columns are encoded inside ``module_``: one-hot up to 64 slots, else learned
        8-wide embeddings; levels seen in fewer than 5 training rows share a "rare"
        slot, which also takes levels never seen in training; missing values get a
        slot of their own. Missing numeric values (NaN, None, ``pd.NA``, polars null)
        are imputed inside the module with the training mean, plus a 0/1 indicator
        input for each column that had missing values in training."""


COMMON_ATTRIBUTES = """\
module_ : TabularNet
        The trained ``nn.Module``: input stage (imputation, scaling, categorical
        encoding: buffers and embeddings) → backbone → head. It runs on raw, unscaled
        float tensors (``to_module_input``; categorical columns enter as codes into
        ``categories_``, even where X held numbers there). Small CPU problems are
        trained in float64 (when ``6 × n_samples × n_parameters ≤ 1e8``), larger ones
        in float32. It is in eval mode and its parameters do not require gradients
        (after ``fit`` and after loading), so calling it builds no autograd graph; to
        train it in your own loop, call ``module_.train().requires_grad_()``.
    n_features_in_ : int
        Number of features seen during fit.
    is_categorical_ : ndarray of bool of shape (n_features_in_,)
        Which features are treated as categorical.
    categories_ : list of (ndarray or None) of length n_features_in_
        The training categories of each categorical feature (code ``k`` in
        ``to_module_input``'s output stands for ``categories_[j][k]``), None for
        numeric features.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when X was a DataFrame with string column names.
    n_outputs_ : int
        Number of outputs of the network.
    alpha_ : float or ndarray of shape (n_members,)
        The L2 penalty the last ``fit`` or ``partial_fit`` trained with: ``alpha``,
        with ``"auto"`` resolved for its rows and batches (a ``GridSearchCV`` fold's
        and its refit's can differ: they have other row counts); one per member where the
        members trained with their own (a ``BatchedSearchCV`` network's candidates;
        cross-fitted members: ``"auto"`` resolved on each one's rows).
    coefs_ : list of ndarray, length n_layers_ - 1
        ``coefs_[i]`` is the weight matrix of layer ``i``, of shape ``(n_in, n_out)``,
        as in scikit-learn's MLP, and ``intercepts_[i]`` its bias vector: the built-in
        MLP's layers acting on raw X, with the input scaling folded into the first
        layer and (regression) the target scaling into the last, so that for
        ``hidden_layer_sizes=()`` ``X @ coefs_[0] + intercepts_[0]`` is ``predict(X)``
        (classification: ``decision_function(X)``'s logits; ``loss="poisson"``: their
        ``exp``). Missing values: the coefficients hold for rows without them (the
        missing indicators' weights are left out). Computed from ``module_`` at each
        access (read-only, in the network's dtype: assigning raises). An ``AttributeError``
        where no such layers exist: with ``n_ensemble > 1`` or a ``module`` of your own
        (read ``module_.backbone``), and where the input stage is not affine
        (categorical columns, ``numeric_bins``: the weights on the encoded inputs are
        ``module_.backbone.linears()``) or the target scaling cannot be folded (a
        ``softplus`` head).
    intercepts_ : list of ndarray, length n_layers_ - 1
        Bias vectors, ``intercepts_[i]`` of shape ``(n_out,)`` (see ``coefs_``).
    n_layers_ : int
        The network's layers, the input and output layers counted as scikit-learn
        counts them: ``len(hidden_layer_sizes) + 2`` for the built-in MLP, the
        donor's count for a ``ReusedBackbone``; an ``AttributeError`` for a
        ``module`` of your own.
    out_activation_ : str
        The output function, named as in scikit-learn: ``"identity"`` (regression;
        ``"exp"`` or ``"softplus"`` for those heads), ``"logistic"`` (binary and
        multilabel targets, one sigmoid logit per class), ``"softmax"``.
    loss_curve_ : list of float
        Training loss at each epoch (L-BFGS: iteration), plus the L2 penalty. For
        regression it is in y's units, as ``MLPRegressor`` reports it: training
        computes it on the scaled target, and the record converts it with the target
        scaling's ``scale`` (squared error and Huber: times ``scale²``, Huber's
        threshold then being ``scale * huber_delta`` in y's units; absolute error and
        quantile: times ``scale``; Poisson: scikit-learn's half deviance, summed over
        outputs). The penalty is converted with the same factor, so the curve is the
        objective training minimized. Outputs of different scales convert with their
        factors weighed by each output's loss at the trained weights (one pass over
        the training rows after ``fit``; ``partial_fit`` and streamed fits take the
        mean factor), so ``loss_`` is the final network's loss in y's units; a torch
        loss module's loss has no conversion and stays on the scaled target.
    loss_ : float
        The last entry of ``loss_curve_``; ``inf`` when training diverged in its
        first epoch (``loss_curve_`` is then empty). As in scikit-learn, the last
        epoch's even where earlier weights are kept (early stopping, a risen loss).
    best_loss_ : float or None
        Lowest training loss reached; None under early stopping (as in scikit-learn:
        ``early_stopping=True``, a solver other than ``lbfgs``), where
        ``best_validation_score_`` counts.
    validation_scores_ : list of float or None
        Held-out score at each epoch when ``early_stopping=True`` (on ``fit``'s
        ``X_val``, ``y_val`` when given), else None.
    best_validation_score_ : float or None
        Best held-out score under early stopping, else None. With
        ``member_rows="folds"``: the kept model's, ``oof_score_`` (each member at its
        own best epoch), which can beat every epoch's entry in ``validation_scores_``.
    best_epochs_ : list of int
        With ``member_rows="folds"`` and early stopping: each member's best epoch on
        its own fold (1-based), whose weights it kept; 0 for a member that diverged
        before its first epoch ended (it keeps its initial weights).
    oof_prediction_ : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        With ``member_rows="folds"``: each training row's prediction by the member
        that held it out (as ``predict`` gives it), in the rows' order.
    oof_score_ : float
        With ``member_rows="folds"``: ``score`` of ``oof_prediction_`` against y
        (R² or accuracy), weighted by ``sample_weight`` (times ``class_weight``, as
        early stopping's validation scores are): an estimate of the score on new data
        that costs no held-out set. The input and target scaling (and
        ``class_weight="balanced"``) are computed on all the rows (``alpha="auto"`` on
        each member's), so each member's scaling has seen its fold's values: a slight
        optimism besides early stopping's.
    n_iter_ : int
        Number of epochs (L-BFGS iterations) run by the last call to ``fit`` or
        ``partial_fit``, as scikit-learn counts them: a warm start or a later
        ``partial_fit`` starts the count again (``partial_fit``: 1, or 0 where its
        epoch diverged and the weights before it were kept). The epochs of all calls
        are ``len(loss_curve_)``, but for an L-BFGS fit that stopped at its starting
        point (a large ``tol``): 0 iterations, and its starting loss in
        ``loss_curve_`` as its ``loss_``.
    t_ : int
        Number of training samples seen (0 for ``lbfgs``, as in scikit-learn)."""


#: What both estimators' ``partial_fit`` docstrings say of an epoch and of the
#: constants (indented for a method's docstring).
PARTIAL_FIT_NOTES = """\
With ``solver="rprop"`` an epoch is one full-batch step (its step sizes carry
        over between calls). With ``solver="lbfgs"``, as in ``MLPRegressor``, each
        call runs L-BFGS on the given data from the current weights for up to
        ``max_iter`` iterations, which is ``fit`` with ``warm_start=True``: it suits
        refitting on new data, not streaming small chunks (use ``adam`` or ``sgd``).
        ``TorchClassifier`` has no ``partial_fit`` with ``"lbfgs"``, as
        ``MLPClassifier`` has none.

        The optimizer's state (Adam's moments, momentum, Rprop's step sizes) is
        saved with the estimator: a pickled, reloaded (joblib, skops) or
        ``copy.deepcopy``-ed estimator's next ``partial_fit`` continues it, as
        scikit-learn's does, so a checkpointed stream resumes where it stopped.

        The first call fits the input stage's constants (scaling, imputation values,
        categories) on the data it is given, and later calls keep them. For constants
        exact over data that arrives in chunks, make the first call on all of it as a
        Dask collection (e.g. ``dask.array.concatenate`` of the chunks): its
        statistics are computed by Dask over every row, and it trains one epoch
        streamed block by block; later calls then continue chunk by chunk (see the
        "Large data" page)."""


#: ``fit``'s X and X_val entries, the same in both estimators (indented for a
#: method's docstring).
FIT_X = """\
X : array-like, sparse matrix, tensor, Dask collection or iterable of batches
            Raw, unscaled input data of shape (n_samples, n_features): arrays,
            DataFrames, ``scipy.sparse`` matrices and arrays (kept sparse: densified
            a batch at a time), torch tensors (read in place), Dask arrays and
            DataFrames (streamed block by block); or an iterable of ``(X, y)`` or
            ``(X, y, sample_weight)`` batches, such as a torch ``DataLoader`` (read in
            passes, never whole; y and sample_weight come with them; re-cut to ``batch_size``)."""

#: ``partial_fit``'s X entry, the same in both estimators (indented for a method's
#: docstring).
PARTIAL_FIT_X = """\
X : array-like, sparse matrix, tensor, Dask collection or iterable of batches
            Raw input data of shape (n_samples, n_features), taken as ``fit`` takes
            it. An iterable of ``(X, y)`` or ``(X, y, sample_weight)`` batches (a
            torch ``DataLoader``) is one epoch over all its batches, given with
            ``y=None``: for one batch at a time, pass its arrays as X and y."""

FIT_X_VAL = """\
X_val : array-like of shape (n_val, n_features), default=None
            A validation set for early stopping, used instead of holding out
            ``validation_fraction`` of X (as ``HistGradientBoosting*.fit``'s):
            ``validation_scores_`` are the scores on it, and the weights of the best
            epoch are kept. Validated as X is (the fitted columns, categories and
            feature names). Needs ``early_stopping=True`` and a solver other than
            ``"lbfgs"``, else a ``ValueError``; the only way to stop early on a Dask X
            or on batches."""

#: ``fit``'s ``sample_weight`` (both estimators; indented for a method's docstring).
FIT_SAMPLE_WEIGHT = """\
sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights; a weight of k counts as k repeated rows, in the loss
            and, as in scikit-learn's MLP, in the L2 penalty's ``n`` (and
            ``alpha="auto"``): weights that sum to 1 make the penalty as strong as
            on one row (a warning says so; ``alpha`` over the mean weight beyond
            1e30 is refused). Scale them to average 1. Weights far from 1 are
            taken divided by a power of two, the penalty alike (the same objective,
            which float32 holds). Rows of weight 0 count as left out for L-BFGS;
            mini-batches still hold them (each batch's penalty by its weight
            total), so for ``adam`` and ``sgd`` drop such rows to get the fit of
            the smaller table."""


def fill_docstring(obj, **parts: str) -> None:
    """Fill the ``{placeholders}`` of ``obj``'s docstring with ``parts``, and those of
    every function it wraps (``__wrapped__``: ``fit``'s decorators), whose docstrings
    the documentation site reads when it unwraps a method.

    Parameters
    ----------
    obj : class or function
        Its docstring holds ``str.format`` placeholders (doubled braces for literal
        ones); each one in the chain is filled once.
    **parts : str
        The text for each placeholder.
    """
    while obj is not None:
        obj.__doc__ = obj.__doc__.format(**parts)
        obj = getattr(obj, "__wrapped__", None)
