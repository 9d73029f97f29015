"""The GAN training loops, priors, networks and generator files of dgm (gan_networks,
gan_training, gan_results, generator_archive), on tiny problems.

Notebook 04's networks and losses are graded answers, so ``dgm`` does not ship them: the tests
train with the staff copies in ``dgm_staff.references``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dgm import gan_networks, gan_results, gan_training, generator_archive
from dgm.metrics import sha256
from dgm_staff import references as ref

_d_loss, _g_loss = ref.d_loss, ref.g_loss


def _conv_pair(zdim: int = 8):
    return ref.kaiming_init(ref.conv_discriminator()), ref.kaiming_init(ref.conv_generator(zdim))


# ------------------------------------------------------------------------ codes ---------------
def test_normal_codes_are_standard_normal():
    z = gan_networks.normal_codes(20_000, 3, generator=torch.Generator().manual_seed(0))
    assert z.shape == (20_000, 3)
    assert abs(float(z.mean())) < 0.03 and abs(float(z.var()) - 1) < 0.03
    assert float(z.abs().max()) > 1                      # not confined to the cube
    corr = torch.corrcoef(z.T)
    assert (corr - torch.eye(3)).abs().max() < 0.03        # independent coordinates


def test_draw_codes_repeats_with_a_seed_and_leaves_the_global_state_alone():
    torch.manual_seed(5)
    expected_next = torch.rand(3)
    torch.manual_seed(5)
    a = gan_networks.draw_codes(5, 4, seed=3)
    b = gan_networks.draw_codes(5, 4, seed=3, sample_z=ref.sample_z)
    assert torch.equal(torch.rand(3), expected_next)            # global RNG untouched
    assert torch.equal(a, gan_networks.draw_codes(5, 4, seed=3)) and not torch.equal(a, b)
    assert b.min() >= -1 and b.max() <= 1 and a.abs().max() > 1    # the sampler it was given


def test_the_student_package_has_no_uniform_code_sampler():
    # notebook 04's sample_z is a graded answer: nothing in dgm draws uniform codes by itself
    import inspect

    for module in (gan_networks, gan_training, gan_results, generator_archive):
        for name, fn in vars(module).items():
            if callable(fn) and getattr(fn, "__module__", "") == module.__name__:
                source = inspect.getsource(fn) if inspect.isfunction(fn) else ""
                assert "torch.rand(" not in source and "uniform_(" not in source, name


# ------------------------------------------------------------------------ networks ------------
def test_architectures_have_the_tables_shapes():
    out = ref.conv_generator(64)(torch.zeros(2, 64))
    assert out.shape == (2, 1, 28, 28)
    assert ref.conv_discriminator()(out).shape == (2, 1)
    assert gan_networks.fc_generator(128)(torch.zeros(2, 128)).shape == (2, 1, 28, 28)
    assert gan_networks.fc_discriminator()(out).shape == (2, 1)


def test_the_fc_generator_has_batch_norm_unless_asked_for_the_seeds_network():
    norms = lambda net: [m.num_features for m in net if isinstance(m, nn.BatchNorm1d)]  # noqa
    assert norms(gan_networks.fc_generator(128)) == [512, 1024]
    seed = gan_networks.fc_generator(128, batch_norm=False)
    assert norms(seed) == []
    assert [m.out_features for m in seed if isinstance(m, nn.Linear)] == [256, 512, 1024, 784]


def test_the_fc_discriminator_has_dropout_unless_asked_for_the_seeds_network():
    drops = lambda net: [m.p for m in net if isinstance(m, nn.Dropout)]  # noqa: E731
    assert drops(gan_networks.fc_discriminator()) == [0.3, 0.3]
    assert drops(gan_networks.fc_discriminator(0.0)) == []
    d = gan_networks.fc_discriminator().eval()
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(d(x), d(x))                       # no dropout at evaluation
    assert not torch.equal(d.train()(x), d(x))           # dropout while training


def test_the_fc_discriminator_sees_the_batch_spread_unless_asked_for_the_seeds_network():
    seed = gan_networks.fc_discriminator(0.0, minibatch_std=False)
    assert [m.in_features for m in seed if isinstance(m, nn.Linear)] == [784, 512, 256]
    assert not any(isinstance(m, gan_networks.MinibatchStd) for m in seed)
    d = gan_networks.fc_discriminator(0.0).eval()
    assert [m.in_features for m in d if isinstance(m, nn.Linear)] == [784, 512, 257]
    torch.manual_seed(0)
    varied = torch.rand(8, 1, 28, 28)
    same = varied[:1].expand(8, 1, 28, 28)
    # the same image scores differently in a varied batch and in a batch of copies of itself
    assert not torch.allclose(d(varied)[:1], d(same)[:1])
    assert torch.isfinite(d(varied[:1])).all()               # a batch of one: spread 0, no NaN


def test_minibatch_std_appends_the_mean_feature_spread():
    h = torch.tensor([[0.0, 1.0], [2.0, 5.0]])
    out = gan_networks.MinibatchStd()(h)
    assert out.shape == (2, 3)
    assert torch.equal(out[:, :2], h)
    # per-feature std over the batch (population): 1 and 2; their mean 1.5, for every sample
    assert torch.allclose(out[:, 2], torch.tensor([1.5, 1.5]))
    assert gan_networks.MinibatchStd()(torch.ones(1, 4))[0, 4] < 1e-3
    # gradients reach every sample through the spread
    h = h.clone().requires_grad_(True)
    gan_networks.MinibatchStd()(h)[:, 2].sum().backward()
    assert (h.grad != 0).all()


def test_the_seeds_fc_generator_gives_every_code_almost_the_same_image():
    # the diagnosis of its collapse (benchmarks/gan_diagnosis.md): at initialisation the images
    # barely depend on the code, and batch norm spreads them out
    torch.manual_seed(0)
    z = torch.rand(500, 128) * 2 - 1
    with torch.no_grad():
        seed = gan_networks.fc_generator(128, batch_norm=False)(z).std(0).mean()
        normed = gan_networks.fc_generator(128).train()(z).std(0).mean()
    assert seed < 0.01 and normed > 10 * seed


def test_course_networks_have_their_shapes():
    torch.manual_seed(0)
    g = gan_networks.course_generator(16)
    images = g(torch.randn(5, 16))
    assert images.shape == (5, 1, 28, 28)
    assert images.min() > 0 and images.max() < 1            # a sigmoid output
    assert gan_networks.course_critic()(images).shape == (5, 1)
    assert gan_networks.course_generator()(torch.randn(2, 64)).shape == (2, 1, 28, 28)  # zdim 64
    # no batch norm in the critic: the gradient penalty is taken per sample
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for m in gan_networks.course_critic().modules())


def test_least_squares_losses():
    d = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    g = nn.Sequential(nn.Linear(2, 4), nn.Unflatten(1, (1, 2, 2)))
    real, z = torch.randn(6, 1, 2, 2), torch.randn(6, 2)
    expected_d = 0.5 * ((d(real) - 1) ** 2).mean() + 0.5 * (d(g(z)) ** 2).mean()
    torch.testing.assert_close(gan_networks.least_squares_d_loss(d, g, real, z), expected_d)
    torch.testing.assert_close(gan_networks.least_squares_g_loss(d, g, z),
                               0.5 * ((d(g(z)) - 1) ** 2).mean())
    gan_networks.least_squares_d_loss(d, g, real, z).backward()
    assert all(p.grad is None for p in g.parameters())      # the fake batch is detached


# ------------------------------------------------------------------------ training loops ------
def test_train_gan_steps_and_calls_back():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28)
    d, g = _conv_pair()
    before = [p.detach().clone() for p in g.parameters()]
    seen = []
    h = gan_training.train_gan(d, g, _d_loss, _g_loss, x, zdim=8, epochs=2, batch_size=16,
                               on_epoch=lambda e, net: seen.append(e), progress=False)
    assert h.d_steps == h.g_steps == 8 and len(h.d_loss) == 8 and seen == [1, 2]
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters()))


def test_train_gan_draws_codes_from_the_sampler_it_is_given():
    x = torch.rand(32, 1, 28, 28)
    for sample_z, outside in ((ref.sample_z, False), (None, True)):
        seen = []

        def g_loss(d_net, g_net, z):
            seen.append(z)
            return _g_loss(d_net, g_net, z)

        d, g = _conv_pair()
        gan_training.train_gan(d, g, _d_loss, g_loss, x, zdim=8, epochs=1, batch_size=16,
                               progress=False, sample_z=sample_z)
        z = torch.cat(seen)
        assert bool((z.abs() > 1).any()) == outside, sample_z


def test_train_wgan_gp_takes_one_generator_step_per_n_critic():
    torch.manual_seed(0)
    x = torch.rand(80, 1, 28, 28)
    c, g = gan_networks.course_critic(), gan_networks.course_generator(8)
    penalty_calls = []

    def penalty(critic, real, fake, lam):
        penalty_calls.append(lam)
        return torch.zeros((), requires_grad=True)

    h = gan_training.train_wgan_gp(c, g, lambda cr, r, f: cr(f).mean() - cr(r).mean(),
                                   lambda cr, f: -cr(f).mean(), penalty, x, zdim=8, epochs=1,
                                   batch_size=16, n_critic=5, lambda_gp=7.0, progress=False)
    assert h.d_steps == 5 and h.g_steps == 1 and penalty_calls == [7.0] * 5


def test_losses_are_read_once_per_epoch_and_kept_in_order():
    x = torch.rand(48, 1, 28, 28)
    d, g = _conv_pair()
    seen = []

    def d_loss(*a):
        loss = _d_loss(*a)
        seen.append(float(loss.detach()))
        return loss
    h = gan_training.train_gan(d, g, d_loss, _g_loss, x, zdim=8, epochs=2, batch_size=16,
                               progress=False)
    assert h.d_loss == pytest.approx(seen) and h.d_steps == 6 and h.g_steps == 6
    assert len(h.epoch_seconds) == 2


def test_diverging_loss_stops_with_a_message():
    x = torch.rand(32, 1, 28, 28)
    d, g = _conv_pair()
    with pytest.raises(FloatingPointError, match="BCEWithLogitsLoss"):
        gan_training.train_gan(d, g, lambda *a: _d_loss(*a) * float("nan"), _g_loss, x, zdim=8,
                               epochs=1, batch_size=16, progress=False)


def test_snapshots_keep_grids_and_scores_at_their_epochs_and_resume(tmp_path):
    x = torch.rand(32, 1, 28, 28)
    calls = []
    stop = {"at": None, "steps": 0}

    class Meter:
        def __call__(self, images):
            calls.append(images.shape)
            return type("Q", (), dict(inception_score=2.0, fid=50.0, classes=3))()

    def d_loss(*a):              # stops the run at step stop["at"] (an interruption)
        stop["steps"] += 1
        if stop["steps"] == stop["at"]:
            raise KeyboardInterrupt
        return _d_loss(*a)

    def train(snaps, checkpoint=None):
        torch.manual_seed(0)
        d, g = _conv_pair()
        h = gan_training.train_gan(d, g, d_loss, _g_loss, x, zdim=8, epochs=3, batch_size=16,
                                   progress=False, on_epoch=snaps, carry=snaps.store,
                                   checkpoint=checkpoint)
        return h, g

    fixed = torch.randn(6, 8)
    snaps = gan_training.Snapshots(fixed, every=2, last=3, meter=Meter(), n_eval=10)
    h, g = train(snaps)
    assert sorted(snaps.grids) == [2, 3] and snaps.grids[3].shape == (6, 1, 28, 28)
    assert calls == [(10, 1, 28, 28)] * 2
    rows = snaps.progress(h)
    assert [r["epoch"] for r in rows] == [2, 3]
    assert rows[0]["seconds"] == pytest.approx(sum(h.epoch_seconds[:2]))
    assert rows[1]["seconds"] == pytest.approx(h.seconds) and rows[1]["classes"] == 3
    with torch.no_grad():
        # the last grid is the final generator's (trained channels-last: float32 rounding)
        assert torch.allclose(snaps.grids[3], g(fixed), atol=1e-5)
    # scoring draws its own codes: the run is the same with and without a meter
    plain = gan_training.Snapshots(fixed, every=2, last=3)
    _, g2 = train(plain)
    assert all(torch.equal(a, b) for a, b in zip(g.parameters(), g2.parameters()))
    assert "IS" not in plain.store[2] and plain.progress(h) == []
    # an interrupted run resumes with the snapshots it had taken
    ckpt = tmp_path / "run.ckpt"
    first = gan_training.Snapshots(fixed, every=2, last=3, meter=Meter(), n_eval=10)
    stop.update(at=5, steps=0)                             # in epoch 3: 2 steps per epoch
    with pytest.raises(KeyboardInterrupt):
        train(first, ckpt)
    assert sorted(first.store) == [2]
    stop.update(at=None)
    resumed = gan_training.Snapshots(fixed, every=2, last=3, meter=Meter(), n_eval=10)
    train(resumed, ckpt)
    assert sorted(resumed.grids) == [2, 3]
    assert all(torch.equal(resumed.grids[e], snaps.grids[e]) for e in (2, 3))


def test_the_course_penalty_comparison_is_complete_and_formats():
    table, record = gan_results.course_penalty_comparison()
    assert record["notebook"] == "05_wgan" and record["budget"] == "stability"
    groups = {(r["networks"], r["loss"]) for r in table["rows"]}
    assert len(groups) == 4
    seeds = {r["seed"] for r in table["rows"]}
    assert len(seeds) >= 3
    text = gan_results.format_penalty_comparison(table)
    assert text.count("mean") == 4 and "WGAN-GP" in text


def test_results_round_trip(tmp_path):
    r = gan_results.GanResult("x", 3, 1.5, 9.1, 0.1, 12.0, 30, 30)
    path = gan_results.save_results([r], tmp_path / "r.json")
    assert gan_results.load_results(path) == [r]
    assert gan_results.load_results(tmp_path / "none.json") == []
    assert "x" in gan_results.format_results([r])


# ------------------------------------------------------------------------ generator files -----
class GNet(nn.Module):
    """A notebook's generator class: its own attribute names, ``.view`` and ``F.interpolate``."""

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


