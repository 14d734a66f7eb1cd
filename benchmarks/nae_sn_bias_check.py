"""Re-check of the adopted NAE demo setting after the spectral-norm zero-bias fix (one seed, both directions).

Usage: python benchmarks/nae_sn_bias_check.py {qcd,top} SEED  (needs the images.npz of nae_tuning.py prep)
"""
import json
import sys
import time

import numpy as np
import torch

torch.set_num_threads(1)
from jetad import NAEDetector
from jetad._demo import DEMO_PRESET
from jetad.metrics import image_concentration, tagging_summary

bkg = sys.argv[1]; seed = int(sys.argv[2])
d = np.load("/work/scratch/nae_tuning/images.npz")
sig = "top" if bkg == "qcd" else "qcd"
B, S = d[bkg], d[sig]
X_train = B[:3000]; X_test = np.concatenate([B[3000:7000], S[3000:7000]]); y = np.r_[np.zeros(len(B[3000:7000])), np.ones(len(S[3000:7000]))]
t = time.time()
det = NAEDetector(random_state=seed, **DEMO_PRESET["nae"]).fit(X_train)
z = det.encode(B[3000:5000])
out = {"bkg": bkg, "seed": seed, "latent_spread": float(1 - np.linalg.norm(z.mean(0))),
       "AE": tagging_summary(y, -det.score_samples_pretrained(X_test)),
       "NAE": tagging_summary(y, det.anomaly_score(X_test)),
       "x2": tagging_summary(y, image_concentration(X_test)), "best_iteration": det.best_iteration_,
       "seconds": time.time() - t}
print(json.dumps(out))
