"""Render unseen views of an object from 1-5 posed support views: a PNG strip and an animated GIF

The app lives in ``ginr_apps.render``; ``--help`` lists its flags.
"""

from ginr_apps.render import run

if __name__ == "__main__":
    run()
