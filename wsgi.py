import os

# Small linear algebra (per-site fits, bootstraps) is far faster on one BLAS thread.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from app import create_app

app = create_app()
