"""apps/demo.py in a real browser: Debian's headless Chromium driven by selenium through the system
chromium-driver, on tiny models trained in the test. Screenshots of each tab go to the test's folder."""

import io
import os
import shutil
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ginr_core import GeneralizableINR, reconstruct

pytestmark = pytest.mark.slow
webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip("needs Debian's chromium and chromium-driver (apt install chromium chromium-driver)",
                allow_module_level=True)  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1700"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def served(image_run, prior_run, tmp_path_factory):
    from ginr_apps import demo
    from ginr_core import LocalityAwareINR

    nvs = tmp_path_factory.mktemp("nvs") / "model"
    small = {"image_size": 16, "patch_size": 4, "encoder_width": 32, "encoder_depth": 1, "encoder_heads": 2}
    LocalityAwareINR(**small, hidden_dim=16, fourier_dim=16, num_latents=8, in_channels=9, d_in=6,
                     num_views=3).save_pretrained(nvs)  # fmt: skip
    args = ["--model", str(image_run / "model"), "--nvs-model", str(nvs), "--prior", str(prior_run / "pipeline")]
    page = demo.main([*args, "--port", "0"], block=False)
    yield page
    page.close()


def _wait(driver, css: str, timeout: float = 60.0, count: int = 1, attribute: str | None = "src"):
    """The elements matching ``css`` (with ``attribute`` set), once there are ``count`` of them."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            e for e in driver.find_elements(By.CSS_SELECTOR, css) if attribute is None or e.get_attribute(attribute)
        ]
        if len(found) >= count:
            return found
        time.sleep(0.25)
    raise AssertionError(f"no {css} within {timeout} s")


def _fetch(url: str) -> Image.Image:
    with urllib.request.urlopen(url) as answer:  # the demo's own local server
        return Image.open(io.BytesIO(answer.read())).convert("RGB")


def _screenshot(driver, path: Path) -> None:
    """A screenshot of the page that is not blank; also copied to $GINR_SCREENSHOTS/demo_<name> when set
    (``GINR_SCREENSHOTS=docs/assets pytest -m slow tests/apps/test_demo_browser.py``: the README's Generate
    picture; docs/demo_screenshots.py takes the other two from trained models)."""
    driver.save_screenshot(str(path))
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.std() > 10, f"{path} looks blank"
    if os.environ.get("GINR_SCREENSHOTS"):
        shutil.copyfile(path, Path(os.environ["GINR_SCREENSHOTS"]) / f"demo_{path.name}")


def test_the_demo_in_chromium(served, browser, image_run, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (41, 57, 3), dtype=np.uint8)).save(photo)
    model = GeneralizableINR.from_pretrained(image_run / "model")
    browser.get(served.local_url)

    # Reconstruct: upload, then move the resolution slider and read back the decode
    _wait(browser, "#upload input[type=file]", attribute=None)[0].send_keys(str(photo))
    first = _wait(browser, "#decode img")[0].get_attribute("src")
    slider = browser.find_element(By.CSS_SELECTOR, "#scale input[type=range]")
    ActionChains(browser).move_to_element_with_offset(slider, slider.size["width"] // 4, 0).click().perform()
    deadline = time.monotonic() + 60
    while _wait(browser, "#decode img")[0].get_attribute("src") == first and time.monotonic() < deadline:
        time.sleep(0.25)
    factor = int(browser.find_element(By.CSS_SELECTOR, "#scale input[type=number]").get_attribute("value"))
    assert factor > 2  # the slider moved
    shown = _fetch(_wait(browser, "#decode img")[0].get_attribute("src"))
    side = model.image_size[0] * factor
    expected = np.asarray(reconstruct(model, Image.open(photo).convert("RGB"), size=(side, side)), dtype=int)
    assert shown.size == (side, side) and np.abs(np.asarray(shown, dtype=int) - expected).max() <= 1
    assert "dB" in browser.find_element(By.ID, "psnr").text

    # click a point of the model's input: the locality maps of the tokens that matter there
    picture = _wait(browser, "#model-input img")[0]
    ActionChains(browser).move_to_element_with_offset(picture, 10, -20).click().perform()
    maps = _wait(browser, "#locality img", count=4)
    assert len(maps) >= 4
    _screenshot(browser, tmp_path / "reconstruct.png")

    # Novel views: render an embedded held-out object
    browser.find_element(By.ID, "tab-novel-views-button").click()
    browser.find_element(By.ID, "run-novel-view").click()
    assert _fetch(_wait(browser, "#new-view img", timeout=120)[0].get_attribute("src")).size == (64, 64)
    _wait(browser, "#orbit img")
    _screenshot(browser, tmp_path / "novel_views.png")

    # Generate: one image and its denoising
    browser.find_element(By.ID, "tab-generate-button").click()
    browser.find_element(By.ID, "run-generate").click()
    generated = _fetch(_wait(browser, "#generated img", timeout=120)[0].get_attribute("src"))
    assert generated.size[0] == generated.size[1] > 0
    assert len(_wait(browser, "#denoising img", count=2)) >= 2
    _screenshot(browser, tmp_path / "generate.png")
