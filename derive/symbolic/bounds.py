"""Bounded derivations: every layer either derives or stops with one line.

:func:`bounded` runs a step of the engine under a time limit (SIGALRM, in the main
thread on POSIX) and turns what sympy or Python may raise on an unusual expression
(recursion depth, an internal error, a proof that does not close) into one
:class:`DerivationError` line, a ValueError naming what stopped and where.
KeyboardInterrupt passes through: the CLI answers it with one line and status 130.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from typing import Iterator

from .derivation import ProofError

#: The CLI's default limit, in seconds.
DEFAULT_TIMEOUT = 120.0


class DerivationError(ValueError):
    """The engine could not derive the layer; the message says what stopped, in one line."""


class DerivationTimeout(DerivationError):
    """The derivation ran past its time limit."""


class _Expired(BaseException):
    # A BaseException, so that no `except Exception` inside sympy swallows the alarm.
    pass


_active = threading.local()
_REPEAT = 0.05  # seconds between alarms once the limit has passed


def check_timeout(timeout: float | None) -> float | None:
    """``timeout`` as seconds (None: no limit); anything else is a ValueError/TypeError."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if not (0 < timeout < math.inf):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def bounded(what: str, timeout: float | None = None) -> Iterator[None]:
    """Run the block as one bounded step of deriving ``what`` (the layer's text).

    With ``timeout`` (seconds) it stops with :class:`DerivationTimeout` once that much
    wall time has passed; the limit needs the main thread of a POSIX process (SIGALRM),
    elsewhere it is not applied. An enclosing ``bounded`` block's limit stands.
    """
    timeout = check_timeout(timeout)
    outer = getattr(_active, "depth", 0)
    armed = (timeout is not None and outer == 0 and hasattr(signal, "setitimer")
             and threading.current_thread() is threading.main_thread())
    previous, timer = None, (0.0, 0.0)
    if armed:
        def expire(signum, frame):
            raise _Expired()
        previous = signal.signal(signal.SIGALRM, expire)
        # Repeating: an alarm that lands in a callback Python cannot raise from (a gc callback)
        # is lost there, so it fires again until the block stops.
        timer = signal.setitimer(signal.ITIMER_REAL, timeout, _REPEAT)
    _active.depth = outer + 1
    try:
        yield
    except _Expired:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)  # no second alarm while the error is made
        if outer:
            raise
        raise DerivationTimeout(f"{what}: stopped after {timeout:g} s (give a longer --timeout, "
                                "or a simpler layer)") from None
    except RecursionError:
        raise DerivationError(f"{what}: nested too deeply for the engine (Python's recursion limit); "
                              "write it with fewer nested calls") from None
    except (ValueError, TypeError):
        raise  # the language's and the API's own one-line errors
    except ProofError as error:
        raise DerivationError(f"{what}: a displayed equality did not prove: {_one_line(error)}") from None
    except Exception as error:  # noqa: BLE001 - sympy's internal failures become one line
        raise DerivationError(f"{what}: the engine failed ({type(error).__name__}: "
                              f"{_one_line(error)})") from None
    finally:
        _active.depth = outer
        if armed:  # the caller's alarm and handler as they were (a test runner's, say)
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if timer[0] > 0:
                signal.setitimer(signal.ITIMER_REAL, *timer)
