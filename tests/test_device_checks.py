"""The hidden device checks (:func:`dgm.checks.common.on_another_device`): the device stand-in
behaves as a GPU does, the checks decide the same through the judge (the student's code in its
own kernel) as when they call the code directly, and no hint shows a tensor made without a
device."""

from __future__ import annotations

import ast
import io
import re
import warnings
from pathlib import Path

import nbformat
import pytest
import torch

from dgm.checks import common
from dgm.checks.common import StandIn, _StandInMode, _rebuild_stand_in

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------ the stand-in --------
def stand_in(t):
    return _rebuild_stand_in(t, t.requires_grad, False)


def run(fn):
    with _StandInMode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")       # torch.tensor(x) advises x.clone()
        return fn()


x = stand_in(torch.randn(3, 4))


@pytest.mark.parametrize("name,code", [
    ("zeros_like", lambda: torch.zeros_like(x) + x),
    ("device=x.device", lambda: torch.zeros(4, device=x.device) + x),
    (".to(x.device)", lambda: torch.zeros(4).to(x.device) + x),
    (".to(x)", lambda: torch.zeros(4).to(x) + x),
    ("new_zeros", lambda: x.new_zeros(4) + x),
    ("a copy by torch.tensor(x)", lambda: torch.tensor(x) + x),
    ("a 0-dim CPU constant", lambda: torch.tensor(2.0) * x),
    ("CPU indices", lambda: x[torch.tensor([0, 2])]),
    ("item, float", lambda: x.new_tensor(float(x.sum()) + x[0, 0].item())),
    ("a validating distribution", lambda: torch.distributions.Normal(x, 1.0).log_prob(x)),
])
def test_the_stand_in_accepts_what_a_gpu_accepts(name, code):
    out = run(code)
    assert isinstance(out, StandIn) and out.device == common.OTHER_DEVICE


@pytest.mark.parametrize("name,code", [
    ("torch.zeros(D)", lambda: torch.zeros(4) + x),
    ("torch.randn(x.shape)", lambda: x + torch.randn(x.shape)),
    ("torch.rand(x.shape) < x", lambda: torch.rand(x.shape) < x),
    ("torch.FloatTensor", lambda: x - torch.FloatTensor([0] * 4)),
    ("torch.linspace", lambda: torch.linspace(0, 1, 3)[:, None] * x[0]),
    ("torch.cat", lambda: torch.cat([x, torch.zeros(1, 4)])),
    (".numpy()", lambda: x.numpy()),
    ("a CPU prior in a distribution",
     lambda: torch.distributions.Normal(torch.zeros(4), torch.ones(4)).log_prob(x)),
])
def test_the_stand_in_refuses_what_a_gpu_refuses(name, code):
    with pytest.raises((RuntimeError, TypeError)) as info:
        run(code)
    assert common.mixes_devices(info.value)


def test_cpu_gives_plain_tensors_and_gradients_stay_on_the_device():
    assert type(run(lambda: x.cpu())) is torch.Tensor
    assert type(run(lambda: x.to("cpu"))) is torch.Tensor
    p = torch.nn.Parameter(stand_in(torch.zeros(3)))
    run(lambda: (p * 2).sum().backward())
    assert isinstance(run(lambda: p.grad), StandIn)
    run(lambda: torch.optim.Adam([p], lr=0.1).step())            # Adam's state follows p
    assert isinstance(p, StandIn) and float(p.detach().abs().sum()) > 0


def test_a_stand_in_crosses_to_the_kernel_as_a_stand_in():
    net = common._moved(torch.nn.Linear(2, 1), False, {})
    buf = io.BytesIO()
    torch.save({"x": x, "net": net}, buf)
    back = torch.load(io.BytesIO(buf.getvalue()), weights_only=False)
    assert isinstance(back["x"], StandIn) and torch.equal(back["x"].as_subclass(torch.Tensor),
                                                          x.as_subclass(torch.Tensor))
    assert isinstance(back["net"].weight, StandIn)
    assert isinstance(back["net"].weight, torch.nn.Parameter)


