"""Fast evaluation of a detector's torch module: scoring and the NAE's chains.

Measured on a 2-core CPU (``benchmarks/bench_core.py``, ``benchmarks/results/core.md``):

* channels-last convolution weights let oneDNN use its blocked kernels for the
  8-filter convolutions (the dominant cost); for single-channel images the
  input layout is the same in both formats, so only the weights change;
* scoring batches of 256 images keep the activations of the Table-2 network in
  the cache (4096 was about twice slower per jet);
* the spectrally normalised weights ``W / sigma`` are computed once per scoring
  call or chain (``torch.nn.utils.parametrize.cached``) instead of once per
  forward: in eval mode the spectral norm does no power iteration, so the
  cached weights equal the per-call ones exactly;
* ``torch.inference_mode`` for scoring (no autograd bookkeeping).

Nothing here sets the number of torch threads: scoring and training use
``torch.get_num_threads()`` as the caller left it (``torch.set_num_threads``
or ``OMP_NUM_THREADS``), so two processes sharing the cores can each be
limited without jetad raising the count.
"""

from contextlib import contextmanager

import numpy as np
import torch
from torch.nn.utils import parametrize

__all__ = ["INFERENCE_BATCH_SIZE", "batched_inference", "fast_eval"]

#: Images per forward pass when scoring, encoding or reconstructing.
INFERENCE_BATCH_SIZE = 256


def _warm_parametrizations(module):
    """Compute every parametrized tensor once, without autograd, into the active cache."""
    with torch.no_grad():
        for sub in module.modules():
            if parametrize.is_parametrized(sub):
                for name in sub.parametrizations:
                    getattr(sub, name)


@contextmanager
def fast_eval(module):
    """Eval mode, channels-last weights and cached spectral-norm weights inside the block.

    A module built in another layout (e.g. unpickled from an older jetad) keeps the
    channels-last weights afterwards (same values). Its parameters must not change
    inside the block (the cached weights would be stale). torch's parametrization cache
    is process-global: a module trained in another *thread* while this block is open
    would see its spectral-norm weights cached too (processes, joblib's default, are
    unaffected).

    Parameters
    ----------
    module : torch.nn.Module
    """
    module.eval()
    module.to(memory_format=torch.channels_last)  # no-op for jetad's own modules
    with parametrize.cached():
        _warm_parametrizations(module)
        yield module


def batched_inference(module, X, fn, batch_size=INFERENCE_BATCH_SIZE):
    """``fn(module, batch)`` over ``X`` in batches, concatenated as float64.

    Parameters
    ----------
    module : torch.nn.Module
    X : ndarray of shape (n, 1, H, W) or (n, d), float32
    fn : callable
        ``fn(module, x) -> torch.Tensor`` of shape ``(len(x), ...)``.
    batch_size : int, default=INFERENCE_BATCH_SIZE

    Returns
    -------
    out : ndarray, float64
    """
    device = next(module.parameters()).device
    out = []
    with fast_eval(module), torch.inference_mode():
        for start in range(0, X.shape[0], batch_size):
            xb = torch.as_tensor(X[start : start + batch_size]).to(device)
            if xb.dim() == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            out.append(fn(module, xb).cpu().double().numpy())
    return np.concatenate(out, axis=0)
