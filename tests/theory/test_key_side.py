import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.errors import InvalidInputError
from theory.key_side import DIRECTION_TOL, collinear_conflicts, zero_keys


def brute_force(keys, fact_map, both_signs):
    """O(F²) reference: connected components of 'same ray/line' pairs with >1 value."""
    keys = np.asarray(keys, float)
    nz = [i for i in range(len(keys)) if keys[i].any()]
    unit = {i: keys[i] / np.linalg.norm(keys[i]) for i in nz}
    parent = {i: i for i in nz}

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for a, b in itertools.combinations(nz, 2):
        gap = np.abs(unit[a] - unit[b]).max()
        if both_signs:
            gap = min(gap, np.abs(unit[a] + unit[b]).max())
        if gap <= DIRECTION_TOL:
            parent[find(b)] = find(a)
    groups = {}
    for i in nz:
        groups.setdefault(find(i), []).append(i)
    return sorted(
        tuple(sorted(g)) for g in groups.values() if len(g) > 1 and len(set(fact_map[g])) > 1
    )


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 25),
    d=st.integers(1, 6),
    n_planted=st.integers(0, 6),
    both=st.booleans(),
)
def test_matches_brute_force_with_planted_multiples(seed, n, d, n_planted, both):
    rng = np.random.default_rng(seed)
    keys = rng.standard_normal((n, d))
    fact_map = rng.integers(0, 3, n)
    extra_keys, extra_map = [], []
    for _ in range(n_planted):  # multiples t·k with t of either sign and wide magnitude
        source = rng.integers(0, n)
        t = rng.choice([-1, 1]) * 10.0 ** rng.uniform(-3, 3)
        extra_keys.append(t * keys[source])
        extra_map.append(rng.integers(0, 3))
    if rng.random() < 0.3:
        extra_keys.append(np.zeros(d))
        extra_map.append(0)
    if extra_keys:
        keys = np.vstack([keys, extra_keys])
        fact_map = np.concatenate([fact_map, extra_map])
    assert collinear_conflicts(keys, fact_map, both_signs=both) == brute_force(keys, fact_map, both)


def test_positive_multiple_is_a_ray_conflict_negative_only_a_line_conflict():
    k = np.array([[0.3, -1.2, 2.0], [0.6, -2.4, 4.0], [-0.3, 1.2, -2.0], [1.0, 0.0, 0.0]])
    f = np.array([0, 1, 2, 0])
    assert collinear_conflicts(k, f) == [(0, 1)]
    assert collinear_conflicts(k, f, both_signs=True) == [(0, 1, 2)]


def test_same_value_on_one_ray_is_no_conflict():
    assert collinear_conflicts([[1.0, 2.0], [3.0, 6.0]], [4, 4]) == []


def test_random_keys_in_general_position_have_no_conflicts():
    rng = np.random.default_rng(0)
    keys = rng.standard_normal((3000, 16))
    assert collinear_conflicts(keys, rng.integers(0, 50, 3000), both_signs=True) == []


def test_zero_keys():
    assert zero_keys([[0.0, 0.0], [1.0, 0.0], [-0.0, 0.0]]).tolist() == [0, 2]
    with pytest.raises(InvalidInputError, match=r"keys\[1, 0\] is nan"):
        zero_keys([[0.0, 0.0], [np.nan, 0.0]])
