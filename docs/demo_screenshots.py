"""The README's demo screenshots, taken in Debian's headless Chromium from trained models.

    python docs/demo_screenshots.py --model runs/default/model --photo PHOTO --nvs-model runs/nvs-default/model

writes docs/assets/demo_reconstruct.png (PHOTO uploaded, a point clicked) and demo_novel_views.png
(embedded held-out object 0 from 3 views). The browser test (tests/apps/test_demo_browser.py) takes
the same screenshots from tiny untrained models; set GINR_SCREENSHOTS to keep them.
"""

import argparse
import shutil
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from ginr_apps import demo


def _images(driver, css: str, count: int = 1, timeout: float = 120.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.get_attribute("src")]
        if len(shown) >= count:
            return shown
        time.sleep(0.5)
    raise TimeoutError(f"no {css} image after {timeout:.0f} s")


def _page(args: list[str]):
    page = demo.main([*args, "--port", "0"], block=False)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1700"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.get(page.local_url)
    time.sleep(5)
    return page, driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a saved image model")
    parser.add_argument("--photo", required=True, help="the photo to upload")
    parser.add_argument("--nvs-model", required=True, help="a saved light-field model")
    parser.add_argument("--out", default="docs/assets", help="where the screenshots go")
    args = parser.parse_args()
    out = Path(args.out)

    page, driver = _page(["--model", args.model])
    driver.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(Path(args.photo).resolve()))
    _images(driver, "#decode img")
    ActionChains(driver).move_to_element_with_offset(_images(driver, "#model-input img")[0], 20, -30).click().perform()
    _images(driver, "#locality img", count=4)
    time.sleep(2)
    driver.save_screenshot(str(out / "demo_reconstruct.png"))
    driver.quit()
    page.close()

    page, driver = _page(["--nvs-model", args.nvs_model])
    driver.find_element(By.ID, "tab-novel-views-button").click()
    driver.find_element(By.ID, "run-novel-view").click()
    _images(driver, "#orbit img")
    time.sleep(2)
    driver.save_screenshot(str(out / "demo_novel_views.png"))
    driver.quit()
    page.close()
    print(f"wrote {out / 'demo_reconstruct.png'} and {out / 'demo_novel_views.png'}")


if __name__ == "__main__":
    main()
