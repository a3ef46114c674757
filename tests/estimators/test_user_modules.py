"""skorch-style modules: ``module=MyModule`` (a class) built with ``module__*`` parameters
that get_params / set_params / clone / GridSearchCV see; modules that already output
probabilities are refused."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from torch import nn

from torchsk import TorchClassifier, TorchRegressor

pytestmark = [
    pytest.mark.short_fits,  # tiny max_iter keeps the fits fast
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


class MyModule(nn.Module):
    """skorch's README module, without its final softmax (torchsk applies the head)."""

    def __init__(self, num_units=10, nonlin=nn.ReLU()):  # noqa: B008 (skorch's README)
        super().__init__()
        self.dense0 = nn.Linear(20, num_units)
        self.nonlin = nonlin
        self.dropout = nn.Dropout(0.5)
        self.dense1 = nn.Linear(num_units, num_units)
        self.output = nn.Linear(num_units, 2)

    def forward(self, X, **kwargs):
        X = self.nonlin(self.dense0(X))
        X = self.dropout(X)
        X = self.nonlin(self.dense1(X))
        return self.output(X)


class ReadmeModule(MyModule):
    """skorch's README module as written: it ends in a softmax."""

    def __init__(self, num_units=10, nonlin=nn.ReLU()):  # noqa: B008 (skorch's README)
        super().__init__(num_units, nonlin)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, X, **kwargs):
        return self.softmax(super().forward(X))


@pytest.fixture
def twenty_features():
    X, y = make_classification(300, 20, n_informative=10, random_state=0)
    return X.astype(np.float32), y


def test_skorch_readme_grid_over_module_params_runs(twenty_features):
    X, y = twenty_features
    net = TorchClassifier(module=MyModule, head="softmax", max_iter=10, random_state=0)
    params = {
        "learning_rate_init": [0.01, 0.02],
        "max_iter": [5, 10],
        "module__num_units": [10, 20],
    }
    gs = GridSearchCV(net, params, refit=True, cv=3, scoring="accuracy")
    gs.fit(X, y)
    assert set(gs.best_params_) == set(params)
    units = gs.best_params_["module__num_units"]
    assert gs.best_estimator_.module_.backbone.dense0.out_features == units
    assert gs.best_score_ > 0.6
    # each candidate was built with its own width
    widths = {p["module__num_units"] for p in gs.cv_results_["params"]}
    assert widths == {10, 20}


def test_a_two_logit_binary_module_is_told_about_the_softmax_head(twenty_features):
    X, y = twenty_features
    with pytest.raises(ValueError, match=r"\(n_samples, 1\) outputs.*head='softmax'"):
        TorchClassifier(module=MyModule, max_iter=2).fit(X, y)


def test_module_params_in_get_params_set_params_clone_and_pickle(twenty_features):
    X, y = twenty_features
    net = TorchClassifier(module=MyModule, head="softmax", module__num_units=7, max_iter=2)
    assert net.get_params()["module__num_units"] == 7
    copy = clone(net)
    assert copy.get_params()["module__num_units"] == 7
    copy.set_params(module__num_units=5, module__nonlin=nn.Tanh(), max_iter=3)
    assert copy.module__num_units == 5 and copy.max_iter == 3
    assert net.module__num_units == 7  # the clone is independent
    copy.fit(X, y)
    assert copy.module_.backbone.dense0.out_features == 5
    assert isinstance(copy.module_.backbone.nonlin, nn.Tanh)
    assert "module__num_units=5" in repr(copy)
    again = pickle.loads(pickle.dumps(copy))
    assert again.module__num_units == 5
    np.testing.assert_array_equal(again.predict(X), copy.predict(X))


def test_unknown_keyword_is_refused_as_python_would():
    with pytest.raises(TypeError, match="unexpected keyword argument 'hidden_size'"):
        TorchRegressor(hidden_size=3)
    with pytest.raises(ValueError, match="Invalid parameter 'hidden_size'"):
        TorchRegressor().set_params(hidden_size=3)


def test_changed_module_param_refuses_a_warm_start(twenty_features):
    X, y = twenty_features
    net = TorchClassifier(module=MyModule, head="softmax", warm_start=True, max_iter=2)
    net.fit(X, y)
    net.set_params(module__num_units=4)
    with pytest.raises(ValueError, match="module__num_units"):
        net.fit(X, y)
    # the built-in MLP's shape parameters are not the module's: they change nothing
    net = TorchClassifier(module=MyModule, head="softmax", warm_start=True, max_iter=2)
    net.fit(X, y).set_params(hidden_layer_sizes=(3,), activation="tanh", dropout=0.5)
    net.fit(X, y)


