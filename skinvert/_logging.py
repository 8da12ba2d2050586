"""The library logger and progress reports for ``verbose``."""

import logging
import time

logger = logging.getLogger("skinvert")

# Handler that verbose output adds when nothing else handles its messages.
_HANDLER = logging.StreamHandler()
_HANDLER.setFormatter(logging.Formatter("[skinvert] %(message)s"))


def enable_verbose_output(verbose):
    """Make INFO messages visible when ``verbose`` is set.

    The handler goes on the ``skinvert`` logger only when neither it nor the
    root logger has one, so applications that configure logging keep full
    control of where messages go.
    """
    if not verbose:
        return
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    if _HANDLER in logger.handlers and logging.getLogger().handlers:
        # The application configured logging after an earlier verbose call:
        # its handlers take over, so messages are not printed twice.
        logger.removeHandler(_HANDLER)
    if not logger.hasHandlers():
        logger.addHandler(_HANDLER)


def log_summary(verbose, message, *args):
    """Log ``message`` at INFO when ``verbose`` is set, else at DEBUG.

    An earlier estimator with ``verbose`` set leaves the ``skinvert`` logger
    at INFO, so an unconditional INFO message would show for later
    estimators without ``verbose`` too.
    """
    logger.log(logging.INFO if verbose else logging.DEBUG, message, *args)


class ProgressLogger:
    """Log ``done / total`` at most once per ``interval`` seconds, and at the end.

    Parameters
    ----------
    label : str
        What is being counted, for example ``"bounded solves"``.
    verbose : int
        Nothing is logged when 0.
    interval : float
        Seconds between two messages.
    """

    def __init__(self, label, verbose, interval=1.0):
        self.label = label
        self.verbose = verbose
        self.interval = interval
        self._start = time.perf_counter()
        self._last = -float("inf")

    def __call__(self, done, total):
        if not self.verbose:
            return
        now = time.perf_counter()
        if done < total and now - self._last < self.interval:
            return
        self._last = now
        logger.info(
            "%s: %d/%d targets, %.1f s", self.label, done, total, now - self._start
        )
