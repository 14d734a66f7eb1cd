"""Scoring with the stored weights of a fit: the pre-trained AE and the NAE checkpoints."""

from sklearn.utils.validation import check_is_fitted

from ._monitor import state_copy

__all__ = ["StoredStatesMixin"]


class StoredStatesMixin:
    """``score_samples_pretrained`` and ``load_checkpoint`` of :class:`NAEDetector`.

    Needs ``net_.module_``, ``pretrained_state_``, ``checkpoints_`` (with
    ``keep_checkpoints=True``) and ``score_samples``.
    """

    def score_samples_pretrained(self, X):
        """``score_samples`` of the best pre-trained AE (before the NAE phase).

        Parameters
        ----------
        X : array-like of shape (n_samples, H*W) or (n_samples, 1, H, W)

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
        """
        return self._score_with_state(X, self.pretrained_state_)

    def load_checkpoint(self, iteration):
        """Load the weights of a stored checkpoint (needs ``keep_checkpoints=True``).

        The detector then scores with those weights; ``offset_`` is not updated.

        Parameters
        ----------
        iteration : int
            An ``iteration`` of ``checkpoints_``.

        Returns
        -------
        self
        """
        check_is_fitted(self)
        for checkpoint in getattr(self, "checkpoints_", []):
            if checkpoint["iteration"] == iteration:
                self.net_.module_.load_state_dict(checkpoint["state"])
                return self
        raise ValueError(f"no checkpoint for iteration {iteration}; stored: "
                         f"{[c['iteration'] for c in getattr(self, 'checkpoints_', [])]}")

    def _score_with_state(self, X, state):
        check_is_fitted(self)
        module = self.net_.module_
        current = state_copy(module)
        try:
            module.load_state_dict(state)
            return self.score_samples(X)
        finally:
            module.load_state_dict(current)
