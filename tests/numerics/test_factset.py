import numpy as np
import pytest
from hypothesis import given, settings

from numerics.factset import FactSet
from numerics.testing.strategies import fact_arrays
from theory.errors import InvalidInputError

K = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
V = np.array([[1.0, 0.0], [0.0, 1.0]])
F = np.array([0, 1, 1])


def _with(array, index, value):
    array = np.array(array, dtype=float)
    array[index] = value
    return array


INVALID = [
    ("nan key", dict(keys=_with(K, (2, 1), np.nan)), r"keys\[2, 1\] is nan"),
    ("inf value", dict(values=_with(V, (1, 0), np.inf)), r"values\[1, 0\] is inf"),
    ("-inf key", dict(keys=_with(K, (0, 0), -np.inf)), r"keys\[0, 0\] is -inf"),
    ("1-D keys", dict(keys=np.ones(3)), r"keys must be a 2-D array"),
    ("dim mismatch", dict(values=np.ones((2, 3))), r"values has dimension 3 but 2"),
    (
        "no keys",
        dict(keys=np.ones((0, 2)), fact_map=np.array([], dtype=int)),
        r"keys must have at least 1 row",
    ),
    ("no values", dict(values=np.ones((0, 2))), r"values must have at least 1 row"),
    ("map too short", dict(fact_map=np.array([0, 1])), r"fact_map has 2 entries but 3"),
    ("map 2-D", dict(fact_map=np.zeros((3, 1), dtype=int)), r"fact_map must be a 1-D array"),
    (
        "map too big",
        dict(fact_map=np.array([0, 2, 1])),
        r"fact_map\[1\] = 2 is out of range \[0, 2\)",
    ),
    ("map negative", dict(fact_map=np.array([0, 1, -1])), r"fact_map\[2\] = -1 is out of range"),
    (
        "map fractional",
        dict(fact_map=np.array([0.0, 1.5, 1.0])),
        r"fact_map\[1\] = 1.5 is not an integer",
    ),
    (
        "map nan",
        dict(fact_map=np.array([0.0, np.nan, 1.0])),
        r"fact_map\[1\] = nan is not an integer",
    ),
    ("string keys", dict(keys=np.array([["a", "b"]] * 3)), r"keys must be numeric"),
    ("complex values", dict(values=V.astype(complex)), r"values must be real"),
    (
        "identical keys, two values",
        dict(keys=np.array([[1.0, 2.0], [0.0, 1.0], [1.0, 2.0]]), fact_map=np.array([0, 1, 1])),
        r"keys\[0\] and keys\[2\] are identical but map to different values",
    ),
    (
        "-0.0 equals +0.0",
        dict(keys=np.array([[0.0, 1.0], [2.0, 2.0], [-0.0, 1.0]]), fact_map=np.array([0, 1, 1])),
        r"keys\[0\] and keys\[2\] are identical",
    ),
]


@pytest.mark.parametrize("name, change, message", INVALID, ids=[row[0] for row in INVALID])
def test_invalid_fact_sets_raise_naming_the_problem(name, change, message):
    arrays = {"keys": K, "values": V, "fact_map": F, **change}
    with pytest.raises(InvalidInputError, match=message):
        FactSet(**arrays)


def test_identical_keys_with_the_same_value_are_allowed():
    fs = FactSet([[1.0, 2.0], [1.0, 2.0]], V, [1, 1])
    assert fs.n_facts == 2


def test_arrays_are_normalised_and_read_only():
    fs = FactSet(K.astype(np.float32), V.tolist(), F.astype(np.int32))
    assert fs.keys.dtype == np.float64 and fs.values.dtype == np.float64
    assert fs.fact_map.dtype == np.int64
    with pytest.raises(ValueError):
        fs.keys[0, 0] = 5.0
    assert list(fs.used_values) == [0, 1]


@settings(max_examples=60, deadline=None)
@given(fact_arrays())
def test_generated_edge_cases_are_valid_and_round_trip(tmp_path_factory, arrays):
    keys, values, fact_map = arrays
    fs = FactSet(keys, values, fact_map, meta={"note": "edge"})
    path = fs.save(tmp_path_factory.mktemp("fs") / "set.npz")
    back = FactSet.load(path)
    assert np.array_equal(back.keys, keys) and np.array_equal(back.values, values)
    assert np.array_equal(back.fact_map, fact_map) and back.meta == {"note": "edge"}


def test_load_reports_missing_arrays_and_bad_files(tmp_path):
    np.savez(tmp_path / "partial.npz", keys=K, values=V)
    with pytest.raises(InvalidInputError, match=r"missing array\(s\) \['fact_map'\]"):
        FactSet.load(tmp_path / "partial.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(InvalidInputError, match="not a readable fact-set"):
        FactSet.load(tmp_path / "junk.npz")
    with pytest.raises(InvalidInputError, match="no such file"):
        FactSet.load(tmp_path / "absent.npz")
    np.savez(tmp_path / "bad.npz", keys=_with(K, (1, 1), np.nan), values=V, fact_map=F)
    with pytest.raises(InvalidInputError, match=r"bad.npz: keys\[1, 1\] is nan"):
        FactSet.load(tmp_path / "bad.npz")


def test_load_accepts_a_plain_numpy_file_without_meta(tmp_path):
    np.savez(tmp_path / "plain.npz", keys=K, values=V, fact_map=F)
    fs = FactSet.load(tmp_path / "plain.npz")
    assert fs.meta == {} and fs.n_values == 2
