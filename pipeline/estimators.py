"""Bias-corrected information estimates with intervals and significance (docs/measures.md, "Estimators").

Everything here works on dense joint count tables ``tables`` of shape (rows, bins, classes): one row per
(neuron, bits), n(t, y) as stored in ``counts``. Plain numpy, vectorized over rows; random draws come from
the generator the caller seeds (pipeline/estimates.py seeds one per run, layer and bits).

A corrected entropy adds (m - 1) / (2 n ln 2) bits (Miller-Madow), with m the bins counted in the
distribution: the occupied bins (Miller-Madow) or Panzeri-Treves' Bayesian count of relevant bins. An
information is H(T) - sum_g p(g) H(T | g) over groups g (the classes; or the two sides of a one-vs-rest or
subset split) with each entropy corrected the same way. The shuffle estimator subtracts the mean of the
measure over label permutations (tables redrawn with the same margins).
"""
from __future__ import annotations

import math

import numpy as np

LN2 = math.log(2)
Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
MEASURES = ("entropy", "mutual_info", "kl_selectivity", "labeled_mi", "js_subset_separation")
ESTIMATORS = ("plugin", "miller_madow", "panzeri_treves", "shuffle")
LABEL_MEASURES = MEASURES[1:]  # the shuffle estimator permutes labels: entropy has none
MIN_EXPECTED, LOW_EXPECTED, LOW_SHARE = 1.0, 5.0, 0.2  # Cochran's rule for the chi-squared approximation


def entropy(counts: np.ndarray) -> np.ndarray:
    """Plug-in entropy in bits of the counts along the last axis: log2 n - sum_t n_t log2 n_t / n (0 if empty)."""
    counts = np.asarray(counts, np.float64)
    total = counts.sum(-1)
    xlogx = (counts * np.log2(np.maximum(counts, 1.0))).sum(-1)  # counts are whole numbers: 0 log 0 = 1 log 1 = 0
    return np.where(total > 0, np.log2(np.maximum(total, 1.0)) - xlogx / np.maximum(total, 1.0), 0.0)


def occupied(counts: np.ndarray) -> np.ndarray:
    """Miller-Madow's count of bins: the occupied ones, along the last axis."""
    return (np.asarray(counts) > 0).sum(-1).astype(np.float64)


def relevant_bins(counts: np.ndarray) -> np.ndarray:
    """Panzeri-Treves' Bayesian count of relevant bins along the last axis (Panzeri & Treves 1996): the
    occupied bins plus the most unoccupied bins x whose expected occupancy keeps matching the observed."""
    counts = np.asarray(counts, np.float64)
    n = counts.sum(-1)
    dim = counts.shape[-1]
    seen = occupied(counts)
    samples = np.maximum(n, 1.0)  # an empty distribution counts as 1 sample (its count is 0 anyway)
    p = counts / samples[..., None]
    nz = counts > 0
    # the expected number of occupied bins when x bins beyond the seen ones are relevant, for x = 0..dim
    gaps = [np.abs(seen - (nz * (1 - (1 - p) ** samples[..., None])).sum(-1))]
    for extra in range(1, dim + 1):
        gamma = extra * (1 - (samples / (samples + seen)) ** (1 / samples))
        bayes = ((1 - gamma) / (samples + seen))[..., None] * (p * samples[..., None] + 1)
        expected = (nz * (1 - (1 - bayes) ** samples[..., None])).sum(-1) + extra * (1 - (1 - gamma / extra) ** samples)
        gaps.append(np.abs(seen - expected))
    gaps = np.stack(gaps, -1)
    # x grows while the gap shrinks and seen + x stays below dim; the count is seen + (the last x kept)
    extra = np.zeros(seen.shape)
    going = seen < dim
    for x in range(1, dim + 1):
        going &= (gaps[..., x] < gaps[..., x - 1]) & (seen + x < dim)
        extra = np.where(going, x, extra)
    return np.where(n > 0, seen + extra, seen)


COUNTED = {"plugin": None, "miller_madow": occupied, "panzeri_treves": relevant_bins}


def entropy_bias(counts: np.ndarray, counted) -> np.ndarray:
    """(m - 1) / (2 n ln 2): what a plug-in entropy of ``counts`` falls short by (0 for plugin or empty)."""
    if counted is None:
        return np.zeros(np.shape(counts)[:-1])
    n = np.asarray(counts).sum(-1)
    return np.where(n > 0, (counted(counts) - 1) / (2 * np.maximum(n, 1) * LN2), 0.0)


def corrected_entropy(counts: np.ndarray, counted=None) -> np.ndarray:
    """Entropy of the counts along the last axis, corrected by ``counted`` (None: plug-in)."""
    return entropy(counts) + entropy_bias(counts, counted)


