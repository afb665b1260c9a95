"""A browser demo of saved ginr models (Gradio): reconstruction, locality, novel views and generation.

The app lives in ``ginr_apps.demo``; ``--help`` lists its flags.
"""

from ginr_apps.demo import run

if __name__ == "__main__":
    run()
