"""Held-out sets of other kinds of photographs, for measuring only (never for training or tuning).

Each set is a kind of photograph that ginr never ships, taken from files that other installed
packages ship: scikit-image's and matplotlib's sample images, and the photographs among Debian's
desktop wallpapers (``apt-get install plasma-workspace-wallpapers mate-backgrounds``). A set's
crops are ``ginr_data.PhotoCrops`` of its photographs at every scale, from native pixels up to the
whole photograph downscaled (``max_zoom_out=None``), with a fixed seed: the same crops on every
machine that has the files. A set whose files are missing is skipped with the command that installs
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ginr_data import PhotoCrops

WALLPAPERS = Path("/usr/share/wallpapers")  # plasma-workspace-wallpapers
MATE = Path("/usr/share/backgrounds/mate/nature")  # mate-backgrounds
INSTALL = "apt-get install plasma-workspace-wallpapers mate-backgrounds"


def _plasma(name: str) -> Path:
    return WALLPAPERS / name / "contents" / "images" / "2560x1600.jpg"


def _skimage(name: str) -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data" / name


def _matplotlib(name: str) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / name


@dataclass(frozen=True)
class HeldOutSet:
    name: str
    description: str
    files: tuple[Path, ...]
    smooth: bool = False  # only the smooth crops of the photographs (as the embedded "smooth" split)

    def missing(self) -> list[Path]:
        return [path for path in self.files if not path.is_file()]

    def crops(self, resolution: int = 32, size: int = 64, seed: int = 0) -> PhotoCrops:
        photos = {}
        for path in self.files:
            with Image.open(path) as image:
                photos[path.stem if path.stem != "2560x1600" else path.parents[2].name] = image.convert("RGB")
        stream = 100 + sorted(SETS).index(self.name)
        return PhotoCrops(photos, resolution, size, seed, max_zoom_out=None, smooth_fraction=float(self.smooth),
                          stream=stream)  # fmt: skip


OUTDOOR = tuple(_plasma(n) for n in ("BytheWater", "DarkestHour", "EveningGlow", "Kite", "Path", "summer_1am"))
OUTDOOR += (MATE / "Dune.jpg", MATE / "Storm.jpg")
CLOSE_UPS = tuple(MATE / f"{n}.jpg" for n in ("FreshFlower", "Garden", "LadyBird", "RainDrops", "TwoWings", "Aqua"))
CLOSE_UPS += (MATE / "YellowFlower.jpg", _plasma("FallenLeaf"), _plasma("OneStandsOut"))
SETS = {
    s.name: s
    for s in (
        HeldOutSet("outdoor", "outdoor scenes: lakes, boats, sky, a forest path, dunes (Debian wallpapers)", OUTDOOR),
        HeldOutSet("close-ups", "close-ups of flowers, leaves, drops and moss (Debian wallpapers)", CLOSE_UPS),
        HeldOutSet(
            "greyscale",
            "greyscale photographs: the moon (scikit-image), architecture and a pier (Debian wallpapers)",
            (_skimage("moon.png"), _plasma("Grey"), _plasma("ColdRipple")),
        ),
        HeldOutSet(
            "portrait", "a portrait: Grace Hopper (matplotlib's sample data)", (_matplotlib("grace_hopper.jpg"),)
        ),
        HeldOutSet("document", "a scanned page of printed text (scikit-image)", (_skimage("page.png"),)),
        HeldOutSet("smooth", "the smooth crops of the outdoor and close-up photographs", OUTDOOR + CLOSE_UPS, True),
    )
}
