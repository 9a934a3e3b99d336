import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the flat top-level modules
# One intra-op thread: on a small shared machine, OpenMP threads that spin-wait for a busy core
# make small models 10-50x slower; one thread is also what the paper's latency is measured on.
torch.set_num_threads(1)
