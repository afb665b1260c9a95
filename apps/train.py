"""Train a generalizable INR on images or light fields, from one CPU to many GPUs (Hugging Face Accelerate)

The app lives in ``ginr_apps.train``; ``--help`` lists its flags.
"""

from ginr_apps.train import run

if __name__ == "__main__":
    run()
