import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py: before torch loads OpenMP
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the flat top-level modules
# One intra-op thread: on a small shared machine, OpenMP threads that spin-wait for a busy core
# make small models 10-50x slower; one thread is also what the paper's latency is measured on.
torch.set_num_threads(1)
