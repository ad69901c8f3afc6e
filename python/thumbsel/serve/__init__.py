"""The artwork service: candidates from a catalog, a policy, a durable log (see :mod:`.app`)."""

from thumbsel.personalize.store import Store
from thumbsel.serve.pool import Candidate, CandidatePool, load_pool

__all__ = ["Candidate", "CandidatePool", "Store", "load_pool"]
