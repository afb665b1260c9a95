"""Train a diffusion prior over the latent tokens of a frozen INR (Sec. 4.4), with Accelerate

The app lives in ``ginr_apps.train_prior``; ``--help`` lists its flags.
"""

from ginr_apps.train_prior import run

if __name__ == "__main__":
    run()
