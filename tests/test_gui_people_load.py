"""People view on a large gallery: the list (names, sample counts, thumbnails) loads on a worker thread while
the window keeps processing events, and a load overtaken by a newer reload is dropped. No models or photos needed."""

from __future__ import annotations

import io
import threading
import time

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
import numpy as np
import pytest
from guikit import make_ctx
from PIL import Image

N_PEOPLE = 2000


@pytest.fixture
def ctx(qtbot, tmp_path):
    from ui.app import create_app

    create_app()
    c = make_ctx(tmp_path / "gallery.db", None)  # no analyzer: listing people never needs one
    yield c
    c.close()


def tiny_jpeg(rgb: tuple[int, int, int], side: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), rgb).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def populate(store, n: int, seed: int = 0) -> list[str]:
    """``n`` people with one sample each (a random unit vector, a tiny JPEG), written in one transaction."""
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((n, 128)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    thumbs = [tiny_jpeg((40 * i, 255 - 40 * i, 128)) for i in range(6)]
    names = [f"Person {i:04d}" for i in range(n)]
    with store.transaction():
        for i, name in enumerate(names):
            store.add_sample(name, emb[i], "test-model", thumbnail=thumbs[i % len(thumbs)])
    return names


def rows(view) -> list[str]:
    return [view.people.item(i).text() for i in range(view.people.count())]


def test_thousands_of_people_load_off_the_gui_thread(ctx, qtbot, monkeypatch):
    from PySide6.QtCore import QTimer

    from ui import jobs
    from ui.views.people import PeopleView

    t0 = time.perf_counter()
    names = populate(ctx.store, N_PEOPLE)
    # a person's list thumbnail is their first sample that has one: none, then red, then blue
    rng = np.random.default_rng(1)
    first = "Aaron"  # sorts before "Person ..."
    names = [first, *names]
    for thumb in (None, tiny_jpeg((255, 0, 0)), tiny_jpeg((0, 0, 255))):
        v = rng.standard_normal(128).astype(np.float32)
        ctx.store.add_sample(first, v / np.linalg.norm(v), "test-model", thumbnail=thumb)
    assert time.perf_counter() - t0 < 30

    main_thread = threading.get_ident()
    load_threads: list[int] = []
    real = jobs.people_list

    def spy(control, *args, **kwargs):
        load_threads.append(threading.get_ident())
        result = real(control, *args, **kwargs)
        time.sleep(0.3)  # hold the load open a little so the test can watch the event loop meanwhile
        return result

    monkeypatch.setattr(jobs, "people_list", spy)
    t0 = time.perf_counter()
    view = PeopleView(ctx)
    built_s = time.perf_counter() - t0
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    # the constructor only starts the load: the window shows a loading state, not a frozen one
    assert view.loading
    assert view.loading_label.isVisible()
    assert view.title.text() == "Loading…" and not view.rename_btn.isEnabled()
    assert built_s < 1.0, f"building the view took {built_s:.2f} s: the list was read on the GUI thread"

    ticks_while_loading = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks_while_loading.append(view.loading))
    timer.start()
    with qtbot.waitSignal(view.peopleLoaded, timeout=60_000):
        pass
    timer.stop()

    assert load_threads and all(t != main_thread for t in load_threads)
    assert sum(ticks_while_loading) >= 5, "the event loop did not keep running while the list loaded"
    assert not view.loading and not view.loading_label.isVisible()
    shown = rows(view)
    assert len(shown) == N_PEOPLE + 1
    assert [t.split("\n")[0] for t in shown] == names
    assert shown[0] == f"{first}\n3 samples" and shown[1] == "Person 0000\n1 sample"
    # thumbnails came along, decoded on the worker
    red = view.people.item(0).icon().pixmap(56, 56).toImage()
    colour = red.pixelColor(red.width() // 2, red.height() // 2)
    assert colour.red() > 200 and colour.blue() < 60
    assert all(not view.people.item(i).icon().isNull() for i in range(0, N_PEOPLE + 1, 97))
    # the first person is selected and shown
    assert view.selected_person() == first
    assert view.title.text() == first and view.samples.count() == 3


def test_a_load_overtaken_by_a_newer_reload_is_dropped(ctx, qtbot, monkeypatch):
    from ui import jobs
    from ui.views.people import PeopleView

    ctx.store.add_person("Alice")
    view = PeopleView(ctx)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: not view.loading)
    assert rows(view) == ["Alice\n0 samples"]

    gate = threading.Event()
    read: list[list[str]] = []
    real = jobs.people_list

    def held(control, *args, **kwargs):
        result = real(control, *args, **kwargs)
        read.append([r.name for r in result])
        if len(read) == 1:
            gate.wait(30)  # the first reload finishes only after the second was requested
        return result  # even when cancelled: the view must drop it by itself

    monkeypatch.setattr(jobs, "people_list", held)
    shown: list[list[str]] = []
    view.peopleLoaded.connect(lambda: shown.append(rows(view)))

    ctx.store.add_person("Bob")
    ctx.galleryChanged.emit()
    qtbot.waitUntil(lambda: len(read) == 1)
    assert read[0] == ["Alice", "Bob"]
    ctx.store.rename_person("Bob", "Robert")
    ctx.galleryChanged.emit()  # a quick second edit while the first reload still runs
    assert view.loading
    gate.set()
    qtbot.waitUntil(lambda: not view.loading, timeout=30_000)
    qtbot.wait(50)  # anything still queued would land now

    assert read == [["Alice", "Bob"], ["Alice", "Robert"]]
    assert shown == [["Alice\n0 samples", "Robert\n0 samples"]]  # the stale list never reached the view
    assert rows(view) == ["Alice\n0 samples", "Robert\n0 samples"]


def test_selection_asked_for_during_a_reload_applies_to_the_new_list(ctx, qtbot):
    from ui.views.people import PeopleView

    ctx.store.add_person("Alice")
    ctx.store.add_person("Bob")
    view = PeopleView(ctx)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: not view.loading)
    view._select("Bob")
    ctx.store.rename_person("Bob", "Zed")
    ctx.galleryChanged.emit()
    view._select("Zed")  # not in the list yet: remembered until the reload brings it
    qtbot.waitUntil(lambda: not view.loading)
    assert view.selected_person() == "Zed" and view.title.text() == "Zed"
