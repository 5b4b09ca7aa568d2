# ruff: noqa: E402  (the imports follow the check that the playground extra is there)
"""The playground's server and runs, through Starlette's TestClient (no browser).

The real-browser tests are in ``test_playground_browser.py``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

# .ci/run sets it once the playground extra is installed: then these tests must run. (Not CI
# itself: the README's test command runs first, in CI too, without the extra.)
REQUIRED = os.environ.get("CHAINRULE_REQUIRE_EXTRAS") == "1"
for _module in ("starlette", "httpx"):
    try:
        __import__(_module)
    except ImportError:
        if REQUIRED:
            raise
        pytest.skip(f"{_module} (the playground extra) is not installed", allow_module_level=True)

from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import chainrule
from chainrule.playground.data import (
    DATASETS,
    MAX_UPLOAD_BYTES,
    UploadError,
    features,
    make_dataset,
    read_upload,
)
from chainrule.playground.server import create_app
from chainrule.playground.session import Session, Settings, SettingsError

TOKEN = "test-token-0123456789"
BASE = "http://127.0.0.1:8765"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client():
    app = create_app(TOKEN, host="127.0.0.1", port=8765)
    with TestClient(app, base_url=BASE) as c:
        yield c


def ws(client, url, **headers):
    """A WebSocket to the app (TestClient's sockets say Host: testserver unless told)."""
    return client.websocket_connect(url, headers={"host": "127.0.0.1:8765", **headers})


def split_frame(message: bytes) -> tuple[dict, bytes]:
    """A frame over the WebSocket: 4 bytes of JSON length, the JSON, the heat maps."""
    n = int.from_bytes(message[:4], "little")
    return json.loads(message[4 : 4 + n]), message[4 + n :]


def new_session(client, **settings) -> dict:
    r = client.post(f"/api/sessions?token={TOKEN}", json=settings)
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------------- security


def test_every_request_needs_the_token(client):
    for path in ("/", "/static/app.js", "/api/model.npz?session=x", "/api/snippet.py"):
        sep = "&" if "?" in path else "?"
        assert client.get(path).status_code == 403
        assert client.get(f"{path}{sep}token=wrong").status_code == 403
        assert client.get(f"{path}{sep}token={TOKEN[:-1]}").status_code == 403
    assert client.post("/api/sessions", json={}).status_code == 403
    page = client.get(f"/?token={TOKEN}")
    assert page.status_code == 200
    assert f"/static/app.js?token={TOKEN}" in page.text
    assert client.get(f"/static/app.js?token={TOKEN}").status_code == 200


def test_websocket_needs_the_token(client):
    with pytest.raises(WebSocketDisconnect) as err, ws(client, "/ws"):
        pass
    assert err.value.code == 1008 and "token" in err.value.reason
    with pytest.raises(WebSocketDisconnect) as err, ws(client, "/ws?token=nope"):
        pass
    assert "token" in err.value.reason
    with ws(client, f"/ws?token={TOKEN}") as good:
        assert good.receive_json()["type"] == "hello"


def test_host_and_origin_are_checked_against_dns_rebinding(client):
    url = f"/?token={TOKEN}"
    r = client.get(url, headers={"host": "evil.example:8765"})
    assert r.status_code == 403 and "Host" in r.text
    assert client.get(url, headers={"host": "localhost:8765"}).status_code == 200
    assert client.get(url, headers={"host": "127.0.0.1:9999"}).status_code == 403
    r = client.get(url, headers={"origin": "http://evil.example:8765"})
    assert r.status_code == 403 and "Origin" in r.text
    assert client.get(url, headers={"origin": "http://127.0.0.1:8765"}).status_code == 200
    with (
        pytest.raises(WebSocketDisconnect) as err,
        ws(client, f"/ws?token={TOKEN}", origin="http://evil.example"),
    ):
        pass
    assert "Origin" in err.value.reason
    with (
        pytest.raises(WebSocketDisconnect) as err,
        ws(client, f"/ws?token={TOKEN}", host="evil.example"),
    ):
        pass
    assert "Host" in err.value.reason


def test_the_page_is_served_under_a_strict_content_security_policy(client):
    r = client.get(f"/?token={TOKEN}")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe" not in csp and "http" not in csp.replace("ws://127.0.0.1:8765", "")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"
    # Nothing from elsewhere: no absolute URL in the page, its script or its style.
    static = ROOT / "src" / "chainrule" / "playground" / "static"
    for f in static.iterdir():
        text = f.read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), f.name
        assert "https://" not in text and "//cdn" not in text, f.name
    assert "<script>" not in r.text and "style=" not in r.text and "onclick" not in r.text
    assert client.get(f"/static/..%2Fserver.py?token={TOKEN}").status_code == 404


