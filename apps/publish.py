"""Publish a trained ginr model or latent prior to the Hugging Face Hub

The app lives in ``ginr_apps.publish``; ``--help`` lists its flags.
"""

from ginr_apps.publish import run

if __name__ == "__main__":
    run()
