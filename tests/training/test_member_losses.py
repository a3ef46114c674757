"""``PerMember``: members of one stacked network, each through its own loss settings."""

import numpy as np
import torch

from torchsk.training.losses import LOSSES, LossOptions, loss_functions
from torchsk.training.member_losses import PerMember, member_loss, of_member


def _make(options):
    return loss_functions(LOSSES["huber"], "identity", options, linked=True)


def _huber(delta):
    return _make(LossOptions(huber_delta=delta))


def test_each_member_gets_its_own_settings_loss_and_gradient_in_its_place():
    k, rows = 4, 5
    deltas = (0.2, 1.0, 0.2, 3.0)  # members 0 and 2 share a setting: one call for both
    loss = member_loss(_make, tuple(LossOptions(huber_delta=d) for d in deltas))
    z = torch.randn(k * rows, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.randn(rows, 1, dtype=torch.float64).repeat(k, 1)
    per, grad = loss.output_grad(z, y)
    for m, delta in enumerate(deltas):
        own = slice(m * rows, (m + 1) * rows)
        want_per, want_grad = _huber(delta).output_grad(z[own], y[own])
        torch.testing.assert_close(per[own], want_per, rtol=0, atol=0)
        torch.testing.assert_close(grad[own], want_grad, rtol=0, atol=0)
        assert (
            of_member(loss.per_sample, m)
            is loss.per_sample.functions[[0.2, 1.0, 3.0].index(delta)]
        )


def test_autograd_through_the_members_losses_is_each_members_own():
    deltas = (3.0, 0.1, 1.0)
    loss = member_loss(_make, tuple(LossOptions(huber_delta=d) for d in deltas))
    z = (torch.arange(12, dtype=torch.float64).view(12, 1) / 3).requires_grad_()
    y = torch.zeros(12, 1, dtype=torch.float64)
    loss.per_sample(z, y).sum().backward()
    want = np.concatenate([np.clip(z.detach().numpy()[4 * m : 4 * m + 4], -d, d)
                           for m, d in enumerate(deltas)])  # fmt: skip
    np.testing.assert_allclose(z.grad.numpy(), want)


def test_the_computed_members_alone_keep_their_settings():
    per_member = PerMember(["a", "b"], [0, 1, 1, 0])
    kept = per_member.subset(np.array([False, True, False, True]))
    assert [kept.member(m) for m in range(2)] == ["b", "a"]
    assert not len(per_member.subset(np.zeros(4, dtype=bool)).of_member)  # all stopped


def test_members_of_one_setting_train_through_the_plain_loss():
    loss = member_loss(_make, (LossOptions(huber_delta=2.0),) * 3)
    assert not isinstance(loss.per_sample, PerMember)