def information(groups: np.ndarray, counted=None) -> np.ndarray:
    """I(T; G) of tables (..., bins, groups): H(T) - sum_g p(g) H(T | g), each entropy corrected by ``counted``."""
    marginal = groups.sum(-1)
    n = marginal.sum(-1)
    share = groups.sum(-2) / np.maximum(n, 1)[..., None]
    h_given = corrected_entropy(np.moveaxis(groups, -1, -2), counted)  # (..., groups) over the bins
    return corrected_entropy(marginal, counted) - (share * h_given).sum(-1)


def subset_members(subsets: np.ndarray, n_classes: int) -> np.ndarray:
    """(rows, classes) 0/1 membership of each class in each bitmask of ``subsets`` (bit c: class c)."""
    return (np.asarray(subsets, np.int64)[:, None] >> np.arange(n_classes)) & 1


def one_vs_rest(tables: np.ndarray, member: np.ndarray) -> np.ndarray:
    """(rows, bins, 2) tables of T against 1[Y in S]: ``member`` (rows, classes) or (classes,) marks S."""
    inside = (tables * member[..., None, :]).sum(-1)
    return np.stack([inside, tables.sum(-1) - inside], -1)


def specific_info(tables: np.ndarray, counted=None) -> np.ndarray:
    """D(P(T|y) || P(T)) of every class (rows, classes); NaN for an absent class. Corrected by the class's share
    of the information's correction, [(m_y - 1) / n_y - (m - 1) / N] / (2 ln 2), so sum_y p(y) D_y = I(T;Y)."""
    n_t = tables.sum(-1)
    n = n_t.sum(-1)
    n_y = tables.sum(-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = tables / n_y[..., None, :]
        p = (n_t / n[..., None])[..., None]
        terms = np.where(tables > 0, q * np.log2(q / p), 0.0)
    values = terms.sum(-2)
    if counted is not None:
        conditional = np.moveaxis(tables, -1, -2)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = values - ((counted(conditional) - 1) / n_y - ((counted(n_t) - 1) / n)[..., None]) / (2 * LN2)
    return np.where(n_y > 0, values, np.nan)


def labeled_information(tables: np.ndarray, counted=None) -> np.ndarray:
    """I(T; 1[Y = y]) of every class (rows, classes), all classes at once; 0 for an absent class."""
    inside = np.moveaxis(tables, -1, -2)  # (rows, classes, bins): class y's side of its split
    rest = tables.sum(-1)[..., None, :] - inside
    present = inside.sum(-1) > 0
    return np.where(present, information(np.stack([inside, rest], -1), counted), 0.0)


def measures(tables: np.ndarray, subsets: np.ndarray, counted=None) -> dict[str, np.ndarray]:
    """Every measure of the tables (rows, bins, classes), corrected by ``counted`` (None: plug-in).
    ``subsets`` (rows,) are the plug-in's js_subset masks: JS is read on that split (not maximized again)."""
    tables = np.asarray(tables, np.float64)
    return {
        "entropy": corrected_entropy(tables.sum(-1), counted),
        "mutual_info": information(tables, counted),
        "kl_selectivity": np.nanmax(specific_info(tables, counted), -1),
        "labeled_mi": labeled_information(tables, counted).max(-1),
        "js_subset_separation": information(one_vs_rest(tables, subset_members(subsets, tables.shape[-1])), counted),
    }


def shuffled(tables: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """``draws`` tables per row (rows, draws, bins, classes) with the row's margins, as if the labels had been
    permuted: class by class, its n(y) samples drawn without replacement from the bins' remaining samples."""
    tables = np.asarray(tables, np.int64)
    rows, n_bins, n_classes = tables.shape
    remaining = np.broadcast_to(tables.sum(-1)[:, None, :], (rows, draws, n_bins)).copy()
    out = np.zeros((rows, draws, n_bins, n_classes), np.int64)
    for y in range(n_classes - 1):  # the last class takes the samples left in each bin
        left = np.broadcast_to(tables[:, :, y].sum(-1)[:, None], (rows, draws)).copy()
        for t in range(n_bins):
            rest = remaining[..., t + 1:].sum(-1)
            x = left if t == n_bins - 1 else rng.hypergeometric(remaining[..., t], rest, left)
            out[..., t, y] = x
            remaining[..., t] -= x
            left = left - x
    out[..., n_classes - 1] = remaining
    return out


def resampled(tables: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap tables (rows, draws, bins, classes): each row's N samples redrawn from its joint frequencies."""
    tables = np.asarray(tables, np.int64)
    rows, n_bins, n_classes = tables.shape
    n = tables.reshape(rows, -1).sum(-1)
    p = tables.reshape(rows, -1) / np.maximum(n, 1)[:, None]
    draws_ = rng.multinomial(np.repeat(n[:, None], draws, 1), np.repeat(p[:, None, :], draws, 1))
    return draws_.reshape(rows, draws, n_bins, n_classes)


def standard_errors(tables: np.ndarray, subsets: np.ndarray, plugin: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Analytic standard errors (delta method plus the second-order term that dominates near zero):
    Var = (sum p L^2 - value^2) / n + (cells - 1 ...) / (2 (n ln 2)^2) per measure, L its log-ratio."""
    tables = np.asarray(tables, np.float64)
    n_classes = tables.shape[-1]
    n = tables.sum((-1, -2))

    def info_se(groups, value):
        m = groups.sum(-1)
        total = m.sum(-1)[..., None, None]
        g = groups.sum(-2)[..., None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(groups > 0, np.log2(groups * total / (m[..., None] * g)), 0.0)
        n_ = total[..., 0, 0]
        first = ((groups / total * ratio ** 2).sum((-1, -2)) - value ** 2) / n_
        # the free cells behind the bias, sum_g (m_g - 1) - (m_T - 1): (bins - 1)(groups - 1) under independence
        # (a null information's variance is 2 df / (2 N ln 2)^2); at least m_T - 1, H(T)'s own second-order noise,
        # which is all there is when T is a function of the group
        df = np.maximum(occupied(groups).sum(-1) - occupied(m) - occupied(groups.sum(-2)) + 1, occupied(m) - 1)
        # the plug-in first-order term is itself noisy: under independence it is chi2(df) / (N ln 2)^2; only
        # what exceeds df + z sqrt(2 df) of it counts, so noise near zero does not widen the interval
        noise = (df + Z95 * np.sqrt(2 * df)) / (n_ * LN2) ** 2
        return np.sqrt(np.maximum(first - noise, 0) + df / (2 * (n_ * LN2) ** 2))

    marginal = tables.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(marginal > 0, np.log2(n[:, None] / marginal), 0.0)
    h = plugin["entropy"]
    h_var = np.maximum((marginal / n[:, None] * logs ** 2).sum(-1) - h ** 2, 0) / n
    h_var += (occupied(marginal) - 1) / (2 * (n * LN2) ** 2)

    # KL selectivity and labeled MI: the class the plug-in picked; JS: its subset
    d = specific_info(tables)
    kl_class = np.nanargmax(np.where(np.isnan(d), -np.inf, d), -1)
    q_table = np.take_along_axis(tables, kl_class[:, None, None], -1)[..., 0]
    n_y = q_table.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(q_table > 0, np.log2(q_table * n[:, None] / (n_y[:, None] * marginal)), 0.0)
        q = q_table / n_y[:, None]
    kl = plugin["kl_selectivity"]
    kl_var = np.maximum((q * log_ratio ** 2).sum(-1) - kl ** 2, 0) / n_y + (occupied(q_table) - 1) / (2 * (n_y * LN2) ** 2)

    chosen = np.eye(n_classes)[labeled_information(tables).argmax(-1)]
    members = subset_members(subsets, n_classes)
    return {
        "entropy": np.sqrt(h_var),
        "mutual_info": info_se(tables, plugin["mutual_info"]),
        "kl_selectivity": np.sqrt(kl_var),
        "labeled_mi": info_se(one_vs_rest(tables, chosen), plugin["labeled_mi"]),
        "js_subset_separation": info_se(one_vs_rest(tables, members), plugin["js_subset_separation"]),
    }


def independence_test(tables: np.ndarray, mutual_info: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """G-test of T independent of Y: G = 2 N ln 2 I(T;Y) with Williams' correction against chi-squared with
    (occupied bins - 1) x (present classes - 1) degrees of freedom; and the small-sample flag (an expected count n(t) n(y) / N
    below MIN_EXPECTED, or more than LOW_SHARE of them below LOW_EXPECTED, over occupied bins x present classes)."""
    tables = np.asarray(tables, np.float64)
    n_t, n_y = tables.sum(-1), tables.sum(-2)
    n = n_t.sum(-1)
    rows_, cols = occupied(n_t), occupied(n_y)
    df = (rows_ - 1) * (cols - 1)
    with np.errstate(divide="ignore"):
        inverse_t = np.where(n_t > 0, 1 / n_t, 0).sum(-1)
        inverse_y = np.where(n_y > 0, 1 / n_y, 0).sum(-1)
    # Williams' correction (G / q) brings G's law closer to chi-squared when expected counts are small
    q = 1 + (n * inverse_t - 1) * (n * inverse_y - 1) / (6 * np.maximum(n, 1) * np.maximum(df, 1))
    g = 2 * n * LN2 * np.maximum(mutual_info, 0) / q
    from scipy import stats  # lazy: 0.2 s to import, and most CLI verbs never need it

    p_value = np.where(df > 0, stats.chi2.sf(g, np.maximum(df, 1)), 1.0)
    expected = n_t[:, :, None] * n_y[:, None, :] / np.maximum(n, 1)[:, None, None]
    cell = (n_t[:, :, None] > 0) & (n_y[:, None, :] > 0)
    cells = cell.sum((-1, -2))
    low = ((expected < LOW_EXPECTED) & cell).sum((-1, -2))
    tiny = ((expected < MIN_EXPECTED) & cell).any((-1, -2))
    small = tiny | (low > LOW_SHARE * np.maximum(cells, 1))
    return p_value, small
