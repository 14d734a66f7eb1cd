"""Re-check of the adopted NAE demo setting after the spectral-norm zero-bias fix.

One seed, one direction per call, on the images of ``nae_tuning.py prep``
(3000 training jets, jets 3000-6999 of each class for testing)::

    python benchmarks/nae_sn_bias_check.py qcd 0   # QCD background, top anomaly
    python benchmarks/nae_sn_bias_check.py top 0   # top background, QCD anomaly

Prints one JSON line; the numbers are in ``results/nae_tuning.md``.
"""

import json
import os
import sys
import time

import numpy as np
import torch

from jetad import NAEDetector
from jetad._demo import DEMO_PRESET
from jetad.detectors import LangevinSampler
from jetad.metrics import image_concentration, tagging_summary

#: written by ``python benchmarks/nae_tuning.py prep --qcd ... --top ...`` (its default --out)
IMAGES = os.environ.get("JETAD_NAE_TUNING_IMAGES", "benchmarks/.cache/nae_tuning/images.npz")


def main(bkg, seed):
    torch.set_num_threads(1)
    images = np.load(IMAGES)
    sig = "top" if bkg == "qcd" else "qcd"
    B, S = images[bkg], images[sig]
    X_train = B[:3000]
    X_test = np.concatenate([B[3000:7000], S[3000:7000]])
    y = np.r_[np.zeros(len(B[3000:7000])), np.ones(len(S[3000:7000]))]
    t0 = time.time()
    # the preset's chain settings are the sampler's (nested) parameters
    chain = set(LangevinSampler().get_params())
    params = {("sampler__" + k if k in chain else k): v for k, v in DEMO_PRESET["nae"].items()}
    det = NAEDetector(random_state=seed).set_params(**params).fit(X_train)
    z = det.encode(B[3000:5000])
    out = {"bkg": bkg, "seed": seed, "latent_spread": float(1 - np.linalg.norm(z.mean(0))),
           "AE": tagging_summary(y, -det.score_samples_pretrained(X_test)),
           "NAE": tagging_summary(y, det.anomaly_score(X_test)),
           "x2": tagging_summary(y, image_concentration(X_test)),
           "best_iteration": det.best_iteration_, "seconds": time.time() - t0}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
