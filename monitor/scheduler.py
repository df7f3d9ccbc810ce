"""When the daemon works: APScheduler 3.x jobs built from the config.

Per source: one job on its ``interval`` (first run at start-up) and one job per
``cron`` entry. A delivery job drains the outbox every ``server.deliver_every``.
Every job coalesces missed runs into one, never runs twice at once, and still
runs up to the source's ``misfire_grace`` late (after a suspend, or a cycle
that took longer than the interval); later than that the run is skipped and
the next one is awaited.

The scheduler knows nothing about what a cycle does: the daemon hands it two
callables, so this module stays about *when*.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.settings import CronSchedule, Settings

DELIVER_JOB = "deliver"


def cycle_job_id(source: str) -> str:
    return f"cycle:{source}"


def cron_job_id(source: str, index: int) -> str:
    return f"cron:{source}:{index}"


def full_job_id(source: str) -> str:
    return f"full:{source}"


class WorkdayCronTrigger(BaseTrigger):
    """A cron trigger that fires only on working days of the work calendar.

    ``mon-fri`` in a crontab is wrong twice a year at least: it fires on
    statutory holidays and misses the make-up Saturdays (调休上班). This wraps a
    :class:`CronTrigger` and moves any fire time on a non-working day to the
    first cron time of the next day, until one lands on a working day.
    """

    #: a year without one working day is a broken calendar, not a schedule
    MAX_DAYS = 366

    def __init__(self, cron: CronTrigger, calendar: WorkCalendar) -> None:
        self.cron = cron
        self.calendar = calendar

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None,
                           now: dt.datetime) -> dt.datetime | None:
        fire = self.cron.get_next_fire_time(previous_fire_time, now)
        for _ in range(self.MAX_DAYS):
            if fire is None or self.calendar.is_workday(fire.date()):
                return fire
            next_day = dt.datetime.combine(fire.date() + dt.timedelta(days=1), dt.time(),
                                           tzinfo=fire.tzinfo)
            fire = self.cron.get_next_fire_time(None, next_day)
        return None

    def __str__(self) -> str:
        return f"workdays {self.cron}"


def cron_trigger(schedule: CronSchedule, calendar: WorkCalendar, tz: dt.tzinfo) -> BaseTrigger:
    cron = CronTrigger.from_crontab(schedule.crontab, timezone=tz)
    return WorkdayCronTrigger(cron, calendar) if schedule.workdays_only else cron


def make_scheduler(settings: Settings) -> BackgroundScheduler:
    """A background scheduler with one worker per source (plus the delivery worker)."""
    workers = max(2, len(settings.sources) + 1)
    return BackgroundScheduler(
        timezone=settings.tz,
        executors={"default": ThreadPoolExecutor(max_workers=workers)},
        job_defaults={"coalesce": True, "max_instances": 1},
    )


def schedule_jobs(scheduler: BackgroundScheduler, settings: Settings, calendar: WorkCalendar,
                  run_source: Callable[..., None], deliver: Callable[[], None],
                  now: dt.datetime | None = None) -> list[str]:
    """(Re)place every job for ``settings``; returns the job ids. The first cycles run at once.

    A source with ``incremental`` also gets its full scan at ``server.full_scan``
    (``run_source(name, True)``); its other cycles are incremental.
    """
    tz = settings.tz
    start = (now or dt.datetime.now(tz)).astimezone(tz)
    scheduler.remove_all_jobs()
    ids = []
    for name, src in settings.sources.items():
        grace = int(src.misfire_grace.total_seconds())
        scheduler.add_job(
            run_source, IntervalTrigger(seconds=src.interval.total_seconds(), timezone=tz),
            args=[name], id=cycle_job_id(name), name=f"evaluate {name} every {src.interval}",
            next_run_time=start, misfire_grace_time=grace,
        )
        ids.append(cycle_job_id(name))
        for i, sched in enumerate(src.cron):
            scheduler.add_job(
                run_source, cron_trigger(sched, calendar, tz), args=[name],
                id=cron_job_id(name, i), name=f"evaluate {name} at {sched.crontab}",
                misfire_grace_time=grace,
            )
            ids.append(cron_job_id(name, i))
        if src.incremental is not None:
            scheduler.add_job(
                run_source, CronTrigger.from_crontab(settings.server.full_scan, timezone=tz),
                args=[name, True], id=full_job_id(name),
                name=f"scan {name} fully at {settings.server.full_scan}", misfire_grace_time=grace,
            )
            ids.append(full_job_id(name))
    every = settings.server.deliver_every.total_seconds()
    scheduler.add_job(
        deliver, IntervalTrigger(seconds=every, timezone=tz), id=DELIVER_JOB,
        name="drain the outbox", next_run_time=start, misfire_grace_time=max(1, int(every)),
    )
    ids.append(DELIVER_JOB)
    return ids
