"""The prompt engineers' notebooks run top to bottom on the offline model, as CI runs them, in a
kernel on this interpreter (the project's .venv), from the repository root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import papermill
import pytest
from jupyter_client.kernelspec import KernelSpecManager

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
KERNEL = "dental-clinic-ai-tests"
CELL_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def venv_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A kernelspec whose kernel is this interpreter, in a temp Jupyter path: a fresh clone
    has none, and a `python3` found elsewhere could be another Python without the project."""
    prefix = tmp_path_factory.mktemp("jupyter")
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", KERNEL],
        check=True,
        capture_output=True,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "JUPYTER_PATH",
            os.pathsep.join(
                filter(None, [str(prefix / "share" / "jupyter"), os.environ.get("JUPYTER_PATH")])
            ),
        )
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
        assert spec.argv[0] == sys.executable
        yield KERNEL


def test_both_notebooks_are_there() -> None:
    assert {"prompt_playground.ipynb", "eval_review.ipynb"} <= {n.name for n in NOTEBOOKS}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_committed_without_outputs(notebook: Path) -> None:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code
    assert all(not cell["outputs"] and cell["execution_count"] is None for cell in code), (
        f"clear the outputs of {notebook.name} before committing"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_top_to_bottom(
    notebook: Path, venv_kernel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Self-contained: no tracking server of the developer's, no registry bundle.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    executed = tmp_path / notebook.name

    papermill.execute_notebook(
        str(notebook),
        str(executed),
        kernel_name=venv_kernel,
        cwd=str(REPO),
        progress_bar=False,
        execution_timeout=CELL_TIMEOUT_SECONDS,
    )

    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors
