"""Watching a job: the overall progress line with its ETA, and experiment loggers."""

from easyfirst.monitor.job import (
    EpochWatch,
    Job,
    current_job,
    expect_epochs,
    job,
    log_scores,
    note,
)
from easyfirst.monitor.loggers import LOGGERS, MetricLogger, build_loggers

__all__ = ["LOGGERS", "EpochWatch", "Job", "MetricLogger", "build_loggers", "current_job",
           "expect_epochs", "job", "log_scores", "note"]
