"""Module for `celery -A bpm_crm.tasks.worker worker|beat`: builds the app from the environment."""
from bpm_crm.tasks.celery_app import make_celery

celery = make_celery()
