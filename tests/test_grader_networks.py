"""Notebook 04's ``DNet`` / ``GNet`` are judged by what the tables determine: the layers with
weights in table order (with their shapes), the function ``forward`` computes, and the
initialisation. Activations, pooling and upsampling may be modules, one shared module, or
functions (``F.relu``, ``torch.sigmoid``, ``F.max_pool2d``); ``_weight_init`` may be written as
``_weight_init(self)``, as a method ``_weight_init(self, m)`` applied with ``self.apply`` or as a
staticmethod. Both the student-side checks (what the student sees) and the staff checks (what
grading decides) are tested, and one submission is graded through the real pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dgm.checks import gan as student_checks
from grader_tests import gan as checks
from dgm.checks.common import CheckFailed
from dgm_staff.corpus import corpus_namespace
from tests.judge_harness import judged

ROOT = Path(__file__).resolve().parent.parent
LEVELS = ["visible", "hidden"]


def _kaiming(module):
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _verdicts(cls, check_name, level):
    """Run the staff check at ``level``, and the student-side one too for the visible level."""
    getattr(checks, check_name)(cls, level=level)
    if level == "visible":
        getattr(student_checks, check_name)(cls)


def _fails(check_name, cls, match, level="visible"):
    with pytest.raises(CheckFailed, match=match) as info:
        getattr(checks, check_name)(cls, level=level)
    assert "How to fix:" in str(info.value)
    if level == "visible":                        # the student sees the same verdict
        with pytest.raises(CheckFailed) as seen:
            getattr(student_checks, check_name)(cls)
        assert str(seen.value) == str(info.value)
    return info.value


# ------------------------------------------------------------------------ discriminators ------
class DNetShared(nn.Module):
    """One ReLU and one MaxPool2d, each used at three / two rows of the table."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, 1, 1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(2, 4, 3, 1, 1)
        self.conv3 = nn.Conv2d(4, 8, 3, 1, 0)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(200, 1)
        self._weight_init()

    def _weight_init(self):
        _kaiming(self)

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        return self.fc(self.flatten(self.relu(self.conv3(x))))


def dnet_functional(act=F.relu, pool=F.max_pool2d, skip=(), order=("c1", "c2", "c3", "fc"),
                    k3=3, pad3=0, bias=True, init="kaiming"):
    """A discriminator whose activations and pooling are functions in ``forward``."""
    sizes = {"c1": lambda: nn.Conv2d(1, 2, 3, 1, 1, bias=bias),
             "c2": lambda: nn.Conv2d(2, 4, 3, 1, 1, bias=bias),
             "c3": lambda: nn.Conv2d(4, 8, k3, 1, pad3, bias=bias),
             "fc": lambda: nn.Linear(200, 1, bias=bias)}

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            for name in order:
                setattr(self, name, sizes[name]())
            if init == "kaiming":
                self._weight_init()
            elif init == "normal":
                for m in self.children():
                    nn.init.kaiming_normal_(m.weight)
                    nn.init.zeros_(m.bias)

        def _weight_init(self):
            _kaiming(self)

        def forward(self, x):
            acts = [(lambda h: h) if k in skip else act for k in range(3)]
            x = pool(acts[0](self.c1(x)), 2, 2)
            x = pool(acts[1](self.c2(x)), 2, 2)
            return self.fc(torch.flatten(acts[2](self.c3(x)), 1))
    return Functional


class DNetAttributeFunctions(nn.Module):
    """Functions kept as attributes in the table's rows (``self.layer2 = F.relu``)."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Conv2d(1, 2, 3, 1, 1)
        self.layer2 = F.relu
        self.layer3 = nn.MaxPool2d(2, 2)
        self.layer4 = nn.Conv2d(2, 4, 3, 1, 1)
        self.layer5 = F.relu
        self.layer6 = nn.MaxPool2d(2, 2)
        self.layer7 = nn.Conv2d(4, 8, 3, 1, 0)
        self.layer8 = F.relu
        self.layer9 = nn.Linear(200, 1)
        self._weight_init()

    def _weight_init(self):
        _kaiming(self)

    def forward(self, x):
        for k in range(1, 9):
            x = getattr(self, f"layer{k}")(x)
        return self.layer9(x.flatten(1))


class DNetApply(nn.Module):
    """``_weight_init(self, m)`` applied to every module with ``self.apply``; a Sequential."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 2, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(2, 4, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(4, 8, 3, 1, 0), nn.ReLU())
        self.fc = nn.Linear(200, 1)
        self.apply(self._weight_init)

    def _weight_init(self, m):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight)
            nn.init.constant_(m.bias, 0)

    def forward(self, x):
        return self.fc(self.features(x).view(len(x), -1))


