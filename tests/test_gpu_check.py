"""bench/gpu_check.py, the script a GPU machine runs: its arguments, its message without a GPU,
and its harness on the CPU (--cpu: numpy and PyTorch CPU stand in for CuPy and CUDA)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_nn_type import CUDA_MISSING

ROOT = Path(__file__).resolve().parents[1]


def gpu_check(*args):
    # One BLAS thread: the harness is what is checked here, not the CPU's speed.
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "bench/gpu_check.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)


def test_help_and_bad_arguments():
    assert gpu_check("--help").returncode == 0
    result = gpu_check("--repeats", "0")
    assert result.returncode == 2 and "--repeats must be a positive int, got 0" in result.stderr


@pytest.mark.skipif(CUDA_MISSING is None, reason="this machine has a GPU: the check would run")
def test_without_a_gpu_it_says_so_in_one_line_and_fails():
    result = gpu_check("--no-bench")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("gpu_check: no GPU to check: ")


def test_the_harness_runs_on_the_cpu_and_every_side_computes_the_same_step():
    result = gpu_check("--cpu", "--quick", "--no-tests")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for title in ("Linear step (32, 128->128), float32", "MLP step (batch 64, 784->256->10, MSE), float64"):
        assert title in out
    assert out.count("export/autograd") == 2 and "Exported tanh layer (32, 128->128), float64" in out
    assert out.count("derive/torch") == 4 and out.count("crossover: ") + out.count("CPU is faster at every") == 2
