"""Shared test settings."""

import torch

# The tests run small batches, for which torch's intra-op threads cost more
# than they save, and on a loaded 2-core machine spinning OpenMP threads made
# them 5 to 15 times slower. One thread keeps the suite's time predictable.
torch.set_num_threads(1)
