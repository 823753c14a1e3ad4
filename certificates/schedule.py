"""Celery beat schedule of the after-issue work (imported by config/settings.py into
CELERY_BEAT_SCHEDULE; no Django models here, settings import it before apps are loaded).

One nightly task runs the steps in the order the rules need (certificates.lifecycle.daily_jobs_run):
75th birthdays, expiries, マイナ保険証 registrations, overdue returns. At 00:30 Asia/Tokyo
(CELERY_TIMEZONE) so that a 75th birthday or an expiry of "today" is applied before clerks start work.
Running it again later the same day (a restarted beat, a manual `manage.py run_daily_jobs`) changes
nothing.
"""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "certificates-daily-jobs": {
        "task": "certificates.tasks.run_daily_jobs",
        "schedule": crontab(hour=0, minute=30),
        "options": {"expires": 6 * 3600},  # a backlog older than 6 hours is skipped, not piled up
    },
    # PDF chunks of a 実行中 run whose task messages Redis lost are enqueued again
    # (documents.services.run_documents_resume; a no-op while runs are moving).
    "documents-resume-stalled-runs": {
        "task": "documents.tasks.resume_stalled_runs",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
}
