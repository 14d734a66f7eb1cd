"""Progress of the detectors' training: the epoch bar, the epoch table, the NAE phase.

``verbose`` of every detector: 0 silent; 1 one bar per phase (epochs of the
skorch training, iterations of the NAE phase) on stderr, with its ETA and the
key losses; 2 the bars and one flushed table line per epoch / NAE iteration on
stdout. Colour codes appear only when stdout is a terminal.

A user callback (the detector's ``callbacks``) that defines any of
``on_nae_begin(detector, n_iterations)``,
``on_nae_iteration_end(detector, iteration, row)`` and
``on_nae_end(detector, history)`` is called by the NAE phase as skorch calls
``on_epoch_end``; raising ``KeyboardInterrupt`` from
``on_nae_iteration_end`` stops the phase after that iteration (skorch's
convention, as its ``EarlyStopping`` does).
"""

import re
import sys

from skorch.callbacks import Callback, PrintLog

from jetad.utils._progress import is_terminal, progress_bar, write_line

__all__ = ["EpochProgressBar", "NAEProgress", "make_print_log"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Keys of an NAE history row shown on the bar.
_NAE_POSTFIX = (("E+", "pos_energy"), ("E-", "neg_energy"), ("loss", "loss"))


def _fmt(value):
    return f"{value:.4g}" if isinstance(value, float) else value


class EpochProgressBar(Callback):
    """One tqdm bar over the epochs of a skorch training, losses as postfix.

    Parameters
    ----------
    desc : str, default="training"
    postfix_keys : tuple of str, default=("train_loss", "valid_loss")
        Keys of the last history row shown on the bar.
    """

    def __init__(self, desc="training", postfix_keys=("train_loss", "valid_loss")):
        self.desc = desc
        self.postfix_keys = postfix_keys

    def on_train_begin(self, net, **kwargs):
        self.first_epoch_ = len(net.history)
        self.bar_ = progress_bar(net.max_epochs, desc=self.desc, unit="epoch")

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        self.bar_.set_postfix({k: _fmt(row[k]) for k in self.postfix_keys if k in row},
                              refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        bar = getattr(self, "bar_", None)
        if bar is None:
            return
        # an early stop skips the on_epoch_end of the callbacks after the stopping one
        bar.update(len(net.history) - self.first_epoch_ - bar.n)
        bar.close()
        self.bar_ = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("bar_", None)
        return state


class _PrintLog(PrintLog):
    """skorch's epoch table, flushed above the bars, in colour only on a terminal."""

    def format_row(self, row, key, color):
        text = super().format_row(row, key, color)
        if isinstance(text, str) and not is_terminal(sys.stdout):
            text = _ANSI.sub("", text)
        return text


def make_print_log(verbose):
    """The ``print_log`` callback of a detector's net: a table only at ``verbose >= 2``."""
    if int(verbose) < 2:
        return None
    # per-jet MSEs of unit-sum images are ~1e-5: '.4f' would print 0.0000
    return _PrintLog(sink=write_line, floatfmt=".4g")


def _hooks(callbacks, name):
    return [getattr(cb, name) for cb in callbacks or () if callable(getattr(cb, name, None))]


class NAEProgress:
    """Bar, table lines and user callbacks of one NAE phase.

    Parameters
    ----------
    detector : NAEDetector or None
        Passed to the user callbacks.
    callbacks : list or None
        The detector's ``callbacks``; those defining ``on_nae_*`` are called.
    verbose : int
    """

    def __init__(self, detector=None, callbacks=None, verbose=0):
        self.detector, self.verbose = detector, int(verbose)
        self.callbacks = list(callbacks or [])
        self.bar = None

    def start(self, n_iterations):
        """Open the bar and call ``on_nae_begin``."""
        if self.verbose >= 1:
            self.bar = progress_bar(n_iterations, desc="NAE", unit="it")
        for hook in _hooks(self.callbacks, "on_nae_begin"):
            hook(self.detector, n_iterations)

    def iteration_end(self, row):
        """Report one iteration's history row; True when a callback stops the phase."""
        if self.bar is not None:
            self.bar.set_postfix({k: _fmt(row[key]) for k, key in _NAE_POSTFIX}, refresh=False)
            self.bar.update(1)
        if self.verbose >= 2:
            write_line(f"NAE it {row['iteration']:6d} loss {row['loss']:+.4f} "
                       f"E+ {row['pos_energy']:.4f} E- {row['neg_energy']:.4f} "
                       f"acc_z {row['accept_z']:.2f} acc_x {row['accept_x']:.2f}")
        try:
            for hook in _hooks(self.callbacks, "on_nae_iteration_end"):
                hook(self.detector, row["iteration"], row)
        except KeyboardInterrupt:
            return True
        return False

    def close(self, history):
        """Close the bar and call ``on_nae_end``."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        for hook in _hooks(self.callbacks, "on_nae_end"):
            hook(self.detector, history)
