"""Background work: the timer scheduler (in-process loop or Celery beat + workers)."""
