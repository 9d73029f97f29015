"""Notebook 02 (β-VAE and rate–distortion): each written result as a sympy computation.
``derivations/02_beta_vae.md`` has the prose; ``tests/test_derivations.py`` asserts them."""

from __future__ import annotations

import itertools

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


def minibatch_mi_estimate(q, log=sp.log):
    """The notebook's minibatch estimate of I(x; z) on one batch of K pairs (x_i, z_i), from the
    K×K matrix ``q[i][j] = q(z_i | x_j)``: (1/K) Σ_i [log q(z_i|x_i) − log (1/K) Σ_j q(z_i|x_j)]
    (Part 3's ``log_q_zx - log_aggregate_posterior(z, mu, sigma_square)``, averaged). It is
    InfoNCE with the critic log q(z|x) (Poole et al. 2019). ``log`` may be ``math.log``."""
    k = len(q)
    return sum(log(q[i][i]) - log(sum(q[i]) / k) for i in range(k)) / k


def leave_one_out_estimate(q, log=sp.log):
    """A plausible variant that is *not* a bound: the positive left out of the denominator,
    (1/K) Σ_i [log q(z_i|x_i) − log (1/(K−1)) Σ_{j≠i} q(z_i|x_j)]."""
    k = len(q)
    return sum(log(q[i][i]) - log((sum(q[i]) - q[i][i]) / (k - 1)) for i in range(k)) / k


def _infonce_expectation(px, q_zx, batches, estimate):
    """E[estimate] over batches of pairs: ``batches`` yields (probability of x_1..x_K, xs); each
    z_i is drawn from q(z | x_i) independently. Also the gap's expected-KL form: with
    m(z) = (1/K) Σ_j q(z|x_j), I − E[InfoNCE] = E_x[Σ_z m(z) log(m(z)/q(z))] = KL(P_sym ‖ P_x·q(z)),
    which is ≥ 0 and 0 iff every batch's mixture is q(z)."""
    n_z = len(q_zx[0])
    qz = [sum(px[x] * q_zx[x][z] for x in range(len(px))) for z in range(n_z)]
    mi = sum(px[x] * q_zx[x][z] * sp.log(q_zx[x][z] / qz[z])
             for x in range(len(px)) for z in range(n_z) if q_zx[x][z] != 0)
    expectation, kl = 0, 0
    for p_batch, xs in batches:
        k = len(xs)
        for zs in itertools.product(range(n_z), repeat=k):
            p_z = sp.prod([q_zx[xs[i]][zs[i]] for i in range(k)])
            if p_z == 0:
                continue
            q = [[q_zx[xs[j]][zs[i]] for j in range(k)] for i in range(k)]
            expectation += p_batch * p_z * estimate(q)
        for z in range(n_z):
            m = sum(q_zx[x][z] for x in xs) / k
            if m != 0:
                kl += p_batch * m * sp.log(m / qz[z])
    return {"estimate": expectation, "mi": mi, "gap_kl": kl}


def infonce_iid(k: int = 2, estimate=minibatch_mi_estimate):
    """(c) option B, derived: x ∈ {0, 1} with p(x=0) = π, z ∈ {0, 1} with q(z=0|x=0) = a and
    q(z=0|x=1) = b, and every batch of K i.i.d. pairs (x_i, z_i ~ q(z|x_i)) enumerated exactly.
    Returns E[estimate], I(x; z) and the expected KL that their difference equals."""
    pi, a, b = sp.symbols("pi a b", positive=True)
    px, q_zx = [pi, 1 - pi], [[a, 1 - a], [b, 1 - b]]
    batches = ((sp.prod([px[x] for x in xs]), xs) for xs in itertools.product(range(2), repeat=k))
    return {**_infonce_expectation(px, q_zx, batches, estimate), "symbols": (pi, a, b), "K": k}


def infonce_without_replacement(k: int = 2, m: int = 3, estimate=minibatch_mi_estimate, e=None):
    """The same on a finite data set, as the notebook measures it: x uniform on m images, a batch
    of K distinct ones (drawn without replacement, as a split of the test set gives), and an
    encoder that puts 1 − e on the image's own code z = x and e/(m − 1) on each other one
    (e = 0: the codes tell the images apart; e = (m − 1)/m: z independent of x). ``e``: a
    number, or ``None`` for the symbol."""
    e = sp.Symbol("e", nonnegative=True) if e is None else sp.nsimplify(e)
    px = [sp.Rational(1, m)] * m
    q_zx = [[1 - e if z == x else e / (m - 1) for z in range(m)] for x in range(m)]
    orderings = list(itertools.permutations(range(m), k))
    batches = ((sp.Rational(1, len(orderings)), xs) for xs in orderings)
    return {**_infonce_expectation(px, q_zx, batches, estimate), "e": e, "K": k, "m": m}


def infonce_iid_gap(pi: float, a: float, b: float, k: int) -> float:
    """I − E[InfoNCE] in the i.i.d. two-by-two model for any K, in closed form (numbers): the
    batch enters only through n0, how many of its x are 0 (binomial), so that
    E = Σ_n0 P(n0) Σ_x (n_x/K) Σ_z q(z|x) [log q(z|x) − log((n0 q(z|0) + n1 q(z|1))/K)]."""
    import math

    q = [[a, 1 - a], [b, 1 - b]]
    px = [pi, 1 - pi]
    qz = [pi * q[0][z] + (1 - pi) * q[1][z] for z in range(2)]
    mi = sum(px[x] * q[x][z] * math.log(q[x][z] / qz[z]) for x in range(2) for z in range(2))
    expectation = 0.0
    for n0 in range(k + 1):
        n = (n0, k - n0)
        p = math.comb(k, n0) * pi ** n0 * (1 - pi) ** (k - n0)
        expectation += p * sum(n[x] / k * q[x][z] * (math.log(q[x][z]) - math.log(
            (n[0] * q[0][z] + n[1] * q[1][z]) / k)) for x in range(2) for z in range(2) if n[x])
    return mi - expectation
