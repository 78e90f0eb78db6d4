"""The playground in a real browser (headless Chromium from the OS packages, driven by Playwright) against the real
server: the page builds its forms from describe(), takes an uploaded photo, and shows classify's classes, saliency's
heatmap and overlay, stylize's before/after and deepdream's streamed progress as decoded pictures; a bad field shows
the server's message. Screenshots go to build/test-artifacts/playground/. Chromium: scripts/install_browser.sh
(`make test` runs it) or $CONVLENS_CHROMIUM. Also the proxy over both transports, without a browser."""
from __future__ import annotations

import base64
import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from convlens_client import Client
from convlens_client.playground import Playground
from convlens_client.playground.forward import MAX_IMAGE_BYTES
from convlens_client.playground.samples import Samples
from sample_photos import write_samples  # scripts/, on sys.path (conftest)

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "playground"
CHROMIUM = os.environ.get("CONVLENS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT_MS = 120_000
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (requirements/test.txt)")


def client_for(server, transport: str = "http") -> Client:
    """A client of the test server with the token from its key file."""
    return Client(server.host, transport=transport, http_port=server.ports["http"], grpc_port=server.ports["grpc"],
                  management_port=server.ports["management"], grpc_management_port=server.ports["grpc_management"],
                  key_file=server.key_file, timeout=120)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("samples")
    write_samples(folder)
    return folder


@pytest.fixture(scope="module")
def playground(server, samples: Path) -> Iterator[Playground]:
    with client_for(server) as client:
        with Playground(client, "127.0.0.1", 0, Samples(samples, MAX_IMAGE_BYTES)).running() as page:
            yield page


@pytest.fixture(scope="module")
def page(playground: Playground) -> Iterator:
    if CHROMIUM is None:
        pytest.fail("Chromium not found: run scripts/install_browser.sh (apt-get install chromium) or set "
                    "CONVLENS_CHROMIUM=/path/to/chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.goto(playground.url)
            tab.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT_MS)
            yield tab
            assert not errors, errors
        finally:
            browser.close()


def run(tab, endpoint: str, fill: dict[str, str] | None = None) -> str:
    """Pick the endpoint, set fields, press Run; the final state (done or error)."""
    tab.click(f"#endpoints button[data-name={endpoint}]")
    for name, value in (fill or {}).items():
        tab.fill(f"#fields input[name={name}]:not([type=range])", value)
    tab.evaluate("delete document.body.dataset.state")
    tab.click("#run")
    tab.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=TIMEOUT_MS)
    return tab.get_attribute("body", "data-state")


def decoded(tab, selector: str) -> list[tuple[int, int]]:
    """The decoded sizes of the pictures matching ``selector`` (0x0: not decoded)."""
    return [tuple(size) for size in tab.eval_on_selector_all(
        selector, "images => images.map(i => [i.complete ? i.naturalWidth : 0, i.complete ? i.naturalHeight : 0])")]


def shot(tab, name: str) -> None:
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_forms_come_from_describe(page, server) -> None:
    listed = page.eval_on_selector_all("#endpoints button", "buttons => buttons.map(b => b.dataset.name)")
    with client_for(server) as client:
        assert listed == [m.name for m in client.models()]
        saliency = client.describe("saliency")
    page.click("#endpoints button[data-name=saliency]")
    method = next(f for f in saliency["fields"] if f["name"] == "method")
    options = page.eval_on_selector_all("#fields select[name=method] option", "o => o.map(x => x.value)")
    assert options == method["choices"]
    assert page.input_value("#fields select[name=method]") == method["default"]
    size = next(f for f in saliency["fields"] if f["name"] == "size")
    assert page.get_attribute("#fields input[type=number][name=size]", "max") == str(size["maximum"])
    assert len(decoded(page, "#samples img")) == 4 and all(w > 0 for w, _ in decoded(page, "#samples img"))


def test_upload_classify_and_an_invalid_field(page, samples: Path, server) -> None:
    page.set_input_files("#file", str(samples / "cat.jpg"))
    page.wait_for_selector("#drop-hint >> text=cat.jpg")
    assert run(page, "classify", {"topk": "3"}) == "done"
    labels = page.eval_on_selector_all("#results .bar-row .label", "rows => rows.map(r => r.textContent)")
    assert len(labels) == 3 and labels[0] in ("Egyptian cat", "tabby", "tiger cat")  # skimage's chelsea is a tabby
    assert decoded(page, "#results img") == [(320, 213)]  # the uploaded photo, beside the numbers
    shot(page, "classify")
    page.click("#snippet-box summary")
    curl = page.text_content("#snippet")
    assert "-F image=@cat.jpg -F topk=3" in curl and "/predictions/classify" in curl
    assert server.key("inference") not in page.content()  # the browser never holds the token

    assert run(page, "classify", {"topk": "0"}) == "error"
    assert "must be between 1 and 100, got 0" in page.text_content("#error")  # the server's own message
    assert "topk" in page.text_content("#error")
    assert page.text_content("#fields [data-name=topk] .field-error") == "must be between 1 and 100, got 0"
    shot(page, "error")


def test_saliency_heatmap_and_overlay_beside_the_photo(page) -> None:
    page.click("#samples button[data-name='astronaut.jpg']")
    page.wait_for_selector("#drop-hint >> text=astronaut.jpg")
    assert run(page, "saliency", {"size": "64"}) == "done"
    captions = page.eval_on_selector_all("#results figcaption", "c => c.map(x => x.textContent)")
    assert captions == ["photo · astronaut.jpg", "saliency · heatmap", "saliency · overlay"]
    photo, heatmap, overlay = decoded(page, "#results img")
    assert photo == (320, 320) and heatmap[0] > 0 and heatmap == overlay
    shot(page, "saliency")


def test_stylize_before_and_after(page) -> None:
    assert run(page, "stylize", {"max_size": "160"}) == "done"
    before, after = decoded(page, "#results .compare img")
    assert before == (320, 320) and after == (160, 160)
    page.fill("#results .compare input[type=range]", "20")  # the slider wipes the result over the photo
    assert "inset(0px 0px 0px 20%)" in page.get_attribute("#results .compare img.after", "style")
    shot(page, "stylize")


def test_deepdream_streams_progress_and_pictures(page) -> None:
    assert run(page, "deepdream", {"octaves": "2", "steps": "2", "max_size": "96"}) == "done"
    text = page.text_content("#progress-text")
    assert text.startswith("step 4/4"), text
    assert page.get_attribute("#bar-fill", "style") == "width: 100%;"
    assert decoded(page, "#preview")[0][0] > 0  # an intermediate picture arrived
    assert decoded(page, "#results .compare img.after") == [(96, 96)]
    shot(page, "deepdream")


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_proxy_forwards_over_both_transports(server, samples: Path, transport: str) -> None:
    with client_for(server, transport) as client:
        with Playground(client, "127.0.0.1", 0).running() as page:
            photo = base64.b64encode((samples / "cat.jpg").read_bytes()).decode()
            body = json.dumps({"fields": {"topk": "2"}, "images": {"image": photo}})
            request = urllib.request.Request(page.url + "api/predict/classify", body.encode(),
                                             {"Content-Type": "application/json", "X-ConvLens-Playground": "1"})
            with urllib.request.urlopen(request, timeout=120) as response:
                answer = json.loads(response.read())
    assert [p["label"] for p in answer["predictions"]][0] in ("Egyptian cat", "tabby", "tiger cat")