class Widths(nn.Module):
    def __init__(self, n_inputs, n_outputs, hidden=3):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_inputs, hidden), nn.Tanh(), nn.Linear(hidden, n_outputs)
        )

    def forward(self, x):
        return self.net(x)


class PositionalWidths(Widths):
    def __init__(self, a, b, hidden=3):
        super().__init__(a, b, hidden)


class DimWidths(Widths):
    def __init__(self, input_dim=1, output_dim=1, hidden=3):
        super().__init__(input_dim, output_dim, hidden)


@pytest.mark.parametrize("cls", [Widths, PositionalWidths, DimWidths, nn.Linear])
def test_module_class_gets_the_widths_under_the_documented_names(cls):
    X = np.random.default_rng(0).normal(size=(50, 4))
    y = np.stack([X[:, 0], X[:, 1]], axis=1)
    extra = {} if cls is nn.Linear else {"module__hidden": 6}
    reg = TorchRegressor(module=cls, max_iter=2, random_state=0, **extra).fit(X, y)
    backbone = reg.module_.backbone
    first = backbone if cls is nn.Linear else backbone.net[0]
    assert (first.in_features, first.out_features) == ((4, 2) if cls is nn.Linear else (4, 6))


def test_skorch_toy_mlp_module_gets_input_and_output_units():
    toy = pytest.importorskip("skorch.toy")
    X, y = make_classification(100, 6, random_state=0)
    clf = TorchClassifier(module=toy.MLPModule, module__hidden_units=7, max_iter=2).fit(X, y)
    assert clf.module_.backbone.sequential[0].in_features == 6
    assert clf.module_.backbone.sequential[-1].out_features == 1  # one logit: binary


def test_module_param_overrides_a_width_and_a_builder_gets_module_params():
    X = np.random.default_rng(0).normal(size=(50, 4))
    y = X[:, 0]
    with pytest.raises(ValueError, match=r"\(n_samples, 1\) outputs"):
        TorchRegressor(module=Widths, module__n_outputs=3, max_iter=2).fit(X, y)
    seen = []

    def build(n_in, n_out, width):
        seen.append((n_in, n_out, width))
        return nn.Linear(n_in, n_out)

    TorchRegressor(module=build, module__width=9, max_iter=2).fit(X, y)
    assert seen == [(4, 1, 9)]


def test_module_params_with_a_built_module_or_a_wrong_name_say_what_to_do():
    X = np.random.default_rng(0).normal(size=(50, 4))
    y = X[:, 0]
    with pytest.raises(ValueError, match="pass its class instead"):
        TorchRegressor(module=nn.Linear(4, 1), module__bias=False).fit(X, y)
    with pytest.raises(ValueError, match="module is None"):
        TorchRegressor(module__bias=False).fit(X, y)
    with pytest.raises(TypeError, match="module__\\* parameters.*n_inputs/n_outputs"):
        TorchRegressor(module=Widths, module__depth=2, max_iter=2).fit(X, y)


def test_skorch_readme_module_ending_in_softmax_is_refused(twenty_features):
    X, y = twenty_features
    clf = TorchClassifier(module=ReadmeModule, head="softmax", max_iter=2)
    with pytest.raises(ValueError, match="last layer is nn.Softmax.*Remove the final activation"):
        clf.fit(X, y)
    assert not hasattr(clf, "module_")


class EndsInSigmoid(nn.Module):
    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_inputs, 8), nn.ReLU(), nn.Linear(8, n_outputs))
        self.out = nn.Sigmoid()

    def forward(self, x):
        return self.out(self.net(x))


def test_binary_classifier_whose_module_ends_in_sigmoid_is_refused(twenty_features):
    X, y = twenty_features
    for module in (EndsInSigmoid, EndsInSigmoid(20, 1)):
        with pytest.raises(ValueError, match="nn.Sigmoid.*Remove the final activation"):
            TorchClassifier(module=module, max_iter=2).fit(X, y)
    seq = nn.Sequential(nn.Linear(20, 1), nn.Sigmoid())
    with pytest.raises(ValueError, match="nn.Sigmoid"):
        TorchClassifier(module=seq, max_iter=2).fit(X, y)
    # a regressor may bound its output with a sigmoid
    TorchRegressor(module=EndsInSigmoid, max_iter=2).fit(X, y.astype(float))


