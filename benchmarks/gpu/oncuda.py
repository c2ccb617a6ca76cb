"""Run a CPU script with CUDA as torch's default device, deterministically: `python oncuda.py SCRIPT ARGS`."""

import os
import runpy
import sys

import torch

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
torch.backends.cudnn.deterministic = True
torch.backends.cudnn.benchmark = False
torch.set_default_device("cuda")
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