def test_a_notebook_generator_round_trips_through_torch_export(tmp_path, monkeypatch):
    torch.manual_seed(0)
    net = GNet(16).eval()
    def sample_z(n, zdim, device="cpu"):           # a notebook's own prior
        return 2 * torch.rand(n, zdim, device=device) - 1

    path = generator_archive.save_generator(net, tmp_path / "g.pt2", zdim=16,
                                            sample_z=sample_z, epochs=3,
                                            kind="conv")
    codes = [torch.rand(n, 16) for n in (3, 1, 7)]            # any batch size, not only 2
    expected = [net(z) for z in codes]
    monkeypatch.delattr(GNet, "forward")      # the file needs no Python source of the class
    del sample_z                               # ... nor of the sampler
    loaded, meta = generator_archive.load_generator(path)
    assert meta == {"zdim": 16, "codes": "sample_z", "epochs": 3, "kind": "conv"}
    z = loaded.sample_codes(500, seed=2)
    assert z.shape == (500, 16) and z.min() >= -1 and z.max() <= 1 and z.abs().max() > 0.99
    assert torch.equal(z, loaded.sample_codes(500, seed=2))
    assert loaded.eval() is loaded and not loaded.training
    assert generator_archive.generator_info(path) == meta
    for z, out in zip(codes, expected):
        torch.testing.assert_close(loaded(z), out, atol=1e-6, rtol=0)
    assert not list(tmp_path.glob("*.partial.pt2"))


