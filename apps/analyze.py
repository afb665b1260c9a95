"""The paper's analyses of a trained model: locality maps (Fig. 5, 12) and test-time optimisation (Fig. 7)

The app lives in ``ginr_apps.analyze``; ``--help`` lists its commands and flags.
"""

from ginr_apps.analyze import run

if __name__ == "__main__":
    run()
