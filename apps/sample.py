"""Generate images with a saved latent prior: a PNG grid, one row per class

The app lives in ``ginr_apps.sample``; ``--help`` lists its flags.
"""

from ginr_apps.sample import run

if __name__ == "__main__":
    run()