def _archive_text(path) -> bytes:
    """Every file of a generator archive, the base64-encoded code sampler decoded as well."""
    import base64
    import zipfile

    parts = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            data = z.read(name)
            parts.append(base64.b64decode(data) if name.endswith("codes.pt2") else data)
    return b"\n".join(parts)


@pytest.mark.parametrize("which", ["saved", "shipped"])
def test_generator_archives_name_no_folder_of_the_machine_that_saved_them(tmp_path, which):
    if which == "saved":
        path = generator_archive.save_generator(GNet(16).eval(), tmp_path / "g.pt2", zdim=16)
    else:
        path = generator_archive.FALLBACK_GENERATOR
    text = _archive_text(path)
    for folder in (Path(torch.__file__).parent.parent, Path(__file__).resolve().parent.parent):
        assert str(folder).encode() not in text, (path, folder)
    assert b'File "/' not in text
    loaded, _ = generator_archive.load_generator(path)                  # still loads and runs
    assert loaded(loaded.sample_codes(2, seed=0)).shape == (2, 1, 28, 28)


def test_a_course_generator_round_trips_with_normal_codes(tmp_path):
    torch.manual_seed(0)
    g = gan_networks.course_generator(8)
    gan_training.train_gan(gan_networks.course_critic(), g, _d_loss, _g_loss,
                           torch.rand(32, 1, 28, 28), zdim=8,
                           epochs=1, batch_size=16, progress=False)
    g.eval()                              # batch norm with its running statistics
    path = generator_archive.save_generator(g, tmp_path / "course.pt2", zdim=8)
    loaded, meta = generator_archive.load_generator(path)
    assert meta["codes"] == "normal" and meta["zdim"] == 8
    z = loaded.sample_codes(4, seed=1)
    assert z.abs().max() > 0 and torch.equal(z, gan_networks.draw_codes(4, 8, seed=1))
    torch.testing.assert_close(gan_training.generate(loaded, 4, seed=1), g(z), atol=1e-6, rtol=0)
    torch.testing.assert_close(loaded(z), g(z), atol=1e-6, rtol=0)
    net, info, source = generator_archive.trained_generator(path)          # notebook 04's file wins
    assert info == meta and "your notebook 04" in source
    torch.testing.assert_close(net(z), g(z), atol=1e-6, rtol=0)


