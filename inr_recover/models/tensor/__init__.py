"""Low-rank tensor-function baselines: LRTFR, DRO-TFF, CRNL (shared pieces in :mod:`.common`)."""
