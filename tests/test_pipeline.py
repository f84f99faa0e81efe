import numpy as np
import pytest
from PIL import Image

from facerec.enrolment import enrol_image
from facerec.errors import EnrolmentError
from facerec.imaging import load_image

pytestmark = pytest.mark.data


def test_group_photo_two_faces_named(analyzer, store, fr_faces):
    enrol_image(store, analyzer, "obama", fr_faces / "obama" / "obama.jpg")
    enrol_image(store, analyzer, "biden", fr_faces / "biden" / "biden.jpg")
    gallery = store.gallery_index(analyzer.model_id)
    faces = analyzer.analyze(fr_faces / "_group" / "two_people.jpg", gallery=gallery)
    names = sorted(f.match.name for f in faces if f.match.known)
    assert names == ["biden", "obama"]
    for f in faces:
        assert f.embedding.shape == (128,) and abs(np.linalg.norm(f.embedding) - 1) < 1e-4
        assert f.landmarks.shape == (5, 2)
        x1, y1, x2, y2 = f.box
        assert x1 <= f.landmarks[:, 0].min() and f.landmarks[:, 0].max() <= x2


def test_boxes_map_back_to_full_resolution(analyzer, fr_faces, tmp_path):
    small = Image.open(fr_faces / "obama" / "obama.jpg").convert("RGB")
    big = small.resize((small.width * 4, small.height * 4), Image.BICUBIC)
    p = tmp_path / "big.jpg"
    big.save(p, quality=92)
    a = analyzer.analyze(fr_faces / "obama" / "obama.jpg")[0]
    loaded = load_image(p, max_side=analyzer.settings.decode_max_side)
    assert loaded.scale > 1
    b = analyzer.analyze(loaded)[0]
    np.testing.assert_allclose(b.box, a.box * 4, rtol=0.08, atol=12)
    assert float(a.embedding @ b.embedding) > 0.8


def test_stranger_is_unknown(analyzer, store, fr_faces):
    for name in ("obama", "biden", "alex_lacamoire", "rose_leslie", "kit_harington"):
        photo = sorted((fr_faces / name).iterdir())[0]
        enrol_image(store, analyzer, name, photo)
    (face,) = analyzer.analyze(fr_faces / "lin_manuel_miranda" / "lin-manuel-miranda.png", gallery=store.gallery_index(analyzer.model_id))
    assert face.match.person_id is None
    assert face.match.distance > analyzer.threshold


def test_enrol_refuses_group_photo_unless_largest(analyzer, store, fr_faces):
    with pytest.raises(EnrolmentError, match="faces found"):
        enrol_image(store, analyzer, "x", fr_faces / "_group" / "two_people.jpg")
    res = enrol_image(store, analyzer, "x", fr_faces / "_group" / "two_people.jpg", largest=True)
    assert res.faces_in_image == 2 and store.list_samples("x")[0].thumbnail[:2] == b"\xff\xd8"


def test_enrol_refuses_photo_without_face(analyzer, store, tmp_path):
    p = tmp_path / "wall.png"
    Image.new("RGB", (300, 200), (120, 130, 140)).save(p)
    with pytest.raises(EnrolmentError, match="no face"):
        enrol_image(store, analyzer, "x", p)
    assert store.list_people() == []


def test_threshold_follows_gallery_size_unless_user_sets_it(analyzer):
    from facerec.embedders.base import l2_normalize
    from facerec.embedders import get_pack
    from facerec.matching import GalleryIndex

    rng = np.random.default_rng(0)

    def gallery(n):
        return GalleryIndex(l2_normalize(rng.normal(size=(n, 128))), np.arange(n), {}, analyzer.model_id)

    pack = get_pack(analyzer.settings.model)
    small, large = analyzer.threshold_for(gallery(5)), analyzer.threshold_for(gallery(4000))
    assert pack.verification_threshold >= small > large
    analyzer.settings.threshold = 0.3
    try:
        assert analyzer.threshold_for(gallery(5)) == analyzer.threshold_for(gallery(4000)) == 0.3
    finally:
        analyzer.settings.threshold = None
