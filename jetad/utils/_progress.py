"""jetad's one progress mechanism: tqdm bars on stderr, flushed table lines on stdout.

Every long loop of jetad (pre-training epochs, NAE iterations, generation
chunks, suite units) shows one :func:`progress_bar` with an ETA. Table lines
(``verbose >= 2``) go through :func:`write_line`, so they do not break the
bars. Nothing here writes terminal escape codes when the stream is not a
terminal: tqdm then only redraws with carriage returns, and less often.
"""

import sys

__all__ = ["is_terminal", "progress_bar", "write_line"]

#: Seconds between two redraws of a bar that does not write to a terminal (a log file).
_LOG_MININTERVAL = 10.0


def is_terminal(stream=None):
    """Whether ``stream`` (default: ``sys.stderr``) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(total=None, *, desc=None, unit="it", initial=0, leave=True, disable=False):
    """A tqdm bar on the current ``sys.stderr`` (a notebook widget in Jupyter).

    Parameters
    ----------
    total : int or None, default=None
        Number of steps (None: no ETA).
    desc, unit : str
        Label of the bar and name of one step.
    initial : int, default=0
        Steps already done (a resumed run).
    leave : bool, default=True
        Keep the finished bar as one summary line.
    disable : bool, default=False
        A silent bar (every method still works).

    Returns
    -------
    tqdm.tqdm
    """
    from tqdm.auto import tqdm

    stream = sys.stderr
    notebook = any(klass.__module__ == "tqdm.notebook" for klass in tqdm.__mro__)
    interactive = notebook or is_terminal(stream)
    # off a terminal, position 0 keeps tqdm from moving the cursor with escape codes
    extra = {} if interactive else {"position": 0, "mininterval": _LOG_MININTERVAL}
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=leave,
                disable=disable, file=stream, dynamic_ncols=interactive, **extra)


def write_line(text, file=None):
    """Print ``text`` (default: on ``sys.stdout``) above the open bars and flush."""
    stream = sys.stdout if file is None else file
    if is_terminal(stream) and is_terminal(sys.stderr):
        from tqdm.auto import tqdm

        tqdm.write(text, file=stream)  # clears the bars of the terminal and redraws them
    else:
        stream.write(text + "\n")
    stream.flush()