def test_a_corrupt_or_missing_generator_file_is_explained(tmp_path):
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a torch.export archive")
    with pytest.raises(ValueError, match="not a generator saved by dgm.generator_archive"):
        generator_archive.load_generator(bad)
    with pytest.raises(ValueError, match="re-run the notebook that trains it"):
        generator_archive.load_generator(bad)
    with pytest.raises(FileNotFoundError, match="run the notebook that trains it first"):
        generator_archive.load_generator(tmp_path / "missing.pt2")


def test_the_course_fallback_generator_is_checksummed_and_loads(tmp_path):
    path = generator_archive.FALLBACK_GENERATOR
    digest = path.with_suffix(".sha256")
    if not path.exists() or not digest.exists():
        pytest.skip(f"{path.name} (and its .sha256) not trained yet: "
                    "run `python scripts/train_generator.py`")
    assert sha256(path) == digest.read_text().split()[0]
    g, meta, source = generator_archive.trained_generator(tmp_path / "not_trained_yet.pt2")
    assert "course's generator" in source
    assert meta["zdim"] == 64 and meta["codes"] == "normal"   # not notebook 04's uniform prior
    z = g.sample_codes(6, seed=0)
    assert z.abs().max() > 1
    with torch.no_grad():
        images = g(z)
    assert images.shape == (6, 1, 28, 28)
    assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    assert images.std() > 0.05                              # not a blank page


