import numpy as np

from facerec.alignment import ARCFACE_112, align, similarity_transform


def test_similarity_transform_recovers_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, size=(5, 2))
    angle, scale, t = 0.3, 0.7, np.array([12.0, -5.0])
    r = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ r.T + t
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], r, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)


def test_align_puts_landmarks_on_template():
    # Draw 5 dots at scaled/rotated template positions, align, and find the dots at the template points.
    img = np.zeros((400, 400, 3), np.uint8)
    tpl = ARCFACE_112.array
    angle = 0.2
    r = 2.5 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = tpl @ r.T + np.array([100.0, 60.0])
    for x, y in pts:
        img[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2] = 255
    chip = align(img, pts, ARCFACE_112)
    assert chip.shape == (112, 112, 3)
    for x, y in tpl:
        patch = chip[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3, 0]
        assert patch.max() > 100, (x, y)