def test_a_module_ending_in_log_sigmoid_is_refused(twenty_features):
    X, y = twenty_features
    seq = nn.Sequential(nn.Linear(20, 1), nn.LogSigmoid())  # log-probabilities out
    with pytest.raises(ValueError, match="nn.LogSigmoid.*Remove the final activation"):
        TorchClassifier(module=seq, max_iter=2).fit(X, y)


class TupleOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(20, 1)

    def forward(self, x):
        return self.linear(x), x  # skorch-style: (outputs, features)


@pytest.mark.parametrize(
    ("module", "error", "match"),
    [
        (TupleOut(), ValueError, "must return one tensor.*returned a tuple"),
        (nn.Identity(), ValueError, "has no parameters"),
        (lambda n_in, n_out: None, TypeError, "must be, or build, an nn.Module"),
        (torch.jit.script(nn.Linear(20, 1)), ValueError, "TorchScript"),
    ],
    ids=["tuple output", "no parameters", "builder of None", "TorchScript"],
)
def test_modules_torchsk_cannot_train_are_refused_with_their_reason(module, error, match):
    X, y = make_classification(60, 20, random_state=0)
    with pytest.raises(error, match=match):
        TorchRegressor(module=module, max_iter=2).fit(X, y.astype(float))


def test_a_module_of_the_wrong_input_width_is_told_the_encoded_width():
    import pandas as pd

    frame = pd.DataFrame({"a": np.arange(30.0), "b": np.arange(30.0) % 3,
                          "k": np.resize(["u", "v", "w"], 30)})  # fmt: skip
    with pytest.raises(ValueError, match="must take 5 inputs: X's 3 columns"):
        TorchRegressor(module=nn.Linear(3, 1), max_iter=2).fit(frame, np.arange(30.0))


@pytest.mark.parametrize(
    ("loss", "target", "match"),
    [
        (nn.CrossEntropyLoss(), "one-hot", "multilabel indicator.*y.argmax"),
        (nn.BCELoss(), "labels", "BCEWithLogitsLoss"),
        (nn.SoftMarginLoss(), "labels", "-1/1 targets"),
        (nn.HingeEmbeddingLoss(), "labels", "-1/1 targets"),
        (nn.MSELoss(), "labels", "regression targets.*BCEWithLogitsLoss"),
        (nn.HuberLoss(), "multiclass", "regression targets"),
    ],
)
def test_loss_modules_that_would_train_another_model_are_refused(loss, target, match):
    """A one-hot y for a class-index loss had trained softmax and predicted through
    sigmoids (score 0.23 against 0.99); BCELoss had failed inside torch on the logits.
    Losses of -1/1 targets had trained on 0/1 (SoftMarginLoss: class 0 had no gradient,
    every row predicted as class 1), and MSELoss had pulled the logits towards 0/1,
    which predict thresholds at 0 (accuracy 0.77 against 0.995)."""
    X, y = make_classification(90, 5, n_informative=3, n_classes=3, random_state=0)
    Y = {"one-hot": np.eye(3)[y], "labels": (y > 0).astype(int), "multiclass": y}[target]
    with pytest.raises(ValueError, match=match):
        TorchClassifier(loss=loss, max_iter=2).fit(X, Y)


@pytest.mark.parametrize(
    ("loss", "target", "head", "shapes"),
    [
        (nn.KLDivLoss(), "multiclass", "auto", r"outputs of shape \(\d+, 3\).*targets.*\(\d+,\)"),
        (nn.KLDivLoss(), "binary", "softmax", r"outputs of shape \(\d+, 2\).*targets.*\(\d+,\)"),
        (nn.BCEWithLogitsLoss(pos_weight=torch.ones(5)), "multilabel", "auto", "size of tensor"),
        (nn.MultiLabelMarginLoss(), "multilabel", "auto", "Long"),
    ],
)
def test_a_loss_module_that_cannot_take_the_logits_is_refused_with_their_shapes(
    loss, target, head, shapes
):
    """torch's RuntimeError from the first step had named neither shape; the model
    fitted before is kept (fits are all or nothing). Only a call the loss cannot take
    is refused: a probe on rows of its own had refused losses that take the fit's."""
    X, y = make_classification(60, 5, n_informative=3, n_classes=3, random_state=0)
    Y = {"multiclass": y, "binary": y > 0, "multilabel": np.eye(3)[y].astype(int)}[target]
    est = TorchClassifier(max_iter=2, hidden_layer_sizes=(4,)).fit(X, Y)
    before = est.predict_proba(X)
    with pytest.raises(ValueError, match=f"loss=.*cannot train this model.*{shapes}"):
        est.set_params(loss=loss, head=head).fit(X, Y)
    np.testing.assert_array_equal(est.predict_proba(X), before)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.set_params(loss=nn.BCEWithLogitsLoss(), head="sigmoid").fit(X, Y > 0)  # it takes them


