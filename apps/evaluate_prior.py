"""FID of a latent prior's samples against reference images (Inception-v3 pool features)

The app lives in ``ginr_apps.evaluate_prior``; ``--help`` lists its flags.
"""

from ginr_apps.evaluate_prior import run

if __name__ == "__main__":
    run()
