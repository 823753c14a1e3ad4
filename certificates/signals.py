"""Signals of the certificates app, so that documents reacts to a run without certificates importing it."""

from django.dispatch import Signal

# Sent after the commit of a run's execution (every target issued; also when a resumed or concurrent
# execute hands over again). Argument: run_id. documents plans and enqueues the run's PDF chunks
# (documents.services.run_documents_schedule, idempotent).
run_issued = Signal()