class SignMargin(nn.SoftMarginLoss):
    """The wrapping the refusal advises: 0/1 labels as the -1/1 the loss takes."""

    def forward(self, z, y):
        return super().forward(z, 2 * y - 1)


def test_a_subclass_of_a_refused_loss_that_maps_its_targets_trains():
    X, y = make_classification(200, 5, random_state=0)
    est = TorchClassifier(loss=SignMargin(), solver="lbfgs", max_iter=100, random_state=0)
    assert est.fit(X, y).score(X, y) > 0.9


def test_a_poisson_loss_module_is_refused_on_a_centred_target_and_on_log_rates():
    """PoissonNLLLoss has no floor on negative targets: on the standardized y it ran
    to outputs of -6e281 without a word. With log_input=True (its default) it reads
    the output as a log-rate, which predict returned as the rate (R² -0.40, as were
    the two fixes the error had advised)."""
    X, y = make_classification(60, 5, random_state=0)
    counts = (y * 3 + 1).astype(float)
    poisson = nn.PoissonNLLLoss(log_input=False)
    with pytest.raises(ValueError, match="PoissonNLLLoss.*loss='poisson'"):
        TorchRegressor(loss=poisson, max_iter=2).fit(X, counts)
    for head in ("identity", "exp"):
        with pytest.raises(ValueError, match="log-rate.*log_input=False"):
            TorchRegressor(loss=nn.PoissonNLLLoss(), head=head, target_scaling=None,
                           max_iter=2).fit(X, counts)  # fmt: skip
    # rates through the identity head: negative from the first outputs on (a log of
    # NaN, and predictions of negative rates, where they started below 0)
    with pytest.raises(ValueError, match="the head is the identity.*head='exp'"):
        TorchRegressor(loss=poisson, target_scaling=None, max_iter=2).fit(X, counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = TorchRegressor(loss=poisson, head="exp", solver="lbfgs", random_state=0)
        est.fit(X, counts)
    assert est.predict(X).mean() == pytest.approx(counts.mean(), rel=0.05)  # rates
    # a positive head's target is divided by its mean only: it stays non-negative
    TorchRegressor(loss=poisson, head="softplus", max_iter=2).fit(X, counts)


@pytest.mark.parametrize(
    "loss", [nn.CrossEntropyLoss(), nn.BCEWithLogitsLoss(), nn.SoftMarginLoss()]
)
def test_classification_loss_modules_are_refused_on_the_regressor(loss):
    """CrossEntropyLoss on one output is 0 whatever the weights (a constant model, in
    silence); BCEWithLogitsLoss has no floor on real targets (R² -130); a target
    scaling given as a tuple had skipped the refusal."""
    X, y = make_classification(60, 5, random_state=0)
    for scaling in ("standard", (1.0, 1.0)):
        with pytest.raises(ValueError, match="classification loss.*TorchClassifier"):
            TorchRegressor(loss=loss, target_scaling=scaling, max_iter=2).fit(X, y * 3.0 + 1.0)


def test_a_classification_loss_fits_fractions_on_an_unscaled_target():
    """Fractions in [0, 1] through BCEWithLogitsLoss (logits out) are a use, not a
    mistake: only a centred target is refused."""
    X, y = make_classification(200, 5, random_state=0)
    fractions = 1 / (1 + np.exp(-X[:, 0]))
    est = TorchRegressor(loss=nn.BCEWithLogitsLoss(), target_scaling=None, solver="lbfgs",
                         random_state=0).fit(X, fractions)  # fmt: skip
    assert np.corrcoef(1 / (1 + np.exp(-est.predict(X))), fractions)[0, 1] > 0.9


def test_cross_entropy_on_one_output_is_refused_where_it_is_not_centred():
    """A softmax over one output is 1: with target_scaling=None (not refused as a
    classification loss) only the penalty had trained, in silence (R² -3.9); a
    classifier's one logit (head="sigmoid") gets the same advice."""
    X, y = make_classification(60, 5, random_state=0)

    class Smoothed(nn.CrossEntropyLoss):  # a subclass's softmax too (R² -11 in silence)
        pass

    for loss in (nn.CrossEntropyLoss(), Smoothed(label_smoothing=0.1)):
        with pytest.raises(ValueError, match="one output, whose softmax is always 1"):
            TorchRegressor(loss=loss, target_scaling=None, max_iter=2).fit(
                X, 1 / (1 + np.exp(-X[:, 0]))
            )
    with pytest.raises(ValueError, match="nn.BCEWithLogitsLoss"):
        TorchClassifier(loss=nn.CrossEntropyLoss(), head="sigmoid", max_iter=2).fit(X, y)
    # two outputs: soft labels over them, a use
    soft = np.column_stack([1 / (1 + np.exp(-X[:, 0])), 1 / (1 + np.exp(X[:, 0]))])
    TorchRegressor(loss=nn.CrossEntropyLoss(), target_scaling=None, max_iter=2).fit(X, soft)


def test_a_poisson_subclass_is_refused_on_a_centred_target_too():
    class Renamed(nn.PoissonNLLLoss):
        pass

    X, y = make_classification(60, 5, random_state=0)
    with pytest.raises(ValueError, match="needs non-negative targets"):
        TorchRegressor(loss=Renamed(log_input=False), max_iter=2).fit(X, y * 3.0 + 1.0)


class LogRatePoisson(nn.PoissonNLLLoss):
    """Passes the log of the exp head's rate, as log_input=True takes it."""

    def forward(self, rate, y):
        return super().forward(torch.log(rate), y)


def test_a_poisson_subclass_that_passes_log_rates_trains():
    X, y = make_classification(200, 5, random_state=0)
    counts = (y * 3 + 1).astype(float)
    est = TorchRegressor(loss=LogRatePoisson(), head="exp", solver="lbfgs", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert est.fit(X, counts).score(X, counts) > 0.3


def test_a_batch_norm_module_trains_when_the_last_batch_would_hold_one_row():
    """65 rows in batches of 64 left one row, which batch norm cannot normalize (torch
    raised): it joins the batch before; every row is still seen."""
    X, y = make_classification(65, 5, random_state=0)
    bn = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    est = TorchRegressor(module=bn, batch_size=64, max_iter=3).fit(X, y.astype(float))
    assert est.t_ == 3 * 65 and np.isfinite(est.predict(X)).all()


class SoftmaxInForward(nn.Module):
    def __init__(self, n_inputs, n_outputs, log=False):
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs)
        self.log = log

    def forward(self, x):
        z = self.linear(x)
        return torch.log_softmax(z, dim=1) if self.log else torch.softmax(z, dim=1)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_applied_in_forward_is_refused_from_its_outputs(log):
    X, y = make_classification(100, 5, n_informative=3, n_classes=3, random_state=0)
    with pytest.raises(ValueError, match="rows of (log-)?probabilities.*Remove the final"):
        TorchClassifier(module=SoftmaxInForward, module__log=log, max_iter=2).fit(X, y)
    # logits of the same module train
    TorchClassifier(module=nn.Linear, max_iter=2).fit(X, y)


class SigmoidInForward(nn.Module):
    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs)

    def forward(self, x):
        return torch.sigmoid(self.linear(x))


