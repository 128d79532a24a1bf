"""Question answering over article collections, with every claim cited to its passage."""

import os

# OpenMP threads (faiss, torch) that spin while waiting for work starve everything else on a
# laptop's few cores: a 5,000-vector index build took 31.7 s spinning and 1.1 s waiting
# passively on 2 shared cores. It must be set before the OpenMP runtime loads, hence here,
# the one module every entry point imports first; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