class DNetStatic(DNetApply):
    """``_weight_init(m)`` as a staticmethod, applied with ``self.apply``."""

    @staticmethod
    def _weight_init(m):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight)
            nn.init.zeros_(m.bias)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("cls", [DNetShared, dnet_functional(), DNetAttributeFunctions, DNetApply,
                                 DNetStatic], ids=["shared", "functional", "attribute_functions",
                                                   "apply_self_m", "staticmethod"])
def test_dnet_with_shared_or_functional_layers_gets_full_marks(cls, level):
    _verdicts(cls, "check_dnet", level)


@pytest.mark.parametrize("cls,match", [
    (dnet_functional(order=("c2", "c1", "c3", "fc")), "layer 2 of the table: the layers are "
                                                      "defined in another order"),
    (dnet_functional(order=("fc", "c1", "c2", "c3")), "defined in another order"),
    (dnet_functional(k3=5, pad3=1), r"kernel_size = \(5, 5\), expected \(3, 3\)"),
    (dnet_functional(pad3=1), "padding"),
    (dnet_functional(bias=False), "has no bias"),
    (dnet_functional(order=("c1", "c2", "c3")), "has 3 layers with weights"),
    (dnet_functional(skip=(2,)), "no ReLU after the third convolution"),
    (dnet_functional(skip=(0, 1, 2)), "applies no ReLU"),
    (dnet_functional(act=torch.tanh), "forward differs"),
    (dnet_functional(act=lambda h: F.leaky_relu(h, 0.2)), "LeakyReLU"),
    (dnet_functional(pool=F.avg_pool2d), "pooling averages"),
    (dnet_functional(init="default"), "non-zero biases"),
    (dnet_functional(init="normal"), "Kaiming-uniform bound"),
])
def test_dnet_mutants_fail_with_a_hint(cls, match):
    error = _fails("check_dnet", cls, match)
    if "order" in match:
        assert "Conv2d(1->2, kernel 3, stride 1, padding 1), Conv2d(2->4" in error.hint


def test_dnet_hidden_check_names_the_mistake_on_the_students_own_weights():
    _fails("check_dnet", dnet_functional(skip=(0,)), "no ReLU after the first", level="hidden")


def test_dnet_with_a_module_the_table_does_not_have_is_named():
    class WithELU(DNetShared):
        def __init__(self):
            super().__init__()
            self.relu = nn.ELU()
    _fails("check_dnet", WithELU, "uses ELU")


def test_dnet_weight_init_applied_per_module_that_misses_biases_fails():
    class NoBias(DNetApply):
        def _weight_init(self, m):
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight)
    _fails("check_dnet", NoBias, "non-zero biases")


# ------------------------------------------------------------------------ generators ----------
class GNetShared(nn.Module):
    """The layers with weights first, then one LeakyReLU and one Upsample for every row."""

    def __init__(self, zdim):
        super().__init__()
        self.fc = nn.Linear(zdim, 1568)
        self.conv1 = nn.Conv2d(32, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 1, 3, padding=1)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.leaky_relu = nn.LeakyReLU(0.2)
        self.sigmoid = nn.Sigmoid()
        self._weight_init()

    def _weight_init(self):
        _kaiming(self)

    def forward(self, z):
        x = self.fc(z).view(-1, 32, 7, 7)
        x = self.leaky_relu(x)
        x = self.leaky_relu(self.conv1(self.upsample(x)))
        x = self.leaky_relu(self.conv2(self.upsample(x)))
        return self.sigmoid(self.conv3(x))


def gnet_functional(act=lambda h: F.leaky_relu(h, 0.2), up=None, out=torch.sigmoid,
                    conv_before_up=False, init_form="self", skip=()):
    """A generator whose activations, upsampling and sigmoid are functions in ``forward``."""
    upsample = up or (lambda h: F.interpolate(h, scale_factor=2))

    class Functional(nn.Module):
        def __init__(self, zdim):
            super().__init__()
            self.zdim = zdim
            self.fc = nn.Linear(zdim, 1568)
            self.conv1 = nn.Conv2d(32, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 8, 3, padding=1)
            self.conv3 = nn.Conv2d(8, 1, 3, padding=1)
            if init_form == "apply":
                self.apply(self._weight_init)
            else:
                self._weight_init()

        if init_form == "apply":
            def _weight_init(self, m):
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
        else:
            def _weight_init(self):
                _kaiming(self)

        def forward(self, z):
            a1, a2, a3 = [(lambda h: h) if k in skip else act for k in range(3)]
            x = a1(self.fc(z)).reshape(len(z), 32, 7, 7)
            if conv_before_up:
                x = upsample(a2(self.conv1(x)))
                x = upsample(a3(self.conv2(x)))
            else:
                x = a2(self.conv1(upsample(x)))
                x = a3(self.conv2(upsample(x)))
            return out(self.conv3(x))
    return Functional


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("cls", [GNetShared, gnet_functional(), gnet_functional(init_form="apply"),
                                 gnet_functional(out=F.sigmoid)],
                         ids=["shared", "functional", "apply_self_m", "F.sigmoid"])
