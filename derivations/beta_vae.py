"""Notebook 02 (β-VAE and rate–distortion): each written result as a sympy computation.
``derivations/02_beta_vae.md`` has the prose; ``tests/test_derivations.py`` asserts them."""

from __future__ import annotations

import sympy as sp

from derivations.gaussian import normal_logpdf

x, x_hat = sp.symbols("x x_hat", real=True)
sigma = sp.Symbol("sigma", positive=True)       # decoder standard deviation
beta = sp.Symbol("beta", positive=True)
D = sp.Symbol("D", positive=True, integer=True)  # number of pixels

#: (a) −log p(x_j | z) for one pixel of a Gaussian decoder N(x_hat, sigma²)
GAUSSIAN_PIXEL_NLL = (x - x_hat) ** 2 / (2 * sigma ** 2) + sp.log(2 * sp.pi * sigma ** 2) / 2


def gaussian_decoder_nll():
    """(a) −log N(x; x̂, σ²) = (x − x̂)²/(2σ²) + ½ log(2πσ²): the squared error up to a scale
    1/(2σ²) and an additive constant that depends on σ only. Over D pixels the constant is
    (D/2) log(2πσ²), and with σ² = 1/2 the scale is exactly 1."""
    nll = -normal_logpdf(x, x_hat, sigma ** 2)
    sq = (x - x_hat) ** 2
    return {"nll_minus_reference": sp.simplify(nll - GAUSSIAN_PIXEL_NLL),
            "scale": sp.simplify(sp.diff(nll, x, 2) / sp.diff(sq, x, 2)),
            "constant": sp.simplify(nll - sq / (2 * sigma ** 2)),
            "scale_at_half": sp.simplify((sp.diff(nll, x, 2) / 2).subs(sigma, 1 / sp.sqrt(2)))}


def beta_vae_as_decoder_variance():
    """(b) Squared error + β·KL equals β·[squared error/(2σ²) + KL] with σ² = β/2: a β-VAE with a
    squared-error loss is a VAE whose Gaussian decoder has variance β/2 (up to scale and a
    constant)."""
    sq, kl = sp.symbols("S K", nonnegative=True)
    lhs = sq + beta * kl
    rhs = beta * (sq / (2 * sigma ** 2) + kl)
    return {"gap_at_sigma2_beta_half": sp.simplify(rhs.subs(sigma, sp.sqrt(beta / 2)) - lhs)}


def posterior_collapse_mean_image(n: int = 4):
    """(b) With rate 0 the decoder sees no information about x, so its best constant output c
    minimises Σ_i (x_i − c)²: the mean image."""
    xs = sp.symbols(f"x0:{n}", real=True)
    c = sp.Symbol("c", real=True)
    (solution,) = sp.solve(sp.diff(sum((xi - c) ** 2 for xi in xs), c), c)
    return {"argmin": solution, "mean": sum(xs) / n}


def rate_decomposition():
    """(c) E_x KL(q(z|x) ‖ p(z)) = I(x; z) + KL(q(z) ‖ p(z)) with q(z) = E_x q(z|x):
    so the mutual information is at most the rate, with equality iff the aggregate posterior is
    the prior. Checked symbolically on two data points and two codes."""
    pi, a, b, r = sp.symbols("pi a b r", positive=True)   # p(x=0); q(z=0|x=0), q(z=0|x=1); p(z=0)
    px = [pi, 1 - pi]
    q_zx = [[a, 1 - a], [b, 1 - b]]
    pz = [r, 1 - r]
    qz = [sum(px[i] * q_zx[i][k] for i in range(2)) for k in range(2)]
    rate = sum(px[i] * q_zx[i][k] * sp.log(q_zx[i][k] / pz[k]) for i in range(2) for k in range(2))
    mi = sum(px[i] * q_zx[i][k] * sp.log(q_zx[i][k] / qz[k]) for i in range(2) for k in range(2))
    kl_agg = sum(qz[k] * sp.log(qz[k] / pz[k]) for k in range(2))
    gap = sp.expand_log(rate - mi - kl_agg, force=True)
    return {"gap": sp.simplify(gap), "symbols": (pi, a, b, r), "mi": mi, "rate": rate}


def minibatch_mi_cap():
    """(c) The minibatch estimate of I(x; z) is at most log N: each term is
    log q(z_i|x_i) − log[(1/N) Σ_j q(z_i|x_j)] = log N − log(1 + S/a) with a = q(z_i|x_i) and
    S ≥ 0 the sum over the other examples."""
    a, s_other, n = sp.symbols("a S N", positive=True)
    term = sp.log(a) - sp.log((a + s_other) / n)
    return {"term_minus_cap": sp.simplify(sp.expand_log(term - (sp.log(n) - sp.log(1 + s_other / a)),
                                                        force=True)),
            "term": term, "a": a, "S": s_other, "N": n}
