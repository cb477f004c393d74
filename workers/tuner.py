"""The tuner (opt-in, ``supervisor.tuner``): runs the ``[tune]`` study under the
supervisor, each trial a short run validated through the promotion path, every trial's
checkpoints counted in K (:mod:`fxconsole.tuning.study`). A stop (SIGTERM, ``ctl stop
tuner``) ends the running trial at its next step, saving ``latest``; it is re-run with
the same parameters when the tuner starts again. When the study has its trials, the
tuner idles (beating) until stopped."""

from __future__ import annotations

import logging

from fxconsole.ops.runtime import WorkerRuntime
from fxconsole.tuning.study import Interrupted, StudyRunner, TrialRow, TuneRequest

logger = logging.getLogger(__name__)
IDLE_SECONDS = 30.0


def main(rt: WorkerRuntime) -> None:
    """Run the study until it has its trials or the worker is stopped."""
    t = rt.config.tune
    request = TuneRequest(rt.config, rt.workspace, t.study, t.trials, t.trial_seconds,
                          t.reports, t.seed)
    finished = 0

    def on_trial(row: TrialRow) -> None:
        nonlocal finished
        finished += 1
        rt.writer.event("info", "tuning", f"study {t.study}: {row.describe()}",
                        {"study": t.study, "trial": row.number, "run": row.run})
        rt.beat(finished, force=True)

    runner = StudyRunner(request, rt.conn, stop=rt.stop.is_set, on_trial=on_trial,
                         tick=lambda: rt.beat(finished))
    rt.beat(0, force=True)
    try:
        runner.run()
    except Interrupted:
        logger.info("study %s stopped; the running trial re-runs on the next start", t.study)
        return
    rt.writer.event("info", "tuning", f"study {t.study} has its {t.trials} trials: "
                    f"`fxconsole tune --study {t.study} --show` lists them", {"study": t.study})
    while not rt.stop.is_set():
        rt.beat(finished)
        rt.sleep(IDLE_SECONDS)
