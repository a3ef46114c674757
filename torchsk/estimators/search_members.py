"""How a batched search lays out its members (``estimators.search``): which rows
train each member and which it stops on, its settings and initial-weight seed, and
what a candidate cannot be as a member; which candidates share a network; what a
search refuses."""

from __future__ import annotations

import copy
from dataclasses import fields

import numpy as np
import torch
from sklearn.base import clone, is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import _num_samples

from torchsk.data.checks import refuse_missing_targets
from torchsk.data.columns import from_arrow
from torchsk.data.dask import is_dask
from torchsk.data.sparse import is_sparse
from torchsk.estimators.callbacks import managed_fit
from torchsk.estimators.iterable import is_batches
from torchsk.estimators.same import same_value
from torchsk.estimators.selection import Blend
from torchsk.training.holdout import check_validation_split, stratify_labels
from torchsk.training.losses import LossOptions
from torchsk.training.members import MemberRows

#: The loss settings a member can hold its own (those its estimator has).
LOSS_SETTINGS = tuple(f.name for f in fields(LossOptions))

#: The parameters that members of one stacked network can hold each their own
#: (``random_state``: the initial weights; the network's batches are the estimator's).
MEMBER_PARAMS = ("alpha", "learning_rate_init", "random_state", "dropout", *LOSS_SETTINGS)

#: Parameters the search sets itself on each group's network.
SEARCH_OWNED = ("n_ensemble", "member_rows")


