"""Machine checks of each derivation: ``python -m proofs_check``.

Each check module names the claim, the ``theory``/``numerics`` function it exercises and the
evidence it prints; every check can fail.
"""

from proofs_check.checks import registered_checks
from proofs_check.registry import Check, CheckOutcome, Evidence, check, run_check

__all__ = ["Check", "CheckOutcome", "Evidence", "check", "registered_checks", "run_check"]