def test_sigmoid_applied_in_forward_is_warned_about_after_training(twenty_features):
    X, y = twenty_features
    with pytest.warns(UserWarning, match=r"stayed within \[0, 1\].*Remove the final activation"):
        TorchClassifier(module=SigmoidInForward, max_iter=20, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # logits: no such warning
        warnings.simplefilter("ignore", ConvergenceWarning)
        TorchClassifier(module=nn.Linear, max_iter=20, random_state=0).fit(X, y)


class SoftmaxInsideThenLinear(nn.Module):
    """Registers a softmax last (attention-like weights) but returns a linear layer's
    logits: not a probability output."""

    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.output = nn.Linear(n_inputs, n_outputs)
        self.gate = nn.Linear(n_inputs, n_inputs)
        self.weights = nn.Softmax(dim=1)

    def forward(self, x):
        return self.output(x * self.weights(self.gate(x)))


def test_a_softmax_inside_the_module_is_not_mistaken_for_its_last_layer(twenty_features):
    X, y = twenty_features
    TorchClassifier(module=SoftmaxInsideThenLinear, max_iter=2).fit(X, y)


def test_a_module_with_lazy_layers_fits_reproducibly_and_the_users_stays_lazy():
    """torch sets a lazy layer's shape at its first forward; the fit counted the
    parameters before that ("Attempted to use an uninitialized parameter")."""
    X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    lazy = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))
    fits = [TorchClassifier(module=lazy, max_iter=5, random_state=0) for _ in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for est in fits:
            est.fit(X, y)
    first = fits[0].module_.backbone[0].weight
    assert first.shape == (8, 5) and not nn.parameter.is_lazy(first)
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))
    assert nn.parameter.is_lazy(lazy[0].weight)  # the user's module is copied, not used
    reloaded = pickle.loads(pickle.dumps(fits[0]))
    np.testing.assert_array_equal(reloaded.predict_proba(X), fits[0].predict_proba(X))


