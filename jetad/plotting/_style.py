"""The optional HEP style (mplhep) of :mod:`jetad.plotting`, applied per figure."""

import contextlib
import functools

from jetad.utils import import_optional

_HEP_STYLES = ("ALICE", "ATLAS", "CMS", "LHCb2", "ROOT")


def _style_context(style):
    """Context applying ``style``: None (matplotlib's rcParams), "hep" or an mplhep style."""
    if style is None:
        return contextlib.nullcontext()
    if not isinstance(style, str):
        raise TypeError(f"style must be None or a str, got {type(style).__name__}")
    name = "ROOT" if style == "hep" else style
    if name.startswith("_"):
        raise ValueError(f"unknown style {style!r}")
    mplhep = import_optional("mplhep", extra="plot")
    sheet = getattr(mplhep.style, name, None)
    if not isinstance(sheet, (dict, list)):
        raise ValueError(
            f"unknown style {style!r}: use None, 'hep' or an mplhep style such as "
            + ", ".join(repr(v) for v in _HEP_STYLES)
        )
    return import_optional("matplotlib.pyplot").style.context(sheet)


def _freeze_fonts(artist):
    """Put the current rcParams' fonts in front of generic families ("sans-serif", ...).

    Matplotlib resolves generic families when a figure is drawn, i.e. after
    the style context has ended; concrete names keep the style's fonts.
    mplhep's "custom" maths fonts cannot be kept that way and become STIX sans.
    ``artist`` is the returned Figure or Axes: other axes of a user's figure
    keep their fonts.
    """
    import_optional("matplotlib")
    from matplotlib import font_manager

    rc = import_optional("matplotlib.pyplot").rcParams
    installed = {f.name for f in font_manager.fontManager.ttflist}
    generic = {"serif", "sans-serif", "monospace", "cursive", "fantasy"}
    for ax in artist.axes if hasattr(artist, "savefig") else [artist]:
        # materialise the ticks that the ticks made at draw time copy
        ax.xaxis.get_major_ticks()
        ax.yaxis.get_major_ticks()
    for text in artist.findobj(lambda a: hasattr(a, "set_fontfamily")):
        if text.get_math_fontfamily() == "custom":
            # "custom" reads its fonts from the rcParams in force at draw time
            text.set_math_fontfamily("stixsans")
        family = text.get_fontfamily()
        if any(f in generic for f in family):
            text.set_fontfamily([n for f in family for n in (
                [v for v in rc[f"font.{f}"] if v in installed] + [f] if f in generic else [f])])


def _styled(func):
    """Run ``func`` under the style named by its ``style`` keyword."""
    @functools.wraps(func)
    def wrapper(*args, style=None, **kwargs):
        with _style_context(style):
            out = func(*args, style=style, **kwargs)
            if style is not None:
                _freeze_fonts(out)
        return out

    return wrapper