# ---------------------------------------------------------------------- the API


def test_session_steps_and_lowers_the_loss_on_the_circle(client):
    s = new_session(
        client, dataset="circle", features=["x1", "x2", "x1^2", "x2^2"], layers=[4], lr=0.3
    )
    sid, first = s["session"], s["frame"]
    assert first["epoch"] == 0 and s["sizes"] == [4, 4, 1]
    for _ in range(3):
        r = client.post(f"/api/sessions/{sid}/step?token={TOKEN}&epochs=10")
        assert r.status_code == 200
    frame = r.json()
    assert frame["epoch"] == 30
    assert frame["train_loss"] < 0.5 * first["train_loss"]
    heat = client.get(f"/api/sessions/{sid}/heat?token={TOKEN}").content
    assert len(heat) == sum(s["sizes"]) * s["grid"] ** 2


def test_bad_settings_get_one_line_naming_the_setting(client):
    for bad, word in [
        ({"noise": 80}, "noise"),
        ({"layers": [4] * 7}, "layers"),
        ({"layers": [9]}, "layers"),
        ({"features": ["x3"]}, "features"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"colour": 1}, "colour"),
        ({"lr": "fast"}, "lr"),
    ]:
        r = client.post(f"/api/sessions?token={TOKEN}", json=bad)
        assert r.status_code == 400, bad
        message = r.json()["error"]
        assert word in message and "\n" not in message
    r = client.post(f"/api/sessions?token={TOKEN}", content=b"{not json")
    assert r.status_code == 400


def test_seeded_runs_are_reproducible_and_sessions_are_isolated(client):
    a = new_session(
        client, dataset="spiral", classes=3, layers=[6, 6], seed=7, optimizer="adam", lr=0.01
    )
    b = new_session(
        client, dataset="spiral", classes=3, layers=[6, 6], seed=7, optimizer="adam", lr=0.01
    )
    c = new_session(client, dataset="xor", seed=7)
    assert a["points"] == b["points"]
    # Interleaved steps of three runs: each is the run it would be alone.
    for _ in range(4):
        for s in (a, c, b):
            client.post(f"/api/sessions/{s['session']}/step?token={TOKEN}&epochs=2")
    fa = client.post(f"/api/sessions/{a['session']}/step?token={TOKEN}").json()
    fb = client.post(f"/api/sessions/{b['session']}/step?token={TOKEN}").json()
    assert fa == fb and fa["epoch"] == 9
    alone = Session(Settings.from_dict(a["settings"]))
    alone.step(9)
    assert [W.tolist() for W in alone.net.weights] == fa["weights"]
    # A different seed is a different run.
    d = new_session(client, dataset="spiral", classes=3, layers=[6, 6], seed=8)
    assert d["points"] != a["points"]