def member_rows(est, rows: np.ndarray, y, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """A fold's training rows, and with ``early_stopping`` the share of them that
    its members hold out to stop on (the same for every candidate of the fold),
    drawn as a separate fit draws them (``training.holdout.stratify_labels``). Where
    that split cannot be drawn (too few rows), the error is the one a separate fit
    raises."""
    if not est.early_stopping:
        return rows, rows[:0]
    labels = stratify_labels(
        np.asarray(_safe_indexing(y, rows)), is_classifier(est), est.validation_fraction
    )
    check_validation_split(est.validation_fraction, len(rows), labels)
    seed = seed_of(est.random_state) + fold  # a RandomState drawn from as a copy
    return tuple(train_test_split(rows, test_size=est.validation_fraction,
                                  random_state=seed, stratify=labels))  # fmt: skip


def seed_of(random_state) -> int:
    """A base seed for members, from a ``random_state``: the seed a separate fit of
    that ``random_state`` draws (``BaseTorchEstimator._fit``), so a member of offset 0
    starts from its weights. A ``RandomState`` is drawn from as a copy, as
    ``GridSearchCV``'s clones do: the user's object stays as it is, and every network
    (chunk, refit) draws the same seed from it."""
    if isinstance(random_state, np.random.RandomState):
        random_state = copy.deepcopy(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def member_seeds(est, params: list[dict], offsets) -> list[int]:
    """Each member's initial-weight seed: its candidate's ``random_state`` (the
    network's, ``est``'s, where the grid sets none) plus its offset (its fold). Drawn
    once per distinct ``random_state`` value, so the candidates of one value (``None``
    included) start alike on a fold."""
    drawn: list[tuple] = []  # (random_state, its seed); a RandomState by identity

    def seed(state) -> int:
        for value, known in drawn:
            plain = value is None or isinstance(value, int | np.integer)
            if value is state or (plain and value == state):
                return known
        drawn.append((state, seed_of(state)))
        return drawn[-1][1]

    return [seed(p.get("random_state", est.random_state)) + offset
            for p, offset in zip(params, offsets, strict=True)]  # fmt: skip


def member_settings(est, params: list[dict], folds: list[tuple], n_rows: int,
                    seeds: list, separate_fits: bool = False,
                    split: bool = False) -> MemberRows:  # fmt: skip
    """Members ``(params[m], folds[m])``: each its training rows, early-stopping rows
    (with ``early_stopping``), ``alpha``, learning rate, initial-weight seed, dropout
    and loss settings; ``separate_fits``: they stand for separate fits (one split's
    network, ``MemberRows.separate_fits``); ``split``: with ``early_stopping``, the
    members train on ``folds[0]``'s training rows alone, in their order, as a separate
    fit does after its split (``MemberRows.split``): only for members that all have
    the rows ``folds[0]`` (one split's network, a refit)."""
    train = np.zeros((n_rows, len(params)), dtype=bool)
    validation = np.zeros_like(train)
    for m, (rows, held) in enumerate(folds):
        train[rows, m], validation[held, m] = True, True
    return MemberRows(
        train, tuple(p.get("alpha", est.alpha) for p in params),
        tuple(p.get("learning_rate_init", est.learning_rate_init) for p in params),
        validation if est.early_stopping else None, tuple(seeds),
        tuple(float(p.get("dropout", est.dropout)) for p in params),
        tuple(loss_options(est, p) for p in params), separate_fits,
        tuple(folds[0]) if split and est.early_stopping else None,
    )  # fmt: skip


def split_members(est, y, params: list[dict], folds: list[int], local: list,
                  n_rows: int) -> MemberRows:  # fmt: skip
    """Members of the candidates ``params`` × the splits ``folds`` (their rows
    ``local``). A fold's candidates start alike, as ``GridSearchCV``'s do under one
    ``random_state``, offset by the fold; a split's own network stands for separate
    fits (offset 0: initial weights and early-stopping rows drawn as theirs)."""
    shift = [0 if len(folds) == 1 else f for f in folds]
    layout = [member_rows(est, rows, y, s) for s, (rows, _) in zip(shift, local, strict=True)]
    every = [p for p in params for _ in folds]
    seeds = member_seeds(est, every, shift * len(params))
    one = len(folds) == 1  # a split's own network: its separate fits' rows and batches
    return member_settings(est, every, layout * len(params), n_rows, seeds, one, split=one)


def loss_options(est, params: dict) -> LossOptions:
    """A member's loss settings: ``params``' where they set them, else ``est``'s."""
    own = [name for name in LOSS_SETTINGS if hasattr(est, name)]
    return LossOptions(**{name: params.get(name, getattr(est, name)) for name in own})


def network(estimator, params: dict, n_members: int):
    """The estimator of a group's stacked network: ``estimator`` with ``params``'
    non-member parameters, ``n_members`` members given their rows."""
    shared = {k: v for k, v in params.items() if k not in MEMBER_PARAMS}
    shared = clone(shared, safe=False)  # the user's values untouched by the fit
    est = clone(estimator).set_params(**shared, n_ensemble=n_members, member_rows="all")
    est._validate_params()
    return est


def rows_of(X, y, sample_weight, splits: list, folds: list[int]):
    """What the network of the splits ``folds`` trains on: all rows, and those
    splits; for one split its training rows alone, as a separate fit has them, and
    that split over them (its training rows are all of them)."""
    if len(folds) > 1:
        return X, y, sample_weight, [splits[f] for f in folds]
    rows = splits[folds[0]][0]
    if sample_weight is not None:
        sample_weight = _safe_indexing(sample_weight, rows)
    local = [(np.arange(len(rows)), rows[:0])]
    return _safe_indexing(X, rows), _safe_indexing(y, rows), sample_weight, local


def refusal(est) -> str | None:
    """Why ``est`` (one candidate's settings) cannot train as a member, or None."""
    if est.module is not None:
        return "needs the built-in network (module=None)"
    if est.n_ensemble != 1 or est.member_rows != "all":
        return (
            "trains one network per candidate (n_ensemble=1, member_rows='all'); "
            "members are its own"
        )
    if est.warm_start:
        return "starts every candidate afresh (warm_start=False)"
    if est.solver in ("lbfgs", "rprop"):
        # one line search (lbfgs) or one stopping point for all members would tie
        # each member's fit to the others' (and to their held-out rows)
        return f"trains members apart only with mini-batch solvers, not solver={est.solver!r}"
    if est.solver == "sgd" and est.learning_rate == "adaptive":
        return "has no per-member adaptive rate yet (learning_rate='adaptive')"
    return None


def candidate_groups(candidates: list[dict], per_chunk: int) -> list[list[int]]:
    """Candidate indices grouped by their non-member parameters (equal values: by
    value, modules by identity), each group cut into chunks of at most ``per_chunk``
    candidates."""
    groups: list[tuple[dict, list[int]]] = []
    for i, params in enumerate(candidates):
        shared = {k: v for k, v in params.items() if k not in MEMBER_PARAMS}
        for key, members in groups:
            if key.keys() == shared.keys() and all(same_value(key[k], shared[k]) for k in key):
                members.append(i)
                break
        else:
            groups.append((shared, [i]))
    return [g[i : i + per_chunk] for _, g in groups for i in range(0, len(g), per_chunk)]


def check_fold_weights(sample_weight, fold: int, rows: np.ndarray) -> None:
    """Refuse a split whose members' training rows (without their early-stopping
    rows) all weigh 0: they would learn nothing and be scored untrained, where a
    separate fit refuses such weights."""
    if sample_weight is None:
        return
    if not np.any(np.asarray(_safe_indexing(sample_weight, rows), dtype=float)):
        raise ValueError(
            f"The training rows of split {fold} all have zero sample_weight: its members "
            "would learn nothing. Give them weight, or use other splits."
        )


def unfitted_copy(search):
    """``clone(search)`` without ``cv``, for a network's fit: the splits are made
    already, and a generator of splits (which ``GridSearchCV`` takes) cannot be copied."""
    params = search.get_params(deep=False)
    del params["cv"]
    return type(search)(**{k: clone(v, safe=False) for k, v in params.items()}, cv=None)


def candidate_estimator(estimator, params: dict):
    """A clone of ``estimator`` with one candidate's ``params``, the values cloned as
    ``GridSearchCV`` clones them (a ``RandomState`` in the grid is not drawn from)."""
    return clone(estimator).set_params(**clone(params, safe=False))


def check_rows(X, y, estimator):
    """Refuse what a search's folds cannot index (rows not dense and in memory), and
    a missing y or target (scikit-learn's messages for a fit); return ``X`` and ``y``,
    a pyarrow table as a DataFrame (``data.columns.from_arrow``), dense CPU tensors
    as numpy arrays (what the estimator reads them as; ``GridSearchCV`` takes them)."""
    X, y = _from_cpu_tensor(X), _from_cpu_tensor(y)
    if any(test(X) for test in (is_sparse, is_dask, is_batches)) or torch.is_tensor(X):
        raise ValueError(
            "BatchedSearchCV needs dense rows in memory (not sparse, Dask, batches or a "
            "tensor numpy cannot hold: on a GPU, in bfloat16)."
        )
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None."
        )
    refuse_missing_targets(y)  # before the folds read it (check_cv's TypeError)
    return from_arrow(X), y


def _from_cpu_tensor(values):
    """A dense CPU tensor of a dtype numpy holds as a numpy array (a view)."""
    if torch.is_tensor(values) and values.device.type == "cpu" and values.layout == torch.strided:
        if values.dtype not in (torch.bfloat16, torch.complex32):
            return values.detach().resolve_conj().resolve_neg().numpy()
    return values


def index_splits(splits) -> list[tuple[np.ndarray, np.ndarray]]:
    """A cv's splits as row indices (a cv may give boolean masks, as
    ``GridSearchCV`` accepts them)."""
    return [tuple(np.flatnonzero(part) if part.dtype == bool else part
                  for part in map(np.asarray, split)) for split in splits]  # fmt: skip


def invalid_candidates(search, candidates: list[dict], n_splits: int) -> dict[int, Exception]:
    """The candidates whose parameters their own fit would refuse, by index, with the
    error it would raise (``GridSearchCV`` scores them ``error_score``); that error
    raised where ``error_score="raise"``. No candidates at all, or none valid, raise
    as ``GridSearchCV`` does (``all_fits_failed``)."""
    if not candidates:
        raise ValueError("No fits were performed. Were there no candidates?")
    invalid = {}
    for i, params in enumerate(candidates):
        # a name the estimator lacks raises here, as in GridSearchCV: a typo in the grid
        # is the user's error, not a candidate's score
        candidate = candidate_estimator(search.estimator, params)
        try:
            candidate._validate_params()
        except (ValueError, TypeError) as error:  # InvalidParameterError is both
            if search.error_score == "raise":
                raise
            invalid[i] = error
    if len(invalid) == len(candidates) and n_splits:
        raise all_fits_failed(invalid, n_splits) from next(iter(invalid.values()))
    return invalid


def all_fits_failed(invalid: dict, n_splits: int) -> ValueError:
    """``GridSearchCV``'s error when every fit failed (here: every candidate's own fit
    refused its parameters, ``invalid``), with its summary: each distinct error and
    how many fits it failed."""
    counts: dict[str, int] = {}
    for error in invalid.values():
        text = f"{type(error).__name__}: {error}"
        counts[text] = counts.get(text, 0) + n_splits
    summary = "\n".join(
        f"{n} fits failed with the following error:\n{text}" for text, n in counts.items()
    )
    return ValueError(
        f"\nAll the {len(invalid) * n_splits} fits failed.\n"
        "It is very likely that your model is misconfigured.\n"
        "You can try to debug the error by setting error_score='raise'.\n\n"
        f"Below are more details about the failures:\n{summary}"
    )


def check_search(search, y, candidates: list[dict], splits: list, sample_weight) -> None:
    """Refuse, before anything is fitted, what a search's (``BatchedSearchCV``'s)
    members cannot be (``candidates``: those whose parameters ``invalid_candidates``
    let through); each candidate's early-stopping rows are drawn once (too few raise
    here, as training rows that all weigh 0 do).

    Raises
    ------
    ValueError
        Naming what the search cannot do.
    """
    settings = [candidate_estimator(search.estimator, c) for c in candidates]
    for est in settings:  # validated by ``invalid_candidates``
        for f, (rows, _) in enumerate(splits):
            check_fold_weights(sample_weight, f, member_rows(est, rows, y, f)[0])
    if not splits:  # GridSearchCV's words (the division by the splits would fail first)
        raise ValueError(
            "No fits were performed. Was the CV iterator empty? Were there no candidates?"
        )
    why = None
    if (
        search.ensemble
        and is_classifier(search.estimator)
        and np.ndim(y) > 1
        and np.shape(y)[1] > 1
    ):
        why = "selects ensembles of single-label classifiers only (y has several columns)"
    elif (
        search.separate_folds
        and search.ensemble
        and is_classifier(search.estimator)
        and any(len(np.unique(_safe_indexing(y, rows))) < len(np.unique(y)) for rows, _ in splits)
    ):  # fold networks without a class give out-of-fold probabilities without it
        why = "with separate_folds selects ensembles of folds that train on every class"
    elif not search.separate_folds and any(len(np.unique(r)) < len(r) for r, _ in splits):
        # the shared network marks each member's rows (a mask): a repeat would count once
        why = (
            "trains each member on a set of rows, but this cv repeats rows in a split's "
            "training indices (a bootstrap); pass separate_folds=True, whose fits take "
            "the repeats as GridSearchCV's do"
        )
    elif owned := sorted({k for c in candidates for k in c} & set(SEARCH_OWNED)):
        why = f"sets {owned} itself; they cannot be searched over"
    for est in settings:
        why = why or refusal(est)
    if why:
        raise ValueError(f"BatchedSearchCV {why}.")


def fit_or_error(search, *args) -> tuple:
    """``search._fit_chunk``'s network and seconds, and None; or None, 0 and the error
    its fit raised, for ``error_score`` (raised where it is ``"raise"``)."""
    try:
        return (*search._fit_chunk(*args), None)
    except Exception as error:
        if search.error_score == "raise":
            raise
        return None, 0.0, error


def refit_selected(search, X, y, sample_weight, candidates: list[dict]) -> Blend:
    """A search's selected candidates (``ensemble_weights_``) refitted on all rows,
    each group of them side by side in one stacked network (a candidate alone in its
    group as two members, from two initial weights), weighted as selected."""
    selected = np.flatnonzero(search.ensemble_weights_)
    all_rows = np.arange(_num_samples(X))
    parts = []
    for chunk in candidate_groups([candidates[c] for c in selected], search.max_members):
        group = [int(selected[i]) for i in chunk]
        members = group * 2 if len(group) == 1 else group
        est = network(search.estimator, candidates[group[0]], len(members))
        rows = member_rows(est, all_rows, y, 0)
        params = [candidates[c] for c in members]
        seeds = member_seeds(est, params, range(len(members)))
        given = member_settings(est, params, [rows] * len(members), len(all_rows), seeds,
                                split=True)  # fmt: skip
        managed_fit(est, X, y, sample_weight, members=given)
        share = len(group) / len(members)
        parts += [(est, [j], search.ensemble_weights_[c] * share) for j, c in enumerate(members)]
    return Blend(parts)
