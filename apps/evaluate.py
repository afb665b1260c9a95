"""Evaluate a trained model: per-image PSNR at any resolution, or novel-view PSNR per number of views

The app lives in ``ginr_apps.evaluate``; ``--help`` lists its flags.
"""

from ginr_apps.evaluate import run

if __name__ == "__main__":
    run()