# ------------------------------------------------------------------------ memory layout -------
class ViewDiscriminator(nn.Module):
    """Notebook 04's discriminator written with ``.view``, as students may: fails channels-last."""

    def __init__(self):
        super().__init__()
        self.body = ref.conv_discriminator()[:-2]
        self.fc = nn.Linear(200, 1)

    def forward(self, x):
        return self.fc(self.body(x).view(-1, 200))


def _short_run(d, g, channels_last: bool, layouts: list | None = None):
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))

    def record(epoch, g_net):
        if layouts is not None:
            layouts.append(all(p.is_contiguous(memory_format=torch.channels_last)
                               for p in g_net.parameters() if p.dim() == 4))
    return gan_training.train_gan(d, g, _d_loss, _g_loss, x, zdim=8, epochs=1, batch_size=16,
                                  progress=False, channels_last=channels_last, on_epoch=record)


def test_channels_last_changes_the_layout_not_the_result():
    runs = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        d, g = _conv_pair()
        layouts = []
        runs.append((_short_run(d, g, channels_last, layouts), g))
        assert layouts == [channels_last]                    # the argument decides
    (h0, g0), (h1, g1) = runs
    torch.testing.assert_close(h1.d_loss, h0.d_loss, atol=1e-4, rtol=0)
    torch.testing.assert_close(h1.g_loss, h0.g_loss, atol=1e-4, rtol=0)
    # the networks are handed back in the default layout
    assert all(p.is_contiguous() for p in g1.parameters())


def test_a_network_that_uses_view_falls_back_to_the_default_layout():
    torch.manual_seed(0)
    d, g = ref.kaiming_init(ViewDiscriminator()), ref.kaiming_init(ref.conv_generator(8))
    assert not gan_training.use_channels_last(d, g, 8, torch.device("cpu"))
    assert all(p.is_contiguous() for p in d.parameters())
    h = _short_run(d, g, True)
    assert h.d_steps == 4


def test_the_layout_probe_leaves_random_state_and_modes_alone():
    d, g = ref.conv_discriminator().train(), ref.conv_generator(8).eval()
    state = torch.get_rng_state()
    assert not gan_training.use_channels_last(d, g, 8, torch.device("cpu"), enabled=False)
    assert gan_training.use_channels_last(d, g, 8, torch.device("cpu"))
    assert torch.equal(state, torch.get_rng_state())
    assert d.training and not g.training