def test_gnet_with_shared_or_functional_layers_gets_full_marks(cls, level):
    _verdicts(cls, "check_gnet", level)


class GNetSwapped(GNetShared):
    def __init__(self, zdim):
        nn.Module.__init__(self)
        self.fc = nn.Linear(zdim, 1568)
        self.conv2 = nn.Conv2d(16, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(32, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 1, 3, padding=1)
        self.upsample = nn.Upsample(scale_factor=2)
        self.leaky_relu = nn.LeakyReLU(0.2)
        self.sigmoid = nn.Sigmoid()
        self._weight_init()


class GNetWideKernel(GNetShared):
    def __init__(self, zdim):
        super().__init__(zdim)
        self.conv2 = nn.Conv2d(16, 8, 5, padding=2)
        self._weight_init()


class GNetSlope(GNetShared):
    def __init__(self, zdim):
        super().__init__(zdim)
        self.leaky_relu = nn.LeakyReLU(0.3)


@pytest.mark.parametrize("cls,match", [
    (GNetSwapped, "defined in another order"),
    (GNetWideKernel, r"layer with weights 3 .* kernel_size = \(5, 5\)"),
    (GNetSlope, "negative_slope = 0.3, the table's is 0.2"),
    (gnet_functional(act=F.leaky_relu), "negative_slope = 0.01"),
    (gnet_functional(act=F.relu), "activations are ReLU"),
    (gnet_functional(act=lambda h: h), "applies no LeakyReLU"),
    (gnet_functional(skip=(0,)), "no LeakyReLU after the linear layer"),
    (gnet_functional(skip=(2,)), "no LeakyReLU after the second convolution"),
    (gnet_functional(conv_before_up=True), "upsamples after the convolutions"),
    (gnet_functional(up=lambda h: F.interpolate(h, scale_factor=2, mode="bilinear")), "bilinear"),
    (gnet_functional(out=torch.tanh), "outputs leave"),
    (gnet_functional(out=lambda h: torch.sigmoid(2 * h)), "forward differs"),
])
def test_gnet_mutants_fail_with_a_hint(cls, match):
    _fails("check_gnet", cls, match)


def test_gnet_hidden_check_names_the_mistake_on_the_students_own_weights():
    _fails("check_gnet", gnet_functional(conv_before_up=True), "upsamples after",
           level="hidden")


# ------------------------------------------------------------------------ sample_z's device ---
def _rand(n, zdim, device="cpu"):
    return 2 * torch.rand(n, zdim, device=device) - 1


@pytest.mark.parametrize("fn", [_rand, lambda n, zdim, device="cpu": _rand(n, zdim).to(device),
                                lambda n, zdim, device="cpu": torch.empty(
                                    n, zdim, device=device).uniform_(-1, 1)])
def test_sample_z_on_the_device_asked_for_passes(fn):
    checks.check_sample_z(fn, level="hidden")


def test_sample_z_drawing_on_the_cpu_fails():
    error = _fails("check_sample_z", lambda n, zdim, device="cpu": 2 * torch.rand(n, zdim) - 1,
                   "returned codes on the cpu device", level="hidden")
    assert "device=device" in error.hint
    checks.check_sample_z(lambda n, zdim, device="cpu": 2 * torch.rand(n, zdim) - 1)  # visible


# ------------------------------------------------------------------------ through the judge ---
def _judged(user_ns: dict, source: str):
    """A test cell's verdict through the judge, with notebook 04's staff checks."""
    return judged(user_ns, checks, source)


@pytest.mark.parametrize("dnet,gnet", [(dnet_functional(), gnet_functional()),
                                       (DNetAttributeFunctions, GNetShared),
                                       (DNetStatic, gnet_functional(init_form="apply"))],
                         ids=["functional", "shared", "apply_and_staticmethod"])
def test_the_judge_gives_functional_and_shared_networks_full_marks(dnet, gnet):
    ns = {"DNet": dnet, "GNet": gnet}
    for source in ('checks.check_dnet(DNet)\nchecks.check_dnet(DNet, level="hidden")',
                   'checks.check_gnet(GNet)\nchecks.check_gnet(GNet, level="hidden")'):
        assert _judged(ns, source) is None


def test_the_judge_names_a_networks_mistake():
    error = _judged({"GNet": GNetSlope}, 'checks.check_gnet(GNet, level="hidden")')
    assert isinstance(error, CheckFailed) and "negative_slope = 0.3" in str(error)
    error = _judged({"DNet": dnet_functional(skip=(1,))}, 'checks.check_dnet(DNet, level="hidden")')
    assert isinstance(error, CheckFailed) and "no ReLU after the second" in str(error)


def test_the_judge_checks_the_device_of_sample_z():
    source = 'checks.check_sample_z(sample_z, level="hidden")'
    assert _judged({"sample_z": _rand}, source) is None
    error = _judged({"sample_z": lambda n, zdim, device="cpu": 2 * torch.rand(n, zdim) - 1},
                    source)
    assert isinstance(error, CheckFailed) and "device=device" in str(error)


# ------------------------------------------------------------------------ real student code ---
def test_real_networks_of_the_corpus_get_the_verdict_of_their_function():
    """The public student networks of ``tests/corpus/gan`` (several share one activation module
    or use F.relu / torch.sigmoid), checked directly and through the judge: every one passes
    except the discriminator that squeezes its output to [batch] (the task asks [batch, 1])."""
    from dgm_staff import corpus

    topic = corpus.TOPICS["gan"]
    release = nbformat.read(ROOT / "notebooks" / topic.notebook / f"{topic.notebook}.ipynb", 4)
    failed, judged_failed = [], []
    for entry in json.loads((corpus.CORPUS / "MANIFEST.json").read_text()):
        if entry["topic"] != "gan":
            continue
        cells = corpus.student_cells(corpus.CORPUS / entry["file"])
        verdicts = corpus.direct_verdicts(release, topic, cells)
        failed += [(entry["repo"], name) for name, ok in verdicts.items() if not ok]
        ns = corpus_namespace(release, topic, cells)
        for name in ("DNet", "GNet"):
            check = f"checks.check_{name.lower()}"
            if _judged(ns, f'{check}({name})\n{check}({name}, level="hidden")') is not None:
                judged_failed.append((entry["repo"], name))
    assert failed == [("danielhse/CS446-Machine-Learning", "DNet")]
    assert judged_failed == failed


# ------------------------------------------------------------------------ through the grader --
DNET_CELL = '''
class DNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(2, 4, kernel_size=3, stride=1, padding=1)
        self.conv3 = nn.Conv2d(4, 8, kernel_size=3, stride=1, padding=0)
        self.fc = nn.Linear(200, 1)
        self.apply(self._weight_init)

    def _weight_init(self, m):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        return self.fc(F.relu(self.conv3(x)).flatten(1))
'''

GNET_CELL = '''
class GNet(nn.Module):
    def __init__(self, zdim):
        super().__init__()
        self.fc = nn.Linear(zdim, 1568)
        self.act = nn.LeakyReLU(0.2)
        self.up = nn.Upsample(scale_factor=2)
        self.conv1 = nn.Conv2d(32, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 1, 3, padding=1)
        self.apply(self._weight_init)

    @staticmethod
    def _weight_init(m):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, z):
        x = self.act(self.fc(z)).view(-1, 32, 7, 7)
        x = self.act(self.conv1(self.up(x)))
        x = self.act(self.conv2(self.up(x)))
        return torch.sigmoid(self.conv3(x))
'''


@pytest.mark.nbgrader
@pytest.mark.slow
def test_functional_and_shared_networks_get_full_marks_through_the_grader(tmp_path):
    """A submission whose DNet uses F.relu / F.max_pool2d and a (self, m) _weight_init, and whose
    GNet shares one LeakyReLU and one Upsample, ends with torch.sigmoid and has a staticmethod
    _weight_init, graded by the course's
    pipeline (sandboxed kernel, judge): every test cell of the two networks passes."""
    from dgm_staff import corpus, class_records, course_folder

    topic = corpus.TOPICS["gan"]
    root = tmp_path / "course"
    root.mkdir()
    course_folder.generate_release(root / "release", names=[topic.notebook], course=root)
    release = nbformat.read(root / "release" / topic.notebook / f"{topic.notebook}.ipynb", 4)
    solutions = course_folder.solution_sources(topic.notebook)[f"{topic.notebook}.ipynb"]
    nb = corpus.transplant(release, solutions, topic, [DNET_CELL.strip(), GNET_CELL.strip()])
    target = root / "submitted" / "networks" / topic.notebook / f"{topic.notebook}.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(nb, target)
    class_records.grade_course(root, [topic.notebook], ["networks"])
    graded = nbformat.read(root / "autograded" / "networks" / topic.notebook /
                           f"{topic.notebook}.ipynb", 4)
    failed = {c.metadata["nbgrader"]["grade_id"]: [o.get("evalue") for o in c.outputs
                                                   if o.get("output_type") == "error"]
              for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade")
              and any(o.get("output_type") == "error" for o in c.get("outputs", []))}
    assert failed == {}
    network_cells = set(corpus.test_cells_of(graded, "DNet") + corpus.test_cells_of(graded, "GNet"))
    assert len(network_cells) == 4
    row = next(r for r in class_records.grade_rows(root) if r.student == "networks")
    assert row.auto_score == row.auto_max