# ------------------------------------------------------------------------ hints ---------------
STAFF = ["vae", "beta_vae", "echo", "gan", "wgan", "inversion"]
FACTORY = re.compile(r"torch\.(zeros|ones|empty|full|rand|randn|randint|randperm|linspace|"
                     r"arange|eye|normal|tensor|Tensor|FloatTensor)\(([^()]|\([^()]*\))*\)")
#: How a hint may name a factory without a device: as the thing not to do.
SAID_WRONG = re.compile(r"(not (with )?|is always on the CPU)")
#: Tensors meant for the CPU: notebook 06's loss history, a list of Python numbers.
ON_THE_CPU_BY_DESIGN = {"torch.tensor(history)"}


@pytest.mark.parametrize("path", [f"dgm/checks/{m}.py" for m in STAFF] +
                         [f"grader_tests/{m}.py" for m in STAFF] + ["dgm/checks/common.py"])
def test_no_hint_shows_a_tensor_made_without_a_device(path):
    """Every string of the checks (messages and hints) that shows how to make a tensor gives it
    a device (device=..., or a *_like function); naming the mistake itself is fine."""
    tree = ast.parse((ROOT / path).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):          # an f-string, its fields as {}
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        for m in FACTORY.finditer(text):
            call = m.group(0)
            if "device" in call or call in ON_THE_CPU_BY_DESIGN:
                continue
            around = text[max(0, m.start() - 9):m.end() + 24]
            assert SAID_WRONG.search(around), f"{path}: {text!r}"


# ------------------------------------------------------------------------ through the judge ---
STUDENT = '''
import math
import torch

def logpdf_diagonal_gaussian(z, mu, sigma_square):
    return torch.distributions.Normal(mu, sigma_square.sqrt()).log_prob(z).sum(-1)

def logpdf_bernoulli(x, p):
    return (torch.xlogy(x, p) + torch.xlogy(1 - x, 1 - p)).sum(-1)

def gauss_cpu_constant(z, mu, sigma_square):
    return logpdf_diagonal_gaussian(z, mu, sigma_square) + torch.log(torch.tensor([1.0]))

def sample_bernoulli(p):
    return torch.bernoulli(p).float()

def bern_cpu_uniform(p):
    return (torch.rand(p.shape) < p).float()

def elbo_loss(sampled_z, mu, sigma_square, x, p):
    prior = torch.zeros_like(sampled_z), torch.ones_like(sampled_z)
    return (logpdf_bernoulli(x, p) + logpdf_diagonal_gaussian(sampled_z, *prior)
            - logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)).mean()

def elbo_float_tensor_prior(sampled_z, mu, sigma_square, x, p):
    d = sampled_z.shape[-1]
    prior = torch.FloatTensor([0] * d), torch.FloatTensor([1] * d)
    return (logpdf_bernoulli(x, p) + logpdf_diagonal_gaussian(sampled_z, *prior)
            - logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)).mean()

def gradient_penalty(critic, real, fake, lambda_gp=10.0):
    eps = torch.rand(len(real), 1, 1, 1, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return lambda_gp * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

def gp_cpu_eps(critic, real, fake, lambda_gp=10.0):
    eps = torch.rand(len(real), 1, 1, 1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return lambda_gp * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
'''


