"""Every notebook runs top to bottom at small sizes (papermill parameter ``small = True``)."""

from pathlib import Path

import pytest

papermill = pytest.importorskip("papermill", reason="papermill is in the dev extra")
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_executes_at_small_size(notebook, tmp_path):
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / notebook.name),
        parameters={"small": True},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