def test_model_file_loads_with_chainrule_load_and_predicts(client, tmp_path):
    s = new_session(client, dataset="gauss", classes=3, layers=[3])
    sid = s["session"]
    client.post(f"/api/sessions/{sid}/step?token={TOKEN}&epochs=5")
    r = client.get(f"/api/model.npz?token={TOKEN}&session={sid}")
    assert r.status_code == 200
    path = tmp_path / "playground.npz"
    path.write_bytes(r.content)
    net = chainrule.load(path)
    frame = client.post(f"/api/sessions/{sid}/step?token={TOKEN}&epochs=1").json()
    assert net.sizes == (2, 3, 3) and net.class_names == ["0", "1", "2"]
    assert frame["epoch"] == 6
    # The file holds the weights of epoch 5: one more epoch changed the session's.
    assert [W.tolist() for W in net.weights] != frame["weights"]
    # chainrule info / predict read it.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    info = subprocess.run(
        [sys.executable, "-m", "chainrule", "info", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert info.returncode == 0, info.stderr
    csv = tmp_path / "points.csv"
    csv.write_text("x1,x2\n2,2\n-2,-2\n")
    pred = subprocess.run(
        [sys.executable, "-m", "chainrule", "predict", str(path), "--data", str(csv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert pred.returncode == 0, pred.stderr
    assert client.get(f"/api/model.npz?token={TOKEN}&session=nope").status_code == 404


def test_python_snippet_rebuilds_the_run_bit_for_bit(client, tmp_path):
    s = new_session(
        client,
        dataset="circle",
        noise=10,
        layers=[5, 3],
        activations=["relu", "tanh"],
        features=["x1", "x2", "x1x2"],
        reg="l2",
        reg_rate=0.01,
        optimizer="momentum",
        dropout=[0.2, 0.0],
        input_sigma=True,
        seed=3,
        batch=7,
        lr=0.1,
    )
    sid = s["session"]
    frame = client.post(f"/api/sessions/{sid}/step?token={TOKEN}&epochs=4").json()
    code = client.get(f"/api/snippet.py?token={TOKEN}&session={sid}").text
    script = tmp_path / "run.py"
    dump = "import json\nprint(json.dumps([W.tolist() for W in net.weights]))\n"
    script.write_text(code + "\n" + dump)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == frame["weights"]
    assert (tmp_path / "playground-model.npz").exists()


def test_inspect_shows_backprops_delta_and_the_explicit_tensors(client):
    s = new_session(client, dataset="xor", layers=[3, 2], input_sigma=True)
    sid = s["session"]
    client.post(f"/api/sessions/{sid}/step?token={TOKEN}&epochs=3")
    r = client.get(f"/api/sessions/{sid}/inspect?token={TOKEN}&index=5&layer=2&neuron=1")
    assert r.status_code == 200
    got = r.json()
    run = Session(Settings.from_dict(s["settings"]))
    run.step(3)
    x, y = run.example(5)
    _, grad_b = run.net.backprop(x[None, :], y[None, :])
    for l in (2, 3, 4):
        np.testing.assert_allclose(got["delta"][str(l)], grad_b[l - 2], rtol=1e-12, atol=0)
        np.testing.assert_allclose(
            got["delta_explicit"][str(l)], got["delta"][str(l)], rtol=1e-10, atol=1e-15
        )
    assert got["agreement"] < 1e-12
    assert np.array(got["dz_dW"]).shape == (3, 2, 3)  # N_2 × N_1 × N_2
    eqs = [e["eq"] for e in got["equations"]]
    assert eqs[0] == "eq. 9" and eqs.count("eq. 13") == 2 and eqs[-1] == "eq. 15"
    last = client.get(f"/api/sessions/{sid}/inspect?token={TOKEN}&index=5").json()
    assert last["equations"][0]["eq"] == "eq. 5"
    r = client.get(f"/api/sessions/{sid}/inspect?token={TOKEN}&index=100000")
    assert r.status_code == 400 and "point 100000" in r.json()["error"]


def test_check_gradients_passes(client):
    s = new_session(client, dataset="gauss", layers=[3])
    r = client.post(f"/api/sessions/{s['session']}/gradcheck?token={TOKEN}")
    got = r.json()
    assert got["passed"] and got["worst"]["max_rel_error"] < 1e-6
    assert {a["array"] for a in got["arrays"]} == {"W^2", "W^3", "b^2", "b^3"}


# ---------------------------------------------------------------------- uploads


GOOD_CSV = "height,weight,kind\n" + "".join(
    f"{1.5 + 0.01 * i},{50 + (i * 7) % 30},{'ab'[i % 2]}\n" for i in range(40)
)


def test_upload_trains_on_the_chosen_columns(client):
    sid = new_session(client)["session"]
    r = client.post(
        f"/api/sessions/{sid}/upload?token={TOKEN}&name=people.csv&x1=height&x2=weight&target=kind",
        content=GOOD_CSV.encode(),
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["settings"]["dataset"] == "upload" and len(got["points"]) == 40
    assert got["class_names"] == ["a", "b"] and got["names"] == ["height", "weight"]
    frame = client.post(f"/api/sessions/{sid}/step?token={TOKEN}").json()
    assert frame["epoch"] == 1


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("height,weight,kind\n1,2,a\n3,x,b\n", ["people.csv", "line 3", "weight"]),
        ("height,weight,kind\n" + "1,2,a\n" * 5 + "1,2,a,9\n", ["people.csv", "line 7"]),
        ("a,b\n1,2\n", ["people.csv", "kind"]),
        ("\x00\x01\x02binary", ["people.csv"]),
        ("height,weight,kind\n1,nan,a\n2,3,b\n4,5,a\n6,7,b\n", ["people.csv", "line 2"]),
    ],
)
def test_hostile_csv_gets_a_one_line_error(client, content, words):
    sid = new_session(client)["session"]
    r = client.post(
        f"/api/sessions/{sid}/upload?token={TOKEN}&name=people.csv&x1=height&x2=weight&target=kind",
        content=content.encode("latin-1"),
    )
    assert r.status_code == 400
    message = r.json()["error"]
    assert "\n" not in message and all(w in message for w in words), message
    assert "/tmp" not in message and "chainrule-upload" not in message
    # The run is untouched.
    assert client.post(f"/api/sessions/{sid}/step?token={TOKEN}").json()["epoch"] == 1


def test_uploads_are_bounded(client):
    sid = new_session(client)["session"]
    big = b"a,b,c\n" + b"1,2,3\n" * (MAX_UPLOAD_BYTES // 6 + 10)
    r = client.post(f"/api/sessions/{sid}/upload?token={TOKEN}&x1=a&x2=b&target=c", content=big)
    assert r.status_code == 413 and "allowed" in r.json()["error"]
    with pytest.raises(UploadError, match="more than"):
        read_upload(big, "x.csv", "a", "b", "c")


def test_read_upload_refuses_text_features_and_same_columns():
    csv = b"a,b,c\n" + b"".join(b"%d,t%d,%d\n" % (i, i, i % 2) for i in range(10))
    with pytest.raises(UploadError, match=r"'b' holds text"):
        read_upload(csv, "t.csv", "a", "b", "c")
    with pytest.raises(UploadError, match="different"):
        read_upload(csv, "t.csv", "a", "a", "c")


# ---------------------------------------------------------------------- the websocket


def test_websocket_frames_and_isolated_tabs(client):
    url = f"/ws?token={TOKEN}"
    with ws(client, url) as one, ws(client, url) as two:
        hello1, hello2 = one.receive_json(), two.receive_json()
        assert hello1["session"] != hello2["session"]
        one.send_text(
            json.dumps({"type": "settings", "settings": {"dataset": "xor", "layers": [3]}})
        )
        data = one.receive_json()
        assert data["type"] == "data" and data["sizes"] == [2, 3, 1]
        frame, heat = split_frame(one.receive_bytes())
        assert frame["epoch"] == 0 and len(heat) == 6 * frame["grid"] ** 2
        for _ in range(3):
            one.send_text(json.dumps({"type": "step"}))
            frame, heat = split_frame(one.receive_bytes())
        assert frame["epoch"] == 3
        run = Session(Settings.from_dict(data["settings"]))
        run.step(3)
        assert heat == run.heat_maps() and frame["weights"] == run.frame()["weights"]
        two.send_text(json.dumps({"type": "sync"}))
        assert two.receive_json()["settings"]["dataset"] == "circle"
        frame, _ = split_frame(two.receive_bytes())
        assert frame["epoch"] == 0  # the other tab's steps did not reach it
        one.send_text(json.dumps({"type": "settings", "settings": {"noise": 99}}))
        error = one.receive_json()
        assert error["type"] == "error" and "noise" in error["message"]
        one.send_text(json.dumps({"type": "inspect", "index": 0}))
        assert one.receive_json()["type"] == "inspect"
    assert len(client.app.sessions) == 0  # closed tabs end their runs


# ---------------------------------------------------------------------- data and settings


def test_data_sets_are_seeded_and_in_the_plane():
    for name in DATASETS:
        a = make_dataset(name, 200, 0.1, np.random.default_rng(0), classes=3)
        b = make_dataset(name, 200, 0.1, np.random.default_rng(0), classes=3)
        assert np.array_equal(a.points, b.points) and np.array_equal(a.y, b.y)
        assert a.points.shape == (200, 2) and np.isfinite(a.points).all()
        if a.task == "classification":
            assert set(np.unique(a.y)) == set(range(a.n_classes))
    assert make_dataset("spiral", 90, 0, np.random.default_rng(0), classes=3).n_classes == 3
    X = features(np.array([[1.0, 2.0]]), ["x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"])
    np.testing.assert_allclose(X[0], [1, 2, 1, 4, 2, np.sin(1), np.sin(2)])


def test_settings_round_trip_through_the_url_strings():
    s = Settings.from_dict(
        {
            "dataset": "xor",
            "noise": "10",
            "layers": "3,2",
            "activations": "relu,tanh",
            "features": "x1,x2,x1x2",
            "input_sigma": "1",
            "lr": "0.1",
        }
    )
    assert s.layers == (3, 2) and s.activations == ("relu", "tanh") and s.input_sigma
    assert Settings.from_dict(s.as_dict()) == s
    with pytest.raises(SettingsError, match="activations: one per hidden layer"):
        Settings.from_dict({"layers": [3, 2], "activations": ["relu", "tanh", "tanh"]})


def test_cli_refuses_a_busy_port_in_one_line(tmp_path):
    import socket

    from chainrule.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        err = io.StringIO()
        import contextlib

        with contextlib.redirect_stderr(err):
            status = main(["playground", "--no-browser", "--port", str(port)])
        assert status == 2 and f"port {port}" in err.getvalue()


def test_the_extra_is_imported_only_by_the_playground(tmp_path):
    code = textwrap.dedent("""
        import sys
        import chainrule, chainrule.playground.session
        from chainrule.cli import main
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("starlette", "uvicorn")))
        sys.modules["starlette"] = None  # as if the extra were not installed
        sys.exit(main(["playground", "--no-browser"]))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip() == "[]"
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "chainrule playground: error: the playground needs Starlette "
        "and uvicorn (starlette is missing): pip install "
        "'chainrule[playground]'"
    )


def test_every_interface_accepts_this_machines_names_only():
    app = create_app(TOKEN, host="0.0.0.0", port=8765)
    with TestClient(app, base_url=BASE) as c:
        url = f"/?token={TOKEN}"
        assert c.get(url, headers={"host": "localhost:8765"}).status_code == 200
        assert c.get(url, headers={"host": "attacker.example:8765"}).status_code == 403


def test_cli_prints_the_url_first_serves_with_the_token_and_stops_on_ctrl_c():
    import signal

    import httpx

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "playground", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = proc.stdout.readline().strip()
        base, _, token = url.partition("/?token=")
        assert base.startswith("http://127.0.0.1:") and len(token) >= 32, url
        assert httpx.get(url, timeout=30).status_code == 200
        assert httpx.get(f"{base}/", timeout=30).status_code == 403
        assert httpx.get(f"{base}/?token=x{token}", timeout=30).status_code == 403
    finally:
        proc.send_signal(signal.SIGINT)
        status = proc.wait(timeout=60)
    # Ctrl-C ends it as it ends every command: 130 and one true line (issue 23).
    assert status == 130
    assert proc.stderr.read().strip() == (
        "chainrule playground: interrupted; the server stopped; no file was changed"
    )


def test_read_upload_reads_what_train_reads_tsv_and_thousands_separators():
    """Uploads go through the CLI's table layer: a TSV file and numbers written with
    thousands separators are read as `chainrule train` reads them."""
    rows = [(1000 + 250 * i + 0.5, (i * 7) % 11 - 5.0, i % 2) for i in range(12)]
    tsv = b"a\tb\tc\n" + b"".join(b"%.1f\t%.1f\t%d\n" % r for r in rows)
    got = read_upload(tsv, "t.tsv", "a", "b", "c")
    np.testing.assert_array_equal(got.points, [[a, b] for a, b, _ in rows])
    quoted = b"a,b,c\n" + b"".join(
        b'"%s",%.1f,%d\n' % (f"{a:,.1f}".encode(), b, c) for a, b, c in rows
    )
    assert b'"1,250.5"' in quoted
    got = read_upload(quoted, "q.csv", "a", "b", "c")
    np.testing.assert_array_equal(got.points, [[a, b] for a, b, _ in rows])
    assert got.task == "classification" and got.n_classes == 2
    # A column mostly of such numbers with a word in it: the roles' one line, the
    # upload's name (never the temporary path), the line and the column.
    bad = quoted.replace(b'"3,250.5"', b"oops")
    with pytest.raises(UploadError) as info:
        read_upload(bad, "q.csv", "a", "b", "c")
    message = str(info.value)
    assert message.startswith("q.csv: line 11, column 'a': 'oops' is not a number"), message
    assert "\n" not in message and "chainrule-upload" not in message