GAN_STUDENT = '''
from torch import nn

bce = nn.BCEWithLogitsLoss()

def sample_z(n, zdim, device="cpu"):
    low, high = torch.tensor(-1.0, device=device), torch.tensor(1.0, device=device)
    return torch.distributions.Uniform(low, high).sample((n, zdim))

def sample_z_cpu(n, zdim, device="cpu"):
    return torch.distributions.Uniform(-1.0, 1.0).sample((n, zdim))

def d_loss(d_net, g_net, real, z):
    lr, lf = d_net(real), d_net(g_net(z).detach())
    loss = bce(lr, torch.ones_like(lr)) + bce(lf, torch.zeros_like(lf))
    print("d loss", loss.item())
    return loss

def d_loss_cpu_labels(d_net, g_net, real, z):
    lr, lf = d_net(real), d_net(g_net(z).detach())
    return bce(lr, torch.ones(len(lr), 1)) + bce(lf, torch.zeros(len(lf), 1))

def d_loss_joint(d_net, g_net, real, z):
    logits = d_net(torch.cat([real, g_net(z).detach()]))
    n = len(real)
    return bce(logits[:n], torch.ones_like(logits[:n])) + \\
        bce(logits[n:], torch.zeros_like(logits[n:]))

def g_loss(d_net, g_net, z):
    logits = d_net(g_net(z))
    loss = bce(logits, torch.ones_like(logits))
    float(loss)
    return loss

def g_loss_cpu_labels(d_net, g_net, z):
    logits = d_net(g_net(z))
    return bce(logits, torch.ones(len(logits), 1))
'''


@pytest.fixture(scope="module")
def kernel():
    """A kernel holding the student's code above, and the solutions of notebook 06."""
    from nbclient import NotebookClient

    solution = nbformat.read(ROOT / "solutions" / "06_inversion" / "06_inversion.ipynb", 4)
    sources = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("grade_id") in ("path_energy", "find_path")}
    mutant = sources["find_path"].replace("def find_path(", "def find_path_cpu_line(")
    mutant = mutant.replace("device=z_A.device", "device='cpu'")
    assert mutant.count("device='cpu'") == 1
    cells = [nbformat.v4.new_code_cell(src) for src in
             (STUDENT, GAN_STUDENT, sources["path_energy"], sources["find_path"], mutant)]
    nb = nbformat.v4.new_notebook(cells=cells)
    client = NotebookClient(nb, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(ROOT)}})
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
        yield client.kc


def judged(kc, module, source):
    """The judge's verdict on a test cell (None: passed), as in grading."""
    from dgm_staff.judge import Judge

    judge = Judge(kc, f"grader_tests.{module}", timeout=120)
    try:
        return judge.run_cell(source)
    finally:
        judge.close()


@pytest.mark.parametrize("module,check,code,verdict", [
    ("vae", "sample_bernoulli", "sample_bernoulli", None),
    ("vae", "sample_bernoulli", "bern_cpu_uniform", "creates a tensor on the CPU"),
    ("vae", "logpdf_diagonal_gaussian", "logpdf_diagonal_gaussian", None),      # the stand-in
    ("vae", "logpdf_diagonal_gaussian", "gauss_cpu_constant", "creates a tensor on the CPU"),
    ("vae", "elbo_loss", "elbo_loss", None),
    ("vae", "elbo_loss", "elbo_float_tensor_prior", "creates a tensor on the CPU"),
    ("wgan", "gradient_penalty", "gradient_penalty", None),                    # meta networks
    ("wgan", "gradient_penalty", "gp_cpu_eps", "creates a tensor on the CPU"),
    ("inversion", "find_path", "find_path", None),                  # the stand-in with a network
    ("inversion", "find_path", "find_path_cpu_line", "creates a tensor on the CPU"),
    ("gan", "sample_z", "sample_z", None),            # Uniform fails on meta: not a device error
    ("gan", "sample_z", "sample_z_cpu", "returned codes on the cpu device"),
    ("gan", "d_loss", "d_loss", None),                         # .item(): the stand-in
    ("gan", "d_loss", "d_loss_cpu_labels", "creates a tensor on the CPU"),
    ("gan", "d_loss", "d_loss_joint", "in one call"),
    ("gan", "g_loss", "g_loss", None),
    ("gan", "g_loss", "g_loss_cpu_labels", "creates a tensor on the CPU"),
])
@pytest.mark.slow
@pytest.mark.nbgrader
def test_the_judge_decides_as_the_direct_check(kernel, module, check, code, verdict):
    error = judged(kernel, module, f"checks.check_{check}({code}, level='hidden')")
    assert common.REMOTE is None
    if verdict is None:
        assert error is None, error
    else:
        assert error is not None and verdict in str(error), error
        assert "How to fix" in str(error)
