"""The GAN training loops and generator files of dgm.gan, on tiny problems."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dgm import gan


_d_loss, _g_loss = gan.standard_d_loss, gan.standard_g_loss


def test_prior_is_uniform_on_the_cube():
    z = gan.sample_z(20_000, 3, generator=torch.Generator().manual_seed(0))
    assert z.shape == (20_000, 3) and z.min() >= -1 and z.max() <= 1
    assert abs(float(z.mean())) < 0.02 and abs(float(z.var()) - 1 / 3) < 0.01


def test_architectures_have_the_tables_shapes():
    g = gan.conv_generator(64)
    out = g(torch.zeros(2, 64))
    assert out.shape == (2, 1, 28, 28)
    assert gan.conv_discriminator()(out).shape == (2, 1)
    assert gan.fc_generator(128)(torch.zeros(2, 128)).shape == (2, 1, 28, 28)
    assert gan.fc_discriminator()(out).shape == (2, 1)


def test_train_gan_steps_and_calls_back():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28)
    d, g = gan.kaiming_init(gan.conv_discriminator()), gan.kaiming_init(gan.conv_generator(8))
    before = [p.detach().clone() for p in g.parameters()]
    seen = []
    h = gan.train_gan(d, g, _d_loss, _g_loss, x, zdim=8, epochs=2, batch_size=16,
                      on_epoch=lambda e, net: seen.append(e), progress=False)
    assert h.d_steps == h.g_steps == 8 and len(h.d_loss) == 8 and seen == [1, 2]
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters()))


def test_train_wgan_gp_takes_one_generator_step_per_n_critic():
    torch.manual_seed(0)
    x = torch.rand(80, 1, 28, 28)
    c, g = gan.conv_discriminator(), gan.conv_generator(8)
    penalty_calls = []

    def penalty(critic, real, fake, lam):
        penalty_calls.append(lam)
        return torch.zeros((), requires_grad=True)

    h = gan.train_wgan_gp(c, g, lambda cr, r, f: cr(f).mean() - cr(r).mean(),
                          lambda cr, f: -cr(f).mean(), penalty, x, zdim=8, epochs=1,
                          batch_size=16, n_critic=5, lambda_gp=7.0, progress=False)
    assert h.d_steps == 5 and h.g_steps == 1 and penalty_calls == [7.0] * 5


def test_diverging_loss_stops_with_a_message():
    x = torch.rand(32, 1, 28, 28)
    d, g = gan.conv_discriminator(), gan.conv_generator(8)
    with pytest.raises(FloatingPointError, match="BCEWithLogitsLoss"):
        gan.train_gan(d, g, lambda *a: _d_loss(*a) * float("nan"), _g_loss, x, zdim=8,
                      epochs=1, batch_size=16, progress=False)


def test_a_notebook_generator_reloads_by_order(tmp_path):
    class GNet(nn.Module):                  # the notebook's class: other attribute names
        def __init__(self, zdim):
            super().__init__()
            self.fc = nn.Linear(zdim, 1568)
            self.conv1 = nn.Conv2d(32, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 8, 3, padding=1)
            self.conv3 = nn.Conv2d(8, 1, 3, padding=1)

        def forward(self, z):
            h = F.leaky_relu(self.fc(z), 0.2).view(-1, 32, 7, 7)
            h = F.leaky_relu(self.conv1(F.interpolate(h, scale_factor=2.0)), 0.2)
            h = F.leaky_relu(self.conv2(F.interpolate(h, scale_factor=2.0)), 0.2)
            return torch.sigmoid(self.conv3(h))

    torch.manual_seed(0)
    net = GNet(16)
    path = gan.save_generator(net, tmp_path / "g.pt", zdim=16, kind="conv")
    loaded = gan.load_generator(path)
    z = torch.rand(3, 16)
    assert torch.allclose(loaded(z), net(z), atol=1e-6)
    gan.save_generator(nn.Linear(16, 4), tmp_path / "bad.pt", zdim=16, kind="conv")
    with pytest.raises(ValueError, match="retrain"):
        gan.load_generator(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="run the notebook"):
        gan.load_generator(tmp_path / "missing.pt")


def test_results_round_trip(tmp_path):
    r = gan.GanResult("x", 3, 1.5, 9.1, 0.1, 12.0, 30, 30)
    path = gan.save_results([r], tmp_path / "r.json")
    assert gan.load_results(path) == [r]
    assert gan.load_results(tmp_path / "none.json") == []
    assert "x" in gan.format_results([r])


def test_the_committed_generator_is_checksummed_and_loads(tmp_path):
    g, source = gan.trained_generator(tmp_path / "not_trained_yet.pt")
    assert "course's checkpoint" in source
    assert g(torch.zeros(2, 64)).shape == (2, 1, 28, 28)
    expected = gan.FALLBACK_GENERATOR.with_suffix(".sha256").read_text().split()[0]
    from dgm.metrics import sha256
    assert sha256(gan.FALLBACK_GENERATOR) == expected


class ViewDiscriminator(nn.Module):
    """The course's discriminator written with ``.view``, as students may: fails channels-last."""

    def __init__(self):
        super().__init__()
        self.body = gan.conv_discriminator()[:-2]
        self.fc = nn.Linear(200, 1)

    def forward(self, x):
        return self.fc(self.body(x).view(-1, 200))


def _short_run(d, g, monkeypatch, flag):
    monkeypatch.setenv(gan.CHANNELS_LAST_ENV, flag)
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    return gan.train_gan(d, g, _d_loss, _g_loss, x, zdim=8, epochs=1, batch_size=16,
                         progress=False)


def test_channels_last_changes_the_layout_not_the_result(monkeypatch):
    runs = []
    for flag in ("0", "1"):
        torch.manual_seed(0)
        d, g = gan.kaiming_init(gan.conv_discriminator()), gan.kaiming_init(gan.conv_generator(8))
        runs.append((_short_run(d, g, monkeypatch, flag), g))
    (h0, g0), (h1, g1) = runs
    torch.testing.assert_close(h1.d_loss, h0.d_loss, atol=1e-4, rtol=0)
    torch.testing.assert_close(h1.g_loss, h0.g_loss, atol=1e-4, rtol=0)
    # the networks are handed back in the default layout
    assert all(p.is_contiguous() for p in g1.parameters())


def test_a_network_that_uses_view_falls_back_to_the_default_layout(monkeypatch):
    torch.manual_seed(0)
    d, g = gan.kaiming_init(ViewDiscriminator()), gan.kaiming_init(gan.conv_generator(8))
    assert not gan.use_channels_last(d, g, 8, torch.device("cpu"))
    assert all(p.is_contiguous() for p in d.parameters())
    h = _short_run(d, g, monkeypatch, "1")
    assert h.d_steps == 4


def test_the_layout_probe_leaves_random_state_and_modes_alone():
    d, g = gan.conv_discriminator().train(), gan.conv_generator(8).eval()
    state = torch.get_rng_state()
    assert gan.use_channels_last(d, g, 8, torch.device("cpu"))
    assert torch.equal(state, torch.get_rng_state())
    assert d.training and not g.training
