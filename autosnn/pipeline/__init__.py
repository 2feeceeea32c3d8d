"""The pipeline: a whole campaign composed from the parts (above all of them).

:func:`run_pipeline` trains or reuses the supernet, searches, writes the reports and
exports the pick; :func:`build_evaluator` chooses the local or the Ray evaluator.
"""

from autosnn.pipeline.run import build_evaluator, is_complete, run_pipeline

__all__ = ["build_evaluator", "is_complete", "run_pipeline"]
