"""The playground in a real browser: headless Chromium drives ``chainrule playground``.

The server is the real command (a subprocess; its first stdout line is the URL).
The page must load with no console error and no request elsewhere, train when
told (buttons and keys), show a clicked point's ``δ^l`` equal to
``Network.backprop``'s, and put a hostile upload's one-line error on the page.
Screenshots go to ``test-artifacts/``; with ``CHAINRULE_DOCS_SCREENSHOTS=1`` also
to ``docs/img/`` (the ones ``docs/playground.md`` shows).

Skipped only when Chromium, its driver, Selenium or Starlette is missing *and*
this is not CI; in CI (``CI=true``) it must run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from browser import chromium, need

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS_IMG = ROOT / "docs" / "img"
PURPOSE = "the playground's browser test"


def _shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / name))
    assert (ARTIFACTS / name).stat().st_size > 10_000
    if os.environ.get("CHAINRULE_DOCS_SCREENSHOTS") == "1":
        from PIL import Image  # matplotlib's dependency: 256 colours keep the docs small

        DOCS_IMG.mkdir(exist_ok=True)
        with Image.open(ARTIFACTS / name) as img:
            img.convert("RGB").quantize(256).save(DOCS_IMG / name, optimize=True)


@pytest.fixture(scope="module")
def server():
    for module in ("starlette", "uvicorn", "websockets", "httpx"):
        try:
            __import__(module)
        except ImportError:
            need(f"{module} (the playground extra)", PURPOSE)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "playground", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        pytest.fail(f"the first line was not the URL: {url!r} {proc.stderr.read()}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    yield from chromium(PURPOSE, (1400, 1000))


def _wait(driver, condition, timeout: float = 30.0, what: str = "the page"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; console: {driver.get_log('browser')}")


def _by(driver, testid: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"[data-testid='{testid}']")


def _epoch(driver) -> int:
    return int(_by(driver, "epoch").text)


def _open(driver, url: str, state: str = "") -> None:
    driver.get("about:blank")  # a new document, not a jump within the old one
    driver.get_log("browser")
    driver.get_log("performance")
    driver.get(url + (f"#{state}" if state else ""))
    _wait(
        driver,
        lambda: driver.execute_script(
            "return document.body.dataset.session && document.querySelectorAll("
            "'#network .neuron canvas').length > 0 && "
            "document.querySelector('[data-testid=train-loss]').dataset.value"
        ),
        what="the first frame",
    )


def _train_loss(driver) -> float:
    return float(_by(driver, "train-loss").get_attribute("data-value"))


def test_page_loads_cleanly_with_its_hooks(server, browser):
    _open(browser, server)
    for testid in (
        "play",
        "step",
        "reset",
        "epoch",
        "train-loss",
        "test-loss",
        "dataset",
        "network",
    ):
        assert _by(browser, testid).is_displayed(), testid
    assert _epoch(browser) == 0
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    requests = []
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            requests.append(msg["params"].get("request", {}).get("url") or msg["params"]["url"])
    requests = [u for u in requests if not u.startswith(("chrome:", "data:"))]  # blank tab
    host = server.split("/")[2]
    others = [u for u in requests if not u.startswith((f"http://{host}/", f"ws://{host}/"))]
    assert requests and others == [], requests
    # The state is in the URL: the page wrote its settings into the hash.
    assert "dataset=circle" in browser.current_url and "layers=4%2C2" in browser.current_url


def test_step_advances_the_epoch_and_keys_work(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    _open(browser, server)
    _by(browser, "step").click()
    _wait(browser, lambda: _epoch(browser) == 1, what="epoch 1")
    _by(browser, "epoch").click()  # focus off the buttons: the keys go to the page
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
    _wait(browser, lambda: _epoch(browser) == 2, what="epoch 2 after →")
    ActionChains(browser).send_keys(Keys.SPACE).perform()
    _wait(browser, lambda: _epoch(browser) >= 6, what="playing after space")
    ActionChains(browser).send_keys(Keys.SPACE).perform()
    _wait(browser, lambda: _by(browser, "play").get_attribute("aria-pressed") == "false")
    time.sleep(0.5)
    paused = _epoch(browser)
    time.sleep(0.5)
    assert _epoch(browser) == paused
    _by(browser, "reset").click()
    _wait(browser, lambda: _epoch(browser) == 0, what="reset")


def test_play_lowers_the_training_loss_on_the_circle(server, browser):
    _open(
        browser,
        server,
        "dataset=circle&features=x1,x2,x1%5E2,x2%5E2&layers=4&activations=tanh&lr=0.1&show_test=1",
    )
    first = _train_loss(browser)
    _by(browser, "play").click()
    start = time.monotonic()
    _wait(browser, lambda: _epoch(browser) >= 60, timeout=60, what="60 epochs")
    fps = _epoch(browser) / (time.monotonic() - start)
    _by(browser, "play").click()
    _wait(browser, lambda: _by(browser, "play").get_attribute("aria-pressed") == "false")
    time.sleep(0.3)
    assert _train_loss(browser) < 0.5 * first
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "playground-browser-fps.txt").write_text(
        f"{fps:.1f} frames/s in headless Chromium ([4, 4, 1], 500 points, 40x40 maps)\n"
    )
    _shot(browser, "playground.png")


def test_clicking_a_point_shows_backprops_delta(server, browser, tmp_path):
    import httpx
    from selenium.webdriver.common.action_chains import ActionChains

    import chainrule
    from chainrule.playground.session import Session, Settings

    state = "dataset=xor&layers=3,2&activations=tanh,sigmoid&input_sigma=1&seed=5"
    _open(browser, server, state)
    for _ in range(3):
        n = _epoch(browser)
        _by(browser, "step").click()
        _wait(browser, lambda n=n: _epoch(browser) == n + 1)
    run = Session(
        Settings.from_dict(
            {
                "dataset": "xor",
                "layers": [3, 2],
                "activations": ["tanh", "sigmoid"],
                "input_sigma": True,
                "seed": 5,
            }
        )
    )
    index = int(run.train_rows[0])
    x1, x2 = run.data.points[index]
    a, b, c, d = run.data.extent
    canvas = _by(browser, "output")
    w, h = canvas.size["width"], canvas.size["height"]
    px, py = (x1 - a) / (b - a) * w, (d - x2) / (d - c) * h
    ActionChains(browser).move_to_element_with_offset(
        canvas, px - w / 2, py - h / 2
    ).click().perform()
    _wait(
        browser,
        lambda: browser.execute_script(
            "return document.querySelectorAll('[data-testid=delta]').length"
        ),
        what="the δ table",
    )
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('[data-testid=delta]')).map("
        "e => [Number(e.dataset.layer), Number(e.dataset.neuron), e.dataset.value])"
    )
    # The network as the server has it now, through the model file.
    session = browser.execute_script("return document.body.dataset.session")
    base, token = server.split("/?token=")
    model = httpx.get(f"{base}/api/model.npz", params={"token": token, "session": session})
    assert model.status_code == 200
    (tmp_path / "m.npz").write_bytes(model.content)
    net = chainrule.load(tmp_path / "m.npz")
    point = browser.find_element("id", "point-name").text
    clicked = int(point.split()[0].lstrip("#"))
    x, y = run.example(clicked)
    _, grad_b = net.backprop(x[None, :], y[None, :])
    assert len(shown) == 3 + 2 + 1
    for l, j, value in shown:
        want = float(grad_b[l - 2][j])
        assert abs(float(value) - want) <= 1e-12 * max(1.0, abs(want)), (l, j, value, want)
    equations = _by(browser, "equations").text
    assert "eq. 5" in equations and "eq. 13" in equations and "eq. 15" in equations
    assert "δ⁴₁ = ∂C/∂a⁴₁ · σ'(z⁴₁)" in equations
    agreement = float(_by(browser, "tensors").get_attribute("data-agreement"))
    assert agreement < 1e-12
    # The backward view: the network's neurons show the same δ.
    _by(browser, "backward-view").click()
    on_neurons = browser.execute_script(
        "return Array.from(document.querySelectorAll('#network .neuron[data-delta]')).map("
        "e => [Number(e.dataset.layer), Number(e.dataset.neuron), e.dataset.delta])"
    )
    assert {(l, j): v for l, j, v in on_neurons if l >= 2} == {(l, j): v for l, j, v in shown}
    assert "backward=1" in browser.current_url
    _by(browser, "gradcheck").click()
    _wait(
        browser,
        lambda: _by(browser, "gradcheck-result").get_attribute("data-passed"),
        what="the gradient check",
    )
    assert _by(browser, "gradcheck-result").get_attribute("data-passed") == "true"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(int(height) + 200, 4000))
    _shot(browser, "playground-backward.png")
    browser.set_window_size(1400, 1000)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_hostile_csv_upload_shows_one_line_error(server, browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    _open(browser, server)
    hostile = tmp_path / "hostile.csv"
    hostile.write_text("a,b,label\n1,2,x\n3,4,y\n5,=cmd|' /C calc'!A0,x\n7,8,y\n")
    _by(browser, "upload-file").send_keys(str(hostile))
    _wait(
        browser,
        lambda: len(Select(_by(browser, "upload-target")).options) == 3,
        what="the header's columns",
    )
    assert Select(_by(browser, "upload-target")).first_selected_option.text == "label"
    _by(browser, "upload").click()
    error = _by(browser, "error")
    _wait(browser, error.is_displayed, what="the error line")
    text = error.text
    assert "\n" not in text and "hostile.csv" in text and "line 4" in text, text
    assert "/tmp" not in text
    # A good file trains.
    good = tmp_path / "good.csv"
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(60, 2))
    good.write_text("u,v,label\n" + "".join(f"{p:.4f},{q:.4f},{int(p * q > 0)}\n" for p, q in pts))
    _by(browser, "upload-file").send_keys(str(good))
    _wait(browser, lambda: Select(_by(browser, "upload-x1")).first_selected_option.text == "u")
    _by(browser, "upload").click()
    _wait(
        browser,
        lambda: browser.execute_script("return document.body.dataset.dataset") == "upload",
        what="the uploaded data",
    )
    assert not _by(browser, "error").is_displayed()
    _by(browser, "step").click()
    _wait(browser, lambda: _epoch(browser) == 1)


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (
            "dataset=spiral&classes=4&features=x1,x2,sin_x1,sin_x2&layers=8,8,6&"
            "activations=tanh,tanh,tanh&lr=0.01&optimizer=adam&noise=5",
            "playground-classes.png",
        ),
        (
            "dataset=reg-gauss&features=x1,x2&layers=6,6&activations=relu,tanh&lr=0.03&"
            "optimizer=momentum&reg=l2&reg_rate=0.001",
            "playground-regression.png",
        ),
    ],
)
def test_softmax_classes_and_regression_train(server, browser, state, name):
    _open(browser, server, state)
    assert (
        browser.execute_script("return document.body.dataset.dataset")
        == state.split("&")[0].split("=")[1]
    )
    first = _train_loss(browser)
    _by(browser, "play").click()
    _wait(browser, lambda: _epoch(browser) >= 40, timeout=60, what="40 epochs")
    _by(browser, "play").click()
    _wait(browser, lambda: _by(browser, "play").get_attribute("aria-pressed") == "false")
    time.sleep(0.3)
    assert _train_loss(browser) < first
    _shot(browser, name)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_frame_rate_of_the_six_eight_eight_eight_one_network(server, browser):
    """Frames drawn per second while playing [6, 8, 8, 8, 1] on 500 training points
    (recorded in test-artifacts/, not asserted: the machine may be busy)."""
    _open(
        browser,
        server,
        "dataset=circle&points=556&ratio=90&features=x1,x2,x1%5E2,x2%5E2,"
        "x1x2,sin_x1&layers=8,8,8&activations=tanh,tanh,tanh",
    )
    assert _by(browser, "network").text.count("layer") >= 3
    _by(browser, "play").click()
    time.sleep(1.0)
    read = "return [document.body.dataset.frames, document.body.dataset.drawMs].map(Number)"
    e0, (f0, d0), t0 = _epoch(browser), browser.execute_script(read), time.monotonic()
    time.sleep(5.0)
    e1, (f1, d1), t1 = _epoch(browser), browser.execute_script(read), time.monotonic()
    _by(browser, "play").click()
    assert e1 > e0 and f1 > f0
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "playground-fps-6-8-8-8-1.txt").write_text(
        f"headless Chromium, [6, 8, 8, 8, 1], 500 training points: {(e1 - e0) / (t1 - t0):.1f} "
        f"epochs/s trained and sent, {(f1 - f0) / (t1 - t0):.1f} frames/s drawn "
        f"(all 31 heat maps each), {(d1 - d0) / max(1, f1 - f0):.1f} ms to draw one\n"
    )