class Shifted(nn.Module):
    """Logits (no activation at the end) that all start in [0, 1]: 0.5 ± small."""

    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs)
        with torch.no_grad():
            self.linear.weight.mul_(0.01)
            self.linear.bias.fill_(0.5)

    def forward(self, x):
        return self.linear(x)


def test_undertrained_logits_that_lie_in_0_1_are_not_called_probabilities(twenty_features):
    """A small network's logits near their start can all lie in [0, 1]; the warning
    had called them probabilities (a sigmoid's spread from the first epochs)."""
    X, y = twenty_features
    est = TorchClassifier(module=Shifted, max_iter=1, learning_rate_init=1e-5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    out = est.module_.raw_output(torch.as_tensor(X[:256]))
    assert ((out >= 0) & (out <= 1)).all()  # the case the old rule warned about


def test_a_multilabel_bce_module_trains_the_built_in_loss_s_model():
    """nn.BCEWithLogitsLoss() had averaged over the labels where the built-in loss (and
    MLPClassifier's log-loss) sums them: alpha then weighed 3 times more (probabilities
    0.25 apart on the same seed)."""
    rng = np.random.RandomState(0)
    X = rng.randn(120, 4)
    Y = (X[:, :3] + rng.randn(120, 3) > 0).astype(int)
    kw = dict(hidden_layer_sizes=(8,), max_iter=20, alpha=1.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        built_in = TorchClassifier(**kw).fit(X, Y)
        module = TorchClassifier(loss=nn.BCEWithLogitsLoss(), **kw).fit(X, Y)
    np.testing.assert_allclose(module.predict_proba(X), built_in.predict_proba(X), atol=1e-10)
    assert module.loss_ == pytest.approx(built_in.loss_, rel=1e-10)


def test_the_fit_s_probe_of_a_user_module_leaves_its_batch_norm_statistics_alone():
    """The width check's two rows ran in train mode: a cumulative batch norm's
    running mean became (2 rows' mean + 2 x the training mean) / 3."""

    class Normed(nn.Module):
        def __init__(self, n_inputs, n_outputs):
            super().__init__()
            self.bn = nn.BatchNorm1d(n_inputs, momentum=None, affine=False)
            self.out = nn.Linear(n_inputs, n_outputs)

        def forward(self, x):
            return self.out(self.bn(x))

    rng = np.random.default_rng(0)
    X = rng.normal(loc=3.0, size=(64, 4))
    X[:2] += 5.0  # the probe's rows differ from the rest
    est = TorchRegressor(module=Normed, max_iter=2, batch_size=64, shuffle=False,
                         input_scaling=None, random_state=0)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, X[:, 0])
    bn = est.module_.backbone.bn
    assert int(bn.num_batches_tracked) == 2  # two epochs of one batch
    np.testing.assert_allclose(bn.running_mean.numpy(), X.mean(axis=0), rtol=1e-10)


def test_sigmoid_in_forward_on_imbalanced_classes_is_warned_about():
    """Trained through a second sigmoid, one logit stayed above 0.5 without spreading:
    every row predicted the minority class, and only a ConvergenceWarning advised
    another learning rate."""
    X = np.random.RandomState(0).randn(200, 3)
    y = (X[:, 0] > 1.2).astype(int)
    with pytest.warns(UserWarning, match=r"predicts classes_\[1\] for every row"):
        est = TorchClassifier(module=SigmoidInForward, random_state=0).fit(X, y)
    assert (est.predict(X) == 1).all() and y.mean() < 0.2  # what the warning is about


class Gated(nn.Module):
    """A module built around an activation module given as module__act."""

    def __init__(self, n_inputs, n_outputs, act):
        super().__init__()
        self.hidden, self.act, self.out = nn.Linear(n_inputs, 8), act, nn.Linear(8, n_outputs)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def test_a_fit_trains_copies_of_module_params_and_of_what_a_builder_returns():
    """A module__act=nn.PReLU() had been trained, cast to float64 and frozen in place
    (the next fit started from it, frozen); a builder returning one module had failed
    every CV fold after the first ("None of the module's parameters requires gradients")."""
    X = np.random.RandomState(0).randn(100, 3)
    y = X @ [1.0, 2.0, 3.0]
    act = nn.PReLU()
    before = act.weight.detach().clone()
    kw = dict(max_iter=20, random_state=0)
    est = TorchRegressor(module=Gated, module__act=act, **kw)
    first = est.fit(X, y).predict(X)
    assert torch.equal(act.weight, before) and act.weight.requires_grad
    assert act.weight.dtype == torch.float32
    np.testing.assert_array_equal(est.fit(X, y).predict(X), first)  # fresh, as sklearn's
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    scores = cross_val_score(TorchRegressor(module=lambda i, o: net, **kw), X, y, cv=3)
    assert np.isfinite(scores).all()


class Forwarding(Gated):
    """A subclass passing its arguments through to its parent's (n_inputs, n_outputs)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)


class DefaultBeforeArgs(nn.Module):
    """Widths fixed inside; a default before *args, which the widths must not fill."""

    def __init__(self, hidden=8, *args, **kwargs):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)


def test_a_module_class_forwarding_args_gets_the_widths():
    X = np.random.RandomState(0).randn(30, 3)
    est = TorchRegressor(module=Forwarding, module__act=nn.ReLU(), max_iter=2).fit(X, X[:, 0])
    assert est.module_.backbone.hidden.in_features == 3
    # *args after a parameter of its own: the widths are not passed (hidden had got 3)
    est = TorchRegressor(module=DefaultBeforeArgs, max_iter=2).fit(X, X[:, 0])
    assert est.module_.backbone.net[0].out_features == 8
    est = TorchRegressor(module=DefaultBeforeArgs, module__hidden=16, max_iter=2)
    assert est.fit(X, X[:, 0]).module_.backbone.net[0].out_features == 16


class WeightNormed(nn.Module):
    """A module deepcopy refuses (weight_norm's weight is computed, not a leaf)."""

    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.linear = nn.utils.weight_norm(nn.Linear(n_inputs, n_outputs))

    def forward(self, x):
        return self.linear(x)


def test_modules_that_cannot_be_copied_still_fit_from_a_class_or_a_builder():
    X = np.random.RandomState(0).randn(30, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # weight_norm's deprecation
        for module in (WeightNormed, lambda i, o: WeightNormed(i, o)):
            TorchRegressor(module=module, max_iter=2).fit(X, X[:, 0])


class IndexesAnEmbedding(nn.Module):
    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.embedding = nn.Embedding(4, n_outputs)

    def forward(self, x):
        return self.embedding(x[:, 0])  # no .long(): torch's own error is the right one


class CastsItsInput(nn.Module):
    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs)

    def forward(self, x):
        return self.linear(x.float())


def test_a_module_that_casts_its_input_is_told_the_dtype_it_trains_in():
    """torch's bare "mat1 and mat2 must have the same dtype" named no cause."""
    X = np.random.RandomState(0).randn(30, 3)
    with pytest.raises(ValueError, match=r"inputs of torch.float64.*no x.float\(\)"):
        TorchRegressor(module=CastsItsInput, max_iter=2).fit(X, X[:, 0])
    with pytest.raises(RuntimeError, match="Long"):  # not told to follow float dtypes
        TorchRegressor(module=IndexesAnEmbedding, max_iter=2).fit(np.abs(X), X[:, 0])
